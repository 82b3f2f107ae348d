"""The course engine: cycle plans and windows, limits and stop rules, blasts, weight, advice and decisions."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta, timezone

import pytest

from infusion_app.domain.course import (
    CourseBlocked,
    course_status,
    cycle_limit,
    decide,
    extend_first_cycle,
    new_course,
    plan_cycle,
    plan_for,
    raise_advice,
    record_blasts,
    record_dose,
    record_response,
    record_weight,
    start_cycle,
    weight_change_check,
)
from infusion_app.domain.dose_modification import Action, Decision, interruption_advice, liver_advice
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.formatting import format_instant
from infusion_app.domain.monograph import load_monograph, parse_monograph
from infusion_app.domain.quantities import Quantity
from tests.drugs import BESPONSA

D = date.fromisoformat
FAR = D("2030-01-01")  # 'today' for building histories


def window(plan, day):
    d = plan.dose(day)
    return d.earliest.isoformat(), d.latest.isoformat()


# -- one cycle: dates, lengths, doses -------------------------------------------------------------


def test_first_cycle_is_21_days_with_day_8_and_15_windows_across_the_year_end():
    plan = plan_cycle(1, D("2026-12-20"), monograph=BESPONSA)
    assert plan.length_days == 21
    assert [d.planned.isoformat() for d in plan.doses] == ["2026-12-20", "2026-12-27", "2027-01-03"]
    assert window(plan, 1) == ("2026-12-20", "2026-12-20")
    # Day 8 at -2 would be only 5 days after Day 1, so its window opens at +6 days.
    assert window(plan, 8) == ("2026-12-26", "2026-12-29")
    assert window(plan, 15) == ("2027-01-01", "2027-01-05")
    assert plan.end == D("2027-01-09")
    assert plan.next_cycle_start == D("2027-01-10")
    assert [d.mg_per_m2 for d in plan.doses] == [0.8, 0.5, 0.5]


def test_first_cycle_may_be_extended_to_28_days():
    plan = plan_cycle(1, D("2026-12-20"), extend_to_28=True, monograph=BESPONSA)
    assert plan.length_days == 28
    assert plan.next_cycle_start == D("2027-01-17")
    assert "cycles.first_cycle_extended_length" in {r.path for r in plan.rules}


def test_later_cycles_are_28_days_and_cannot_be_extended():
    plan = plan_cycle(2, D("2027-02-15"), response="cr", monograph=BESPONSA)
    assert plan.length_days == 28
    assert plan.next_cycle_start == D("2027-03-15")  # February 2027 has 28 days
    with pytest.raises(ValidationError) as info:
        plan_cycle(2, D("2027-02-15"), response="cr", extend_to_28=True, monograph=BESPONSA)
    assert info.value.field == "extend-to-28"


def test_leap_february_is_counted():
    plan = plan_cycle(3, D("2028-02-20"), response="cri", monograph=BESPONSA)
    assert plan.dose(15).planned == D("2028-03-05")
    assert plan.next_cycle_start == D("2028-03-19")


@pytest.mark.parametrize("response, day1", [("cr", 0.5), ("cri", 0.5), ("none", 0.8)])
def test_from_cycle_2_the_dose_follows_the_response(response, day1):
    plan = plan_cycle(2, D("2027-01-10"), response=response, monograph=BESPONSA)
    assert plan.dose(1).mg_per_m2 == day1
    assert plan.dose(8).mg_per_m2 == plan.dose(15).mg_per_m2 == 0.5


def test_the_dose_numbers_come_from_the_monograph():
    raw = copy.deepcopy(load_monograph("inotuzumab-ozogamicin").raw)
    raw["dosing"]["table"][0]["day1"]["value"] = 0.7
    raw["cycles"]["first_cycle_length"]["value"] = 22
    changed = parse_monograph(raw)
    plan = plan_cycle(1, D("2026-12-20"), monograph=changed)
    assert plan.dose(1).mg_per_m2 == 0.7 and plan.length_days == 22


def test_a_missing_response_from_cycle_2_is_refused_as_the_dose_engine_does():
    with pytest.raises(ValidationError) as info:
        plan_cycle(2, D("2027-01-10"), monograph=BESPONSA)
    assert info.value.field == "response"
    plan_cycle(1, D("2027-01-10"), monograph=BESPONSA)  # not needed in cycle 1


@pytest.mark.parametrize("cycle", [0, 7, "two", 1.5])
def test_cycle_out_of_range(cycle):
    with pytest.raises(ValidationError) as info:
        plan_cycle(cycle, D("2027-01-10"), response="cr", monograph=BESPONSA)
    assert info.value.field == "cycle"


def test_unknown_given_day_and_bad_dates_name_the_field():
    with pytest.raises(ValidationError) as info:
        plan_cycle(1, D("2027-01-10"), given={4: D("2027-01-13")}, monograph=BESPONSA)
    assert info.value.field == "given"
    with pytest.raises(ValidationError) as info:
        plan_cycle(1, "2027-02-30", monograph=BESPONSA)
    assert info.value.field == "start"


# -- windows and the 6-day rule -----------------------------------------------------------------


def test_day_8_window_is_at_least_6_days_after_day_1():
    plan = plan_cycle(1, D("2027-01-28"), given={1: D("2027-01-28")}, monograph=BESPONSA)
    assert window(plan, 8) == ("2027-02-03", "2027-02-06")
    assert plan.dose(8).notes and "6 days after Day 1" in plan.dose(8).notes[0]


def test_a_late_day_8_pushes_day_15():
    plan = plan_cycle(1, D("2027-01-28"), given={1: D("2027-01-28"), 8: D("2027-02-06")}, monograph=BESPONSA)
    assert plan.hard_stops == ()
    assert window(plan, 15) == ("2027-02-12", "2027-02-13")  # Day 15 planned 2027-02-11, +2 = 02-13


def test_an_early_day_8_keeps_day_15_window():
    plan = plan_cycle(1, D("2027-01-28"), given={1: D("2027-01-28"), 8: D("2027-02-03")}, monograph=BESPONSA)
    assert window(plan, 15) == ("2027-02-09", "2027-02-13")


def test_day_15_within_plus_minus_2_but_under_6_days_after_a_late_day_8_is_a_hard_stop():
    plan = plan_cycle(1, D("2027-01-28"), given={1: D("2027-01-28"), 8: D("2027-02-06"), 15: D("2027-02-11")}, monograph=BESPONSA)
    assert len(plan.hard_stops) == 1
    assert "Day 15 given on 2027-02-11 is outside its window (2027-02-12 to 2027-02-13)" in plan.hard_stops[0]


@pytest.mark.parametrize("given, ok", [("2026-12-25", False), ("2026-12-26", True), ("2026-12-29", True), ("2026-12-30", False)])
def test_given_date_against_the_window(given, ok):
    plan = plan_cycle(1, D("2026-12-20"), given={1: D("2026-12-20"), 8: D(given)}, monograph=BESPONSA)
    assert (plan.hard_stops == ()) is ok
    assert plan.dose(8).given == D(given) and plan.dose(8).status == "given"


def test_day_1_is_the_cycle_start():
    plan = plan_cycle(1, D("2026-12-20"), given={1: D("2026-12-21")}, monograph=BESPONSA)
    assert plan.hard_stops and "Day 1" in plan.hard_stops[0]


def test_the_next_cycle_waits_6_days_after_a_late_day_15():
    plan = plan_cycle(1, D("2026-12-20"), given={1: D("2026-12-20"), 8: D("2026-12-27"), 15: D("2027-01-05")}, monograph=BESPONSA)
    assert plan.hard_stops == ()
    assert plan.next_cycle_start == D("2027-01-11")  # not 2027-01-10
    assert any("2027-01-11" in w for w in plan.warnings)


def test_a_cycle_starting_under_6_days_after_the_previous_dose_is_a_hard_stop():
    plan = plan_cycle(2, D("2027-01-10"), response="cr", previous_dose=D("2027-01-05"), monograph=BESPONSA)
    assert any("cannot start on 2027-01-10" in s and "2027-01-11" in s for s in plan.hard_stops)


def test_a_held_dose_may_be_delayed_under_7_days_and_pushes_the_next():
    plan = plan_cycle(1, D("2027-01-28"), given={1: D("2027-01-28"), 8: D("2027-02-09")}, delayed_days=(8,), monograph=BESPONSA)
    assert plan.hard_stops == ()
    assert window(plan, 8) == ("2027-02-03", "2027-02-10")  # planned 02-04 + 6 days
    # Day 15 (planned 02-11) cannot be 6 days after 02-09 within ±2, so the delay carries over.
    assert window(plan, 15) == ("2027-02-15", "2027-02-17")


def test_day_15_given_without_day_8_is_flagged():
    plan = plan_cycle(1, D("2027-01-28"), given={1: D("2027-01-28"), 15: D("2027-02-11")}, monograph=BESPONSA)
    assert any("Day 8 is neither given nor omitted" in w for w in plan.warnings)


def test_a_reduced_cycle_takes_25_percent_off_every_dose():
    from infusion_app.domain.dose_modification import reduction_for_level

    plan = plan_cycle(2, D("2027-01-10"), response="none", reduction=reduction_for_level(1, monograph=BESPONSA), monograph=BESPONSA)
    assert [d.mg_per_m2 for d in plan.doses] == [0.6, 0.375, 0.375]
    assert [d.standard_mg_per_m2 for d in plan.doses] == [0.8, 0.5, 0.5]
    two = plan_cycle(2, D("2027-01-10"), response="none", reduction=reduction_for_level(2, monograph=BESPONSA), monograph=BESPONSA)
    assert [d.status for d in two.doses] == ["planned", "planned", "omitted"]
    assert two.dose(15).mg_per_m2 is None


def test_an_omitted_dose_recorded_as_given_is_a_hard_stop():
    plan = plan_cycle(1, D("2027-01-28"), given={1: D("2027-01-28"), 8: D("2027-02-04")}, omitted_days=(8,), monograph=BESPONSA)
    assert any("omitted" in s for s in plan.hard_stops)


def test_plan_json_has_the_contract_fields():
    data = plan_cycle(1, D("2026-12-20"), given={1: D("2026-12-20")}, monograph=BESPONSA).to_dict()
    assert {"cycle", "cycle_length_days", "next_cycle_start", "doses", "hard_stops"} <= set(data)
    assert data["doses"][0] == {
        **data["doses"][0],
        "day": 1,
        "planned": "2026-12-20",
        "earliest": "2026-12-20",
        "latest": "2026-12-20",
        "mg_per_m2": 0.8,
        "given": "2026-12-20",
    }
    assert data["doses"][1]["given"] is None


# -- a course ------------------------------------------------------------------------------------------


def course_with_blasts(hsct=False, child=False):
    course = new_course("MRN001", hsct_planned=hsct, is_child=child, child_reason="paediatric protocol" if child else "", monograph=BESPONSA)
    record_blasts(course, 5000, D("2026-12-18"), FAR)
    return course


def run_cycle(course, start, response=None, mrd_negative=None):
    """Start a cycle on `start`, give its planned doses on their planned dates, then assess the response."""
    record = start_cycle(course, start, FAR, monograph=BESPONSA)
    plan = plan_for(course, record.number, monograph=BESPONSA)
    for dose in plan.doses:
        if dose.status == "planned":
            record_dose(course, record.number, dose.day, max(dose.planned, dose.earliest), FAR, monograph=BESPONSA)
    if response:
        record_response(course, plan_for(course, record.number, monograph=BESPONSA).end, response, mrd_negative, FAR, monograph=BESPONSA)
    return plan_for(course, record.number, monograph=BESPONSA)


def test_first_dose_is_blocked_until_blasts_are_at_or_below_10000():
    course = new_course("MRN001", hsct_planned=False, monograph=BESPONSA)
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    with pytest.raises(CourseBlocked) as info:
        record_dose(course, 1, 1, D("2026-12-20"), FAR, monograph=BESPONSA)
    assert "not recorded" in info.value.reasons[0]
    record_blasts(course, "12,000", D("2026-12-19"), FAR)
    with pytest.raises(CourseBlocked) as info:
        record_dose(course, 1, 1, D("2026-12-20"), FAR, monograph=BESPONSA)
    assert "cytoreduce" in info.value.reasons[0]
    assert course_status(course, D("2026-12-20"), monograph=BESPONSA).next_dose.blocked_by
    record_blasts(course, Quantity(1e7, "1/mL"), D("2026-12-19"), FAR)  # = 10,000/mm³, at the limit
    record_dose(course, 1, 1, D("2026-12-20"), FAR, preparation_id="P-7", monograph=BESPONSA)
    assert course.doses[0].preparation_id == "P-7" and course.doses[0].mg_per_m2 == 0.8


def test_bad_blasts_are_refused():
    course = new_course("MRN001", hsct_planned=False, monograph=BESPONSA)
    for bad in ("lots", -5, Quantity(3, "kg")):
        with pytest.raises(ValidationError) as info:
            record_blasts(course, bad, D("2026-12-19"), FAR)
        assert info.value.field == "blasts"


def test_recording_a_dose_checks_the_window_and_allows_a_pharmacist_override():
    course = course_with_blasts()
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    record_dose(course, 1, 1, D("2026-12-20"), FAR, monograph=BESPONSA)
    with pytest.raises(CourseBlocked) as info:
        record_dose(course, 1, 8, D("2026-12-31"), FAR, monograph=BESPONSA)
    assert "outside its window" in info.value.reasons[0]
    dose = record_dose(course, 1, 8, D("2026-12-31"), FAR, override_reason="patient admitted; prescriber agreed", monograph=BESPONSA)
    assert dose.override_reason
    with pytest.raises(ValidationError) as info:
        record_dose(course, 1, 8, D("2026-12-31"), FAR, monograph=BESPONSA)
    assert info.value.field == "day"


def test_a_dose_in_the_future_is_refused():
    course = course_with_blasts()
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    with pytest.raises(ValidationError) as info:
        record_dose(course, 1, 1, D("2026-12-20"), today=D("2026-12-19"), monograph=BESPONSA)
    assert info.value.field == "date"


def test_without_hsct_up_to_6_cycles():
    course = course_with_blasts()
    start = D("2026-12-20")
    for _ in range(6):
        plan = run_cycle(course, start, "cr", False)
        start = plan.next_cycle_start
    limit = cycle_limit(course, monograph=BESPONSA)
    assert (limit.max_cycles, limit.rule) == (6, "no-hsct")
    assert limit.sources[0].path == "cycles.max_cycles_without_hsct"
    status = course_status(course, start, monograph=BESPONSA)
    assert status.is_last_cycle and "up to 6 cycles" in status.why_last
    assert status.next_dose is None and not status.next_cycle_allowed
    with pytest.raises(CourseBlocked) as info:
        start_cycle(course, start, FAR, monograph=BESPONSA)
    assert "cycle 7 is beyond the limit" in info.value.reasons[0]


def test_no_cr_within_3_cycles_stops_the_course():
    course = course_with_blasts()
    start = D("2026-12-20")
    for _ in range(3):
        start = run_cycle(course, start, "none").next_cycle_start
    limit = cycle_limit(course, monograph=BESPONSA)
    assert (limit.max_cycles, limit.rule) == (3, "no-response")
    status = course_status(course, start, monograph=BESPONSA)
    assert status.is_last_cycle and "no CR/CRi within 3 cycles" in status.why_last
    assert any(a.action is Action.STOP_COURSE for a in status.advice)
    with pytest.raises(CourseBlocked):
        start_cycle(course, start, FAR, monograph=BESPONSA)
    # A CR documented late in cycle 3 lifts the stop.
    record_response(course, start, "cri", None, FAR, monograph=BESPONSA)
    assert cycle_limit(course, monograph=BESPONSA).rule == "no-hsct"
    start_cycle(course, start, FAR, monograph=BESPONSA)


def test_with_hsct_2_cycles_when_cr_with_mrd_negativity():
    course = course_with_blasts(hsct=True)
    start = run_cycle(course, D("2026-12-20"), "cr", True).next_cycle_start
    start = run_cycle(course, start, "cr", True).next_cycle_start
    limit = cycle_limit(course, monograph=BESPONSA)
    assert (limit.max_cycles, limit.rule) == (2, "hsct")
    status = course_status(course, start, monograph=BESPONSA)
    assert status.is_last_cycle and "HSCT planned" in status.why_last
    with pytest.raises(CourseBlocked):
        start_cycle(course, start, FAR, monograph=BESPONSA)


def test_with_hsct_a_third_cycle_when_mrd_negativity_not_reached_after_2():
    course = course_with_blasts(hsct=True)
    assert cycle_limit(course, monograph=BESPONSA).max_cycles == 2
    start = run_cycle(course, D("2026-12-20"), "cr", False).next_cycle_start
    start = run_cycle(course, start, "cri", False).next_cycle_start
    limit = cycle_limit(course, monograph=BESPONSA)
    assert (limit.max_cycles, limit.rule) == (3, "hsct-third")
    assert "may be considered" in limit.why
    assert {s.path for s in limit.sources} >= {"cycles.third_cycle_with_hsct_if_not_cr_mrd_negative"}
    start = run_cycle(course, start, "cr", False).next_cycle_start
    assert course_status(course, start, monograph=BESPONSA).is_last_cycle
    with pytest.raises(CourseBlocked):
        start_cycle(course, start, FAR, monograph=BESPONSA)


def test_a_cycle_may_not_start_early_nor_before_the_previous_is_done():
    course = course_with_blasts()
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    record_dose(course, 1, 1, D("2026-12-20"), FAR, monograph=BESPONSA)
    record_response(course, D("2027-01-08"), "cr", None, FAR, monograph=BESPONSA)
    with pytest.raises(CourseBlocked) as info:
        start_cycle(course, D("2027-01-09"), FAR, monograph=BESPONSA)
    text = " ".join(info.value.reasons)
    assert "Day 8, 15 neither given nor omitted" in text and "on or after 2027-01-10" in text


def test_cycle_2_needs_a_response_assessment():
    course = course_with_blasts()
    plan = run_cycle(course, D("2026-12-20"))
    with pytest.raises(ValidationError) as info:
        start_cycle(course, plan.next_cycle_start, FAR, monograph=BESPONSA)
    assert info.value.field == "response"


def test_first_cycle_extension_needs_a_reason_and_moves_the_next_start():
    course = course_with_blasts()
    run_cycle(course, D("2026-12-20"), "cr")
    with pytest.raises(ValidationError):
        extend_first_cycle(course, " ", monograph=BESPONSA)
    extend_first_cycle(course, "CR: 7 dose-free days", monograph=BESPONSA)
    assert plan_for(course, 1, monograph=BESPONSA).next_cycle_start == D("2027-01-17")
    with pytest.raises(CourseBlocked):
        start_cycle(course, D("2027-01-10"), FAR, monograph=BESPONSA)
    start_cycle(course, D("2027-01-17"), FAR, monograph=BESPONSA)
    with pytest.raises(ValidationError):
        extend_first_cycle(course, "too late", monograph=BESPONSA)


def test_status_next_dose_and_its_state():
    course = course_with_blasts()
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    record_dose(course, 1, 1, D("2026-12-20"), FAR, monograph=BESPONSA)
    upcoming = course_status(course, D("2026-12-24"), monograph=BESPONSA).next_dose
    assert (upcoming.cycle, upcoming.day, upcoming.state) == (1, 8, "upcoming")
    assert upcoming.earliest == D("2026-12-26") and upcoming.mg_per_m2 == 0.5
    assert course_status(course, D("2026-12-29"), monograph=BESPONSA).next_dose.state == "due"
    assert course_status(course, D("2026-12-30"), monograph=BESPONSA).next_dose.state == "overdue"


def test_status_next_cycle_day_1_after_a_complete_cycle():
    course = course_with_blasts()
    run_cycle(course, D("2026-12-20"), "cri")
    nd = course_status(course, D("2027-01-05"), monograph=BESPONSA).next_dose
    assert (nd.cycle, nd.day, nd.planned, nd.mg_per_m2, nd.state) == (2, 1, D("2027-01-10"), 0.5, "upcoming")


def test_an_overdue_dose_brings_interruption_advice():
    course = course_with_blasts()
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    record_dose(course, 1, 1, D("2026-12-20"), FAR, monograph=BESPONSA)
    # Day 8 planned 2026-12-27; on 2027-01-03 it is 7 days late.
    status = course_status(course, D("2027-01-03"), monograph=BESPONSA)
    codes = [a.code for a in status.advice]
    assert "interruption-omit" in codes
    omit = next(a for a in status.advice if a.code == "interruption-omit")
    assert (omit.cycle, omit.day) == (1, 8)
    late = course_status(course, D("2027-01-10"), monograph=BESPONSA)
    assert "interruption-reduce" in [a.code for a in late.advice]


AT = datetime(2027, 1, 3, 9, 0, tzinfo=timezone.utc)


def test_accepting_omit_and_reduce_changes_the_plan_and_the_next_cycle():
    course = course_with_blasts()
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    record_dose(course, 1, 1, D("2026-12-20"), FAR, monograph=BESPONSA)
    advice = [a for a in course_status(course, D("2027-01-10"), monograph=BESPONSA).advice if a.cycle == 1]
    records = raise_advice(course, advice, D("2027-01-10"))
    for record in records:
        decide(course, record, Decision.make(record.advice.code, True, "Dr Who", "Pat", "per label", AT), monograph=BESPONSA)
    assert plan_for(course, 1, monograph=BESPONSA).dose(8).status == "omitted"
    assert course.reduction_level == 1
    record_dose(course, 1, 15, D("2027-01-03"), FAR, monograph=BESPONSA)
    record_response(course, D("2027-01-08"), "none", None, FAR, monograph=BESPONSA)
    start_cycle(course, D("2027-01-10"), FAR, monograph=BESPONSA)
    assert [d.mg_per_m2 for d in plan_for(course, 2, monograph=BESPONSA).doses] == [0.6, 0.375, 0.375]


def test_declined_advice_changes_nothing_and_is_kept():
    course = course_with_blasts()
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    [record] = raise_advice(course, interruption_advice(15, monograph=BESPONSA), D("2027-01-10"))[1:2]
    assert record.advice.action is Action.REDUCE_NEXT_CYCLE
    decide(course, record, Decision.make(record.advice.code, False, "Dr Who", "Pat", "counts recovered quickly", AT), monograph=BESPONSA)
    assert course.reduction_level == 0 and record.decision.accepted is False
    with pytest.raises(ValidationError) as again:
        decide(course, record, Decision.make(record.advice.code, True, "Dr Who", "Pat", "changed mind", AT), monograph=BESPONSA)
    # When it was decided, in local time with the date (it was raw ISO, '2026-...T...+00:00').
    assert again.value.message.endswith(f"was already decided on {format_instant(AT)}"), again.value.message


def test_no_re_escalation_across_cycles_and_two_doses_per_cycle():
    course = course_with_blasts()
    run_cycle(course, D("2026-12-20"), "cr")
    for code_level in (1, 2):
        [rec] = [
            r
            for r in raise_advice(course, interruption_advice(14, course.reduction_level, monograph=BESPONSA), D("2027-01-09"))
            if r.advice.action in (Action.REDUCE_NEXT_CYCLE, Action.TWO_DOSES_PER_CYCLE)
        ]
        decide(course, rec, Decision.make(rec.advice.code, True, "Dr Who", "Pat", "per label", AT), monograph=BESPONSA)
        assert course.reduction_level == code_level
    plan = run_cycle(course, D("2027-01-10"), "cr")
    assert [d.status for d in plan.doses] == ["given", "given", "omitted"]
    assert plan.dose(1).mg_per_m2 == 0.375
    # A third interruption of 14 days or more after both steps: discontinue.
    assert [a.action for a in interruption_advice(14, course.reduction_level, monograph=BESPONSA)][-1] is Action.DISCONTINUE
    # Lowering the level by hand is refused when the next cycle starts.
    course.reduction_level = 0
    with pytest.raises(ValidationError) as info:
        start_cycle(course, plan.next_cycle_start, FAR, monograph=BESPONSA)
    assert "never re-escalated" in info.value.message


def test_accepted_discontinuation_ends_the_course():
    course = course_with_blasts()
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    record_dose(course, 1, 1, D("2026-12-20"), FAR, monograph=BESPONSA)
    [record] = raise_advice(course, liver_advice(0, 0, vod_sos=True, monograph=BESPONSA), D("2026-12-24"))
    decide(course, record, Decision.make(record.advice.code, True, "Dr Who", "Pat", "VOD confirmed", AT), monograph=BESPONSA)
    status = course_status(course, D("2026-12-27"), monograph=BESPONSA)
    assert status.discontinued and status.next_dose is None and not status.next_cycle_allowed
    assert status.limit.rule == "discontinued"
    with pytest.raises(CourseBlocked):
        record_dose(course, 1, 8, D("2026-12-27"), FAR, monograph=BESPONSA)


def test_open_advice_is_listed_until_decided():
    course = course_with_blasts()
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    record_dose(course, 1, 1, D("2026-12-20"), FAR, monograph=BESPONSA)
    [record] = raise_advice(course, liver_advice(2, 3, monograph=BESPONSA), D("2026-12-26"))
    assert course_status(course, D("2026-12-26"), monograph=BESPONSA).open_advice == (record,)
    decide(course, record, Decision.make("liver-hold", True, "Dr Who", "Pat", "hold Day 8", AT), monograph=BESPONSA)
    assert course_status(course, D("2026-12-26"), monograph=BESPONSA).open_advice == ()
    assert 8 in course.cycle(1).delayed_days


# -- weight ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "new_kg, child, flagged",
    [(77.0, False, True), (76.9, False, False), (63.0, False, True), (63.1, False, False), (73.5, True, True), (73.4, True, False)],
)
def test_weight_change_against_the_site_threshold(new_kg, child, flagged):
    check = weight_change_check(70.0, D("2026-12-20"), new_kg, D("2026-12-28"), is_child=child)
    assert check.needs_recheck is flagged
    assert check.threshold_percent == (5 if child else 10)


def test_a_dosing_weight_older_than_30_days_is_flagged_across_the_year_end():
    assert not weight_change_check(70.0, D("2026-12-20"), None, D("2027-01-19")).needs_recheck
    check = weight_change_check(70.0, D("2026-12-20"), None, D("2027-01-20"))
    assert check.needs_recheck and "31 days old" in check.reasons[0]


def test_course_weight_recheck_in_status():
    course = course_with_blasts()
    record_weight(course, 70, D("2026-12-19"), FAR)
    start_cycle(course, D("2026-12-20"), FAR, monograph=BESPONSA)
    assert not course_status(course, D("2026-12-20"), monograph=BESPONSA).weight.needs_recheck
    record_weight(course, 78, D("2026-12-26"), FAR)
    status = course_status(course, D("2026-12-26"), monograph=BESPONSA)
    assert status.weight.needs_recheck
    assert status.next_dose.flags and "BSA re-check" in status.next_dose.flags[0]
    assert any(a.action is Action.RECHECK_BSA for a in status.advice)
    record_weight(course, 78, D("2026-12-26"), FAR, use_for_dosing=True)
    assert not course_status(course, D("2026-12-26"), monograph=BESPONSA).weight.needs_recheck


def test_status_to_dict_is_json_ready():
    import json

    course = course_with_blasts()
    run_cycle(course, D("2026-12-20"), "cr", True)
    data = json.loads(json.dumps(course_status(course, D("2027-01-05"), monograph=BESPONSA).to_dict()))
    assert data["next_dose"]["planned"] == "2027-01-10"
    assert data["cycles"][0]["doses"][2]["given"] == "2027-01-03"
    assert data["responses"][0] == {"assessed_on": "2027-01-09", "response": "cr", "mrd_negative": True}


def test_a_late_day_1_moves_the_cycle_instead_of_omitting_it():
    from infusion_app.domain.course import move_cycle_start

    course = course_with_blasts()
    start_cycle(course, D("2026-12-28"), FAR, monograph=BESPONSA)
    status = course_status(course, D("2027-01-02"), monograph=BESPONSA)
    codes = [a.code for a in status.advice]
    assert "cycle-start-passed" in codes and "interruption-omit" not in codes
    move_cycle_start(course, D("2027-01-02"), FAR, monograph=BESPONSA)
    plan = plan_for(course, 1, monograph=BESPONSA)
    assert plan.dose(15).planned == D("2027-01-16") and plan.next_cycle_start == D("2027-01-23")
    record_blasts(course, 5000, D("2027-01-01"), FAR)  # the first count is too old by now (site limit 72 h)
    record_dose(course, 1, 1, D("2027-01-02"), FAR, monograph=BESPONSA)
    with pytest.raises(ValidationError):
        move_cycle_start(course, D("2027-01-03"), FAR, monograph=BESPONSA)


def test_a_next_cycle_held_14_days_brings_the_reduction_advice():
    course = course_with_blasts()
    plan = run_cycle(course, D("2026-12-20"), "cr")
    held = course_status(course, plan.next_cycle_start + timedelta(days=14), monograph=BESPONSA)
    assert held.next_dose.cycle == 2 and held.next_dose.state == "due"
    assert [a.code for a in held.advice if a.code.startswith("interruption")] == ["interruption-reduce"]
    assert [
        a.code for a in course_status(course, plan.next_cycle_start + timedelta(days=13), monograph=BESPONSA).advice if a.code.startswith("interruption")
    ] == []


def test_the_no_response_stop_is_advised_only_once_the_third_cycle_is_done():
    course = course_with_blasts()
    start = D("2026-12-20")
    for _ in range(2):
        start = run_cycle(course, start, "none").next_cycle_start
    start_cycle(course, start, FAR, monograph=BESPONSA)
    during = course_status(course, start + timedelta(days=2), monograph=BESPONSA)
    assert during.limit.rule == "no-response"
    assert not any(a.action is Action.STOP_COURSE for a in during.advice)
    plan = plan_for(course, 3, monograph=BESPONSA)
    after = course_status(course, plan.end + timedelta(days=1), monograph=BESPONSA)
    assert any(a.action is Action.STOP_COURSE for a in after.advice)


def test_text_shows_a_window_that_no_date_satisfies():
    plan = plan_cycle(1, D("2026-12-20"), given={1: D("2026-12-20"), 8: D("2026-12-31")}, monograph=BESPONSA)
    line = next(text for text in plan.summary_lines(BESPONSA) if "Day 15" in text)
    assert "no valid date: earliest 2027-01-06 is after latest 2027-01-05" in line
    assert any("no date satisfies" in w for w in plan.warnings)


@pytest.mark.parametrize("typed, per_mm3", [("1,500", 1500.0), ("1500", 1500.0), ("0", 0.0), ("15", 15.0), ("12500", 12500.0), (" 1,000 ", 1000.0)])
def test_blasts_are_read_as_typed(typed, per_mm3):
    course = new_course("MRN001", hsct_planned=False, monograph=BESPONSA)
    record_blasts(course, typed, date(2026, 1, 10), date(2026, 1, 15))
    assert course.blasts_per_mm3 == per_mm3


@pytest.mark.parametrize(
    "typed, says",
    [("1,5", "use a decimal point: 1.5"), ("1_000", "not a number"), ("15 00", "not a number"), ("1,50", "use a decimal point: 1.50"), ("nan", "not a number")],
)
def test_a_decimal_comma_or_python_syntax_in_blasts_is_refused_not_misread(typed, says):
    with pytest.raises(ValidationError) as raised:
        record_blasts(new_course("MRN001", hsct_planned=False, monograph=BESPONSA), typed, date(2026, 1, 10), date(2026, 1, 15))
    assert raised.value.field == "blasts" and says in raised.value.message  # "1,5" was stored as 15


# -- issue 11: holds and discontinuations block, stale blasts, loss of response -------------------


def _decision(code, accepted=True):
    from datetime import datetime, timezone

    from infusion_app.domain.dose_modification import Decision

    return Decision.make(code, accepted, "Dr Rao", "ana", "as advised", datetime(2026, 12, 20, 9, tzinfo=timezone.utc))


def test_a_blast_count_older_than_the_site_limit_does_not_clear_the_first_dose():
    from infusion_app.domain.course import first_dose_block

    course = course_with_blasts()  # 5,000/mm³ on 2026-12-18
    assert first_dose_block(course, on=D("2026-12-20"), monograph=BESPONSA) is None
    reason = first_dose_block(course, on=D("2026-12-21"), monograph=BESPONSA)
    assert reason and "72 hours" in reason and "cytoreduction" in reason
    start_cycle(course, D("2026-12-21"), FAR, monograph=BESPONSA)
    with pytest.raises(CourseBlocked, match="72 hours"):
        record_dose(course, 1, 1, D("2026-12-21"), FAR, monograph=BESPONSA)


def test_an_accepted_liver_hold_blocks_the_next_dose_until_recovery_is_recorded():
    from infusion_app.domain.course import decide, raise_advice
    from infusion_app.domain.dose_modification import liver_advice

    course = course_with_blasts()
    start_cycle(course, D("2026-12-19"), FAR, monograph=BESPONSA)
    record_dose(course, 1, 1, D("2026-12-19"), FAR, monograph=BESPONSA)
    [hold] = raise_advice(course, liver_advice(3, 1, monograph=BESPONSA), D("2026-12-24"))
    decide(course, hold, _decision(hold.advice.code), monograph=BESPONSA)
    with pytest.raises(CourseBlocked, match="liver-grade-2-hold"):
        record_dose(course, 1, 8, D("2026-12-26"), FAR, monograph=BESPONSA)
    assert any("liver-grade-2-hold" in b for b in course_status(course, D("2026-12-26"), monograph=BESPONSA).next_dose.blocked_by)
    raise_advice(course, liver_advice(1.2, 1, monograph=BESPONSA), D("2026-12-26"))  # recovery values for the liver rule
    record_dose(course, 1, 8, D("2026-12-26"), FAR, monograph=BESPONSA)


def test_open_advice_to_discontinue_blocks_at_once_and_a_declined_one_is_shown():
    from infusion_app.domain.course import decide, declined_discontinuations, raise_advice
    from infusion_app.domain.dose_modification import vod_sos_advice

    course = course_with_blasts()
    start_cycle(course, D("2026-12-19"), FAR, monograph=BESPONSA)
    record_dose(course, 1, 1, D("2026-12-19"), FAR, monograph=BESPONSA)
    [vod] = raise_advice(course, vod_sos_advice(monograph=BESPONSA), D("2026-12-24"))
    with pytest.raises(CourseBlocked, match="discontinue permanently"):
        record_dose(course, 1, 8, D("2026-12-26"), FAR, monograph=BESPONSA)
    decide(course, vod, _decision(vod.advice.code, accepted=False), monograph=BESPONSA)
    record_dose(course, 1, 8, D("2026-12-26"), FAR, monograph=BESPONSA)
    [shown] = declined_discontinuations(course)
    assert "NOT followed" in shown and "as advised" in shown
    assert course_status(course, D("2026-12-27"), monograph=BESPONSA).to_dict()["declined_discontinuations"] == [shown]


def test_response_none_after_cr_is_flagged_as_loss_of_response():
    course = course_with_blasts()
    record_response(course, D("2026-12-18"), "cri", None, FAR, monograph=BESPONSA)
    record_response(course, D("2027-01-20"), "none", None, FAR, monograph=BESPONSA)
    advice = {a.code: a for a in course_status(course, D("2027-01-21"), monograph=BESPONSA).advice}
    assert "loss-of-response" in advice and "CRi" in advice["loss-of-response"].message


@pytest.mark.parametrize("start", [date(1, 1, 1), date(1899, 12, 31), date(1900, 1, 1)])
def test_a_cycle_day_1_typed_decades_back_is_refused_and_the_course_stays_readable(start):
    """The course tab passes dates, not text: a Day 1 of 0001-01-01 skipped the calendar check the
    command line's text met, was stored, and every status after it failed (its overdue doses were an
    interruption of 739,678 days), so the course could no longer be shown or dosed."""
    from infusion_app.domain import course as rules
    from infusion_app.domain.errors import ValidationError
    from tests.drugs import BESPONSA

    today = date(2026, 3, 4)
    course = rules.new_course("MRN1", False, today=today, monograph=BESPONSA)
    with pytest.raises(ValidationError) as refused:
        rules.start_cycle(course, start, today, monograph=BESPONSA)
    assert refused.value.field == "start" and "e.g." in refused.value.message
    assert course.cycles == []
    rules.course_status(course, today, monograph=BESPONSA)


@pytest.mark.parametrize("typed", ["12.000", "1.200.000"])
def test_a_blast_count_grouped_with_points_is_refused_not_read_as_a_dozen(typed):
    """'12.000' (twelve thousand where the point groups thousands) was stored as 12 blasts per mm³:
    under BESPONSA's 10,000 cytoreduction threshold it is above."""
    from infusion_app.domain import course as rules
    from infusion_app.domain.errors import ValidationError
    from tests.drugs import BESPONSA

    today = date(2026, 3, 4)
    course = rules.new_course("MRN1", False, today=today, monograph=BESPONSA)
    with pytest.raises(ValidationError) as refused:
        rules.record_blasts(course, typed, today, today)
    assert refused.value.field == "blasts" and typed.replace(".", ",") in refused.value.message
    assert course.blasts_per_mm3 is None
    rules.record_blasts(course, "12,000", today, today)
    assert course.blasts_per_mm3 == 12000


