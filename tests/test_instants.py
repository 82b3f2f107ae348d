"""Instants as people type them: strict ISO 8601 with an offset, and the site clock's checks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from infusion_app.domain.deadlines import parse_instant
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.instants import read_instant

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
EIGHT_UTC = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-27T09:00+01:00", EIGHT_UTC),
        ("2026-11-27t09:00+01:00", EIGHT_UTC),  # lowercase t
        ("2026-11-27T08:00Z", EIGHT_UTC),
        ("2026-11-27T08:00z", EIGHT_UTC),  # lowercase z
        ("2026-11-27t08:00z", EIGHT_UTC),
        ("2026-11-27 09:00+01:00", EIGHT_UTC),  # RFC 3339's space
        ("2026-11-27T09:00:00+01:00", EIGHT_UTC),
        ("2026-11-27T09:00:00.000+01:00", EIGHT_UTC),
        ("2026-11-27T09:00:00,000+01:00", EIGHT_UTC),  # ISO 8601's decimal comma
        ("2026-11-27T09+01:00", EIGHT_UTC),  # reduced precision: hours only
        ("2026-11-27T09:00+01", EIGHT_UTC),
        ("2026-11-27T03:00−05:00", EIGHT_UTC),  # U+2212 MINUS SIGN, as ISO 8601 prints it
        ("20261127T0900+0100", EIGHT_UTC),  # basic form
        ("20261127T090000Z"[:-1] + "+01", EIGHT_UTC),
        ("20261127T080000Z", EIGHT_UTC),
        ("2026-331T08:00Z", EIGHT_UTC),  # ordinal date: day 331 of 2026
        ("2026-W48-5T08:00Z", EIGHT_UTC),  # week date: Friday of week 48
        ("2026W485T0800Z", EIGHT_UTC),
        ("2026-11-26T24:00Z", datetime(2026, 11, 27, 0, 0, tzinfo=UTC)),  # end of day
        ("2016-12-31T23:59:60Z", datetime(2017, 1, 1, 0, 0, tzinfo=UTC)),  # a leap second
        ("2026-11-27T08:00:00.1234567Z", EIGHT_UTC + timedelta(microseconds=123456)),
        ("  2026-11-27T08:00Z\n", EIGHT_UTC),
        ("2026-11-27T08:00-00:00", EIGHT_UTC),
    ],
)
def test_iso_8601_forms_are_read(text, expected):
    assert parse_instant(text, "--at") == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27x09:00+01:00",  # Python's fromisoformat takes any separator
        "2026-11-27_09:00+01:00",
        "2026-11-27T09:00+01:00:00",  # an offset with seconds
        "2026-11-27T0900+01:00",  # extended date, basic time
        "20261127T09:00+0100",  # basic date, extended time
        "2026-11-27T09:00+0100",  # extended time, basic offset
        "2026-11-27  09:00+01:00",
        "2026-11-27T9:00+01:00",
        "2026-11-27T09:0+01:00",
        "2026-11-27T09:00:00.+01:00",
        "2026-11-27T25:00Z",
        "2026-11-27T24:01Z",
        "2026-11-27T09:60Z",
        "2026-11-27T09:00:61Z",
        "2026-13-01T09:00Z",
        "2026-02-29T09:00Z",
        "2026-000T09:00Z",
        "2026-366T09:00Z",
        "2026-W54-1T09:00Z",
        "2026-11-27T09:00+24:00",
        "2026-11-27T09:00+01:60",
        "2026-11-27T09:00 +01:00",
        "26-11-27T09:00Z",
        "+2026-11-27T09:00Z",
        "2026-11-27T09:00UTC",
        "2026-11-27T09:00 CET",
        "27/11/2026 09:00+01:00",
        "tomorrow",
        "2026-11-27",
        "2026-11-27T09:00",
        "",
        "2026-11-27T09:00+01:00" + "0" * 100,
    ],
)
def test_other_forms_are_refused_naming_the_field(text):
    with pytest.raises(ValidationError) as raised:
        parse_instant(text, "--reconstituted")
    assert raised.value.field == "--reconstituted"
    assert "2026-11-27T09:00+01:00" in raised.value.message  # an accepted example


def test_a_date_without_a_time_says_so():
    with pytest.raises(ValidationError) as raised:
        parse_instant("2026-11-27", "--at")
    assert "no time" in raised.value.message


@pytest.mark.parametrize(
    "text, zone",
    [
        ("2026-11-27T09:00+01:00", BERLIN),
        ("2026-07-15T09:00+02:00", BERLIN),
        ("2026-07-15T09:00-04:00", NEW_YORK),
        ("2026-01-15T09:00-05:00", NEW_YORK),
        ("2026-11-01T01:30-04:00", NEW_YORK),  # the repeated hour, first time
        ("2026-11-01T01:30-05:00", NEW_YORK),  # the repeated hour, second time
        ("2026-03-08T03:30-04:00", NEW_YORK),  # just after the gap
        ("2026-03-08T01:59-05:00", NEW_YORK),  # just before it
        ("2026-07-15T13:00Z", NEW_YORK),  # UTC on purpose
    ],
)
def test_times_the_site_clock_showed_are_not_warned_about(text, zone):
    assert read_instant(text, "--at", zone).warnings == ()


def test_a_time_in_the_spring_forward_gap_is_warned_about():
    read = read_instant("2026-03-08T02:30-05:00", "--reconstituted", NEW_YORK)
    assert read.instant == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # read as typed
    (warning,) = read.warnings
    assert "--reconstituted" in warning and "2026-03-08 02:30 did not exist" in warning
    assert "03:30 EDT" in warning  # the local time it was read as
    also = read_instant("2026-03-08T02:30-04:00", "--at", NEW_YORK).warnings
    assert len(also) == 1 and "did not exist" in also[0] and "01:30 EST" in also[0]
    berlin = read_instant("2026-03-29T02:30+01:00", "--at", BERLIN).warnings
    assert len(berlin) == 1 and "did not exist" in berlin[0]


def test_an_offset_the_zone_never_uses_that_day_is_warned_about_naming_the_local_time():
    read = read_instant("2026-07-15T09:00-05:00", "--diluted", NEW_YORK)
    assert read.instant == datetime(2026, 7, 15, 14, 0, tzinfo=UTC)
    (warning,) = read.warnings
    assert "never at UTC-05:00 on 2026-07-15" in warning
    assert "10:00 EDT" in warning and "2026-07-15T09:00-04:00" in warning
    winter = read_instant("2026-11-27T09:00+02:00", "--at", BERLIN).warnings
    assert len(winter) == 1 and "2026-11-27T09:00+01:00" in winter[0]


def test_an_offset_used_that_day_but_not_at_that_time_is_warned_about():
    # Clocks went back at 02:00 on 2026-11-01: at noon New York is at -05:00, not -04:00.
    (warning,) = read_instant("2026-11-01T12:00-04:00", "--at", NEW_YORK).warnings
    assert "11:00 EST" in warning and "2026-11-01T12:00-05:00" in warning


@pytest.mark.parametrize("typed", ["２026-12-02T19:20+00:00", "٢٠٢٦-12-02T19:20+00:00", "2026-12-02T１9:20+00:00"])
def test_an_instant_with_digits_other_than_ascii_is_refused(typed):
    from infusion_app.domain.errors import ValidationError
    from infusion_app.domain.instants import parse_iso_instant

    with pytest.raises(ValidationError):
        parse_iso_instant(typed, "--at")


# -- a time typed at a screen on the site's clock (the bench's labs-taken field) -----------------


def test_a_wall_time_is_read_on_the_sites_clock_and_an_offset_is_kept():
    from zoneinfo import ZoneInfo

    from infusion_app.domain.instants import read_wall_time

    new_york = ZoneInfo("America/New_York")
    assert read_wall_time("2026-03-10 07:30", "labs-taken", new_york) == datetime(2026, 3, 10, 11, 30, tzinfo=timezone.utc)
    assert read_wall_time(" 2026-11-01 01:30-04:00 ", "labs-taken", new_york) == datetime(2026, 11, 1, 5, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "typed, why",
    [
        ("2026-03-08 02:30", "did not happen on this site's clock"),  # spring forward
        ("2026-11-01 01:30", "happened twice on this site's clock"),  # fall back: which one is not guessed
        ("", "give the date and time, e.g. 2026-11-27 09:00"),
        ("   ", "give the date and time"),
        ("yesterday", "is not a date and time"),
        ("2026-13-01 07:00", "is not a date and time"),
        ("2026-03-10", "is not a date and time"),
    ],
)
def test_a_wall_time_that_names_no_single_instant_is_refused_naming_the_field(typed, why):
    from zoneinfo import ZoneInfo

    from infusion_app.domain.instants import read_wall_time

    with pytest.raises(ValidationError, match="labs-taken") as refused:
        read_wall_time(typed, "labs-taken", ZoneInfo("America/New_York"))
    assert why in str(refused.value)


@pytest.mark.parametrize("typed", ["9999-12-31 23:59", "0001-01-01 00:00", "9999-12-31T23:59+00:00"])
def test_a_wall_time_past_the_calendar_is_refused_naming_the_field_not_overflowed(typed):
    """The bench's 'Labs taken at' and a vial's typed expiry time: 9999-12-31 23:59 raised OverflowError
    looking up the site's offsets of a day with no next day (a traceback, nothing said)."""
    from infusion_app.domain.instants import read_vial_expiry, read_wall_time

    for read in (read_wall_time, read_vial_expiry):
        with pytest.raises(ValidationError) as refused:
            read(typed, "labs-taken")
        assert refused.value.field == "labs-taken" and "out of range" in refused.value.message and "e.g." in refused.value.message


