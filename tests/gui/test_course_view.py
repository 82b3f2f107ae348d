"""The course view: a stored course's cycles, doses, windows, responses and advice, as shown."""

from __future__ import annotations

from tests.drugs import BESPONSA

import shutil
from datetime import date, datetime, timezone

import pytest
from PySide6.QtCore import QDate, Qt

from infusion_app.domain.clock import FakeClock
from infusion_app.gui.course_view import GIVEN_COLOUR, PLANNED_COLOUR, WINDOW_COLOUR, CourseView
from infusion_app.service.course import CourseService
from tests.lab_helpers import NORMAL, labs_for_dose

MRN = "MRN1001"


TODAY = datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FakeClock:
    # The course below runs from February; 'today' is in its second cycle.
    return FakeClock(TODAY)


def record_the_course(courses, pharmacist, nurse) -> None:
    courses.new_course(MRN, False, pharmacist, monograph=BESPONSA)
    courses.record_blasts(MRN, 5000, date(2026, 2, 1), nurse)
    courses.start_cycle(MRN, date(2026, 2, 2), pharmacist)
    for cycle, day, given in ((1, 1, date(2026, 2, 2)), (1, 8, date(2026, 2, 10)), (1, 15, date(2026, 2, 16))):
        labs_for_dose(courses, MRN, given, nurse, pharmacist if day == 1 else None)
        courses.record_dose(MRN, cycle, day, given, nurse)
    courses.record_response(MRN, date(2026, 2, 20), "cr", False, pharmacist)
    courses.start_cycle(MRN, date(2026, 2, 23), pharmacist)
    labs_for_dose(courses, MRN, date(2026, 2, 23), nurse)
    courses.record_dose(MRN, 2, 1, date(2026, 2, 23), nurse)


@pytest.fixture(scope="module")
def course_data_dir(tmp_path_factory, template_data_dir):
    """The users' data folder with the course below recorded, made once for this module: its
    thirty-odd writes ran again for each test that shows it (issue 19)."""
    from infusion_app.service import open_service

    folder = tmp_path_factory.mktemp("course-template") / "data"
    shutil.copytree(template_data_dir, folder)
    with open_service(data_dir=folder, clock=FakeClock(TODAY)) as service:
        record_the_course(CourseService(service), service.user("Phil Pharm"), service.user("Nora Nurse"))
    return folder


@pytest.fixture
def data_dir(request, tmp_path, template_data_dir):
    """A copy of the users' data folder, with the course recorded for a test that takes `courses`."""
    template = request.getfixturevalue("course_data_dir") if "courses" in request.fixturenames else template_data_dir
    folder = tmp_path / "data"
    shutil.copytree(template, folder)
    return folder


@pytest.fixture
def courses(service):
    """The course (record_the_course) as stored in this test's data folder (data_dir)."""
    courses = CourseService(service)
    assert courses.status(MRN).plans, "the course is recorded"
    return courses


def table_rows(table):
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def show(qtbot, view, mrn=MRN):
    view.mrn.setFocus()
    view.mrn.lineEdit().clear()
    qtbot.keyClicks(view.mrn.lineEdit(), mrn)
    qtbot.keyClick(view.mrn.lineEdit(), Qt.Key.Key_Return)  # a wristband scanner ends with Enter


@pytest.fixture
def view(qtbot, service, pharmacist, courses):
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    return view


def test_the_view_shows_each_cycle_dose_with_its_window_and_what_was_given(qtbot, view, courses):
    show(qtbot, view)
    expected = courses.status(MRN)
    rows = table_rows(view.doses_table)
    assert len(rows) == sum(len(p.doses) for p in expected.plans) == 6
    by_key = {(r[0], r[1]): r for r in rows}
    assert by_key[("1", "8")][2:6] == ["2026-02-09", "2026-02-08 to 2026-02-11", "0.5 mg/m²", "2026-02-10"]
    assert by_key[("1", "1")][4] == "0.8 mg/m²"
    day8 = expected.plans[1].dose(8)
    assert by_key[("2", "8")][3] == f"{day8.earliest.isoformat()} to {day8.latest.isoformat()}"
    assert by_key[("2", "8")][5] == "" and by_key[("2", "8")][6].startswith("planned")

    assert "cycle 2" in view.limit_label.text() and "At most 6 cycles" in view.limit_label.text()
    assert "Next dose: cycle 2 Day 8" in view.next_label.text()
    assert table_rows(view.responses_table) == [["2026-02-20", "CR", "positive"]]


