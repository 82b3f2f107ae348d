"""The course view of a MYLOTARG course (issue 17): opened from the form with its regimen, its dose
days shown from that regimen, no responses tab and no BESPONSA wording."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from infusion_app.domain.clock import FakeClock
from infusion_app.gui.course_view import CourseView
from infusion_app.service.course import CourseService
from tests.drugs import MYLOTARG
from tests.gui.test_course_view import fill_form, show, table_rows

MRN = "MRN4004"
BESPONSA_WORDS = ("BESPONSA", "inotuzumab", "CR/CRi", "CRi", "HSCT", "6 cycles")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc))


def _view(qtbot, service, pharmacist, courses):
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    return view


def test_a_fractionated_course_is_opened_from_the_form_and_shows_days_1_4_and_7(qtbot, service, pharmacist, nurse, clock):
    courses = CourseService(service)
    view = _view(qtbot, service, pharmacist, courses)
    show(qtbot, view, MRN)
    drug = f"{MYLOTARG.brand_name} ({MYLOTARG.generic_name})"
    assert "Regimen: choose one" in fill_form(qtbot, view, "new", drug=drug)
    assert courses.course(MRN) is None
    # No transplant plan changes a MYLOTARG limit: the form does not ask it (it asked "HSCT planned").
    assert not view.forms.fields["new"]["hsct"].isVisible()
    fractionated = MYLOTARG.regimen_name("fractionated")
    assert fill_form(qtbot, view, "new", drug=drug, regimen=fractionated) == "Course created."
    assert courses.course(MRN).monograph_id == MYLOTARG.id and courses.course(MRN).regimen == "fractionated"
    assert "Blasts recorded" in fill_form(qtbot, view, "blasts", count="100", date="2026-03-01")
    assert "Cycle started" in fill_form(qtbot, view, "start", date="2026-03-02")
    show(qtbot, view, MRN)
    rows = table_rows(view.doses_table)
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("1", "1", "2026-03-02", "3 mg/m²"),
        ("1", "4", "2026-03-05", "3 mg/m²"),
        ("1", "7", "2026-03-08", "3 mg/m²"),
    ]
    assert "At most 1 cycle:" in view.limit_label.text() and "fractionated" in view.limit_label.text()
    assert "fractionated" in view.title.text()
    assert not view.tabs.isTabVisible(view.tabs.indexOf(view.responses_table))
    action = view.forms.action  # no response and no transplant plan to record for this course
    assert not action.model().item(action.findData("response")).isEnabled()
    assert not action.model().item(action.findData("hsct")).isEnabled()
    shown = " ".join([view.title.text(), view.limit_label.text(), view.next_label.text(), view.last_label.text()] + [" ".join(r) for r in rows])
    for word in BESPONSA_WORDS:
        assert word not in shown, (word, shown)


def test_a_single_agent_course_shows_days_1_and_8(qtbot, service, pharmacist, nurse, clock):
    courses = CourseService(service)
    courses.new_course(MRN, False, pharmacist, monograph=MYLOTARG, regimen="single-agent")
    courses.start_cycle(MRN, date(2026, 3, 2), pharmacist)
    view = _view(qtbot, service, pharmacist, courses)
    show(qtbot, view, MRN)
    rows = table_rows(view.doses_table)
    assert [(r[1], r[2], r[4]) for r in rows] == [("1", "2026-03-02", "6 mg/m²"), ("8", "2026-03-09", "3 mg/m²")]
    assert "Next dose: cycle 1 Day 1" in view.next_label.text()


def test_extend_cycle_1_is_offered_only_where_the_drug_has_an_extended_first_cycle(qtbot, service, pharmacist, clock):
    # The domain refuses extending a MYLOTARG cycle 1 (its extended length is its length): the form
    # was still offered and only failed on submit. BESPONSA's stays offered.
    from tests.drugs import BESPONSA

    courses = CourseService(service)
    courses.new_course(MRN, False, pharmacist, monograph=MYLOTARG, regimen="fractionated")
    courses.new_course("MRN4005", False, pharmacist, monograph=BESPONSA)
    view = _view(qtbot, service, pharmacist, courses)
    action = view.forms.action
    show(qtbot, view, MRN)
    assert not action.model().item(action.findData("extend")).isEnabled()
    show(qtbot, view, "MRN4005")
    assert action.model().item(action.findData("extend")).isEnabled()
