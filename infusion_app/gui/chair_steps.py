"""One widget per chair step: scan, confirm the patient, premedicate, start, infuse, observe, done.

Each shows the open bag as the controller (gui/chair_controller.py) holds it and asks it for its
step; it emits `advanced` once the step is stored, and the chair page moves to the bag's current
step. The drug facts shown come from the bag's own monograph and calculation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ValidationError
from ..domain.formatting import format_amount, format_countdown, format_instant, format_quantity
from ..domain.monograph import Monograph
from ..domain.preparation import StepRefused, numbered_premedications, premedication_correction_refusal, premedication_deviation
from ..domain.quantities import Quantity
from ..domain.records import EventType
from . import theme
from .chair_controller import ChairController, Outcome
from .errors import error_text
from .premedication import CorrectionDialog, LatePremedicationDialog, PremedicationRow
from .widgets import LateEntry, message_label, set_role

if TYPE_CHECKING:
    from .chair import ChairPage

# An infusion ended more than this before its planned end is "early" and needs a reason: pumps and
# bag overfill make the real end a few minutes off the plan. A program-design margin, not a drug fact.
EARLY_END_MARGIN = timedelta(minutes=10)


def sized(widget: QWidget, point_size: int, bold: bool = False) -> None:
    # The application style sheet sets every widget's font-size, which beats setFont(); a
    # widget's own style sheet is the one thing that wins over it.
    weight = " font-weight: bold;" if bold else ""
    widget.setStyleSheet(f"font-size: {point_size}pt;{weight}")


def say(label: QLabel, text: str, role: str) -> None:
    label.setText(text)
    set_role(label, role)


def show(label: QLabel, outcome: Outcome) -> None:
    say(label, outcome.text, outcome.role)


def _heading(text: str, parent: QWidget) -> QLabel:
    return message_label(text, "heading", parent)


def _hours(duration: timedelta) -> str:
    return format_quantity(Quantity(duration / timedelta(hours=1), "hour"), "h")


class ChairStep(QWidget):
    """A step's page: its heading first; `advanced` once its step is stored."""

    advanced = Signal()

    def __init__(self, title: str, controller: ChairController, page: ChairPage):
        super().__init__(page)
        self.controller = controller
        self.page = page
        self.layout_ = QVBoxLayout(self)
        self.layout_.addWidget(_heading(title, self))

    def clear(self) -> None:
        """Nothing typed left (a new bag, or another person signed in)."""

    def fill(self) -> None:
        """Show the open bag (called when the step is shown)."""

    def focus_widget(self) -> QWidget | None:
        return None

    def default_button(self) -> QPushButton | None:
        return None


class ScanStep(ChairStep):
    def __init__(self, controller: ChairController, page: ChairPage):
        super().__init__("Scan the bag", controller, page)
        self.layout_.addWidget(
            message_label("Scan the 2D code on the bag label into the scan field above, or type the preparation id and press Enter.", "", self)
        )
        self.layout_.addStretch(1)

    def focus_widget(self) -> QWidget | None:
        return self.page.scan_field