def test_the_calendar_marks_given_planned_and_window_days(qtbot, view):
    show(qtbot, view)
    fmt = view.calendar.dateTextFormat
    assert fmt(QDate(2026, 2, 10)).background().color().name().upper() == GIVEN_COLOUR
    assert fmt(QDate(2026, 3, 2)).background().color().name().upper() == PLANNED_COLOUR
    assert fmt(QDate(2026, 3, 1)).background().color().name().upper() == WINDOW_COLOUR
    assert fmt(QDate(2026, 3, 10)).background().color().name().upper() == WINDOW_COLOUR  # Day 15 window starts
    assert fmt(QDate(2026, 2, 5)).background().style() == Qt.BrushStyle.NoBrush
    assert view.calendar.selectedDate() == QDate(2026, 3, 2)  # the next dose
    assert "Cycle 2 Day 8: planned" in view.day_label.text()

    view.doses_table.selectRow(1)
    assert view.calendar.selectedDate() == QDate(2026, 2, 10)
    assert "Cycle 1 Day 8: given" in view.day_label.text()


def test_advice_is_stored_and_a_decision_recorded_with_who_and_why(qtbot, service, pharmacist, courses, clock):
    clock.set(datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc))  # Day 8 of cycle 2 long missed
    answers = [(True, "Dr. Grace Hopper", "counts recovering slowly")]
    view = CourseView(service, pharmacist, courses=courses, ask_decision=lambda text, parent: answers.pop())
    qtbot.addWidget(view)
    view.show()
    show(qtbot, view)
    view.tabs.setCurrentIndex(2)
    # Today's advice, and what the labs before each dose stored (their recovery values).
    assert view.advice_table.rowCount() == len(courses.status(MRN).advice) + len(courses.course(MRN).advice)
    assert len(courses.status(MRN).advice) > 0
    assert "not stored yet" in table_rows(view.advice_table)[0][2]

    qtbot.mouseClick(view.store_advice_button, Qt.MouseButton.LeftButton)
    stored = courses.course(MRN).advice
    assert stored and all(r.decision is None for r in stored)
    omit = next(row for row, r in enumerate(view._advice_rows) if getattr(r, "advice", r).action.value == "omit-next-dose")
    view.advice_table.selectRow(omit)
    assert "dose_modification.interruption" in view.advice_detail.text()
    qtbot.mouseClick(view.decide_button, Qt.MouseButton.LeftButton)

    decided = [r for r in courses.course(MRN).advice if r.decision is not None]
    assert len(decided) == 1
    assert (decided[0].decision.decided_by, decided[0].decision.recorded_by) == ("Dr. Grace Hopper", "Phil Pharm")
    verdicts = [row[2] for row in table_rows(view.advice_table)]
    assert any(v.startswith("ACCEPTED by Dr. Grace Hopper") and "counts recovering slowly" in v for v in verdicts)
    assert view.doses_table.item(4, 6).text().startswith("omitted")  # cycle 2 Day 8, as decided


def test_the_last_cycle_says_why(qtbot, service, pharmacist, nurse):
    courses = CourseService(service)
    courses.new_course("MRN2002", True, pharmacist, monograph=BESPONSA)
    courses.record_blasts("MRN2002", 100, date(2026, 1, 5), nurse)
    courses.start_cycle("MRN2002", date(2026, 1, 5), pharmacist)
    for day, given in ((1, date(2026, 1, 5)), (8, date(2026, 1, 12)), (15, date(2026, 1, 19))):
        labs_for_dose(courses, "MRN2002", given, nurse, pharmacist if day == 1 else None)
        courses.record_dose("MRN2002", 1, day, given, nurse)
    courses.record_response("MRN2002", date(2026, 1, 23), "cr", True, pharmacist)
    courses.start_cycle("MRN2002", date(2026, 1, 26), pharmacist)
    status = courses.status("MRN2002")
    assert status.is_last_cycle

    view = CourseView(service, nurse, courses=courses)
    qtbot.addWidget(view)
    view.show()
    show(qtbot, view, "MRN2002")
    assert view.last_label.text() == f"LAST CYCLE — {status.why_last}"
    assert view.last_label.property("role") == "warning"
    assert not view.store_advice_button.isEnabled()  # a nurse reads; a pharmacist records


