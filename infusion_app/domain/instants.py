"""Instants typed by people: ISO 8601 date and time with a UTC offset, read strictly.

Python's datetime.fromisoformat takes any character between date and time
("2026-11-27x09:00+01:00") and mixes basic and extended forms; a typo must not pass as a time.
Accepted (ISO 8601-1, and RFC 3339's space between date and time):

- the date as YYYY-MM-DD, YYYY-DDD (ordinal) or YYYY-Www-D (week), or the same in basic form
  without hyphens;
- 'T' (or 't', or one space), then hh, hh:mm or hh:mm:ss with an optional fraction of the
  second after '.' or ',' (basic form: hh, hhmm, hhmmss); 24:00 is the end of that day, a
  leap second :60 the second after :59;
- the offset: Z (or z), or +hh:mm / -hh:mm / +hh (basic form: +hhmm); U+2212 MINUS SIGN as
  well as '-'. One form throughout: '2026-11-27T0900+01:00' mixes extended and basic.

A time without an offset is refused rather than guessed: the same wall-clock time exists twice
on a daylight-saving night, and a workstation's zone may not be the ward's.

The site's clock (the workstation's zone) is then asked whether the time typed is one it
showed: a wall time in a spring-forward gap, or an offset the zone never uses on that date
(-05:00 typed in July for New York), is read as typed but warned about, naming the local time.
"""

from __future__ import annotations

import re
import time as _time
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from .errors import EARLIEST_YEAR, LATEST_YEAR, ValidationError, check_calendar_year

OFFSET_EXAMPLE = "2026-11-27T09:00+01:00"

_DATE_EXTENDED = r"(?P<year>\d{4})-(?:(?P<month>\d{2})-(?P<day>\d{2})|W(?P<week>\d{2})-(?P<weekday>\d)|(?P<ordinal>\d{3}))"
_DATE_BASIC = r"(?P<year>\d{4})(?:(?P<month>\d{2})(?P<day>\d{2})|W(?P<week>\d{2})(?P<weekday>\d)|(?P<ordinal>\d{3}))"
_FRACTION = r"(?:[.,](?P<fraction>\d+))?"
_TIME_EXTENDED = rf"(?P<hour>\d{{2}})(?::(?P<minute>\d{{2}})(?::(?P<second>\d{{2}}){_FRACTION})?)?"
_TIME_BASIC = rf"(?P<hour>\d{{2}})(?:(?P<minute>\d{{2}})(?:(?P<second>\d{{2}}){_FRACTION})?)?"
_SEPARATOR = r"(?P<sep>[Tt ])"
_OFFSET_EXTENDED = r"(?P<offset>[Zz]|(?P<sign>[-+\u2212])(?P<off_hour>\d{2})(?::(?P<off_minute>\d{2}))?)"
_OFFSET_BASIC = r"(?P<offset>[Zz]|(?P<sign>[-+\u2212])(?P<off_hour>\d{2})(?P<off_minute>\d{2})?)"
_FORMS = (
    # ASCII digits only: "２026-12-02" or Arabic-Indic digits are refused, not read.
    re.compile(_DATE_EXTENDED + _SEPARATOR + _TIME_EXTENDED + rf"{_OFFSET_EXTENDED}?", re.ASCII),
    re.compile(_DATE_BASIC + _SEPARATOR + _TIME_BASIC + rf"{_OFFSET_BASIC}?", re.ASCII),
)


@dataclass(frozen=True)
class ReadInstant:
    """An instant read from text: the UTC instant, the wall time and offset as typed, warnings."""

    instant: datetime
    typed: datetime  # aware, in the typed offset
    warnings: tuple[str, ...] = ()


def _refuse(field: str, raw: str, why: str = "") -> ValidationError:
    reason = f" ({why})" if why else ""
    return ValidationError(field, f"'{raw}' is not an ISO 8601 date and time{reason}; give e.g. {OFFSET_EXAMPLE}")


def _date_of(match: re.Match[str], field: str, raw: str) -> date:
    year = int(match.group("year"))
    try:
        if match.group("month") is not None:
            return date(year, int(match.group("month")), int(match.group("day")))
        if match.group("week") is not None:
            return date.fromisocalendar(year, int(match.group("week")), int(match.group("weekday")))
        ordinal = int(match.group("ordinal"))
        if ordinal < 1:
            raise ValueError("day of year 000")
        day = date(year, 1, 1) + timedelta(days=ordinal - 1)
        if day.year != year:
            raise ValueError("day of year past the year's end")
        return day
    except ValueError as exc:
        raise _refuse(field, raw, str(exc)) from None


