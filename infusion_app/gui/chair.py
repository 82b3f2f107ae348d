"""At the infusion chair: scan the bag, confirm the patient, premedicate, infuse, observe.

The nurse scans the bag label's 2D code (a scanner types the preparation id and presses Enter)
or types the id; confirms the patient by two identifiers; records the three premedication
classes; starts the infusion (the domain refuses it after the start-by deadline); ends it; and
waits out the observation. Every step is recorded through the service, which asks the domain
whether it may happen and commits it before this page moves on. Which page is shown comes from
the domain's current_step() of the stored preparation, so a bag reopened halfway through lands
where it was left.

The remaining time to the relevant deadline stays on screen, large, above every step. The
repaint timer only re-reads the stored deadlines against the injected clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..domain.course import CourseBlocked
from ..domain.errors import ValidationError
from ..domain.formatting import format_countdown, format_dose, format_instant, format_quantity
from ..domain.monograph import Monograph, default_monograph
from ..domain.identity import identifier_mismatches
from ..domain.preparation import StepRefused, current_step, numbered_premedications, premedication_correction_refusal
from ..domain.records import EventType, Preparation, Role
from . import theme
from .premedication import CorrectionDialog, PremedicationRow
from .widgets import CountdownLabel, LateEntry, message_label, set_role
from .errors import error_text

# The chair's countdown is read from the infusion chair and across the bay: bigger than the board's.
CHAIR_COUNTDOWN_POINT_SIZE = 54

# An infusion ended more than this before its planned end is "early" and needs a reason: pumps and
# bag overfill make the real end a few minutes off the plan. A program-design margin, not a drug fact.
EARLY_END_MARGIN = timedelta(minutes=10)

# current_step() values that belong to the chair, each with the page that handles it.
CHAIR_STEPS = ("premedicate", "start infusion", "infusing", "observing", "done")


STEP_TEXT = {
    "premedicate": "Next: premedication",
    "start infusion": "Next: start the infusion",
    "infusing": "Now: infusing",
    "observing": "Now: observation after the infusion",
    "done": "Done",
}


def _sized(widget: QWidget, point_size: int, bold: bool = False) -> None:
    # The application style sheet sets every widget's font-size, which beats setFont(); a
    # widget's own style sheet is the one thing that wins over it.
    weight = " font-weight: bold;" if bold else ""
    widget.setStyleSheet(f"font-size: {point_size}pt;{weight}")


class _ChairCountdown(CountdownLabel):
    """The shared countdown, at the chair's larger size (kept through every colour change)."""

    def __init__(self, point_size: int, parent: QWidget | None = None):
        self._point_size = point_size
        super().__init__(point_size, parent)

    def show_value(self, text: str, state: str, flash_phase: bool = False) -> None:
        super().show_value(text, state, flash_phase)
        self.setStyleSheet(self.styleSheet() + f" font-size: {self._point_size}pt; font-weight: bold; padding: 4px 24px;")


def _heading(text: str, parent: QWidget) -> QLabel:
    return message_label(text, "heading", parent)


