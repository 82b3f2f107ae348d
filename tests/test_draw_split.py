"""Pharmacist review (issues 16/17): a draw is read to the marks of the syringes that draw it, and the dose
that results stays within the site's draw tolerance. A 10.5 mL MYLOTARG draw (1 mg/mL) read to the 20 mL
syringe's 1 mL marks was 11 mL = 11 mg (+4.8%), given and billed; it is split instead: the 10 mL syringe
drawn full and 0.5 mL on the 1 mL syringe. Every drug, volume, container and age alike."""

from __future__ import annotations

import dataclasses
import math
from decimal import ROUND_CEILING, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infusion_app.domain.dosing import DoseCalculation, DoseOrder, _draw, calculate_dose, draw_tolerance_mg
from infusion_app.domain.limits import DrawSyringe, site_defaults
from infusion_app.domain.monograph import load_monograph
from tests.cli_helpers import run_cli

BESPONSA = load_monograph("inotuzumab-ozogamicin")
MYLOTARG = load_monograph("gemtuzumab-ozogamicin")
REGIMENS = {"fractionated": MYLOTARG.with_regimen("fractionated"), "single-agent": MYLOTARG.with_regimen("single-agent")}


def _d(value: float) -> Decimal:
    return Decimal(str(value))


def check_draw(r: DoseCalculation) -> None:
    """The properties every calculation keeps: each syringe's volume is on its own marks and within it,
    the parts add up to the volume drawn, the dose is that volume's, within the tolerance of the
    calculated dose, and billed as drawn."""
    policy = site_defaults()
    if r.dose_before_draw_mg <= 0:
        return
    conc = _d(r.reconstituted_mg_per_ml)
    assert _d(r.withdraw_ml) * conc == _d(r.dose_mg)
    if not r.draw_parts:
        # only whole vials withdrawn entire, at the regimen's cap (MYLOTARG: one 4.5 mg vial)
        assert r.dose_cap_mg is not None and r.dose_mg == r.dose_cap_mg and r.dose_mg == r.dose_before_draw_mg
    else:
        for part in r.draw_parts:
            volume, capacity, graduation = _d(part["volume_ml"]), _d(part["syringe_ml"]), _d(part["graduation_ml"])
            assert DrawSyringe(part["syringe_ml"], part["graduation_ml"]) in policy.draw_syringes
            assert 0 < volume <= capacity, part
            assert volume % graduation == 0, part  # on a mark
            # on the smallest syringe that holds and reads it: 4 mL on the 20 mL syringe's 1 mL marks
            # (half a mark 12% of it) while the 10 mL syringe reads it on 0.2 mL marks was a tie broken the wrong way
            finer = [s for s in policy.draw_syringes if _d(s.capacity_ml) >= volume and volume % _d(s.graduation_ml) == 0]
            assert (finer[0].capacity_ml, finer[0].graduation_ml) == (part["syringe_ml"], part["graduation_ml"]), part
        assert sum(_d(p["volume_ml"]) for p in r.draw_parts) == _d(r.withdraw_ml)
        smallest = policy.draw_syringes[0]
        allowed = max(_d(r.dose_before_draw_mg) * _d(policy.draw_tolerance_percent) / 100, _d(smallest.graduation_ml) / 2 * conc)
        assert abs(_d(r.dose_mg) - _d(r.dose_before_draw_mg)) <= allowed, (r.dose_before_draw_mg, r.dose_mg, r.draw_parts)
        assert abs(r.dose_mg - r.dose_before_draw_mg) <= draw_tolerance_mg(r) + 1e-12
        assert r.draw_tolerance_pct == policy.draw_tolerance_percent
    if r.dose_cap_mg is not None:
        assert r.dose_mg <= r.dose_cap_mg
    if r.container == "syringe" and r.final_volume_ml <= policy.draw_syringes[-1].capacity_ml:
        # the pump syringe is filled to a mark of the syringe that holds the total, and the saline read to its own
        holder = next(s for s in policy.draw_syringes if s.capacity_ml >= r.final_volume_ml)
        assert _d(r.final_volume_ml) % _d(holder.graduation_ml) == 0, (r.final_volume_ml, holder)
        if r.nacl_about_ml:
            saline = next(s for s in policy.draw_syringes if s.capacity_ml >= r.nacl_ml)
            assert _d(r.nacl_about_ml) % _d(saline.graduation_ml) == 0
    units = (_d(r.dose_mg) / _d(r.billing_unit_mg)).to_integral_value(rounding=ROUND_CEILING)
    assert r.billing_units_administered == int(units)  # billed on the dose drawn
    assert not any(s.startswith("draw-tolerance") for s in r.hard_stops)


