"""Dates typed in the site's order: day, month and year as the workstation's short date format orders them.

The screens read a date typed as ISO (2027-06-30) first; otherwise it is read in the site's own order
and no other: a US site's '01/12/2026' is the 12th of January, never guessed to be the 1st of December.
The day and the month may have one or two digits whatever the format pads them to ('1/6/2027' on a
dd/MM/yyyy site is the 1st of June: Qt's dd wanted two digits and refused it), the year has four: a
two-digit year is refused (Qt reads '27' as 1927, so a child born in 2015 typed '6/1/15' was 111).

The order comes from a date format pattern in Qt's letters (d, M, y), e.g. 'dd/MM/yyyy', 'M/d/yy',
'yyyy/MM/dd', 'dd.MM.yy'; a pattern that names the month in words ('d MMM yyyy') has no numeric
order, and `date_order` says so (None).
"""

from __future__ import annotations

import re
from datetime import date

from .errors import ValidationError, check_calendar_year

# One or more digits, separated by '/', '.', '-' or spaces (a Hungarian date ends with a '.').
_TYPED = re.compile(r"(\d+)\s*[-/. ]\s*(\d+)\s*[-/. ]\s*(\d+)\.?", re.ASCII)


def date_order(pattern: str) -> str | None:
    """The order of day, month and year in a format pattern: 'dd/MM/yyyy' -> 'dmy', 'M/d/yy' -> 'mdy',
    'yyyy/MM/dd' -> 'ymd'; None when it lacks one of them or names the month or the day in words."""
    letters = re.sub(r"'[^']*'", "", pattern)  # quoted text is literal
    runs = re.findall(r"d+|M+|y+", letters)
    order = "".join(run[0] for run in runs)
    if sorted(order) != sorted("dMy") or any(len(run) > 2 for run in runs if run[0] != "y"):
        return None
    return order.replace("M", "m")


def example_date(order: str) -> str:
    """2027-06-30 written in the site's order, with its year in full: '30/06/2027', '6/30/2027'."""
    parts = {"d": "30", "m": "06", "y": "2027"}
    if order == "mdy":
        parts["m"] = "6"
    separator = "-" if order == "ymd" else "/"
    return separator.join(parts[letter] for letter in order)


# The site's order in words, as a message names it beside its example.
ORDER_WORDS = {"dmy": "day/month/year", "mdy": "month/day/year", "ymd": "year-month-day"}


def read_site_date(text: str, field: str, order: str, example: str | None = None) -> date:
    """`text` read in the site's `order` ('dmy', 'mdy' or 'ymd'), day and month of one or two digits, the
    year of four. ValidationError naming `field` for anything else, a two-digit year or an impossible
    date ('31/02/2027'), each message with the site's order in words and one accepted spelling,
    `example` (default example_date: a ymd site's '2027-06-30' was shown as '2027-06-30 or 2027-06-30')."""
    if order not in ("dmy", "mdy", "ymd"):
        raise ValueError(f"date order {order!r} is not one of dmy, mdy, ymd")
    how = f"type it as {ORDER_WORDS[order]} with the year in 4 digits, e.g. {example or example_date(order)}"
    value = " ".join(str(text).split())
    found = _TYPED.fullmatch(value)
    if found is None:
        raise ValidationError(field, f"'{value}' is not a date; {how}")
    typed = dict(zip(order, found.groups(), strict=True))
    if len(typed["y"]) != 4 and any(len(typed[part]) > 2 for part in "dm"):
        # '2027/06/30' on a day-first site: the year typed in full, where the site's order has the day; its
        # '30' in the year's place was called a two-digit year
        raise ValidationError(field, f"'{value}' is not in this site's order; {how}")
    if len(typed["y"]) == 2:
        raise ValidationError(field, f"'{value}' has a two-digit year; {how}")
    if len(typed["y"]) != 4 or len(typed["d"]) > 2 or len(typed["m"]) > 2:
        raise ValidationError(field, f"'{value}' is not a date (day and month of 1 or 2 digits, the year of 4); {how}")
    year, month, day_number = int(typed["y"]), int(typed["m"]), int(typed["d"])
    if not 1 <= month <= 12:
        raise ValidationError(field, f"'{value}' is not a date: there is no month {month}; {how}")
    try:
        day = date(year, month, day_number)
    except ValueError:
        raise ValidationError(field, f"'{value}' is not a date: month {month} of {year} has no day {day_number}; {how}") from None
    checked: date = check_calendar_year(field, day)
    return checked
