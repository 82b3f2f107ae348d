"""At the bench: a new preparation, from the patient to the dispensed bag (a QWizard).

patient → order → dose (the whole calculation and the payer policy) → vials → reconstitution
(starts the clocks) → draw → dilution → independent verification → label and sheet → dispense.

Every number comes from the domain (calculate_dose, check_coverage, parse_gs1, the measurement
parsers) and every step is committed through the service before the page moves on. A step the
domain refuses keeps the page where it is and shows the refusal; a refusal that may be overridden
offers the override (a pharmacist, a PIN and a reason), which the service records.
Reopening an in-progress preparation resumes at its current step.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QListWidget,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from ..domain.administration import Administration, administration_for
from ..domain.bsa import FORMULAS
from ..domain.coverage import CoverageDecision, CoverageFacts
from ..domain.dosing import DoseCalculation, DoseOrder
from ..domain.errors import ValidationError
from ..domain.instants import WALL_TIME_EXAMPLE
from ..domain.formatting import (
    format_amount,
    format_bsa,
    format_concentration,
    format_countdown,
    format_dose,
    format_instant,
    format_number,
    format_quantity,
    format_vial_expiry,
    format_volume,
)
from ..domain.quantities import Quantity
from ..domain.measurements import parse_height, parse_weight
from ..domain.monograph import Monograph
from ..domain.preparation import ROLES_FOR, StepRefused
from ..domain.records import DiluteStorage, EventType, Patient, Preparation, Role, User, VialRecord
from ..service import PreparationBlocked
from ..service.preparations import CalculationChanged
from ..service.preparations import validate_patient
from . import theme
from .pin_entry import pin_field
from .widgets import CountdownLabel, LateEntry, ScanField, SteadyComboBox, ValidatedField, message_label, set_role
from .errors import error_text

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.preparations import PreparationService

# Page ids, in order.
PATIENT, ORDER, DOSE, VIALS, RECONSTITUTE, DRAW, DILUTE, VERIFY, LABEL, DISPENSE = range(10)
PAGE_TITLES = {
    PATIENT: "Patient",
    ORDER: "Order",
    DOSE: "Dose",
    VIALS: "Vials",
    RECONSTITUTE: "Reconstitution",
    DRAW: "Draw the dose",
    DILUTE: "Dilution",
    VERIFY: "Independent verification",
    LABEL: "Label and prep sheet",
    DISPENSE: "Dispense",
}

# The domain's current step -> the page that does it.
PAGE_FOR_STEP = {
    "verify order": VIALS,  # the order is verified on the reconstitution page, after the vials
    "reconstitute": VIALS,  # vials come first; the vials page moves on when enough are recorded
    "dilute": DRAW,
    "verify": VERIFY,
    "label": LABEL,
    "dispense": DISPENSE,
}


# What the service raises for input or a step it will not take; shown on the page, never a crash.
REFUSALS = (ValidationError, StepRefused)


def _refusal_text(exc: Exception) -> str:
    return error_text(exc)


# --------------------------------------------------------------------------------------------
# Override


class OverrideDialog(QDialog):
    """A pharmacist overrides a refusal: name, PIN and a reason. The service checks the PIN."""

    def __init__(self, refusal: str, pharmacists: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Pharmacist override")
        layout = QVBoxLayout(self)
        layout.addWidget(message_label(f"Refused: {refusal}", "hardstop", self))
        layout.addWidget(
            message_label(
                "A pharmacist may override this refusal. The override, its reason and the pharmacist's name are recorded.",
                "",
                self,
            )
        )
        form = QFormLayout()
        self.pharmacist = QComboBox(self)
        self.pharmacist.setEditable(True)
        self.pharmacist.addItems(pharmacists)
        self.pharmacist.setCurrentText("")
        self.pin = pin_field(self)
        self.reason = QLineEdit(self)
        self.reason.setPlaceholderText("why this is safe to do (recorded)")
        for text, widget in (("P&harmacist:", self.pharmacist), ("P&IN:", self.pin), ("&Reason:", self.reason)):
            label = QLabel(text, self)
            label.setBuddy(widget)
            form.addRow(label, widget)
        layout.addLayout(form)
        self.error = message_label("", "error", self)
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Override")
        buttons.accepted.connect(self._accept_if_complete)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

    def values(self) -> tuple[str, str, str]:
        return self.pharmacist.currentText().strip(), self.pin.text(), self.reason.text().strip()

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def _accept_if_complete(self) -> None:
        name, pin, reason = self.values()
        missing = [label for label, value in (("pharmacist", name), ("PIN", pin), ("reason", reason)) if not value]
        if missing:
            self.show_error("Give the " + ", the ".join(missing) + ".")
            return
        self.accept()


# --------------------------------------------------------------------------------------------
# Pages


class BenchPage(QWizardPage):
    """A page with the patient at its head and a message area at its foot for refusals."""

    # The patient is named at the head of every page after the first, so the technician always
    # sees whose dose this is; the verification page hides it (the pharmacist re-enters the MRN).
    shows_patient = True

    def __init__(self, page_id: int, subtitle: str = ""):
        super().__init__()
        self.page_id = page_id
        self.setTitle(f"{page_id + 1}. {PAGE_TITLES[page_id]}")
        if subtitle:
            self.setSubTitle(subtitle)
        self.body = QVBoxLayout(self)
        head = QHBoxLayout()
        self.patient_banner = QLabel(self)
        self.patient_banner.setObjectName("patientBanner")
        self.patient_banner.setFont(theme.font(theme.ROW_POINT_SIZE, bold=True))
        self.patient_banner.setWordWrap(True)
        self.patient_banner.hide()
        head.addWidget(self.patient_banner, 1)
        # Once the clocks run, the next deadline counts down at the head of every page.
        self.deadline_label = QLabel(self)
        self.deadline_label.setObjectName("deadlineLabel")
        self.deadline_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.deadline_label.hide()
        self.countdown = CountdownLabel(parent=self)
        self.countdown.setObjectName("wizardCountdown")
        # A fixed width for the widest countdown, so it neither jitters nor stretches across the page.
        self.countdown.setFixedWidth(self.countdown.fontMetrics().horizontalAdvance("-00:00:00") + 40)
        self.countdown.hide()
        head.addWidget(self.deadline_label)
        head.addWidget(self.countdown)
        self.body.addLayout(head)
        self.refusal = message_label("", "hardstop", self)
        self.refusal.setObjectName("refusal")
        self.refusal.hide()
        # After a time-limit refusal: discard first; an override only when a pharmacist asks for it.
        self.refusal_actions = QWidget(self)
        actions = QHBoxLayout(self.refusal_actions)
        actions.setContentsMargins(0, 0, 0, 0)
        actions.addStretch(1)
        self.discard_button = QPushButton("Discard this prep&aration…", self.refusal_actions)
        self.discard_button.setObjectName("refusalDiscard")
        self.override_button = QPushButton("Pharmacist overr&ide…", self.refusal_actions)
        self.override_button.setObjectName("refusalOverride")
        actions.addWidget(self.discard_button)
        actions.addWidget(self.override_button)
        self.refusal_actions.hide()
        self.discard_button.clicked.connect(lambda: self.bench.discard(self.refusal.text()))
        self.override_button.clicked.connect(lambda: self.bench.override_pending(self))

    def show_deadline(self, deadline, now) -> None:
        """The next deadline (domain Deadline) at `now`, or None to hide the countdown."""
        if deadline is None:
            self.deadline_label.hide()
            self.countdown.hide()
            return
        self.deadline_label.setText(f"{deadline.label}\n{format_instant(deadline.at)}")
        self.countdown.show_value(format_countdown((deadline.at - now).total_seconds()), deadline.state.value)
        self.deadline_label.show()
        self.countdown.show()

    def showEvent(self, event) -> None:  # noqa: N802
        if self.wizard():
            self.bench.repaint_deadline()
        patient = self.bench.patient if self.wizard() else None
        if self.shows_patient and patient is not None and self.page_id != PATIENT:
            self.patient_banner.setText(f"{patient.name} · MRN {patient.mrn} · born {patient.date_of_birth.isoformat()}")
            self.patient_banner.show()
        else:
            self.patient_banner.hide()
        super().showEvent(event)

    def finish_layout(self) -> None:
        self.body.addStretch(1)
        self.body.addWidget(self.refusal)
        self.body.addWidget(self.refusal_actions)

    fridge_strip: Any = None

    def add_fridge(self, what: str) -> None:
        """The refrigerator strip for the vials or the bag (built once the wizard exists)."""
        from .fridge import FridgeStrip

        self.fridge_strip = FridgeStrip(
            what,
            None,
            user=lambda: self.bench.user,
            preparation=lambda: self.bench.preparation if self.wizard() else None,
            recorded=lambda status: (self.bench.set_status(status), self.bench.step_recorded.emit(status.id)),
            parent=self,
            status=lambda prep_id: self.bench.followed_status(prep_id),
        )
        self.body.addWidget(self.fridge_strip)

    def refresh_fridge(self) -> None:
        if self.fridge_strip is not None and self.wizard():
            self.fridge_strip.service = self.bench.service
            self.fridge_strip.refresh()

    @property
    def bench(self) -> "BenchWizard":
        return self.wizard()  # type: ignore[return-value]

    def show_refusal(self, text: str | None, overridable: bool = False) -> None:
        self.refusal.setText(text or "")
        self.refusal.setVisible(bool(text))
        self.refusal_actions.setVisible(bool(text) and overridable)
        if text and overridable:
            self.discard_button.setFocus()


class PatientPage(BenchPage):
    def __init__(self):
        super().__init__(PATIENT, "Find the patient by MRN, or type the details of a new patient.")
        form = QFormLayout()
        self.mrn = ScanField(self)
        self.mrn.setObjectName("patientMrn")
        self.mrn.setPlaceholderText("scan the wristband or type the MRN, then Enter")
        self.find_button = QPushButton("&Find", self)
        row = QHBoxLayout()
        row.addWidget(self.mrn, 1)
        row.addWidget(self.find_button)
        mrn_label = QLabel("&MRN:", self)
        mrn_label.setBuddy(self.mrn)
        form.addRow(mrn_label, row)
        self.found = message_label("", "", self)
        form.addRow("", self.found)
        self.name = QLineEdit(self)
        self.name.setObjectName("patientName")
        self.name.setPlaceholderText("family name, given name")
        name_label = QLabel("&Name:", self)
        name_label.setBuddy(self.name)
        form.addRow(name_label, self.name)
        # Said at entry: a character no embedded font has would print as an empty box.
        self.name_unprintable = message_label("", "warning", self)
        self.name_unprintable.setObjectName("nameUnprintable")
        self.name_unprintable.hide()
        form.addRow("", self.name_unprintable)
        self.name.textChanged.connect(self._check_printable)
        self.dob = QLineEdit(self)
        self.dob.setObjectName("patientDob")
        self.dob.setPlaceholderText("YYYY-MM-DD")
        dob_label = QLabel("&Date of birth:", self)
        dob_label.setBuddy(self.dob)
        form.addRow(dob_label, self.dob)
        self.correct_button = QPushButton("Correc&t the date of birth (pharmacist)…", self)
        self.correct_button.setObjectName("correctDob")
        self.correct_button.hide()
        self.correct_button.clicked.connect(self._unlock_dob)
        form.addRow("", self.correct_button)
        self.error = message_label("", "error", self)
        self.error.hide()
        form.addRow("", self.error)
        self.body.addLayout(form)
        self.finish_layout()
        self.find_button.clicked.connect(self.find)
        # A scanner types the MRN and presses Enter: look it up instead of leaving the page.
        self.mrn.returnPressed.connect(self.find)
        for edit in (self.mrn, self.name, self.dob):
            edit.textChanged.connect(self.completeChanged)
        self.mrn.textEdited.connect(self._mrn_edited)
        self.registerField("mrn*", self.mrn)

    def _mrn_edited(self, _text: str) -> None:
        # Another MRN: the found patient's details are not this one's.
        if self.name.isReadOnly():
            for edit in (self.name, self.dob):
                edit.setReadOnly(False)
                edit.clear()
            self.correct_button.hide()
            self.found.setText("")

    def _unlock_dob(self) -> None:
        """The date of birth may be typed again; a pharmacist signs the correction when the dose is stored."""
        self.dob.setReadOnly(False)
        self.dob.selectAll()
        self.dob.setFocus()
        self.found.setText(self.found.text() + " Correcting the date of birth: a pharmacist signs it (PIN and reason).")

    def _check_printable(self, text: str) -> None:
        from ..reports.fonts import describe_unprintable

        problem = describe_unprintable(text)
        self.name_unprintable.setText(f"Name: {problem}; the label and sheet will show a box there." if problem else "")
        self.name_unprintable.setVisible(bool(problem))

    def find(self) -> None:
        mrn = self.mrn.text().strip()
        if not mrn:
            self._error("MRN: type or scan the MRN.")
            return
        patient = self.bench.find_patient(mrn)
        if patient is None:
            self.found.setText(f"No patient with MRN {mrn} yet: type the name and date of birth to add one.")
            self.name.setFocus()
        else:
            self.name.setText(patient.name)
            self.dob.setText(patient.date_of_birth.isoformat())
            # A found patient's identifiers are the record's: read-only, changed only by a correction.
            self.name.setReadOnly(True)
            self.dob.setReadOnly(True)
            self.correct_button.show()
            self.found.setText(f"Found: {patient.name}, born {patient.date_of_birth.isoformat()}.")
            self.bench.next()  # type: ignore[attr-defined]

    def _error(self, text: str | None) -> None:
        self.error.setText(text or "")
        self.error.setVisible(bool(text))

    def isComplete(self) -> bool:  # noqa: N802
        return all(e.text().strip() for e in (self.mrn, self.name, self.dob))

    def patient(self) -> Patient:
        mrn, name, dob_text = self.mrn.text().strip(), self.name.text().strip(), self.dob.text().strip()
        try:
            dob = date.fromisoformat(dob_text)
        except ValueError:
            raise ValidationError("date of birth", f"'{dob_text}' is not a date; type it as YYYY-MM-DD") from None
        return Patient(name=name, mrn=mrn, date_of_birth=dob)

    def validatePage(self) -> bool:  # noqa: N802
        try:
            patient = validate_patient(self.patient(), self.bench.today())
        except ValidationError as exc:
            self._error(_refusal_text(exc))
            return False
        self._error(None)
        self.bench.patient = patient
        return True


class OrderPage(BenchPage):
    """The order: the drug (and its regimen, where one decides the dose), cycle, day, the response
    where the drug's data asks for it, measurements and the payer's facts for that drug."""

    def __init__(self):
        super().__init__(ORDER, "The prescriber's order and today's height and weight, with their units.")
        grid = QGridLayout()
        self.drug = SteadyComboBox(self)
        self.drug.setObjectName("drug")
        self.regimen = SteadyComboBox(self)
        self.regimen.setObjectName("regimen")
        self.cycle = SteadyComboBox(self)
        self.cycle.setObjectName("cycle")
        self.day = SteadyComboBox(self)
        self.day.setObjectName("day")
        self.response = QComboBox(self)
        self.response.setObjectName("response")
        self.formula = QComboBox(self)
        self.height = ValidatedField(parse_height, "e.g. 170 cm, 1.7 m, 5 ft 7 in", self, describe=lambda m: f"= {format_amount(m.magnitude('cm'), 'cm')}")
        self.weight = ValidatedField(parse_weight, "e.g. 70 kg or 154 lb", self, describe=lambda m: f"= {format_amount(m.magnitude('kg'), 'kg')}")
        self.height.setObjectName("height")
        self.weight.setObjectName("weight")
        self.field_errors: dict[str, QLabel] = {}
        self.row_labels: dict[str, QLabel] = {}
        rows: list[tuple[str, QWidget, str]] = [
            ("Dr&ug:", self.drug, "drug"),
            ("Re&gimen:", self.regimen, "regimen"),
            ("&Cycle:", self.cycle, "cycle"),
            ("&Day:", self.day, "day"),
            ("&Response:", self.response, "response"),
            ("&Height:", self.height, "height"),
            ("&Weight:", self.weight, "weight"),
            ("BSA &formula:", self.formula, "formula"),
        ]
        for i, (text, widget, key) in enumerate(rows):
            label = QLabel(text, self)
            label.setBuddy(widget)
            grid.addWidget(label, i, 0)
            grid.addWidget(widget, i, 1)
            self.row_labels[key] = label
            if not isinstance(widget, ValidatedField):
                error = message_label("", "error", self)
                error.hide()
                grid.addWidget(error, i, 2)
                self.field_errors[key] = error
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        self.body.addLayout(grid)

        # The payer's facts for the drug picked (its policy file's [[facts]], asked = true); rebuilt
        # when another drug is picked, hidden for a drug no installed policy judges.
        self.payer = QGroupBox("Payer policy facts (optional; the decision is shown with the dose)", self)
        self.payer.setObjectName("payerFacts")
        self.payer_form = QFormLayout(self.payer)
        self.payer_fields: dict[str, QLineEdit | QComboBox] = {}
        self.first_payer_field: QLineEdit | QComboBox | None = None
        self.body.addWidget(self.payer)
        self.finish_layout()
        self.drug.currentIndexChanged.connect(self._drug_changed)
        self.regimen.currentIndexChanged.connect(self._regimen_changed)
        self._drugs: dict[str, Monograph] = {}
        self._policy_id: str | None = ""

    # -- the drug, its regimen and what they decide ----------------------------------------
    def initializePage(self) -> None:  # noqa: N802
        if self.drug.count():
            return
        service = self.bench.service
        self._drugs = {m.id: m for m in service.drugs()}
        default = service.default_drug()
        self.drug.blockSignals(True)
        if default is None:
            self.drug.addItem("pick the drug ordered", None)
        for monograph in self._drugs.values():
            self.drug.addItem(f"{monograph.brand_name} ({monograph.generic_name})", monograph.id)
        self.drug.setCurrentIndex(max(0, self.drug.findData(default)) if default is not None else 0)
        self.drug.blockSignals(False)
        default_formula = self.bench.policy.default_bsa_formula
        for formula in FORMULAS.values():
            self.formula.addItem(f"{formula.name}: {formula.equation}", formula.key)
            if formula.key == default_formula:
                self.formula.setCurrentIndex(self.formula.count() - 1)
        self._drug_changed()

    def picked_drug(self) -> Monograph | None:
        """The monograph of the drug picked (not yet dosed by a regimen), or None."""
        return self._drugs.get(self.drug.currentData())

    def dosing_monograph(self) -> Monograph | None:
        """The picked drug as its regimen doses it; None while the drug, or its regimen, is not picked."""
        drug = self.picked_drug()
        if drug is None:
            return None
        if drug.decided_by != "regimen":
            return drug
        regimen = self.regimen.currentData()
        return drug.with_regimen(regimen) if regimen else None

    def _drug_changed(self) -> None:
        drug = self.picked_drug()
        regimens = list(drug.regimens) if drug is not None and drug.decided_by == "regimen" else []
        self.regimen.blockSignals(True)
        self.regimen.clear()
        if regimens:
            # Never preselected: the regimen decides the dose, so it is read off the order and picked.
            self.regimen.addItem("pick the regimen ordered", None)
            for regimen in regimens:
                self.regimen.addItem(regimen.name, regimen.id)
        self.regimen.blockSignals(False)
        for widget in (self.regimen, self.row_labels["regimen"]):
            widget.setVisible(bool(regimens))
        choices = drug.response_choices() if drug is not None else []
        self.response.clear()
        self.response.addItem("not assessed", None)
        for response, words in choices:
            self.response.addItem(words, response)
        # The response rows only where the drug's data says a response decides its dose.
        for widget in (self.response, self.row_labels["response"]):
            widget.setVisible(bool(choices))
        self.field_errors["response"].hide()
        self.field_errors["regimen"].hide()
        self._build_payer(drug)
        self._regimen_changed()

    def _regimen_changed(self) -> None:
        """Cycle and day from the drug (and regimen) picked: its cycles and dose days."""
        monograph = self.dosing_monograph()
        cycle, day = self.cycle.currentText(), self.day.currentText()
        self.cycle.clear()
        self.day.clear()
        if monograph is not None:
            max_cycles = int(monograph.magnitude("cycles.max_cycles_without_hsct", ""))
            self.cycle.addItems([str(c) for c in range(1, max_cycles + 1)])
            self.day.addItems([str(d) for d in monograph.dose_days])
            # A choice already made stays when the new drug or regimen offers it.
            for box, text in ((self.cycle, cycle), (self.day, day)):
                if box.findText(text) >= 0:
                    box.setCurrentIndex(box.findText(text))
        self._chain_tabs()

    def _build_payer(self, drug: Monograph | None) -> None:
        policy = self.bench.service.coverage_policy(drug) if drug is not None else None
        policy_id = policy.id if policy is not None else None
        if policy_id == self._policy_id:
            return
        self._policy_id = policy_id
        while self.payer_form.rowCount():
            self.payer_form.removeRow(0)
        for key in list(self.payer_fields):
            self.field_errors.pop(key, None)
        self.payer_fields = {}
        self.payer.setVisible(policy is not None)
        if policy is None:
            self.first_payer_field = None
            return
        self.payer.setTitle(f"Payer policy facts for {drug.brand_name} (optional; the decision is shown with the dose)")  # type: ignore[union-attr]
        for fact in policy.asked_facts():
            widget: QLineEdit | QComboBox
            if fact.kind in ("choice", "yes_no"):
                widget = QComboBox(self.payer)
                widget.addItems(["not known", *(fact.choices if fact.kind == "choice" else ("yes", "no"))])
            else:
                widget = QLineEdit(self.payer)
                widget.setPlaceholderText(fact.placeholder)
            widget.setObjectName(f"payer_{fact.id}")
            self.payer_fields[fact.id] = widget
            label = QLabel(fact.label, self.payer)
            label.setBuddy(widget)
            holder = QWidget(self.payer)
            holder_layout = QHBoxLayout(holder)
            holder_layout.setContentsMargins(0, 0, 0, 0)
            holder_layout.addWidget(widget, 1)
            error = message_label("", "error", holder)
            error.hide()
            holder_layout.addWidget(error, 1)
            self.field_errors[fact.id] = error
            self.payer_form.addRow(label, holder)
        self.first_payer_field = next(iter(self.payer_fields.values()), None)  # the first payer field, after the formula

    def _chain_tabs(self) -> None:
        # Tab follows the page from top to bottom, not the order the widgets were made in.
        chain = [w for w in (self.drug, self.regimen, self.cycle, self.day, self.response) if not w.isHidden()]
        chain += [self.height.edit, self.weight.edit, self.formula, *self.payer_fields.values()]
        for first, second in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(first, second)

    def order(self) -> DoseOrder:
        return DoseOrder(
            height=self.height.text(),
            weight=self.weight.text(),
            cycle=int(self.cycle.currentText()),
            day=int(self.day.currentText()),
            response=self.response.currentData(),
            formula=self.formula.currentData(),
            reduce_pct=None,  # no reduction field here: the course's reduction, if any, applies
        )

    def coverage_facts(self) -> CoverageFacts:
        def value(widget: QLineEdit | QComboBox) -> str | None:
            if isinstance(widget, QComboBox):
                return None if widget.currentIndex() == 0 else widget.currentText()
            return widget.text().strip() or None

        # What the policy reads from the patient's record (the age) the service adds from the date of birth.
        return CoverageFacts(**{key: value(widget) for key, widget in self.payer_fields.items()})

    def _show_field_error(self, exc: ValidationError) -> None:
        key = exc.field.replace("-", "_").replace(" ", "_").lower()
        message = error_text(exc)
        if key == "height":
            self.height.show_error(message)
        elif key == "weight":
            self.weight.show_error(message)
        elif key in self.field_errors:
            self.field_errors[key].setText(message)
            self.field_errors[key].show()
        else:
            self.show_refusal(message)

    def _picked(self) -> Monograph | None:
        """The drug as dosed, or None with the missing pick said beside its field."""
        drug = self.picked_drug()
        if drug is None:
            example = next(iter(self._drugs.values())).brand_name if self._drugs else ""
            self._show_field_error(ValidationError("drug", f"pick the drug on the order, e.g. {example}"))
            self.drug.setFocus()
            return None
        monograph = self.dosing_monograph()
        if monograph is None:
            example = drug.regimens[0].id if drug.regimens else ""
            self._show_field_error(ValidationError("regimen", f"pick the regimen on the order, e.g. {example}"))
            self.regimen.setFocus()
        return monograph

    def validatePage(self) -> bool:  # noqa: N802
        for label in self.field_errors.values():
            label.hide()
        self.show_refusal(None)
        monograph = self._picked()
        height_ok = self.height.validate()
        weight_ok = self.weight.validate()
        if monograph is None or not (height_ok and weight_ok):
            return False
        service = self.bench.service
        try:
            # The patient's course decides cycle, day, response and reduction (the service refuses a disagreement).
            order, course_check = service.order_from_course(self.bench.patient.mrn, self.order(), monograph, self.bench.patient.date_of_birth)
            calculation = service.calculate(order, self.bench.patient.date_of_birth, monograph)
        except ValidationError as exc:
            self._show_field_error(exc)
            return False
        except StepRefused as refusal:
            self.show_refusal(f"Refused — {refusal.message}")
            return False
        try:
            coverage = service.check_coverage(monograph, self.coverage_facts(), self.bench.patient.date_of_birth)
        except ValidationError as exc:
            self._show_field_error(exc)
            return False
        self.bench.monograph = monograph
        self.bench.order = order
        self.bench.calculation = calculation
        self.bench.coverage = coverage
        # What the course check says before the dose (no course on file and the labs to check, the
        # values' warnings): shown with the calculation, as prep new prints it and the sheet carries it.
        # The sheet's own words (sheet_flags), so the page names a course on file of the other drug:
        # the two conjugates look and sound alike, and the flags alone said only "no course on file".
        self.bench.course_flags = course_check.sheet_flags(monograph)
        return True


class DosePage(BenchPage):
    """The whole calculation, so the technician (and later the pharmacist) can check it by hand."""

    def __init__(self):
        super().__init__(DOSE, "Check every line of the calculation before preparing.")
        # Once stored, the order cannot be changed by going Back (a new preparation is needed).
        self.setCommitPage(True)
        # A hard stop first, where it cannot be missed; then the calculation and the notes, scrolling
        # together so the calculation is never squeezed by long notes.
        self.body.addWidget(self.refusal)
        holder = QWidget(self)
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        self.table = QGridLayout()
        self.table.setColumnStretch(1, 1)
        column.addLayout(self.table)
        self.warnings = message_label("", "warning", holder)
        self.warnings.setObjectName("doseWarnings")
        self.warnings.hide()
        column.addWidget(self.warnings)
        self.coverage = message_label("", "ok", holder)
        self.coverage.setObjectName("coverage")
        column.addWidget(self.coverage)
        column.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.body.addWidget(scroll, 1)
        self.value_labels: dict[str, QLabel] = {}

    def initializePage(self) -> None:  # noqa: N802
        calc: DoseCalculation = self.bench.calculation
        while self.table.count():
            item = self.table.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.value_labels.clear()
        monograph = self.bench.monograph
        decided = ""
        if monograph.regimen is None and monograph.response_choices():
            decided = ", response " + (monograph.response_words(calc.response) if calc.response else "not assessed")
        reduction = f", reduced {format_number(calc.reduce_pct, 1)}% from {format_amount(calc.standard_mg_per_m2, 'mg/m²')}" if calc.reduce_pct else ""
        product = f"{format_amount(calc.dose_mg_per_m2, 'mg/m²')} × {format_amount(calc.bsa_m2, 'm²')}"
        capped = calc.dose_cap_mg is not None and calc.calculated_dose_mg > calc.dose_cap_mg
        lines = [
            ("order", "Order", f"{monograph.brand_name} ({monograph.generic_name}), cycle {calc.cycle}, Day {calc.day}{decided}"),
            *([("regimen", "Regimen", monograph.regimen.name)] if monograph.regimen is not None else []),
            (
                "inputs",
                "Height and weight",
                f"{calc.height_text} = {format_amount(calc.height_cm, 'cm')};  {calc.weight_text} = {format_amount(calc.weight_kg, 'kg')}",
            ),
            ("bsa", "Body surface area", f"{format_bsa(calc.bsa_m2, calc.bsa_formula_name)}:  {calc.bsa_equation}"),
            ("mg_per_m2", "Dose per m²", f"{format_amount(calc.dose_mg_per_m2, 'mg/m²')}{reduction}"),
            # Capped: the dose prepared stands alone in large type; BSA × mg/m² (not given) on its own line.
            *(
                [
                    (
                        "calculated",
                        "BSA × dose per m²",
                        f"{product} = {format_dose(calc.calculated_dose_mg)}: above the regimen's cap of {format_dose(calc.dose_cap_mg)} per dose",
                    )
                ]
                if capped and calc.dose_cap_mg is not None
                else []
            ),
            (
                "dose",
                "Dose",
                f"{format_dose(calc.dose_mg)} (the regimen's cap)"
                if capped
                else (
                    f"{product} = {format_dose(calc.dose_before_draw_mg)}, drawn as {format_dose(calc.dose_mg)} (the dose given and billed)"
                    if calc.draw_syringe_ml and calc.dose_before_draw_mg and calc.dose_before_draw_mg != calc.dose_mg
                    else f"{product} = {format_dose(calc.dose_mg)}"
                ),
            ),
            (
                "vials",
                "Vials",
                f"{calc.vials} × {format_dose(calc.vial_mg)}; reconstitute each with {format_volume(calc.reconstitution_ml_per_vial)} → {format_concentration(calc.reconstituted_mg_per_ml)}",
            ),
            ("withdraw", "Volume to draw", format_volume(calc.withdraw_ml) + _draw_how(calc)),
            (
                "nacl",
                "Dilution",
                (
                    f"{calc.vehicle} to the {format_volume(calc.final_volume_ml)} mark (about {format_volume(calc.nacl_about_ml)}) in a "
                    f"SYRINGE, by syringe pump at {format_volume(calc.infusion_rate_ml_per_hour)}/hour"
                    if calc.container == "syringe" and calc.nacl_about_ml is not None
                    else f"{calc.vehicle} {calc.nacl_words()}, total {format_volume(calc.final_volume_ml)}"
                ),
            ),
            ("infusion", "Infusion", _infusion_text(administration_for(calc, monograph))),
            (
                "concentration",
                "Final concentration",
                f"{format_concentration(calc.final_concentration_mg_per_ml)} (allowed {format_concentration(calc.concentration_min_mg_per_ml)} to {format_concentration(calc.concentration_max_mg_per_ml)})",
            ),
            ("discarded", "Discarded", format_dose(calc.discarded_mg)),
            (
                "billing",
                "Billing",
                f"{calc.hcpcs}: {format_amount(calc.billing_units_administered, 'units')} administered, {format_amount(calc.billing_units_discarded, 'units')} discarded, modifier {calc.billing_modifier}",
            ),
        ]
        for row, (key, title, value) in enumerate(lines):
            name = QLabel(title, self)
            name.setStyleSheet("font-weight: bold;")
            shown = QLabel(value, self)
            shown.setWordWrap(True)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            shown.setObjectName(f"dose_{key}")
            if key == "dose":
                shown.setFont(theme.font(theme.BANNER_POINT_SIZE, bold=True))
            self.table.addWidget(name, row, 0, Qt.AlignmentFlag.AlignTop)
            self.table.addWidget(shown, row, 1)
            self.value_labels[key] = shown
        notes = list(self.bench.course_flags) + list(calc.warnings) + [f"Awaiting pharmacist verification: {p}" for p in calc.pending_verification]
        self.warnings.setText("\n".join(f"• {w}" for w in notes))
        self.warnings.setVisible(bool(notes))
        self._show_coverage(self.bench.coverage)
        if calc.hard_stops:
            self.show_refusal("HARD STOP — this dose cannot be prepared:\n" + "\n".join(f"• {s}" for s in calc.hard_stops))
        else:
            self.show_refusal(None)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Create &preparation")
        self.completeChanged.emit()

    def _show_coverage(self, decision: CoverageDecision | None) -> None:
        if decision is None:
            self.coverage.hide()
            return
        marks = {True: "met", False: "NOT met", None: "unknown"}
        text = [f"Payer policy ({decision.payer}): {decision.decision.replace('_', ' ')}"]
        text += [f"  • {r.summary or r.id}: {marks[r.met]}" for r in decision.criteria]
        text += [f"  {reason}" for reason in decision.reasons]
        self.coverage.setText("\n".join(text))
        set_role(self.coverage, "ok" if decision.decision == "meets_criteria" else "warning")
        self.coverage.show()

    def isComplete(self) -> bool:  # noqa: N802
        calc = self.bench.calculation if self.wizard() else None
        return calc is not None and not calc.hard_stops

    def validatePage(self) -> bool:  # noqa: N802
        if self.bench.preparation is not None:
            return True
        coverage = self.bench.coverage.to_dict() if self.bench.coverage is not None else None
        try:
            try:
                status = self.bench.service.create_preparation(
                    self.bench.patient, self.bench.order, self.bench.user, coverage=coverage, monograph=self.bench.monograph, shown=self.bench.calculation
                )
            except StepRefused as refusal:
                if refusal.code != "patient_dob_differs":
                    raise
                status = self._correct_dob(refusal, coverage)
                if status is None:
                    self.show_refusal(_refusal_text(refusal))
                    return False
        except PreparationBlocked as exc:
            self.show_refusal("HARD STOP — nothing was stored:\n" + "\n".join(f"• {s}" for s in exc.hard_stops))
            return False
        except CalculationChanged as changed:
            # Stored is only what was shown: the page shows the service's new calculation to check again.
            self.bench.calculation = changed.calculation
            self.initializePage()
            self.show_refusal(
                _refusal_text(changed)
                + (
                    "\nHARD STOP — this dose cannot be prepared:\n" + "\n".join(f"• {s}" for s in changed.calculation.hard_stops)
                    if changed.calculation.hard_stops
                    else ""
                )
            )
            return False
        except REFUSALS as exc:
            self.show_refusal(_refusal_text(exc))
            return False
        self.bench.set_status(status)
        # From here on every page reads the stored order and calculation, never a copy made before it.
        self.bench.order = status.prep.order.dose
        self.bench.calculation = status.prep.order.calculation
        self.bench.preparation_created.emit(self.bench.preparation.id)
        return True

    def _correct_dob(self, refusal: StepRefused, coverage):
        """A pharmacist (name, PIN, reason) corrects the stored date of birth; None if cancelled."""
        dialog = OverrideDialog(_refusal_text(refusal), self.bench.names_with_role(Role.PHARMACIST), self)
        dialog.setObjectName("dobCorrectionDialog")
        dialog.setWindowTitle("Correct the date of birth")
        dialog.ok_button.setText("&Correct")
        service = self.bench.service
        while dialog.exec() == QDialog.DialogCode.Accepted:
            name, pin, reason = dialog.values()
            try:
                pharmacist = service.authenticate(name, pin)
                return service.create_preparation(
                    self.bench.patient,
                    self.bench.order,
                    self.bench.user,
                    coverage=coverage,
                    correction=(pharmacist, reason),
                    monograph=self.bench.monograph,
                )
            except REFUSALS as exc:
                dialog.show_error(_refusal_text(exc))
                dialog.pin.clear()
        return None


LAB_TIME_HINT = "YYYY-MM-DD hh:mm (24-hour), on this workstation's clock"


class VialsPage(BenchPage):
    def __init__(self):
        super().__init__(VIALS, "Scan each vial's GS1 code, or type its lot and expiry.")
        self.needed = QLabel(self)
        self.needed.setFont(theme.font(theme.BANNER_POINT_SIZE, bold=True))
        self.body.addWidget(self.needed)
        form = QFormLayout()
        self.scan = ScanField(self)
        self.scan.setObjectName("vialScan")
        self.scan.setPlaceholderText("scan the vial (the scanner presses Enter)")
        scan_label = QLabel("&Scan:", self)
        scan_label.setBuddy(self.scan)
        form.addRow(scan_label, self.scan)
        self.lot = QLineEdit(self)
        self.lot.setObjectName("vialLot")
        # Empty until typed from the vial: a date filled in for the user would be accepted unread.
        self.expiry = QLineEdit(self)
        self.expiry.setObjectName("vialExpiry")
        self.expiry.setPlaceholderText("as printed, e.g. 2027-06-30, or 2026-12-03 10:00 with its time")
        self.add_button = QPushButton("&Add typed vial", self)
        self.add_button.setObjectName("addTypedVial")
        row = QHBoxLayout()
        row.addWidget(self.lot, 2)
        expiry_label = QLabel("E&xpiry:", self)
        expiry_label.setBuddy(self.expiry)
        row.addWidget(expiry_label)
        row.addWidget(self.expiry, 1)
        row.addWidget(self.add_button)
        lot_label = QLabel("&Lot:", self)
        lot_label.setBuddy(self.lot)
        form.addRow(lot_label, row)
        # Optional: with the carton's SN the typed vial is checked as its scan would be (one physical vial).
        self.serial = QLineEdit(self)
        self.serial.setObjectName("vialSerial")
        self.serial.setPlaceholderText("optional: the serial printed after SN on the carton")
        serial_label = QLabel("Ser&ial (SN):", self)
        serial_label.setBuddy(self.serial)
        form.addRow(serial_label, self.serial)
        self.product_confirmed = QCheckBox(self)
        self.product_confirmed.setObjectName("vialProductConfirmed")
        form.addRow("", self.product_confirmed)
        self.body.addLayout(form)
        self.error = message_label("", "error", self)
        self.error.hide()
        self.body.addWidget(self.error)
        self.list = QListWidget(self)
        self.list.setObjectName("vialList")
        self.list.setAccessibleName("Vials recorded")
        self.body.addWidget(self.list, 1)
        remove_row = QHBoxLayout()
        self.remove_reason = QLineEdit(self)
        self.remove_reason.setObjectName("vialRemoveReason")
        self.remove_reason.setPlaceholderText("why the selected vial is removed, e.g. scanned twice")
        self.remove_button = QPushButton("&Remove selected vial", self)
        self.remove_button.setObjectName("removeVial")
        remove_row.addWidget(self.remove_reason, 1)
        remove_row.addWidget(self.remove_button)
        self.body.addLayout(remove_row)
        self.body.addWidget(self.refusal)
        self.scan.returnPressed.connect(self.add_scanned)
        self.add_button.clicked.connect(self.add_typed)
        self.expiry.returnPressed.connect(self.add_typed)
        self.remove_button.clicked.connect(self.remove_selected)

    def initializePage(self) -> None:  # noqa: N802
        m = self.bench.monograph
        from ..domain.gs1 import accepted_ndcs

        self.product_confirmed.setText(f"The typed vial's carton reads {m.brand_name} (NDC {' or '.join(accepted_ndcs(m))}) — &confirmed")
        self.expiry.clear()
        self.product_confirmed.setChecked(False)
        self._refresh()
        self.scan.setFocus()

    def _refresh(self) -> None:
        prep = self.bench.preparation
        needed = self.bench.calculation.vials
        self.list.clear()
        for vial in prep.vials:
            self.list.addItem(vial_text(vial))
        text = f"{len(prep.vials)} of {needed} vial{'s' if needed != 1 else ''} recorded"
        if len(prep.vials) > needed:
            text += f" — {len(prep.vials) - needed} more than the dose needs: remove any vial not used"
        self.needed.setText(text)
        self.completeChanged.emit()

    def _record(self, vial: VialRecord | str, product_confirmed: bool = False) -> bool:
        """A typed VialRecord, or a scanned code's text (the service reads it with domain.gs1)."""
        try:
            self.bench.set_status(self.bench.service.add_vial(self.bench.preparation.id, vial, self.bench.user, product_confirmed=product_confirmed))
        except REFUSALS as exc:
            self._error(_refusal_text(exc))
            return False
        self._error(None)
        self._refresh()
        return True

    def add_scanned(self) -> None:
        text = self.scan.text()
        if not text.strip():
            self._error("Vial code: scan the vial's GS1 code, or type its lot and expiry below.")
            return
        if self._record(text):
            self.scan.clear()
        else:
            self.scan.selectAll()

    def add_typed(self) -> None:
        lot = self.lot.text().strip()
        if not lot:
            self._error("Lot: type the lot number printed on the vial.")
            self.lot.setFocus()
            return
        try:
            expiry, expires_at = parse_vial_expiry(self.expiry.text(), "Expiry")
        except ValidationError as exc:
            # parse_local_date words its label into the message; the domain's reading of a date and time names it as the field.
            self._error(exc.message if exc.message.startswith("Expiry:") else _refusal_text(exc))
            self.expiry.setFocus()
            return
        serial = self.serial.text().strip() or None
        if self._record(VialRecord(lot=lot, expiry=expiry, expires_at=expires_at, serial=serial), self.product_confirmed.isChecked()):
            self.lot.clear()
            self.expiry.clear()
            self.serial.clear()
            self.product_confirmed.setChecked(False)
            self.scan.setFocus()

    def remove_selected(self) -> None:
        row = self.list.currentRow()
        if row < 0:
            self._error("Vials recorded: select the vial to remove in the list.")
            return
        try:
            status = self.bench.service.remove_vial(self.bench.preparation.id, row + 1, self.bench.user, self.remove_reason.text())
        except REFUSALS as exc:
            self._error(_refusal_text(exc))
            return
        self.bench.set_status(status)
        self.remove_reason.clear()
        self._error(None)
        self._refresh()

    def _error(self, text: str | None) -> None:
        self.error.setText(text or "")
        self.error.setVisible(bool(text))

    def isComplete(self) -> bool:  # noqa: N802
        prep = self.bench.preparation if self.wizard() else None
        return prep is not None and len(prep.vials) >= self.bench.calculation.vials