def test_a_10_5_ml_mylotarg_draw_is_split_not_read_to_1_ml_marks():
    # 175 cm, 63 kg: BSA 1.75 m²; single agent Day 1, 6 mg/m² = 10.5 mg = 10.5 mL at 1 mg/mL.
    r = calculate_dose(DoseOrder("175 cm", "63 kg", 1, 1), REGIMENS["single-agent"])
    assert (r.bsa_m2, r.dose_before_draw_mg) == (1.75, 10.5)
    # Before: the 20 mL syringe's 1 mL marks, 11 mL = 11 mg (+4.8%), 110 units billed.
    assert (r.dose_mg, r.withdraw_ml, r.draw_change_pct) == (10.5, 10.5, 0.0)
    assert r.draw_parts == [{"volume_ml": 10.0, "syringe_ml": 10.0, "graduation_ml": 0.2}, {"volume_ml": 0.5, "syringe_ml": 1.0, "graduation_ml": 0.01}]
    assert (r.billing_units_administered, r.billing_units_discarded) == (105, 30)
    # Issue 16: the whole 50 mL bag as supplied plus the 10.5 mL dose (was 10.5 mg / 50 mL = 0.21 mg/mL)
    assert (r.final_volume_ml, r.final_concentration_mg_per_ml) == (60.5, 0.1736)
    text = "\n".join(r.summary_lines(REGIMENS["single-agent"]))
    assert "Withdraw 10.5 mL in 2 syringes: 10 mL (the 10 mL syringe, drawn full) + 0.5 mL (the 1 mL syringe, 0.01 mL marks)" in text
    assert any("one syringe cannot read 10.5 mL within the site's draw tolerance (1%)" in w for w in r.warnings)
    # The default tolerance is the program's choice: it awaits a pharmacist's review, and says so.
    assert any(p.startswith("site.draw_tolerance") for p in r.pending_verification)
    check_draw(r)


def test_the_pump_syringe_is_filled_to_a_mark_it_has():
    # 90 cm, 12 kg BESPONSA Day 1: 0.44 mg / 0.1 mg/mL = 4.4 -> 4.5 mL on the half-mL step, but the 10 mL syringe
    # holding it has 0.2 mL marks: 5 mL (0.088 mg/mL, in the 0.025-0.1 window), 5 mL/hour.
    r = calculate_dose(DoseOrder("90 cm", "12 kg", 1, 1), BESPONSA)
    assert (r.container, r.final_volume_ml, r.infusion_rate_ml_per_hour, r.final_concentration_mg_per_ml) == ("syringe", 5.0, 5.0, 0.088)
    check_draw(r)


def test_a_draw_one_syringe_reads_within_tolerance_stays_one_syringe():
    # BESPONSA 1.46 mg = 5.84 mL: the 10 mL syringe's 5.8 mL is -0.7%, within 1%: one syringe, as before.
    r = calculate_dose(DoseOrder("170 cm", "70 kg", 1, 1), BESPONSA)
    assert r.draw_parts == [{"volume_ml": 5.8, "syringe_ml": 10.0, "graduation_ml": 0.2}]
    assert (r.dose_mg, r.draw_change_pct) == (1.45, -0.7)


