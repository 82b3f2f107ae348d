"""The chair's premedication rows: a drug picked from the monograph's list for its class, a dose
in mg, the time given (now unless the nurse changes it), and a correction of one's own entry.

A drug off the list is recorded only through "Other", with its name typed and the dose checked
against the order (the domain refuses it otherwise). Widgets collect; the domain decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ValidationError
from ..domain.formatting import format_amount, format_instant
from ..domain.monograph import Monograph
from ..domain.records import Event
from .errors import error_text
from .widgets import date_time_field, message_label, set_role

OTHER = "other"
# How the chair row names the rule a premedication was recorded as a deviation of.
DEVIATION_WORDS = {
    "premedication_window": "given before its window: it does not count for the start",
    "premedication_after_start": "entered after the start",
    "premedication_not_totalled": "not totalled with its class",
}
# A dose typed as a bare number is in the unit the field names.
_BARE_NUMBER = re.compile(r"^\s*\d+(?:[.,]\d+)?\s*$")


def dose_text(typed: str) -> str:
    """The dose field's text with its unit: the field is in mg, so "650" is "650 mg"."""
    text = typed.strip()
    return f"{text.replace(',', '.')} mg" if _BARE_NUMBER.match(text) else text


class DrugPicker(QComboBox):
    """The drugs of one class from the monograph, then "Other (not on the list)". Enter moves on."""

    enter_pressed = Signal()

    def __init__(self, drug_class: str, monograph: Monograph, parent: QWidget | None = None):
        super().__init__(parent)
        self.addItem("Choose the drug given", None)
        self.ranges: dict[str, str] = {}
        for drug in monograph.premedication_drugs():
            if drug.drug_class != drug_class:
                continue
            low = format_amount(float(drug.dose_min.value.to("mg").magnitude), "mg")
            high = format_amount(float(drug.dose_max.value.to("mg").magnitude), "mg")
            self.addItem(f"{drug.name} (typical {drug.typical})", drug.name)
            self.ranges[drug.name] = f"typical {drug.typical}; accepted {low} to {high}"
        self.addItem("Other (not on the list)", OTHER)

    def drug(self) -> str | None:
        """The chosen drug's name, OTHER, or None when nothing is chosen."""
        return self.currentData()

    def choose(self, name: str) -> bool:
        index = self.findData(name)
        if index < 0:
            return False
        self.setCurrentIndex(index)
        return True

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.enter_pressed.emit()
            return
        super().keyPressEvent(event)