class ConfirmStep(ChairStep):
    """Two identifiers, typed as heard or scanned, independently of the bag."""

    def __init__(self, controller: ChairController, page: ChairPage):
        super().__init__("Confirm the patient: two identifiers", controller, page)
        self.layout_.addWidget(
            message_label(
                "Ask the patient to state their full name and date of birth (or read the MRN from the "
                "wristband) and enter what you hear or scan. Both must match the bag before you go on.",
                "",
                self,
            )
        )
        form = QFormLayout()
        self.name = QLineEdit(self)
        self.name.setObjectName("confirmName")
        self.name.setAccessibleName("patient full name")
        self.name.setPlaceholderText("full name as the patient states it")
        form.addRow("Full &name", self.name)
        choice = QHBoxLayout()
        self.use_dob = QRadioButton("&Date of birth", self)
        self.use_dob.setObjectName("useDob")
        self.use_mrn = QRadioButton("&MRN (wristband)", self)
        self.use_mrn.setObjectName("useMrn")
        self.use_dob.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.use_dob)
        group.addButton(self.use_mrn)
        choice.addWidget(self.use_dob)
        choice.addWidget(self.use_mrn)
        choice.addStretch(1)
        form.addRow("Second identifier", choice)
        # Empty until typed: a prefilled date (1970-01-01) could be confirmed without reading the wristband.
        self.dob = QLineEdit(self)
        self.dob.setObjectName("confirmDob")
        self.dob.setPlaceholderText("as on the wristband, e.g. 1970-03-04 or 19700304")
        self.dob.setAccessibleName("date of birth")
        self.mrn = QLineEdit(self)
        self.mrn.setObjectName("confirmMrn")
        self.mrn.setAccessibleName("MRN")
        self.mrn.setPlaceholderText("scan the wristband or type the MRN")
        self.mrn.returnPressed.connect(self.submit)
        self.dob_label = QLabel("Date of &birth", self)
        self.dob_label.setBuddy(self.dob)
        self.mrn_label = QLabel("MR&N", self)
        self.mrn_label.setBuddy(self.mrn)
        form.addRow(self.dob_label, self.dob)
        form.addRow(self.mrn_label, self.mrn)
        self.use_dob.toggled.connect(self._second_identifier_changed)
        # Enter moves on, as a scanner or a hurried hand expects: name -> second identifier -> confirm.
        self.name.returnPressed.connect(lambda: (self.dob if self.use_dob.isChecked() else self.mrn).setFocus(Qt.FocusReason.TabFocusReason))
        self.dob.returnPressed.connect(lambda: self.button.setFocus())
        self.layout_.addLayout(form)
        self.message = message_label("", "", self)
        self.message.setObjectName("confirmMessage")
        self.layout_.addWidget(self.message)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.button = QPushButton("&Confirm patient", self)
        self.button.setObjectName("confirmPatientButton")
        self.button.clicked.connect(self.submit)
        buttons.addWidget(self.button)
        self.layout_.addLayout(buttons)
        self.layout_.addStretch(1)
        self._second_identifier_changed()

    def _second_identifier_changed(self) -> None:
        dob = self.use_dob.isChecked()
        self.dob.setVisible(dob)
        self.dob_label.setVisible(dob)
        self.mrn.setVisible(not dob)
        self.mrn_label.setVisible(not dob)

    def submit(self) -> None:
        if self.use_dob.isChecked():
            from .bench_wizard import parse_local_date

            try:
                dob, mrn = parse_local_date(self.dob.text(), "Date of birth"), None
            except ValidationError as exc:
                say(self.message, exc.message, "error")
                self.dob.setFocus()
                return
        else:
            dob, mrn = None, self.mrn.text()
        outcome = self.controller.confirm_patient(self.name.text(), dob, mrn)
        show(self.message, outcome)
        if outcome.ok:
            self.advanced.emit()

    def clear(self) -> None:
        for edit in (self.name, self.mrn, self.dob):
            edit.clear()
        self.use_dob.setChecked(True)
        say(self.message, "", "")

    def focus_widget(self) -> QWidget | None:
        return self.name

    def default_button(self) -> QPushButton | None:
        return self.button


