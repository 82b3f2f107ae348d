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
        ("1,70 m", "use a decimal point: 1.70 m"),
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


@pytest.mark.parametrize(
    ("text", "cm"),
    [
        ("5 ft. 7 in.", 170.18),
        ("5ft. 7in.", 170.18),
        ("67 in.", 170.18),
        ("170 cms", 170.0),
        ("170 cm.", 170.0),
        ("170 centimetres", 170.0),
        ("1.7 metres", 170.0),
        ("5 ft 7 1/2 in", 171.45),
        ("5 ft 7-1/2 in", 171.45),
        ("5 ft 7½ in", 171.45),
        ("5 ft 7.5 in", 171.45),
        ("5'7½\"", 171.45),
        ("5′7″", 170.18),
        ("5’7”", 170.18),
        ("5 ft 7", 170.18),  # the last bare number after feet is inches
        ("5 feet and 7 inches", 170.18),
        ("5 ft, 7 in", 170.18),
        ("5 ft 0 in", 152.4),
        ("1 m 70 cm", 170.0),
        ("1m70", 170.0),
        ("1 m 70", 170.0),
        ("１７０ cm", 170.0),  # full-width digits, as some input methods type them
        ("1.9 yd", 173.736),
    ],
)
def test_heights_as_nurses_type_them(text, cm):
    assert parse_height(text).magnitude("cm") == pytest.approx(cm, abs=0.005)


@pytest.mark.parametrize(
    ("text", "kg"),
    [
        ("154 lb.", 69.853),
        ("154 lbs.", 69.853),
        ("11 st 2 lb", 70.76),
        ("11 st. 2 lb.", 70.76),
        ("11 st 2", 70.76),  # the British "eleven stone two"
        ("11 stone 2 pounds", 70.76),
        ("154 lb 8 oz", 70.080),
        ("70 kg 500 g", 70.5),
        ("70 KG", 70.0),
        ("70 Kgs.", 70.0),
        ("154 1/2 lb", 70.080),
    ],
)
def test_weights_as_nurses_type_them(text, kg):
    assert parse_weight(text).magnitude("kg") == pytest.approx(kg, abs=0.005)


@pytest.mark.parametrize(
    "text",
    [
        "70 kg 154 lb",
        "70 kg 70 kg",
        "60 kg 132 lb",
        "154 lb 70 kg",
        "70 kg 5 lb",
        "2 lb 11 st",
        "8 oz 154 lb",
        "70 kg 500 g 200 g",
        "500 g 70 kg",
        "154 lb 11 st",
    ],
)
def test_two_weights_in_one_field_are_refused_never_added(text):
    with pytest.raises(ValidationError) as raised:
        parse_weight(text)
    assert raised.value.field == "weight"
    assert "more than one reading" in raised.value.message
    assert "70 kg" in raised.value.message  # an accepted example


@pytest.mark.parametrize("text", ["100 cm 40 in", "170 cm 170 cm", "7 in 5 ft", "5 ft 1 m", "1 m 5 ft", "70 cm 1 m", "5 ft 7 in 2 in", "5 ft 5 ft"])
def test_two_heights_in_one_field_are_refused_never_added(text):
    with pytest.raises(ValidationError) as raised:
        parse_height(text)
    assert raised.value.field == "height"
    assert "more than one reading" in raised.value.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("5 ft 13 in", "under 12"),
        ("5 ft 12 in", "under 12"),
        ("5'13\"", "under 12"),
        ("5 ft 12.5 in", "under 12"),
        ("1 m 100 cm", "under 100"),
        ("1 m 170 cm", "under 100"),
        ("5.5 ft 3 in", "only the last part"),
        ("1m7", "without a unit"),  # 1.07 m or 1.7 m?
        ("5 ft 7 8", "without a unit"),
        ("170 cm 5", "without a unit"),
        ("5 ft -7 in", "negative"),
        ("5 ft 7 1/0 in", "cannot read"),
        ("170 cm tall", "cannot read"),
    ],
)
def test_compound_typos_are_refused(text, fragment):
    with pytest.raises(ValidationError) as raised:
        parse_height(text)
    assert raised.value.field == "height"
    assert fragment in raised.value.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("11 st 14 lb", "under 14"),
        ("154 lb 16 oz", "under 16"),
        ("70 kg 1000 g", "under 1,000"),
        ("70 kg 500", "without a unit"),
        ("70 tons", "short"),  # short, long or metric ton?
        ("0.07 ton", "metric"),
        ("70#", "cannot read"),
    ],
)
def test_weight_compound_typos_are_refused(text, fragment):
    with pytest.raises(ValidationError) as raised:
        parse_weight(text)
    assert raised.value.field == "weight"
    assert fragment in raised.value.message