def test_an_unknown_mrn_says_so(qtbot, view):
    show(qtbot, view, "NOPE")
    assert view.message.text().startswith("MRN:")
    assert view.status is None
    show(qtbot, view, "")
    assert "MRN" in view.message.text()


def test_the_patient_is_named_from_their_preparation(qtbot, view, make_preparation, courses, pharmacist):
    import dataclasses

    from .conftest import ORDER

    # conftest's PATIENT has MRN1001; the course has cycle 2 Day 8 due today, and the bench follows the course.
    for kind in ("cbc", "liver", "vod-signs"):
        courses.record_lab(MRN, kind, NORMAL[kind], None, pharmacist)
    make_preparation(order=dataclasses.replace(ORDER, cycle=2, day=8, response="cr"))
    show(qtbot, view)
    assert view.title.text().startswith("Ada Lovelace · MRN MRN1001")


def test_no_course_text_is_cut_off_at_1280_by_800(qtbot, service, pharmacist, courses, clock):
    from .conftest import PAGE_SIZE
    from .test_chair import cut_off_texts

    clock.set(datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc))  # overdue dose and advice to show
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(*PAGE_SIZE)
    view.show()
    show(qtbot, view)
    for index in range(view.tabs.count()):
        view.tabs.setCurrentIndex(index)
        assert cut_off_texts(view) == [], view.tabs.tabText(index)


def test_a_course_blocked_three_ways_squeezes_nothing_at_1280_by_800(qtbot, service, pharmacist, courses, clock):
    """Under Xvfb a new course blocked for its blasts, its checklist and its labs made the summary so
    tall that the page squeezed the calendar below its own minimum: the legend was drawn over its
    last two weeks. The page scrolls instead."""
    from .conftest import PAGE_SIZE

    courses.new_course("MRN-NEW", False, pharmacist, monograph=BESPONSA)
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    # The page the main window leaves under an alarm banner of two lines (as seen under Xvfb).
    view.resize(PAGE_SIZE[0], PAGE_SIZE[1] - 50)
    view.show()
    show(qtbot, view, "MRN-NEW")
    assert view.blocks_label.text().count("BLOCKED") >= 3
    # A page needing more height than the window can give it is squeezed below its widgets' minimums.
    assert view.minimumSizeHint().height() <= PAGE_SIZE[1] - 50
    for widget in (view.calendar, view.tabs):
        assert widget.height() >= widget.minimumSizeHint().height(), widget.objectName()
    assert view.calendar.height() >= view.calendar.minimumHeight()


def test_switching_to_a_nurse_takes_the_pharmacist_buttons_away(qtbot, view, nurse, clock):
    clock.set(datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc))
    show(qtbot, view)
    assert view.store_advice_button.isEnabled()
    view.user = nurse
    assert not view.store_advice_button.isEnabled()


def fill_form(qtbot, view, key, **values):
    forms = view.forms
    view.tabs.setCurrentWidget(view.forms_page)
    forms.select(key)
    for name, value in values.items():
        widget = forms.fields[key][name]
        if hasattr(widget, "setChecked"):
            widget.setChecked(bool(value))
        elif hasattr(widget, "findText") and not hasattr(widget, "selectAll"):
            widget.setCurrentIndex(widget.findText(value))
        else:
            widget.clear()
            qtbot.keyClicks(widget, value)
    qtbot.mouseClick(forms.record_button, Qt.MouseButton.LeftButton)
    return forms.message.text()