def parse_iso_instant(text: str, field: str) -> datetime:
    """The strict ISO 8601 reading of `text`: an aware datetime in the offset typed (not UTC)."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(field, f"give a date and time with its UTC offset, e.g. {OFFSET_EXAMPLE}")
    raw = text.strip()
    if len(raw) > 60:
        raise ValidationError(field, f"is {len(raw):,} characters long; give e.g. {OFFSET_EXAMPLE}")
    match = next((m for m in (form.fullmatch(raw) for form in _FORMS) if m), None)
    if match is None:
        if re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", raw):
            raise ValidationError(field, f"'{raw}' has no time; give the date, time and UTC offset, e.g. {OFFSET_EXAMPLE}")
        raise _refuse(field, raw)
    if match.group("offset") is None:
        raise ValidationError(field, f"give the UTC offset, e.g. {OFFSET_EXAMPLE} ('{raw}' has none)")
    day = _date_of(match, field, raw)
    hour = int(match.group("hour"))
    minute = int(match.group("minute") or 0)
    second = int(match.group("second") or 0)
    fraction = match.group("fraction") or ""
    microsecond = int((fraction + "000000")[:6])
    extra = timedelta()
    if hour == 24:
        if minute or second or fraction.strip("0"):
            raise _refuse(field, raw, "24 is allowed only as 24:00, the end of the day")
        hour, extra = 0, timedelta(days=1)
    if second == 60:  # a leap second: read as the second after :59
        second, extra = 59, extra + timedelta(seconds=1)
    if hour > 23 or minute > 59 or second > 59:
        raise _refuse(field, raw, "hours 00-23, minutes and seconds 00-59")
    if match.group("offset") in ("Z", "z"):
        zone = timezone.utc
    else:
        off_hour, off_minute = int(match.group("off_hour")), int(match.group("off_minute") or 0)
        if off_hour > 23 or off_minute > 59:
            raise _refuse(field, raw, "the offset must be -23:59 to +23:59")
        offset = timedelta(hours=off_hour, minutes=off_minute)
        zone = timezone(-offset if match.group("sign") in "-\u2212" else offset)
    try:
        return datetime.combine(day, time(hour, minute, second, microsecond), zone) + extra
    except OverflowError:
        raise _refuse(field, raw, "out of range") from None


def _offset_text(offset: timedelta | None) -> str:
    if offset is None:
        return "?"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _on_site_clock(instant: datetime, zone: tzinfo | None) -> datetime:
    return instant.astimezone(zone) if zone is not None else instant.astimezone()


def _wall_time_exists(wall: datetime, zone: tzinfo | None) -> bool:
    """Whether the site's clock showed this wall time (naive) at some instant."""
    as_utc = wall.replace(tzinfo=timezone.utc)
    offsets = {_on_site_clock(as_utc + timedelta(hours=h), zone).utcoffset() for h in range(-30, 31, 6)}
    for offset in offsets:
        if offset is not None and _on_site_clock(as_utc - offset, zone).replace(tzinfo=None) == wall:
            return True
    return False


def _offsets_on(day: date, zone: tzinfo | None) -> frozenset[timedelta]:
    # Kept per day and zone: 216 conversions a call, asked for every vial expiry at every step a
    # preparation's deadlines are reckoned for (43% of a step check's time). The workstation's own
    # zone (None) is keyed by what time.tzset() last read, so a changed TZ is asked again.
    key = zone if zone is not None else ("local", _time.tzname, _time.timezone, _time.altzone, _time.daylight)
    return _offsets_of_day(day, zone, key)


@lru_cache(maxsize=4096)
def _offsets_of_day(day: date, zone: tzinfo | None, _key: object) -> frozenset[timedelta]:
    start = datetime.combine(day, time(0), timezone.utc) - timedelta(hours=26)
    found: set[timedelta] = set()
    for quarter in range(0, 4 * 54):
        local = _on_site_clock(start + timedelta(minutes=15 * quarter), zone)
        offset = local.utcoffset()
        if local.date() == day and offset is not None:
            found.add(offset)
    return frozenset(found)


def _local_text(local: datetime) -> str:
    zone = local.tzname() or _offset_text(local.utcoffset())
    return f"{local:%Y-%m-%d %H:%M} {zone}"


def site_clock_warnings(typed: datetime, field: str, zone: tzinfo | None = None, in_utc: bool = False) -> tuple[str, ...]:
    """Warnings when `typed` (aware, in its typed offset) is not a time the site's clock showed.

    `zone` is the site's zone (default: the workstation's). An instant typed in UTC with 'Z'
    (`in_utc`) says which instant it is on purpose and is not warned about.
    """
    offset = typed.utcoffset()
    if in_utc or offset is None:
        return ()
    try:
        return _site_clock_warnings(typed, field, zone, offset)
    except (OverflowError, ValueError, OSError):  # at the ends of the calendar the zone cannot be asked
        return ()


