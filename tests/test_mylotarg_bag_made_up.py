"""Issue 17 (reviewer): MYLOTARG's bag is chosen on the concentration it is made at, the one the sheet
and label state. The old code chose the bag on dose ÷ bag volume and judged it on dose ÷ (bag + dose
volume): 3.9 to 4.05 mg were refused (3.9 mg / 53.9 mL = 0.0724 mg/mL) though the label gives them a
bag, and 11.76 to 15.27 mg were sent to 100 mL though 50 mL + the dose is within the window. Now the
smallest bag whose concentration as made is within 0.075 to 0.234 mg/mL is taken, and a bag the whole
bag as supplied would leave below the window is made up to its volume ([dilution] make_up_to_bag_volume:
saline equal to the dose volume withdrawn and discarded first)."""

from __future__ import annotations

import json
import math
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import tomllib
from hypothesis import given, settings
from hypothesis import strategies as st

from infusion_app.domain.dosing import DoseCalculation, DoseOrder, calculate_dose
from infusion_app.domain.formatting import format_amount
from infusion_app.domain.monograph import load_monograph, parse_monograph

MYLOTARG = load_monograph("gemtuzumab-ozogamicin")
REGIMENS = {"fractionated": MYLOTARG.with_regimen("fractionated"), "single-agent": MYLOTARG.with_regimen("single-agent")}
LOW = Decimal(str(MYLOTARG.magnitude("dilution.concentration_min", "mg/mL")))
HIGH = Decimal(str(MYLOTARG.magnitude("dilution.concentration_max", "mg/mL")))
BAGS = sorted(Decimal(str(v)) for v in MYLOTARG.items("dilution.bag_volumes"))
SYRINGE_BELOW = Decimal(str(MYLOTARG.magnitude("syringe.dose_below", "mg")))
CAP = Decimal(str(REGIMENS["fractionated"].dose_cap.value.to("mg").magnitude))  # type: ignore[union-attr]


def _d(value: float) -> Decimal:
    return Decimal(str(value))


def _order_for_bsa(bsa: float, day: int) -> DoseOrder:
    """Height and weight whose Mosteller BSA is about `bsa` (an adult's proportions)."""
    height = min(max(round(100 * bsa + 25), 100), 230)
    weight = round(3600 * bsa * bsa / height, 1)
    return DoseOrder(f"{height} cm", f"{weight} kg", 1, day)


def _made(bag: Decimal, dose: Decimal, withdraw: Decimal) -> tuple[Decimal, bool] | None:
    """The final volume the bag is made at within the window, and whether it is made up; None: not in it."""
    if LOW <= dose / (bag + withdraw) <= HIGH:
        return bag + withdraw, False
    if withdraw < bag and LOW <= dose / bag <= HIGH:
        return bag, True
    return None


def check(r: DoseCalculation, regimen: str) -> None:
    monograph = REGIMENS[regimen]
    dose, withdraw, final = _d(r.dose_mg), _d(r.withdraw_ml), _d(r.final_volume_ml)
    # no makeable dose is refused: every adult dose of both regimens has a bag or the syringe
    assert r.can_prepare, (r.dose_mg, r.hard_stops)
    if regimen == "fractionated":
        assert dose <= CAP
    # the syringe path exactly under the label's threshold
    assert (r.container == "syringe") == (dose < SYRINGE_BELOW), (r.dose_mg, r.container)
    # every concentration stated, and the one made, within the window
    assert LOW <= _d(r.final_concentration_mg_per_ml) <= HIGH, r.final_concentration_mg_per_ml
    assert LOW <= dose / final <= HIGH
    assert r.final_concentration_mg_per_ml == float((dose / final).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))
    text = "\n".join(r.summary_lines(monograph))
    if r.container == "syringe":
        return
    # the volume stated is what is made: the saline left in the bag plus the dose
    assert r.nacl_measured_ml is not None
    assert final == withdraw + _d(r.nacl_measured_ml) == withdraw + _d(r.nacl_ml)
    removed = _d(r.nacl_removed_ml) if r.nacl_removed_ml is not None else Decimal(0)
    bag = _d(r.nacl_measured_ml) + removed
    assert bag in BAGS
    made = _made(bag, dose, withdraw)
    assert made is not None and made == (final, r.nacl_removed_ml is not None), (r.dose_mg, bag, final)
    if r.nacl_removed_ml is not None:
        # made up: exactly the dose volume withdrawn, measured on marks, and the total the bag's volume
        assert removed == withdraw and final == bag
        assert r.nacl_removed_parts and sum(_d(p["volume_ml"]) for p in r.nacl_removed_parts) == removed
        for p in r.nacl_removed_parts:
            assert _d(p["volume_ml"]) % _d(p["graduation_ml"]) == 0
        assert f"first withdraw and discard {format_amount(r.nacl_removed_ml, 'mL')}" in text
        assert any(p.startswith("dilution.make_up_to_bag_volume:") for p in r.pending_verification)
    # the smallest bag that holds it as made
    for smaller in BAGS[: BAGS.index(bag)]:
        assert _made(smaller, dose, withdraw) is None, (r.dose_mg, smaller, bag)
    assert f"for a total of {format_amount(r.final_volume_ml, 'mL')}" in text
    assert abs(_d(r.infusion_rate_ml_per_hour) - final / _d(r.infusion_duration_hours)) <= Decimal("0.05")


