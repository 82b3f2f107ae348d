"""Dates typed in the site's order (domain.site_dates): day and month of one or two digits, the year of four."""

from __future__ import annotations

from datetime import date

import pytest

from infusion_app.domain.errors import ValidationError
from infusion_app.domain.site_dates import ORDER_WORDS, date_order, example_date, read_site_date


@pytest.mark.parametrize(
    "pattern, order",
    [
        ("dd/MM/yyyy", "dmy"),
        ("dd.MM.yy", "dmy"),
        ("d MM yyyy", "dmy"),
        ("M/d/yy", "mdy"),
        ("yyyy/MM/dd", "ymd"),
        ("yyyy. MM. dd.", "ymd"),
        ("yyyy/M/d", "ymd"),
        ("d MMM yyyy", None),
        ("dddd d MMMM yyyy", None),
        ("MM/yyyy", None),
    ],
)
def test_the_order_is_read_from_the_sites_format(pattern, order):
    assert date_order(pattern) == order


@pytest.mark.parametrize(
    "typed, read",
    [
        ("1/6/2027", date(2027, 6, 1)),  # refused before: Qt's dd wanted two digits
        ("01/06/2027", date(2027, 6, 1)),
        ("1/06/2027", date(2027, 6, 1)),
        ("01/6/2027", date(2027, 6, 1)),
        ("30/6/2027", date(2027, 6, 30)),
        ("1.6.2027", date(2027, 6, 1)),
        (" 1 / 6 / 2027 ", date(2027, 6, 1)),
        ("29/2/2028", date(2028, 2, 29)),
    ],
)
def test_a_day_first_site_reads_one_or_two_digit_days_and_months(typed, read):
    assert read_site_date(typed, "dob", "dmy") == read


@pytest.mark.parametrize(
    "typed, read",
    [
        ("6/1/2027", date(2027, 6, 1)),
        ("1/6/2027", date(2027, 1, 6)),
        ("06/01/2027", date(2027, 6, 1)),
        ("12/31/2027", date(2027, 12, 31)),
    ],
)
def test_a_month_first_site_reads_month_first_never_guessed_day_first(typed, read):
    assert read_site_date(typed, "dob", "mdy") == read


@pytest.mark.parametrize(
    "typed, order, words",
    [
        ("1/6/27", "dmy", "two-digit year"),
        ("6/1/27", "mdy", "two-digit year"),
        ("31/2/2027", "dmy", "month 2 of 2027 has no day 31"),
        ("29/2/2027", "dmy", "month 2 of 2027 has no day 29"),
        ("2/30/2027", "mdy", "month 2 of 2027 has no day 30"),
        ("1/13/2027", "dmy", "there is no month 13"),
        ("13/1/2027", "mdy", "there is no month 13"),
        ("0/6/2027", "dmy", "has no day 0"),
        ("001/6/2027", "dmy", "day and month of 1 or 2 digits, the year of 4"),
        ("1/6/20277", "dmy", "the year of 4"),
        ("1/6/227", "dmy", "the year of 4"),
        ("1/6", "dmy", "is not a date"),
        ("1/6/2027x", "dmy", "is not a date"),
        ("1/6/1850", "dmy", "the year must be 1900"),
    ],
)
def test_an_impossible_date_or_a_two_digit_year_is_refused_naming_the_field(typed, order, words):
    with pytest.raises(ValidationError) as refused:
        read_site_date(typed, "dob", order)
    assert refused.value.field == "dob" and words in refused.value.message, refused.value.message
    if "1900" not in words:
        assert refused.value.message.endswith(f"type it as {ORDER_WORDS[order]} with the year in 4 digits, e.g. {example_date(order)}")


@pytest.mark.parametrize(
    "typed, order, example",
    [
        ("2027/06/30", "dmy", "day/month/year with the year in 4 digits, e.g. 30/06/2027"),
        ("2027/6/30", "mdy", "month/day/year with the year in 4 digits, e.g. 6/30/2027"),
        ("30/06/2027", "ymd", "year-month-day with the year in 4 digits, e.g. 2027-06-30"),
    ],
)
def test_a_date_typed_in_another_order_is_told_the_sites_order_not_called_a_two_digit_year(typed, order, example):
    """'2027/06/30' on a day-first site has its year in full: its '30' in the year's place was called a two-digit year (review)."""
    with pytest.raises(ValidationError) as refused:
        read_site_date(typed, "dob", order)
    assert refused.value.field == "dob" and refused.value.message == f"'{typed}' is not in this site's order; type it as {example}"


def test_a_year_first_sites_message_gives_its_example_once():
    """A ymd site's example was '2027-06-30 or 2027-06-30' (review)."""
    for typed in ("27-6-30", "2027-13-01", "x"):
        with pytest.raises(ValidationError) as refused:
            read_site_date(typed, "dob", "ymd")
        assert refused.value.message.count("2027-06-30") == 1 and "year-month-day" in refused.value.message


def test_the_example_is_written_in_the_sites_order():
    assert (example_date("dmy"), example_date("mdy"), example_date("ymd")) == ("30/06/2027", "6/30/2027", "2027-06-30")
