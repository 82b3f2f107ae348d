"""The plausibility bounds of blasts, QTc, electrolytes and × ULN ratios come from validation.toml
[plausibility], with their source awaiting a pharmacist's verification, not from constants in code."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from infusion_app.domain import course as rules
from infusion_app.domain import labs, limits
from infusion_app.domain.errors import DataFileError, ValidationError
from infusion_app.domain.resources import load_toml
from tests.drugs import BESPONSA

TODAY = date(2026, 3, 4)


@pytest.fixture
def data_file(monkeypatch):
    """validation.toml as the loader reads it, to change in a test; the cached bounds are read again."""
    changed = copy.deepcopy(load_toml("validation.toml"))
    monkeypatch.setattr(limits, "load_toml", lambda name: changed if name == "validation.toml" else load_toml(name))
    limits.plausibility_bounds.cache_clear()
    yield changed
    limits.plausibility_bounds.cache_clear()


def test_the_bounds_are_the_data_files_with_their_source_awaiting_verification():
    raw = load_toml("validation.toml")["plausibility"]
    bounds = limits.plausibility_bounds()
    assert {name: (b.low, b.high) for name, b in bounds.items()} == {
        name: (float(raw[name]["accepted"]["min"]), float(raw[name]["accepted"]["max"]))
        for name in ("blasts", "qtc", "electrolytes", "x_uln", "aminotransferase_x_uln")
    }
    assert {name: (b.low, b.high) for name, b in bounds.items()} == {
        "blasts": (0, 1_000_000),
        "qtc": (200, 800),
        "electrolytes": (0, 20),
        "x_uln": (0, 100),
        "aminotransferase_x_uln": (0, 1000),
    }
    for bound in bounds.values():
        assert bound.source.startswith("program design") and bound.verify


def test_changing_the_data_file_moves_every_bound(data_file):
    node = data_file["plausibility"]
    node["blasts"]["accepted"]["max"] = 50000
    node["qtc"]["accepted"]["max"] = 700
    node["electrolytes"]["accepted"]["max"] = 10
    node["x_uln"]["accepted"]["max"] = 50
    node["aminotransferase_x_uln"]["accepted"]["max"] = 200
    course = rules.new_course("MRN1", False, today=TODAY, monograph=BESPONSA)
    with pytest.raises(ValidationError) as refused:
        rules.record_blasts(course, "60000", TODAY, TODAY)
    assert refused.value.field == "blasts" and "0 to 50,000 per mm³" in refused.value.message
    rules.record_blasts(course, "40000", TODAY, TODAY)
    with pytest.raises(ValidationError) as refused:
        labs.ecg_values("750")
    assert refused.value.field == "qtc" and "200 to 700" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        labs.electrolyte_values("15 mmol/L", "0.85")
    assert refused.value.field == "potassium" and "0.5 to 10" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        labs.liver_values(bilirubin_x_uln="60", ast_alt_x_uln="1")
    assert refused.value.field == "bilirubin-x-uln"
    with pytest.raises(ValidationError) as refused:
        labs.liver_values(bilirubin="60 umol/L", bilirubin_uln="1 umol/L", ast_alt_x_uln="1")
    assert refused.value.field == "bilirubin" and "0 to 50 × ULN" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        labs.liver_values(bilirubin_x_uln="1", ast="9000 U/L", ast_uln="40 U/L")
    assert refused.value.field == "ast" and "0 to 200 × ULN" in refused.value.message
    assert labs.liver_values(bilirubin_x_uln="1", ast_alt_x_uln="150")["ast_alt_x_uln"] == 150
    assert labs.ecg_values("690") == {"qtc_ms": 690}


def test_a_data_file_without_a_bound_or_with_a_wrong_unit_is_a_data_error(data_file):
    del data_file["plausibility"]["qtc"]
    with pytest.raises(DataFileError, match="qtc"):
        limits.plausibility_bounds()
    limits.plausibility_bounds.cache_clear()
    data_file["plausibility"]["qtc"] = {"label": "QTc", "accepted": {"min": 200, "max": 800, "unit": "kg", "source": "x"}}
    with pytest.raises(DataFileError, match="plausibility"):
        limits.plausibility_bounds()


def test_an_aminotransferase_in_the_hundreds_of_times_its_uln_is_recorded_and_a_bilirubin_so_is_refused():
    """AST/ALT reach hundreds × ULN in ischaemic or toxic hepatitis and severe VOD (review): the one
    100 × bound shared with bilirubin refused a real 5,000 U/L over a ULN of 40 (125 ×)."""
    from infusion_app.domain import dose_modification as dm

    values = labs.liver_values(bilirubin_x_uln="1", ast="5000 U/L", ast_uln="40 U/L")
    assert values["ast_alt_x_uln"] == pytest.approx(125)
    assert labs.liver_values(bilirubin_x_uln="1", ast_alt_x_uln="120")["ast_alt_x_uln"] == 120
    assert dm.liver_advice("1", "120", monograph=BESPONSA)
    with pytest.raises(ValidationError) as refused:
        labs.liver_values(bilirubin_x_uln="1", ast_alt_x_uln="5000")  # the value in U/L typed as the ratio
    assert refused.value.field == "ast-alt-x-uln" and "0 to 1,000" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        labs.liver_values(bilirubin_x_uln="120", ast_alt_x_uln="1")
    assert refused.value.field == "bilirubin-x-uln"


def test_an_electrolyte_is_converted_from_its_unit_and_a_bare_one_where_mg_per_dl_could_be_meant_asks_for_it():
    """Magnesium is often reported in mg/dL (review): a bare 1.2 meant as mg/dL (0.49 mmol/L, low, a QT
    risk) read as 1.2 mmol/L, and the field refused '0.49 mmol/L' and '1.2 mg/dL' outright."""
    assert labs.electrolyte_values("4.1", "1.2 mg/dL")["magnesium"] == pytest.approx(0.4937, abs=1e-4)
    assert labs.electrolyte_values("4.1", "0.49 mmol/L")["magnesium"] == pytest.approx(0.49)
    assert labs.electrolyte_values("4.1", "1.7 mEq/L")["magnesium"] == pytest.approx(0.85)
    assert labs.electrolyte_values("15.6 mg/dL", "0.85")["potassium"] == pytest.approx(3.99, abs=0.01)
    assert labs.electrolyte_values("4.1", "0.85") == {"potassium": 4.1, "magnesium": 0.85}
    with pytest.raises(ValidationError) as refused:
        labs.electrolyte_values("4.1", "2.0")
    assert refused.value.field == "magnesium" and "without its unit" in refused.value.message and "2 mg/dL" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        labs.electrolyte_values("16", "0.85")
    assert refused.value.field == "potassium" and "without its unit" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        labs.electrolyte_values("4.1", "30 mmol/L")
    assert refused.value.field == "magnesium" and "0.05 to 20 mmol/L" in refused.value.message


def test_the_bare_electrolyte_limits_and_molar_masses_are_the_data_files(data_file):
    limits.electrolytes.cache_clear()
    try:
        data_file["electrolytes"]["magnesium"]["bare_max"]["value"] = 3
        assert labs.electrolyte_values("4.1", "2.0")["magnesium"] == 2.0
        data_file["electrolytes"]["magnesium"]["molar_mass"]["value"] = 10
        limits.electrolytes.cache_clear()
        assert labs.electrolyte_values("4.1", "1 mg/dL")["magnesium"] == pytest.approx(1.0)
        assert all(e.verify for e in limits.electrolytes().values())
        data_file["electrolytes"]["potassium"]["lowest"]["value"] = 2
        limits.electrolytes.cache_clear()
        with pytest.raises(ValidationError) as refused:
            labs.electrolyte_values("1.5", "0.85")
        assert refused.value.field == "potassium" and "2 to 20 mmol/L" in refused.value.message
        for broken in (0, 10):  # a floor of 0 accepts an empty field; one at bare_max leaves nothing to type bare
            data_file["electrolytes"]["potassium"]["lowest"]["value"] = broken
            limits.electrolytes.cache_clear()
            with pytest.raises(DataFileError, match="lowest"):
                limits.electrolytes()
    finally:
        limits.electrolytes.cache_clear()
