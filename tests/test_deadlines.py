"""Deadlines: every rule, every state, refrigerated paths, clock jumps and daylight-saving changes."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infusion_app.domain.clock import FakeClock, MonotonicClock
from infusion_app.domain.deadlines import (
    DUE_WINDOW,
    DeadlineState,
    compute_deadlines,
    deadline_hard_stops,
    infusion_duration_from_minutes,
    next_deadline,
    parse_instant,
    passed_hard_deadlines,
)
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.formatting import format_instant
from infusion_app.domain.limits import site_defaults
from infusion_app.domain.monograph import load_monograph, parse_monograph
from infusion_app.domain.records import Event, EventType

UTC = timezone.utc
R = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
LEAD = site_defaults().warning_lead_time


@pytest.fixture(scope="module")
def mono():
    return load_monograph("inotuzumab-ozogamicin")


def limit(mono, name: str) -> timedelta:
    return mono.duration(f"time_limits.{name}")


def ev(kind: EventType, at: datetime, **details) -> Event:
    return Event(kind, at, at, "someone", dict(details))


def by_key(deadlines):
    return {d.key: d for d in deadlines}


def compute(mono, events, now=None, lead=LEAD, infusion=None):
    return by_key(compute_deadlines(events, mono, now or max(e.at for e in events), lead, infusion))


# --- the data -----------------------------------------------------------------------------------


def test_the_shipped_monograph_holds_the_label_time_limits(mono):
    """besponsa-label.md 'Time limits': the numbers the rules below are computed from."""
    hours = {
        "reconstitution_to_dilution": 4,
        "reconstitution_to_end_of_infusion": 8,
        "reconstituted_refrigerated_max": 4,
        "diluted_room_max": 4,
        "diluted_refrigerated_max": 3,
        "refrigerated_bag_warm_up": 1,
        "observation_after_infusion": 1,
    }
    assert {k: limit(mono, k) for k in hours} == {k: timedelta(hours=v) for k, v in hours.items()}
    assert mono.duration("infusion.duration") == timedelta(hours=1)


def test_every_number_comes_from_the_monograph():
    """Change the data file, and every deadline moves with it: no time limit lives in code."""
    raw = copy.deepcopy(load_monograph("inotuzumab-ozogamicin").raw)
    changed = {
        "reconstitution_to_dilution": 2,
        "reconstitution_to_end_of_infusion": 6,
        "diluted_room_max": 1.5,
        "diluted_refrigerated_max": 2.5,
        "refrigerated_bag_warm_up": 0.75,
        "reconstituted_refrigerated_max": 1,
        "observation_after_infusion": 2,
    }
    for key, hours in changed.items():
        raw["time_limits"][key]["value"] = hours
    raw["infusion"]["duration"]["value"] = 2
    other = parse_monograph(raw)
    d = R + timedelta(minutes=30)
    events = [
        ev(EventType.RECONSTITUTED, R),
        ev(EventType.RECONSTITUTED_TO_FRIDGE, R + timedelta(minutes=5)),
        ev(EventType.RECONSTITUTED_FROM_FRIDGE, R + timedelta(minutes=20)),
        ev(EventType.DILUTED, d, storage="fridge"),
    ]
    got = compute(other, events)
    assert got["dilute_by"].at == R + timedelta(hours=2)
    assert got["reconstituted_fridge_until"].at == R + timedelta(hours=1)
    assert got["end_infusion_by"].at == R + timedelta(hours=6)
    assert got["start_infusion_by"].at == d + timedelta(hours=1.5)  # the room limit is now the shortest
    assert got["bag_from_fridge_by"].at == d + timedelta(hours=1.5) - timedelta(hours=0.75)
    ended = events[:-1] + [
        ev(EventType.DILUTED, d, storage="room"),
        ev(EventType.INFUSION_STARTED, d + timedelta(minutes=10)),
        ev(EventType.INFUSION_ENDED, d + timedelta(hours=2)),
    ]
    assert compute(other, ended)["observe_until"].at == d + timedelta(hours=4)
    assert compute(other, [ev(EventType.RECONSTITUTED, R)])["start_infusion_by"].at == R + timedelta(hours=4)


# --- the rules ----------------------------------------------------------------------------------


def test_no_reconstitution_no_clock(mono):
    assert compute_deadlines([], mono, R, LEAD) == []
    premed = ev(EventType.PREMEDICATION, R, drug_class="corticosteroid", drug="dexamethasone", dose="10 mg")
    assert compute_deadlines([premed], mono, R, LEAD) == []


def test_reconstitution_alone_sets_dilute_end_and_start_by(mono):
    got = compute(mono, [ev(EventType.RECONSTITUTED, R)])
    assert set(got) == {"dilute_by", "start_infusion_by", "end_infusion_by"}
    assert got["dilute_by"].at == R + limit(mono, "reconstitution_to_dilution")
    assert got["end_infusion_by"].at == R + limit(mono, "reconstitution_to_end_of_infusion")
    assert got["start_infusion_by"].at == got["end_infusion_by"].at - mono.duration("infusion.duration")
    assert all(d.hard and d.state == DeadlineState.OK and d.met_at is None for d in got.values())
    assert "time_limits.reconstitution_to_dilution" in got["dilute_by"].basis
    assert f"reconstitution {format_instant(R)} + 4 h" in got["dilute_by"].basis  # local time with the date, never raw ISO
    assert "once dilution is recorded" in got["start_infusion_by"].basis


def test_the_infusion_time_moves_start_by(mono):
    longer = compute(mono, [ev(EventType.RECONSTITUTED, R)], infusion=timedelta(minutes=150))
    assert longer["start_infusion_by"].at == longer["end_infusion_by"].at - timedelta(minutes=150)
    assert "150 min" in longer["start_infusion_by"].basis


def test_room_bag_start_by_is_the_storage_limit_when_that_comes_first(mono):
    d = R + timedelta(hours=1)
    got = compute(mono, [ev(EventType.RECONSTITUTED, R), ev(EventType.DILUTED, d, storage="room")])
    assert got["dilute_by"].state == DeadlineState.MET and got["dilute_by"].met_at == d
    room_limit = d + limit(mono, "diluted_room_max")
    end_limit = got["end_infusion_by"].at - mono.duration("infusion.duration")
    assert room_limit < end_limit
    assert got["start_infusion_by"].at == room_limit
    assert got["start_infusion_by"].basis.startswith("dilution")
    assert "bag_from_fridge_by" not in got and "warm_until" not in got


def test_room_bag_start_by_is_end_by_minus_infusion_when_that_comes_first(mono):
    d = R + timedelta(hours=3, minutes=30)
    got = compute(mono, [ev(EventType.RECONSTITUTED, R), ev(EventType.DILUTED, d, storage="room")])
    end_limit = got["end_infusion_by"].at - mono.duration("infusion.duration")
    assert end_limit < d + limit(mono, "diluted_room_max")
    assert got["start_infusion_by"].at == end_limit
    assert got["start_infusion_by"].basis.startswith("end infusion by")


def test_refrigerated_bag_start_by_bag_out_by_and_warm_up(mono):
    d = R + timedelta(hours=1)
    events = [ev(EventType.RECONSTITUTED, R), ev(EventType.DILUTED, d, storage="fridge")]
    got = compute(mono, events)
    start_by = d + limit(mono, "diluted_refrigerated_max")
    warm_up = limit(mono, "refrigerated_bag_warm_up")
    assert got["start_infusion_by"].at == start_by
    assert got["bag_from_fridge_by"].at == start_by - warm_up
    assert got["bag_from_fridge_by"].hard and got["bag_from_fridge_by"].met_at is None
    assert "warm_until" not in got  # still in the refrigerator: the warm-up has not begun

    out = got["bag_from_fridge_by"].at - timedelta(minutes=10)
    events.append(ev(EventType.BAG_FROM_FRIDGE, out))
    got = compute(mono, events, now=out + timedelta(minutes=30))
    assert got["bag_from_fridge_by"].state == DeadlineState.MET
    warm = got["warm_until"]
    assert (warm.at, warm.hard, warm.state) == (out + warm_up, False, DeadlineState.PENDING)
    assert compute(mono, events, now=out + warm_up)["warm_until"].state == DeadlineState.DUE
    # The start window is [warm_until, start_by]: the warm-up fits before the storage limit.
    assert warm.at <= got["start_infusion_by"].at

    started_on_time = events + [ev(EventType.INFUSION_STARTED, out + warm_up)]
    got = compute(mono, started_on_time)
    assert got["warm_until"].state == DeadlineState.MET
    assert got["start_infusion_by"].state == DeadlineState.MET
    started_early = events + [ev(EventType.INFUSION_STARTED, out + warm_up - timedelta(minutes=1))]
    assert compute(mono, started_early)["warm_until"].state == DeadlineState.EARLY


def test_a_room_bag_put_in_the_refrigerator_gets_the_refrigerated_limits(mono):
    d = R + timedelta(hours=1)
    events = [
        ev(EventType.RECONSTITUTED, R),
        ev(EventType.DILUTED, d, storage="room"),
        ev(EventType.BAG_TO_FRIDGE, d + timedelta(minutes=20)),
    ]
    got = compute(mono, events)
    assert got["start_infusion_by"].at == d + limit(mono, "diluted_refrigerated_max")
    assert "bag_from_fridge_by" in got
    # Out, back in, out again: the warm-up counts from the last time it came out.
    events += [
        ev(EventType.BAG_FROM_FRIDGE, d + timedelta(minutes=30)),
        ev(EventType.BAG_TO_FRIDGE, d + timedelta(minutes=40)),
    ]
    assert compute(mono, events)["bag_from_fridge_by"].met_at is None
    last_out = d + timedelta(minutes=50)
    events.append(ev(EventType.BAG_FROM_FRIDGE, last_out))
    got = compute(mono, events)
    assert got["bag_from_fridge_by"].met_at == last_out
    assert got["warm_until"].at == last_out + limit(mono, "refrigerated_bag_warm_up")


def test_a_bag_taken_out_too_late_is_a_hard_stop(mono):
    d = R + timedelta(hours=1)
    got = compute(mono, [ev(EventType.RECONSTITUTED, R), ev(EventType.DILUTED, d, storage="fridge")])
    late = got["bag_from_fridge_by"].at + timedelta(minutes=5)
    events = [
        ev(EventType.RECONSTITUTED, R),
        ev(EventType.DILUTED, d, storage="fridge"),
        ev(EventType.BAG_FROM_FRIDGE, late),
    ]
    got = compute(mono, events)
    assert got["bag_from_fridge_by"].state == DeadlineState.EXPIRED
    assert got["warm_until"].at > got["start_infusion_by"].at  # no start time is left
    assert [d.key for d in passed_hard_deadlines(got.values(), late)] == ["bag_from_fridge_by"]


def test_reconstituted_vials_in_the_refrigerator(mono):
    into = R + timedelta(minutes=30)
    events = [ev(EventType.RECONSTITUTED, R), ev(EventType.RECONSTITUTED_TO_FRIDGE, into)]
    got = compute(mono, events)
    hold = got["reconstituted_fridge_until"]
    # Counted from reconstitution, not from refrigeration: the stricter reading.
    assert hold.at == R + limit(mono, "reconstituted_refrigerated_max")
    assert hold.hard and hold.met_at is None and hold.state == DeadlineState.OK
    assert compute(mono, events, now=hold.at + timedelta(seconds=1))["reconstituted_fridge_until"].state == (DeadlineState.EXPIRED)
    out = R + timedelta(hours=2)
    got = compute(mono, events + [ev(EventType.RECONSTITUTED_FROM_FRIDGE, out)])
    assert got["reconstituted_fridge_until"].state == DeadlineState.MET
    assert got["reconstituted_fridge_until"].met_at == out


def test_the_four_hour_dilution_limit(mono):
    dilute_by = R + limit(mono, "reconstitution_to_dilution")
    on_time = compute(mono, [ev(EventType.RECONSTITUTED, R), ev(EventType.DILUTED, dilute_by, storage="room")])
    assert on_time["dilute_by"].state == DeadlineState.MET
    assert deadline_hard_stops(on_time.values(), dilute_by) == []

    late_at = dilute_by + timedelta(seconds=1)
    late = compute(mono, [ev(EventType.RECONSTITUTED, R), ev(EventType.DILUTED, late_at, storage="room")])
    assert late["dilute_by"].state == DeadlineState.EXPIRED and late["dilute_by"].met_at == late_at
    stops = deadline_hard_stops(late.values(), late_at)
    assert len(stops) == 1 and stops[0].startswith("Dilute by") and "time_limits.reconstitution_to_dilution" in stops[0]

    never = compute(mono, [ev(EventType.RECONSTITUTED, R)], now=late_at)
    assert never["dilute_by"].state == DeadlineState.EXPIRED and never["dilute_by"].met_at is None
    assert [d.hard_stop_code for d in passed_hard_deadlines(never.values(), late_at)] == ["dilute_by_passed"]


def test_end_by_and_observe_until(mono):
    d = R + timedelta(hours=1)
    start = d + timedelta(hours=1)
    end = start + mono.duration("infusion.duration")
    events = [
        ev(EventType.RECONSTITUTED, R),
        ev(EventType.DILUTED, d, storage="room"),
        ev(EventType.INFUSION_STARTED, start),
        ev(EventType.INFUSION_ENDED, end),
    ]
    got = compute(mono, events)
    assert got["end_infusion_by"].state == DeadlineState.MET
    observe = got["observe_until"]
    assert (observe.at, observe.hard, observe.state) == (
        end + limit(mono, "observation_after_infusion"),
        False,
        DeadlineState.PENDING,
    )
    assert compute(mono, events, now=observe.at)["observe_until"].state == DeadlineState.DUE
    done = compute(mono, events + [ev(EventType.OBSERVATION_ENDED, observe.at)])
    assert done["observe_until"].state == DeadlineState.MET
    early = compute(mono, events + [ev(EventType.OBSERVATION_ENDED, observe.at - timedelta(seconds=1))])
    assert early["observe_until"].state == DeadlineState.EARLY
    assert deadline_hard_stops(early.values(), observe.at) == []  # a minimum is not a hard stop
    assert all(d.state == DeadlineState.MET for d in done.values())
    assert next_deadline(list(done.values())) is None


def test_an_infusion_ending_after_end_by_is_expired(mono):
    end_by = R + limit(mono, "reconstitution_to_end_of_infusion")
    events = [
        ev(EventType.RECONSTITUTED, R),
        ev(EventType.DILUTED, R + timedelta(hours=3, minutes=30), storage="room"),
        ev(EventType.INFUSION_STARTED, end_by - timedelta(minutes=60)),
        ev(EventType.INFUSION_ENDED, end_by + timedelta(minutes=5)),
    ]
    got = compute(mono, events)
    assert got["end_infusion_by"].state == DeadlineState.EXPIRED
    assert got["start_infusion_by"].state == DeadlineState.MET


# --- the states ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "before, expected",
    [
        (LEAD + timedelta(seconds=1), DeadlineState.OK),
        (LEAD, DeadlineState.OK),  # the warning begins strictly inside the lead time
        (LEAD - timedelta(seconds=1), DeadlineState.WARNING),
        (DUE_WINDOW, DeadlineState.WARNING),
        (DUE_WINDOW - timedelta(seconds=1), DeadlineState.DUE),
        (timedelta(0), DeadlineState.DUE),  # the deadline instant itself is still in time
        (-timedelta(seconds=1), DeadlineState.EXPIRED),
    ],
)
def test_states_around_a_hard_deadline(mono, before, expected):
    dilute_by = R + limit(mono, "reconstitution_to_dilution")
    got = compute(mono, [ev(EventType.RECONSTITUTED, R)], now=dilute_by - before)
    assert got["dilute_by"].state == expected


def test_the_warning_lead_time_is_configurable(mono):
    dilute_by = R + limit(mono, "reconstitution_to_dilution")
    now = dilute_by - timedelta(minutes=20)
    assert compute(mono, [ev(EventType.RECONSTITUTED, R)], now=now, lead=timedelta(minutes=30))["dilute_by"].state == (DeadlineState.WARNING)
    assert compute(mono, [ev(EventType.RECONSTITUTED, R)], now=now, lead=timedelta(minutes=10))["dilute_by"].state == (DeadlineState.OK)
    assert LEAD == timedelta(minutes=30)  # site-defaults.toml, the default
    with pytest.raises(ValidationError):
        compute_deadlines([ev(EventType.RECONSTITUTED, R)], mono, now, -timedelta(minutes=1))


def test_discarding_closes_the_open_deadlines(mono):
    d = R + timedelta(hours=1)
    events = [
        ev(EventType.RECONSTITUTED, R),
        ev(EventType.DILUTED, d, storage="room"),
        ev(EventType.DISCARDED, d + timedelta(minutes=5), reason="bag punctured"),
    ]
    got = compute(mono, events, now=R + timedelta(hours=20))
    assert got["dilute_by"].state == DeadlineState.MET
    assert got["start_infusion_by"].state == DeadlineState.CLOSED
    assert got["end_infusion_by"].state == DeadlineState.CLOSED
    assert next_deadline(list(got.values())) is None
    assert deadline_hard_stops(got.values(), R + timedelta(hours=20)) == []


def test_next_deadline_is_an_expired_one_first_then_the_soonest(mono):
    events = [ev(EventType.RECONSTITUTED, R)]
    assert next_deadline(compute_deadlines(events, mono, R, LEAD)).key == "dilute_by"
    d = R + timedelta(hours=1)
    events.append(ev(EventType.DILUTED, d, storage="fridge"))
    assert next_deadline(compute_deadlines(events, mono, d, LEAD)).key == "bag_from_fridge_by"
    later = R + timedelta(hours=7, minutes=30)
    soonest = next_deadline(compute_deadlines(events, mono, later, LEAD))
    assert soonest.key == "bag_from_fridge_by" and soonest.state == DeadlineState.EXPIRED
    assert next_deadline([]) is None


def test_hard_stops_at_now_list_every_passed_deadline(mono):
    events = [ev(EventType.RECONSTITUTED, R)]
    after_end = R + limit(mono, "reconstitution_to_end_of_infusion") + timedelta(seconds=1)
    got = compute_deadlines(events, mono, after_end, LEAD)
    assert {d.hard_stop_code for d in passed_hard_deadlines(got, after_end)} == {
        "dilute_by_passed",
        "start_infusion_by_passed",
        "end_infusion_by_passed",
    }
    assert len(deadline_hard_stops(got, after_end)) == 3
    # Asked about an earlier instant, the same deadlines give fewer stops: recomputed from `now`.
    assert len(deadline_hard_stops(got, R + limit(mono, "reconstitution_to_dilution") + timedelta(seconds=1))) == 1


# --- clocks and time zones ----------------------------------------------------------------------


def test_a_clock_jumping_backwards_never_extends_a_deadline(mono):
    events = [ev(EventType.RECONSTITUTED, R)]
    dilute_by = R + limit(mono, "reconstitution_to_dilution")
    wall = FakeClock(R)
    clock = MonotonicClock(wall, floor=max(e.at for e in events))
    wall.set(dilute_by + timedelta(minutes=5))
    before_jump = by_key(compute_deadlines(events, mono, clock.now(), LEAD))
    assert before_jump["dilute_by"].state == DeadlineState.EXPIRED

    wall.set(dilute_by - timedelta(hours=2))  # NTP step or a user setting the clock back
    assert clock.jumped_back
    after_jump = by_key(compute_deadlines(events, mono, clock.now(), LEAD))
    assert after_jump["dilute_by"].state == DeadlineState.EXPIRED
    assert {k: d.at for k, d in after_jump.items()} == {k: d.at for k, d in before_jump.items()}
    # Had the raw wall clock been used, the bag would look fine again: why callers use MonotonicClock.
    raw = by_key(compute_deadlines(events, mono, wall.now(), LEAD))
    assert raw["dilute_by"].state == DeadlineState.OK
    assert raw["dilute_by"].at == after_jump["dilute_by"].at


def test_the_monotonic_floor_from_stored_events_survives_a_restart_with_a_wrong_clock(mono):
    """After a restart the wall clock may be behind the last stored event; seed the floor with it."""
    late_dilution = R + limit(mono, "reconstitution_to_dilution") + timedelta(minutes=1)
    events = [ev(EventType.RECONSTITUTED, R), ev(EventType.DILUTED, late_dilution, storage="room")]
    clock = MonotonicClock(FakeClock(R), floor=max(e.at for e in events))
    got = compute_deadlines(events, mono, clock.now(), LEAD)
    assert clock.now() == late_dilution
    assert by_key(got)["dilute_by"].state == DeadlineState.EXPIRED


@given(offset_minutes=st.integers(min_value=-10_000, max_value=10_000))
def test_deadline_instants_never_depend_on_now(offset_minutes):
    mono = load_monograph("inotuzumab-ozogamicin")
    events = [
        ev(EventType.RECONSTITUTED, R),
        ev(EventType.DILUTED, R + timedelta(hours=1), storage="fridge"),
        ev(EventType.BAG_FROM_FRIDGE, R + timedelta(hours=2)),
    ]
    reference = {d.key: d.at for d in compute_deadlines(events, mono, R, LEAD)}
    now = R + timedelta(minutes=offset_minutes)
    assert {d.key: d.at for d in compute_deadlines(events, mono, now, LEAD)} == reference


@pytest.mark.parametrize(
    "zone, local_start, local_dilute_by",
    [
        # US spring forward 2026-03-08 02:00 EST -> 03:00 EDT: 4 real hours show as 5 on the wall.
        ("America/New_York", "2026-03-08T01:30-05:00", "2026-03-08 06:30 EDT"),
        # US fall back 2026-11-01 02:00 EDT -> 01:00 EST: 4 real hours show as 3 on the wall.
        ("America/New_York", "2026-11-01T00:30-04:00", "2026-11-01 03:30 EST"),
        # EU spring forward 2026-03-29 02:00 CET -> 03:00 CEST.
        ("Europe/Berlin", "2026-03-29T00:30+01:00", "2026-03-29 05:30 CEST"),
        # EU fall back 2026-10-25 03:00 CEST -> 02:00 CET; start in the first 02:30.
        ("Europe/Berlin", "2026-10-25T02:30+02:00", "2026-10-25 05:30 CET"),
    ],
)
def test_a_daylight_saving_change_does_not_shift_a_deadline(mono, zone, local_start, local_dilute_by):
    tz = ZoneInfo(zone)
    reconstituted = parse_instant(local_start, "reconstituted")
    got = compute(mono, [ev(EventType.RECONSTITUTED, reconstituted)])
    dilute_by = got["dilute_by"].at
    assert dilute_by - reconstituted == limit(mono, "reconstitution_to_dilution")  # real elapsed time
    assert dilute_by.utcoffset() == timedelta(0)
    assert format_instant(dilute_by, tz) == local_dilute_by
    end_by = got["end_infusion_by"].at
    assert end_by - reconstituted == limit(mono, "reconstitution_to_end_of_infusion")


def test_the_two_0230s_of_a_fall_back_night_are_different_instants(mono):
    first = parse_instant("2026-10-25T02:30+02:00", "reconstituted")
    second = parse_instant("2026-10-25T02:30+01:00", "reconstituted")
    assert second - first == timedelta(hours=1)
    tz = ZoneInfo("Europe/Berlin")
    assert format_instant(first, tz) == "2026-10-25 02:30 CEST"
    assert format_instant(second, tz) == "2026-10-25 02:30 CET"
    a = compute(mono, [ev(EventType.RECONSTITUTED, first)])["dilute_by"].at
    b = compute(mono, [ev(EventType.RECONSTITUTED, second)])["dilute_by"].at
    assert b - a == timedelta(hours=1)


# --- input ----------------------------------------------------------------------------------------


def test_parse_instant_needs_an_offset():
    assert parse_instant("2026-11-27T09:00+01:00", "x") == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert parse_instant("2026-11-27T08:00Z", "x") == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert parse_instant(" 2026-11-27 08:00:30+00:00 ", "x").second == 30
    with pytest.raises(ValidationError) as naive:
        parse_instant("2026-11-27T09:00", "--reconstituted")
    assert naive.value.field == "--reconstituted"
    assert "give the UTC offset, e.g. 2026-11-27T09:00+01:00" in str(naive.value)
    for bad in ("", "   ", "tomorrow", "2026-13-01T09:00Z", "2026-11-27T25:00Z", "2026-11-27"):
        with pytest.raises(ValidationError) as excinfo:
            parse_instant(bad, "--diluted")
        assert excinfo.value.field == "--diluted"


def test_naive_instants_are_refused(mono):
    with pytest.raises(ValidationError):
        compute_deadlines([ev(EventType.RECONSTITUTED, R)], mono, datetime(2026, 11, 27, 9, 0), LEAD)
    with pytest.raises(ValidationError):
        compute_deadlines([ev(EventType.RECONSTITUTED, datetime(2026, 11, 27, 9, 0))], mono, R, LEAD)


def test_infusion_minutes_are_validated(mono):
    assert infusion_duration_from_minutes("90", mono) == timedelta(minutes=90)
    shortest = mono.duration("infusion.minimum_duration")
    assert infusion_duration_from_minutes(int(shortest.total_seconds() // 60), mono) == shortest
    whole_window = limit(mono, "reconstitution_to_end_of_infusion")
    assert infusion_duration_from_minutes(int(whole_window.total_seconds() // 60), mono) == whole_window
    # Pharmacist review: 30 min was accepted for a 1 h (BESPONSA) or 2 h (MYLOTARG) infusion, silently.
    for bad in (0, -5, 1, 30, int(shortest.total_seconds() // 60) - 1, int(whole_window.total_seconds() // 60) + 1, "abc", "1.5", "９０", "٩٠", True, None):
        with pytest.raises(ValidationError) as excinfo:
            infusion_duration_from_minutes(bad, mono, "--infusion-minutes")
        assert excinfo.value.field == "--infusion-minutes"
    with pytest.raises(ValidationError):
        compute_deadlines([ev(EventType.RECONSTITUTED, R)], mono, R, LEAD, timedelta(0))


def test_to_dict_gives_iso_instants_with_offset(mono):
    d = compute(mono, [ev(EventType.RECONSTITUTED, R), ev(EventType.DILUTED, R + timedelta(hours=1), storage="room")])
    as_dict = d["dilute_by"].to_dict()
    assert as_dict["at"] == "2026-11-27T12:00:00+00:00"
    assert as_dict["met_at"] == "2026-11-27T09:00:00+00:00"
    assert as_dict["state"] == "met" and as_dict["hard"] is True


def test_an_overridden_late_step_stays_expired_and_names_the_override(mono):
    late = R + limit(mono, "reconstitution_to_dilution") + timedelta(minutes=3)
    override = Event(EventType.OVERRIDE, late, late, "paul", {"hard_stop": "dilute_by_passed", "reason": "prescriber accepted", "step": "diluted"})
    events = [ev(EventType.RECONSTITUTED, R), override, ev(EventType.DILUTED, late, storage="room")]
    got = compute(mono, events)
    assert got["dilute_by"].state == DeadlineState.EXPIRED  # the truth is kept
    assert got["dilute_by"].overridden_by == "paul: prescriber accepted"
    assert got["dilute_by"].to_dict()["overridden_by"] == "paul: prescriber accepted"
    assert got["start_infusion_by"].overridden_by is None
    (stop,) = deadline_hard_stops(got.values(), late)
    assert stop.endswith("overridden by paul: prescriber accepted")


def test_next_deadline_passes_over_a_reached_minimum_while_a_hard_one_is_open(mono):
    d = R + timedelta(hours=1)
    out = d + timedelta(minutes=10)
    events = [
        ev(EventType.RECONSTITUTED, R),
        ev(EventType.DILUTED, d, storage="fridge"),
        ev(EventType.BAG_FROM_FRIDGE, out),
    ]
    warm_up = limit(mono, "refrigerated_bag_warm_up")
    assert next_deadline(compute_deadlines(events, mono, out, LEAD)).key == "warm_until"  # still warming
    assert next_deadline(compute_deadlines(events, mono, out + warm_up, LEAD)).key == "start_infusion_by"
    start = out + warm_up
    end = start + mono.duration("infusion.duration")
    events += [ev(EventType.INFUSION_STARTED, start), ev(EventType.INFUSION_ENDED, end)]
    observe = limit(mono, "observation_after_infusion")
    waiting = next_deadline(compute_deadlines(events, mono, end + observe, LEAD))
    assert (waiting.key, waiting.state) == ("observe_until", DeadlineState.DUE)
