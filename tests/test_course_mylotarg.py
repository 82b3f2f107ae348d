"""A MYLOTARG course (issue 17): opened with its regimen, planned on that regimen's dose days, refusing
what the regimen's data does not define (another dose day, a second cycle, a response deciding a dose),
and judging a MYLOTARG order of its patient; no BESPONSA rule or wording in it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from infusion_app.domain import course as rules
from infusion_app.domain.course import CourseBlocked
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.preparation import StepRefused
from infusion_app.domain.records import Patient
from tests.course_helpers import course_services
from tests.drugs import BESPONSA, MYLOTARG
from tests.lab_helpers import NORMAL

D = date.fromisoformat
PATIENT = Patient("Doe, Jane", "MRN001", D("1970-01-01"))
BESPONSA_WORDS = ("BESPONSA", "inotuzumab", "CR/CRi", "CRi", "HSCT")


@pytest.fixture
def services(tmp_path, database_templates):
    with course_services(tmp_path, database_templates) as found:
        yield found


def _labs(courses, clock, first=False):
    for kind in ("cbc", "liver") + (("ecg", "electrolytes") if first else ("vod-signs",)):
        courses.record_lab("MRN001", kind, NORMAL[kind], clock.now() - timedelta(hours=2), "Nina Nurse")


def _text(status) -> str:
    return "\n".join(line for plan in status.plans for line in plan.summary_lines(MYLOTARG)) + repr(status.limit) + status.why_last


def test_a_fractionated_course_from_opening_to_day_4_judges_its_own_orders(services):
    service, courses, clock = services
    status = courses.new_course("MRN001", False, "Pat Pharmacist", monograph=MYLOTARG, regimen="fractionated")
    assert courses.course("MRN001").regimen == "fractionated"  # stored, and read back
    assert status.to_dict()["drug"] == MYLOTARG.id and status.to_dict()["regimen"] == "fractionated"
    courses.record_blasts("MRN001", 100, "2026-12-19", "Nina Nurse")
    status = courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    assert [(d.day, d.planned, d.mg_per_m2) for d in status.plan.doses] == [(1, D("2026-12-20"), 3.0), (4, D("2026-12-23"), 3.0), (7, D("2026-12-26"), 3.0)]
    assert status.limit.max_cycles == 1 and status.limit.rule == "regimen" and "fractionated" in status.why_last
    assert not any(word in _text(status) for word in BESPONSA_WORDS), _text(status)

    _labs(courses, clock, first=True)
    tech = service.user("Tom Tech")
    fractionated = MYLOTARG.with_regimen("fractionated")
    day1 = service.create_preparation(PATIENT, DoseOrder("170 cm", "70 kg", None, None), tech, monograph=fractionated).prep
    assert (day1.order.calculation.cycle, day1.order.calculation.day) == (1, 1)
    assert day1.order.course.on_file is True and day1.order.calculation.dose_mg == 4.5  # the one-vial cap
    courses.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse", preparation_id=day1.id)  # the capped bag is the course's dose

    clock.advance(timedelta(days=3))
    _labs(courses, clock)
    day4 = service.create_preparation(PATIENT, DoseOrder("170 cm", "70 kg", None, None), tech, monograph=fractionated).prep
    assert (day4.order.calculation.cycle, day4.order.calculation.day) == (1, 4)
    assert day4.order.course.on_file is True and day4.order.course.day == 4
    with pytest.raises(StepRefused) as not_due:  # Day 7 is not due on Day 4: judged by the course
        service.create_preparation(PATIENT, DoseOrder("170 cm", "70 kg", 1, 7), tech, monograph=fractionated)
    assert not_due.value.code == "course" and "Day 7" in not_due.value.message
    courses.record_dose("MRN001", 1, 4, "2026-12-23", "Nina Nurse", preparation_id=day4.id)
    assert [(d.cycle, d.day, d.preparation_id) for d in courses.course("MRN001").doses] == [(1, 1, day1.id), (1, 4, day4.id)]


def test_what_the_regimen_does_not_define_is_refused(services):
    _service, courses, _clock = services
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=MYLOTARG, regimen="fractionated")
    courses.record_blasts("MRN001", 100, "2026-12-19", "Nina Nurse")
    courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    with pytest.raises(ValidationError) as day8:
        courses.record_dose("MRN001", 1, 8, "2026-12-20", "Nina Nurse")
    assert day8.value.field == "day" and "1, 4, 7" in day8.value.message
    with pytest.raises(ValidationError) as response:  # no response decides a regimen's dose
        courses.record_response("MRN001", "2026-12-20", "cr", None, "Nina Nurse")
    assert response.value.field == "response" and "regimen" in response.value.message
    with pytest.raises(CourseBlocked) as second:
        courses.start_cycle("MRN001", "2027-01-20", "Pat Pharmacist")
    assert "cycle 2 is beyond the limit" in second.value.reasons[0] and "fractionated" in second.value.reasons[0]
    assert not any(word in "; ".join(second.value.reasons) for word in BESPONSA_WORDS)
    assert len(courses.course("MRN001").cycles) == 1


def test_a_single_agent_course_doses_days_1_and_8():
    course = rules.new_course("MRN001", False, monograph=MYLOTARG, regimen="single-agent")
    rules.start_cycle(course, "2026-12-20", D("2026-12-20"), monograph=MYLOTARG)
    plan = rules.plan_for(course, 1, MYLOTARG)
    assert [(d.day, d.planned, d.mg_per_m2) for d in plan.doses] == [(1, D("2026-12-20"), 6.0), (8, D("2026-12-27"), 3.0)]
    with pytest.raises(ValidationError) as day4:
        rules.record_dose(course, 1, 4, "2026-12-20", D("2026-12-20"), monograph=MYLOTARG)
    assert day4.value.field == "day"
    # A view of the other regimen never judges this course.
    with pytest.raises(ValidationError) as other:
        rules.plan_for(course, 1, MYLOTARG.with_regimen("fractionated"))
    assert other.value.field == "regimen"


def test_the_regimen_is_required_for_mylotarg_and_refused_for_besponsa():
    with pytest.raises(ValidationError) as missing:
        rules.new_course("MRN001", False, monograph=MYLOTARG)
    assert missing.value.field == "regimen" and "fractionated" in missing.value.message
    with pytest.raises(ValidationError) as unknown:
        rules.new_course("MRN001", False, monograph=MYLOTARG, regimen="weekly")
    assert unknown.value.field == "regimen"
    with pytest.raises(ValidationError) as besponsa:
        rules.new_course("MRN001", False, monograph=BESPONSA, regimen="fractionated")
    assert besponsa.value.field == "regimen"
    assert rules.new_course("MRN001", False, monograph=BESPONSA).regimen == ""


def test_an_order_of_the_other_regimen_is_refused_by_the_course(services):
    service, courses, _clock = services
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=MYLOTARG, regimen="single-agent")
    courses.record_blasts("MRN001", 100, "2026-12-19", "Nina Nurse")
    courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    with pytest.raises(ValidationError) as regimen:
        service.create_preparation(PATIENT, DoseOrder("170 cm", "70 kg", None, None), service.user("Tom Tech"), monograph=MYLOTARG.with_regimen("fractionated"))
    assert regimen.value.field == "regimen" and "single-agent" in regimen.value.message
    assert service.repository.find_patient("MRN001") is None  # nothing stored


def test_a_bag_of_the_other_regimen_is_not_recorded_in_the_course(services):
    service, courses, _clock = services
    # Made before the course was opened (no course on file: cycle and day typed).
    bag = service.create_preparation(
        PATIENT, DoseOrder("170 cm", "70 kg", 1, 1), service.user("Tom Tech"), monograph=MYLOTARG.with_regimen("fractionated")
    ).prep
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=MYLOTARG, regimen="single-agent")
    courses.record_blasts("MRN001", 100, "2026-12-19", "Nina Nurse")
    courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    with pytest.raises(CourseBlocked) as refused:
        courses.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse", preparation_id=bag.id)
    assert refused.value.reasons[0].startswith("course-regimen") and "single-agent" in refused.value.reasons[0]
    assert courses.course("MRN001").doses == []


def test_a_late_dose_gets_no_rule_the_monograph_does_not_define():
    """MYLOTARG's data gives only a delay under 7 days: a dose later than that is shown overdue, with no
    omit/reduce/stop advice from another drug's interruption table (the status once crashed looking it up)."""
    course = rules.new_course("MRN001", False, monograph=MYLOTARG, regimen="fractionated")
    rules.record_blasts(course, 100, "2026-12-19", D("2026-12-20"))
    rules.start_cycle(course, "2026-12-20", D("2026-12-20"), monograph=MYLOTARG)
    rules.record_dose(course, 1, 1, "2026-12-20", D("2026-12-20"), monograph=MYLOTARG, override_reason="labs on paper")
    early = rules.course_status(course, D("2026-12-25"), MYLOTARG)  # Day 4 two days late: delayed, 3 days apart
    assert early.next_dose.day == 4 and early.next_dose.state == "overdue"
    assert [a.code for a in early.advice if a.cycle] == ["interruption-delay"]
    late = rules.course_status(course, D("2026-12-31"), MYLOTARG)  # 8 days late
    assert late.next_dose.day == 4 and late.next_dose.state == "overdue"
    assert [a.code for a in late.advice if a.cycle] == []


