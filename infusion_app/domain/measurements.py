"""Height and weight as a nurse types them: "170 cm", "1.7 m", "5 ft 7 in", "5'7\"", "154 lb".

pint alone reads "5 ft 7 in" as a product (35 ft·in, an area), so the text is split into
number-unit pairs first, each pair is read by pint, every pair must be a length (or a mass),
and the pairs are added up.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pint

from .errors import ValidationError
from .formatting import format_number
from .limits import Range, input_limits
from .quantities import Quantity, ureg

# Spellings people type that pint does not know, or knows as something else.
_UNIT_ALIASES = {
    "'": "foot",
    "′": "foot",
    "’": "foot",
    '"': "inch",
    "″": "inch",
    "''": "inch",
    "”": "inch",
    "ft": "foot",
    "feet": "foot",
    "foot": "foot",
    "in": "inch",
    "ins": "inch",
    "inch": "inch",
    "inches": "inch",
    "lb": "pound",
    "lbs": "pound",
    "pound": "pound",
    "pounds": "pound",
    "oz": "ounce",
    "ounce": "ounce",
    "ounces": "ounce",
    "st": "stone",
    "stone": "stone",
    "stones": "stone",
    "kg": "kilogram",
    "kgs": "kilogram",
    "kilo": "kilogram",
    "kilos": "kilogram",
    "kilogram": "kilogram",
    "kilograms": "kilogram",
    "g": "gram",
    "gram": "gram",
    "grams": "gram",
    "m": "meter",
    "meter": "meter",
    "meters": "meter",
    "metre": "meter",
    "metres": "meter",
    "cm": "centimeter",
    "centimeter": "centimeter",
    "centimeters": "centimeter",
    "centimetre": "centimeter",
    "centimetres": "centimeter",
    "mm": "millimeter",
    "millimeter": "millimeter",
    "millimeters": "millimeter",
}

_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>''|[a-zA-Z]+|['′’\"″”])?\s*")


@dataclass(frozen=True)
class Measurement:
    """A parsed height or weight: the quantity, what was typed, and any plausibility warnings."""

    field: str
    text: str
    quantity: Quantity
    warnings: tuple[str, ...] = field(default=())

    def magnitude(self, unit: str) -> float:
        return float(self.quantity.to(unit).magnitude)


def _pairs(field_name: str, text: str, example: str) -> list[tuple[float, str]]:
    stripped = text.strip()
    if not stripped:
        raise ValidationError(field_name, f"is empty; type a number and a unit, for example {example}")
    if stripped.lower() in {"nan", "inf", "-inf", "+inf", "infinity"} or re.search(r"\b(nan|inf(inity)?)\b", stripped, re.I):
        raise ValidationError(field_name, f"'{text}' is not a finite number; type for example {example}")
    if re.search(r"\d,(\d{1,2}|\d{4,})(?!\d)", stripped):
        raise ValidationError(field_name, f"cannot read '{text}': use a period for decimals (1.7 m); commas only separate thousands")
    pairs: list[tuple[float, str]] = []
    position = 0
    while position < len(stripped):
        match = _PAIR.match(stripped, position)
        if not match or match.end() == position or not match.group("number"):
            raise ValidationError(field_name, f"cannot read '{text}'; type a number and a unit, for example {example}")
        number_text = match.group("number").replace(",", "")
        try:
            number = float(number_text)
        except ValueError:
            raise ValidationError(field_name, f"cannot read the number '{match.group('number')}' in '{text}'") from None
        if not math.isfinite(number):
            raise ValidationError(field_name, f"'{text}' is not a finite number; type for example {example}")
        unit_text = match.group("unit")
        if unit_text is None and pairs and _UNIT_ALIASES.get(pairs[-1][1].lower()) == "foot" and match.end() == len(stripped):
            unit_text = "in"  # 5'7 means 5 ft 7 in
        if unit_text is None:
            raise ValidationError(field_name, f"'{text}' has a number without a unit; type for example {example}")
        pairs.append((number, unit_text))
        position = match.end()
    return pairs


def parse_measurement(field_name: str, text: str, dimension: str, example: str, base_unit: str) -> Quantity:
    """Read text like '5 ft 7 in' as one quantity of the given dimension ('[length]' or '[mass]')."""
    if not isinstance(text, str):
        text = str(text)
    total = Quantity(0, base_unit)
    for number, unit_text in _pairs(field_name, text, example):
        unit_name = _UNIT_ALIASES.get(unit_text.lower() if len(unit_text) > 1 else unit_text, None)
        if unit_name is None and unit_text == "M":
            unit_name = "meter"
        if unit_name is None:
            try:
                unit = ureg.parse_units(unit_text)
            except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError, ValueError):
                raise ValidationError(field_name, f"unknown unit '{unit_text}' in '{text}'; type for example {example}") from None
        else:
            unit = ureg.parse_units(unit_name)
        part = Quantity(number, unit)
        if part.dimensionality != ureg.parse_units(base_unit).dimensionality:
            kind = "length" if dimension == "[length]" else "mass"
            raise ValidationError(field_name, f"'{unit_text}' is not a unit of {kind}; type for example {example}")
        if number < 0:
            raise ValidationError(field_name, f"cannot be negative ('{text}')")
        total = total + part.to(base_unit)
    return total


def _check_range(field_name: str, quantity: Quantity, accepted: Range, plausible: Range, unit: str) -> tuple[str, ...]:
    magnitude = quantity.to(unit).magnitude
    if magnitude <= 0:
        raise ValidationError(field_name, f"must be greater than zero; accepted range {accepted.describe(unit, format_number)}")
    if not accepted.contains(quantity):
        raise ValidationError(
            field_name,
            f"{format_number(magnitude, 1)} {unit} is outside the accepted range {accepted.describe(unit, format_number)}",
        )
    if not plausible.contains(quantity):
        return (
            f"{field_name} {format_number(magnitude, 1)} {unit} is unusual (expected "
            f"{plausible.describe(unit, format_number)}); check the value and its unit",
        )
    return ()


def parse_height(text: str) -> Measurement:
    limits = input_limits()
    quantity = parse_measurement("height", text, "[length]", "170 cm, 1.7 m, 67 in or 5 ft 7 in", "centimeter")
    warnings = _check_range("height", quantity, limits.height_accepted, limits.height_plausible, "cm")
    return Measurement("height", text, quantity, warnings)


def parse_weight(text: str) -> Measurement:
    limits = input_limits()
    quantity = parse_measurement("weight", text, "[mass]", "70 kg or 154 lb", "kilogram")
    warnings = _check_range("weight", quantity, limits.weight_accepted, limits.weight_plausible, "kg")
    return Measurement("weight", text, quantity, warnings)
