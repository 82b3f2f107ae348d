"""MYLOTARG for children (reviewer M9), from the monograph's data: 0.1 mg/kg below a BSA of 0.6 m²,
1 month the least age, and the single-agent regimen (the adults' in the reference) refused a child."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from infusion_app.domain import course as course_rules
from infusion_app.domain.course import CourseBlocked
from infusion_app.domain.dosing import DoseOrder, PreparationOrder, calculate_dose
from infusion_app.domain.double_check import verification_mismatches
from infusion_app.domain.records import Patient, Preparation
from tests.drugs import BESPONSA, MYLOTARG

FRACTIONATED = MYLOTARG.with_regimen("fractionated")
SINGLE = MYLOTARG.with_regimen("single-agent")
DOSE_DAY = date(2026, 12, 2)


@pytest.mark.parametrize("height, weight, dose", [("55 cm", "4.5 kg", 0.45), ("60 cm", "6 kg", 0.6), ("75 cm", "8.6 kg", 0.86)])
def test_below_0_6_m2_a_child_is_dosed_0_1_mg_per_kg(height, weight, dose):
    calc = calculate_dose(DoseOrder(height, weight, 1, 4), FRACTIONATED)
    assert calc.bsa_m2 < 0.6 and calc.dose_mg_per_kg == 0.1
    assert calc.calculated_dose_mg == dose and calc.dose_mg == pytest.approx(dose)
    assert calc.withdraw_ml == pytest.approx(dose)  # 1 mg/mL reconstituted
    assert calc.container == "syringe" and calc.can_prepare
    assert any("0.1 mg/kg" in w and "0.6 m²" in w for w in calc.warnings)
    assert json.loads(json.dumps(calc.to_dict()))["dose_mg_per_kg"] == 0.1


def test_from_0_6_m2_a_child_gets_3_mg_per_m2_and_an_adult_has_no_per_kg_key():
    child = calculate_dose(DoseOrder("100 cm", "15 kg", 1, 1), FRACTIONATED)
    assert child.bsa_m2 >= 0.6 and child.dose_mg_per_kg is None and child.calculated_dose_mg == pytest.approx(1.95)
    adult = calculate_dose(DoseOrder("170 cm", "70 kg", 1, 1), FRACTIONATED)
    assert adult.dose_mg == 4.5 and "dose_mg_per_kg" not in adult.to_dict()
    # BESPONSA has no weight-based dose: its small child stays on mg/m².
    assert calculate_dose(DoseOrder("55 cm", "4.5 kg", 1, 1), BESPONSA).dose_mg_per_kg is None


def test_one_month_is_the_least_age_and_besponsa_keeps_its_year():
    def stops(born, monograph=FRACTIONATED):
        return calculate_dose(DoseOrder("55 cm", "4.5 kg", 1, 1), monograph, date_of_birth=born, dose_date=DOSE_DAY).hard_stops

    assert any("under 1 month" in s for s in stops(date(2026, 11, 3)))  # 29 days
    assert stops(date(2026, 11, 2)) == []  # 1 month to the day
    assert any("under 1 year" in s for s in stops(date(2026, 1, 1), BESPONSA))
    assert stops(date(2025, 12, 2), BESPONSA) == []


def test_the_single_agent_regimen_is_refused_a_child_and_given_an_adult():
    order = DoseOrder("140 cm", "35 kg", 1, 1)
    child = calculate_dose(order, SINGLE, date_of_birth=date(2016, 1, 1), dose_date=DOSE_DAY)
    assert [s for s in child.hard_stops if s.startswith("children-regimen")] and "single-agent" in child.hard_stops[0]
    assert any(p.startswith("children.allowed") for p in child.pending_verification)  # the reference is silent: verify
    adult = calculate_dose(DoseOrder("170 cm", "70 kg", 1, 1), SINGLE, date_of_birth=date(1970, 1, 1), dose_date=DOSE_DAY)
    assert adult.hard_stops == []
    # the fractionated regimen is the children's
    assert calculate_dose(order, FRACTIONATED, date_of_birth=date(2016, 1, 1), dose_date=DOSE_DAY).hard_stops == []


def test_the_blind_double_check_accepts_the_weight_based_dose():
    order = DoseOrder("55 cm", "4.5 kg", 1, 1)
    calc = calculate_dose(order, FRACTIONATED)
    prep = Preparation(
        "MYL-1",
        Patient("Kid, Ann", "MRN9", date(2026, 6, 1)),
        PreparationOrder(order, calc, None, "fractionated"),
        datetime(2026, 12, 2, tzinfo=timezone.utc),
        "tina",
        MYLOTARG.id,
        MYLOTARG.revision,
    )
    entered = {"mrn": "MRN9", "height": "55 cm", "weight": "4.5 kg", "dose_mg": str(calc.dose_mg), "volume_ml": str(calc.withdraw_ml)}
    assert verification_mismatches(prep, entered) == []


def test_the_sheet_shows_mg_per_kg_times_the_weight():
    from infusion_app.reports import demo
    from infusion_app.reports.model import SheetData

    import dataclasses

    prep = demo.demo_preparation(FRACTIONATED)
    calc = calculate_dose(DoseOrder("55 cm", "4.5 kg", 1, 1), FRACTIONATED)
    prep = dataclasses.replace(prep, order=dataclasses.replace(prep.order, calculation=calc))
    data = SheetData.from_preparation(prep, FRACTIONATED, [], printed_at=datetime(2026, 12, 2, tzinfo=timezone.utc), program_version="t")
    rows = {row.label: row.value for row in data.order}
    assert rows["Dose"].startswith("0.1 mg/kg × 4.5 kg = 0.45 mg")


def test_a_child_is_given_one_fractionated_dose_until_a_pharmacist_confirms_the_days():
    """Pharmacist review: the reference gives the children's dose, not its days; Days 4 and 7 as for
    adults would triple a child's exposure. Day 1 only (verify); an adult keeps Days 1, 4 and 7."""
    from tests.cli_helpers import run_cli

    child = [
        "calc",
        "--drug",
        "gemtuzumab-ozogamicin",
        "--regimen",
        "fractionated",
        "--cycle",
        "1",
        "--height",
        "89 cm",
        "--weight",
        "14.4 kg",
        "--dob",
        "2024-12-01",
        "--dose-date",
        "2026-12-02",
    ]
    assert run_cli(*child, "--day", "1").code == 0
    for day in ("4", "7"):
        refused = run_cli(*child, "--day", day)
        assert refused.code == 1 and "children-day" in refused.stdout and "Day 1 only" in refused.stdout
    adult = ["calc", "--drug", "gemtuzumab-ozogamicin", "--regimen", "fractionated", "--cycle", "1", "--height", "170 cm", "--weight", "70 kg", "--day", "4"]
    assert run_cli(*adult).code == 0