def _site_clock_warnings(typed: datetime, field: str, zone: tzinfo | None, offset: timedelta) -> tuple[str, ...]:
    local = _on_site_clock(typed, zone)
    if local.utcoffset() == offset:
        return ()
    wall = typed.replace(tzinfo=None)
    shown = f"{wall:%Y-%m-%d %H:%M}{_offset_text(offset)}"
    if not _wall_time_exists(wall, zone):
        return (
            f"{field}: {wall:%Y-%m-%d %H:%M} did not exist on the site's clock (the clocks were put forward "
            f"that night); {shown} was read as {_local_text(local)}: check the time",
        )
    used = _offsets_on(wall.date(), zone)
    wall_offsets = sorted(o for o in used if _on_site_clock(wall.replace(tzinfo=timezone(o)), zone).utcoffset() == o)
    meant = ", or ".join(f"{wall:%Y-%m-%dT%H:%M}{_offset_text(o)}" for o in wall_offsets) or "its local offset"
    if offset not in used:
        return (
            f"{field}: the site's clock is never at UTC{_offset_text(offset)} on {wall:%Y-%m-%d} "
            f"(it is at UTC{' and UTC'.join(_offset_text(o) for o in sorted(used))}); {shown} was read as "
            f"{_local_text(local)}; if {wall:%H:%M} on the site's clock was meant, type {meant}",
        )
    return (
        f"{field}: at that moment the site's clock was at UTC{_offset_text(local.utcoffset())}, not "
        f"UTC{_offset_text(offset)}; {shown} was read as {_local_text(local)}; if {wall:%H:%M} on the site's "
        f"clock was meant, type {meant}",
    )


def read_instant(text: str, field: str, zone: tzinfo | None = None) -> ReadInstant:
    """Strict ISO 8601 with an offset -> the UTC instant, plus site-clock warnings (see module)."""
    typed = parse_iso_instant(text, field)
    in_utc = text.strip()[-1:] in ("Z", "z")
    return ReadInstant(typed.astimezone(timezone.utc), typed, site_clock_warnings(typed, field, zone, in_utc))


WALL_TIME_EXAMPLE = "2026-11-27 09:00"


def _in_calendar(instant: datetime, field: str) -> datetime:
    if not EARLIEST_YEAR <= instant.year <= LATEST_YEAR:
        shown = instant.replace(tzinfo=None).isoformat(sep=" ", timespec="minutes")
        raise ValidationError(field, f"{shown} is out of range: the year must be {EARLIEST_YEAR} to {LATEST_YEAR}; give e.g. {WALL_TIME_EXAMPLE}")
    return instant


def read_wall_time(text: str, field: str, zone: tzinfo | None = None) -> datetime:
    """A time typed at a screen on the site's clock ('2026-11-27 09:00'), or with its offset, as the
    UTC instant. A screen field that starts empty asks for a time a pre-filled 'now' would forge (a
    sample's time left at the moment of entry passes any window); without an offset the wall time
    must be one the site's clock showed exactly once, else the offset is asked for."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(field, f"give the date and time, e.g. {WALL_TIME_EXAMPLE}")
    raw = text.strip()
    if len(raw) > 60:
        raise ValidationError(field, f"is {len(raw):,} characters long; give e.g. {WALL_TIME_EXAMPLE}")
    match = next((m for m in (form.fullmatch(raw) for form in _FORMS) if m), None)
    if match is not None and match.group("offset") is not None:
        return _in_calendar(parse_iso_instant(raw, field), field).astimezone(timezone.utc)
    try:
        wall = parse_iso_instant(raw + "+00:00", field).replace(tzinfo=None)
    except ValidationError:
        raise ValidationError(field, f"'{raw[:40]}' is not a date and time; give e.g. {WALL_TIME_EXAMPLE}") from None
    # Before the site's offsets of that day are looked up: a day at the calendar's end has no next day.
    _in_calendar(wall, field)
    instants = wall_time_instants(wall, zone)
    if not instants:
        raise ValidationError(
            field, f"{wall:%Y-%m-%d %H:%M} did not happen on this site's clock (the clocks went forward); give the offset, e.g. {OFFSET_EXAMPLE}"
        )
    if len(instants) > 1:
        raise ValidationError(
            field, f"{wall:%Y-%m-%d %H:%M} happened twice on this site's clock (the clocks went back); give the offset, e.g. {OFFSET_EXAMPLE}"
        )
    return instants[0]


def wall_time_instants(wall: datetime, zone: tzinfo | None = None) -> list[datetime]:
    """The UTC instants at which the site's clock showed this wall time (naive), earliest first: none
    in the hour the clocks go forward, two in the hour they go back, else one."""
    wall = wall.replace(tzinfo=None)
    return sorted(
        {
            candidate
            for offset in _offsets_on(wall.date(), zone)
            if _on_site_clock(candidate := (wall - offset).replace(tzinfo=timezone.utc), zone).replace(tzinfo=None) == wall
        }
    )


def site_wall_time(instant: datetime, zone: tzinfo | None = None) -> datetime:
    """The instant as the site's clock showed it, without its offset (what a screen's date-and-time field holds)."""
    return _on_site_clock(instant, zone).replace(tzinfo=None)


@dataclass(frozen=True)
class RepeatedWallTime:
    """A wall time the site's clock showed twice (the clocks went back): the two instants, and how
    each is named where a screen asks which was meant."""

    first: datetime
    second: datetime

    def names(self, zone: tzinfo | None = None) -> tuple[str, str]:
        def name(which: str, instant: datetime) -> str:
            return f"the {which} {site_wall_time(instant, zone):%H:%M} (UTC{_offset_text(_on_site_clock(instant, zone).utcoffset())})"

        return name("first", self.first), name("second", self.second)


def repeated_wall_time(wall: datetime, zone: tzinfo | None = None) -> RepeatedWallTime | None:
    """The two instants of a wall time shown twice on the site's clock, or None when it was shown once or never."""
    instants = wall_time_instants(wall, zone)
    return RepeatedWallTime(instants[0], instants[1]) if len(instants) == 2 else None