@pytest.mark.parametrize(
    "typed, read", [("12.5 x10^9/L", 12500), ("12.5 × 10⁹/L", 12500), ("12500/uL", 12500), ("500 /µL", 500), ("8,000 per mm³", 8000), ("1.5 K/uL", 1500)]
)
def test_a_blast_count_typed_with_its_unit_is_converted_to_per_mm3(typed, read):
    """The field is per mm³ (the label's cytoreduction threshold, 10,000/mm³); a count the lab gives in
    10⁹/L had to be converted by hand, and typed bare (12.5 for 12,500 per mm³) read under the threshold."""
    from infusion_app.domain import course as rules
    from infusion_app.domain.errors import ValidationError
    from tests.drugs import BESPONSA

    today = date(2026, 3, 4)
    course = rules.new_course("MRN1", False, today=today, monograph=BESPONSA)
    rules.record_blasts(course, typed, today, today)
    assert course.blasts_per_mm3 == read
    with pytest.raises(ValidationError) as refused:
        rules.record_blasts(course, "12.000/uL", today, today)  # the point grouping thousands, with a unit too
    assert refused.value.field == "blasts" and "12,000 or 12000" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        rules.record_blasts(course, "2000 x10^9/L", today, today)
    assert refused.value.field == "blasts" and "must be 0 to 1,000,000 per mm³" in refused.value.message


