"""Errors the clinical core raises.

ValidationError is bad input (exit 2 in the CLI, a red field in the GUI). A hard stop is not an
exception: a calculation that is valid but must not be prepared returns its hard stops as data,
so that the whole result can still be shown and printed.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any


def holds_undecodable_bytes(text: str) -> bool:
    """True when `text` carries lone surrogates: bytes that were not UTF-8, as Python hands them
    over from argv or a file name (surrogateescape). No database or printer can store them."""
    return any("\ud800" <= ch <= "\udfff" for ch in text)


class ValidationError(ValueError):
    """Input that cannot be used. `field` names the input; the message says what is accepted."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class DataFileError(RuntimeError):
    """A resource data file (monograph, policy, settings) is missing a value or malformed."""


def whole_number(field: str, value: Any, allowed: Container[int], description: str) -> int:
    """A whole number typed or passed in ("3", 3, 3.0), that must be in `allowed`.

    `description` completes "must be ...", e.g. "1 to 6" or "a CTCAE grade 0 to 5". Booleans,
    fractions and text like "3 cycles" are refused rather than truncated.
    """
    try:
        number = int(value)
        if (
            isinstance(value, bool)
            or (isinstance(value, float) and value != number)
            or (
                isinstance(value, str) and (value.strip().lstrip("0") or "0") != str(number)  # "08" is 8; "1_0" is refused
            )
        ):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(field, f"'{value}' is not a whole number; must be {description}") from None
    if number not in allowed:
        raise ValidationError(field, f"{number} is not accepted; must be {description}")
    return number


# Clinical dates and instants fall in this span; outside it a date is a typo, and date arithmetic
# near year 1 or 9999 (a window, a deadline) would overflow instead of answering.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2199


def check_calendar_year(field: str, value: Any) -> Any:
    """A date or datetime whose year is between EARLIEST_YEAR and LATEST_YEAR, else ValidationError."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValidationError(field, f"{value.isoformat()} is out of range; the year must be {EARLIEST_YEAR} to {LATEST_YEAR}, e.g. 2026-11-27")
    return value