class PremedicationEntry:
    """Drug, "other" name and its dose check, dose in mg, and the time given, laid out in a grid row."""

    def __init__(self, drug_class: str, monograph: Monograph, parent: QWidget, name_prefix: str = "premed"):
        self.drug_class = drug_class
        self.drug = DrugPicker(drug_class, monograph, parent)
        self.drug.setObjectName(f"{name_prefix}Drug_{drug_class}")
        self.drug.setAccessibleName(f"{drug_class} drug")
        self.other_name = QLineEdit(parent)
        self.other_name.setObjectName(f"{name_prefix}Other_{drug_class}")
        self.other_name.setPlaceholderText("drug name, as on the order")
        self.other_name.setAccessibleName(f"{drug_class}: other drug's name")
        self.dose_checked = QCheckBox("Dose checked against the order", parent)
        self.dose_checked.setObjectName(f"{name_prefix}DoseChecked_{drug_class}")
        self.dose = QLineEdit(parent)
        self.dose.setObjectName(f"{name_prefix}Dose_{drug_class}")
        self.dose.setPlaceholderText("mg")
        self.dose.setAccessibleName(f"{drug_class} dose in mg")
        self.given_at = date_time_field(parent)
        self.given_at.setObjectName(f"{name_prefix}Time_{drug_class}")
        self.given_at.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.given_at.setCalendarPopup(True)
        self.given_at.setAccessibleName(f"{drug_class} given at")
        self.hint = QLabel(parent)
        self.hint.setObjectName(f"{name_prefix}Hint_{drug_class}")
        self.hint.setWordWrap(True)
        # The time is now until the nurse changes it; a tick keeps an untouched field at now.
        self.time_touched = False
        self._setting_time = False
        self.given_at.dateTimeChanged.connect(self._time_changed)
        # Answering "which one?" alone (the time left as it was) is setting the time: the review
        # found the row still recorded at now, and the next tick put the answer back.
        self.given_at.repeated.activated.connect(lambda _index: self._time_changed())
        self.drug.currentIndexChanged.connect(self._drug_changed)
        self.drug.enter_pressed.connect(self._after_drug)
        self.other_name.returnPressed.connect(self.dose.setFocus)
        self._drug_changed()

    def _time_changed(self) -> None:
        if not self._setting_time:
            self.time_touched = True

    def set_time(self, instant: datetime) -> None:
        self._setting_time = True
        try:
            self.given_at.show_instant(instant)
        finally:
            self._setting_time = False

    def keep_time_at(self, now: datetime) -> None:
        if not self.time_touched and self.given_at.isEnabled():
            self.set_time(now)

    def _drug_changed(self) -> None:
        other = self.drug.drug() == OTHER
        self.other_name.setVisible(other)
        self.dose_checked.setVisible(other)
        name = self.drug.drug()
        if other:
            self.hint.setText("Not on the list: type its name and check the dose against the order.")
        else:
            self.hint.setText(self.drug.ranges.get(name or "", ""))

    def _after_drug(self) -> None:
        (self.other_name if self.drug.drug() == OTHER else self.dose).setFocus()

    def filled(self) -> bool:
        return self.drug.drug() is not None or bool(self.dose.text().strip())

    def details(self) -> dict:
        """The event details this entry asks for (the domain checks them)."""
        chosen = self.drug.drug()
        if chosen == OTHER:
            return {"drug": self.other_name.text().strip(), "dose": dose_text(self.dose.text()), "other": True, "dose_checked": self.dose_checked.isChecked()}
        return {"drug": chosen or "", "dose": dose_text(self.dose.text())}

    def given(self, now: datetime) -> datetime:
        """When it was given: now until the nurse sets the time. ValidationError (the field named) for a
        time the site's clock showed twice until the choice beside it is made, or never showed."""
        return self.given_at.instant("given_at") if self.time_touched else now

    def widgets(self) -> tuple[QWidget, ...]:
        return (self.drug, self.other_name, self.dose_checked, self.dose, self.given_at, self.given_at.repeated)

    def clear(self, now: datetime) -> None:
        self.drug.setCurrentIndex(0)
        self.other_name.clear()
        self.dose_checked.setChecked(False)
        self.dose.clear()
        self.time_touched = False
        self.set_time(now)

    def fill_from(self, event: Event) -> None:
        """Start a correction from the entry as it stands."""
        name = str(event.details.get("drug", ""))
        if event.details.get("other") or not self.drug.choose(name.casefold()):
            self.drug.choose(OTHER)
            self.other_name.setText(name)
        self.dose.setText(str(event.details.get("dose", "")))
        self.set_time(event.at)
        self.time_touched = True


