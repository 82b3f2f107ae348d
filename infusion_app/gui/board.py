"""THE BOARD: every active preparation on one screen, most urgent first.

Each row: patient, dose, current step, the next deadline with a large live countdown, coloured
as alarms are. The rows are plain data (BoardRow) built from stored preparations, deadlines the
domain computed from stored event instants, and the injected clock; the widget only paints them.
A repaint tick rebuilds the rows from storage, so what is on screen is what is stored.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from ..domain.formatting import format_countdown, format_instant
from ..domain.urgency import alarming, shown_state, urgency_key
from . import theme

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.preparations import PreparationService

# The state in words on a row (the order and the alarms are domain/urgency.py's).
STATE_WORDS = {"warning": "SOON", "due": "DUE NOW", "expired": "EXPIRED", "reached": "REACHED"}


@dataclass(frozen=True)
class BoardRow:
    """One line of the board, everything already formatted for display."""

    preparation_id: str
    patient_name: str
    mrn: str
    dose_text: str
    step_text: str
    deadline_key: str | None
    deadline_label: str
    deadline_at: datetime | None
    state: str  # the domain's DeadlineState value, or "none"
    now: datetime
    alarm_active: bool = False  # an unacknowledged alarm on this row's deadline
    acknowledged_text: str = ""  # who acknowledged the deadline's alarm in its state, and when
    hard: bool = True  # False: a minimum ('not before'), which counts down to when the step may happen

    @property
    def seconds_left(self) -> float | None:
        return None if self.deadline_at is None else (self.deadline_at - self.now).total_seconds()

    @property
    def countdown_text(self) -> str:
        seconds = self.seconds_left
        if seconds is None:
            return "—"
        if not self.hard and seconds <= 0:
            return "ready"
        return format_countdown(seconds)

    @property
    def deadline_text(self) -> str:
        if self.deadline_at is None:
            return self.deadline_label or "no deadline running"
        # The state in words too, so the colour is never the only signal (colour-blind users, glare).
        word = STATE_WORDS.get(self.state)
        label = f"{self.deadline_label} — {word}" if word else self.deadline_label
        acknowledged = f"\n{self.acknowledged_text}" if self.acknowledged_text else ""
        return f"{label}\n{format_instant(self.deadline_at)}{acknowledged}"

    def urgency_key(self) -> tuple:
        return self._urgency

    @cached_property
    def _urgency(self) -> tuple:
        return urgency_key(self.state, self.deadline_at, self.preparation_id)

    @cached_property
    def fixed(self) -> tuple:
        """Everything the row shows except its countdown (computed once per row, not per tick)."""
        return (self.patient_name, self.mrn, self.preparation_id, self.dose_text, self.step_text, self.deadline_text, self.state, self.alarm_active)

    def at(self, now: datetime) -> BoardRow:
        """The same row at another instant: only the countdown differs. A shallow copy keeps the
        cached fixed part and urgency, so a tick formats nothing but the countdowns."""
        row = copy.copy(self)
        object.__setattr__(row, "now", now)
        return row


def _fixed_part(row: BoardRow) -> tuple:
    """Everything a row shows except its countdown."""
    return row.fixed


def sort_by_urgency(rows: list[BoardRow]) -> list[BoardRow]:
    return sorted(rows, key=BoardRow.urgency_key)


COLUMNS = ("Patient", "Dose", "Step", "Next deadline", "Time left")
COUNTDOWN_COLUMN = 4


class BoardModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[BoardRow] = []
        # After set_rows: the rows whose texts changed, or None when all rows were replaced.
        self.resized_rows: list[int] | None = None
        self.flash_phase = False
        self._row_font = theme.font(theme.ROW_POINT_SIZE)
        self._bold_font = theme.font(theme.ROW_POINT_SIZE, bold=True)
        self._countdown_font = theme.font(theme.COUNTDOWN_POINT_SIZE, bold=True, monospace_digits=True)

    # -- data in --------------------------------------------------------------------------
    def set_rows(self, rows: list[BoardRow]) -> bool:
        """Show these rows; True when any text other than a countdown changed (sizes must be refit;
        a state or an alarm changes colours only)."""
        rows = sort_by_urgency(rows)
        same_shape = [r.preparation_id for r in rows] == [r.preparation_id for r in self._rows]
        if not same_shape:
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
            self.resized_rows = None
            return True
        changed = [i for i, (old, new) in enumerate(zip(self._rows, rows, strict=True)) if _fixed_part(old) != _fixed_part(new)]
        self.resized_rows = [i for i in changed if self._rows[i].fixed[:6] != rows[i].fixed[:6]]  # texts, not only colours
        resized = bool(self.resized_rows)
        self._rows = rows
        if changed:
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), len(COLUMNS) - 1))
        if rows:
            # The usual one-second tick: only the countdowns change; repaint that column in place.
            self.dataChanged.emit(self.index(0, COUNTDOWN_COLUMN), self.index(len(rows) - 1, COUNTDOWN_COLUMN))
        return resized

    def set_flash_phase(self, phase: bool) -> None:
        self.flash_phase = phase
        flashing = [i for i, r in enumerate(self._rows) if r.alarm_active]
        if flashing:
            self.dataChanged.emit(self.index(min(flashing), 0), self.index(max(flashing), len(COLUMNS) - 1))

    def rows(self) -> list[BoardRow]:
        return list(self._rows)

    def row_at(self, index: int) -> BoardRow:
        return self._rows[index]

    # -- Qt model -------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        if role == Qt.ItemDataRole.FontRole:
            if column == COUNTDOWN_COLUMN:
                return self._countdown_font
            return self._bold_font if column in (0, 1) else self._row_font
        if role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            flash = row.alarm_active and self.flash_phase
            # Only the deadline and countdown cells carry the alarm colour at full strength, so the
            # patient and dose stay readable black on white even while the row flashes.
            if column in (3, COUNTDOWN_COLUMN) or row.alarm_active:
                background, foreground = theme.colours(row.state, flash)
            else:
                return None
            return background if role == Qt.ItemDataRole.BackgroundRole else foreground
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column == COUNTDOWN_COLUMN:
                return int(Qt.AlignmentFlag.AlignCenter)
            return int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
        return None

    @staticmethod
    def _text(row: BoardRow, column: int) -> str:
        if column == 0:
            return f"{row.patient_name}\nMRN {row.mrn} · {row.preparation_id}"
        if column == 1:
            return row.dose_text
        if column == 2:
            return row.step_text
        if column == 3:
            return row.deadline_text
        return row.countdown_text

    @staticmethod
    def _tooltip(row: BoardRow) -> str:
        alarm = " — ALARM: acknowledge it" if row.alarm_active else ""
        return f"{row.patient_name} (MRN {row.mrn}), preparation {row.preparation_id}: {row.state}{alarm}"


class _FramedSelectionDelegate(QStyledItemDelegate):
    """Paints the selected row with a thick frame instead of the selection fill, so a selection
    never hides an alarm colour."""

    FRAME = QColor("#0D47A1")

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        plain = QStyleOptionViewItem(option)
        plain.state &= ~QStyle.StateFlag.State_Selected
        plain.state &= ~QStyle.StateFlag.State_HasFocus
        super().paint(painter, plain, index)
        if selected:
            painter.save()
            pen = QPen(self.FRAME, 4)
            painter.setPen(pen)
            rect = option.rect.adjusted(0, 2, 0, -2)
            painter.drawLine(rect.topLeft(), rect.topRight())
            painter.drawLine(rect.bottomLeft(), rect.bottomRight())
            if index.column() == 0:
                painter.drawLine(rect.topLeft(), rect.bottomLeft())
            if index.column() == index.model().columnCount() - 1:
                painter.drawLine(rect.topRight(), rect.bottomRight())
            painter.restore()


class BoardView(QTableView):
    """The board's table. Enter or a double click opens the preparation."""

    open_requested = Signal(str)  # preparation id
    MIN_ROW_HEIGHT = 76

    def __init__(self, parent: QWidget | None = None):
        self._fitted_width = -1  # before super().__init__: Qt calls updateGeometries while building
        self._fitting = True
        self._heights: dict[tuple, int] = {}  # (row's fixed texts, column widths) -> height
        self.fitted = 0  # how many times the rows were fitted (tests, benchmarks)
        super().__init__(parent)
        self.board_model = BoardModel(self)
        self.setModel(self.board_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(True)
        self.setAlternatingRowColors(False)
        self.setShowGrid(True)
        self.setTabKeyNavigation(False)  # Tab leaves the board; arrows move between rows
        self.setAccessibleName("Board of active preparations")
        self.setItemDelegate(_FramedSelectionDelegate(self))
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        # Rows grow to fit a long patient name (wrapped, never elided); most rows stay at the minimum.
        # Sizes are fitted when a text changes (not on every tick: measuring every cell of 100 rows
        # each second costs more than painting them). Rows grow to fit a long, wrapped patient name.
        vertical.setMinimumSectionSize(self.MIN_ROW_HEIGHT)
        vertical.setDefaultSectionSize(self.MIN_ROW_HEIGHT)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        header = self.horizontalHeader()
        header.setFont(theme.font(theme.BASE_POINT_SIZE, bold=True))
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3, COUNTDOWN_COLUMN):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
        header.sectionResized.connect(self._on_section_resized)
        self._fitting = False
        self.setColumnWidth(COUNTDOWN_COLUMN, self._countdown_width())
        self.fit()  # an empty board's headers too ("ext deadlin" when nothing was ever fitted)
        self.doubleClicked.connect(lambda index: self._open(index.row()))

    def _countdown_width(self) -> int:
        from PySide6.QtGui import QFontMetrics

        metrics = QFontMetrics(self.board_model._countdown_font)
        return metrics.horizontalAdvance("-00:00:00") + 32

    def set_rows(self, rows: list[BoardRow]) -> None:
        selected = self.selected_id()
        if self.board_model.set_rows(rows):
            changed = self.board_model.resized_rows
            if changed is None:
                self.fit()
            else:
                self._widen_for(changed)
                self._fit_rows()
        if selected is not None:
            self.select_id(selected)

    def fit(self) -> None:
        """Columns to their widest text, then rows to their wrapped patient name."""
        for column in (1, 2, 3):
            self.resizeColumnToContents(column)
            self.setColumnWidth(column, max(self.columnWidth(column), self.horizontalHeader().sectionSizeHint(column)))
        self._fit_rows()

    def _widen_for(self, rows: list[int]) -> None:
        """Columns wide enough for the texts of these rows (those that changed on a tick):
        measuring every row of a column, as resizeColumnToContents does, cost a quarter second
        at 1,000 rows. Columns do not shrink here; they are fitted whole when the set of rows
        changes (a preparation added or finished)."""
        grid = 1 if self.showGrid() else 0  # as QTableView::sizeHintForColumn adds
        for column in (1, 2, 3):
            needed = max((self.sizeHintForIndex(self.board_model.index(row, column)).width() + grid for row in rows), default=0)
            if needed > self.columnWidth(column):
                self.setColumnWidth(column, needed)

    def _fit_rows(self) -> None:
        """Each row to its wrapped text. A row's height depends only on its texts and the column
        widths, so it is measured once per (texts, widths) and remembered: a tick that changes
        one row measures one row, and the layout passes at start measure each row once per width
        (not at all while the board is hidden: showEvent fits it)."""
        if not self.isVisible():
            self._fitted_width = -1
            return
        widths = tuple(self.columnWidth(column) for column in range(len(COLUMNS)))
        if len(self._heights) > 4 * self.board_model.rowCount() + 64:
            self._heights.clear()  # rows long gone, widths no longer used
        for index, row in enumerate(self.board_model._rows):
            key = (row.fixed[:6], widths)  # texts only: a state or alarm changes colours, not sizes
            height = self._heights.get(key)
            if height is None:
                height = self._heights[key] = max(self.MIN_ROW_HEIGHT, self.sizeHintForRow(index))
            if self.rowHeight(index) != height:
                self.setRowHeight(index, height)
        self.fitted += 1

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self._fit_rows()

    def _on_section_resized(self, column: int, _old: int, _new: int) -> None:
        if column == 0:  # the stretching patient column: wrapped names may need more or fewer lines
            self._fit_rows()

    def updateGeometries(self) -> None:  # noqa: N802
        super().updateGeometries()
        # The patient column stretches when the header lays itself out (after a resize, not always
        # with a sectionResized signal); refit the rows to the width it got.
        width = self.columnWidth(0)
        if width != self._fitted_width and not self._fitting:
            self._fitted_width = width
            self._fitting = True
            try:
                self._fit_rows()
            finally:
                self._fitting = False

    def selected_id(self) -> str | None:
        indexes = self.selectionModel().selectedRows()
        if not indexes:
            return None
        return self.board_model.row_at(indexes[0].row()).preparation_id

    def select_id(self, preparation_id: str) -> None:
        for i, row in enumerate(self.board_model.rows()):
            if row.preparation_id == preparation_id:
                self.selectRow(i)
                return

    def keyboardSearch(self, search: str) -> None:  # noqa: N802
        """Off: a barcode scanner typing at the board must not jump to (and open) a row by its name."""

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._open(self.currentIndex().row())
            return
        super().keyPressEvent(event)

    def _open(self, row: int) -> None:
        if 0 <= row < self.board_model.rowCount():
            self.open_requested.emit(self.board_model.row_at(row).preparation_id)