class PremedicationStep(ChairStep):
    """A row per premedication class of the bag's own monograph."""

    def __init__(self, controller: ChairController, page: ChairPage):
        super().__init__("Premedication before the dose", controller, page)
        self.intro = message_label("", "", self)
        self.layout_.addWidget(self.intro)
        self.rows_holder = QWidget(self)
        self.layout_.addWidget(self.rows_holder)
        self.rows: dict[str, PremedicationRow] = {}
        self._rows_of: Monograph | None = None
        self.message = message_label("", "", self)
        self.message.setObjectName("premedMessage")
        self.layout_.addWidget(self.message)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.button = QPushButton("&Record premedication", self)
        self.button.setObjectName("recordPremedButton")
        self.button.clicked.connect(self.record)
        buttons.addWidget(self.button)
        self.layout_.addLayout(buttons)
        self.layout_.addStretch(1)
        self._correction_dialog: CorrectionDialog | None = None

    def build_rows(self, monograph: Monograph) -> None:
        """The rows for this drug's classes and lists (rebuilt only when another drug's bag opens)."""
        if self._rows_of is not None and self._rows_of.id == monograph.id and self._rows_of.revision == monograph.revision:
            return
        self._rows_of = monograph
        old = self.rows_holder
        self.rows_holder = QWidget(self)
        self.layout_.replaceWidget(old, self.rows_holder)
        old.hide()
        old.deleteLater()
        grid = QGridLayout(self.rows_holder)
        grid.setContentsMargins(0, 0, 0, 0)
        for column, title in enumerate(("Class", "Drug", "Dose (mg)", "Given at")):
            header = QLabel(title, self.rows_holder)
            sized(header, theme.BASE_POINT_SIZE, bold=True)
            grid.addWidget(header, 0, column)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 2)
        grid.setColumnStretch(3, 2)
        classes = monograph.premedication_classes()
        self.rows = {}
        for index, drug_class in enumerate(classes):
            row = PremedicationRow(drug_class, monograph, grid, 1 + index * 2, self.rows_holder, theme.ROW_POINT_SIZE)
            row.connect_enter(self.record)
            row.correct_button.clicked.connect(lambda _checked=False, c=drug_class: self.correct(c))
            row.correct_button.setAutoDefault(True)  # Enter on a focused button presses it
            self.rows[drug_class] = row
        self.intro.setText("Record each class given before this dose (" + ", ".join(classes) + "): the infusion cannot start until all are recorded.")
        self.clear()

    def fill(self) -> None:
        prep = self.controller.prep
        assert prep is not None
        given = numbered_premedications(prep)
        for drug_class, row in self.rows.items():
            mine = [(n, e) for n, e in given if e.details.get("drug_class") == drug_class]
            if mine:
                number, last = mine[-1]
                row.show_recorded(
                    last,
                    correctable=premedication_correction_refusal(prep, number, self.controller.user) is None,
                    deviation=premedication_deviation(prep, number),
                )
                row.number = number
            else:
                row.show_recorded(None)

    def record(self) -> None:
        pending = [row for row in self.rows.values() if not row.recorded and row.filled()]
        if not pending:
            missing = [row.drug_class for row in self.rows.values() if not row.recorded]
            say(self.message, "Premedication: enter the drug and dose for " + ", ".join(missing) + ".", "error")
            return
        errors: dict[str, str] = {}
        now = self.controller.clock.now()
        facts: set[str] = set()
        for row in pending:
            details = {"drug_class": row.drug_class, **row.details()}
            try:
                self.controller.record(EventType.PREMEDICATION, at=row.given(now), details=details, deviation_reason=row.deviation_text())
            except (ValidationError, StepRefused) as exc:
                errors[row.drug_class] = error_text(exc)
                if isinstance(exc, StepRefused) and exc.deviation_allowed:
                    facts.add(row.drug_class)
        self.fill()
        for drug_class, text in errors.items():
            self.rows[drug_class].show_error(text, deviation_allowed=drug_class in facts)
        if errors:
            say(self.message, "Not recorded: " + ", ".join(errors) + " (see the row).", "error")
            first = self.rows[next(iter(errors))]
            (first.deviation_reason if first.deviation_text() is not None or not first.deviation_reason.isHidden() else first.dose).setFocus()
            return
        missing = [row.drug_class for row in self.rows.values() if not row.recorded]
        if missing:
            say(self.message, "Still to record before the infusion can start: " + ", ".join(missing) + ".", "warning")
            self.page.repaint_countdown()
            self.first_open_field().setFocus()
            return
        self.advanced.emit()

    def correct(self, drug_class: str) -> bool:
        """The nurse who recorded an entry corrects it (drug, dose or time, with a reason); audited."""
        row = self.rows[drug_class]
        if row.recorded is None or self.controller.monograph is None:
            return False

        def submit(details: dict[str, Any], given_at: datetime) -> str | None:
            try:
                self.controller.record(EventType.PREMEDICATION_CORRECTED, at=given_at, details={**details, "corrects": row.number})
            except (ValidationError, StepRefused) as exc:
                return error_text(exc)
            return None

        dialog = CorrectionDialog(drug_class, row.recorded, self.controller.monograph, submit, self)
        self._correction_dialog = dialog  # tests reach the open dialog here
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        self._correction_dialog = None
        if accepted:
            self.fill()
            say(self.message, f"{drug_class.capitalize()} entry corrected.", "ok")
        return accepted

    def keep_time_at(self, now: datetime) -> None:
        for row in self.rows.values():
            row.keep_time_at(now)

    def clear(self) -> None:
        now = self.controller.clock.now()
        for row in self.rows.values():
            row.clear(now)
        say(self.message, "", "")

    def first_open_field(self) -> QWidget:
        for row in self.rows.values():
            if not row.recorded:
                return row.drug
        return self.button

    def focus_widget(self) -> QWidget | None:
        return self.first_open_field()

    def default_button(self) -> QPushButton | None:
        return self.button


