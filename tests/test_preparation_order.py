"""The stored order is typed: one conversion (dosing.PreparationOrder / DoseCalculation to_dict and
from_dict) between the preparation's fields and the stored JSON, and orders stored by 0.1 still load."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from infusion_app.domain.dosing import DoseCalculation, DoseOrder, PreparationOrder, calculate_dose
from infusion_app.domain.monograph import load_monograph

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)

# The calculation as 0.1 stored it (2e9e0b2, the first dose engine): no site rounding, no draw
# syringe, no container, no age, no regimen or cap.
V01_CALCULATION = {
    "height_text": "170 cm",
    "weight_text": "70 kg",
    "height_cm": 170.0,
    "weight_kg": 70.0,
    "cycle": 1,
    "day": 1,
    "response": None,
    "bsa_m2": 1.82,
    "bsa_m2_unrounded": 1.8181,
    "bsa_formula": "mosteller",
    "bsa_formula_name": "Mosteller",
    "bsa_equation": "sqrt(height cm x weight kg / 3600)",
    "standard_mg_per_m2": 0.8,
    "reduce_pct": 0.0,
    "dose_mg_per_m2": 0.8,
    "dose_mg": 1.46,
    "vials": 2,
    "vial_mg": 0.9,
    "reconstitution_ml_per_vial": 4.0,
    "reconstituted_mg_per_ml": 0.25,
    "withdraw_ml": 5.84,
    "final_volume_ml": 50.0,
    "nacl_ml": 44.16,
    "final_concentration_mg_per_ml": 0.0292,
    "concentration_min_mg_per_ml": 0.01,
    "concentration_max_mg_per_ml": 0.1,
    "discarded_mg": 0.34,
    "hcpcs": "J9229",
    "billing_unit_mg": 0.1,
    "billing_units_administered": 15,
    "billing_units_discarded": 3,
    "billing_modifier": "JW",
    "vehicle": "0.9% Sodium Chloride",
    "warnings": [],
    "hard_stops": [],
    "pending_verification": [],
    "monograph_id": "inotuzumab-ozogamicin",
    "monograph_revision": "2026-11-27",
}
V01_ORDER = {"height": "170 cm", "weight": "70 kg", "cycle": 1, "day": 1, "response": None, "formula": None, "reduce_pct": 0.0, "calculation": V01_CALCULATION}


def test_an_order_stored_by_0_1_loads_with_the_defaults_of_the_keys_added_since():
    loaded = PreparationOrder.from_dict(json.loads(json.dumps(V01_ORDER)))
    calc = loaded.calculation
    assert isinstance(calc, DoseCalculation) and calc.dose_mg == 1.46 and calc.withdraw_ml == 5.84
    # before site rounding the dose was BSA x mg/m2; before the draw syringe it was drawn as calculated
    assert calc.calculated_dose_mg == 1.46 and calc.dose_rounding_pct == 0.0 and calc.dose_before_draw_mg == 1.46
    assert calc.container == "bag" and calc.draw_syringe_ml == 0.0 and calc.regimen is None and calc.dose_cap_mg is None
    assert loaded.dose == DoseOrder("170 cm", "70 kg", 1, 1) and loaded.course is None and loaded.coverage is None
    assert loaded.cycle == 1 and loaded.day == 1


def test_a_dead_key_is_dropped_and_a_missing_needed_one_named():
    assert PreparationOrder.from_dict({**V01_ORDER, "infusion_minutes": 300, "policy_decision": {}}).to_dict().keys() == (
        PreparationOrder.from_dict(V01_ORDER).to_dict().keys()
    )
    broken = {k: v for k, v in V01_CALCULATION.items() if k != "withdraw_ml"}
    with pytest.raises(ValueError, match="withdraw_ml"):
        PreparationOrder.from_dict({**V01_ORDER, "calculation": broken})


@pytest.mark.parametrize("drug, regimen", [("inotuzumab-ozogamicin", None), ("gemtuzumab-ozogamicin", "fractionated")])
def test_the_stored_order_round_trips_for_every_drug(drug, regimen):
    monograph = load_monograph(drug).with_regimen(regimen)
    order = DoseOrder("170 cm", "70 kg", 1, 1)
    stored = PreparationOrder(order, calculate_dose(order, monograph), {"on_file": False, "flag": "no course on file"}, regimen)
    text_form = json.loads(json.dumps(stored.to_dict()))
    assert PreparationOrder.from_dict(text_form) == stored
    assert ("regimen" in text_form) == (regimen is not None) and "calculation" in text_form


def test_the_repository_loads_an_order_stored_by_0_1(tmp_path):
    from infusion_app.storage import SqlRepository, open_database

    engine, _location, _result = open_database(tmp_path / "data")
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO preparations (id, patient_name, mrn, date_of_birth, order_json, created_at, created_by, "
                    "monograph_id, monograph_revision, active, event_count) VALUES "
                    "('BSP-OLD01', 'Old, Record', 'MRN-OLD', :dob, :order, :at, 'Tina', 'inotuzumab-ozogamicin', 'r0', 1, 0)"
                ),
                {"dob": date(1960, 1, 1), "order": json.dumps(V01_ORDER), "at": T0},
            )
        prep = SqlRepository(engine).get_preparation("BSP-OLD01")
        assert prep is not None and prep.order.calculation.dose_mg == 1.46 and prep.order.dose.height == "170 cm"
        from infusion_app.domain.double_check import verification_mismatches

        entered = {"mrn": "MRN-OLD", "height": "170 cm", "weight": "70 kg", "dose_mg": "1.46", "volume_ml": "5.84"}
        assert verification_mismatches(prep, entered) == []
    finally:
        engine.dispose()


# Reads of the stored order or its calculation by key: only dosing.py converts it.
_BY_KEY = re.compile(
    r"""\[\s*["']calculation["']\s*\]"""  # order["calculation"]
    r"""|\.get\(\s*["']calculation["']"""  # order.get("calculation")
    r"""|\bcalc(?:ulation)?\s*\[\s*["']"""  # calc["dose_mg"]
    r"""|\bcalc(?:ulation)?\.get\(\s*["']"""  # calc.get("dose_mg")
    r"""|\.order\s*\[|\.order\.get\(|\.order\.items\("""  # prep.order["cycle"], prep.order.get("course")
    r"""|\.course\s*\[\s*["']|\.course\.get\("""  # order.course["on_file"], order.course.get("flags")
    r"""|\[\s*["'](?:on_file|declined_discontinuations)["']\s*\]"""  # course_check["on_file"]
    r"""|\.get\(\s*["'](?:on_file|declined_discontinuations|flags)["']"""  # stored.get("flags", [])
)
CONVERSION = ROOT / "infusion_app" / "domain" / "dosing.py"


def test_nothing_outside_the_conversion_reads_the_stored_order_by_key():
    found = []
    for path in sorted((ROOT / "infusion_app").rglob("*.py")):
        if path == CONVERSION:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if _BY_KEY.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "the stored order is read by key outside domain/dosing.py:\n" + "\n".join(found)


def test_the_coverage_decision_is_typed_and_round_trips():
    from infusion_app.domain.coverage import CoverageDecision, CoverageFacts, check_coverage
    from tests.drugs import BESPONSA_POLICY

    decision = check_coverage(CoverageFacts(**BESPONSA_POLICY.example), BESPONSA_POLICY)
    stored = PreparationOrder.from_dict(json.loads(json.dumps({**V01_ORDER, "coverage": decision.to_dict()})))
    assert isinstance(stored.coverage, CoverageDecision) and stored.coverage.decision == decision.decision
    assert stored.coverage.to_dict()["criteria"] == decision.to_dict()["criteria"]
    assert json.loads(json.dumps(stored.to_dict()))["coverage"] == json.loads(json.dumps(decision.to_dict()))
    with pytest.raises(ValueError):
        PreparationOrder.from_dict({**V01_ORDER, "coverage": {"decision": "maybe"}})


# -- the course check stored with the order (order.course) is typed too ------------------------
V01_NO_COURSE = {"on_file": False, "flag": "no course on file"}  # before the labs flags were stored
V02_COURSE = {
    "on_file": True,
    "mrn": "MRN-1",
    "cycle": 2,
    "day": 8,
    "response": "cr",
    "reduce_pct": 0.0,
    "mg_per_m2": 0.5,
    "window": ["2026-12-01", "2026-12-03"],
    "declined_discontinuations": ["stop after cycle 3"],
    "flags": ["BSA re-check"],
}


def test_the_course_check_is_typed_and_old_stored_ones_load():
    from infusion_app.domain.dosing import CourseCheck

    old = PreparationOrder.from_dict(json.loads(json.dumps({**V01_ORDER, "course": V01_NO_COURSE})))
    assert isinstance(old.course, CourseCheck) and old.course.on_file is False and old.course.flag == "no course on file"
    assert old.course.flags == () and old.course.sheet_flags(load_monograph("inotuzumab-ozogamicin")) == [
        "no course on file: cycle, day and response as entered, not checked against a course"
    ]
    on_file = PreparationOrder.from_dict(json.loads(json.dumps({**V01_ORDER, "course": V02_COURSE})))
    assert isinstance(on_file.course, CourseCheck) and (on_file.course.cycle, on_file.course.day) == (2, 8)
    assert on_file.course.window == ("2026-12-01", "2026-12-03")
    assert on_file.course.sheet_flags(load_monograph("inotuzumab-ozogamicin")) == ["Discontinuation advice not followed: stop after cycle 3", "BSA re-check"]
    # Written back as it was stored: the CLI's JSON and the stored order keep today's shape.
    assert json.loads(json.dumps(on_file.to_dict()))["course"] == V02_COURSE
    assert PreparationOrder.from_dict(json.loads(json.dumps(on_file.to_dict()))) == on_file


@pytest.mark.parametrize(
    "broken",
    [
        "no course",
        {"on_file": "no"},
        {**V02_COURSE, "cycle": "two"},
        {**V02_COURSE, "flags": "BSA"},
        {**V02_COURSE, "window": ["2026-12-01"]},
        {"on_file": False, "flag": 3},
    ],
)
def test_a_course_check_of_the_wrong_shape_is_refused_naming_it(broken):
    with pytest.raises(ValueError, match="course"):
        PreparationOrder.from_dict({**V01_ORDER, "course": broken})


def test_the_no_course_flag_names_what_decides_the_drugs_dose_from_its_data():
    """Reviewer: a MYLOTARG order with no course on file was flagged "cycle, day and response as entered"
    on its sheet; MYLOTARG has no responses (a regimen decides its dose: [dosing] decided_by)."""
    from infusion_app.domain.dosing import CourseCheck

    none = CourseCheck(on_file=False, flag="no course on file")
    mylotarg = load_monograph("gemtuzumab-ozogamicin")
    [flag] = none.sheet_flags(mylotarg)
    assert flag == "no course on file: cycle, day and regimen as entered, not checked against a course" and "response" not in flag
    assert mylotarg.order_choices_words == f"cycle, day and {mylotarg.raw['dosing']['decided_by']}"
    assert none.sheet_flags(load_monograph("inotuzumab-ozogamicin")) == ["no course on file: cycle, day and response as entered, not checked against a course"]
