"""The one ISMP formatter (practice-standards.md)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from infusion_app.domain.formatting import (
    format_amount,
    format_bsa,
    format_concentration,
    format_countdown,
    format_dose,
    format_instant,
    format_number,
    format_volume,
    utc_iso,
)
from infusion_app.domain.quantities import Quantity
from infusion_app.domain.formatting import format_quantity


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.5, "0.5 mg"),  # leading zero
        (5.0, "5 mg"),  # no trailing zero
        (5, "5 mg"),
        (1.46, "1.46 mg"),
        (1.40, "1.4 mg"),
        (0.125, "0.13 mg"),  # half up at 2 decimals
        (1000, "1,000 mg"),  # thousands comma
        (0.0, "0 mg"),
    ],
)
def test_doses(value, text):
    assert format_dose(value) == text


def test_volumes_and_concentrations():
    assert format_volume(5.84) == "5.84 mL"
    assert format_volume(50.0) == "50 mL"
    assert format_volume(44.16) == "44.16 mL"
    assert format_concentration(0.0292) == "0.0292 mg/mL"
    assert format_concentration(0.1) == "0.1 mg/mL"
    assert format_concentration(0.25) == "0.25 mg/mL"


def test_never_a_naked_decimal_point_nor_cc_nor_microgram_sign():
    for value in (0.1, 0.01, 0.05, 0.375):
        for unit in ("mg", "mL", "mg/mL", "mg/m²"):
            text = format_amount(value, unit)
            assert not text.startswith(".")
            assert " ." not in text
            assert "cc" not in text and "µ" not in text
    assert format_amount(50, "mcg") == "50 mcg"


def test_units_word_never_u():
    assert format_amount(15, "units") == "15 units"
    assert format_amount(1, "units") == "1 unit"
    assert format_amount(0, "units") == "0 units"


def test_no_period_after_unit_and_a_space_before_it():
    text = format_amount(12.5, "mL")
    assert text == "12.5 mL" and not text.endswith(".")


def test_pint_quantities_are_spelled_the_ismp_way():
    assert format_quantity(Quantity(0.25, "mg/mL")) == "0.25 mg/mL"
    assert format_quantity(Quantity(4, "milliliter")) == "4 mL"
    assert format_quantity(Quantity(0.0009, "gram"), "mg") == "0.9 mg"


def test_decimal_input_and_negative_zero():
    assert format_number(Decimal("2.500")) == "2.5"
    assert format_number(-0.0001, 2) == "0"


def test_non_finite_is_refused():
    with pytest.raises(ValueError):
        format_number(float("nan"))


def test_bsa_carries_its_formula():
    assert format_bsa(1.82, "Mosteller") == "1.82 m² (Mosteller)"
    assert format_bsa(1.8) == "1.8 m²"


def test_instants_are_local_24_hour_with_date_and_zone():
    instant = datetime(2026, 7, 1, 13, 5, tzinfo=timezone.utc)
    assert format_instant(instant, ZoneInfo("Europe/Berlin")) == "2026-07-01 15:05 CEST"
    assert format_instant(instant, ZoneInfo("America/New_York")) == "2026-07-01 09:05 EDT"
    with pytest.raises(ValueError):
        format_instant(datetime(2026, 7, 1, 13, 5))


def test_countdown_and_iso():
    assert format_countdown(3 * 3600 + 62) == "3:01:02"
    assert format_countdown(-61) == "-0:01:01"
    assert utc_iso(datetime(2026, 1, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))) == "2026-01-01T00:00:00+00:00"


def test_counted_units_and_percent_read_as_people_say_them():
    assert format_quantity(Quantity(7, "day")) == "7 days"
    assert format_quantity(Quantity(1, "day")) == "1 day"
    assert format_quantity(Quantity(25, "percent")) == "25%"
    assert format_quantity(Quantity(2.5, "")) == "2.5"


def test_any_value_is_shown():
    from infusion_app.domain.formatting import format_value

    assert format_value(Quantity(0.25, "mg/mL")) == "0.25 mg/mL"
    assert format_value(True) == "yes"
    assert format_value(["PES", "PVDF"]) == "PES, PVDF"


@pytest.mark.parametrize(
    ("quantity", "text"),
    [
        (Quantity(500, "cc"), "500 mL"),  # never cc, never pint's "cubic_centimeter"
        (Quantity(500, "cubic_centimeter"), "500 mL"),
        (Quantity(1, "1/nL"), "1,000/mm³"),  # 10⁹/L, as a count per mm³
        (Quantity(0.5, "1/nL"), "500/mm³"),
        (Quantity(1000, "1/mm**3"), "1,000/mm³"),
        (Quantity(10_000, "1/microliter"), "10,000/mm³"),
        (Quantity(50, "mL/hour"), "50 mL/hour"),
        (Quantity(2, "mg/kg"), "2 mg/kg"),
        (Quantity(5, "mcg/kg"), "5 mcg/kg"),
        (Quantity(3, "microgram/kilogram/minute"), "3 mcg/kg/min"),
        (Quantity(0.8, "mg/m**2"), "0.8 mg/m²"),
        (Quantity(1.5, "m**2"), "1.5 m²"),
        (Quantity(0.5, "microgram"), "0.5 mcg"),
        (Quantity(0.25, "mg/mL"), "0.25 mg/mL"),
        (Quantity(10, "mg/dL"), "10 mg/dL"),
        (Quantity(1, "hour"), "1 hour"),
        (Quantity(4, "hour"), "4 hours"),
        (Quantity(30, "minute"), "30 minutes"),
        (Quantity(1, "day"), "1 day"),
        (Quantity(7, "day"), "7 days"),
        (Quantity(25, "percent"), "25%"),
        (Quantity(8, "degC"), "8 °C"),
        (Quantity(3, ""), "3"),
    ],
)
def test_every_pint_unit_is_spelled_the_ismp_way(quantity, text):
    assert format_quantity(quantity) == text


def test_no_pint_spelling_leaks_from_any_monograph_or_site_value():
    from infusion_app.domain.monograph import load_monograph

    monograph = load_monograph("inotuzumab-ozogamicin")
    shown = [format_quantity(fact.value) for fact in monograph.facts.values() if isinstance(fact.value, Quantity)]
    assert len(shown) > 20
    for text in shown:
        assert "_" not in text and "**" not in text and " / " not in text and "µ" not in text and "cc" not in text, text
        for pint_word in ("milli", "micro", "nano", "gram", "liter", "meter", "dimensionless"):
            assert pint_word not in text, text


def test_a_requested_short_spelling_is_kept():
    assert format_quantity(Quantity(50, "mL/hour"), "mL/h") == "50 mL/h"
    assert format_quantity(Quantity(90, "minute"), "h") == "1.5 h"
    assert format_quantity(Quantity(1, "hour"), "minute") == "60 minutes"
    assert format_quantity(Quantity(500, "cc"), "mL") == "500 mL"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.004, "0.004 mg"), (0.0004, "0.0004 mg"), (0.0049, "0.0049 mg"), (0.005, "0.01 mg"), (0.00001234, "0.000012 mg"), (-0.001, "-0.001 mg")],
)
def test_a_tiny_dose_is_never_shown_as_zero(value, text):
    assert format_dose(value) == text
    assert format_quantity(Quantity(value, "mg")) == text


def test_a_tiny_amount_of_any_unit_is_never_zero():
    assert format_amount(0.3, "units") == "0.3 units"
    assert format_volume(0.001) == "0.001 mL"
    assert format_quantity(Quantity(0.4, "microgram"), "mg") == "0.0004 mg"