def test_a_pharmacist_runs_a_whole_course_from_the_forms(qtbot, service, pharmacist, nurse, clock):
    courses = CourseService(service)
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    show(qtbot, view, "MRN7007")
    assert "command" not in view.message.text() and "course new" not in view.message.text()
    # Two drugs installed: none is preselected, and the course is not opened until one is picked (issue 17).
    assert view.forms.fields["new"]["drug"].currentData() is None
    assert "Drug: choose one" in fill_form(qtbot, view, "new")
    assert courses.course("MRN7007") is None
    assert "HSCT planned: choose one" in fill_form(qtbot, view, "new", drug="BESPONSA (inotuzumab ozogamicin)")
    assert fill_form(qtbot, view, "new", hsct="no") == "Course created."
    assert courses.course("MRN7007") is not None
    # a bare count with a point is 10⁹/L, not per mm³: refused with both forms, nothing stored
    text = fill_form(qtbot, view, "blasts", count="12.5", date="2026-03-01")
    assert "Blasts" in text and "type 12500, or 12.5 x10^9/L" in text and courses.course("MRN7007").blasts_per_mm3 is None
    assert "Blasts recorded" in fill_form(qtbot, view, "blasts", count="5000", date="2026-03-01")
    assert "Weight recorded" in fill_form(qtbot, view, "weight", weight="70 kg", date="2026-03-01", dosing=True)
    assert "Cycle started" in fill_form(qtbot, view, "start", date="2026-03-02")
    assert "moved" in fill_form(qtbot, view, "move", date="2026-03-03")
    assert courses.course("MRN7007").cycles[0].start == date(2026, 3, 3)
    text = fill_form(qtbot, view, "start", date="not a date")
    from PySide6.QtCore import QDate, QLocale

    short = QLocale().dateFormat(QLocale.FormatType.ShortFormat)
    shown = QLocale().toString(QDate(2027, 6, 30), short if "yyyy" in short else short.replace("yy", "yyyy"))  # the site's one example
    assert text.startswith("Not recorded — Day 1: 'not a date' is not a date; type it as") and text.endswith(f"e.g. {shown}"), text
    assert "Response recorded" in fill_form(qtbot, view, "response", response="CR", date="2026-03-04")
    assert "extended" in fill_form(qtbot, view, "extend", reason="CR after cycle 1 per protocol")
    assert courses.course("MRN7007").cycles[0].extended_to_28
    text = fill_form(qtbot, view, "assess", kind="Blood counts (ANC, platelets)", anc="2", platelets="50000", baseline_anc="2", baseline_platelets="150")
    assert "'50000' is not accepted; must be 0 to 2,000 × 10⁹/L" in text and "50,000 per µL is 50 × 10⁹/L" in text
    text = fill_form(qtbot, view, "assess", kind="Liver tests (bilirubin, AST/ALT)")
    assert text.startswith("Not recorded — Total bilirubin (× ULN): must be given")
    text = fill_form(qtbot, view, "assess", kind="Liver tests (bilirubin, AST/ALT)", bilirubin_x_uln="2", ast_alt_x_uln="3")
    assert "advice" in text or "Nothing to advise" in text
    assert view.status is not None and view.status.mrn == "MRN7007"