def test_the_tolerance_is_the_sites_setting():
    # A site that accepts 5% draws 10.5 mL on the 20 mL syringe (+4.8%), its pharmacist's choice; 0% draws exactly.
    loose = dataclasses.replace(site_defaults(), draw_tolerance_percent=5.0, draw_tolerance_verify=False)
    r = calculate_dose(DoseOrder("175 cm", "63 kg", 1, 1), REGIMENS["single-agent"], policy=loose)
    assert (r.withdraw_ml, r.dose_mg, r.draw_syringe_ml, len(r.draw_parts), r.draw_tolerance_pct) == (11.0, 11.0, 20.0, 1, 5.0)
    assert not any(p.startswith("site.draw_tolerance") for p in r.pending_verification)
    exact = dataclasses.replace(site_defaults(), draw_tolerance_percent=0.0)
    r = calculate_dose(DoseOrder("170 cm", "70 kg", 1, 1), BESPONSA, policy=exact)
    assert (r.withdraw_ml, r.dose_mg) == (5.84, 1.46)


def test_a_draw_beyond_the_largest_syringe_is_split_within_tolerance():
    # 215 cm, 160 kg: BSA 3.09 m² x 6 = 18.54 mg; 20 mL syringe: 19 mL (+2.5%); split instead.
    r = calculate_dose(DoseOrder("215 cm", "160 kg", 1, 1), REGIMENS["single-agent"])
    assert len(r.draw_parts) >= 2
    check_draw(r)


def test_a_table_without_a_fine_syringe_reads_to_its_smallest_syringes_half_mark():
    # Only 10 mL (0.2) and 20 mL (1): 0.3 mL cannot be read closer than the 10 mL syringe's half mark.
    coarse = dataclasses.replace(site_defaults(), draw_syringes=(DrawSyringe(10, 0.2), DrawSyringe(20, 1)))
    draw = _draw(Decimal("0.3"), coarse)
    assert draw.within_tolerance and abs(draw.volume_ml - Decimal("0.3")) <= Decimal("0.1")
    draw = _draw(Decimal("10.5"), coarse)
    assert draw.within_tolerance and len(draw.parts) == 2 and abs(draw.volume_ml - Decimal("10.5")) <= Decimal("0.105")


def test_a_calculation_stored_before_splits_reads_as_one_syringe():
    r = calculate_dose(DoseOrder("170 cm", "70 kg", 1, 1), BESPONSA)
    old = r.to_dict()
    del old["draw_parts"], old["draw_tolerance_pct"]
    again = DoseCalculation.from_dict(old)
    assert again.draw_parts == [{"volume_ml": 5.8, "syringe_ml": 10.0, "graduation_ml": 0.2}]
    assert again.draw_tolerance_pct == 0.0
    assert draw_tolerance_mg(again) == pytest.approx(0.1 / 2 * 0.25 * 2)  # half a 0.2 mL mark, as before
    # 21 mL stored as 2 fills of the 20 mL syringe: its fills, never 21 mL in a 20 mL syringe
    old.update(withdraw_ml=21.0, draw_syringe_ml=20.0, draw_graduation_ml=1.0)
    assert DoseCalculation.from_dict(old).draw_parts == [
        {"volume_ml": 20.0, "syringe_ml": 20.0, "graduation_ml": 1.0},
        {"volume_ml": 1.0, "syringe_ml": 20.0, "graduation_ml": 1.0},
    ]
    with pytest.raises(ValueError, match="draw_parts"):
        DoseCalculation.from_dict({**r.to_dict(), "draw_parts": [{"volume_ml": "ten"}]})