def vial_text(vial: VialRecord) -> str:
    ndc = f", NDC {vial.ndc}" if vial.ndc else ""
    code = f", GTIN {vial.gtin}" if vial.gtin else " (typed; product confirmed)"
    serial = f", serial {vial.serial}" if vial.serial else ""
    expiry = format_vial_expiry(vial.expiry, vial.expires_at) if vial.expires_at is not None else format_local_date(vial.expiry)
    return f"Lot {vial.lot}, expiry {expiry}{ndc}{code}{serial}"


def format_local_date(day: date) -> str:
    """ISO, which every site reads the same way."""
    return day.isoformat()


def parse_vial_expiry(text: str, label: str) -> tuple[date, datetime | None]:
    """A typed vial expiry: the date (ISO or the site's short format), optionally followed by the time
    the carton prints ('2026-12-03 10:00', the site's clock). Returns the date and the UTC instant."""
    from ..domain.instants import read_vial_expiry

    value = " ".join(text.split())
    day_text, _, time_text = value.rpartition(" ")
    if "T" in value.upper() or (day_text and ":" in time_text):
        if "T" not in value.upper():  # a date in the site's format, then the time: read as ISO
            value = f"{parse_local_date(day_text, label).isoformat()} {time_text}"
        return read_vial_expiry(value, label)
    return parse_local_date(value, label), None