# --------------------------------------------------------------------------------------------
# From storage to rows (no Qt below this line is needed; it runs on every repaint tick)

# The domain's current_step() values done at the bench; the others belong to the chair.
BENCH_STEPS = frozenset({"verify order", "reconstitute", "dilute", "verify", "label", "dispense"})

STEP_TEXT = {
    "verify order": "Verify order (pharmacist)",
    "reconstitute": "Reconstitute",
    "dilute": "Dilute",
    "verify": "Verify (pharmacist)",
    "label": "Label",
    "dispense": "Dispense",
    "premedicate": "Premedicate",
    "start infusion": "Start infusion",
    "infusing": "Infusing",
    "observing": "Observing",
    "done": "Done",
    "discarded": "Discarded",
}


board_state = shown_state  # the colour state of a row


@dataclass
class _Shown:
    """One preparation as the board last computed it: its status (with the deadlines at the
    instant they were computed), its row, its unacknowledged alarms, and the instant after which
    its deadline states must be computed again."""

    status: object  # service PreparationStatus
    event_count: int
    row: BoardRow
    alarms: list
    recompute_at: datetime | None


class BoardPresenter:
    """Turns the active preparations (with the deadlines the domain computed at the service's
    clock) into board rows and the alarms that are not acknowledged.

    It keeps what it computed, per (preparation id, event count): each read asks the service's
    change feed what was stored since the last read and reloads only those preparations; the
    deadlines of the others are computed again only once their next state change is due
    (domain deadlines.next_state_change). Between those, a tick moves the countdowns and nothing
    else. A setting changed, or a database put back, reloads everything.
    """

    def __init__(self, service: PreparationService):
        self.service = service
        self.now: datetime = service.now()
        self._token: int | None = None
        self._settings = None
        self._shown: dict[str, _Shown] = {}
        # Active preparations that cannot be read (edited behind the program's back): id -> why.
        # Left off the rows, said on the board, instead of one such row blanking the whole board.
        self.unreadable: dict[str, str] = {}
        # For tests and benchmarks: what the last read did.
        self.reloaded = 0  # preparations read from storage
        self.recomputed = 0  # preparations whose deadlines were computed again

    def read(self):
        """Rows and alarms at now. On a shared database whose server is gone (the service's
        connection state), the rows and alarms of what was read last, counting down from their
        stored instants, until a retry the state allows (with backoff) answers: then everything
        is read again."""
        state = getattr(self.service, "connection_state", None)
        if state is not None and not state().live:
            if not self.service.connection_retry_due():
                return self._kept()
            self._token = None  # reconnecting: another station may have stored anything meanwhile
        try:
            return self._read()
        except Exception:
            if state is None or state().live:
                raise  # not a lost connection: the window says the board could not be read
            return self._kept()

    def _kept(self):
        """What was read last, at now: deadlines due to change are computed again from the kept records."""
        now = self.service.now()
        for prep_id, shown in list(self._shown.items()):
            if shown.recompute_at is not None and now >= shown.recompute_at and self._settings is not None:
                self._shown[prep_id] = self._entry(self.service.status_of(shown.status.prep, self._settings))
        self.now = now
        rows = [shown.row.at(now) for shown in self._shown.values()]
        return sort_by_urgency(rows), [alarm for shown in self._shown.values() for alarm in shown.alarms]

    def _read(self):
        changes = self.service.changes_since(self._token)
        reloaded = recomputed = 0
        if changes.everything:
            self._settings = self.service.settings()
            unreadable: dict[str, str] = {}
            statuses = self.service.list_active(unreadable=unreadable)
            self._shown = {status.id: self._entry(status) for status in statuses}
            self.unreadable = unreadable
            reloaded = recomputed = len(statuses)
        elif changes.preparations:
            unreadable = {}
            fresh = {prep.id: prep for prep in self.service.active_preparations(changes.preparations, unreadable=unreadable)}
            for prep_id in changes.preparations:
                self.unreadable.pop(prep_id, None)
            self.unreadable.update(unreadable)
            reloaded = len(fresh)
            for prep_id in changes.preparations:
                prep = fresh.get(prep_id)
                if prep is None:  # finished, discarded, or not a preparation of this database
                    self._shown.pop(prep_id, None)
                    continue
                shown = self._shown.get(prep_id)
                if shown is not None and shown.event_count == len(prep.events):
                    continue  # a label printed, a vial added: nothing the board shows
                self._shown[prep_id] = self._entry(self.service.status_of(prep, self._settings))
                recomputed += 1
        self._token = changes.token
        now = self.service.now()
        for prep_id, shown in list(self._shown.items()):
            if shown.recompute_at is not None and now >= shown.recompute_at:
                self._shown[prep_id] = self._entry(self.service.status_of(shown.status.prep, self._settings))
                recomputed += 1
        self.now = now
        self.reloaded, self.recomputed = reloaded, recomputed
        rows = [shown.row.at(now) for shown in self._shown.values()]
        alarms = [alarm for shown in self._shown.values() for alarm in shown.alarms]
        return sort_by_urgency(rows), alarms  # the alarm controller orders the alarms itself

    def _entry(self, status) -> _Shown:
        from ..domain.deadlines import next_state_change
        from ..domain.formatting import format_dose
        from ..domain.records import EventType
        from .alarms import Alarm

        prep = status.prep
        mine = [Alarm(prep.id, d.key, d.label, d.state.value, prep.patient.name, prep.patient.mrn) for d in alarming(status.deadlines, status.acknowledged)]
        deadline = status.next_deadline
        row = BoardRow(
            preparation_id=prep.id,
            patient_name=prep.patient.name,
            mrn=prep.patient.mrn,
            # The drug with its dose: two conjugates' bags side by side are told apart by name.
            dose_text=f"{self.service.monograph_of(prep).brand_name} {format_dose(prep.order.calculation.dose_mg)}",
            # A fact recorded although it broke a limit stays visible on the board (issue 11).
            step_text=STEP_TEXT.get(status.current_step, status.current_step) + (" · DEVIATION recorded" if prep.events_of(EventType.DEVIATION) else ""),
            deadline_key=deadline.key if deadline else None,
            deadline_label=deadline.label if deadline else "no clock running yet",
            deadline_at=deadline.at if deadline else None,
            state=board_state(deadline),
            now=status.now,
            alarm_active=bool(mine),
            acknowledged_text=_acknowledged_text(status, deadline),
            hard=deadline.hard if deadline else True,
        )
        lead = self._settings.warning_lead_time if self._settings is not None else self.service.settings().warning_lead_time
        return _Shown(status, len(prep.events), row, mine, next_state_change(status.deadlines, status.now, lead))

    def is_bench_step(self, prep_id: str) -> bool:
        return self.service.status(prep_id).current_step in BENCH_STEPS


def _acknowledged_text(status, deadline) -> str:
    if deadline is None:
        return ""
    event = status.acknowledgement_of(deadline.key, deadline.state.value)
    return "" if event is None else f"alarm acknowledged by {event.user}, {format_instant(event.at)}"