def test_labs_are_recorded_from_the_forms_and_shown_with_what_the_next_dose_still_needs(qtbot, service, pharmacist, nurse, clock):
    courses = CourseService(service)
    courses.new_course("MRN7008", False, pharmacist, monograph=BESPONSA)
    courses.record_blasts("MRN7008", 5000, clock.now().date(), nurse)
    courses.start_cycle("MRN7008", clock.now().date(), pharmacist)
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    show(qtbot, view, "MRN7008")
    assert "labs needed: CBC (ANC, platelets)" in view.blocks_label.text()
    assert view.labs_needed_label.text().startswith("Labs needed before cycle 1 Day 1: CBC")
    text = fill_form(qtbot, view, "lab", kind="CBC (ANC, platelets)", anc="1.8", platelets="140")
    assert text == "Not recorded — Platelet count transfusion-independent: is required; answer yes or no"
    # An ANC per µL typed in the 10⁹/L field (500 per µL, 0.5 × 10⁹/L) read as recovered: refused with the domain's words.
    text = fill_form(qtbot, view, "lab", kind="CBC (ANC, platelets)", anc="500", platelets="140", transfusion_independent="yes")
    assert text.startswith("Not recorded — ANC now: '500' is not accepted; must be 0 to 100 × 10⁹/L") and "500 per µL is 0.5 × 10⁹/L" in text
    assert courses.course("MRN7008").labs == []
    # '1.5 /uL' was kept as ANC 0.0015 × 10⁹/L and shown as 'ANC 0' (review): refused, naming the field
    text = fill_form(qtbot, view, "lab", kind="CBC (ANC, platelets)", anc="1.5 /uL", platelets="140", transfusion_independent="yes")
    assert text.startswith("Not recorded — ANC now: '1.5 /uL' is 1.5 cells per µL, not a whole count") and "e.g. 1.5" in text, text
    assert courses.course("MRN7008").labs == []
    text = fill_form(qtbot, view, "lab", kind="CBC (ANC, platelets)", anc="1.8", platelets="140", transfusion_independent="yes")
    assert text.startswith("CBC (ANC, platelets) recorded: ANC 1.8 × 10⁹/L, platelets 140 × 10⁹/L")
    text = fill_form(qtbot, view, "lab", kind="Liver tests (bilirubin, AST/ALT)", bilirubin="40 umol/L", bilirubin_uln="20 umol/L", ast_alt_x_uln="3")
    assert "liver tests" in text.lower() and "hold until" in text
    assert any("liver-hold" in b for b in courses.status("MRN7008").next_dose.blocked_by)
    assert "ECG" in fill_form(qtbot, view, "lab", kind="ECG (QTc), baseline", qtc_ms="430")
    assert view.labs_table.rowCount() == 3 and view.labs_table.item(0, 2).text() == "QTc 430 ms"
    assert view.labs_needed_label.text().endswith(
        "baseline electrolytes (potassium, magnesium). Record them (Record, Labs before a dose) or a pharmacist overrides with a reason."
    )
    view.user = nurse
    refused = fill_form(qtbot, view, "lab_override", reason="electrolytes pending at the lab")
    assert refused.startswith("Not recorded — ") and "pharmacist" in refused
    view.user = pharmacist
    assert "overridden" in fill_form(qtbot, view, "lab_override", reason="electrolytes pending at the lab")
    assert not view.lab_overrides_label.isHidden() and "electrolytes pending at the lab" in view.lab_overrides_label.text()
    assert not any(b.startswith("labs needed") for b in courses.status("MRN7008").next_dose.blocked_by)


def test_a_vod_sign_answered_yes_in_the_form_stops_the_course_at_once(qtbot, view, courses):
    show(qtbot, view)
    text = fill_form(
        qtbot, view, "lab", kind="VOD/SOS signs (each dose after the first)", weight_gain="no", hepatomegaly="yes", ascites="no", bilirubin_rising="no"
    )
    assert "VOD/SOS signs: painful hepatomegaly" in text and "discontinue permanently" in text
    assert any("vod-sos-discontinue" in b for b in courses.status(MRN).next_dose.blocked_by)
    assert "vod-sos-discontinue" in view.blocks_label.text()


def test_the_pharmacist_completes_the_course_start_checklist_in_the_form(qtbot, service, pharmacist, nurse, clock):
    courses = CourseService(service)
    courses.new_course("MRN7009", True, pharmacist, monograph=BESPONSA)
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    show(qtbot, view, "MRN7009")
    assert view.checklist_label.text().startswith("course-start checklist not completed")
    text = fill_form(
        qtbot,
        view,
        "checklist",
        sex="female",
        reproductive_potential="yes",
        pregnancy_test="negative",
        pregnancy_test_on="2026-03-03",
        contraception_counselled="yes",
        breastfeeding_counselled="yes",
    )
    assert text == (
        "Not recorded — HSCT planned: post-HSCT VOD/SOS precautions discussed: is required: the post-HSCT "
        "VOD/SOS precautions discussed with the transplant team (yes or no)"
    )
    text = fill_form(
        qtbot,
        view,
        "checklist",
        sex="female",
        reproductive_potential="yes",
        pregnancy_test="negative",
        pregnancy_test_on="2026-03-03",
        contraception_counselled="yes",
        breastfeeding_counselled="yes",
        hsct_precautions="yes",
    )
    assert text == "Course-start checklist completed."
    assert courses.course("MRN7009").checklist.answers["pregnancy_test"] == "negative"
    lines = view.checklist_label.text().splitlines()
    assert lines[0].startswith("Course-start checklist completed by") and "contraception: 8 months after the last dose" in lines