def parse_local_date(text: str, label: str) -> date:
    """A date typed as ISO (2027-06-30) or as the site's locale writes it (its short format's order of
    day, month and year), with the year in full.

    No other order is tried: read as dd/MM/yyyy when the site's own format did not match, a US site's
    '01/12/2026' (the 12th of January, expired) was the 1st of December, and a wristband's 04/03/1970
    confirmed a patient born on the 4th of March. A two-digit year is refused: Qt reads '27' as 1927,
    so a child born in 2015 typed '6/1/15' was 111 years old."""

    from PySide6.QtCore import QDate, QLocale

    from ..domain.site_dates import date_order, read_site_date

    value = " ".join(text.split())
    if not value:
        raise ValidationError(label, f"{label}: type the date, e.g. 2027-06-30")
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    if len(value) == 8 and value.isdigit() and value[:2] in ("19", "20"):
        try:  # typed without separators, year first: 19700304
            return date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            pass
    locale = QLocale()  # the system's, unless a test sets another default
    short = locale.dateFormat(QLocale.FormatType.ShortFormat)
    full = short if "yyyy" in short else short.replace("yy", "yyyy")
    # one example, in the site's own spelling: a year-first site's was shown as '2027-06-30 or 2027-06-30'
    example = locale.toString(QDate(2027, 6, 30), full)
    order = date_order(short)
    if order is not None:
        # The domain reads it in the site's order: Qt's toDate wanted the format's two digits of 'dd'
        # and 'MM', so '1/6/2027' was refused on a dd/MM/yyyy site.
        try:
            return read_site_date(value, label, order, example)
        except ValidationError as exc:
            raise ValidationError(label, f"{label}: {exc.message}") from None
    parsed = locale.toDate(value, full)
    if parsed.isValid():
        return date(parsed.year(), parsed.month(), parsed.day())
    if full != short and locale.toDate(value, short).isValid():
        raise ValidationError(label, f"{label}: '{value}' has a two-digit year; type the year in full, e.g. {example}")
    raise ValidationError(label, f"{label}: '{value}' is not a date; type it as {example}")