class PremedicationRow(PremedicationEntry):
    """One class on the chair's premedication page, with what was recorded and its correction."""

    def __init__(self, drug_class: str, monograph: Monograph, grid: QGridLayout, row: int, parent: QWidget, title_point_size: int):
        super().__init__(drug_class, monograph, parent)
        self.title = QLabel(drug_class.capitalize(), parent)
        font = self.title.font()
        font.setPointSize(title_point_size)
        font.setBold(True)
        self.title.setFont(font)
        self.status = QLabel(parent)
        self.status.setObjectName(f"premedStatus_{drug_class}")
        self.status.setWordWrap(True)
        self.correct_button = QPushButton("Correct this entry…", parent)
        self.correct_button.setObjectName(f"premedCorrect_{drug_class}")
        self.correct_button.hide()
        # Asked only when the domain says the entry is a fact that breaks a limit (given before the
        # window it counts in, or not totalled with its class): recorded then as a deviation.
        self.deviation_reason = QLineEdit(parent)
        self.deviation_reason.setObjectName(f"premedDeviationReason_{drug_class}")
        self.deviation_reason.setPlaceholderText("if this is what happened: why (recorded as a deviation)")
        self.deviation_reason.setAccessibleName(f"{drug_class}: deviation reason")
        self.deviation_reason.hide()
        drug_cell = QVBoxLayout()
        drug_cell.addWidget(self.drug)
        drug_cell.addWidget(self.other_name)
        drug_cell.addWidget(self.dose_checked)
        grid.addWidget(self.title, row, 0, Qt.AlignmentFlag.AlignTop)
        grid.addLayout(drug_cell, row, 1)
        grid.addWidget(self.dose, row, 2, Qt.AlignmentFlag.AlignTop)
        time_cell = QVBoxLayout()
        time_cell.addWidget(self.given_at)
        time_cell.addWidget(self.given_at.repeated)
        grid.addLayout(time_cell, row, 3, Qt.AlignmentFlag.AlignTop)
        status_cell = QHBoxLayout()
        status_cell.addWidget(self.hint, 1)
        status_cell.addWidget(self.status, 3)
        status_cell.addWidget(self.correct_button)
        status_cell.addWidget(self.deviation_reason, 2)
        grid.addLayout(status_cell, row + 1, 1, 1, 3)
        self.recorded: Event | None = None
        self.number = 0  # the recorded entry's number among the preparation's events (what a correction names)

    def connect_enter(self, record: Callable[[], None]) -> None:
        self.dose.returnPressed.connect(record)
        self.deviation_reason.returnPressed.connect(record)

    def show_recorded(self, event: Event | None, correctable: bool = False, deviation: Event | None = None) -> None:
        """What was recorded for the class; `deviation`: the deviation it was recorded with, shown as one."""
        self.recorded = event
        for widget in self.widgets():
            widget.setEnabled(event is None)
        self.hint.setVisible(event is None)
        self.correct_button.setVisible(event is not None and correctable)
        self.deviation_reason.clear()
        self.deviation_reason.hide()
        if event is None:
            self.status.setText("")
            set_role(self.status, "")
            return
        details = event.details
        text = f"Recorded: {details.get('drug', '')} {details.get('dose', '')} given {format_instant(event.at)} by {event.user}"
        if details.get("other"):
            text += " (other; dose checked against the order)"
        if isinstance(details.get("original"), dict):
            text += f"; corrected by {details.get('corrected_by')}: {details.get('correction_reason', '')}"
        if deviation is not None:
            # The rule in a few words (the sheet, the board and the audit keep the domain's whole message).
            rules = "; ".join(DEVIATION_WORDS.get(str(r), str(r)) for r in deviation.details.get("rules", []))
            text += f". DEVIATION ({rules}), reason: {deviation.details.get('reason', '')}"
        self.status.setText(text)
        set_role(self.status, "warning" if deviation is not None else "ok")

    def show_error(self, text: str, deviation_allowed: bool = False) -> None:
        """The refusal; when it is a fact the domain records as a deviation, the reason is asked for."""
        if deviation_allowed:
            text += ". If this is what happened, type why below and press Record premedication again: it is recorded as a deviation."
            self.deviation_reason.show()
            self.deviation_reason.setFocus()
        self.status.setText(text)
        set_role(self.status, "error")

    def deviation_text(self) -> str | None:
        """The reason typed for recording this entry as a deviation, or None when none is asked for."""
        if self.deviation_reason.isHidden():
            return None
        return self.deviation_reason.text().strip() or None

    def clear(self, now: datetime) -> None:
        super().clear(now)
        self.show_recorded(None)


def _add_entry_rows(form: QFormLayout, entry: PremedicationEntry) -> None:
    """One premedication entry's rows, as the correction and the late-entry dialogs both lay them out."""
    form.addRow("&Drug", entry.drug)
    form.addRow("", entry.other_name)
    form.addRow("", entry.dose_checked)
    form.addRow("D&ose (mg)", entry.dose)
    form.addRow("&Given at", entry.given_at)
    form.addRow("", entry.given_at.repeated)


def _add_save_and_cancel(dialog: QDialog, layout: QVBoxLayout, text: str, object_name: str, save: Callable[[], None]) -> QPushButton:
    """The dialog's save button (returned) and Cancel, at the foot of `layout`."""
    buttons = QDialogButtonBox(dialog)
    save_button = buttons.addButton(text, QDialogButtonBox.ButtonRole.AcceptRole)
    save_button.setObjectName(object_name)
    cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
    cancel.setText("&Cancel")
    save_button.clicked.connect(save)
    cancel.clicked.connect(dialog.reject)
    layout.addWidget(buttons)
    return save_button