def test_the_labels_other_warnings_are_shown_beside_the_labs_with_their_source(qtbot, view):
    show(qtbot, view)
    text = view.warnings_label.text()
    assert text.startswith("Warnings and precautions: Myelosuppression; Infusion-related reactions; QT interval prolongation; ")
    assert "Embryo-fetal toxicity" in text and "Source: BESPONSA US prescribing information" in text
    assert "5 Warnings and precautions" in text


def test_a_form_saved_over_a_course_another_station_changed_meanwhile_is_refused_naming_who(qtbot, view, courses, data_dir, clock):
    """Issue 14: the forms pass the version of the course on screen; a change made at another
    station since is refused ('changed by NAME at TIME; reload'), never applied over it."""
    from infusion_app.service import open_service

    show(qtbot, view)
    other_station = open_service(data_dir=data_dir, clock=clock, station="ward")
    try:
        clock.advance(minutes=3)
        CourseService(other_station).set_hsct(MRN, True, other_station.user("Paula Pharm"))
        text = fill_form(qtbot, view, "blasts", count="4000", date="2026-03-03")
        assert text.startswith("Not recorded") and "changed by Paula Pharm at 2026-03-04T09:03:00Z at station ward; reload" in text, text
        assert courses.course(MRN).blasts_per_mm3 == 5000
        show(qtbot, view)  # reloaded
        assert "Blasts recorded" in fill_form(qtbot, view, "blasts", count="4000", date="2026-03-03")
    finally:
        other_station.close()


def test_a_qtc_entered_in_the_form_holds_and_is_shown_on_the_checks_before_the_dose(qtbot, service, pharmacist, nurse, clock):
    """Review: QTc and electrolytes drove nothing; the QT thresholds (label 5.5, pending review) now warn or hold."""
    courses = CourseService(service)
    courses.new_course("MRN7010", False, pharmacist, monograph=BESPONSA)
    courses.start_cycle("MRN7010", clock.now().date(), pharmacist)
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    show(qtbot, view, "MRN7010")
    text = fill_form(qtbot, view, "lab", kind="ECG (QTc), baseline", qtc_ms="512")
    assert "QTc 512 ms is above 500 ms" in text
    assert any("qtc-hold" in b for b in courses.status("MRN7010").next_dose.blocked_by)
    assert not view.dose_checks_label.isHidden()
    assert "CHECK: QT (QTc 512 ms" in view.dose_checks_label.text() and "pending pharmacist review" in view.dose_checks_label.text()


def _course_with_labs(service, courses, pharmacist, nurse, clock, mrn, count):
    """A course with `count` lab results of every kind over the past weeks, stored in one write."""
    from datetime import timedelta

    from infusion_app.domain import labs
    from infusion_app.domain.ports import AuditDraft

    courses.new_course(mrn, False, pharmacist, monograph=BESPONSA)
    course = courses.course(mrn)
    now = clock.now()
    kinds = ("cbc", "liver", "ecg", "electrolytes", "vod-signs")
    for index in range(count):
        kind = kinds[index % len(kinds)]
        values = dict(NORMAL[kind])
        if kind == "liver":  # the longest summary a row holds: values with a cause
            values = {**values, "bilirubin_x_uln": 1.9, "ast_alt_x_uln": 2.8, "cause": "Gilbert's syndrome"}
        at = now - timedelta(hours=3 * (count - index))
        labs.record_lab(course, kind, labs.lab_values(kind, **values), at, now, nurse.name)
    courses.repository.save_course(course, [AuditDraft(now, pharmacist.name, "course.lab_recorded", mrn, None, None)])


