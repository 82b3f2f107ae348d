"""The monograph drives every number: change a value in a copy of the file and the result changes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infusion_app.domain.dosing import DoseOrder, calculate_dose
from infusion_app.domain.errors import DataFileError
from infusion_app.domain.monograph import load_monograph
from infusion_app.domain.resources import resource_path

ORDER = DoseOrder("170 cm", "70 kg", 1, 1)


@pytest.fixture
def monograph_text() -> str:
    return resource_path("monographs", "inotuzumab-ozogamicin.toml").read_text(encoding="utf-8")


def edited(tmp_path: Path, text: str, pattern: str, replacement: str) -> Path:
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.M)
    assert count == 1, pattern
    path = tmp_path / "edited.toml"
    path.write_text(new, encoding="utf-8")
    return path


def test_the_shipped_monograph_loads_and_every_value_has_a_source():
    monograph = load_monograph("inotuzumab-ozogamicin")
    assert monograph.generic_name == "inotuzumab ozogamicin" and monograph.brand_name == "BESPONSA"
    assert monograph.dose_days == [1, 8, 15]
    for fact in monograph.facts.values():
        assert fact.source_text, fact.path


def test_values_marked_verify_in_the_reference_are_flagged():
    pending = {f.path for f in load_monograph("inotuzumab-ozogamicin").pending_verification()}
    assert {
        "dilution.concentration_min",
        "dilution.concentration_max",
        "time_limits.diluted_room_max",
        "time_limits.diluted_refrigerated_max",
        "dose_modification.interruption.omit_next_dose_from",
    } <= pending
    assert "reconstitution.concentration" not in pending


def test_a_different_vial_size_changes_vials_discard_and_billing(tmp_path, monograph_text):
    # The EU labels call the vial 1 mg; with 1 mg vials 1.45 mg (5.8 mL drawn) still needs 2 vials but discards 0.55 mg.
    path = edited(tmp_path, monograph_text, r"^vial_deliverable = \{ value = 0\.9,", "vial_deliverable = { value = 1.0,")
    r = calculate_dose(ORDER, load_monograph(path))
    assert r.vial_mg == 1.0 and r.discarded_mg == pytest.approx(0.55) and r.billing_units_discarded == 5


def test_a_different_concentration_changes_the_volume(tmp_path, monograph_text):
    path = edited(tmp_path, monograph_text, r"^concentration = \{ value = 0\.25,", "concentration = { value = 0.5,")
    # 1.46 mg / 0.5 mg/mL = 2.92 mL, drawn on the 3 mL syringe (0.1 mL marks) as 2.9 mL = 1.45 mg
    r = calculate_dose(ORDER, load_monograph(path))
    assert (r.withdraw_ml, r.draw_syringe_ml, r.dose_mg) == (2.9, 3.0, 1.45)


def test_a_different_dose_table_changes_the_dose(tmp_path, monograph_text):
    path = edited(tmp_path, monograph_text, r"^day1 = \{ value = 0\.8,", "day1 = { value = 0.7,")
    # 0.7 × 1.82 = 1.274 → 1.27 mg (= 5.08 mL, drawn as 5 mL = 1.25 mg)
    assert calculate_dose(ORDER, load_monograph(path)).dose_before_draw_mg == 1.27


def test_a_different_concentration_window_changes_the_hard_stop(tmp_path, monograph_text):
    path = edited(tmp_path, monograph_text, r"^concentration_min = \{ value = 0\.01,", "concentration_min = { value = 0.03,")
    r = calculate_dose(ORDER, load_monograph(path))
    # Too dilute for the bag now: the syringe path, and the warning quotes the edited window.
    assert r.container == "syringe" and any("0.03 mg/mL" in w for w in r.warnings)
    # With the syringe window raised out of reach too, nothing can be prepared.
    path = edited(tmp_path, path.read_text(), r"^concentration_min = \{ value = 0\.025,", "concentration_min = { value = 0.2,")
    r = calculate_dose(ORDER, load_monograph(path))
    assert r.hard_stops and "0.03 mg/mL" in r.hard_stops[0] and "in either" in r.hard_stops[0]


def test_a_value_with_an_unknown_unit_is_refused(tmp_path, monograph_text):
    path = edited(
        tmp_path, monograph_text, r'unit = "mg/mL", source = "uspi_2024", where = "2.4" \}', 'unit = "mg/zork", source = "uspi_2024", where = "2.4" }'
    )
    with pytest.raises(DataFileError, match="unknown unit"):
        load_monograph(path)


def test_a_value_citing_an_unknown_source_is_refused(tmp_path, monograph_text):
    path = edited(tmp_path, monograph_text, r'source = "uspi_2024", where = "3; 16', 'source = "hearsay", where = "3; 16')
    with pytest.raises(DataFileError, match="unknown source"):
        load_monograph(path)


def test_a_missing_value_is_a_clear_error():
    with pytest.raises(DataFileError, match="no value 'nope.nothing'"):
        load_monograph("inotuzumab-ozogamicin").fact("nope.nothing")


def test_a_fact_in_a_unit_is_converted_once_per_monograph_and_never_shared(tmp_path, monograph_text, monkeypatch):
    """A dose calculation reads a dozen facts in fixed units, each through pint, again at every call."""
    copy = tmp_path / "copy.toml"
    copy.write_text(monograph_text, encoding="utf-8")
    shipped = load_monograph(copy)  # its own instance: the installed one is shared by the whole process
    other = load_monograph(edited(tmp_path, monograph_text, r"^concentration = \{ value = 0\.25,", "concentration = { value = 0.5,"))
    conversions = []
    for monograph in (shipped, other):
        quantity = monograph.quantity
        monkeypatch.setattr(monograph, "quantity", lambda path, unit=None, q=quantity: conversions.append(path) or q(path, unit))
    assert [shipped.magnitude("reconstitution.concentration", "mg/mL") for _ in range(3)] == [0.25] * 3
    assert other.magnitude("reconstitution.concentration", "mg/mL") == 0.5
    assert shipped.magnitude("reconstitution.concentration", "microgram/mL") == 250
    assert conversions == ["reconstitution.concentration"] * 3