class EventPage(BenchPage):
    """A page whose step is one recorded event; Next records it (once) and then moves on."""

    event_type: EventType

    def __init__(self, page_id: int, subtitle: str):
        super().__init__(page_id, subtitle)
        self.setCommitPage(True)  # a recorded step cannot be taken back by going Back
        self.late = LateEntry(lambda: self.bench.service.clock.now(), self, name=f"lateEntry{page_id}")

    def finish_layout(self) -> None:
        self.body.addWidget(self.late)
        super().finish_layout()

    def event_details(self) -> dict[str, Any] | None:
        """The event's details, or None when the page is not filled in (its message says why)."""
        return {}

    def already_recorded(self) -> bool:
        prep = self.bench.preparation
        return prep is not None and prep.last(self.event_type) is not None

    def validatePage(self) -> bool:  # noqa: N802
        if self.already_recorded():
            return True
        details = self.event_details()
        if details is None:
            return False
        try:
            at = self.late.at()
        except ValidationError as exc:  # a time the clocks showed twice, not yet chosen, or never showed
            self.show_refusal(error_text(exc))
            return False
        return self.bench.record(self, self.event_type, details, at=at)


class ReconstitutePage(EventPage):
    event_type = EventType.RECONSTITUTED

    def __init__(self):
        super().__init__(RECONSTITUTE, "Reconstitute the vials. Recording it starts the clocks.")
        self.instructions = message_label("", "", self)
        self.instructions.setObjectName("reconstituteInstructions")
        self.body.addWidget(self.instructions)
        # Before reconstitution a pharmacist who did not enter the order verifies it (the domain refuses
        # reconstitution without it); shown only while the order is not yet verified.
        self.order_box = QGroupBox("Order verified by a pharmacist (not the preparer)", self)
        order_form = QFormLayout(self.order_box)
        self.order_pharmacist = QComboBox(self.order_box)
        self.order_pharmacist.setEditable(True)
        self.order_pharmacist.setObjectName("orderPharmacist")
        self.order_pin = pin_field(self.order_box)
        self.order_pin.setObjectName("orderPin")
        for text, widget in (("Pharma&cist:", self.order_pharmacist), ("P&IN:", self.order_pin)):
            label = QLabel(text, self.order_box)
            label.setBuddy(widget)
            order_form.addRow(label, widget)
        self.body.addWidget(self.order_box)
        self._build_labs_box()
        self.order_pin.textChanged.connect(self.completeChanged)
        self.order_pharmacist.currentTextChanged.connect(self.completeChanged)
        self.finish_layout()

    # The labs the pharmacist verifying an order with no course on file gives (the domain refuses the
    # verification without them or an override with a reason): field name -> (label, object name).
    LAB_FIELDS = (
        ("anc", "ANC (10⁹/L):", "labAnc"),
        ("platelets", "Platelets (10⁹/L):", "labPlatelets"),
        ("bilirubin_x_uln", "Total bilirubin (× ULN):", "labBilirubin"),
        ("ast_alt_x_uln", "AST/ALT, the higher (× ULN):", "labAstAlt"),
        ("qtc_ms", "Baseline QTc (ms):", "labQtc"),
        ("potassium", "Baseline potassium (mmol/L):", "labPotassium"),
        ("magnesium", "Baseline magnesium (mmol/L):", "labMagnesium"),
    )
    VOD_FIELDS = (
        ("weight_gain", "Rapid weight gain:", "labWeightGain"),
        ("hepatomegaly", "Painful hepatomegaly:", "labHepatomegaly"),
        ("ascites", "Ascites:", "labAscites"),
        ("bilirubin_rising", "Rising bilirubin:", "labBilirubinRising"),
    )

    def _build_labs_box(self) -> None:
        self.labs_box = QGroupBox("Labs checked before this dose (no course on file)", self)
        self.labs_box.setObjectName("orderLabs")
        grid = QGridLayout(self.labs_box)  # two entries a row: the page fits a 1280 x 800 screen
        cells: list[tuple[str, QWidget]] = []
        # Starts empty: a field pre-filled with 'now' let a sample days old pass the lab window
        # untouched. The domain reads what is typed on the site's clock.
        # One time judges every lab below against the site's window: with samples of several times it is
        # the oldest's (a morning CBC's time passed liver tests days old). The hint is a pattern, not a
        # date: a fixed example went stale (it named a day the window refuses) and looks like a value.
        self.labs_taken = QLineEdit(self.labs_box)
        self.labs_taken.setObjectName("labTaken")
        self.labs_taken.setPlaceholderText(LAB_TIME_HINT)
        self.labs_taken.setAccessibleName("when the oldest of the samples below was taken")
        cells.append(("Taken at (the oldest sample's time):", self.labs_taken))
        self.lab_edits: dict[str, QLineEdit] = {}
        for name, text, object_name in self.LAB_FIELDS:
            edit = QLineEdit(self.labs_box)
            edit.setObjectName(object_name)
            self.lab_edits[name] = edit
            cells.append((text, edit))
        # The baseline ECG and electrolytes are often days older than the CBC: without their own time
        # (the command's --baseline-taken) the bench recorded them as taken with the CBC.
        self.baseline_taken = QLineEdit(self.labs_box)
        self.baseline_taken.setObjectName("labBaselineTaken")
        self.baseline_taken.setPlaceholderText("blank: the time above")
        self.baseline_taken.setAccessibleName("when the baseline ECG and electrolytes were taken")
        cells.append(("Baseline ECG, electrolytes taken at:", self.baseline_taken))
        self.vod_boxes: dict[str, QComboBox] = {}
        for name, text, object_name in self.VOD_FIELDS:
            box = QComboBox(self.labs_box)
            box.setObjectName(object_name)
            box.addItems(["", "no", "yes"])  # blank: not asked (the domain says whether it is needed)
            self.vod_boxes[name] = box
            cells.append((f"VOD/SOS: {text[0].lower()}{text[1:]}", box))
        for index, (text, widget) in enumerate(cells):
            label = QLabel(text, self.labs_box)
            label.setBuddy(widget)
            grid.addWidget(label, index // 2, (index % 2) * 2)
            grid.addWidget(widget, index // 2, (index % 2) * 2 + 1)
        row = (len(cells) + 1) // 2
        self.lab_transfused = QCheckBox("The platelet count is transfusion-independent", self.labs_box)
        self.lab_transfused.setObjectName("labTransfusionIndependent")
        grid.addWidget(self.lab_transfused, row, 0, 1, 4)
        self.labs_override = QLineEdit(self.labs_box)
        self.labs_override.setObjectName("labsOverrideReason")
        self.labs_override.setPlaceholderText("only to go on without the missing labs: why")
        grid.addWidget(QLabel("Override the missing labs, reason:", self.labs_box), row + 1, 0)
        grid.addWidget(self.labs_override, row + 1, 1, 1, 3)
        self.order_box.layout().addRow(self.labs_box)

    def order_labs_details(self) -> dict[str, Any]:
        """What the pharmacist typed, read by the domain (it refuses an entry it cannot read, naming it)."""
        from ..domain.instants import read_wall_time
        from ..domain.labs import verification_labs

        prep = self.bench.preparation
        if prep is None or (prep.order.course is not None and prep.order.course.on_file):
            return {}
        fields: dict[str, Any] = {name: edit.text() for name, edit in self.lab_edits.items()}
        if any(v.strip() for v in fields.values()):
            fields["transfusion_independent"] = self.lab_transfused.isChecked()
        fields.update({name: box.currentText() for name, box in self.vod_boxes.items()})
        details: dict[str, Any] = {}
        typed_time = self.labs_taken.text()
        baseline_time = self.baseline_taken.text()
        if baseline_time.strip():
            fields["baseline_taken_at"] = read_wall_time(baseline_time, "baseline-taken")
        labs = verification_labs(read_wall_time(typed_time, "labs-taken") if typed_time.strip() else None, **fields)
        if labs:
            details["labs"] = labs
        if self.labs_override.text().strip():
            details["labs_override"] = self.labs_override.text()
        return details

    def order_verified(self) -> bool:
        prep = self.bench.preparation
        return prep is not None and prep.last(EventType.ORDER_VERIFIED) is not None

    def isComplete(self) -> bool:  # noqa: N802
        if self.already_recorded() or self.order_verified():
            return True
        return bool(self.order_pin.text()) and bool(self.order_pharmacist.currentText().strip())

    def validatePage(self) -> bool:  # noqa: N802
        if self.already_recorded():
            return True
        if not self.order_verified():
            service = self.bench.service
            try:
                details = self.order_labs_details()
                pharmacist = service.authenticate(self.order_pharmacist.currentText().strip(), self.order_pin.text())
                self.bench.set_status(service.record_event(self.bench.preparation.id, EventType.ORDER_VERIFIED, pharmacist, details=details))
            except REFUSALS as exc:
                self.order_pin.clear()
                self.show_refusal(_refusal_text(exc))
                return False
            self.order_box.hide()
        return super().validatePage()

    def initializePage(self) -> None:  # noqa: N802
        calc = self.bench.calculation
        m = self.bench.monograph
        self.instructions.setText(
            ("Reconstitute the vial" if calc.vials == 1 else f"Reconstitute each of the {calc.vials} vials")
            + f" with {format_volume(calc.reconstitution_ml_per_vial)} "
            f"of {m.text('reconstitution.diluent')} → {format_concentration(calc.reconstituted_mg_per_ml)}.\n"
            f"{m.text('reconstitution.mixing')}\n{m.text('reconstitution.light')}\n\n"
            "Press “Reconstituted now” when the powder is dissolved: the time limits start from this moment."
        )
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Reconstituted now")
        self.order_box.setVisible(not self.order_verified())
        if not self.order_verified():
            self.order_pharmacist.clear()
            self.order_pharmacist.addItems([n for n in self.bench.names_with_role(Role.PHARMACIST) if n != self.bench.preparation.created_by])
            self.order_pharmacist.setCurrentText("")
            self.order_pin.clear()
            prep = self.bench.preparation
            self.labs_box.setVisible(not (prep.order.course is not None and prep.order.course.on_file))
            hours = self.bench.service.policy().lab_max_age_hours
            self.labs_box.setTitle(f"Labs checked before this dose (no course on file): samples taken within {hours} h")
            self.labs_taken.setToolTip(
                f"When the oldest of these samples was taken, on this workstation's clock ({WALL_TIME_EXAMPLE} form, 24-hour): "
                f"every lab below is judged by it against the {hours} h window (the baseline ECG and electrolytes by their own time when given)"
            )
            self.labs_taken.clear()
            self.baseline_taken.clear()
            for edit in self.lab_edits.values():
                edit.clear()
            for box in self.vod_boxes.values():
                box.setCurrentIndex(0)
            self.lab_transfused.setChecked(False)
            self.labs_override.clear()


class DrawPage(BenchPage):
    def __init__(self):
        super().__init__(DRAW, "Draw the dose volume from the reconstituted vials.")
        self.volume = QLabel(self)
        self.volume.setObjectName("drawVolume")
        self.volume.setFont(theme.font(theme.COUNTDOWN_POINT_SIZE, bold=True))
        self.body.addWidget(self.volume)
        self.detail = message_label("", "", self)
        self.body.addWidget(self.detail)
        self.confirm = QCheckBox("I have drawn exactly this &volume", self)
        self.confirm.setObjectName("drawConfirm")
        self.body.addWidget(self.confirm)
        self.confirm.toggled.connect(self.completeChanged)
        self.add_fridge("vials")
        self.finish_layout()

    def initializePage(self) -> None:  # noqa: N802
        calc = self.bench.calculation
        self.volume.setText(f"Draw {format_volume(calc.withdraw_ml)}" + (f" in {len(calc.draw_parts)} syringes" if calc.split_draw else ""))
        self.confirm.setText("I have drawn exactly these &volumes" if calc.split_draw else "I have drawn exactly this &volume")
        self.detail.setText(
            f"{format_volume(calc.withdraw_ml)}{_draw_how(calc)} at {format_concentration(calc.reconstituted_mg_per_ml)} = "
            f"{format_dose(calc.dose_mg)}. {m_discard(self.bench)}"
        )
        self.confirm.setChecked(False)
        self.refresh_fridge()

    def isComplete(self) -> bool:  # noqa: N802
        return self.confirm.isChecked()


def _draw_how(calc: Any) -> str:
    """' in 2 syringes: 10 mL (...) + 0.5 mL (...)' or ' with the 10 mL syringe (0.2 mL marks)': the calculation's words."""
    words = calc.draw_words()
    if not words:
        return ""
    return f" in {words}" if calc.split_draw else f" with {words}"


def m_discard(bench: "BenchWizard") -> str:
    return bench.monograph.text("reconstitution.discard_rest")


class DilutePage(EventPage):
    event_type = EventType.DILUTED

    def __init__(self):
        super().__init__(DILUTE, "Add the dose to the bag, then say where the bag will wait.")
        self.instructions = message_label("", "", self)
        self.body.addWidget(self.instructions)
        box = QGroupBox("The diluted bag is stored", self)
        box_layout = QVBoxLayout(box)
        self.room = QRadioButton("at r&oom temperature", box)
        self.fridge = QRadioButton("in the re&frigerator", box)
        self.room.setObjectName("storageRoom")
        self.fridge.setObjectName("storageFridge")
        self.storage = QButtonGroup(self)
        self.storage.addButton(self.room)
        self.storage.addButton(self.fridge)
        box_layout.addWidget(self.room)
        box_layout.addWidget(self.fridge)
        self.body.addWidget(box)
        self.room.toggled.connect(self.completeChanged)
        self.fridge.toggled.connect(self.completeChanged)
        self.finish_layout()

    def initializePage(self) -> None:  # noqa: N802
        calc = self.bench.calculation
        m = self.bench.monograph
        mix = (
            f"Draw {format_volume(calc.withdraw_ml)} into the pump syringe and fill it with {calc.vehicle} to the "
            f"{format_volume(calc.final_volume_ml)} mark (about {format_volume(calc.nacl_about_ml)})"
            if calc.container == "syringe" and calc.nacl_about_ml is not None
            else f"Add {format_volume(calc.withdraw_ml)} to {m.text('dilution.vehicle')} {calc.nacl_words()} "
            f"for a total of {format_volume(calc.final_volume_ml)}"
        )
        # The syringe path has no bag: its own mixing words, as the sheet gives them.
        mixing = m.text("syringe.mixing" if calc.container == "syringe" else "dilution.mixing")
        self.instructions.setText(f"{mix} ({format_concentration(calc.final_concentration_mg_per_ml)}).\n{mixing}")
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Diluted now")

    def isComplete(self) -> bool:  # noqa: N802
        return self.room.isChecked() or self.fridge.isChecked()

    def event_details(self) -> dict[str, Any] | None:
        storage = DiluteStorage.FRIDGE if self.fridge.isChecked() else DiluteStorage.ROOM
        return {"storage": storage.value, "withdrawn_ml": self.bench.calculation.withdraw_ml}


class VerifyPage(EventPage):
    """A pharmacist re-enters the key values without seeing them, then signs with name and PIN."""

    event_type = EventType.VERIFIED
    shows_patient = False

    def __init__(self):
        super().__init__(
            VERIFY,
            "A pharmacist who did not prepare this dose checks it independently: read the vials, the syringe "
            "and the bag, and type what you find. The preparer's values are not shown.",
        )
        form = QFormLayout()
        self.mrn = QLineEdit(self)
        self.height = QLineEdit(self)
        self.weight = QLineEdit(self)
        self.dose = QLineEdit(self)
        self.volume = QLineEdit(self)
        self.pharmacist = QComboBox(self)
        self.pharmacist.setEditable(True)
        self.pin = pin_field(self)
        self.mrn.setObjectName("verifyMrn")
        self.height.setObjectName("verifyHeight")
        self.weight.setObjectName("verifyWeight")
        self.height.setPlaceholderText("with its unit, as read on the order")
        self.weight.setPlaceholderText("with its unit, as read on the order")
        self.dose.setObjectName("verifyDose")
        self.volume.setObjectName("verifyVolume")
        # No example numbers: a typical dose as an example would be a hint to a "blind" check.
        self.dose.setPlaceholderText("in mg, as read on the order and the syringe")
        self.volume.setPlaceholderText("in mL, as read on the syringe")
        for text, widget in (
            ("Patient &MRN:", self.mrn),
            ("&Height:", self.height),
            ("&Weight:", self.weight),
            ("D&ose (mg):", self.dose),
            ("&Volume drawn (mL):", self.volume),
            ("P&harmacist:", self.pharmacist),
            ("P&IN:", self.pin),
        ):
            label = QLabel(text, self)
            label.setBuddy(widget)
            form.addRow(label, widget)
        self.body.addLayout(form)
        # The vials are not among the blind values: the checker compares each with its carton.
        self.vials_caption = QLabel("Vials recorded for this dose — check each against its vial and carton:", self)
        self.body.addWidget(self.vials_caption)
        self.vials = QListWidget(self)
        self.vials.setObjectName("verifyVials")
        self.vials.setAccessibleName("Vials recorded")
        self.vials.setMaximumHeight(110)
        self.body.addWidget(self.vials)
        self.finish_layout()
        for edit in (self.mrn, self.height, self.weight, self.dose, self.volume, self.pin):
            edit.textChanged.connect(self.completeChanged)
        self.pharmacist.currentTextChanged.connect(self.completeChanged)

    def initializePage(self) -> None:  # noqa: N802
        for edit in (self.mrn, self.height, self.weight, self.dose, self.volume, self.pin):
            edit.clear()
        self.pharmacist.clear()
        self.pharmacist.addItems(self.bench.names_with_role(Role.PHARMACIST))
        self.pharmacist.setCurrentText("")
        self.vials.clear()
        for vial in self.bench.preparation.vials:
            self.vials.addItem(vial_text(vial))
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Sign verification")
        self.mrn.setFocus()

    def isComplete(self) -> bool:  # noqa: N802
        return all(e.text().strip() for e in (self.mrn, self.height, self.weight, self.dose, self.volume, self.pin)) and bool(
            self.pharmacist.currentText().strip()
        )

    def validatePage(self) -> bool:  # noqa: N802
        if self.already_recorded():
            return True
        service = self.bench.service
        try:
            pharmacist = service.authenticate(self.pharmacist.currentText().strip(), self.pin.text())
            entered = {
                "mrn": self.mrn.text(),
                "height": self.height.text(),
                "weight": self.weight.text(),
                "dose_mg": self.dose.text(),
                "volume_ml": self.volume.text(),
            }
            # The domain compares them (and recomputes BSA and mg/m²); its refusal says which value
            # differs, never what it should be.
            status = service.record_event(
                self.bench.preparation.id,
                EventType.VERIFIED,
                pharmacist,
                details={"entered": {k: v.strip() for k, v in entered.items()}},
            )
        except REFUSALS as exc:
            self.pin.clear()
            self.show_refusal(_refusal_text(exc))
            return False
        self.bench.set_status(status)
        self.show_refusal(None)
        self.bench.step_recorded.emit(self.bench.preparation.id)
        return True


def _infusion_text(given: Administration) -> str:
    """How the dose will be given, as the drug's monograph has it: route, time, rate and in-line filter."""
    hours = format_quantity(Quantity(given.duration / timedelta(hours=1), "hour"), "h")
    text = f"{given.route} over {hours} at {format_volume(given.rate_ml_per_hour)}/hour".strip()
    if given.filter_required:
        text += "; IN-LINE FILTER REQUIRED: " + " or ".join(given.filters)
    elif given.filters:
        text += "; an in-line filter, if one is used: " + " or ".join(given.filters)
    if given.filters_forbidden:
        text += "; never " + " or ".join(given.filters_forbidden)
    return text


class LabelPage(EventPage):
    event_type = EventType.LABELLED

    def __init__(self):
        super().__init__(LABEL, "Print the bag label and the prep sheet; label the bag.")
        row = QHBoxLayout()
        # One action, no dialog: the label to the site's label printer.
        self.print_label_button = QPushButton("&Print label", self)
        self.print_label_button.setObjectName("printLabelNow")
        self.print_both_button = QPushButton("Print label and s&heet", self)
        self.print_both_button.setObjectName("printLabelAndSheetNow")
        self.label_button = QPushButton("Bag &label…", self)
        self.sheet_button = QPushButton("Prep &sheet…", self)
        row.addWidget(self.print_label_button)
        row.addWidget(self.print_both_button)
        row.addWidget(self.label_button)
        row.addWidget(self.sheet_button)
        row.addStretch(1)
        self.body.addLayout(row)
        self.status = message_label("", "", self)
        self.body.addWidget(self.status)
        self.confirm = QCheckBox("The label is &on the bag", self)
        self.confirm.setObjectName("labelConfirm")
        self.body.addWidget(self.confirm)
        self.confirm.toggled.connect(self.completeChanged)
        self.add_fridge("bag")
        self.print_label_button.clicked.connect(lambda: self.bench.print_label_now())
        self.print_both_button.clicked.connect(lambda: self.bench.print_label_now(with_sheet=True))
        self.label_button.clicked.connect(lambda: self.bench.show_document("label"))
        self.sheet_button.clicked.connect(lambda: self.bench.show_document("sheet"))
        self.finish_layout()

    def initializePage(self) -> None:  # noqa: N802
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Labelled")
        self.refresh_fridge()

    def isComplete(self) -> bool:  # noqa: N802
        return self.confirm.isChecked()


class DispensePage(EventPage):
    event_type = EventType.DISPENSED

    def __init__(self):
        super().__init__(DISPENSE, "Hand the labelled bag over for administration.")
        self.summary = message_label("", "", self)
        self.summary.setObjectName("dispenseSummary")
        self.body.addWidget(self.summary)
        self.add_fridge("bag")
        self.finish_layout()
        self.setCommitPage(False)
        self.setFinalPage(True)

    def initializePage(self) -> None:  # noqa: N802
        self.summary.setText(self.bench.deadline_summary())
        self.refresh_fridge()
        self.setButtonText(QWizard.WizardButton.FinishButton, "&Dispensed")


# --------------------------------------------------------------------------------------------
# The wizard


class BenchWizard(QWizard):
    """A new preparation (preparation_id None) or an in-progress one, resumed at its current step."""

    preparation_created = Signal(str)
    step_recorded = Signal(str)  # preparation id; the board refreshes
    # The drug as its regimen doses it: picked on the order page, or the stored preparation's own.
    monograph: Monograph

    def __init__(self, service: PreparationService, user: User, preparation_id: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.service = service
        self.user = user
        self.policy = service.policy()
        self.patient: Patient | None = None
        self.order: DoseOrder | None = None
        self.calculation: DoseCalculation | None = None
        self.coverage: CoverageDecision | None = None
        self.course_flags: list[str] = []
        self.preparation: Preparation | None = None
        self.status = None  # the service's PreparationStatus after the last step
        self.setWindowTitle("New preparation")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)
        self.pages: dict[int, BenchPage] = {}
        for page in (
            PatientPage(),
            OrderPage(),
            DosePage(),
            VialsPage(),
            ReconstitutePage(),
            DrawPage(),
            DilutePage(),
            VerifyPage(),
            LabelPage(),
            DispensePage(),
        ):
            self.setPage(page.page_id, page)
            self.pages[page.page_id] = page
        self.setButtonText(QWizard.WizardButton.NextButton, "&Next >")
        self.setButtonText(QWizard.WizardButton.BackButton, "< &Back")
        self.setButtonText(QWizard.WizardButton.CancelButton, "&Close")
        # Discard is always at hand once the preparation is stored (a pharmacist signs it).
        self.setButtonText(QWizard.WizardButton.CustomButton1, "Disca&rd…")
        self.button(QWizard.WizardButton.CustomButton1).setObjectName("wizardDiscard")
        self.button(QWizard.WizardButton.CustomButton1).clicked.connect(lambda: self.discard())
        self.currentIdChanged.connect(lambda _id: self._show_discard_button())
        self.alarm_strip: QWidget | None = None
        self.currentIdChanged.connect(lambda _id: self._place_alarm_strip())
        # Said at once, not after a form is filled: the bench steps are pharmacy's to record.
        bench_roles = ROLES_FOR[EventType.RECONSTITUTED]
        self.role_notice = message_label("", "hardstop", self)
        self.role_notice.setObjectName("benchRoleNotice")
        self.role_notice.setVisible(user.role not in bench_roles)
        if user.role not in bench_roles:
            self.role_notice.setText(
                f"{user.name} is signed in as a {user.role.value}: the bench steps are recorded by a "
                + " or ".join(sorted(r.value for r in bench_roles))
                + ". Nothing can be recorded here; a bag is given from the Chair tab."
            )
        # Ctrl+P on any page of a stored preparation (a reprint once it is labelled), as on the board.
        from PySide6.QtGui import QKeySequence, QShortcut

        self.print_shortcut = QShortcut(QKeySequence("Ctrl+P"), self, activated=lambda: self.print_label_now())
        self.resize(1100, 720)
        # Repaint only: each tick re-reads the stored preparation's deadlines at the service's clock.
        self.repaint_timer = QTimer(self)
        self.repaint_timer.setInterval(1000)
        self.repaint_timer.timeout.connect(self.repaint_deadline)
        self.repaint_timer.start()
        if preparation_id is not None:
            self.resume(preparation_id)

    def repaint_deadline(self) -> None:
        page = self.currentPage()
        if not isinstance(page, BenchPage):
            return
        if self.preparation is None or self.preparation.last(EventType.RECONSTITUTED) is None:
            page.show_deadline(None, None)
            return
        status = self.followed_status(self.preparation.id)
        page.show_deadline(status.next_deadline, status.now)
        page.refresh_fridge()

    _follower: Any = None

    def followed_status(self, prep_id: str) -> Any:
        """service.status(prep_id) for a tick: read from storage only when the change feed names it."""
        if self._follower is None or self._follower.service is not self.service:
            from .following import StatusFollower

            self._follower = StatusFollower(self.service)
        return self._follower.status(prep_id)

    # -- state from the service -----------------------------------------------------------
    def set_status(self, status) -> None:
        self.status = status
        self.preparation = status.prep
        self._show_discard_button()

    def _show_discard_button(self) -> None:
        self.setOption(QWizard.WizardOption.HaveCustomButton1, self.preparation is not None)

    def resume(self, preparation_id: str) -> None:
        status = self.service.status(preparation_id)
        self.set_status(status)
        prep = status.prep
        self.patient = prep.patient
        self.monograph = self.service.monograph_of(prep)
        self.order = prep.order.dose
        self.calculation = prep.order.calculation
        self.setWindowTitle(f"{prep.patient.name} ({prep.id})")
        page = PAGE_FOR_STEP.get(status.current_step)
        if page is None:
            raise ValueError(f"preparation {prep.id} is at '{status.current_step}', which is not a bench step")
        if page == VIALS and len(prep.vials) >= self.calculation.vials:
            page = RECONSTITUTE
        self.setStartId(page)

    # -- helpers the pages use ------------------------------------------------------------
    def today(self) -> date:
        return self.service.now().astimezone().date()

    def find_patient(self, mrn: str) -> Patient | None:
        """The patient as last stored with this MRN, or None: the service's indexed lookup (the
        wizard reads no preparation to find one)."""
        return self.service.find_patient(mrn)

    def names_with_role(self, role: Role) -> list[str]:
        return [u.name for u in self.service.users() if u.role == role and u.active]

    def record(self, page: BenchPage, event_type: EventType, details: dict[str, Any], at: datetime | None = None) -> bool:
        """Record a step (at `at` when it is entered late); on an overridable refusal, offer the override. True when stored."""
        try:
            self.set_status(self.service.record_event(self.preparation.id, event_type, self.user, at=at, details=details))
        except StepRefused as refusal:
            # A time limit passed: the discard is offered (a label limit is never overridden).
            limit_passed = refusal.overridable or any(part.endswith("_passed") or part == "late_entry" for part in refusal.code.split("+"))
            page.show_refusal(_refusal_text(refusal), overridable=limit_passed)
            page.override_button.setVisible(refusal.overridable)
            self.pending_override = (event_type, details, refusal, at) if refusal.overridable else None
            return False
        except REFUSALS as exc:
            page.show_refusal(_refusal_text(exc))
            return False
        page.show_refusal(None)
        self.step_recorded.emit(self.preparation.id)
        return True

    pending_override: tuple | None = None

    def attach_alarm_strip(self, strip: QWidget) -> None:
        """The board's alarms, shown at the top of whichever page is open (main_window builds it)."""
        self.alarm_strip = strip
        self._place_alarm_strip()

    def _place_alarm_strip(self) -> None:
        """The alarm strip and the role notice follow the open page (a widget has one parent)."""
        page = self.currentPage()
        if page is None:
            return
        for widget in (self.role_notice, self.alarm_strip):
            if widget is None:
                continue
            visible = not widget.isHidden()
            page.layout().insertWidget(0, widget)
            widget.setVisible(visible)

    def typed_but_not_stored(self) -> bool:
        """Text typed on the patient or order page of a preparation not yet stored."""
        if getattr(self, "preparation", None) is not None:
            return False  # every step is committed as it is taken: closing loses nothing
        return any(edit.text().strip() for page_id in (PATIENT, ORDER) for edit in self.pages[page_id].findChildren(QLineEdit))

    def reject(self) -> None:
        """Esc or Close: ask before throwing away what was typed for an order not yet stored."""
        if self.typed_but_not_stored() and not self._discard_confirmed:
            # Asked without blocking (open, not exec): the wizard closes only on "Discard".
            box = QMessageBox(
                QMessageBox.Icon.Question, "Discard the typed order?", "The patient and order typed here are not stored yet. Discard them?", parent=self
            )
            box.setObjectName("discardTypedQuestion")
            discard = box.addButton("&Discard what I typed", QMessageBox.ButtonRole.DestructiveRole)
            keep = box.addButton("&Keep editing", QMessageBox.ButtonRole.RejectRole)
            box.setDefaultButton(keep)
            box.setEscapeButton(keep)

            def answered(button) -> None:
                if button is discard:
                    self._discard_confirmed = True
                    self.reject()

            box.buttonClicked.connect(answered)
            self.discard_question = box  # tests answer it here
            box.open()
            return
        super().reject()

    _discard_confirmed = False
    discard_question: QMessageBox | None = None

    def override_pending(self, page: BenchPage) -> bool:
        """The pharmacist asked to override the page's time-limit refusal: the dialog, then on to the next page."""
        if self.pending_override is None:
            return False
        event_type, details, refusal, at = self.pending_override
        if not self._override_and_record(event_type, details, refusal, at):
            return False
        self.pending_override = None
        page.show_refusal(None)
        self.step_recorded.emit(self.preparation.id)
        self.next()
        return True

    def discard(self, why: str = "") -> bool:
        """A pharmacist discards this preparation (name, PIN, reason); the wizard then closes."""
        if self.preparation is None:
            return False
        from .discard import ask_discard

        status = ask_discard(self.service, self.preparation.id, self, why)
        if status is None:
            return False
        self.set_status(status)
        self.step_recorded.emit(status.id)
        self.reject()
        return True

    def _override_and_record(self, event_type: EventType, details: dict[str, Any], refusal: StepRefused, at: datetime | None = None) -> bool:
        dialog = OverrideDialog(_refusal_text(refusal), self.names_with_role(Role.PHARMACIST), self)
        dialog.setObjectName("overrideDialog")
        self.override_dialog = dialog  # tests reach it while it is open
        try:
            while dialog.exec() == QDialog.DialogCode.Accepted:
                pharmacist, pin, reason = dialog.values()
                try:
                    override = self.service.authorize_override(pharmacist, pin, reason, refusal.code)
                    status = self.service.record_event(self.preparation.id, event_type, self.user, at=at, details=details, override=override)
                except REFUSALS as exc:
                    dialog.show_error(_refusal_text(exc))
                    dialog.pin.clear()
                    continue
                self.set_status(status)
                return True
            return False
        finally:
            self.override_dialog = None

    def deadline_summary(self) -> str:
        status = self.service.status(self.preparation.id)
        words = {"ok": "", "pending": "", "warning": " — soon", "due": " — due now", "expired": " — PASSED"}
        lines = [
            f"{d.label}: {format_instant(d.at)}{words.get(d.state.value, ' — ' + d.state.value)}"
            for d in status.deadlines
            if d.state.value not in ("met", "closed")
        ]
        return "Deadlines:\n" + "\n".join(lines) if lines else ""

    def document_pdf(self, kind: str) -> bytes:
        """The bag label or prep sheet of the stored preparation: the same document service as the CLI."""
        from ..service.documents import DocumentService

        documents = DocumentService(self.service)
        document = documents.label(self.preparation.id) if kind == "label" else documents.sheet(self.preparation.id)
        return document.pdf

    def _print_page(self):
        """Where print messages are shown: the page in view (the label page when none is)."""
        page = self.currentPage()
        return page if isinstance(page, BenchPage) else self.pages[LABEL]

    def document_printer(self):
        from .printing import DocumentPrinter

        return DocumentPrinter(self.service, self.user, self, warn=lambda _parent, _title, text: self._print_page().show_refusal(text))

    def print_label_now(self, with_sheet: bool = False) -> bool:
        """The label to the site's label queue (and the sheet to the sheet queue) in one action, no dialog."""
        if getattr(self, "preparation", None) is None:
            return False
        printer = self.document_printer()
        if with_sheet:
            job = printer.print_label_and_sheet_now(self.preparation.id) or None
        else:
            job = printer.print_label_now(self.preparation.id)
        if job is not None:
            page = self._print_page()
            page.show_refusal(None)
            status = getattr(page, "status", None) or getattr(page, "print_status", None)
            if status is None:
                # Pages without a status line get one, under their content, on the first print.
                status = page.print_status = message_label("", "ok", page)
                status.setObjectName("printStatus")
                page.body.addWidget(status)
            status.setText(printer.last_message)
            status.show()
        return job is not None

    def show_document(self, kind: str) -> None:
        page = self.pages[LABEL]
        title = "Bag label" if kind == "label" else "Prep sheet"
        printer = self.document_printer()
        dialog = printer.preview(self.preparation.id, kind, show=False)
        if dialog is None:
            return
        self.preview = dialog
        page.status.setText(f"{title} shown.")
        self.preview.exec()
