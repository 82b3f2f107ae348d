"""The pharmacist's course forms: everything the course is told, without a terminal.

New course, start / move a cycle, extend cycle 1, blasts, weights, responses, HSCT, and the labs and
findings a dose-modification rule is applied to (the advice is stored for a decision in the
"Dose modifications" tab). Each form shows and collects; CourseService and the domain decide, and a
refusal is shown under the form with the labels the user sees.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..domain.course import CourseBlocked, first_cycle_extends, transplant_plan_decides
from ..domain.errors import ValidationError
from ..domain.formatting import format_number
from ..domain.monograph import Monograph
from ..domain.preparation import StepRefused
from .widgets import message_label, set_role
from .errors import error_text

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.course import CourseService

# The assessment rules a pharmacist can apply, with the findings each needs (key, label, kind).
ASSESSMENTS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "hematologic": (
        "Blood counts (ANC, platelets)",
        [
            ("anc", "ANC now (10⁹/L)", "text"),
            ("platelets", "Platelets now (10⁹/L)", "text"),
            ("baseline_anc", "ANC before treatment (10⁹/L)", "text"),
            ("baseline_platelets", "Platelets before treatment (10⁹/L)", "text"),
            ("within_cycle", "Next dose is a later dose day of this cycle", "check"),
            ("disease_stable", "Stable/improved disease on latest marrow", "check"),
            ("disease_related", "Fall in counts judged disease-related", "check"),
        ],
    ),
    "liver": (
        "Liver tests (bilirubin, AST/ALT)",
        [
            ("bilirubin_x_uln", "Total bilirubin (× ULN)", "text"),
            ("ast_alt_x_uln", "Higher of AST/ALT (× ULN)", "text"),
            ("no_recovery", "Bilirubin and AST/ALT did not recover", "check"),
        ],
    ),
    "interruption": ("Dose interruption", [("days", "Interruption (days)", "text")]),
    "vod": ("Veno-occlusive disease (VOD/SOS)", []),
    "non-hematologic": (
        "Other (non-hematologic) toxicity",
        [
            ("grade", "CTCAE grade now", "text"),
            ("pretreatment_grade", "Grade before treatment", "text"),
        ],
    ),
    "infusion-reaction": ("Infusion-related reaction", [("grade", "CTCAE grade", "text")]),
    "overdue": ("An overdue dose or a held cycle (what the course advises today)", []),
}

# The labs before a dose (domain/labs.py): the entries of each kind (key, label, kind).
YES_NO = "yesno"
LAB_FORMS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "cbc": (
        "CBC (ANC, platelets)",
        [
            ("anc", "ANC (10⁹/L)", "text"),
            ("platelets", "Platelets (10⁹/L)", "text"),
            ("transfusion_independent", "Platelet count transfusion-independent", YES_NO),
        ],
    ),
    "liver": (
        "Liver tests (bilirubin, AST/ALT)",
        [
            ("bilirubin_x_uln", "Total bilirubin (× ULN)", "text"),
            ("bilirubin", "or total bilirubin (value, unit)", "text"),
            ("bilirubin_uln", "with the lab's bilirubin ULN", "text"),
            ("ast_alt_x_uln", "Higher of AST/ALT (× ULN)", "text"),
            ("ast", "or AST (value, unit)", "text"),
            ("ast_uln", "with the lab's AST ULN", "text"),
            ("alt", "and/or ALT (value, unit)", "text"),
            ("alt_uln", "with the lab's ALT ULN", "text"),
            ("cause", "Raised because of", "cause"),
        ],
    ),
    "ecg": ("ECG (QTc), baseline", [("qtc_ms", "QTc (ms)", "text")]),
    "electrolytes": (
        "Electrolytes, baseline",
        [
            ("potassium", "Potassium (mmol/L)", "text"),
            ("magnesium", "Magnesium (mmol/L)", "text"),
        ],
    ),
    "vod-signs": (
        "VOD/SOS signs (each dose after the first)",
        [
            ("weight_gain", "Rapid weight gain", YES_NO),
            ("hepatomegaly", "Painful hepatomegaly", YES_NO),
            ("ascites", "Ascites", YES_NO),
            ("bilirubin_rising", "Rising bilirubin", YES_NO),
        ],
    ),
}

# Field names the service and the domain use -> the labels on these forms.
FIELD_LABELS = {
    "kind": "Finding",
    "per_mm3": "Blasts",
    "blasts": "Blasts",
    "count": "Blasts",
    "measured_on": "Date",
    "assessed_on": "Date",
    "start": "Day 1",
    "date": "Date",
    "weight": "Weight",
    "reason": "Reason",
    "response": "Response",
    "anc": "ANC now",
    "platelets": "Platelets now",
    "baseline-anc": "ANC before treatment",
    "baseline-platelets": "Platelets before treatment",
    "bilirubin_x_uln": "Total bilirubin",
    "ast_alt_x_uln": "Higher of AST/ALT",
    "days": "Interruption",
    "grade": "CTCAE grade",
    "pretreatment_grade": "Grade before treatment",
    "mrn": "Patient MRN",
    "hsct_planned": "HSCT planned",
    "transfusion-independent": "Platelet count transfusion-independent",
    "bilirubin-x-uln": "Total bilirubin (× ULN)",
    "bilirubin-uln": "Bilirubin ULN",
    "ast-alt-x-uln": "Higher of AST/ALT (× ULN)",
    "ast": "AST",
    "ast-uln": "AST ULN",
    "alt": "ALT",
    "alt-uln": "ALT ULN",
    "qtc": "QTc",
    "potassium": "Potassium",
    "magnesium": "Magnesium",
    "weight-gain": "Rapid weight gain",
    "hepatomegaly": "Painful hepatomegaly",
    "ascites": "Ascites",
    "bilirubin-rising": "Rising bilirubin",
    "taken": "Taken at",
    "labs": "Labs",
    "sex": "Sex at birth",
    "reproductive-potential": "Of reproductive potential",
    "pregnancy-test": "Pregnancy test",
    "pregnancy-test-on": "Pregnancy test on",
    "contraception-counselled": "Contraception after the last dose counselled",
    "breastfeeding-counselled": "No breastfeeding after the last dose counselled",
    "hsct-precautions": "HSCT planned: post-HSCT VOD/SOS precautions discussed",
    "child-reason": "Reason (children's threshold)",
    "dob": "Date of birth (the age decides)",
}


def _explain(exc: Exception) -> str:
    return error_text(exc, FIELD_LABELS)


def _date(edit: QLineEdit, label: str) -> date:
    from .bench_wizard import parse_local_date

    try:
        return parse_local_date(edit.text(), label)
    except ValidationError as exc:
        raise ValidationError(label, exc.message.split(": ", 1)[-1]) from None


class CourseForms(QWidget):
    """`mrn()` says whose course; `done(mrn, text)` is called after each recorded change;
    `shown_version(mrn)` is the version of that course on screen (None: not shown), passed to the
    service as `expected` so that a course another station changed meanwhile is refused, not re-applied."""

    def __init__(
        self,
        courses: CourseService,
        user: Callable[[], Any],
        mrn: Callable[[], str],
        done: Callable[[str, str], None],
        parent: QWidget | None = None,
        shown_version: Callable[[str], int | None] = lambda _mrn: None,
    ):
        super().__init__(parent)
        self._shown_version = shown_version
        self.setObjectName("courseForms")
        self.courses = courses
        self._user = user
        self._mrn = mrn
        self._done = done
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        caption = QLabel("A&ction:", self)
        self.action = QComboBox(self)
        self.action.setObjectName("courseAction")
        self._narrow(self.action)
        caption.setBuddy(self.action)
        top.addWidget(caption)
        top.addWidget(self.action, 1)
        layout.addLayout(top)
        self.stack = QStackedWidget(self)
        layout.addWidget(self.stack)
        self.message = message_label("", "", self)
        self.message.setObjectName("courseFormMessage")
        layout.addWidget(self.message)
        row = QHBoxLayout()
        row.addStretch(1)
        self.record_button = QPushButton("Sa&ve in the course", self)
        self.record_button.setObjectName("courseRecordButton")
        self.record_button.clicked.connect(self.record)
        row.addWidget(self.record_button)
        layout.addLayout(row)
        layout.addStretch(1)
        self.fields: dict[str, dict[str, Any]] = {}
        self._layouts: dict[str, QFormLayout] = {}
        self._actions: list[tuple[str, Callable[[], str]]] = []
        self._building = True  # the view that names the MRN is not yet built
        self._build()
        self._building = False
        self.show_drug()
        self.action.currentIndexChanged.connect(self.stack.setCurrentIndex)
        self.action.currentIndexChanged.connect(lambda _i: self._say("", ""))

    # -- building ----------------------------------------------------------------------------
    def drug(self) -> Monograph | None:
        """The drug of the course the forms act on: the shown course's own, else the drug a new course
        would be opened for (the one picked on the new-course form, or the only one installed: the
        service decides). None while several drugs are installed and none is picked: then no form
        offers, words or computes anything that is a drug's own."""
        mrn = "" if self._building else self._mrn_now()
        course = self.courses.course(mrn) if mrn else None
        if course is not None:
            return self.courses.monograph_of(course)
        try:
            return self.courses.new_course_drug(self._picked_drug_id())
        except ValidationError:
            return None

    def _picked_drug_id(self) -> str | None:
        picked = self.fields.get("new", {}).get("drug")
        return picked.currentData() if picked is not None else None

    def show_drug(self) -> None:
        """The choices and words that are the drug's own (its responses, its extended cycle 1, the causes
        its label exempts from a liver hold), for the course now shown; none while no drug is known."""
        drug = self.drug()
        combo = self.fields["response"]["response"]
        choices = drug.response_choices() if drug is not None else []
        combo.clear()
        combo.addItem("— choose —", None)
        for response, words in choices:
            combo.addItem(words, response)
        index = self.action.findData("response")
        # The response form only where the drug's data has responses that decide its dose, the
        # transplant plan's only where it changes the drug's cycle limit.
        self.action.model().item(index).setEnabled(bool(choices))  # type: ignore[attr-defined]
        hsct = self.action.findData("hsct")
        self.action.model().item(hsct).setEnabled(drug is not None and transplant_plan_decides(drug))  # type: ignore[attr-defined]
        # Extending cycle 1 only where the drug's data gives it an extended length (the domain refuses it otherwise).
        extends = drug is not None and first_cycle_extends(drug)
        extend = self.action.findData("extend")
        self.action.model().item(extend).setEnabled(extends)  # type: ignore[attr-defined]
        # Only the findings the drug's data has a dose-modification rule for (a drug's file may hold only the interruption rule);
        # the domain refuses the others, naming the rules it holds.
        from ..domain.dose_modification import FINDING_RULES, has_rule

        kinds = self.fields["assess"]["kind"]
        for row in range(kinds.count()):
            finding = kinds.itemData(row)
            kinds.model().item(row).setEnabled(drug is None or finding not in FINDING_RULES or has_rule(drug, finding))  # type: ignore[attr-defined]
        if not kinds.model().item(kinds.currentIndex()).isEnabled():  # type: ignore[attr-defined]
            kinds.setCurrentIndex(next(row for row in range(kinds.count()) if kinds.model().item(row).isEnabled()))  # type: ignore[attr-defined]
        self.action.setItemText(extend, f"Extend cycle 1 to {self._extended(drug)}" if drug is not None and extends else "Extend cycle 1")
        start = self.fields["start"]
        for name in ("extend", "reason"):
            self._layouts["start"].setRowVisible(start[name], extends)
        if drug is not None and extends:
            start["extend"].setText(f"Cycle 1 only: {self._extended(drug)}")
            start["reason"].setPlaceholderText(self._extension_reason(drug))
            self.fields["extend"]["reason"].setPlaceholderText(self._extension_reason(drug))
        else:
            start["extend"].setChecked(False)
        self._fill_causes(drug)

    def _fill_causes(self, drug: Monograph | None) -> None:
        """The liver tests' "raised because of": the causes the drug's label exempts from a liver hold."""
        from ..domain.dose_modification import exempt_liver_causes

        combo = self.fields["lab"]["cause"]
        combo.clear()
        combo.addItem("none of these", None)
        for key, text in (exempt_liver_causes(drug) if drug is not None else {}).items():
            combo.addItem(text, key)

    def _extended(self, drug: Monograph | None = None) -> str:
        """The extended first cycle's length, from the course's monograph ("<n> days")."""
        drug = drug or self.drug()
        assert drug is not None  # asked only of a drug whose cycle 1 extends (show_drug)
        days = drug.magnitude("cycles.first_cycle_extended_length", "day")
        return f"{format_number(days)} days"

    @staticmethod
    def _extension_reason(drug: Monograph) -> str:
        """What the label gives as the reason to extend (the monograph's citation of the value)."""
        return f"the label's reason: {drug.fact('cycles.first_cycle_extended_length').where}"

    def _form(self, key: str, title: str, run: Callable[[], str], rows: list[tuple[str, str, QWidget]]) -> None:
        page = QWidget(self)
        form = QFormLayout(page)
        widgets = {}
        for name, label, widget in rows:
            widget.setParent(page)
            widget.setObjectName(f"course_{key}_{name}")
            widget.setAccessibleName(label)
            form.addRow(QLabel(label, page), widget) if not isinstance(widget, QCheckBox) else form.addRow("", widget)
            widgets[name] = widget
        self.fields[key] = widgets
        self._layouts[key] = form
        self.stack.addWidget(page)
        self.action.addItem(title, key)
        self._actions.append((key, run))

    @staticmethod
    def _line(placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        return edit

    @staticmethod
    def _narrow(combo: QComboBox) -> None:
        # Sized by a short text, not the longest item: the form fits beside the calendar.
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(18)

    @staticmethod
    def _combo(items: list[tuple[str, Any]]) -> QComboBox:
        combo = QComboBox()
        CourseForms._narrow(combo)
        for text, data in items:
            combo.addItem(text, data)
        return combo

    def _build(self) -> None:
        day = "e.g. 2026-12-01"
        self._form(
            "new",
            "A new treatment course",
            self._new,
            [
                # Only the drugs a course is kept for (a regimen's doses are each prepared at the bench).
                ("drug", "Drug", self._combo(self._drug_items())),
                ("regimen", "Regimen", self._combo([("— none —", None)])),
                ("hsct", "HSCT planned", self._combo([("— choose —", None), ("yes", True), ("no", False)])),
                ("dob", "Date of birth (the age decides)", self._line("e.g. 2015-06-01; blank: as stored")),
                ("child", "Children's weight threshold whatever the age", QCheckBox("Children's weight threshold whatever the age")),
                ("child_reason", "Reason (children's threshold)", self._line("e.g. small adult, paediatric protocol")),
            ],
        )
        self.fields["new"]["drug"].currentIndexChanged.connect(self._fill_regimens)
        self.fields["new"]["drug"].currentIndexChanged.connect(lambda _i: self._building or self.show_drug())
        self._fill_regimens()
        self._form(
            "blasts",
            "Circulating blasts before the first dose",
            self._blasts,
            [
                ("count", "Blasts (per mm³)", self._line("e.g. 8000, or with the unit: 8 x10^9/L")),
                ("date", "Measured on", self._line(day)),
            ],
        )
        self._form(
            "weight",
            "A weight",
            self._weight,
            [
                ("weight", "Weight", self._line("with its unit, e.g. 70 kg or 154 lb")),
                ("date", "Measured on", self._line(day)),
                ("dosing", "Use it as the dosing weight", QCheckBox("Use it as the dosing weight")),
            ],
        )
        self._form(
            "response",
            "A response assessment",
            self._response,
            [
                ("response", "Response", self._combo([("— choose —", None)])),  # the drug's own responses (show_drug)
                ("mrd", "MRD", self._combo([("not assessed", None), ("negative", True), ("positive", False)])),
                ("date", "Assessed on", self._line(day)),
            ],
        )
        self._form(
            "start",
            "Start the next cycle",
            self._start,
            [
                ("date", "Day 1", self._line(day)),
                # The drug's extended length and the label's reason: show_drug words them, for a drug that has one.
                ("extend", "Cycle 1 only: the extended length", QCheckBox("Cycle 1 only: the extended length")),
                ("reason", "Reason (extended cycle 1)", self._line("")),
            ],
        )
        self._form("move", "Move the latest cycle's Day 1", self._move, [("date", "New Day 1", self._line(day))])
        self._form(
            "extend",
            "Extend cycle 1",
            self._extend,
            [
                ("reason", "Reason", self._line("")),
            ],
        )
        self._form(
            "hsct",
            "Change whether HSCT is planned",
            self._hsct,
            [
                ("hsct", "HSCT planned", self._combo([("— choose —", None), ("yes", True), ("no", False)])),
            ],
        )
        rows: list[tuple[str, str, QWidget]] = [
            ("kind", "Finding", self._combo([(title, kind) for kind, (title, _f) in ASSESSMENTS.items()])),
        ]
        seen = set()
        for _kind, (_title, findings) in ASSESSMENTS.items():
            for name, label, kind in findings:
                if name in seen:
                    continue
                seen.add(name)
                rows.append((name, label, QCheckBox(label) if kind == "check" else self._line("")))
        self._form("assess", "Labs and findings: apply a dose-modification rule", self._assess, rows)
        kind_combo = self.fields["assess"]["kind"]
        kind_combo.currentIndexChanged.connect(self._show_findings)
        self._show_findings()
        self._build_labs()

    def _build_labs(self) -> None:
        rows: list[tuple[str, str, QWidget]] = [
            ("kind", "Test", self._combo([(title, kind) for kind, (title, _f) in LAB_FORMS.items()])),
            ("taken", "Taken at", self._line("blank: now; or e.g. 2026-12-02T08:30+01:00")),
        ]
        for _kind, (_title, entries) in LAB_FORMS.items():
            for name, label, kind in entries:
                if kind == YES_NO:
                    widget: QWidget = self._combo([("— choose —", None), ("yes", True), ("no", False)])
                elif kind == "cause":
                    widget = self._combo([("none of these", None)])  # the drug's own causes: show_drug
                else:
                    widget = self._line("")
                rows.append((name, label, widget))
        self._form("lab", "Labs before a dose (CBC, liver tests, ECG, electrolytes, VOD/SOS signs)", self._lab, rows)
        self._form(
            "lab_override",
            "Prepare the next dose without its labs (pharmacist)",
            self._lab_override,
            [
                ("reason", "Reason", self._line("why the dose goes ahead without them")),
            ],
        )
        self.fields["lab"]["kind"].currentIndexChanged.connect(self._show_lab_entries)
        self._show_lab_entries()

        def yes_no() -> QComboBox:
            return self._combo([("— choose —", None), ("yes", "yes"), ("no", "no")])

        self._form(
            "checklist",
            "Course-start checklist (pharmacist)",
            self._checklist,
            [
                ("sex", "Sex at birth", self._combo([("— choose —", None), ("female", "female"), ("male", "male")])),
                ("reproductive_potential", "Of reproductive potential (male: a female partner who is)", yes_no()),
                ("pregnancy_test", "Pregnancy test", self._combo([("not done / not applicable", None), ("negative", "negative"), ("positive", "positive")])),
                ("pregnancy_test_on", "Pregnancy test on", self._line("e.g. 2026-12-01")),
                ("contraception_counselled", "Contraception after the last dose counselled", yes_no()),
                ("breastfeeding_counselled", "No breastfeeding after the last dose counselled", yes_no()),
                ("hsct_precautions", "HSCT planned: post-HSCT VOD/SOS precautions discussed", yes_no()),
            ],
        )

    def _show_lab_entries(self) -> None:
        kind = self.fields["lab"]["kind"].currentData()
        self._show_only("lab", {"taken"} | {name for name, _l, _k in LAB_FORMS[kind][1]})

    def _show_findings(self) -> None:
        kind = self.fields["assess"]["kind"].currentData()
        self._show_only("assess", {name for name, _l, _k in ASSESSMENTS[kind][1]})

    def _show_only(self, key: str, wanted: set[str]) -> None:
        widgets = self.fields[key]
        form = widgets["kind"].parent().layout()
        for name, widget in widgets.items():
            if name == "kind":
                continue
            visible = name in wanted
            widget.setVisible(visible)
            label = form.labelForField(widget)
            if label is not None:
                label.setVisible(visible)

    # -- recording ---------------------------------------------------------------------------
    def _say(self, text: str, role: str) -> None:
        self.message.setText(text)
        set_role(self.message, role)

    def reset(self) -> None:
        """Nothing typed or picked left in any form (another person signed in: what was typed is the previous person's)."""
        for fields in self.fields.values():
            for widget in fields.values():
                if isinstance(widget, QLineEdit):
                    widget.clear()
                elif isinstance(widget, QCheckBox):
                    widget.setChecked(False)
                elif isinstance(widget, QComboBox) and widget.count():
                    widget.setCurrentIndex(0)
        self._say("", "")

    def select(self, key: str) -> None:
        self.action.setCurrentIndex([k for k, _r in self._actions].index(key))

    def record(self) -> bool:
        mrn = " ".join(self._mrn().split())
        if not mrn:
            self._say("Patient MRN: type, pick or scan the patient's MRN above first.", "error")
            return False
        key, run = self._actions[self.action.currentIndex()]
        try:
            text = run()
        except (ValidationError, StepRefused, CourseBlocked) as exc:
            self._say(f"Not recorded — {_explain(exc)}", "error")
            return False
        for widget in self.fields[key].values():
            if isinstance(widget, QLineEdit):
                widget.clear()
        self._done(mrn, text)
        self._say(text, "ok")
        return True

    def _mrn_now(self) -> str:
        return " ".join(self._mrn().split())

    def _expected(self) -> int | None:
        return self._shown_version(self._mrn_now())

    def _choice(self, key: str, name: str, label: str) -> Any:
        combo = self.fields[key][name]
        if combo.currentData() is None and combo.currentIndex() == 0 and combo.itemText(0).startswith("—"):
            raise ValidationError(label, "choose one")
        return combo.currentData()

    def _drug_items(self) -> list[tuple[str, Any]]:
        """The new-course form's drugs. "— choose —" first (Save refuses until one is picked) unless the
        service names the drug a course naming none is opened for (the only one installed): the
        installed conjugates look and sound alike, and none is taken by default."""
        items: list[tuple[str, Any]] = [(f"{m.brand_name} ({m.generic_name})", m.id) for m in self.courses.course_drugs()]
        return items if self.courses.default_course_drug() is not None else [("— choose —", None), *items]

    def _fill_regimens(self, *_args: Any) -> None:
        """The picked drug's regimens (its monograph's [[dosing.regimens]]); none for a drug dosed by response."""
        combo = self.fields["new"]["regimen"]
        drugs = {m.id: m for m in self.courses.course_drugs()}
        picked = drugs.get(self.fields["new"]["drug"].currentData())
        combo.clear()
        regimens = picked.regimens if picked is not None else ()
        combo.addItem("— choose —" if regimens else "— none —", None)
        for regimen in regimens:
            combo.addItem(regimen.name, regimen.id)
        combo.setEnabled(bool(regimens))
        # The transplant plan is asked only of a drug whose cycle limit it changes (its monograph says).
        self._layouts["new"].setRowVisible(self.fields["new"]["hsct"], picked is None or transplant_plan_decides(picked))

    def _new(self) -> str:
        f = self.fields["new"]
        self._choice("new", "drug", "Drug")  # several drugs installed: picked, never taken by default
        # The drug picked on this form (the service refuses one it keeps no course for), never the shown course's.
        drug = self.courses.new_course_drug(self._picked_drug_id())
        regimen = self._choice("new", "regimen", "Regimen") if drug.regimens else None
        hsct = self._choice("new", "hsct", "HSCT planned") if transplant_plan_decides(drug) else False
        dob = _date(f["dob"], "Date of birth (the age decides)") if f["dob"].text().strip() else None
        self.courses.new_course(
            self._mrn_now(),
            hsct,
            self._user(),
            is_child=f["child"].isChecked(),
            date_of_birth=dob,
            child_reason=f["child_reason"].text().strip(),
            monograph=drug,
            regimen=regimen,
        )
        return "Course created."

    def _blasts(self) -> str:
        f = self.fields["blasts"]
        count = f["count"].text().strip()
        if not count:
            raise ValidationError("Blasts", "type the count per mm³, e.g. 8000")
        self.courses.record_blasts(self._mrn_now(), count, _date(f["date"], "Measured on"), self._user(), expected=self._expected())
        return "Blasts recorded."

    def _weight(self) -> str:
        f = self.fields["weight"]
        self.courses.record_weight(
            self._mrn_now(),
            f["weight"].text().strip(),
            _date(f["date"], "Measured on"),
            self._user(),
            use_for_dosing=f["dosing"].isChecked(),
            expected=self._expected(),
        )
        return "Weight recorded."

    def _response(self) -> str:
        f = self.fields["response"]
        response = self._choice("response", "response", "Response")
        self.courses.record_response(
            self._mrn_now(), _date(f["date"], "Assessed on"), response, f["mrd"].currentData(), self._user(), expected=self._expected()
        )
        return "Response recorded."

    def _start(self) -> str:
        f = self.fields["start"]
        self.courses.start_cycle(
            self._mrn_now(),
            _date(f["date"], "Day 1"),
            self._user(),
            extend_to_28=f["extend"].isChecked(),
            reason=f["reason"].text().strip(),
            expected=self._expected(),
        )
        return "Cycle started."

    def _move(self) -> str:
        self.courses.move_cycle_start(self._mrn_now(), _date(self.fields["move"]["date"], "New Day 1"), self._user(), expected=self._expected())
        return "Cycle Day 1 moved."

    def _extend(self) -> str:
        self.courses.extend_first_cycle(self._mrn_now(), self.fields["extend"]["reason"].text().strip(), self._user(), expected=self._expected())
        return f"Cycle 1 extended to {self._extended()}."

    def _hsct(self) -> str:
        self.courses.set_hsct(self._mrn_now(), self._choice("hsct", "hsct", "HSCT planned"), self._user(), expected=self._expected())
        return "HSCT plan changed."

    def _assess(self) -> str:
        from ..domain import dose_modification as dm

        f = self.fields["assess"]
        kind = f["kind"].currentData()
        mrn = self._mrn_now()
        value = {name: (w.text().strip() if isinstance(w, QLineEdit) else w.isChecked()) for name, w in f.items() if name != "kind"}

        def need(*names: str) -> None:
            for name in names:
                if not value[name]:
                    label = next(lbl for n, lbl, _k in ASSESSMENTS[kind][1] if n == name)
                    raise ValidationError(label, "must be given for this rule")

        if kind == "overdue":
            records = self.courses.assess_overdue(mrn, self._user(), expected=self._expected())
            return f"{len(records)} advice item(s) stored for a decision (Dose modifications)."
        course = self.courses.course(mrn)
        if course is None:
            raise ValidationError("Patient MRN", f"no course is stored for {mrn}: create it first (A new treatment course)")
        monograph = self.courses.monograph_of(course)  # the course's own drug's rules, never a drug picked elsewhere
        if kind == "interruption":
            need("days")
            advice = dm.interruption_advice(value["days"], course.reduction_level, monograph=monograph)
        elif kind == "hematologic":
            need("anc", "platelets", "baseline_anc", "baseline_platelets")
            advice = dm.hematologic_advice(
                dm.Counts.of(value["baseline_anc"], value["baseline_platelets"], "baseline-"),
                dm.Counts.of(value["anc"], value["platelets"]),
                within_cycle=value["within_cycle"],
                prior_cycle_baseline=None,
                disease_stable_or_improved=value["disease_stable"],
                decrease_disease_related=value["disease_related"],
                low_counts_days=None,
                drug_related=True,
                monograph=monograph,
            )
        elif kind == "liver":
            need("bilirubin_x_uln", "ast_alt_x_uln")
            advice = dm.liver_advice(value["bilirubin_x_uln"], value["ast_alt_x_uln"], cause=None, no_recovery=value["no_recovery"], monograph=monograph)
        elif kind == "vod":
            advice = dm.vod_sos_advice(monograph)
        elif kind == "non-hematologic":
            need("grade")
            advice = dm.non_hematologic_advice(value["grade"], value["pretreatment_grade"] or "0", monograph=monograph)
        else:
            need("grade")
            advice = dm.infusion_reaction_advice(value["grade"], monograph)
        records = self.courses.assess(mrn, list(advice), self._user(), expected=self._expected())
        if not records:
            return "Nothing to advise for these findings."
        return f"{len(records)} advice item(s) stored for a decision (see Dose modifications)."

    def _lab(self) -> str:
        from ..domain.instants import parse_iso_instant
        from ..domain.labs import LAB_TITLES, lab_summary

        f = self.fields["lab"]
        kind = f["kind"].currentData()
        values: dict[str, Any] = {}
        for name, _label, entry in LAB_FORMS[kind][1]:
            widget = f[name]
            values[name] = widget.currentData() if isinstance(widget, QComboBox) else widget.text().strip()
        taken_text = f["taken"].text().strip()
        taken = parse_iso_instant(taken_text, "Taken at") if taken_text else None
        done = self.courses.record_lab(self._mrn_now(), kind, values, taken, self._user(), expected=self._expected())
        for widget in f.values():
            if isinstance(widget, QComboBox) and widget is not f["kind"]:
                widget.setCurrentIndex(0)
        text = f"{LAB_TITLES[kind][:1].upper()}{LAB_TITLES[kind][1:]} recorded: {lab_summary(done.result)}."
        stopping = [a for a in done.advice if a.blocks_dosing]
        if stopping:
            text += " " + " ".join(f"{a.message}." for a in stopping) + " (Dose modifications)"
        return text

    def _lab_override(self) -> str:
        self.courses.override_labs(self._mrn_now(), self.fields["lab_override"]["reason"].text().strip(), self._user(), expected=self._expected())
        return "Labs overridden for the next dose; the reason is kept with the course."

    def _checklist(self) -> str:
        f = self.fields["checklist"]
        answers = {name: (w.currentData() if isinstance(w, QComboBox) else w.text().strip()) for name, w in f.items()}
        self.courses.complete_checklist(self._mrn_now(), answers, self._user(), expected=self._expected())
        for widget in f.values():
            if isinstance(widget, QComboBox):
                widget.setCurrentIndex(0)
        return "Course-start checklist completed."