class CorrectionDialog(QDialog):
    """The recording nurse corrects drug, dose or time of one entry, with a reason."""

    def __init__(self, drug_class: str, event: Event, monograph: Monograph, submit: Callable[[dict, datetime], str | None], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("premedCorrectionDialog")
        self.setWindowTitle(f"Correct the {drug_class} entry")
        self._submit = submit
        layout = QVBoxLayout(self)
        layout.addWidget(
            message_label(
                f"First entered: {event.details.get('drug', '')} {event.details.get('dose', '')} given "
                f"{format_instant(event.at)}. The entry is corrected, never erased: the sheet and the audit keep both.",
                "",
                self,
            )
        )
        self.entry = PremedicationEntry(drug_class, monograph, self, name_prefix="correction")
        self.entry.fill_from(event)
        form = QFormLayout()
        _add_entry_rows(form, self.entry)
        self.reason = QLineEdit(self)
        self.reason.setObjectName("correctionReason")
        self.reason.setPlaceholderText("why, e.g. wrong dose typed")
        form.addRow("&Reason", self.reason)
        layout.addLayout(form)
        layout.addWidget(self.entry.hint)
        self.message = message_label("", "", self)
        self.message.setObjectName("correctionMessage")
        layout.addWidget(self.message)
        self.save_button = _add_save_and_cancel(self, layout, "&Save the correction", "saveCorrectionButton", self.save)
        self.setMinimumWidth(560)

    def save(self) -> None:
        details = {**self.entry.details(), "reason": self.reason.text().strip()}
        try:
            given = self.entry.given_at.instant("given_at")
        except ValidationError as exc:
            self.message.setText(error_text(exc))
            set_role(self.message, "error")
            return
        problem = self._submit(details, given)
        if problem is None:
            self.accept()
            return
        self.message.setText(problem)
        set_role(self.message, "error")


class LatePremedicationDialog(QDialog):
    """A premedication given, or written down, only once the infusion has started: recorded as a
    deviation with the nurse's reason (the domain says so and keeps it on the sheet and board)."""

    def __init__(
        self,
        classes: list[str],
        monograph: Monograph,
        now: Callable[[], datetime],
        submit: Callable[[dict, datetime, str], str | None],
        parent: QWidget | None = None,
    ):
        from PySide6.QtWidgets import QStackedWidget

        super().__init__(parent)
        self.setObjectName("latePremedDialog")
        self.setWindowTitle("Record a premedication given after the start")
        self._submit = submit
        self._now = now
        layout = QVBoxLayout(self)
        layout.addWidget(
            message_label(
                "The infusion has started: a premedication recorded now is a deviation (given after the start, or "
                "written down late). Give the time it was given and why.",
                "warning",
                self,
            )
        )
        self.drug_class = QComboBox(self)
        self.drug_class.setObjectName("latePremedClass")
        self.stack = QStackedWidget(self)
        self.entries: dict[str, PremedicationEntry] = {}
        for drug_class in classes:
            page = QWidget(self.stack)
            form = QFormLayout(page)
            entry = PremedicationEntry(drug_class, monograph, page, name_prefix="late")
            entry.set_time(now())
            _add_entry_rows(form, entry)
            form.addRow("", entry.hint)
            self.entries[drug_class] = entry
            self.stack.addWidget(page)
            self.drug_class.addItem(drug_class.capitalize(), drug_class)
        self.drug_class.currentIndexChanged.connect(self.stack.setCurrentIndex)
        top = QFormLayout()
        top.addRow("&Class", self.drug_class)
        layout.addLayout(top)
        layout.addWidget(self.stack)
        self.reason = QLineEdit(self)
        self.reason.setObjectName("latePremedReason")
        self.reason.setPlaceholderText("why, e.g. reaction at 20 min: diphenhydramine given at the chair")
        reason_form = QFormLayout()
        reason_form.addRow("&Reason", self.reason)
        layout.addLayout(reason_form)
        self.message = message_label("", "", self)
        self.message.setObjectName("latePremedMessage")
        layout.addWidget(self.message)
        self.save_button = _add_save_and_cancel(self, layout, "&Save as a deviation", "saveLatePremedButton", self.save)
        self.setMinimumWidth(620)

    def entry(self) -> PremedicationEntry:
        return self.entries[str(self.drug_class.currentData())]

    def save(self) -> None:
        entry = self.entry()
        details = {"drug_class": entry.drug_class, **entry.details()}
        try:
            given = entry.given(self._now())
        except ValidationError as exc:
            self.message.setText(error_text(exc))
            set_role(self.message, "error")
            return
        problem = self._submit(details, given, self.reason.text().strip())
        if problem is None:
            self.accept()
            return
        self.message.setText(problem)
        set_role(self.message, "error")