class ChairPage(QWidget):
    """The nurse's screen for one bag, from scan to the end of observation."""

    step_recorded = Signal(str)  # preparation id: the board should repaint

    def __init__(
        self,
        service: Any,
        user: Any,
        parent: QWidget | None = None,
        *,
        clock: Any = None,
        monograph: Monograph | None = None,
        repaint_ms: int = 1000,
        ask_override: Callable[[str, list[str], QWidget], tuple[str, str, str] | None] | None = None,
    ):
        super().__init__(parent)
        self.setObjectName("chairPage")
        self.service = service
        # The service's clock never runs backwards; a repaint must not either.
        self.clock = clock or service.clock
        self.user = user
        self.monograph = monograph or getattr(service, "monograph", None) or default_monograph()
        self.prep: Preparation | None = None
        self._shown_step: str | None = None
        self._ask_override = ask_override or ask_pharmacist_override
        self.override_buttons: dict[EventType, QPushButton] = {}
        self._pending_override: tuple | None = None
        self._course_service: Any = None
        self.late_entries: dict[EventType, LateEntry] = {}  # "it happened earlier, at" on each step page

        outer = QVBoxLayout(self)
        outer.addWidget(self._build_header())
        from .fridge import FridgeStrip

        self.fridge = FridgeStrip(
            "bag", service, user=lambda: self.user, preparation=lambda: self.prep,
            recorded=self._fridge_recorded, parent=self, only_if_refrigerated=True, status=self.followed_status,
        )
        outer.addWidget(self.fridge)
        self.stack = QStackedWidget(self)
        outer.addWidget(self.stack, 1)
        self.scan_page = self._build_scan_page()
        self.confirm_page = self._build_confirm_page()
        self.premed_page = self._build_premed_page()
        self.start_page = self._build_start_page()
        self.infusing_page = self._build_infusing_page()
        self.observing_page = self._build_observing_page()
        self.done_page = self._build_done_page()
        for page in (
            self.scan_page,
            self.confirm_page,
            self.premed_page,
            self.start_page,
            self.infusing_page,
            self.observing_page,
            self.done_page,
        ):
            self.stack.addWidget(page)

        # Enter on a focused button presses it (outside a dialog Qt only does that for these).
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(True)
        # Ending an infusion is never what Enter or a scanner's Enter does: only a deliberate click
        # (or its mnemonic) ends it.
        self.end_button.setAutoDefault(False)

        self.repaint_timer = QTimer(self)
        self.repaint_timer.setInterval(repaint_ms)
        self.repaint_timer.timeout.connect(self.repaint_countdown)
        self.repaint_timer.start()
        self._show_page(self.scan_page)

    # -- layout ------------------------------------------------------------------------------

    def _build_header(self) -> QWidget:
        header = QFrame(self)
        header.setObjectName("chairHeader")
        header.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(header)
        left = QVBoxLayout()
        self.patient_label = QLabel("No bag scanned", header)
        self.patient_label.setObjectName("chairPatient")
        _sized(self.patient_label, theme.BANNER_POINT_SIZE, bold=True)
        self.patient_label.setWordWrap(True)
        self.bag_label = QLabel("", header)
        self.bag_label.setObjectName("chairBag")
        self.bag_label.setWordWrap(True)
        self.step_label = QLabel("", header)
        self.step_label.setObjectName("chairStep")
        _sized(self.step_label, theme.ROW_POINT_SIZE, bold=True)
        left.addWidget(self.patient_label)
        left.addWidget(self.bag_label)
        left.addWidget(self.step_label)
        left.addStretch(1)
        left.addWidget(self._build_scan_row())
        layout.addLayout(left, 1)

        right = QVBoxLayout()
        self.deadline_caption = QLabel("", header)
        self.deadline_caption.setObjectName("chairDeadlineCaption")
        _sized(self.deadline_caption, theme.ROW_POINT_SIZE, bold=True)
        self.deadline_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.deadline_caption.setWordWrap(True)
        self.countdown = _ChairCountdown(CHAIR_COUNTDOWN_POINT_SIZE, header)
        self.countdown.setObjectName("chairCountdown")
        self.countdown.ensurePolished()
        self.countdown.setMinimumWidth(self.countdown.fontMetrics().horizontalAdvance("-00:00:00") + 60)
        # The same height with or without digits, so the page never jumps as steps change.
        big = QFontMetrics(theme.font(CHAIR_COUNTDOWN_POINT_SIZE, bold=True))
        self.countdown.setMinimumHeight(big.height() + 8)  # the 4 px padding above and below
        right.addWidget(self.deadline_caption)
        right.addWidget(self.countdown)
        layout.addLayout(right)
        return header

    def _build_scan_row(self) -> QWidget:
        """The chair's scan field: always on screen, so a scan never lands on a step's button and a
        nurse with several chairs can open another bag while one is infusing."""
        box = QWidget(self)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        column.addLayout(row)
        caption = QLabel("Scan &bag:", box)
        self.scan_field = QLineEdit(box)
        self.scan_field.setObjectName("scanField")
        self.scan_field.setPlaceholderText("scan the bag, or type its id")
        self.scan_field.setAccessibleName("preparation id")
        caption.setBuddy(self.scan_field)
        _sized(self.scan_field, theme.ROW_POINT_SIZE)
        self.scan_field.returnPressed.connect(self.open_scanned)
        self.open_button = QPushButton("&Open bag", box)
        self.open_button.setObjectName("openBagButton")
        self.open_button.clicked.connect(self.open_scanned)
        self.discard_button = QPushButton("Disca&rd this bag…", box)
        self.discard_button.setObjectName("chairDiscardButton")
        self.discard_button.setAutoDefault(False)
        self.discard_button.clicked.connect(lambda: self.discard())
        self.discard_button.hide()
        # A label torn or smudged at the chair: reprinted to the label printer, marked REPRINT.
        self.reprint_button = QPushButton("Re&print label", box)
        self.reprint_button.setObjectName("chairReprintButton")
        self.reprint_button.setAutoDefault(False)
        self.reprint_button.clicked.connect(lambda: self.reprint_label())
        self.reprint_button.hide()
        row.addWidget(caption)
        row.addWidget(self.scan_field, 1)
        row.addWidget(self.open_button)
        row.addWidget(self.discard_button)
        row.addWidget(self.reprint_button)
        # Under the field, on every page: a refused scan is seen whichever bag is open.
        self.scan_message = message_label("", "", box)
        self.scan_message.setObjectName("scanMessage")
        column.addWidget(self.scan_message)
        return box

    def _build_scan_page(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.addWidget(_heading("Scan the bag", page))
        layout.addWidget(
            message_label("Scan the 2D code on the bag label into the scan field above, or type the preparation id and press Enter.", "", page)
        )
        layout.addStretch(1)
        return page

    def _build_confirm_page(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.addWidget(_heading("Confirm the patient: two identifiers", page))
        layout.addWidget(
            message_label(
                "Ask the patient to state their full name and date of birth (or read the MRN from the "
                "wristband) and enter what you hear or scan. Both must match the bag before you go on.",
                "",
                page,
            )
        )
        form = QFormLayout()
        self.confirm_name = QLineEdit(page)
        self.confirm_name.setObjectName("confirmName")
        self.confirm_name.setAccessibleName("patient full name")
        self.confirm_name.setPlaceholderText("full name as the patient states it")
        form.addRow("Full &name", self.confirm_name)

        choice = QHBoxLayout()
        self.use_dob = QRadioButton("&Date of birth", page)
        self.use_dob.setObjectName("useDob")
        self.use_mrn = QRadioButton("&MRN (wristband)", page)
        self.use_mrn.setObjectName("useMrn")
        self.use_dob.setChecked(True)
        group = QButtonGroup(page)
        group.addButton(self.use_dob)
        group.addButton(self.use_mrn)
        choice.addWidget(self.use_dob)
        choice.addWidget(self.use_mrn)
        choice.addStretch(1)
        form.addRow("Second identifier", choice)

        # Empty until typed: a prefilled date (1970-01-01) could be confirmed without reading the wristband.
        self.confirm_dob = QLineEdit(page)
        self.confirm_dob.setObjectName("confirmDob")
        self.confirm_dob.setPlaceholderText("as on the wristband, e.g. 1970-03-04 or 19700304")
        self.confirm_dob.setAccessibleName("date of birth")
        self.confirm_mrn = QLineEdit(page)
        self.confirm_mrn.setObjectName("confirmMrn")
        self.confirm_mrn.setAccessibleName("MRN")
        self.confirm_mrn.setPlaceholderText("scan the wristband or type the MRN")
        self.confirm_mrn.returnPressed.connect(self.confirm_patient)
        self.dob_label = QLabel("Date of &birth", page)
        self.dob_label.setBuddy(self.confirm_dob)
        self.mrn_label = QLabel("MR&N", page)
        self.mrn_label.setBuddy(self.confirm_mrn)
        form.addRow(self.dob_label, self.confirm_dob)
        form.addRow(self.mrn_label, self.confirm_mrn)
        self.use_dob.toggled.connect(self._second_identifier_changed)
        # Enter moves on, as a scanner or a hurried hand expects: name -> second identifier -> confirm.
        self.confirm_name.returnPressed.connect(
            lambda: (self.confirm_dob if self.use_dob.isChecked() else self.confirm_mrn).setFocus(
                Qt.FocusReason.TabFocusReason
            )
        )
        self.confirm_dob.returnPressed.connect(lambda: self.confirm_button.setFocus())
        layout.addLayout(form)

        self.confirm_message = message_label("", "", page)
        self.confirm_message.setObjectName("confirmMessage")
        layout.addWidget(self.confirm_message)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.confirm_button = QPushButton("&Confirm patient", page)
        self.confirm_button.setObjectName("confirmPatientButton")
        self.confirm_button.clicked.connect(self.confirm_patient)
        buttons.addWidget(self.confirm_button)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self._second_identifier_changed()
        return page

    def _build_premed_page(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.addWidget(_heading("Premedication before the dose", page))
        self.premed_intro = message_label("", "", page)
        layout.addWidget(self.premed_intro)
        grid = QGridLayout()
        for column, title in enumerate(("Class", "Drug", "Dose (mg)", "Given at")):
            header = QLabel(title, page)
            _sized(header, theme.BASE_POINT_SIZE, bold=True)
            grid.addWidget(header, 0, column)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 2)
        grid.setColumnStretch(3, 2)
        self.premed_classes: list[str] = [str(c) for c in self.monograph.items("premedication.classes")]
        self.premed_rows: dict[str, PremedicationRow] = {}
        for index, drug_class in enumerate(self.premed_classes):
            row = PremedicationRow(drug_class, self.monograph, grid, 1 + index * 2, page, theme.ROW_POINT_SIZE)
            row.connect_enter(self.record_premedication)
            row.correct_button.clicked.connect(lambda _checked=False, c=drug_class: self.correct_premedication(c))
            self.premed_rows[drug_class] = row
        layout.addLayout(grid)
        self.premed_message = message_label("", "", page)
        self.premed_message.setObjectName("premedMessage")
        layout.addWidget(self.premed_message)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.premed_button = QPushButton("&Record premedication", page)
        self.premed_button.setObjectName("recordPremedButton")
        self.premed_button.clicked.connect(self.record_premedication)
        buttons.addWidget(self.premed_button)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.premed_intro.setText(
            "Record each class given before this dose ("
            + ", ".join(self.premed_classes)
            + "): the infusion cannot start until all are recorded."
        )
        return page

    def _step_page(
        self, title: str, info_name: str, message_name: str, button_text: str, button_name: str, slot, event: EventType
    ) -> tuple[QWidget, QLabel, QLabel, QPushButton]:
        """A chair step: heading, what to know, the step's message, then [override] [action]."""
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.addWidget(_heading(title, page))
        info = message_label("", "", page)
        info.setObjectName(info_name)
        layout.addWidget(info)
        message = message_label("", "", page)
        message.setObjectName(message_name)
        layout.addWidget(message)
        late = LateEntry(lambda: self.clock.now(), page, name=f"late_{button_name}")
        self.late_entries[event] = late
        layout.addWidget(late)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        button = QPushButton(button_text, page)
        button.setObjectName(button_name)
        button.clicked.connect(slot)
        # "… now" would be untrue for a step entered late.
        late.earlier.toggled.connect(lambda earlier, b=button, t=button_text: b.setText(t.replace(" now", "") if earlier else t))
        buttons.addWidget(self._override_button(event, page))
        buttons.addWidget(button)
        layout.addLayout(buttons)
        layout.addStretch(1)
        return page, info, message, button

    def _build_start_page(self) -> QWidget:
        page, self.start_notes, self.start_message, self.start_button = self._step_page(
            "Start the infusion", "startNotes", "startMessage", "&Start infusion now", "startInfusionButton",
            self.start_infusion, EventType.INFUSION_STARTED,
        )
        self.rate_label = QLabel(page)
        self.rate_label.setObjectName("rateLabel")
        _sized(self.rate_label, theme.BANNER_POINT_SIZE, bold=True)
        self.rate_label.setWordWrap(True)
        page.layout().insertWidget(1, self.rate_label)  # under the heading, above the notes
        return page

    def _build_infusing_page(self) -> QWidget:
        page, self.infusing_info, self.end_message, self.end_button = self._step_page(
            "Infusing", "infusingInfo", "endMessage", "&End infusion now", "endInfusionButton",
            self.end_infusion, EventType.INFUSION_ENDED,
        )
        # Asked only when the infusion ends well before its planned end.
        self.early_reason = QLineEdit(page)
        self.early_reason.setObjectName("earlyEndReason")
        self.early_reason.setPlaceholderText("why the infusion ends early, e.g. infusion reaction, line occluded")
        self.early_reason.setAccessibleName("reason for ending early")
        self.early_reason.hide()
        page.layout().insertWidget(3, self.early_reason)  # under the message, above the buttons
        return page

    def _build_observing_page(self) -> QWidget:
        page, self.observing_info, self.observe_message, self.observe_button = self._step_page(
            "Observation after the infusion", "observingInfo", "observeMessage", "&Observation complete",
            "endObservationButton", self.end_observation, EventType.OBSERVATION_ENDED,
        )
        return page

    def _build_done_page(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.addWidget(_heading("Done", page))
        self.done_info = message_label("", "ok", page)
        self.done_info.setObjectName("doneInfo")
        layout.addWidget(self.done_info)
        self.course_message = message_label("", "", page)
        self.course_message.setObjectName("courseMessage")
        layout.addWidget(self.course_message)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.course_button = QPushButton("Record in the &course", page)
        self.course_button.setObjectName("recordInCourseButton")
        self.course_button.clicked.connect(self.record_in_course)
        buttons.addWidget(self.course_button)
        self.next_bag_button = QPushButton("Scan the &next bag", page)
        self.next_bag_button.setObjectName("nextBagButton")
        self.next_bag_button.clicked.connect(self.reset)
        buttons.addWidget(self.next_bag_button)
        layout.addLayout(buttons)
        layout.addStretch(1)
        return page

    # -- the service (every fact read and written here) -------------------------------------

    def _fetch(self, prep_id: str) -> Preparation | None:
        return self.service.get(prep_id)

    def _fridge_recorded(self, status) -> None:
        self.prep = status.prep
        self.step_recorded.emit(self.prep.id)
        self.repaint_countdown()

    def _record(self, kind: EventType, at: datetime | None = None, details: dict | None = None,
                deviation_reason: str | None = None) -> None:
        """Commit one event; returns only once it is stored (the service's promise)."""
        assert self.prep is not None
        status = self.service.record_event(
            self.prep.id, kind, self.user, at=at, details=details or {}, deviation_reason=deviation_reason
        )
        self.prep = status.prep
        self.step_recorded.emit(self.prep.id)

    # -- navigation --------------------------------------------------------------------------

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        """Typing that no field took (focus on a button): a scan, sent to the scan field."""
        text = event.text()
        if text and text.isprintable() and not event.modifiers() & (
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
        ):
            if self.focusWidget() is not self.scan_field:
                self.scan_field.clear()
                self.scan_field.setFocus()
            self.scan_field.insert(text)
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.focusWidget() is self.scan_field:
            self.open_scanned()  # the scanner's Enter after text redirected here
            return
        super().keyPressEvent(event)

    def reset(self) -> None:
        """No bag open, nothing typed left in any field (a new bag, or another person signed in)."""
        self.prep = None
        self._clear_step_fields()
        self._show_header()
        self.scan_field.clear()
        self.scan_message.setText("")
        set_role(self.scan_message, "")
        self._show_page(self.scan_page)

    def open_scanned(self) -> None:
        prep_id = self.scan_field.text().strip()
        if not prep_id:
            self._say(self.scan_message, "Preparation id: scan the bag's code or type its id.", "error")
            return
        try:
            prep = self._fetch(prep_id)
        except ValidationError as exc:
            self._say(self.scan_message, error_text(exc), "error")
            return
        if prep is None:
            self._say(self.scan_message, f"No preparation with id {prep_id!r}. Check the label.", "error")
            self.scan_field.selectAll()
            return
        step = current_step(prep)
        if step not in CHAIR_STEPS:
            self._say(
                self.scan_message,
                f"{prep_id} is not ready for the chair: its next step is '{step}'. Return it to pharmacy.",
                "hardstop",
            )
            self.scan_field.selectAll()
            return
        self.prep = prep
        self.scan_field.clear()
        self._say(self.scan_message, f"Bag {prep.id} open.", "")
        self._clear_step_fields()
        self._go_to_current_step()

    def open_preparation(self, prep_id: str) -> None:
        """Open a bag by id (from the board)."""
        self.scan_field.setText(prep_id)
        self.open_scanned()

    def _clear_step_fields(self) -> None:
        now = self.clock.now()
        self.early_reason.clear()
        self.early_reason.hide()
        self.confirm_name.clear()
        self.confirm_mrn.clear()
        self.confirm_dob.clear()
        self.use_dob.setChecked(True)
        for message in (self.confirm_message, self.premed_message, self.start_message, self.end_message, self.observe_message):
            self._say(message, "", "")
        for row in self.premed_rows.values():
            row.clear(now)
        for late in self.late_entries.values():
            late.reset()

    def _go_to_current_step(self) -> None:
        assert self.prep is not None
        step = current_step(self.prep)
        self._shown_step = step
        self._show_header()
        confirmed = self.prep.last(EventType.PATIENT_CONFIRMED) is not None
        if step in ("premedicate", "start infusion") and not confirmed:
            self.step_label.setText("Next: confirm the patient (two identifiers)")
            self._show_page(self.confirm_page)
        elif step == "premedicate":
            self._fill_premedication()
            self._show_page(self.premed_page)
        elif step == "start infusion":
            self._fill_start()
            self._show_page(self.start_page)
        elif step == "infusing":
            self._fill_infusing()
            self._show_page(self.infusing_page)
        elif step == "observing":
            self._fill_observing()
            self._show_page(self.observing_page)
        elif step == "done":
            self._fill_done()
            self._show_page(self.done_page)
        else:
            self._say(self.scan_message, f"{self.prep.id}: next step is '{step}'; nothing to do at the chair.", "hardstop")
            self.prep = None
            self._show_page(self.scan_page)

    def reprint_label(self) -> bool:
        """The open bag's label again, to the site's label printer (REPRINT and its time on it)."""
        if self.prep is None:
            return False
        from .printing import DocumentPrinter

        printer = DocumentPrinter(self.service, self.user, self, warn=lambda _p, _t, text: self._say(self.scan_message, text, "error"))
        job = printer.print_label_now(self.prep.id)
        if job is not None:
            self._say(self.scan_message, printer.last_message, "ok")
        return job is not None

    def discard(self, why: str = "") -> bool:
        """A pharmacist discards the open bag (before its infusion starts)."""
        if self.prep is None:
            return False
        from .discard import ask_discard

        status = ask_discard(self.service, self.prep.id, self, why)
        if status is None:
            return False
        self.step_recorded.emit(status.id)
        self.reset()
        self._say(self.scan_message, f"Bag {status.id} discarded by {status.prep.last(EventType.DISCARDED).user}.", "ok")
        return True

    def _show_page(self, page: QWidget) -> None:
        self._hide_override_buttons()
        self.fridge.refresh()
        self.discard_button.setVisible(
            self.prep is not None and page in (self.confirm_page, self.premed_page, self.start_page)
        )
        self.reprint_button.setVisible(self.prep is not None and page is not self.scan_page)
        self.stack.setCurrentWidget(page)
        focus = {
            self.scan_page: self.scan_field,
            self.confirm_page: self.confirm_name,
            self.premed_page: self._first_open_premed_field(),
            self.start_page: self.start_button,
            self.infusing_page: self.scan_field,
            self.observing_page: self.observe_button,
            self.done_page: self.next_bag_button if self.course_button.isHidden() else self.course_button,
        }.get(page)
        if focus is not None:
            focus.setFocus()
        default = {
            self.confirm_page: self.confirm_button,
            self.premed_page: self.premed_button,
            self.start_page: self.start_button,
            self.observing_page: self.observe_button,
            self.done_page: self.next_bag_button,
        }.get(page)
        for button in (self.confirm_button, self.premed_button, self.start_button, self.end_button, self.observe_button, self.next_bag_button):
            button.setDefault(button is default)
        self.repaint_countdown()

    def _first_open_premed_field(self) -> QWidget:
        for row in self.premed_rows.values():
            if not row.recorded:
                return row.drug
        return self.premed_button

    # -- what is shown -----------------------------------------------------------------------

    def _show_header(self) -> None:
        if self.prep is None:
            self.patient_label.setText("No bag scanned")
            self.bag_label.setText("")
            self.step_label.setText("")
            return
        patient = self.prep.patient
        confirmed = self.prep.last(EventType.PATIENT_CONFIRMED) is not None
        if confirmed:
            self.patient_label.setText(
                f"{patient.name} · MRN {patient.mrn} · born {patient.date_of_birth.isoformat()}"
            )
        else:
            # Not shown before the nurse has entered both identifiers independently.
            self.patient_label.setText("Patient not yet confirmed")
        order = self.prep.order
        dose_text = f" · dose {format_dose(order.calculation.dose_mg)}"
        where = f" · cycle {order.cycle} day {order.day}"
        self.bag_label.setText(f"Bag {self.prep.id}{dose_text}{where}")
        self.step_label.setText(STEP_TEXT.get(current_step(self.prep), current_step(self.prep)))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.repaint_countdown()

    _follower: Any = None

    def followed_status(self, prep_id: str) -> Any:
        """service.status(prep_id) for a tick: read from storage only when the change feed names it."""
        if self._follower is None or self._follower.service is not self.service:
            from .following import StatusFollower

            self._follower = StatusFollower(self.service)
        return self._follower.status(prep_id)

    def repaint_countdown(self) -> None:
        """Re-read the stored preparation's deadlines (service + domain, injected clock); show the next."""
        if not self.isVisible():
            return  # a hidden tab reads nothing; showEvent repaints it when it comes back
        if self.prep is None:
            self.deadline_caption.setText("No bag open\n")
            self.countdown.show_value("—", "none")
            return
        try:
            status = self.followed_status(self.prep.id)
        except ValidationError:  # removed from storage meanwhile: nothing to count down
            self.deadline_caption.setText("Preparation not found\n")
            self.countdown.show_value("—", "none")
            return
        if len(status.prep.events) != len(self.prep.events):
            # Another workstation recorded a step: follow the stored state.
            self.prep = status.prep
            if status.current_step != self._shown_step:
                self._go_to_current_step()
                return
        self.fridge.refresh()
        if self.stack.currentWidget() is self.premed_page:
            for row in self.premed_rows.values():
                row.keep_time_at(status.now)
        if status.current_step == "infusing":
            planned = self.planned_end()
            started = status.prep.last(EventType.INFUSION_STARTED)
            if planned is not None and started is not None:
                # The nurse watches the bag's expected end, not the end-of-infusion limit (the board still shows that).
                elapsed = format_countdown((status.now - started.at).total_seconds())
                self.deadline_caption.setText(f"Expected end {format_instant(planned)}\nElapsed {elapsed}")
                state = "ok" if status.now < planned else "warning"
                self.countdown.show_value(format_countdown((planned - status.now).total_seconds()), state)
                return
        deadline = status.next_deadline
        if deadline is None:
            self.deadline_caption.setText("No deadline running\n")
            self.countdown.show_value("—", "none")
            return
        self.deadline_caption.setText(f"{deadline.label}\n{format_instant(deadline.at)}")
        self.countdown.show_value(format_countdown((deadline.at - status.now).total_seconds()), deadline.state.value)

    def _fill_premedication(self) -> None:
        assert self.prep is not None
        given = numbered_premedications(self.prep)
        for drug_class, row in self.premed_rows.items():
            mine = [(n, e) for n, e in given if e.details.get("drug_class") == drug_class]
            if mine:
                number, last = mine[-1]
                row.show_recorded(last, correctable=premedication_correction_refusal(self.prep, number, self.user) is None)
                row.number = number
            else:
                row.show_recorded(None)

    def correct_premedication(self, drug_class: str) -> bool:
        """The nurse who recorded an entry corrects it (drug, dose or time, with a reason); audited."""
        assert self.prep is not None
        row = self.premed_rows[drug_class]
        if row.recorded is None:
            return False

        def submit(details: dict, given_at: datetime) -> str | None:
            try:
                self._record(EventType.PREMEDICATION_CORRECTED, at=given_at, details={**details, "corrects": row.number})
            except ValidationError as exc:
                return error_text(exc)
            except StepRefused as exc:
                return error_text(exc)
            return None

        dialog = CorrectionDialog(drug_class, row.recorded, self.monograph, submit, self)
        self._correction_dialog = dialog  # tests reach the open dialog here
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        self._correction_dialog = None
        if accepted:
            self._fill_premedication()
            self._say(self.premed_message, f"{drug_class.capitalize()} entry corrected.", "ok")
        return accepted

    def _fill_start(self) -> None:
        rate = format_quantity(self.monograph.quantity("infusion.rate"), "mL/h")
        duration = format_quantity(self.monograph.quantity("infusion.duration"), "h")
        self.rate_label.setText(f"Set the pump to {rate} (the whole bag over {duration}).")
        self.start_notes.setText(
            "  ".join(
                [
                    self.monograph.text("infusion.temperature"),
                    self.monograph.text("infusion.line"),
                    self.monograph.text("reconstitution.light"),
                ]
            )
        )

    def _fill_infusing(self) -> None:
        assert self.prep is not None
        started = self.prep.last(EventType.INFUSION_STARTED)
        rate = format_quantity(self.monograph.quantity("infusion.rate"), "mL/h")
        since = format_instant(started.at) if started else "?"
        limit = next((d for d in self.service.status(self.prep.id).deadlines if d.key == "end_infusion_by"), None)
        latest = f" The label limit: ended by {format_instant(limit.at)}." if limit is not None else ""
        self.infusing_info.setText(f"Started {since} at {rate}. Press End when the bag is empty.{latest}")

    def _fill_observing(self) -> None:
        assert self.prep is not None
        ended = self.prep.last(EventType.INFUSION_ENDED)
        hours = format_quantity(self.monograph.quantity("time_limits.observation_after_infusion"), "h")
        since = format_instant(ended.at) if ended else "?"
        self.observing_info.setText(
            f"Infusion ended {since}. Observe the patient for at least {hours} for fever, chills, rash "
            "or breathing problems."
        )

    def _fill_done(self) -> None:
        assert self.prep is not None
        ended = self.prep.last(EventType.OBSERVATION_ENDED)
        when = format_instant(ended.at) if ended else ""
        self.done_info.setText(f"Observation completed {when}. Everything for bag {self.prep.id} is recorded.")
        self._fill_course_link()

    def _courses(self):
        if self._course_service is None:
            from ..service.course import CourseService

            self._course_service = CourseService(self.service)
        return self._course_service

    def _dose_for_course(self) -> tuple[int, int, date] | None:
        """(cycle, day, local date the infusion started) of this bag, or None if it did not start."""
        assert self.prep is not None
        started = self.prep.last(EventType.INFUSION_STARTED)
        if started is None:
            return None
        return self.prep.order.cycle, self.prep.order.day, started.at.astimezone().date()

    def _fill_course_link(self) -> None:
        """Offer to record the dose in the patient's course, unless there is none or it is already there."""
        self.course_button.hide()
        self._say(self.course_message, "", "")
        dose = self._dose_for_course()
        if self.prep is None or dose is None:
            return
        course = self._courses().course(self.prep.patient.mrn)
        if course is None:
            self._say(self.course_message, "No treatment course is stored for this patient.", "")
            return
        cycle, day, given_on = dose
        recorded = [d for d in course.doses if d.cycle == cycle and d.day == day]
        if recorded:
            self._say(
                self.course_message,
                f"The course shows cycle {cycle} Day {day} as given on {recorded[0].given_on.isoformat()}.",
                "ok",
            )
            return
        self._say(
            self.course_message,
            f"The course does not yet show cycle {cycle} Day {day}: record it as given on {given_on.isoformat()}.",
            "warning",
        )
        self.course_button.show()
        self.course_button.setFocus()

    def record_in_course(self) -> bool:
        dose = self._dose_for_course()
        if self.prep is None or dose is None:
            return False
        cycle, day, given_on = dose
        try:
            # No expected version: the chair shows the bag, not the course. The dose is a fact of
            # this bag (cycle and day from its order), checked by the domain against the course
            # as stored when it is written, and a preparation is linked to one dose only.
            self._courses().record_dose(
                self.prep.patient.mrn, cycle, day, given_on, self.user, preparation_id=self.prep.id
            )
        except ValidationError as exc:
            self._say(self.course_message, "Not recorded in the course — " + error_text(exc), "error")
            return False
        except StepRefused as exc:
            self._say(self.course_message, f"Not recorded in the course: {exc.message}", "error")
            return False
        except CourseBlocked as exc:  # a clinical hard stop of the course engine (e.g. outside the window)
            self._say(
                self.course_message,
                "Not recorded in the course: " + "; ".join(exc.reasons) + ". A pharmacist decides in the course view.",
                "hardstop",
            )
            return False
        self._fill_course_link()
        self.next_bag_button.setFocus()
        return True

    @staticmethod
    def _say(label: QLabel, text: str, role: str) -> None:
        label.setText(text)
        set_role(label, role)

    # -- steps -------------------------------------------------------------------------------

    def _second_identifier_changed(self) -> None:
        dob = self.use_dob.isChecked()
        self.confirm_dob.setVisible(dob)
        self.dob_label.setVisible(dob)
        self.confirm_mrn.setVisible(not dob)
        self.mrn_label.setVisible(not dob)

    def confirm_patient(self) -> None:
        assert self.prep is not None
        name = self.confirm_name.text()
        if self.use_dob.isChecked():
            from .bench_wizard import parse_local_date

            try:
                dob, mrn = parse_local_date(self.confirm_dob.text(), "Date of birth"), None
            except ValidationError as exc:
                self._say(self.confirm_message, exc.message, "error")
                self.confirm_dob.setFocus()
                return
        else:
            dob, mrn = None, self.confirm_mrn.text()
        problems = identifier_mismatches(self.prep.patient, name, dob, mrn)
        if problems:
            self._say(
                self.confirm_message,
                "STOP — not confirmed: " + "; ".join(problems) + ". Check the wristband and the bag label; "
                "do not give this bag until both identifiers match.",
                "hardstop",
            )
            return
        details: dict[str, Any] = {"name": name.strip(), "identifiers": ["name", "date_of_birth" if dob else "mrn"]}
        if dob is not None:
            details["date_of_birth"] = dob.isoformat()
        else:
            details["mrn"] = (mrn or "").strip()
        if self._run_step(EventType.PATIENT_CONFIRMED, self.confirm_message, details=details):
            self._go_to_current_step()

    def record_premedication(self) -> None:
        assert self.prep is not None
        pending = [row for row in self.premed_rows.values() if not row.recorded and row.filled()]
        if not pending:
            missing = [row.drug_class for row in self.premed_rows.values() if not row.recorded]
            self._say(self.premed_message, "Premedication: enter the drug and dose for " + ", ".join(missing) + ".", "error")
            return
        errors: dict[str, str] = {}
        now = self.clock.now()
        for row in pending:
            details = {"drug_class": row.drug_class, **row.details()}
            given_at = row.given(now)
            try:
                self._record(EventType.PREMEDICATION, at=given_at, details=details)
            except ValidationError as exc:
                errors[row.drug_class] = error_text(exc)
            except StepRefused as exc:
                errors[row.drug_class] = error_text(exc)
        self._fill_premedication()
        for drug_class, text in errors.items():
            self.premed_rows[drug_class].show_error(text)
        if errors:
            self._say(self.premed_message, "Not recorded: " + ", ".join(errors) + " (see the row).", "error")
            self.premed_rows[next(iter(errors))].dose.setFocus()
            return
        missing = [row.drug_class for row in self.premed_rows.values() if not row.recorded]
        if missing:
            self._say(
                self.premed_message,
                "Still to record before the infusion can start: " + ", ".join(missing) + ".",
                "warning",
            )
            self.repaint_countdown()
            self._first_open_premed_field().setFocus()
            return
        self._go_to_current_step()

    def start_infusion(self) -> None:
        if self._run_step(EventType.INFUSION_STARTED, self.start_message):
            self._go_to_current_step()

    def planned_end(self) -> datetime | None:
        """When the infusion started plus the planned infusion time (the order's, else the monograph's)."""
        from ..domain.preparation import infusion_duration_of

        if self.prep is None:
            return None
        started = self.prep.last(EventType.INFUSION_STARTED)
        return None if started is None else started.at + infusion_duration_of(self.prep, self.monograph)

    def end_infusion(self) -> None:
        assert self.prep is not None
        planned = self.planned_end()
        now = self._entered_at(EventType.INFUSION_ENDED) or self.clock.now()
        details: dict[str, Any] = {}
        if planned is not None and now < planned - EARLY_END_MARGIN:
            reason = " ".join(self.early_reason.text().split())
            if len(reason) < 3:
                self.early_reason.show()
                self.early_reason.setFocus()
                self._say(
                    self.end_message,
                    f"The infusion is planned to end {format_instant(planned)}, "
                    f"{format_countdown((planned - now).total_seconds())} from now. To end it now, give the reason "
                    "and press End infusion again.",
                    "warning",
                )
                return
            details = {"reason": reason, "planned_end": planned.astimezone(timezone.utc).isoformat()}
        if self._run_step(EventType.INFUSION_ENDED, self.end_message, details=details):
            self.early_reason.clear()
            self.early_reason.hide()
            self._go_to_current_step()

    def end_observation(self) -> None:
        if self._run_step(EventType.OBSERVATION_ENDED, self.observe_message):
            self._go_to_current_step()

    def _entered_at(self, kind: EventType) -> datetime | None:
        late = self.late_entries.get(kind)
        return late.at() if late is not None else None

    def _run_step(self, kind: EventType, message: QLabel, details: dict | None = None) -> bool:
        """Record one step now; on refusal show the domain's reason and stay.

        A refusal the domain marks overridable (a time limit) offers a pharmacist's override;
        any other refusal (order, role, missing premedication) cannot be overridden here.
        """
        self._hide_override_buttons()
        try:
            try:
                self._record(kind, at=self._entered_at(kind), details=details)
            except StepRefused as refusal:
                # A fact that breaks a limit (an infusion faster than its minimum, ended after its end
                # limit) is recorded as a deviation when the nurse gave the reason (issue 11).
                reason = (details or {}).get("reason")
                if not (refusal.deviation_allowed and reason):
                    raise
                self._record(kind, at=self._entered_at(kind), details=details, deviation_reason=reason)
        except ValidationError as exc:
            self._say(message, error_text(exc), "error")
            return False
        except StepRefused as exc:
            self._say(message, error_text(exc), "hardstop")
            limit_passed = exc.overridable or any(part.endswith("_passed") or part == "late_entry" for part in exc.code.split("+"))
            if limit_passed and self.discard_button.isVisible():
                # A label limit passed: the bag is discarded and prepared again; override only if asked.
                self._say(message, error_text(exc) + " Discard this bag (a pharmacist signs it), or call a pharmacist.", "hardstop")
                self.discard_button.setFocus()
            if exc.overridable and kind in self.override_buttons:
                self._pending_override = (kind, details, exc, message)
                button = self.override_buttons[kind]
                button.show()
            self.repaint_countdown()
            return False
        self._say(message, "", "")
        return True

    def _hide_override_buttons(self) -> None:
        self._pending_override = None
        for button in self.override_buttons.values():
            button.hide()

    def _override_button(self, kind: EventType, page: QWidget) -> QPushButton:
        button = QPushButton("Pharmacist &override…", page)
        button.setObjectName(f"override_{kind.value}")
        button.hide()
        button.clicked.connect(self.override_refusal)
        self.override_buttons[kind] = button
        return button

    def override_refusal(self) -> bool:
        """A pharmacist (name, PIN, reason) overrides the last overridable refusal; then the step is recorded."""
        if self._pending_override is None or self.prep is None:
            return False
        kind, details, refusal, message = self._pending_override
        pharmacists = [u.name for u in self.service.users() if u.role is Role.PHARMACIST and u.active]
        answer = self._ask_override(refusal.message, pharmacists, self)
        if answer is None:
            return False
        name, pin, reason = answer
        try:
            override = self.service.authorize_override(name, pin, reason, refusal.code)
            status = self.service.record_event(self.prep.id, kind, self.user, at=self._entered_at(kind), details=details or {},
                                               override=override)
        except ValidationError as exc:
            self._say(message, "Override not accepted — " + error_text(exc), "error")
            return False
        except StepRefused as exc:
            self._say(message, f"Override not accepted: {exc.message}", "hardstop")
            return False
        self.prep = status.prep
        self.step_recorded.emit(self.prep.id)
        self._hide_override_buttons()
        self._say(message, "", "")
        self._go_to_current_step()
        return True


def ask_pharmacist_override(refusal: str, pharmacists: list[str], parent: QWidget) -> tuple[str, str, str] | None:
    """The bench's override dialog: a pharmacist's name, PIN and reason, or None if cancelled."""
    from .bench_wizard import OverrideDialog

    dialog = OverrideDialog(refusal, pharmacists, parent)
    dialog.setObjectName("overrideDialog")
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.values()