def test_calc_and_prep_new_json_keep_their_fields_and_add_the_parts():
    result = run_cli(
        "calc",
        "--drug",
        "gemtuzumab-ozogamicin",
        "--regimen",
        "single-agent",
        "--cycle",
        "1",
        "--day",
        "1",
        "--height",
        "175 cm",
        "--weight",
        "63 kg",
        "--json",
    )
    assert result.code == 0, result.stderr
    c = result.json()
    assert (c["withdraw_ml"], c["dose_mg"], c["draw_syringe_ml"], c["draw_graduation_ml"], c["billing_units_administered"]) == (10.5, 10.5, 10.0, 0.2, 105)
    assert c["draw_parts"][1] == {"volume_ml": 0.5, "syringe_ml": 1.0, "graduation_ml": 0.01}
    assert c["draw_tolerance_pct"] == 1.0
    text = run_cli(
        "calc", "--drug", "gemtuzumab-ozogamicin", "--regimen", "single-agent", "--cycle", "1", "--day", "1", "--height", "175 cm", "--weight", "63 kg"
    )
    assert "in 2 syringes: 10 mL (the 10 mL syringe, drawn full) + 0.5 mL (the 1 mL syringe, 0.01 mL marks)" in text.stdout


heights = st.integers(min_value=45, max_value=230)
weights = st.integers(min_value=25, max_value=2200).map(lambda tenths: tenths / 10)


@settings(max_examples=300, deadline=None)
@given(
    height=heights,
    weight=weights,
    day=st.sampled_from([1, 8, 15]),
    reduce=st.sampled_from([0, 25]),
    cycle=st.sampled_from([1, 2]),
    formula=st.sampled_from(["mosteller", "dubois", "haycock"]),
)
def test_every_besponsa_dose_is_drawn_within_tolerance_on_measurable_syringes(height, weight, day, reduce, cycle, formula):
    order = DoseOrder(f"{height} cm", f"{weight} kg", cycle, day, "cr" if cycle > 1 else None, formula, reduce if cycle > 1 else 0)
    check_draw(calculate_dose(order, BESPONSA))


@settings(max_examples=300, deadline=None)
@given(
    height=heights,
    weight=weights,
    regimen=st.sampled_from(sorted(REGIMENS)),
    index=st.integers(0, 2),
    formula=st.sampled_from(["mosteller", "dubois", "haycock"]),
)
def test_every_mylotarg_dose_is_drawn_within_tolerance_on_measurable_syringes(height, weight, regimen, index, formula):
    monograph = REGIMENS[regimen]
    days = monograph.dose_days
    order = DoseOrder(f"{height} cm", f"{weight} kg", 1, days[index % len(days)], None, formula)
    check_draw(calculate_dose(order, monograph))


def _largest_dose(monograph, bsa: Decimal) -> Decimal:
    per_m2 = max(Decimal(str(monograph.mg_per_m2(1, day, None).value.to("mg/m**2").magnitude)) for day in monograph.dose_days)
    return per_m2 * bsa


@settings(max_examples=400, deadline=None)
@given(drug=st.sampled_from(["besponsa", "fractionated", "single-agent"]), fraction=st.integers(1, 10_000))
def test_every_dose_in_the_labels_range_draws_within_tolerance(drug, fraction):
    """Every dose from 0.01 mg to the label's largest (its largest mg/m² at a BSA of 3 m²), on the site's
    dose precision: drawn within the tolerance, each syringe on its marks."""
    monograph = BESPONSA if drug == "besponsa" else REGIMENS[drug]
    policy = site_defaults()
    step = Decimal(str(policy.dose_precision_mg))
    most = _largest_dose(monograph, Decimal(3))
    dose = max(step, (most * fraction / 10_000 / step).to_integral_value() * step)
    conc = Decimal(str(monograph.magnitude("reconstitution.concentration", "mg/mL")))
    exact = dose / conc
    draw = _draw(exact, policy)
    assert draw.within_tolerance
    tolerance = max(exact * Decimal(str(policy.draw_tolerance_percent)) / 100, Decimal(str(policy.draw_syringes[0].graduation_ml)) / 2)
    assert abs(draw.volume_ml - exact) <= tolerance
    assert sum(p.volume_ml for p in draw.parts) == draw.volume_ml
    for part in draw.parts:
        assert 0 < part.volume_ml <= Decimal(str(part.capacity_ml))
        assert part.volume_ml % Decimal(str(part.graduation_ml)) == 0
    # fewest syringes: one when the smallest syringe holding it reads it within the tolerance
    holder = next((s for s in policy.draw_syringes if Decimal(str(s.capacity_ml)) >= exact), None)
    if holder is not None:
        one = (exact / Decimal(str(holder.graduation_ml))).quantize(Decimal(1), rounding="ROUND_HALF_UP") * Decimal(str(holder.graduation_ml))
        if abs(one - exact) <= tolerance:
            assert len(draw.parts) == 1
    assert math.isfinite(float(draw.volume_ml))


