"""Property tests: any input gives a consistent result or a ValidationError, never another exception."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from infusion_app.domain.dosing import DoseOrder, calculate_dose
from infusion_app.domain.monograph import load_monograph
from infusion_app.domain.errors import ValidationError

HEIGHT_UNITS = {"cm": 1.0, "m": 100.0, "in": 2.54, "mm": 0.1}
WEIGHT_UNITS = {"kg": 1.0, "lb": 0.45359237, "g": 0.001}

heights = st.builds(
    lambda cm, unit: f"{cm / HEIGHT_UNITS[unit]:.4f} {unit}",
    st.floats(min_value=20, max_value=300, allow_nan=False),
    st.sampled_from(sorted(HEIGHT_UNITS)),
)
weights = st.builds(
    lambda kg, unit: f"{kg / WEIGHT_UNITS[unit]:.4f} {unit}",
    st.floats(min_value=0.2, max_value=700, allow_nan=False),
    st.sampled_from(sorted(WEIGHT_UNITS)),
)
orders = st.builds(
    DoseOrder,
    height=heights,
    weight=weights,
    cycle=st.integers(min_value=0, max_value=7),
    day=st.sampled_from([0, 1, 8, 15, 22]),
    response=st.sampled_from([None, "none", "cr", "cri"]),
    formula=st.sampled_from([None, "mosteller", "dubois", "haycock", "gehan-george", "boyd"]),
    reduce_pct=st.sampled_from([0, 25, 10]),
)


def check_consistent(r) -> None:
    assert math.isclose(r.withdraw_ml * r.reconstituted_mg_per_ml, r.dose_mg, abs_tol=1e-9)
    assert r.vials * r.vial_mg >= r.dose_mg - 1e-9
    if r.dose_mg > 0:
        assert (r.vials - 1) * r.vial_mg < r.dose_mg  # the fewest vials
    units_per_vial = round(r.vial_mg / r.billing_unit_mg)
    assert r.billing_units_administered + r.billing_units_discarded == r.vials * units_per_vial
    assert r.billing_units_administered == math.ceil(round(r.dose_mg / r.billing_unit_mg, 9))
    assert r.billing_modifier == ("JW" if r.billing_units_discarded else "JZ")
    # Issue 16: a bag's total is the saline as measured (nacl_ml stays the exact make-up to the total)
    saline = r.nacl_measured_ml if r.nacl_measured_ml is not None else r.nacl_ml
    assert math.isclose(saline + r.withdraw_ml, r.final_volume_ml, abs_tol=1e-9)
    assert math.isclose(r.discarded_mg, r.vials * r.vial_mg - r.dose_mg, abs_tol=1e-9)
    in_window = r.concentration_min_mg_per_ml <= r.dose_mg / r.final_volume_ml <= r.concentration_max_mg_per_ml
    # The label's 25% reduction is never for cycle 1: a hard stop whatever the concentration.
    assert (in_window and not (r.cycle == 1 and r.reduce_pct)) == (not r.hard_stops)
    assert r.bsa_m2 == round(r.bsa_m2, 2)


@given(orders)
def test_any_order_is_consistent_or_refused(order):
    try:
        result = calculate_dose(order, load_monograph("inotuzumab-ozogamicin"))
    except ValidationError as exc:
        assert exc.field in {"height", "weight", "cycle", "day", "response", "formula", "reduce-pct"}
        return
    check_consistent(result)


@given(st.text(max_size=25), st.text(max_size=25))
def test_any_typed_text_is_refused_cleanly_or_accepted(height, weight):
    try:
        result = calculate_dose(DoseOrder(height, weight, 1, 1), load_monograph("inotuzumab-ozogamicin"))
    except ValidationError as exc:
        assert exc.field in {"height", "weight"} and exc.message
        return
    check_consistent(result)
