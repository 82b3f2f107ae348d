"""Each BSA formula against published values (besponsa-label.md table; Mosteller by hand)."""

from __future__ import annotations

import pytest

from infusion_app.domain.bsa import FORMULAS, body_surface_area, get_formula
from infusion_app.domain.errors import ValidationError


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("mosteller", 1.8181),
        ("dubois", 1.8097),
        ("haycock", 1.8257),
        ("gehan-george", 1.8313),
        ("boyd", 1.8347),
    ],
)
def test_published_value_for_170_cm_70_kg(formula, expected):
    assert body_surface_area(170, 70, formula) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(("height", "weight"), [(180, 80), (160, 90), (120, 120), (90, 160)])
def test_mosteller_is_exact_where_h_times_w_is_14400(height, weight):
    assert body_surface_area(height, weight, "mosteller") == pytest.approx(2.0, abs=1e-12)


def test_small_child_values_are_plausible_for_every_formula():
    # 75 cm, 9 kg: published paediatric charts give about 0.43 m²; all formulas agree within 8%.
    values = [f.compute(75, 9) for f in FORMULAS.values()]
    assert all(0.40 < v < 0.47 for v in values), values


def test_formula_names_and_equations_are_shown():
    for formula in FORMULAS.values():
        assert formula.name and formula.equation and formula.reference


def test_unknown_formula_names_the_field_and_the_choices():
    with pytest.raises(ValidationError) as raised:
        get_formula("banana")
    assert raised.value.field == "formula"
    assert "mosteller" in raised.value.message


def test_formula_key_is_forgiving_about_case_and_underscore():
    assert get_formula("Gehan_George").key == "gehan-george"
