"""Plain numbers people type (a count, a ratio, an age, a percent): read as written, or refused.

Python's float() reads "1_000" as 1000 and Unicode digits of any script, and callers that
dropped commas read "1,5" as 15. Here a number is digits with an optional decimal point
(and an exponent, "1e3"), thousands separated by commas in groups of three ("1,500"); a
decimal comma ("1,5") is refused with the decimal-point spelling, as is anything else.
"""

from __future__ import annotations

import math
import re
import sys
import unicodedata
from typing import Any

from .errors import ValidationError

# ASCII digits only, after NFKC (which makes full-width digits ASCII): "١٥" is refused, not read as 15.
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?", re.ASCII)
_DECIMAL_COMMA = re.compile(r"^([-+]?\d+),(\d{1,2}|\d{4,})$", re.ASCII)


def odd_digit(text: str, allowed: str = "") -> str | None:
    """The first character that is a digit only once NFKC has flattened it (a superscript ², a subscript,
    a circled ①), or None: '7² kg' was read as 72 kg, '10² mg' as 100 mg, a footnote's '70¹ kg' as 701 kg.
    `allowed`: the ones the caller reads itself (the vulgar fractions of a height or weight)."""
    return next((ch for ch in str(text) if unicodedata.category(ch) == "No" and ch not in allowed), None)


def read_number(field: str, value: Any, accepted: str) -> float:
    """`value` (a number, or text as typed) as a finite float; `accepted` completes "must be ...".

    Booleans are refused (True is not 1 kg). Text must be one plain number.
    """
    if isinstance(value, bool):
        raise ValidationError(field, f"must be a number: {accepted}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        odd = odd_digit(str(value))
        if odd is not None:
            raise ValidationError(field, f"'{value}' holds '{odd}', which is not a digit; must be {accepted}")
        text = unicodedata.normalize("NFKC", str(value)).strip().replace("\u2212", "-")
        if len(text) > 40:
            raise ValidationError(field, f"'{text[:12]}…' is not a number; must be {accepted}")
        comma = _DECIMAL_COMMA.match(text)
        if comma:
            raise ValidationError(field, f"cannot read '{value}': use a decimal point: {comma.group(1)}.{comma.group(2)}")
        if not text or not _NUMBER.fullmatch(text) or not any(ch.isdigit() for ch in text):
            shown = "nothing" if not text else f"'{value}'"
            raise ValidationError(field, f"{shown} is not a number; must be {accepted}")
        number = float(text.replace(",", ""))
        if number == 0 and any(ch in "123456789" for ch in text.lower().split("e")[0]):
            # "1e-400" underflows to 0.0: a non-zero number typed was kept as none at all (an ANC of 0)
            raise ValidationError(field, f"'{value}' is too small to be held as a number (it would be kept as 0); must be {accepted}")
    if not math.isfinite(number):
        raise ValidationError(field, f"'{value}' is not a finite number; must be {accepted}")
    if 0 < abs(number) < sys.float_info.min:
        # a subnormal ("1e-320") keeps only a few of its digits: not the number typed
        raise ValidationError(field, f"'{value}' is too small to be held exactly; must be {accepted}")
    return number