def read_field_wall_time(wall: datetime, field: str, second: bool | None = None, zone: tzinfo | None = None) -> datetime:
    """A wall time set in a screen's date-and-time field, as the UTC instant. In the hour the clocks go
    back it names two instants and `second` says which was meant: without it, refused (the first was
    taken before, and a step set in the second hour then passed a limit by an hour). In the hour the
    clocks go forward it names none: refused."""
    wall = _in_calendar(wall.replace(tzinfo=None, microsecond=0), field)
    instants = wall_time_instants(wall, zone)
    if not instants:
        # The time read on the clock as it was before the change, shown as the clock read after it
        # (Berlin 02:30 -> 03:30, Lord Howe's half hour 02:15 -> 02:45, Troll's two hours 01:30 -> 03:30).
        meant = site_wall_time((wall - min(_offsets_on(wall.date(), zone))).replace(tzinfo=timezone.utc), zone)
        raise ValidationError(
            field, f"{wall:%Y-%m-%d %H:%M} did not happen on this site's clock (the clocks went forward); set the time it was, e.g. {meant:%H:%M}"
        )
    if len(instants) == 1:
        return instants[0]
    if second is None:
        raise ValidationError(field, f"{wall:%Y-%m-%d %H:%M} happened twice on this site's clock (the clocks went back); choose which beside the time")
    return instants[1] if second else instants[0]


def earliest_instant_of_wall_time(wall: datetime, zone: tzinfo | None = None) -> datetime:
    """A wall time printed without an offset (GS1 AI 7003 is the local time) as the UTC instant. On the
    night the clocks go back it was shown twice: the first; in the hour they go forward it was never
    shown: the earlier reading. Either way an expiry is never read later than it can have meant."""
    wall = wall.replace(tzinfo=None)
    candidates = sorted((wall - offset).replace(tzinfo=timezone.utc) for offset in _offsets_on(wall.date(), zone))
    exact = [c for c in candidates if _on_site_clock(c, zone).replace(tzinfo=None) == wall]
    return (exact or candidates)[0]


VIAL_EXPIRY_EXAMPLE = "2027-06-30, or with the time printed 2026-12-03 10:00"


def read_vial_expiry(text: str, field: str, zone: tzinfo | None = None) -> tuple[date, datetime | None]:
    """A vial's expiry typed from its carton: the date printed (the last day of use), or the date and
    the time printed, on the site's clock or with its offset. Returns the site's local date and the
    UTC instant (None for a date alone)."""
    raw = " ".join(text.split()) if isinstance(text, str) else ""
    if not raw:
        raise ValidationError(field, f"give the expiry printed on the vial, e.g. {VIAL_EXPIRY_EXAMPLE}")
    if len(raw) > 60:
        raise ValidationError(field, f"is {len(raw):,} characters long; give e.g. {VIAL_EXPIRY_EXAMPLE}")
    if any(form.fullmatch(raw) for form in _FORMS):
        instant = check_calendar_year(field, read_wall_time(raw, field, zone))
        return _on_site_clock(instant, zone).date(), instant
    try:
        day = date.fromisoformat(raw) if raw.isascii() else None
    except ValueError:
        day = None
    if day is None:
        raise ValidationError(field, f"'{raw[:40]}' is not a date or a date and time; give e.g. {VIAL_EXPIRY_EXAMPLE}")
    return check_calendar_year(field, day), None