@pytest.mark.parametrize(
    ("field", "text", "corrected"),
    [("weight", "70,5 kg", "70.5 kg"), ("weight", "70,5kg", "70.5 kg"), ("height", "1,70 m", "1.70 m"), ("height", "170,5 cm", "170.5 cm")],
)
def test_a_decimal_comma_is_refused_with_the_decimal_point_spelling(field, text, corrected):
    with pytest.raises(ValidationError) as raised:
        (parse_weight if field == "weight" else parse_height)(text)
    assert raised.value.field == field
    assert f"use a decimal point: {corrected}" in raised.value.message


@pytest.mark.parametrize(("text", "word"), [("0.07 t", "tonnes"), ("0.07 tonnes", "tonnes"), ("70000 g", "grams"), ("70000000 mg", "milligrams")])
def test_a_weight_in_tonnes_or_grams_is_read_but_questioned(text, word):
    weight = parse_weight(text)
    assert weight.magnitude("kg") == pytest.approx(70.0)
    assert any(word in warning and "70 kg" in warning for warning in weight.warnings)


def test_a_compound_weight_is_not_questioned():
    assert parse_weight("70 kg 500 g").warnings == ()
    assert parse_weight("11 st 2 lb").warnings == ()


@pytest.mark.parametrize("text", ["1" * 5000 + " kg", "0." + "0" * 400 + "1 kg", "1" * 5000 + "/3 kg"])
def test_a_number_with_thousands_of_digits_is_refused_not_crashed(text):
    with pytest.raises(ValidationError) as raised:
        parse_weight(text)
    assert raised.value.field == "weight" and "too many digits" in raised.value.message


@pytest.mark.parametrize("typed", ["١٧٠ cm", "१७० cm"])
def test_a_height_in_digits_of_another_script_is_refused(typed):
    from infusion_app.domain.errors import ValidationError
    from infusion_app.domain.measurements import parse_height

    with pytest.raises(ValidationError):
        parse_height(typed)


def test_a_full_width_height_is_read_and_kept_as_ascii():
    from infusion_app.domain.measurements import parse_height

    height = parse_height("１７０ cm")
    assert height.text == "170 cm" and height.magnitude("cm") == 170


@pytest.mark.parametrize(("parse", "field", "text"), [(parse_height, "height", "-0 cm"), (parse_height, "height", "−0.0 m"), (parse_weight, "weight", "-0 kg")])
def test_minus_zero_is_refused_as_zero_not_as_negative(parse, field, text):
    """'-0 cm' was refused as negative: it is zero, and the refusal names the field and an accepted value."""
    with pytest.raises(ValidationError) as raised:
        parse(text)
    assert raised.value.field == field
    assert "negative" not in raised.value.message and "is zero" in raised.value.message, raised.value.message
    assert "for example 170 cm" in raised.value.message or "for example 70 kg" in raised.value.message


def test_a_negative_value_is_refused_with_an_accepted_example():
    with pytest.raises(ValidationError) as raised:
        parse_height("-170 cm")
    assert "negative" in raised.value.message and "for example 170 cm" in raised.value.message


@pytest.mark.parametrize(
    "read, typed",
    [
        ("weight", "7² kg"),  # NFKC made it 72 kg
        ("weight", "70¹ kg"),  # a pasted footnote: 701 kg
        ("height", "17⁰ cm"),
        ("number", "1²"),
        ("number", "①"),
    ],
)
def test_a_superscript_or_circled_digit_is_refused_naming_the_field_not_read_as_a_digit(read, typed):
    from infusion_app.domain.errors import ValidationError
    from infusion_app.domain.measurements import parse_height, parse_weight
    from infusion_app.domain.numbers import read_number

    reader = {"weight": parse_weight, "height": parse_height, "number": lambda text: read_number("anc", text, "e.g. 1.5")}[read]
    with pytest.raises(ValidationError) as refused:
        reader(typed)
    message = refused.value.message
    assert "not a digit" in message and ("e.g." in message or "for example" in message), message


def test_vulgar_fractions_and_full_width_digits_are_still_read():
    from infusion_app.domain.measurements import parse_height, parse_weight

    assert parse_weight("70½ kg").magnitude("kg") == 70.5
    assert parse_height("１７０ cm").magnitude("cm") == 170
