"""Ages in words are singular at one: 'the patient is 1 years old' (reviewer) wherever an age is worded."""

from __future__ import annotations

from datetime import date

from infusion_app.domain.course import child_rules, new_course
from infusion_app.domain.coverage import CoverageFacts, check_coverage
from infusion_app.domain.dosing import DoseOrder, calculate_dose
from infusion_app.domain.formatting import format_age, format_count
from tests.drugs import BESPONSA, BESPONSA_POLICY, MYLOTARG

DOSE_DAY = date(2026, 12, 2)


def test_format_age_counts_years_and_months():
    assert format_age(1) == "1 year old" and format_age(40) == "40 years old"
    assert format_age(0, 1) == "1 month old" and format_age(0, 6) == "6 months old"
    assert format_count(1, "years") == "1 year" and format_count(18, "years") == "18 years" and format_count(1, "day") == "1 day"


def test_a_one_year_old_child_course_says_1_year_old():
    course = new_course("M1", False, date_of_birth=date(2025, 6, 1), today=date(2026, 12, 1), monograph=BESPONSA)
    is_child, why = child_rules(course, date(2026, 12, 1))
    assert is_child and why.startswith("1 year old (born 2025-06-01"), why


def test_a_one_year_old_refused_a_regimen_for_adults_says_1_year_old():
    single = MYLOTARG.with_regimen("single-agent")
    stops = calculate_dose(DoseOrder("75 cm", "10 kg", 1, 1), single, date_of_birth=date(2025, 6, 1), dose_date=DOSE_DAY).hard_stops
    [stop] = [s for s in stops if s.startswith("children-regimen")]
    assert "the patient is 1 year old:" in stop and "1 years" not in stop, stop


def test_a_payer_minimum_age_says_1_year():
    decision = check_coverage(CoverageFacts(age_years=1), BESPONSA_POLICY)
    [adult] = [c for c in decision.criteria if c.id == "adult"]
    assert "age_years 1 year is under the policy's minimum of 18 years" in adult.reason, adult.reason