class ActionStep(ChairStep):
    """A chair step: heading, what to know, the step's message, "it happened earlier", then [override] [action]."""

    event: EventType

    def __init__(self, title: str, controller: ChairController, page: ChairPage, *, info_name: str, message_name: str, button_text: str, button_name: str):
        super().__init__(title, controller, page)
        self.info = message_label("", "", self)
        self.info.setObjectName(info_name)
        self.layout_.addWidget(self.info)
        self.message = message_label("", "", self)
        self.message.setObjectName(message_name)
        self.layout_.addWidget(self.message)
        # Shown when the domain refuses a fact that breaks a limit until it is recorded as a deviation:
        # it happened, so it is recorded with the nurse's reason (the message said so, with no field to give it).
        self.deviation_reason = QLineEdit(self)
        self.deviation_reason.setObjectName(f"deviationReason_{self.event.value}")
        self.deviation_reason.setPlaceholderText("what happened and why, e.g. pump paused for a reaction; patient left against advice")
        self.deviation_reason.setAccessibleName("reason for the deviation")
        self.deviation_reason.hide()
        self.deviation_reason.returnPressed.connect(lambda: self.button.click())
        self.layout_.addWidget(self.deviation_reason)
        self.late = LateEntry(lambda: self.controller.clock.now(), self, name=f"late_{button_name}")
        self.layout_.addWidget(self.late)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.button = QPushButton(button_text, self)
        self.button.setObjectName(button_name)
        self.button.clicked.connect(self.act)
        # "… now" would be untrue for a step entered late.
        self.late.earlier.toggled.connect(lambda earlier, t=button_text: self.button.setText(t.replace(" now", "") if earlier else t))
        self.override_button = QPushButton("Pharmacist &override…", self)
        self.override_button.setObjectName(f"override_{self.event.value}")
        self.override_button.hide()
        self.override_button.clicked.connect(self.page.override_refusal)
        buttons.addWidget(self.override_button)
        buttons.addWidget(self.button)
        self.buttons = buttons
        self.layout_.addLayout(buttons)
        self.layout_.addStretch(1)

    def entered_at(self) -> datetime | None:
        return self.late.at()

    def add_late_premedication(self) -> None:
        """ "Premedication given after the start…": recorded as a deviation with its reason (the domain's rule)."""
        self.late_premed_button = QPushButton("Record a premedication &given after the start…", self)
        self.late_premed_button.setObjectName(f"latePremedButton_{self.event.value}")
        self.late_premed_button.setAutoDefault(False)
        self.late_premed_button.clicked.connect(self.record_late_premedication)
        self.buttons.insertWidget(0, self.late_premed_button)  # left, apart from the step's own button
        self._late_dialog: LatePremedicationDialog | None = None

    def record_late_premedication(self) -> bool:
        monograph = self.controller.monograph
        if monograph is None or self.controller.prep is None:
            return False

        def submit(details: dict[str, Any], given_at: datetime, reason: str) -> str | None:
            try:
                self.controller.record(EventType.PREMEDICATION, at=given_at, details=details, deviation_reason=reason or None)
            except (ValidationError, StepRefused) as exc:
                return error_text(exc)
            return None

        classes = monograph.premedication_classes()
        dialog = LatePremedicationDialog(classes, monograph, self.controller.clock.now, submit, self)
        self._late_dialog = dialog  # tests reach the open dialog here
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        self._late_dialog = None
        if accepted:
            prep = self.controller.prep
            assert prep is not None
            given = next(e for e in reversed(prep.events) if e.type == EventType.PREMEDICATION)
            deviation = prep.events[-1] if prep.events[-1].type == EventType.DEVIATION else None
            say(
                self.message,
                f"Premedication recorded as a deviation (entered after the start): {given.details.get('drug', '')} "
                f"{given.details.get('dose', '')} given {format_instant(given.at)}. Reason: "
                f"{deviation.details.get('reason', '') if deviation is not None else ''}",
                "warning",
            )
        return accepted

    def typed_deviation(self) -> str | None:
        """The deviation's reason, once the page asked for it; None before."""
        if self.deviation_reason.isHidden():
            return None
        return " ".join(self.deviation_reason.text().split()) or None

    def ask_deviation(self, refusal: str) -> None:
        self.deviation_reason.show()
        self.deviation_reason.setFocus()
        if not self.deviation_reason.text().strip():
            say(self.message, f"{refusal}. Type the reason for the deviation below and press {self.button.text().replace('&', '')} again.", "hardstop")

    def deviation_done(self) -> None:
        self.deviation_reason.clear()
        self.deviation_reason.hide()

    def act(self) -> None:
        if self.page.run_step(self.event, self.message, deviation_reason=self.typed_deviation()):
            self.advanced.emit()

    def clear(self) -> None:
        say(self.message, "", "")
        self.late.reset()
        self.deviation_done()

    def focus_widget(self) -> QWidget | None:
        return self.button

    def default_button(self) -> QPushButton | None:
        return self.button