# -- the course plans a child's days by the same data rule as the order check -----------------------
START = date(2026, 12, 20)


def _course(date_of_birth):
    kept = course_rules.new_course("MRN7", False, date_of_birth=date_of_birth, today=START, monograph=MYLOTARG, regimen="fractionated")
    course_rules.record_blasts(kept, 100, START, START)
    course_rules.start_cycle(kept, START, START, monograph=MYLOTARG)
    return kept


def _days(kept) -> list[int]:
    return [d.day for d in course_rules.plan_for(kept, 1, MYLOTARG).doses]


def test_a_childs_course_never_offers_a_day_the_order_refuses():
    """Pharmacist review: a child's order is refused on Days 4 and 7 (children.dose_days = [1], verify);
    the course listed them all the same, and offered Day 4 as the next dose after Day 1."""
    child = _course(date(2016, 1, 1))
    plan = course_rules.plan_for(child, 1, MYLOTARG)
    assert _days(child) == [1]
    assert "Day 1 only" in "\n".join(plan.summary_lines(MYLOTARG)) and "Day 4, 7 not planned" in plan.schedule_note
    assert any(r.path == "children.dose_days" and r.verify for r in plan.rules)
    course_rules.record_dose(child, 1, 1, START, START, monograph=MYLOTARG)
    assert course_rules.course_status(child, START + timedelta(days=3), MYLOTARG).next_dose is None
    with pytest.raises(CourseBlocked) as refused:
        course_rules.order_from_course(child, START + timedelta(days=3), 1, 4, monograph=MYLOTARG)
    assert any(r.startswith("dose-not-planned") and "Day 1 only" in r for r in refused.value.reasons)
    with pytest.raises(CourseBlocked):
        course_rules.record_dose(child, 1, 4, START + timedelta(days=3), START + timedelta(days=3), monograph=MYLOTARG)
    assert _days(_course(date(1970, 1, 1))) == [1, 4, 7]  # an adult keeps the regimen's days


def test_a_course_kept_without_a_date_of_birth_plans_by_the_orders_patient():
    course = _course(None)
    assert _days(course) == [1, 4, 7]
    course_rules.record_dose(course, 1, 1, START, START, monograph=MYLOTARG)
    with pytest.raises(CourseBlocked) as refused:  # the next dose of a child's course: there is none
        course_rules.order_from_course(course, START + timedelta(days=3), monograph=MYLOTARG, date_of_birth=date(2016, 1, 1))
    assert "no further dose" in refused.value.reasons[0]


@pytest.mark.parametrize(
    "born",
    [
        date(2008, 12, 19),
        date(2008, 12, 20),
        date(2008, 12, 21),
        date(2008, 12, 23),
        date(2008, 12, 24),
        date(2008, 12, 26),
        date(2008, 12, 27),
        date(2016, 1, 1),
        date(1970, 1, 1),
    ],
)
def test_the_course_days_are_the_days_the_order_check_accepts(born):
    """Around the 18th birthday too: a day is in the course exactly when the order check on its date accepts it."""
    planned = _days(_course(born))
    for day in FRACTIONATED.dose_days:
        calc = calculate_dose(DoseOrder("120 cm", "25 kg", 1, day), FRACTIONATED, date_of_birth=born, dose_date=START + timedelta(days=day - 1))
        accepted = not any(s.startswith("children-day") for s in calc.hard_stops)
        assert (day in planned) == accepted, (born, day)