BERLIN = ZoneInfo("Europe/Berlin")  # the clocks go back at 03:00 CEST on 2026-10-25, forward at 02:00 CET on 2026-03-29


def test_a_screens_wall_time_the_clocks_showed_twice_is_asked_which_and_read_as_chosen():
    """A screen's date-and-time field holds a wall time only (gui.widgets.LeavingDateTimeEdit): the
    hour the clocks go back names two instants, and the first was taken silently before."""
    from infusion_app.domain.instants import read_field_wall_time, repeated_wall_time

    wall = datetime(2026, 10, 25, 2, 40)
    with pytest.raises(ValidationError) as refused:
        read_field_wall_time(wall, "at", zone=BERLIN)
    assert refused.value.field == "at"
    assert "2026-10-25 02:40 happened twice on this site's clock" in refused.value.message
    assert refused.value.message.endswith("choose which beside the time")
    assert read_field_wall_time(wall, "at", second=False, zone=BERLIN) == datetime(2026, 10, 25, 0, 40, tzinfo=timezone.utc)
    assert read_field_wall_time(wall, "at", second=True, zone=BERLIN) == datetime(2026, 10, 25, 1, 40, tzinfo=timezone.utc)
    assert repeated_wall_time(wall, BERLIN).names(BERLIN) == ("the first 02:40 (UTC+02:00)", "the second 02:40 (UTC+01:00)")
    # An hour shown once is read without asking, whatever `second` says.
    assert repeated_wall_time(datetime(2026, 10, 25, 3, 40), BERLIN) is None
    assert read_field_wall_time(datetime(2026, 10, 25, 3, 40), "at", second=True, zone=BERLIN) == datetime(2026, 10, 25, 2, 40, tzinfo=timezone.utc)
    with pytest.raises(ValidationError) as refused:
        read_field_wall_time(datetime(2026, 3, 29, 2, 30), "given_at", zone=BERLIN)
    assert refused.value.field == "given_at" and "did not happen on this site's clock" in refused.value.message and "e.g. 03:30" in refused.value.message


@pytest.mark.parametrize(
    "zone, wall, meant",
    [
        ("Europe/Berlin", datetime(2026, 3, 29, 2, 30), "03:30"),  # an hour forward
        ("Australia/Lord_Howe", datetime(2026, 10, 4, 2, 15), "02:45"),  # half an hour forward
        ("Antarctica/Troll", datetime(2026, 3, 29, 1, 30), "03:30"),  # two hours forward
    ],
)
def test_a_screens_time_the_clocks_skipped_is_refused_with_the_time_it_was(zone, wall, meant):
    """Review: the example was the wall time plus one hour, wrong where the clocks move by another amount."""
    from infusion_app.domain.instants import read_field_wall_time

    with pytest.raises(ValidationError) as refused:
        read_field_wall_time(wall, "at", zone=ZoneInfo(zone))
    assert refused.value.message.endswith(f"set the time it was, e.g. {meant}")
