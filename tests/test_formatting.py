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