def test_a_course_with_200_lab_rows_keeps_bounded_rows_and_its_own_scrolling(qtbot, service, pharmacist, nurse, clock):
    """Review: the Labs tab with a long history must stay usable at 1280 x 800: every row a few lines at
    most, the table inside the window with its own scroll bar, the newest first and the oldest reachable."""
    from PySide6.QtWidgets import QApplication

    courses = CourseService(service)
    _course_with_labs(service, courses, pharmacist, nurse, clock, "MRN7200", 200)
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 800)
    view.show()
    show(qtbot, view, "MRN7200")
    view.tabs.setCurrentIndex(view.tabs.indexOf(view.findChild(type(view.tabs.widget(3)), "courseLabsPage")))
    QApplication.processEvents()
    table = view.labs_table
    assert table.rowCount() == 200
    line = table.fontMetrics().lineSpacing()
    tallest = max(table.rowHeight(row) for row in range(table.rowCount()))
    assert tallest <= 3 * line + 12, f"a row is {tallest} px ({line} px a line)"
    # The table scrolls itself inside the window; it does not grow to hold 200 rows.
    assert view.frameGeometry().height() <= 800 + 40
    assert table.height() < 200 * table.rowHeight(0) and table.viewport().height() >= 3 * table.rowHeight(0)
    bar = table.verticalScrollBar()
    assert bar.isVisible() and bar.maximum() > 0
    assert table.item(0, 0).text() > table.item(199, 0).text()  # the newest first
    table.scrollToBottom()
    QApplication.processEvents()
    assert bar.value() == bar.maximum()
    last = table.visualItemRect(table.item(199, 2))
    assert table.viewport().rect().intersects(last) and abs(last.height() - table.rowHeight(199)) <= 1
    assert table.viewport().height() >= 10 * line  # a dozen results at once, not a sliver
    qtbot.keyClick(table, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    assert bar.value() == 0


@pytest.fixture(params=["en_GB", "en_US"])
def site_locale(request):
    """A workstation whose short date is dd/MM/yyyy (en_GB) or M/d/yy (en_US), for this test only."""
    from PySide6.QtCore import QLocale

    before = QLocale()
    QLocale.setDefault(QLocale(request.param))
    yield request.param
    QLocale.setDefault(before)


def test_a_date_typed_in_the_sites_order_takes_one_or_two_digit_days_and_months(qtbot, view, courses, site_locale):
    """On a dd/MM/yyyy site '1/3/2026' was refused (Qt's dd wanted two digits); the domain reads the site's
    order with a day and month of one or two digits and the year in full. A US site reads it month first."""
    show(qtbot, view)
    day_first = site_locale == "en_GB"
    assert "Blasts recorded" in fill_form(qtbot, view, "blasts", count="4000", date="1/3/2026")
    assert courses.course(MRN).blasts_measured_on == (date(2026, 3, 1) if day_first else date(2026, 1, 3))
    assert "Blasts recorded" in fill_form(qtbot, view, "blasts", count="4000", date="02/3/2026" if day_first else "3/02/2026")
    assert courses.course(MRN).blasts_measured_on == date(2026, 3, 2)
    impossible = "30/2/2026" if day_first else "2/30/2026"
    text = fill_form(qtbot, view, "blasts", count="4000", date=impossible)
    assert text.startswith(f"Not recorded — Measured on: '{impossible}' is not a date: month 2 of 2026 has no day 30"), text
    text = fill_form(qtbot, view, "blasts", count="4000", date="1/3/26")
    assert "two-digit year" in text and ("30/06/2027" if day_first else "6/30/2027") in text, text
    assert courses.course(MRN).blasts_measured_on == date(2026, 3, 2)
    # the year typed first in full was called a two-digit year (its day in the year's place); one example
    text = fill_form(qtbot, view, "blasts", count="4000", date="2026/3/1")
    order, example = ("day/month/year", "30/06/2027") if day_first else ("month/day/year", "6/30/2027")
    assert text == f"Not recorded — Measured on: '2026/3/1' is not in this site's order; type it as {order} with the year in 4 digits, e.g. {example}", text


def test_a_year_first_sites_date_message_gives_one_example(qtbot, view, courses):
    """On a yyyy-MM-dd site (sv_SE) the example read '2027-06-30 or 2027-06-30' (review)."""
    from PySide6.QtCore import QLocale

    before = QLocale()
    QLocale.setDefault(QLocale("sv_SE"))
    try:
        show(qtbot, view)
        text = fill_form(qtbot, view, "blasts", count="4000", date="26-3-1")
    finally:
        QLocale.setDefault(before)
    assert text == "Not recorded — Measured on: '26-3-1' has a two-digit year; type it as year-month-day with the year in 4 digits, e.g. 2027-06-30", text