class StartStep(ActionStep):
    event = EventType.INFUSION_STARTED

    def __init__(self, controller: ChairController, page: ChairPage):
        super().__init__(
            "Start the infusion",
            controller,
            page,
            info_name="startNotes",
            message_name="startMessage",
            button_text="&Start infusion now",
            button_name="startInfusionButton",
        )
        self.rate = QLabel(self)
        self.rate.setObjectName("rateLabel")
        sized(self.rate, theme.BANNER_POINT_SIZE, bold=True)
        self.rate.setWordWrap(True)
        self.layout_.insertWidget(1, self.rate)  # under the heading, above the notes

    def fill(self) -> None:
        given = self.controller.administration()
        rate = format_amount(given.rate_ml_per_hour, "mL/h")
        if given.container == "syringe":
            pump = f"Set the syringe pump to {rate} (the whole syringe, {format_amount(given.volume_ml, 'mL')}, over {_hours(given.duration)})."
        else:
            pump = f"Set the pump to {rate} (the whole bag over {_hours(given.duration)})."
        self.rate.setText(pump)
        # The filter on a line of its own, first: a step at the pump, not a note among the others.
        lines = ["GIVE THROUGH AN IN-LINE FILTER: " + " or ".join(given.filters) + "."] if given.filter_required else []
        notes = list(given.notes)
        if given.filters_forbidden:
            notes.append("Never use " + " or ".join(given.filters_forbidden) + ".")
        self.info.setText("\n".join([*lines, "  ".join(notes)]))


class InfusingStep(ActionStep):
    event = EventType.INFUSION_ENDED

    def __init__(self, controller: ChairController, page: ChairPage):
        super().__init__(
            "Infusing", controller, page, info_name="infusingInfo", message_name="endMessage", button_text="&End infusion now", button_name="endInfusionButton"
        )
        # Asked only when the infusion ends well before its planned end.
        self.early_reason = QLineEdit(self)
        self.early_reason.setObjectName("earlyEndReason")
        self.early_reason.setPlaceholderText("why the infusion ends early, e.g. infusion reaction, line occluded")
        self.early_reason.setAccessibleName("reason for ending early")
        self.early_reason.hide()
        self.layout_.insertWidget(3, self.early_reason)  # under the message, above the late entry and buttons
        self.add_late_premedication()

    def fill(self) -> None:
        prep = self.controller.prep
        assert prep is not None
        given = self.controller.administration()
        started = prep.last(EventType.INFUSION_STARTED)
        since = format_instant(started.at) if started else "?"
        limit = next((d for d in self.controller.status().deadlines if d.key == "end_infusion_by"), None)
        latest = f" The label limit: ended by {format_instant(limit.at)}." if limit is not None else ""
        self.info.setText(f"Started {since} at {format_amount(given.rate_ml_per_hour, 'mL/h')}. Press End when the {given.container} is empty.{latest}")

    def act(self) -> None:
        planned = self.controller.planned_end()
        try:
            now = self.entered_at() or self.controller.clock.now()
        except ValidationError as exc:  # a time the clocks showed twice, not yet chosen, or never showed
            say(self.message, error_text(exc), "error")
            return
        details: dict[str, Any] = {}
        if planned is not None and now < planned - EARLY_END_MARGIN:
            reason = " ".join(self.early_reason.text().split())
            if len(reason) < 3:
                self.early_reason.show()
                self.early_reason.setFocus()
                say(
                    self.message,
                    f"The infusion is planned to end {format_instant(planned)}, "
                    f"{format_countdown((planned - now).total_seconds())} from now. To end it now, give the reason "
                    "and press End infusion again.",
                    "warning",
                )
                return
            details = {"reason": reason, "planned_end": planned.astimezone(timezone.utc).isoformat()}
        if self.page.run_step(self.event, self.message, details=details, deviation_reason=self.typed_deviation()):
            self.early_reason.clear()
            self.early_reason.hide()
            self.advanced.emit()

    def clear(self) -> None:
        super().clear()
        self.early_reason.clear()
        self.early_reason.hide()

    def focus_widget(self) -> QWidget | None:
        # Ending an infusion is never what Enter or a scanner's Enter does: the scan field has the focus.
        return self.page.scan_field

    def default_button(self) -> QPushButton | None:
        return None


