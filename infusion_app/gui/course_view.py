"""A patient's treatment course: cycles on a calendar, doses with their windows, responses,
dose modifications advised and decided, and whether (and why) a cycle is the last.

Everything shown comes from infusion_app.service.course.CourseService.status(), i.e. from the
course engine (domain/course.py, domain/dose_modification.py) applied to what is stored, on
the service clock's date. This view only lays it out. A pharmacist may store the advice the
engine gives today and record the prescriber's decision on it (who decided, who recorded it,
why); the service checks the role and audits both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QTextCharFormat
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCalendarWidget,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..domain.course import AdviceRecord, CourseBlocked, CourseStatus, CyclePlan, PlannedDose
from ..domain.errors import ValidationError
from ..domain.formatting import format_amount, format_instant, format_number
from ..domain.preparation import StepRefused
from ..domain.records import Role, User, mrn_key
from .widgets import message_label, set_role
from .errors import error_text

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.preparations import PreparationService
    from ..service.course import CourseService

# Calendar colours, each paired with black text (contrast above 7:1). Colour is never the only
# cue: the day's meaning is spelled out under the calendar and in the doses table.
WINDOW_COLOUR = "#E3F2FD"  # a day a dose may be given on
PLANNED_COLOUR = "#90CAF9"  # the planned dose day
GIVEN_COLOUR = "#A5D6A7"  # a dose given
OMITTED_COLOUR = "#E0E0E0"  # a dose omitted by decision
LEGEND = (
    (PLANNED_COLOUR, "planned dose day"),
    (WINDOW_COLOUR, "window it may be given in"),
    (GIVEN_COLOUR, "dose given"),
    (OMITTED_COLOUR, "dose omitted"),
)


def _qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def _pydate(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def _days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _mg_per_m2(dose: PlannedDose) -> str:
    if dose.mg_per_m2 is None:
        return "omitted"
    text = format_amount(dose.mg_per_m2, "mg/m²")
    if dose.standard_mg_per_m2 and abs(dose.mg_per_m2 - dose.standard_mg_per_m2) > 1e-9:
        text += f" (standard {format_amount(dose.standard_mg_per_m2, 'mg/m²')})"
    return text


def _window(dose: PlannedDose) -> str:
    if dose.earliest == dose.latest:
        return f"{dose.planned.isoformat()} only"
    return f"{dose.earliest.isoformat()} to {dose.latest.isoformat()}"


def _item(text: str, tooltip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    # The whole text on hover: a row is at most MAX_ROW_LINES lines tall, a longer text is cut there.
    item.setToolTip(tooltip or text)
    return item


MAX_ROW_LINES = 6


def _table(headers: list[str], parent: QWidget, stretch: int) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setWordWrap(True)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    for column in range(len(headers)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    # Rows follow their text as the columns get their widths: sized once when the table was filled on a
    # hidden tab (narrow columns), a 200-row labs history kept rows 181 px tall once shown. Capped, so
    # that no row outgrows the view whatever its text.
    rows = table.verticalHeader()
    rows.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    rows.setMaximumSectionSize(MAX_ROW_LINES * table.fontMetrics().lineSpacing() + 10)
    return table


class DecisionDialog(QDialog):
    """Record the prescriber's decision on one advice: accepted or not, by whom, why."""

    def __init__(self, advice_text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("decisionDialog")
        self.setWindowTitle("Record a decision on the advice")
        layout = QVBoxLayout(self)
        layout.addWidget(message_label(advice_text, "warning", self))
        form = QFormLayout()
        choice = QHBoxLayout()
        self.accept_choice = QRadioButton("&Accepted", self)
        self.decline_choice = QRadioButton("&Not accepted", self)
        self.accept_choice.setChecked(True)
        choice.addWidget(self.accept_choice)
        choice.addWidget(self.decline_choice)
        choice.addStretch(1)
        form.addRow("Decision:", choice)
        self.decided_by = QLineEdit(self)
        self.decided_by.setPlaceholderText("the prescriber who decided")
        self.reason = QLineEdit(self)
        self.reason.setPlaceholderText("why (recorded)")
        for text, widget in (("Decided &by:", self.decided_by), ("&Reason:", self.reason)):
            label = QLabel(text, self)
            label.setBuddy(widget)
            form.addRow(label, widget)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("&Record decision")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(620)

    def values(self) -> tuple[bool, str, str]:
        return self.accept_choice.isChecked(), self.decided_by.text(), self.reason.text()


def ask_decision(advice_text: str, parent: QWidget) -> tuple[bool, str, str] | None:
    dialog = DecisionDialog(advice_text, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.values()


class CourseView(QWidget):
    """One patient's course, chosen by MRN (typed, picked, or scanned from a wristband)."""

    def __init__(
        self,
        service: PreparationService,
        user: User,
        parent: QWidget | None = None,
        *,
        courses: CourseService | None = None,
        ask_decision: Callable[[str, QWidget], tuple[bool, str, str] | None] = ask_decision,
    ):
        super().__init__(parent)
        self.setObjectName("courseView")
        self.service = service
        self._user = user
        if courses is None:
            from ..service.course import CourseService

            courses = CourseService(service)
        self.courses = courses
        self._ask_decision = ask_decision
        self.status: CourseStatus | None = None
        self._advice_rows: list[Any] = []

        # The page scrolls: a course blocked several ways (blasts, checklist, labs) made the summary
        # so tall that, under a two-line alarm banner at 1280 x 800, the calendar was squeezed below
        # its own minimum and its legend drawn over its last two weeks.
        page = QVBoxLayout(self)
        page.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setObjectName("coursePageScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        content = QWidget(scroll)
        outer = QVBoxLayout(content)
        outer.addLayout(self._build_chooser())
        self.message = message_label("", "", self)
        self.message.setObjectName("courseMessage")
        outer.addWidget(self.message)
        outer.addWidget(self._build_summary())

        body = QHBoxLayout()
        body.addLayout(self._build_calendar(), 0)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("courseTabs")
        doses_page = QWidget(self)
        doses_layout = QVBoxLayout(doses_page)
        doses_layout.setContentsMargins(0, 0, 0, 0)
        self.doses_table = _table(["Cycle", "Day", "Planned", "Window", "Dose", "Given", "Status", "Preparation"], doses_page, 7)
        self.doses_table.setObjectName("dosesTable")
        self.doses_table.setWordWrap(False)
        self.doses_table.itemSelectionChanged.connect(self._dose_selected)
        self.dose_notes = message_label("", "", doses_page)
        self.dose_notes.setObjectName("doseNotes")
        doses_layout.addWidget(self.doses_table, 1)
        doses_layout.addWidget(self.dose_notes)
        self.responses_table = _table(["Assessed on", "Response", "MRD"], self, 2)
        self.responses_table.setObjectName("responsesTable")
        self.tabs.addTab(doses_page, "&Doses")
        self.tabs.addTab(self.responses_table, "&Responses")
        self.tabs.addTab(self._build_modifications(), "Dose &modifications")
        self.tabs.addTab(self._build_labs(), "&Labs")
        from .course_forms import CourseForms

        self.forms = CourseForms(
            self.courses,
            user=lambda: self.user,
            mrn=lambda: self.mrn.currentText(),
            done=self._form_recorded,
            parent=self,
            shown_version=self.shown_version,
        )
        # Scrolled: the longest form (labs) must not make the window taller than a 1280 x 800 screen.
        self.forms_page = QScrollArea(self)
        self.forms_page.setObjectName("courseFormsPage")
        self.forms_page.setWidgetResizable(True)
        self.forms_page.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the forms fit its width
        self.forms_page.setWidget(self.forms)
        self.tabs.addTab(self.forms_page, "Re&cord")
        body.addWidget(self.tabs, 1)
        outer.addLayout(body, 1)
        scroll.setWidget(content)
        page.addWidget(scroll)
        self.show_status(None)

    @property
    def user(self) -> User:
        return self._user

    @user.setter
    def user(self, user: User) -> None:
        # The main window switches users; what this person may do changes with them.
        self._user = user
        self._advice_selection_changed()

    # -- layout ------------------------------------------------------------------------------

    def _build_chooser(self) -> QHBoxLayout:
        row = QHBoxLayout()
        label = QLabel("Patient &MRN:", self)
        self.mrn = QComboBox(self)
        self.mrn.setObjectName("courseMrn")
        self.mrn.setEditable(True)
        self.mrn.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.mrn.lineEdit().setPlaceholderText("type, pick or scan the wristband")
        self.mrn.setMinimumWidth(320)
        self.mrn.lineEdit().returnPressed.connect(self.show_selected)
        self.mrn.activated.connect(lambda _index: self.show_selected())
        label.setBuddy(self.mrn)
        self.show_button = QPushButton("&Show course", self)
        self.show_button.setObjectName("showCourseButton")
        self.show_button.clicked.connect(self.show_selected)
        self.refresh_button = QPushButton("Re&fresh", self)
        self.refresh_button.clicked.connect(self.refresh)
        row.addWidget(label)
        row.addWidget(self.mrn)
        row.addWidget(self.show_button)
        row.addWidget(self.refresh_button)
        row.addStretch(1)
        self.reload_mrns()
        return row

    def _build_summary(self) -> QWidget:
        box = QFrame(self)
        box.setObjectName("courseSummary")
        box.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(box)
        self.title = message_label("", "heading", box)
        self.title.setObjectName("courseTitle")
        self.limit_label = message_label("", "", box)
        self.limit_label.setObjectName("courseLimit")
        self.last_label = message_label("", "", box)
        self.last_label.setObjectName("courseLast")
        self.next_label = message_label("", "", box)
        self.next_label.setObjectName("courseNext")
        self.blocks_label = message_label("", "hardstop", box)
        self.blocks_label.setObjectName("courseBlocks")
        for widget in (self.title, self.limit_label, self.last_label, self.next_label, self.blocks_label):
            layout.addWidget(widget)
        return box

    def _build_calendar(self) -> QVBoxLayout:
        column = QVBoxLayout()
        self.calendar = QCalendarWidget(self)
        self.calendar.setObjectName("courseCalendar")
        self.calendar.setGridVisible(True)
        self.calendar.setFirstDayOfWeek(Qt.DayOfWeek.Monday)
        self.calendar.setVerticalHeaderFormat(QCalendarWidget.VerticalHeaderFormat.NoVerticalHeader)
        self.calendar.setMinimumSize(420, 300)
        self.calendar.selectionChanged.connect(self._date_selected)
        column.addWidget(self.calendar)
        legend = QGridLayout()
        legend.setSpacing(4)
        for index, (colour, text) in enumerate(LEGEND):
            swatch = QLabel(text, self)
            swatch.setStyleSheet(f"background: {colour}; color: #000000; padding: 2px 6px;")
            legend.addWidget(swatch, index // 2, index % 2)
        column.addLayout(legend)
        self.day_label = message_label("", "", self)
        self.day_label.setObjectName("courseDay")
        self.day_label.setMaximumWidth(440)
        column.addWidget(self.day_label)
        column.addStretch(1)
        return column

    def _build_modifications(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        self.advised_label = message_label("", "", page)
        self.advised_label.setObjectName("advisedNow")
        layout.addWidget(self.advised_label)
        self.advice_table = _table(["Raised on", "Advice", "Decision"], page, 1)
        self.advice_table.setObjectName("adviceTable")
        self.advice_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        self.advice_table.setColumnWidth(2, 330)
        self.advice_table.itemSelectionChanged.connect(self._advice_selection_changed)
        # Rows grow with their wrapped text whatever the column widths become.
        self.advice_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.advice_table, 1)
        self.advice_detail = message_label("", "", page)
        self.advice_detail.setObjectName("adviceDetail")
        layout.addWidget(self.advice_detail)
        buttons = QHBoxLayout()
        self.store_advice_button = QPushButton("&Store today's advice", page)
        self.store_advice_button.setObjectName("storeAdviceButton")
        self.store_advice_button.setToolTip("Keep the engine's advice of today in the course, to decide on it")
        self.store_advice_button.clicked.connect(self.store_advice)
        self.decide_button = QPushButton("Record de&cision…", page)
        self.decide_button.setObjectName("decideButton")
        self.decide_button.clicked.connect(self.decide_selected)
        buttons.addStretch(1)
        buttons.addWidget(self.store_advice_button)
        buttons.addWidget(self.decide_button)
        layout.addLayout(buttons)
        self.advice_message = message_label("", "", page)
        self.advice_message.setObjectName("adviceMessage")
        layout.addWidget(self.advice_message)
        return page

    def _build_labs(self) -> QWidget:
        # Scrolled: the checklist, the labs needed and the warnings are long texts at 1280 x 800.
        scroll = QScrollArea(self)
        scroll.setObjectName("courseLabsPage")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        page = QWidget(scroll)
        layout = QVBoxLayout(page)
        self.checklist_label = message_label("", "", page)
        self.checklist_label.setObjectName("courseChecklist")
        layout.addWidget(self.checklist_label)
        self.labs_needed_label = message_label("", "", page)
        self.labs_needed_label.setObjectName("labsNeeded")
        layout.addWidget(self.labs_needed_label)
        # What the values say before the next dose (QT, low counts, liver tests after a dose): the engine's flags.
        self.dose_checks_label = message_label("", "warning", page)
        self.dose_checks_label.setObjectName("doseChecks")
        self.dose_checks_label.setWordWrap(True)
        layout.addWidget(self.dose_checks_label)
        self.labs_table = _table(["Taken", "Test", "Result", "Recorded by"], page, 2)
        self.labs_table.setObjectName("labsTable")
        layout.addWidget(self.labs_table, 1)
        self.lab_overrides_label = message_label("", "warning", page)
        self.lab_overrides_label.setObjectName("labOverrides")
        layout.addWidget(self.lab_overrides_label)
        # The label's other warnings beside the labs they concern (the course's own drug's: _fill_labs).
        self.warnings_label = message_label("", "", page)
        self.warnings_label.setObjectName("courseWarnings")
        layout.addWidget(self.warnings_label)
        # Room for a dozen results on screen; a longer history scrolls inside the table.
        self.labs_table.setMinimumHeight(max(180, 14 * self.labs_table.fontMetrics().lineSpacing()))
        scroll.setWidget(page)
        return scroll

    # -- loading -----------------------------------------------------------------------------

    def reset(self) -> None:
        """No course shown and nothing typed in the forms (another person signed in)."""
        self.mrn.setCurrentText("")
        self.show_status(None)
        self.forms.reset()
        self._say(self.message, "", "")
        self._say(self.advice_message, "", "")

    def reload_mrns(self) -> None:
        current = self.mrn.currentText()
        self.mrn.blockSignals(True)
        self.mrn.clear()
        self.mrn.addItems(self.courses.mrns())
        self.mrn.setCurrentText(current)
        self.mrn.blockSignals(False)

    def show_selected(self) -> None:
        self.show_course(self.mrn.currentText())

    def show_course(self, mrn: str) -> bool:
        mrn = mrn.strip()
        if not mrn:
            self._say(self.message, "MRN: type, pick or scan the patient's MRN.", "error")
            return False
        try:
            status = self.courses.status(mrn)
        except ValidationError as exc:
            self._say(self.message, error_text(exc), "error")
            return False
        self._say(self.message, "", "")
        self.mrn.setCurrentText(status.mrn)
        self.show_status(status)
        return True

    def shown_version(self, mrn: str) -> int | None:
        """The version of this MRN's course as shown (None when another or none is shown)."""
        if self.status is None or self.status.mrn != " ".join(mrn.split()):
            return None
        return self.status.course.version

    def refresh(self) -> None:
        self.reload_mrns()
        if self.status is not None:
            self.show_course(self.status.mrn)

    def _patient_name(self, mrn: str) -> str | None:
        """The name on the patient's latest preparation (a course record holds only the MRN)."""
        # The plain stored records: a full status (deadlines, allowed steps) per preparation is not needed here.
        for prep in self.service.repository.list_preparations(limit=200):
            if mrn_key(prep.patient.mrn) == mrn_key(mrn):
                return prep.patient.name
        return None

    # -- showing -----------------------------------------------------------------------------

    def show_status(self, status: CourseStatus | None) -> None:
        self.status = status
        self._fill_summary(status)
        self._fill_calendar(status)
        self._fill_doses(status)
        self._fill_responses(status)
        self.forms.show_drug()
        self._fill_warnings(status)
        self._fill_advice(status)
        self._fill_labs(status)

    def _fill_warnings(self, status: CourseStatus | None) -> None:
        """The course's drug's other warnings (the boxed one stays on the sheet and label); its responses tab only if it has responses."""
        m = status.monograph if status is not None else None
        text = ""
        if m is not None and m.raw.get("warnings", {}).get("other"):
            text = "Warnings and precautions: " + "; ".join(str(w) for w in m.items("warnings.other")) + f"\nSource: {m.fact('warnings.other').citation}"
        self.warnings_label.setText(text)
        self.tabs.setTabVisible(self.tabs.indexOf(self.responses_table), m is None or bool(m.response_choices()))

    def _fill_labs(self, status: CourseStatus | None) -> None:
        from ..domain.labs import LAB_TITLES, lab_summary

        from ..domain import checklist

        if status is None:
            self._say(self.checklist_label, "", "")
        else:
            shown = checklist.lines(status.course, status.monograph)
            done = status.course.checklist is not None and not checklist.missing(status.course, status.monograph)
            self._say(self.checklist_label, "\n".join(shown), "" if done else "hardstop")
        results = list(reversed(status.course.labs)) if status else []  # the newest first
        self.labs_table.setRowCount(len(results))
        for row, result in enumerate(results):
            texts = (format_instant(result.taken_at), LAB_TITLES[result.kind].split(" (")[0], lab_summary(result), result.recorded_by)
            for column, text in enumerate(texts):
                self.labs_table.setItem(row, column, _item(text))
        if status is None or status.next_dose is None:
            self._say(self.labs_needed_label, "", "")
        elif status.labs_needed:
            nd = status.next_dose
            self._say(
                self.labs_needed_label,
                f"Labs needed before cycle {nd.cycle} Day {nd.day}: "
                + "; ".join(status.labs_needed)
                + ". Record them (Record, Labs before a dose) or a pharmacist overrides with a reason.",
                "hardstop",
            )
        else:
            self._say(self.labs_needed_label, f"The labs for cycle {status.next_dose.cycle} Day {status.next_dose.day} are on file.", "ok")
        flags = status.next_dose.flags if status is not None and status.next_dose is not None else ()
        self._say(self.dose_checks_label, "\n".join(f"CHECK: {f}" for f in flags), "warning")
        overrides = status.course.lab_overrides if status else []
        self.lab_overrides_label.setText(
            "\n".join(
                f"Labs overridden for cycle {o.cycle} Day {o.day} by {o.pharmacist} ({format_instant(o.at)}): {o.reason} (missing: {'; '.join(o.missing)})"
                for o in overrides
            )
        )
        self.lab_overrides_label.setVisible(bool(overrides))

    def _fill_summary(self, status: CourseStatus | None) -> None:
        if status is None:
            self.title.setText("No course shown")
            for label in (self.limit_label, self.last_label, self.next_label):
                self._say(label, "", "")
            self.blocks_label.hide()
            return
        name = self._patient_name(status.mrn)
        who = f"{name} · MRN {status.mrn}" if name else f"MRN {status.mrn}"
        m = status.monograph
        if m.regimen is not None:
            # A regimen's course: the drug and regimen, which decide its cycles (no HSCT rule does).
            self.title.setText(f"{who} · {m.brand_name} ({m.generic_name}) · {m.regimen_name(m.regimen.id)}")
        else:
            hsct = "HSCT planned" if status.hsct_planned else "no HSCT planned"
            self.title.setText(f"{who} · {hsct}")
        limit = status.limit
        current = f"cycle {status.current_cycle}" if status.current_cycle else "no cycle started"
        plan = status.plan
        dates = f" ({plan.start.isoformat()} to {plan.end.isoformat()}, {plan.length_days} days)" if plan else ""
        reduction = ""
        if status.reduction.level:
            per_cycle = f", {status.reduction.doses_per_cycle} doses per cycle" if status.reduction.doses_per_cycle else ""
            reduction = f" Reduced for toxicity: cycle total −{format_number(status.reduction.reduce_pct, 1)}%{per_cycle}."
        self._say(
            self.limit_label,
            f"Now {current}{dates}. At most {limit.max_cycles} cycle{'s' if limit.max_cycles != 1 else ''}: {limit.why}.{reduction}",
            "",
        )
        if status.discontinued:
            course = status.course
            self._say(
                self.last_label,
                f"Course discontinued on {course.discontinued_on.isoformat()}: {course.discontinued_reason}",
                "hardstop",
            )
        elif status.is_last_cycle:
            self._say(self.last_label, f"LAST CYCLE — {status.why_last}", "warning")
        elif status.current_cycle:
            self._say(self.last_label, f"Cycle {status.current_cycle} is not the last of up to {limit.max_cycles}.", "")
        else:
            self._say(self.last_label, "", "")
        nxt = status.next_dose
        if nxt is None:
            self._say(self.next_label, "No dose is planned now.", "")
        else:
            window = (
                f"on {nxt.planned.isoformat()}"
                if nxt.earliest == nxt.latest
                else f"planned {nxt.planned.isoformat()}, window {nxt.earliest.isoformat()} to {nxt.latest.isoformat()}"
            )
            dose = format_amount(nxt.mg_per_m2, "mg/m²") if nxt.mg_per_m2 is not None else "omitted"
            role = {"overdue": "hardstop", "due": "ok"}.get(nxt.state, "")
            self._say(
                self.next_label,
                f"Next dose: cycle {nxt.cycle} Day {nxt.day}, {window}, {dose} — {nxt.state.upper()}",
                role,
            )
        blocks = list(status.blocks)
        if nxt is not None:  # what stops this dose only (the labs it needs) as well as the course's blocks
            blocks += [b for b in nxt.blocked_by if b not in blocks]
        self.blocks_label.setText("\n".join(f"BLOCKED: {b}" for b in blocks))
        self.blocks_label.setVisible(bool(blocks))

    def _fill_calendar(self, status: CourseStatus | None) -> None:
        self.calendar.setDateTextFormat(QDate(), QTextCharFormat())  # clears every date
        if status is None:
            self.day_label.setText("")
            return

        def fmt(colour: str, bold: bool = False, strike: bool = False) -> QTextCharFormat:
            f = QTextCharFormat()
            f.setBackground(QBrush(QColor(colour)))
            f.setForeground(QBrush(QColor("#000000")))
            if bold:
                f.setFontWeight(QFont.Weight.Bold)
            f.setFontStrikeOut(strike)
            return f

        window, planned = fmt(WINDOW_COLOUR), fmt(PLANNED_COLOUR, bold=True)
        given, omitted = fmt(GIVEN_COLOUR, bold=True), fmt(OMITTED_COLOUR, strike=True)
        # Windows first, then planned days, then what happened, so the most certain fact shows.
        for plan in status.plans:
            for dose in plan.doses:
                if dose.status == "planned":
                    for day in _days(dose.earliest, dose.latest):
                        self.calendar.setDateTextFormat(_qdate(day), window)
        for plan in status.plans:
            for dose in plan.doses:
                if dose.status == "planned":
                    self.calendar.setDateTextFormat(_qdate(dose.planned), planned)
                elif dose.status == "omitted":
                    self.calendar.setDateTextFormat(_qdate(dose.planned), omitted)
        for plan in status.plans:
            for dose in plan.doses:
                if dose.given is not None:
                    self.calendar.setDateTextFormat(_qdate(dose.given), given)
        focus = status.next_dose.planned if status.next_dose else (status.plan.start if status.plan else status.today)
        self.calendar.setSelectedDate(_qdate(focus))
        self._date_selected()

    def _events_on(self, day: date) -> list[str]:
        if self.status is None:
            return []
        found = []
        for plan in self.status.plans:
            for dose in plan.doses:
                name = f"Cycle {plan.cycle} Day {dose.day}"
                if dose.given == day:
                    found.append(f"{name}: given ({_mg_per_m2(dose)})")
                if dose.planned == day and dose.status != "given":
                    found.append(f"{name}: planned, {_mg_per_m2(dose)}, window {_window(dose)}")
                elif dose.status == "planned" and dose.earliest <= day <= dose.latest:
                    found.append(f"{name}: may be given (window {_window(dose)})")
            if plan.start == day:
                found.append(f"Cycle {plan.cycle} starts ({plan.length_days} days)")
        for response in self.status.course.responses:
            if response.assessed_on == day:
                found.append(f"Response assessed: {self.status.monograph.response_words(response.response)}")
        return found

    def _date_selected(self) -> None:
        day = _pydate(self.calendar.selectedDate())
        found = self._events_on(day)
        self.day_label.setText(f"{day.isoformat()}: " + ("; ".join(found) if found else "nothing planned"))

    def _fill_doses(self, status: CourseStatus | None) -> None:
        plans: tuple[CyclePlan, ...] = status.plans if status else ()
        rows = [(plan, dose) for plan in plans for dose in plan.doses]
        self.doses_table.setRowCount(len(rows))
        for row, (plan, dose) in enumerate(rows):
            values = [
                str(plan.cycle),
                str(dose.day),
                dose.planned.isoformat(),
                _window(dose),
                _mg_per_m2(dose),
                dose.given.isoformat() if dose.given else "",
                dose.status + (" *" if dose.notes else ""),
                dose.preparation_id or "",
            ]
            notes = f"Cycle {plan.cycle} Day {dose.day}: " + "; ".join(dose.notes) if dose.notes else ""
            for column, text in enumerate(values):
                item = _item(text, notes)
                item.setData(Qt.ItemDataRole.UserRole, (dose.given or dose.planned).isoformat())
                item.setData(Qt.ItemDataRole.UserRole + 1, notes)
                self.doses_table.setItem(row, column, item)
        # A plan with fewer days than its regimen says why (a child's days) under the table.
        lines = [f"Cycle {p.cycle}: {p.schedule_note}" for p in plans if p.schedule_note]
        lines += ["* has notes: select the row to read them."] if any(d.notes for _p, d in rows) else []
        self.dose_notes.setText("\n".join(lines))

    def _fill_responses(self, status: CourseStatus | None) -> None:
        responses = list(status.course.responses) if status else []
        self.responses_table.setRowCount(len(responses))
        for row, response in enumerate(responses):
            mrd = {True: "negative", False: "positive", None: "not assessed"}[response.mrd_negative]
            for column, text in enumerate((response.assessed_on.isoformat(), status.monograph.response_words(response.response), mrd)):
                self.responses_table.setItem(row, column, _item(text))

    def _fill_advice(self, status: CourseStatus | None) -> None:
        if status is None:
            self.advised_label.setText("")
            self.advice_table.setRowCount(0)
            self._advice_selection_changed()
            return
        records = list(status.course.advice)
        stored = {(r.advice.code, r.advice.cycle, r.advice.day) for r in records}
        # Today's advice not yet stored is listed too (yellow), so nothing advised is out of sight.
        fresh = [a for a in status.advice if (a.code, a.cycle, a.day) not in stored]
        if fresh:
            self._say(
                self.advised_label,
                f"The label advises {len(fresh)} thing(s) today that are not yet stored (yellow rows). "
                "A pharmacist stores them to record the prescriber's decision.",
                "warning",
            )
        else:
            self._say(self.advised_label, "Nothing new is advised today.", "")
        rows: list[tuple[Any, str, str, str]] = []
        for advice in fresh:
            rows.append((advice, "today", "not stored yet", ""))
        for record in records:
            advice, decision = record.advice, record.decision
            if decision is None:
                verdict = "OPEN: no decision recorded"
            else:
                verdict = (
                    f"{'ACCEPTED' if decision.accepted else 'NOT ACCEPTED'} by {decision.decided_by}\n"
                    f"why: {decision.reason}\n"
                    f"recorded by {decision.recorded_by}, {format_instant(decision.at)}"
                )
            rows.append((record, record.raised_on.isoformat(), verdict, "record"))
        self.advice_table.setRowCount(len(rows))
        highlight = QBrush(QColor("#FFF59D"))
        for row, (entry, raised, verdict, kind) in enumerate(rows):
            advice = entry.advice if kind == "record" else entry
            where = f"\ncycle {advice.cycle}" + (f" Day {advice.day}" if advice.day else "") if advice.cycle else ""
            for column, text in enumerate((raised + where, advice.message, verdict)):
                item = _item(text, text)
                item.setData(Qt.ItemDataRole.UserRole, entry.id if kind == "record" else None)
                if kind != "record":
                    item.setBackground(highlight)
                self.advice_table.setItem(row, column, item)
        self._advice_rows = [entry for entry, *_rest in rows]
        self._advice_selection_changed()

    # -- interaction -------------------------------------------------------------------------

    def _dose_selected(self) -> None:
        rows = self.doses_table.selectionModel().selectedRows()
        if not rows:
            return
        item = self.doses_table.item(rows[0].row(), 0)
        day = date.fromisoformat(item.data(Qt.ItemDataRole.UserRole))
        self.calendar.setSelectedDate(_qdate(day))
        notes = item.data(Qt.ItemDataRole.UserRole + 1)
        self.dose_notes.setText(notes or "")

    def _selected_advice(self):
        """The selected row: an AdviceRecord (stored), an Advice (today's, not stored) or None."""
        if self.status is None:
            return None
        rows = self.advice_table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self._advice_rows):
            return None
        return self._advice_rows[rows[0].row()]

    def _advice_selection_changed(self) -> None:
        pharmacist = self.user.role is Role.PHARMACIST
        selected = self._selected_advice()
        record = selected if isinstance(selected, AdviceRecord) else None
        self.decide_button.setEnabled(pharmacist and record is not None and record.decision is None)
        self.store_advice_button.setEnabled(pharmacist and self.status is not None and bool(self.status.advice))
        tip = "" if pharmacist else "Only a pharmacist records advice and decisions."
        self.decide_button.setToolTip(tip)
        if selected is None:
            self.advice_detail.setText("Select an advice to see the rule it applies and its source.")
        else:
            advice = selected.advice if isinstance(selected, AdviceRecord) else selected
            rules = [f"{s.path}: {s.citation}" + (" (pending pharmacist review)" if s.verify else "") for s in advice.sources]
            self.advice_detail.setText(f"Rule ({advice.action.value}): " + ("; ".join(rules) if rules else "from the course record"))

    def _form_recorded(self, mrn: str, text: str) -> None:
        self.reload_mrns()
        self.mrn.setCurrentText(mrn)
        self.show_course(mrn)

    def store_advice(self) -> None:
        if self.status is None:
            return
        try:
            stored = self.courses.assess(self.status.mrn, list(self.status.advice), self.user, expected=self.status.course.version)
        except (ValidationError, StepRefused, CourseBlocked) as exc:
            self._say(self.advice_message, _why(exc), "error")
            return
        self.show_course(self.status.mrn)
        self._say(self.advice_message, f"Stored {len(stored)} advice item(s) for a decision.", "ok")

    def decide_selected(self) -> None:
        record = self._selected_advice()
        if not isinstance(record, AdviceRecord) or self.status is None:
            return
        answer = self._ask_decision(record.advice.message, self)
        if answer is None:
            return
        accepted, decided_by, reason = answer
        try:
            self.courses.decide(self.status.mrn, record.id, accepted, decided_by, reason, self.user, expected=self.status.course.version)
        except (ValidationError, StepRefused, CourseBlocked) as exc:
            self._say(self.advice_message, _why(exc), "error")
            return
        self.show_course(self.status.mrn)
        self._say(self.advice_message, "Decision recorded.", "ok")

    @staticmethod
    def _say(label: QLabel, text: str, role: str) -> None:
        label.setText(text)
        label.setVisible(bool(text))
        set_role(label, role)


def _why(exc: Exception) -> str:
    return error_text(exc)