# Every BSA from 0.6 m² (below it a child is dosed by weight) to 3.2 m², on each dose day of both regimens:
# fractionated 1.8 to 4.5 mg (capped), single agent 1.8 to 19.2 mg; the bag doses from 3.9 mg.
SWEEP = [(regimen, day, bsa) for regimen in sorted(REGIMENS) for day in REGIMENS[regimen].dose_days for bsa in [n / 100 for n in range(60, 321)]]


@pytest.mark.parametrize("regimen", sorted(REGIMENS))
def test_every_mylotarg_dose_is_made_within_the_window_in_the_smallest_bag(regimen):
    seen = set()
    for day in REGIMENS[regimen].dose_days:
        for n in range(60, 321):
            r = calculate_dose(_order_for_bsa(n / 100, day), REGIMENS[regimen])
            check(r, regimen)
            seen.add((r.container, r.nacl_removed_ml is not None, r.final_volume_ml >= 100))
    # the sweep reaches every path: syringe, made up to 50 mL, 50 mL as supplied (and 100 mL single agent)
    assert ("syringe", False, False) in seen and ("bag", True, False) in seen and ("bag", False, False) in seen
    if regimen == "single-agent":
        assert ("bag", False, True) in seen


@settings(max_examples=300, deadline=None)
@given(
    height=st.integers(min_value=100, max_value=230),
    weight=st.integers(min_value=250, max_value=2000).map(lambda t: t / 10),
    regimen=st.sampled_from(sorted(REGIMENS)),
    index=st.integers(0, 2),
)
def test_any_adult_mylotarg_dose_is_made_as_stated(height, weight, regimen, index):
    monograph = REGIMENS[regimen]
    bsa = math.sqrt(height * weight / 3600)
    if bsa < 0.6:
        return
    days = monograph.dose_days
    check(calculate_dose(DoseOrder(f"{height} cm", f"{weight} kg", 1, days[index % len(days)]), monograph), regimen)


@pytest.mark.parametrize(
    ("weight", "dose", "final", "concentration"),
    [
        ("39 kg", 3.9, 50.0, 0.078),  # old code: refused, 3.9 mg / 53.9 mL = 0.0724 mg/mL
        ("40 kg", 3.96, 50.0, 0.0792),
        ("41 kg", 4.0, 50.0, 0.08),
    ],
)
def test_the_reviewers_doses_are_made_up_to_the_50_ml_bag(weight, dose, final, concentration):
    r = calculate_dose(DoseOrder("156 cm", weight, 1, 1), REGIMENS["fractionated"])
    assert r.can_prepare, r.hard_stops
    assert (r.dose_mg, r.final_volume_ml, r.final_concentration_mg_per_ml) == (dose, final, concentration)
    assert r.nacl_removed_ml == r.withdraw_ml and r.nacl_measured_ml == final - r.withdraw_ml
    assert "the 50 mL bag made up to volume: first withdraw and discard" in "\n".join(r.summary_lines(REGIMENS["fractionated"]))


