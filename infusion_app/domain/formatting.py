"""The one number formatter for doses, volumes and concentrations on screen, paper and CLI.

ISMP rules (practice-standards.md): a leading zero always (0.5 mg), never a trailing zero
(5 mg, not 5.0 mg), a space between number and unit, "mL" not "cc", "mcg" not "µg",
"units" not "U"/"IU", thousands separated by commas, no period after a unit. Times are shown
in 24-hour form with the date.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from .quantities import Quantity

# How many decimals each kind of value is shown with, at most (trailing zeros are then dropped).
DECIMALS = {
    "mg": 2,
    "mcg": 1,
    "mL": 2,
    "mg/mL": 4,
    "mg/m²": 3,
    "m²": 2,
    "mL/h": 1,
    "mL/hour": 1,
    "units": 0,
    "%": 1,
    "cm": 1,
    "kg": 2,
    "in": 1,
    "lb": 1,
    "h": 2,
    "min": 0,
    "hour": 2,
    "minute": 0,
    "/mm³": 0,
}

# pint's spelling of a unit -> the ISMP spelling shown to people.
_PINT_TO_ISMP = {
    "milligram": "mg",
    "microgram": "mcg",
    "gram": "g",
    "kilogram": "kg",
    "milliliter": "mL",
    "liter": "L",
    "milligram / milliliter": "mg/mL",
    "milligram / meter ** 2": "mg/m²",
    "meter ** 2": "m²",
    "milliliter / hour": "mL/hour",
    "milligram / kilogram": "mg/kg",
    "microgram / kilogram": "mcg/kg",
    "centimeter": "cm",
    "inch": "in",
    "pound": "lb",
    "hour": "hour",
    "minute": "minute",
    "day": "day",
    "week": "week",
    "year": "year",
    "percent": "%",
}
# Short ISMP-acceptable spellings a caller may ask for (the bag label's "50 mL/h", "1 h").
_ISMP_TO_PINT = {**{v: k for k, v in _PINT_TO_ISMP.items()}, "mL/h": "milliliter / hour", "h": "hour", "min": "minute"}

# Units spoken as words, with their plural: "1 day", "7 days".
_COUNTED_UNITS = {"day": "days", "week": "weeks", "month": "months", "year": "years", "hour": "hours", "minute": "minutes"}
_COUNTED_SINGULAR = {plural: one for one, plural in _COUNTED_UNITS.items()}


def format_number(value: float | Decimal | int, decimals: int = 2) -> str:
    """Round half up to `decimals`, drop trailing zeros, keep the leading zero, add thousands commas."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot format a non-finite number: {value}")
    exponent = Decimal(1).scaleb(-decimals)
    exact = Decimal(str(value))
    # quantize fails past the context's 28 digits; a huge value in an error message must still print
    with localcontext() as context:
        context.prec = max(context.prec, exact.adjusted() + decimals + 2)
        rounded = exact.quantize(exponent, rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = Decimal(0)  # never "-0"
    text = f"{rounded:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def ismp_unit(unit: str) -> str:
    """The ISMP spelling for a unit given in ISMP or pint spelling."""
    return _PINT_TO_ISMP.get(unit, unit)


def _decimals_to_show(value: float | Decimal | int, decimals: int) -> int:
    """`decimals`, or more for a value that is not zero but would round to it (never '0 mg' for 0.004 mg)."""
    if value == 0 or (isinstance(value, float) and not math.isfinite(value)):
        return decimals
    exact = abs(Decimal(str(value)))
    if exact >= Decimal(1).scaleb(-decimals) / 2:
        return decimals
    # one significant digit more than the first non-zero decimal, at most 12 decimals
    return min(max(decimals, -exact.adjusted() + 1), 12)


def format_amount(value: float | Decimal | int, unit: str, decimals: int | None = None) -> str:
    """'0.5 mg', '1,000 mL', '0.0292 mg/mL'. `unit` in ISMP spelling ("mg", "mL", "mg/mL", ...).

    A value that is not zero is never shown as 0: it gets the decimals it needs (0.004 mg).
    """
    unit = ismp_unit(unit)
    if decimals is None:
        decimals = DECIMALS.get(unit, 2)
    text = format_number(value, _decimals_to_show(value, decimals))
    if unit == "units":
        return f"{text} unit" if text == "1" else f"{text} units"
    if unit in _COUNTED_UNITS:
        return f"{text} {unit}" if text == "1" else f"{text} {_COUNTED_UNITS[unit]}"
    if unit == "%":
        return f"{text}%"
    if unit.startswith("/"):
        return f"{text}{unit}"  # a count per volume: 1,000/mm³
    return f"{text} {unit}" if unit else text


# pint's unit names -> ISMP spellings, for units built of several (mg/kg, mcg/kg/min, mL/hour).
_NAME_TO_ISMP = {
    "milligram": "mg",
    "microgram": "mcg",
    "gram": "g",
    "kilogram": "kg",
    "nanogram": "nanogram",
    "milliliter": "mL",
    "liter": "L",
    "deciliter": "dL",
    "microliter": "mcL",
    "nanoliter": "nL",
    "cubic_centimeter": "mL",  # never cc
    "meter": "m",
    "centimeter": "cm",
    "millimeter": "mm",
    "inch": "in",
    "foot": "ft",
    "pound": "lb",
    "ounce": "oz",
    "hour": "hour",
    "minute": "min",
    "second": "second",
    "millisecond": "ms",
    "day": "day",
    "week": "week",
    "year": "year",
    "millimole": "mmol",
    "mole": "mol",
    "micromole": "micromol",
    "milliequivalent": "mEq",
    "percent": "%",
    "degree_Celsius": "°C",
    "degree_Fahrenheit": "°F",
}
_SUPERSCRIPT = {2: "²", 3: "³"}
# Volumes a count is given per: shown per mm³ (10⁹/L = 1/nL = 1,000/mm³), as US labs report counts.
_COUNT_VOLUME = "millimeter ** 3"


def _spelled(units: Any) -> str:
    """The ISMP spelling of a pint unit: each part mapped, exponents as ², ³, divided with '/'."""
    items = dict(units._units)

    def part(name: str, power: int) -> str:
        text = _NAME_TO_ISMP.get(name, name.replace("_", " "))
        if power > 1 and text in ("hour", "day", "week", "year", "second"):
            text += "s"
        return text + (_SUPERSCRIPT.get(power, f"^{power}") if power > 1 else "")

    upper = [part(n, p) for n, p in items.items() if p > 0]
    lower = [part(n, -p) for n, p in items.items() if p < 0]
    text = "·".join(upper)
    if lower:
        text += "/" + "/".join(lower)
    return text


def format_quantity(quantity: Quantity, unit: str | None = None, decimals: int | None = None) -> str:
    """Format a pint quantity, converted to `unit` (pint or ISMP spelling) first when given.

    Every unit is spelled the ISMP way ("500 mL", not "500 cubic_centimeter"; "mcg", never
    "µg"; a count per volume as "1,000/mm³"); an ISMP spelling asked for is kept as asked.
    """
    if unit is not None:
        quantity = quantity.to(_ISMP_TO_PINT.get(unit, unit))
        if unit in _ISMP_TO_PINT:
            return format_amount(float(quantity.magnitude), unit, decimals)
    if quantity.dimensionless and str(quantity.units) in ("dimensionless", ""):
        return format_amount(float(quantity.magnitude), "", decimals)
    name = str(quantity.units)
    if name in _PINT_TO_ISMP:
        return format_amount(float(quantity.magnitude), _PINT_TO_ISMP[name], decimals)
    items = dict(quantity.units._units)
    if items and all(power < 0 for power in items.values()) and quantity.dimensionality == {"[length]": -3}:
        count = quantity.to(f"1 / {_COUNT_VOLUME}")
        return format_amount(float(count.magnitude), "/mm³", 0 if decimals is None else decimals)
    if "cubic_centimeter" in items:
        quantity = quantity.to(str(quantity.units).replace("cubic_centimeter", "milliliter"))
    return format_amount(float(quantity.magnitude), _spelled(quantity.units), decimals)


def format_value(value: Quantity | bool | list[Any] | str) -> str:
    """Any monograph or settings value as a person reads it (quantities through the formatter)."""
    if isinstance(value, Quantity):
        return format_quantity(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def format_count(value: float | Decimal | int, unit: str) -> str:
    """A number of a counted unit, given singular or plural ('years' in a data file): '1 year', '18 years'."""
    return format_amount(value, _COUNTED_SINGULAR.get(unit, unit))


def format_age(years: int, months: int | None = None) -> str:
    """An age in words, wherever one is worded: '1 year old', '40 years old'; under a year, with
    `months`, '1 month old', '6 months old' (the reviewer found '1 years old')."""
    if years < 1 and months is not None:
        return f"{format_amount(months, 'month')} old"
    return f"{format_amount(years, 'year')} old"


def format_dose(mg: float | Decimal) -> str:
    return format_amount(mg, "mg")


def format_volume(ml: float) -> str:
    return format_amount(ml, "mL")


def format_concentration(mg_per_ml: float | Decimal) -> str:
    return format_amount(mg_per_ml, "mg/mL")


def format_bsa(m2: float, formula_name: str | None = None) -> str:
    text = format_amount(m2, "m²")
    return f"{text} ({formula_name})" if formula_name else text


def format_instant(instant: datetime, tz: tzinfo | None = None, seconds: bool = False) -> str:
    """A UTC instant in local time, 24-hour, with the date and the zone: '2026-11-27 14:05 CET'."""
    if instant.tzinfo is None:
        raise ValueError("format_instant needs an aware datetime (instants are stored in UTC)")
    local = instant.astimezone(tz) if tz is not None else instant.astimezone()
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    zone = local.tzname() or local.strftime("%z")
    return f"{local.strftime(pattern)} {zone}"


def format_vial_expiry(expiry: date, expires_at: datetime | None, tz: tzinfo | None = None) -> str:
    """A vial's expiry on screen, paper and CLI: the date and local time when the code (AI 7003) or
    the carton gave a time ('2026-12-03 10:00 CET'), else the date printed, its last day of use."""
    return format_instant(expires_at, tz) if expires_at is not None else expiry.isoformat()


def format_countdown(seconds: float) -> str:
    """Remaining time for a screen countdown: 'H:MM:SS', negative as '-H:MM:SS' (overdue)."""
    sign = "-" if seconds < 0 else ""
    whole = int(abs(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


def utc_iso(instant: datetime) -> str:
    """ISO 8601 with its UTC offset, for JSON output."""
    if instant.tzinfo is None:
        raise ValueError("utc_iso needs an aware datetime")
    return instant.astimezone(timezone.utc).isoformat()