@pytest.mark.parametrize(
    "typed, per_mm3, with_unit",
    [
        ("12.5", "12,500", "type 12500, or 12.5 x10^9/L"),
        ("0.500", "500", "type 500, or 0.500 x10^9/L"),
        ("15.0", "15,000", "type 15000"),
        (12.5, "12,500", "12.5 x10^9/L"),
    ],
)
def test_a_bare_blast_count_with_a_decimal_point_is_refused_as_a_count_in_10_9_per_litre(typed, per_mm3, with_unit):
    """Cells per mm³ are a whole number: a bare '12.5' is 12.5 × 10⁹/L, 12,500/mm³ above the cytoreduction
    threshold, and was stored as 12.5/mm³ under it; b50a880 read '0.500' as 0.5/mm³, 500/mm³ under-read a
    thousandfold. Refused naming both accepted forms; whole numbers and a count with its unit still pass."""
    from infusion_app.domain import course as rules
    from infusion_app.domain.errors import ValidationError
    from tests.drugs import BESPONSA

    today = date(2026, 3, 4)
    course = rules.new_course("MRN1", False, today=today, monograph=BESPONSA)
    with pytest.raises(ValidationError) as refused:
        rules.record_blasts(course, typed, today, today)
    message = refused.value.message
    assert refused.value.field == "blasts" and "the blast count is per mm³, a whole number such as 12500" in message
    assert f"is {per_mm3} per mm³" in message and with_unit in message
    assert course.blasts_per_mm3 is None
    rules.record_blasts(course, f"{typed} x10^9/L", today, today)
    assert course.blasts_per_mm3 == float(per_mm3.replace(",", ""))


