"""Plain typed numbers: read as written (1,500; 0.5; 08) or refused naming the field (1,5; 1_000)."""

from __future__ import annotations

import pytest

from infusion_app.domain.errors import ValidationError, whole_number
from infusion_app.domain.numbers import read_number


@pytest.mark.parametrize(
    "typed, number",
    [
        ("1,500", 1500.0),
        ("1500", 1500.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("-2", -2.0),
        ("+2", 2.0),
        ("1e3", 1000.0),
        (" 7 ", 7.0),
        ("１２", 12.0),
        ("1,000,000", 1e6),
        (3, 3.0),
        (2.5, 2.5),
        ("−1", -1.0),
    ],
)
def test_numbers_are_read_as_written(typed, number):
    assert read_number("count", typed, "0 or more") == number


@pytest.mark.parametrize(
    "typed, says",
    [
        ("1,5", "use a decimal point: 1.5"),
        ("70,25", "use a decimal point: 70.25"),
        ("1,5000", "use a decimal point"),
        ("1_000", "not a number"),
        ("1 000", "not a number"),
        ("1,00,000", "not a number"),
        ("", "nothing"),
        ("abc", "not a number"),
        ("nan", "not a number"),
        ("inf", "not a number"),
        ("1e999", "finite"),
        ("0x10", "not a number"),
        (True, "must be a number"),
        ("5 mg", "not a number"),
        ("1." + "1" * 50, "not a number"),
    ],
)
def test_other_text_is_refused_naming_the_field_and_the_accepted_values(typed, says):
    with pytest.raises(ValidationError) as raised:
        read_number("count", typed, "0 or more")
    assert raised.value.field == "count" and says in raised.value.message


@pytest.mark.parametrize("typed, number", [("8", 8), ("08", 8), (" 15 ", 15), ("0", 0), ("00", 0), (3, 3), (3.0, 3)])
def test_whole_numbers_with_a_leading_zero_are_read(typed, number):
    assert whole_number("day", typed, range(0, 30), "0 to 29") == number


@pytest.mark.parametrize("typed", ["1_0", "3.0", "3 days", "+3", "0x1", "", True, 2.5])
def test_other_whole_number_text_is_refused(typed):
    with pytest.raises(ValidationError) as raised:
        whole_number("day", typed, range(0, 30), "0 to 29")
    assert raised.value.field == "day"


@pytest.mark.parametrize("typed", ["١٥", "٧٠", "१५", "1٥"])
def test_digits_of_other_scripts_are_refused_not_read(typed):
    """Re-walk of issue 15 item 18: float() reads Arabic-Indic and Devanagari digits; a sheet
    printing them is not read at the bench. (Full-width digits are NFKC's ASCII digits: read.)"""
    from infusion_app.domain.errors import ValidationError
    from infusion_app.domain.numbers import read_number

    with pytest.raises(ValidationError):
        read_number("count", typed, "a count, e.g. 15")
    assert read_number("count", "１５", "a count, e.g. 15") == 15


@pytest.mark.parametrize(
    "typed, says",
    [("1e-400", "too small to be held as a number (it would be kept as 0)"), ("-2.5E-999", "kept as 0"), ("1e-320", "too small to be held exactly")],
)
def test_a_number_that_underflows_is_refused_not_kept_as_zero(typed, says):
    """float('1e-400') is 0.0: an ANC typed so was stored as 0 (review)."""
    with pytest.raises(ValidationError) as refused:
        read_number("anc", typed, "a count, e.g. 1.5")
    assert refused.value.field == "anc" and says in refused.value.message and "e.g. 1.5" in refused.value.message
    assert read_number("x", "0e-400", "0") == 0 and read_number("x", "2.2250738585072014e-308", "x") > 0