def _split_sheet():
    import dataclasses as dc

    from infusion_app.domain.dosing import PreparationOrder
    from infusion_app.reports.demo import demo_preparation, demo_sheet_data

    order = DoseOrder("175 cm", "63 kg", 1, 1)
    prep = demo_preparation(REGIMENS["single-agent"])
    prep = dc.replace(prep, order=PreparationOrder(order, calculate_dose(order, REGIMENS["single-agent"]), regimen="single-agent"))
    return demo_sheet_data(prep=prep)


def test_the_sheet_and_label_show_the_split_draw():
    from infusion_app.reports import layout_bag_label, parse_label_size

    data = _split_sheet()
    steps = " ".join(step.text for step in data.dilution_steps)
    assert (
        "Withdraw 10.5 mL (10.5 mg) of the reconstituted solution in 2 syringes: 10 mL (the 10 mL syringe, drawn full) "
        "+ 0.5 mL (the 1 mL syringe, 0.01 mL marks)."
    ) in steps
    assert data.dose == "10.5 mg"
    assert any("105 units" in row.value for row in data.billing)
    assert data.draw_line == "Dose drawn in 2 syringes: 10 mL + 0.5 mL = 10.5 mL"
    texts = " ".join(t.text for t in layout_bag_label(data).texts)
    assert "Dose drawn in 2 syringes: 10 mL + 0.5 mL = 10.5 mL" in texts
    # A stock too small for it still prints the rest; the sheet keeps the split.
    small = " ".join(t.text for t in layout_bag_label(data, parse_label_size("3x2in")).texts)
    assert "10.5 mg" in small and "HAZARDOUS" in small


def test_one_syringe_is_named_on_the_sheet_and_no_draw_line_is_on_the_label():
    from infusion_app.reports.demo import demo_sheet_data

    data = demo_sheet_data(monograph=BESPONSA)
    assert data.draw_line == ""
    assert any("of the reconstituted solution with the 10 mL syringe (0.2 mL marks)." in step.text for step in data.dilution_steps)


@pytest.mark.parametrize(
    ("exact_ml", "parts"),
    [
        ("4.08", [("4.0", 10.0), ("0.08", 1.0)]),  # was 4 mL on the 20 mL syringe (1 mL marks)
        ("6.09", [("6.0", 10.0), ("0.09", 1.0)]),
        ("10.08", [("10.0", 10.0)]),  # was 10 mL on the 20 mL syringe, not the 10 mL syringe drawn full
        ("10.5", [("10.0", 10.0), ("0.5", 1.0)]),
    ],
)
def test_each_part_is_on_the_smallest_syringe_that_reads_it(exact_ml: str, parts: list[tuple[str, float]]) -> None:
    draw = _draw(Decimal(exact_ml), site_defaults())
    assert [(p.volume_ml, p.capacity_ml) for p in draw.parts] == [(Decimal(v), c) for v, c in parts]