def test_a_blast_count_with_its_unit_that_is_a_fraction_of_a_cell_is_refused():
    from infusion_app.domain import course as rules
    from infusion_app.domain.errors import ValidationError
    from tests.drugs import BESPONSA

    today = date(2026, 3, 4)
    course = rules.new_course("MRN1", False, today=today, monograph=BESPONSA)
    for typed in ("12.5/uL", "1.2345 x10^9/L"):
        with pytest.raises(ValidationError) as refused:
            rules.record_blasts(course, typed, today, today)
        assert refused.value.field == "blasts" and "not a whole count" in refused.value.message
    assert course.blasts_per_mm3 is None


def test_a_stored_fractional_blast_count_is_kept_but_does_not_clear_the_first_dose():
    """A count stored before the rule (0.5 from '0.500') is read back as stored, the course stays readable,
    but it cannot clear the cytoreduction gate: read in 10⁹/L it is 500/mm³ (12.5 would be 12,500)."""
    from infusion_app.domain import course as rules
    from tests.drugs import BESPONSA

    today = date(2026, 3, 4)
    course = rules.new_course("MRN1", False, today=today, monograph=BESPONSA)
    rules.record_blasts(course, "100", today, today)
    assert rules.first_dose_block(course, BESPONSA, today) is None
    course.blasts_per_mm3 = 12.5
    block = rules.first_dose_block(course, BESPONSA, today)
    assert block and "not a whole count" in block and "12,500/mm³" in block and "record it again" in block
    assert rules.course_status(course, today, monograph=BESPONSA).course.blasts_per_mm3 == 12.5