class ObservingStep(ActionStep):
    event = EventType.OBSERVATION_ENDED

    def __init__(self, controller: ChairController, page: ChairPage):
        super().__init__(
            "Observation after the infusion",
            controller,
            page,
            info_name="observingInfo",
            message_name="observeMessage",
            button_text="&Observation complete",
            button_name="endObservationButton",
        )
        self.add_late_premedication()

    def fill(self) -> None:
        prep = self.controller.prep
        assert prep is not None
        ended = prep.last(EventType.INFUSION_ENDED)
        since = format_instant(ended.at) if ended else "?"
        observation = self.controller.administration().observation
        self.info.setText(f"Infusion ended {since}. Observe the patient for at least {_hours(observation)} for fever, chills, rash or breathing problems.")


class DoneStep(ChairStep):
    def __init__(self, controller: ChairController, page: ChairPage, next_bag: Callable[[], None]):
        super().__init__("Done", controller, page)
        self.info = message_label("", "ok", self)
        self.info.setObjectName("doneInfo")
        self.layout_.addWidget(self.info)
        self.course_message = message_label("", "", self)
        self.course_message.setObjectName("courseMessage")
        self.layout_.addWidget(self.course_message)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.course_button = QPushButton("Record in the &course", self)
        self.course_button.setObjectName("recordInCourseButton")
        self.course_button.clicked.connect(self.record_in_course)
        buttons.addWidget(self.course_button)
        self.next_bag_button = QPushButton("Scan the &next bag", self)
        self.next_bag_button.setObjectName("nextBagButton")
        self.next_bag_button.clicked.connect(next_bag)
        buttons.addWidget(self.next_bag_button)
        self.layout_.addLayout(buttons)
        self.layout_.addStretch(1)

    def fill(self) -> None:
        prep = self.controller.prep
        assert prep is not None
        ended = prep.last(EventType.OBSERVATION_ENDED)
        when = format_instant(ended.at) if ended else ""
        self.info.setText(f"Observation completed {when}. Everything for bag {prep.id} is recorded.")
        self.fill_course_link()

    def fill_course_link(self) -> None:
        """Offer to record the dose in the patient's course, unless there is none or it is already there."""
        self.course_button.hide()
        say(self.course_message, "", "")
        if self.controller.prep is None:
            return
        link = self.controller.course_link()
        where = f"cycle {link.cycle} Day {link.day}"
        if link.state == "no course":
            say(self.course_message, "No treatment course is stored for this patient.", "")
        elif link.state == "other drug":
            say(self.course_message, f"The patient's course on file is for another drug: {where} of this bag is not recorded in it.", "")
        elif link.state == "recorded":
            say(self.course_message, f"The course shows {where} as given on {link.recorded_on.isoformat() if link.recorded_on else ''}.", "ok")
        elif link.state == "to record":
            say(
                self.course_message,
                f"The course does not yet show {where}: record it as given on {link.given_on.isoformat() if link.given_on else ''}.",
                "warning",
            )
            self.course_button.show()
            self.course_button.setFocus()

    def record_in_course(self) -> bool:
        outcome = self.controller.record_in_course()
        if not outcome.ok:
            if outcome.text:
                show(self.course_message, outcome)
            return False
        self.fill_course_link()
        self.next_bag_button.setFocus()
        return True

    def focus_widget(self) -> QWidget | None:
        return self.next_bag_button if self.course_button.isHidden() else self.course_button

    def default_button(self) -> QPushButton | None:
        return self.next_bag_button
