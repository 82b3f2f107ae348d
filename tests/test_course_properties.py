"""Properties of cycle plans over any start date and any given dates (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from infusion_app.domain.course import plan_cycle
from infusion_app.domain.monograph import load_monograph
from tests.drugs import BESPONSA

M = load_monograph("inotuzumab-ozogamicin")
GAP = timedelta(days=int(M.magnitude("cycles.min_days_between_doses", "day")))
WINDOW = timedelta(days=int(M.magnitude("cycles.dose_day_window", "day")))

starts = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
offsets = st.integers(min_value=-4, max_value=4)


@given(start=starts, off8=offsets, off15=offsets, cycle=st.integers(1, 6), extend=st.booleans())
def test_windows_never_break_the_6_day_rule_and_given_dates_are_judged_by_them(start, off8, off15, cycle, extend):
    extend = extend and cycle == 1
    day8 = start + timedelta(days=7 + off8)
    day15 = start + timedelta(days=14 + off15)
    plan = plan_cycle(cycle, start, response="cr", given={1: start, 8: day8, 15: day15}, extend_to_28=extend, monograph=BESPONSA)
    d1, d8, d15 = plan.doses
    # Each window starts at least 6 days after the dose actually given before it, and no earlier than -2 days.
    assert d8.earliest >= d1.given + GAP and d8.earliest >= d8.planned - WINDOW
    assert d15.earliest >= d8.given + GAP and d15.earliest >= d15.planned - WINDOW
    assert d8.latest == d8.planned + WINDOW and d15.latest == d15.planned + WINDOW
    # A given date is a hard stop exactly when it falls outside its window.
    outside = [d for d in (d8, d15) if not d.earliest <= d.given <= d.latest]
    assert len(plan.hard_stops) == len(outside)
    # The next cycle never starts before the cycle ends, nor fewer than 6 days after the last dose.
    assert plan.next_cycle_start >= plan.start + timedelta(days=plan.length_days)
    assert plan.next_cycle_start >= max(day8, day15) + GAP
    assert (plan.end - plan.start).days + 1 == plan.length_days


@given(start=starts, cycle=st.integers(1, 6), level=st.integers(0, 2), response=st.sampled_from(["none", "cr", "cri"]))
def test_a_reduction_only_ever_lowers_each_dose(start, cycle, level, response):
    from infusion_app.domain.dose_modification import reduction_for_level

    full = plan_cycle(cycle, start, response=response, monograph=BESPONSA)
    reduced = plan_cycle(cycle, start, response=response, reduction=reduction_for_level(level, monograph=BESPONSA), monograph=BESPONSA)
    for a, b in zip(full.doses, reduced.doses):
        assert b.mg_per_m2 is None or b.mg_per_m2 <= a.mg_per_m2
        assert b.standard_mg_per_m2 == a.standard_mg_per_m2