def test_a_dose_the_50_ml_bag_holds_as_supplied_is_not_sent_to_100_ml():
    # single agent Day 1: 6 mg/m² × 2 m² = 12 mg; old code: 100 mL (12/50 > 0.234), 12 mg / 112 mL = 0.107
    r = calculate_dose(_order_for_bsa(2.0, 1), REGIMENS["single-agent"])
    assert r.dose_mg == 12.0 and r.nacl_measured_ml == 50.0 and r.final_volume_ml == 62.0 and r.nacl_removed_ml is None
    assert r.final_concentration_mg_per_ml == 0.1935


def test_the_made_up_bag_is_stored_and_read_back():
    r = calculate_dose(DoseOrder("156 cm", "39 kg", 1, 1), REGIMENS["fractionated"])
    again = DoseCalculation.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r and again.nacl_removed_ml == 3.9
    # a bag as supplied keeps no removal key
    assert "nacl_removed_ml" not in calculate_dose(_order_for_bsa(2.0, 1), REGIMENS["single-agent"]).to_dict()


def _without_make_up():
    path = Path(__file__).resolve().parents[1] / "resources" / "monographs" / "gemtuzumab-ozogamicin.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    if "make_up_to_bag_volume" in raw["dilution"]:
        raw["dilution"]["make_up_to_bag_volume"]["flag"] = False
    return parse_monograph(raw, "fractionated")


def test_a_dose_no_bag_holds_is_refused_with_the_ranges_bags_hold_as_made():
    # Without the make-up rule, 3.9 mg in the whole 50 mL bag is 0.0724 mg/mL: refused, and the refusal
    # states what the bags hold as supplied (old code: "in the 50 mL bag (doses of 3.75 mg to 11.7 mg)",
    # the bag's volume alone, which 3.9 mg is inside).
    r = calculate_dose(DoseOrder("156 cm", "39 kg", 1, 1), _without_make_up())
    assert not r.can_prepare
    (stop,) = [s for s in r.hard_stops if "final concentration" in s]
    assert "0.0724 mg/mL is below the minimum" in stop
    assert "4.06 mg to 15.27 mg in the 50 mL bag" in stop and "3.75 mg" not in stop and "11.7 mg" not in stop
    assert "by syringe (doses under 3.9 mg)" in stop
    # the stated range is the truth: its ends are made within the window as supplied, just outside are not
    assert LOW <= Decimal("4.06") / Decimal("54.06") and Decimal("4.05") / Decimal("54.05") < LOW
    assert Decimal("15.27") / Decimal("65.27") <= HIGH < Decimal("15.28") / Decimal("65.28")


def test_the_sheet_and_label_show_the_bag_made_up_and_its_saline_out_before_the_dose():
    import dataclasses
    from datetime import timedelta

    from infusion_app.domain.deadlines import compute_deadlines
    from infusion_app.domain.limits import site_defaults
    from infusion_app.reports.demo import RECONSTITUTED_AT, demo_preparation
    from infusion_app.reports.model import SheetData

    monograph = REGIMENS["fractionated"]
    made_up = calculate_dose(DoseOrder("156 cm", "39 kg", 1, 1), monograph)
    prep = demo_preparation(monograph)
    prep = dataclasses.replace(prep, order=dataclasses.replace(prep.order, calculation=made_up))
    now = RECONSTITUTED_AT + timedelta(minutes=40)
    data = SheetData.from_preparation(
        prep, monograph, compute_deadlines(prep.events, monograph, now, site_defaults().warning_lead_time), printed_at=now, program_version="9.9"
    )
    texts = [step.text for step in data.dilution_steps]
    removal = next(i for i, t in enumerate(texts) if "withdraw and discard 3.9 mL of saline" in t)
    added = next(i for i, t in enumerate(texts) if t.startswith("Add it to"))
    assert removal < added  # the saline out before the dose in
    assert "from the 50 mL bag" in texts[removal] and "makes it up to 50 mL" in texts[removal]
    assert "for a total of 50 mL: 0.078 mg/mL" in texts[added]
    # the label's total and concentration are the bag made up (old code: refused, no label)
    assert data.vehicle_line == "in 0.9% Sodium Chloride, total 50 mL"
    assert data.final_concentration == "0.078 mg/mL"
    assert any("make up to bag volume" in p for p in data.pending_verification)
