"""Height and weight as a nurse types them: "170 cm", "1.7 m", "5 ft 7 in", "5'7\"", "154 lb".

A field holds ONE reading. pint alone reads "5 ft 7 in" as a product (35 ft·in, an area), so
the text is split into number-unit parts first. Several parts are one reading only when they
are a compound of one measuring system written from the largest unit down, each smaller part
under one of the unit before it, as people write them: "5 ft 7 in", "11 st 2 lb", "154 lb 8 oz",
"1 m 70 cm", "70 kg 500 g". Anything else ("70 kg 154 lb", "70 kg 70 kg", "7 in 5 ft") is two
readings in one field: refused, never added up. "5 ft 13 in" is refused as a typo.

Accepted as a careful reader would read them: a period after a unit ("5 ft. 7 in.", "154 lb."),
plurals ("cms", "kgs", "lbs"), fractions ("7 1/2", "7-1/2", "7½"), primes and quotes for feet
and inches, "5'7" / "5 ft 7" (inches), "11 st 2" (pounds), "1 m 70" / "1m70" (centimetres),
full-width digits. A decimal comma ("70,5 kg") is refused with the corrected text: it is read
as a thousands separator in one place and a decimal mark in another, and 1,500 is both.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

from .errors import ValidationError
from .formatting import format_number
from .limits import Range, input_limits
from .numbers import odd_digit
from .quantities import Quantity, same_dimension, ureg

# Spellings people type -> (pint unit, compound system, rank in the system: 0 is the largest).
# Units outside any system (yards, tonnes, milligrams) are single readings only.
_UNITS: dict[str, tuple[str, str | None, int]] = {}


def _spell(names: str, unit: str, system: str | None = None, rank: int = 0) -> None:
    for name in names.split():
        _UNITS[name] = (unit, system, rank)


_spell("m mtr mtrs meter meters metre metres", "meter", "metric length", 0)
_spell("cm cms centimeter centimeters centimetre centimetres", "centimeter", "metric length", 1)
_spell("mm mms millimeter millimeters millimetre millimetres", "millimeter", "metric length", 2)
_spell("ft feet foot ' ′ ’ ‘ `", "foot", "imperial length", 0)
_spell("in ins inch inches \" ″ ” “ '' ′′ ’’", "inch", "imperial length", 1)
_spell("yd yds yard yards", "yard")
_spell("kg kgs kilo kilos kilogram kilograms kilogramme kilogrammes", "kilogram", "metric mass", 0)
_spell("g gm gms gr grs gram grams gramme grammes", "gram", "metric mass", 1)
_spell("mg mgs milligram milligrams milligramme milligrammes", "milligram")
_spell("t tonne tonnes", "metric_ton")
_spell("st stone stones", "stone", "imperial mass", 0)
_spell("lb lbs pound pounds", "pound", "imperial mass", 1)
_spell("oz ozs ounce ounces", "ounce", "imperial mass", 2)
# "gr" is grain in apothecary use, but nobody weighs a patient in grains, and a European
# "70000 gr" is grams; it is still warned about (any weight in grams is).
# "ton"/"tons" are left out on purpose: short (907 kg), long (1016 kg) or metric (1000 kg).

# After the largest unit of these systems a last bare number is the next unit: 5'7, 11 st 2, 1m70.
_IMPLIED_NEXT = {"foot": "inch", "stone": "pound", "meter": "centimeter"}
_ABBREVIATIONS_WITH_PERIOD = {
    "ft",
    "in",
    "ins",
    "lb",
    "lbs",
    "st",
    "oz",
    "ozs",
    "cm",
    "cms",
    "mm",
    "m",
    "kg",
    "kgs",
    "g",
    "gm",
    "gms",
    "gr",
    "mg",
    "yd",
    "yds",
    "mtr",
    "mtrs",
    "t",
}
_PLURAL = {"foot": "feet", "meter": "metres", "centimeter": "centimetres", "stone": "stone", "pound": "pounds", "kilogram": "kilograms"}
# Units a weight is rarely given in for a patient: read, but the unit is questioned.
_QUESTIONED_WEIGHT_UNITS = {"gram": "grams", "milligram": "milligrams", "metric_ton": "tonnes"}

_NUMBER = re.compile(
    r"""(?P<number>
        (?P<mixed>\d+)(?:\s+|-)(?P<mixed_num>\d+)/(?P<mixed_den>\d+)   # 7 1/2, 7-1/2
      | (?P<frac_num>\d+)/(?P<frac_den>\d+)                            # 1/2
      | (?P<decimal>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE](?P<exponent>[-+]?\d+))?
    )(?P<vulgar>[½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞])?""",
    re.VERBOSE | re.ASCII,  # after NFKC (full-width digits are ASCII by then): no digits of other scripts
)
_VULGAR_ALONE = re.compile(r"(?P<vulgar>[½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞])")
_UNIT = re.compile(r"''|′′|’’|[a-zA-Zµμ]+\.?|['′’‘`\"″”“]")
_DECIMAL_COMMA = re.compile(r"(?<![\d,])(\d+),(\d{1,2}|\d{4,})(?![\d,])", re.ASCII)


@dataclass(frozen=True)
class Measurement:
    """A parsed height or weight: the quantity, what was typed, and any plausibility warnings."""

    field: str
    text: str
    quantity: Quantity
    warnings: tuple[str, ...] = ()

    def magnitude(self, unit: str) -> float:
        return float(self.quantity.to(unit).magnitude)


@dataclass(frozen=True)
class _Part:
    value: Fraction
    text: str  # the part as typed, for messages
    whole: bool  # an integer as typed (no decimals or fraction)
    unit_text: str | None


_VULGAR_FRACTIONS = "½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"


def _normalize(text: str) -> str:
    # NFKC turns full-width digits into ASCII and "½" into "1⁄2"; keep the vulgar fractions
    # whole (they are read by the number pattern) and the fraction slash as a slash.
    kept = {ch: f"\x00{i}\x00" for i, ch in enumerate(_VULGAR_FRACTIONS)}
    for ch, marker in kept.items():
        text = text.replace(ch, marker)
    text = unicodedata.normalize("NFKC", text).replace("⁄", "/").replace("\u00a0", " ")
    for ch, marker in kept.items():
        text = text.replace(marker, ch)
    return text.strip()


def _number_value(match: re.Match[str], field_name: str, text: str, example: str) -> tuple[Fraction, bool]:
    if len(match.group(0)) > 30:  # also keeps Python's int-from-string limit out of the way
        raise ValidationError(field_name, f"'{match.group(0)[:12]}…' has too many digits; type for example {example}")
    vulgar = match.group("vulgar")
    extra = Fraction(unicodedata.numeric(vulgar)).limit_denominator(16) if vulgar else Fraction(0)
    if match.group("mixed") is not None:
        den = int(match.group("mixed_den"))
        if den == 0 or vulgar:
            raise ValidationError(field_name, f"cannot read the number '{match.group(0)}' in '{text}'; type for example {example}")
        return Fraction(int(match.group("mixed"))) + Fraction(int(match.group("mixed_num")), den), False
    if match.group("frac_num") is not None:
        den = int(match.group("frac_den"))
        if den == 0 or vulgar:
            raise ValidationError(field_name, f"cannot read the number '{match.group(0)}' in '{text}'; type for example {example}")
        return Fraction(int(match.group("frac_num")), den), False
    decimal_text = match.group("decimal").replace(",", "")
    if match.group("exponent") is not None:
        number = float(decimal_text + "e" + match.group("exponent"))
        if not math.isfinite(number):
            raise ValidationError(field_name, f"'{text}' is not a finite number; type for example {example}")
        return Fraction(number), False
    whole = "." not in decimal_text and not vulgar
    if vulgar and "." in decimal_text:
        raise ValidationError(field_name, f"cannot read the number '{match.group(0)}' in '{text}'; type for example {example}")
    return Fraction(decimal_text) + extra, whole


def _parts(field_name: str, text: str, example: str) -> list[_Part]:
    odd = odd_digit(text, allowed=_VULGAR_FRACTIONS)
    if odd is not None:
        raise ValidationError(field_name, f"cannot read '{text}': '{odd}' is not a digit; type for example {example}")
    stripped = _normalize(text)
    if not stripped:
        raise ValidationError(field_name, f"is empty; type a number and a unit, for example {example}")
    if re.search(r"\b(nan|inf(inity)?)\b", stripped, re.I):
        raise ValidationError(field_name, f"'{text}' is not a finite number; type for example {example}")
    comma = _DECIMAL_COMMA.search(stripped)
    if comma:
        corrected = stripped[: comma.start()] + f"{comma.group(1)}.{comma.group(2)}" + stripped[comma.end() :]
        corrected = re.sub(r"(\d)([a-zA-Z])", r"\1 \2", corrected, count=1)
        raise ValidationError(field_name, f"cannot read '{text}': use a decimal point: {corrected}")
    parts: list[_Part] = []
    position = 0
    while position < len(stripped):
        while position < len(stripped) and stripped[position].isspace():
            position += 1
        if position >= len(stripped):
            break
        if parts and stripped.startswith("and ", position) and parts[-1].unit_text is not None:
            position += 4  # "5 feet and 7 inches"
            continue
        if parts and stripped[position] == "," and parts[-1].unit_text is not None:
            position += 1  # "5 ft, 7 in"
            continue
        sign = stripped[position] if stripped[position] in "+-−" else ""
        if sign:
            position += 1
        match = _NUMBER.match(stripped, position) or _VULGAR_ALONE.match(stripped, position)
        if not match:
            raise ValidationError(field_name, f"cannot read '{text}'; type a number and a unit, for example {example}")
        if "number" in match.re.groupindex:
            value, whole = _number_value(match, field_name, text, example)
        else:
            value, whole = Fraction(unicodedata.numeric(match.group("vulgar"))).limit_denominator(16), False
        if sign in "-−" and sign and value != 0:
            # '-0 cm' is zero, refused as zero by the range check (it was called negative).
            raise ValidationError(field_name, f"cannot be negative ('{text}'); type for example {example}")
        number_text = match.group(0)
        position = match.end()
        while position < len(stripped) and stripped[position] == " ":
            position += 1
        unit_match = _UNIT.match(stripped, position)
        unit_text = None
        if unit_match:
            unit_text = unit_match.group(0)
            position = unit_match.end()
            if unit_text.endswith(".") and len(unit_text) > 1:
                bare = unit_text[:-1]
                if bare.lower() not in _ABBREVIATIONS_WITH_PERIOD:
                    raise ValidationError(field_name, f"cannot read '{text}': '{unit_text}'; type for example {example}")
                unit_text = bare
            elif (
                position < len(stripped)
                and not stripped[position].isspace()
                and not stripped[position].isdigit()
                and stripped[position] not in "½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞.,"
            ):
                raise ValidationError(field_name, f"cannot read '{text}'; type a number and a unit, for example {example}")
        parts.append(_Part(value, f"{number_text} {unit_text}" if unit_text else number_text, whole, unit_text))
    if not parts:
        raise ValidationError(field_name, f"cannot read '{text}'; type a number and a unit, for example {example}")
    return parts


# Units pint knows that do not say which of several sizes is meant.
_AMBIGUOUS_UNITS = {
    "ton": "a short (907 kg), long (1,016 kg) or metric (1,000 kg) ton",
    "tons": "a short (907 kg), long (1,016 kg) or metric (1,000 kg) ton",
    "cwt": "a short (45.4 kg) or long (50.8 kg) hundredweight",
    "hundredweight": "a short (45.4 kg) or long (50.8 kg) hundredweight",
}


def _unit_of(field_name: str, unit_text: str, text: str, example: str) -> tuple[str, str | None, int]:
    for key in (unit_text, unit_text.lower()):
        if key in _UNITS:
            return _UNITS[key]
    if unit_text.lower() in _AMBIGUOUS_UNITS:
        raise ValidationError(field_name, f"'{unit_text}' in '{text}' could be {_AMBIGUOUS_UNITS[unit_text.lower()]}; type for example {example}")
    import pint  # a spelling not in the table: pint reads it (and its registry is built for it)

    try:
        unit = ureg.parse_units(unit_text)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError, ValueError, TypeError):
        raise ValidationError(field_name, f"unknown unit '{unit_text}' in '{text}'; type for example {example}") from None
    return str(unit), None, 0


def parse_measurement(field_name: str, text: str, dimension: str, example: str, base_unit: str) -> Quantity:
    """Read text like '5 ft 7 in' as ONE quantity of the given dimension ('[length]' or '[mass]')."""
    return _read(field_name, text, dimension, example, base_unit)[0]


def _read(field_name: str, text: str, dimension: str, example: str, base_unit: str) -> tuple[Quantity, list[str]]:
    if not isinstance(text, str):
        text = str(text)
    kind = "length" if dimension == "[length]" else "mass"
    parts = _parts(field_name, text, example)
    if parts[0].unit_text is None:
        raise ValidationError(field_name, f"'{text}' has a number without a unit; type for example {example}")
    units: list[tuple[str, str | None, int]] = []
    for index, part in enumerate(parts):
        if part.unit_text is None:
            previous_unit = units[-1][0]
            implied = _IMPLIED_NEXT.get(previous_unit)
            # "1m70" is 1.70 m, but "1m7" could be 1.07 m or 1.7 m: centimetres need two digits
            two_digit_cm = implied != "centimeter" or (part.whole and len(part.text) == 2)
            if implied is None or index != len(parts) - 1 or len(parts) != 2 or not two_digit_cm:
                raise ValidationError(field_name, f"'{text}' has a number without a unit; type for example {example}")
            units.append(_UNITS[{"inch": "in", "pound": "lb", "centimeter": "cm"}[implied]])
        else:
            units.append(_unit_of(field_name, part.unit_text, text, example))
        unit_name = units[-1][0]
        if not same_dimension(unit_name, base_unit):
            shown = part.unit_text or unit_name
            raise ValidationError(field_name, f"'{shown}' is not a unit of {kind}; type for example {example}")
    if len(parts) > 1:
        _check_compound(field_name, text, parts, units, example)
    total = sum((Quantity(float(part.value), unit[0]).to(base_unit) for part, unit in zip(parts, units)), Quantity(0, base_unit))
    if not math.isfinite(total.magnitude):
        raise ValidationError(field_name, f"'{text}' is not a finite number; type for example {example}")
    questioned = [] if len(parts) > 1 else [_QUESTIONED_WEIGHT_UNITS[units[0][0]]] if units[0][0] in _QUESTIONED_WEIGHT_UNITS else []
    return total, questioned


def _check_compound(field_name: str, text: str, parts: list[_Part], units: list[tuple[str, str | None, int]], example: str) -> None:
    systems = {system for _, system, _ in units}
    shown = " and ".join(f"'{p.text}'" for p in parts)
    if len(systems) != 1 or None in systems:
        raise ValidationError(
            field_name,
            f"'{text}' holds more than one reading ({shown}); type one, for example {example}",
        )
    ranks = [rank for _, _, rank in units]
    if len(set(ranks)) != len(ranks):
        raise ValidationError(field_name, f"'{text}' holds more than one reading ({shown}); type one, for example {example}")
    if any(later < earlier for earlier, later in zip(ranks, ranks[1:])):
        raise ValidationError(
            field_name,
            f"'{text}' holds more than one reading ({shown}): a compound goes from the largest unit down; type one, for example {example}",
        )
    for part in parts[:-1]:
        if not part.whole:
            raise ValidationError(field_name, f"in '{text}' only the last part may have decimals or a fraction; type for example {example}")
    for (previous_unit, _, _), (unit, _, _), part in zip(units, units[1:], parts[1:]):
        one_previous = Quantity(1, previous_unit).to(unit).magnitude
        if part.value >= Fraction(one_previous).limit_denominator(1000):
            limit = format_number(one_previous, 0)
            raise ValidationError(
                field_name,
                f"'{text}': {part.text} after {_PLURAL[previous_unit]} must be under {limit}; check for a typo (for example {example})",
            )


def _check_range(field_name: str, quantity: Quantity, accepted: Range, plausible: Range, unit: str, text: str, example: str) -> tuple[str, ...]:
    magnitude = quantity.to(unit).magnitude
    if magnitude <= 0:
        raise ValidationError(
            field_name,
            f"'{_normalize(text)}' is zero: must be greater than zero; accepted range {accepted.describe(unit, format_number)}, for example {example}",
        )
    if not accepted.contains(quantity):
        raise ValidationError(
            field_name,
            f"{format_number(magnitude, 1)} {unit} is outside the accepted range {accepted.describe(unit, format_number)}",
        )
    if not plausible.contains(quantity):
        return (
            f"{field_name} {format_number(magnitude, 1)} {unit} is unusual (expected {plausible.describe(unit, format_number)}); check the value and its unit",
        )
    return ()


HEIGHT_EXAMPLE = "170 cm, 1.7 m, 67 in or 5 ft 7 in"
WEIGHT_EXAMPLE = "70 kg, 154 lb or 11 st 2 lb"


def parse_height(text: str) -> Measurement:
    limits = input_limits()
    quantity, _ = _read("height", text, "[length]", HEIGHT_EXAMPLE, "centimeter")
    warnings = _check_range("height", quantity, limits.height_accepted, limits.height_plausible, "cm", text, HEIGHT_EXAMPLE)
    return Measurement("height", _normalize(text), quantity, warnings)  # stored as read: "１７０ cm" is "170 cm"


def parse_weight(text: str) -> Measurement:
    limits = input_limits()
    quantity, questioned = _read("weight", text, "[mass]", WEIGHT_EXAMPLE, "kilogram")
    warnings = list(_check_range("weight", quantity, limits.weight_accepted, limits.weight_plausible, "kg", text, WEIGHT_EXAMPLE))
    for unit_words in questioned:
        warnings.append(
            f"weight typed in {unit_words} ('{str(text).strip()}' = {format_number(quantity.to('kg').magnitude, 2)} kg): "
            "a patient is weighed in kg or lb; check the value and its unit"
        )
    return Measurement("weight", _normalize(text), quantity, tuple(warnings))