def test_cycle_1_of_a_regimen_without_an_extended_length_is_not_extended():
    course = rules.new_course("MRN001", False, monograph=MYLOTARG, regimen="fractionated")
    with pytest.raises(ValidationError) as at_start:
        rules.start_cycle(course, "2026-12-20", D("2026-12-20"), True, "slow recovery", monograph=MYLOTARG)
    assert at_start.value.field == "extend-to-28" and "no extended length" in at_start.value.message
    rules.start_cycle(course, "2026-12-20", D("2026-12-20"), monograph=MYLOTARG)
    with pytest.raises(ValidationError) as later:
        rules.extend_first_cycle(course, "slow recovery", MYLOTARG)
    assert later.value.field == "extend-to-28" and not course.cycles[0].extended_to_28


def test_with_two_drugs_installed_a_new_order_or_course_naming_none_is_ambiguous(tmp_path, database_templates):
    # Issue 17: there is no default drug. With two drugs installed the service opens, each stored item
    # is handled by its own drug, and only a new order or course naming no drug is refused, as ambiguous.
    with course_services(tmp_path, database_templates) as (service, courses, clock):
        with pytest.raises(ValidationError) as ambiguous:
            service.calculate(DoseOrder("170 cm", "70 kg", 1, 1))
        assert ambiguous.value.field == "drug"
        with pytest.raises(ValidationError):
            courses.new_course("MRN001", False, "Pat Pharmacist")
        assert service.default_drug() is None
        courses.new_course("MRN001", False, "Pat Pharmacist", monograph=MYLOTARG, regimen="fractionated")
        assert courses.monograph_of(courses.course("MRN001")).id == MYLOTARG.id
