"""Height and weight as typed at the bench."""

from __future__ import annotations

import pytest

from infusion_app.domain.errors import ValidationError
from infusion_app.domain.measurements import parse_height, parse_weight


@pytest.mark.parametrize(
    ("text", "cm"),
    [
        ("170 cm", 170.0),
        ("170cm", 170.0),
        ("1.7 m", 170.0),
        ("1.70m", 170.0),
        ("1700 mm", 170.0),
        ("67 in", 170.18),
        ("67 inches", 170.18),
        ("5 ft 7 in", 170.18),  # pint alone would read this as a product (an area)
        ("5ft 7in", 170.18),
        ("5 feet 7 inches", 170.18),
        ("5'7\"", 170.18),
        ("5' 7''", 170.18),
        ("5'7", 170.18),
        ("6 ft", 182.88),
        ("  170 CM  ", 170.0),
    ],
)
def test_heights(text, cm):
    assert parse_height(text).magnitude("cm") == pytest.approx(cm, abs=0.005)


@pytest.mark.parametrize(
    ("text", "kg"),
    [
        ("70 kg", 70.0),
        ("70kg", 70.0),
        ("70.5 kg", 70.5),
        ("154 lb", 69.853),
        ("154 lbs", 69.853),
        ("154 pounds", 69.853),
        ("11 st 2 lb", 70.76),
        ("70000 g", 70.0),
        ("1,200 g", 1.2),
    ],
)
def test_weights(text, kg):
    assert parse_weight(text).magnitude("kg") == pytest.approx(kg, abs=0.005)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("170", "without a unit"),
        ("70 kg", "not a unit of length"),
        ("5 ft 7 kg", "not a unit of length"),
        ("-170 cm", "negative"),
        ("0 cm", "greater than zero"),
        ("nan cm", "finite"),
        ("inf cm", "finite"),
        ("1e400 cm", "finite"),
        ("1700 cm", "outside the accepted range 30 to 275 cm"),
        ("10 cm", "outside the accepted range"),
        ("tall", "cannot read"),
        ("1,70 m", "use a period for decimals"),
        ("170 litres", "not a unit of length"),
        ("170 zorks", "unknown unit"),
    ],
)
def test_bad_heights_are_refused_naming_the_field(text, fragment):
    with pytest.raises(ValidationError) as raised:
        parse_height(text)
    assert raised.value.field == "height"
    assert fragment in raised.value.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("70", "without a unit"),
        ("70 cm", "not a unit of mass"),
        ("0 kg", "greater than zero"),
        ("-3 kg", "negative"),
        ("700 kg", "outside the accepted range 0.5 to 650 kg"),
        ("0.1 kg", "outside the accepted range"),
    ],
)
def test_bad_weights_are_refused_naming_the_field(text, fragment):
    with pytest.raises(ValidationError) as raised:
        parse_weight(text)
    assert raised.value.field == "weight"
    assert fragment in raised.value.message


def test_implausible_but_possible_values_warn():
    assert parse_height("60 cm").warnings and "unusual" in parse_height("60 cm").warnings[0]
    assert parse_weight("300 kg").warnings
    assert parse_height("170 cm").warnings == ()
    assert parse_weight("70 kg").warnings == ()
