"""Deadlines of one preparation, computed from stored event instants and the monograph.

Never from a running timer: a deadline is an instant (UTC) derived only from the instants of
recorded events plus the monograph's [time_limits]. Only its *state* depends on `now`.

Clock rules, for every caller:
- Pass a `now` taken from a MonotonicClock (clock.MonotonicClock, seeded with the latest stored
  event instant). A wall clock set backwards then cannot turn an expired deadline back into
  'ok'; and since the deadline instants never depend on `now`, no clock change can move them.
- Daylight-saving changes cannot shift a deadline: all arithmetic is on UTC instants; local
  time appears only when an instant is shown (formatting.format_instant). "Reconstituted at
  01:30 + 4 h" across a spring-forward night is 4 real hours later, shown as 06:30 local.

The deadlines (keys), all from the monograph's [time_limits]:
- dilute_by = reconstitution + reconstitution_to_dilution. Hard.
- reconstituted_fridge_until (only when reconstituted vials went into the refrigerator) =
  the earlier of reconstitution and refrigeration + reconstituted_refrigerated_max, i.e. the
  hold time counts from reconstitution (the stricter reading). Met when taken out. Hard.
- end_infusion_by = reconstitution + reconstitution_to_end_of_infusion (infusion time counts). Hard.
- start_infusion_by = the earliest of: end_infusion_by - infusion time; dilution + the
  room-temperature limit; and, for a bag that was refrigerated at any time, dilution + the
  refrigerated limit. Hard. Before dilution only the first applies (the bag does not exist
  yet; the storage limit joins as soon as dilution is recorded).
- bag_from_fridge_by (a bag that was refrigerated) = start_infusion_by - refrigerated_bag_warm_up.
  We read "refrigerated up to N h" as covering the whole time from dilution to the start of
  the infusion, warm-up included (the stricter of the two readings): the bag must leave the
  refrigerator early enough to warm for the full warm-up time before start_infusion_by. Hard.
- warm_until (a refrigerated bag, once out) = out of refrigerator + refrigerated_bag_warm_up. A
  minimum ('not before'): the infusion may not start earlier.
- observe_until = infusion end + observation_after_infusion. A minimum: observation may not
  be ended earlier without an override.

A recorded vial's expiry is not a time limit and is not computed here: preparation.effective_deadlines
moves each hard deadline whose steps all use the product to the first vial's expiry when that comes
first (marked 'vial expiry'), since those steps are refused from then; the service's status gives the
deadlines so moved to the board, the chair, the CLI and the sheet and label.

States of a hard ('not after') deadline: met (its step happened at or before it), expired
(passed without its step, or the step happened after it), due (the final minute before it,
DUE_WINDOW), warning (within the warning lead time), ok. States of a minimum ('not before'):
pending (not reached), due (reached: the step may be done now), met (done at or after it),
early (done before it, which needs an override). When the preparation is discarded, every
deadline whose step never happened is closed. A late (or early) step accepted with a
pharmacist's override keeps its true state (expired/early) and names the override
(`overridden_by`). The hard-stop code of a deadline is '<key>_passed' for a hard one and
'<key>_not_reached' for a minimum (StepRefused.code in preparation.py).
"""

from __future__ import annotations

import math
import re
from typing import Any

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import Enum

from .errors import ValidationError, check_calendar_year
from .formatting import format_amount, format_instant, utc_iso
from .monograph import Monograph
from .records import DiluteStorage, Event, EventType

# "Due" is the final minute before a hard deadline: the step must be done now. A program-design
# choice, not a drug fact; anything longer belongs to the (configurable) warning lead time.
DUE_WINDOW = timedelta(minutes=1)

OFFSET_EXAMPLE = "2026-11-27T09:00+01:00"


class DeadlineState(str, Enum):
    OK = "ok"
    WARNING = "warning"  # within the warning lead time
    DUE = "due"  # hard: the final minute before it; minimum: reached, the step may be done now
    EXPIRED = "expired"  # passed without its step, or the step happened after it
    MET = "met"  # the step happened in time
    PENDING = "pending"  # a minimum (observe_until, warm_until) not yet reached
    EARLY = "early"  # a minimum whose step happened before it (only with an override)
    CLOSED = "closed"  # the preparation was discarded before this step: nothing left to do


OPEN_STATES = frozenset({DeadlineState.OK, DeadlineState.WARNING, DeadlineState.DUE, DeadlineState.EXPIRED, DeadlineState.PENDING})


@dataclass(frozen=True)
class Deadline:
    key: str
    label: str
    at: datetime  # UTC instant
    state: DeadlineState
    met_at: datetime | None  # when its step happened (in time or not)
    basis: str  # why this instant: the event, the limit and the monograph path
    hard: bool  # True: a 'not after' limit whose passing is a hard stop; False: a 'not before' minimum
    overridden_by: str | None = None  # "pharmacist: reason" when an OVERRIDE event names this deadline's hard stop
    limits: tuple[str, ...] = ()  # the monograph paths (time_limits.*) this instant rests on
    overridable: bool = False  # every limit it rests on says overridable = true (label limits never do)
    pending_review: bool = False  # a limit it rests on awaits pharmacist verification (verify = true)
    entered_late: str | None = None  # its step was dated in time but entered after it passed: by whom, when
    deviation: str | None = None  # "user: reason" when a DEVIATION event names this deadline
    # True: moved earlier than its time limits to a recorded vial's expiry, from which its step is refused
    # (preparation.effective_deadlines); the label then says so ('Start infusion by (vial expiry)').
    vial_expiry: bool = False

    @property
    def hard_stop_code(self) -> str:
        """The code a step refused for passing this deadline carries (StepRefused.code)."""
        return f"{self.key}_passed" if self.hard else f"{self.key}_not_reached"

    @property
    def is_open(self) -> bool:
        return self.met_at is None and self.state in OPEN_STATES

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "label": self.label,
            "at": utc_iso(self.at),
            "state": self.state.value,
            "met_at": utc_iso(self.met_at) if self.met_at else None,
            "basis": self.basis,
            "hard": self.hard,
            "overridden_by": self.overridden_by,
            "limits": list(self.limits),
            "overridable": self.overridable,
            "pending_review": self.pending_review,
            "entered_late": self.entered_late,
            "deviation": self.deviation,
        }

    @property
    def review_mark(self) -> str:
        """' (pending pharmacist review)' beside a deadline resting on an unverified value, else ''."""
        return " (pending pharmacist review)" if self.pending_review else ""


# ---------------------------------------------------------------------------------------------
# What the events say happened. Shared with preparation.py so both read the record the same way.


@dataclass
class Timeline:
    """The instants of a preparation's steps, read from its events in recorded order.

    For each step the first occurrence counts (the state machine allows each only once). The
    refrigerator moves are tracked as a state: in or out, and the last time taken out.
    """

    order_verified: datetime | None = None
    reconstituted: datetime | None = None
    reconstituted_fridge_first_in: datetime | None = None
    reconstituted_in_fridge: bool = False
    reconstituted_fridge_out: datetime | None = None  # taken out after the latest 'in'
    diluted: datetime | None = None
    diluted_storage: DiluteStorage | None = None
    bag_ever_refrigerated: bool = False
    bag_in_fridge: bool = False
    bag_fridge_out: datetime | None = None  # taken out after the latest 'in'
    verified: datetime | None = None
    labelled: datetime | None = None
    dispensed: datetime | None = None
    infusion_started: datetime | None = None
    infusion_ended: datetime | None = None
    observation_ended: datetime | None = None
    discarded: datetime | None = None
    premedicated_classes: set[str] = field(default_factory=set)
    last_step_at: datetime | None = None  # latest instant of a chain step (not premedication etc.)
    last_step: EventType | None = None

    _FIRST_ONLY = {
        EventType.ORDER_VERIFIED: "order_verified",
        EventType.RECONSTITUTED: "reconstituted",
        EventType.VERIFIED: "verified",
        EventType.LABELLED: "labelled",
        EventType.DISPENSED: "dispensed",
        EventType.INFUSION_STARTED: "infusion_started",
        EventType.INFUSION_ENDED: "infusion_ended",
        EventType.OBSERVATION_ENDED: "observation_ended",
        EventType.DISCARDED: "discarded",
    }

    @classmethod
    def of(cls, events: Iterable[Event]) -> Timeline:
        line = cls()
        for event in events:
            # Deadlines are instants + limits: adding hours to a zoneinfo datetime is wall-clock
            # arithmetic (00:30 EST + 4 h = 04:30 EDT, 3 real hours), so every instant goes to UTC first.
            # (A stored instant is already in UTC: copying its event again was a fifth of a board tick.)
            if isinstance(event.at, datetime) and event.at.tzinfo is not timezone.utc and event.at.utcoffset() is not None:
                event = replace(event, at=event.at.astimezone(timezone.utc))
            kind = event.type
            if kind in (EventType.OVERRIDE, EventType.ALARM_ACKNOWLEDGED, EventType.DEVIATION):
                continue
            if kind == EventType.PREMEDICATION:
                drug_class = str(event.details.get("drug_class", "")).strip().lower()
                if drug_class:
                    line.premedicated_classes.add(drug_class)
                continue
            if kind in (EventType.PATIENT_CONFIRMED, EventType.PREMEDICATION_CORRECTED):
                continue
            if kind == EventType.ORDER_VERIFIED:
                # Ordered by recording, not by instant: a late-entered reconstitution may be dated before it.
                if line.order_verified is None:
                    line.order_verified = event.at
                continue
            if line.last_step_at is None or event.at >= line.last_step_at:
                line.last_step_at = event.at
            line.last_step = kind
            attribute = cls._FIRST_ONLY.get(kind)
            if attribute is not None:
                if getattr(line, attribute) is None:
                    setattr(line, attribute, event.at)
            elif kind == EventType.RECONSTITUTED_TO_FRIDGE:
                line.reconstituted_in_fridge = True
                line.reconstituted_fridge_out = None
                if line.reconstituted_fridge_first_in is None:
                    line.reconstituted_fridge_first_in = event.at
            elif kind == EventType.RECONSTITUTED_FROM_FRIDGE:
                if line.reconstituted_in_fridge:
                    line.reconstituted_fridge_out = event.at
                line.reconstituted_in_fridge = False
            elif kind == EventType.DILUTED:
                if line.diluted is None:
                    line.diluted = event.at
                    line.diluted_storage = storage_of(event)
                    if line.diluted_storage == DiluteStorage.FRIDGE:
                        line.bag_ever_refrigerated = True
                        line.bag_in_fridge = True
            elif kind == EventType.BAG_TO_FRIDGE:
                line.bag_ever_refrigerated = True
                line.bag_in_fridge = True
                line.bag_fridge_out = None
            elif kind == EventType.BAG_FROM_FRIDGE:
                if line.bag_in_fridge:
                    line.bag_fridge_out = event.at
                line.bag_in_fridge = False
        return line


def storage_of(event: Event) -> DiluteStorage | None:
    """The diluted bag's storage from a DILUTED event's details, or None if missing/unknown."""
    value = event.details.get("storage")
    try:
        return DiluteStorage(value) if value is not None else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------


def _require_aware(instant: datetime, name: str) -> None:
    if not isinstance(instant, datetime) or instant.tzinfo is None or instant.utcoffset() is None:
        raise ValidationError(name, "needs a date and time with its UTC offset")


def duration_text(delta: timedelta) -> str:
    """'4 h', '90 min': how a time limit is quoted in a basis or a message."""
    minutes = delta.total_seconds() / 60
    if minutes % 60 == 0:
        return format_amount(minutes / 60, "h")
    return format_amount(minutes, "min")


def _hard_state(at: datetime, met_at: datetime | None, now: datetime, lead: timedelta) -> DeadlineState:
    if met_at is not None:
        return DeadlineState.MET if met_at <= at else DeadlineState.EXPIRED
    if now > at:
        return DeadlineState.EXPIRED
    if now > at - DUE_WINDOW:
        return DeadlineState.DUE
    if now > at - lead:
        return DeadlineState.WARNING
    return DeadlineState.OK


def _minimum_state(at: datetime, met_at: datetime | None, now: datetime) -> DeadlineState:
    if met_at is not None:
        return DeadlineState.MET if met_at >= at else DeadlineState.EARLY
    return DeadlineState.PENDING if now < at else DeadlineState.DUE


def infusion_duration_from_minutes(minutes: object, monograph: Monograph, field_name: str = "infusion minutes") -> timedelta:
    """Validate a planned infusion time in whole minutes: from the label's shortest infusion (a
    planned time below it would give deadlines for an infusion the label does not allow) to the
    whole reconstitution-to-end window."""
    window = monograph.duration("time_limits.reconstitution_to_end_of_infusion")
    most = int(window.total_seconds() // 60)
    least = max(1, math.ceil(monograph.duration("infusion.minimum_duration").total_seconds() / 60))
    accepted = f"a whole number of minutes from {least} (the label's shortest infusion) to {most}"
    if isinstance(minutes, bool):
        raise ValidationError(field_name, f"must be {accepted}")
    text = str(minutes).strip()
    if not isinstance(minutes, int) and not re.fullmatch(r"[0-9]{1,6}", text):  # int() would read "６０" and "٦٠"
        raise ValidationError(field_name, f"'{minutes}' is not {accepted}")
    value = minutes if isinstance(minutes, int) else int(text)
    if not least <= value <= most:
        raise ValidationError(field_name, f"{value} is out of range: must be {accepted}")
    return timedelta(minutes=value)


def compute_deadlines(
    events: Sequence[Event],
    monograph: Monograph,
    now: datetime,
    warning_lead: timedelta,
    infusion_duration: timedelta | None = None,
) -> list[Deadline]:
    """All deadlines the recorded events define, with their state at `now` (see the module doc).

    No reconstitution recorded means no clock has started: an empty list. `now` must come from
    a MonotonicClock; the instants never depend on it.
    """
    _require_aware(now, "now")
    if warning_lead < timedelta(0):
        raise ValidationError("warning lead time", "must not be negative")
    if infusion_duration is None:
        infusion_duration = monograph.duration("infusion.duration")
    if infusion_duration <= timedelta(0):
        raise ValidationError("infusion duration", "must be longer than 0 minutes")
    for event in events:
        _require_aware(event.at, f"{event.type.value} time")
    line = Timeline.of(events)
    if line.reconstituted is None:
        return []

    def limit(path: str) -> timedelta:
        return monograph.duration(f"time_limits.{path}")

    def source(path: str) -> str:
        return f"time_limits.{path}"

    reconstituted = line.reconstituted
    deadlines: list[Deadline] = []

    def resting_on(paths: Sequence[str]) -> dict[str, Any]:
        facts = [monograph.fact(f"time_limits.{p}") for p in paths]
        return {
            "limits": tuple(f.path for f in facts),
            "overridable": bool(facts) and all(f.overridable for f in facts),
            "pending_review": any(f.verify for f in facts),
        }

    def hard(key: str, label: str, at: datetime, met_at: datetime | None, basis: str, paths: Sequence[str]) -> None:
        deadlines.append(Deadline(key, label, at, _hard_state(at, met_at, now, warning_lead), met_at, basis, True, **resting_on(paths)))

    def minimum(key: str, label: str, at: datetime, met_at: datetime | None, basis: str, paths: Sequence[str]) -> None:
        deadlines.append(Deadline(key, label, at, _minimum_state(at, met_at, now), met_at, basis, False, **resting_on(paths)))

    # Dilution.
    to_dilution = limit("reconstitution_to_dilution")
    hard(
        "dilute_by",
        "Dilute by",
        reconstituted + to_dilution,
        line.diluted,
        f"reconstitution {format_instant(reconstituted)} + {duration_text(to_dilution)} ({source('reconstitution_to_dilution')})",
        ["reconstitution_to_dilution"],
    )

    # Reconstituted vials held in the refrigerator: the hold time counts from reconstitution.
    if line.reconstituted_fridge_first_in is not None:
        hold = limit("reconstituted_refrigerated_max")
        counted_from = min(reconstituted, line.reconstituted_fridge_first_in)
        hard(
            "reconstituted_fridge_until",
            "Reconstituted vials out of refrigerator by",
            counted_from + hold,
            None if line.reconstituted_in_fridge else line.reconstituted_fridge_out,
            f"reconstitution {format_instant(counted_from)} + {duration_text(hold)} refrigerated hold, counted from "
            f"reconstitution ({source('reconstituted_refrigerated_max')})",
            ["reconstituted_refrigerated_max"],
        )

    # End of infusion, then the latest start.
    to_end = limit("reconstitution_to_end_of_infusion")
    end_by = reconstituted + to_end
    end_basis = f"reconstitution {format_instant(reconstituted)} + {duration_text(to_end)} ({source('reconstitution_to_end_of_infusion')})"
    end_paths = ["reconstitution_to_end_of_infusion"]
    start_paths = ["reconstitution_to_end_of_infusion"]
    # A drug whose room-temperature limit for the diluted solution counts the infusion too (the
    # monograph says so): the infusion must also end within it, so it starts that much earlier.
    room_includes_infusion = "time_limits.diluted_room_max_includes_infusion" in monograph.facts and monograph.flag(
        "time_limits.diluted_room_max_includes_infusion"
    )
    if line.diluted is not None and room_includes_infusion:
        room_end = line.diluted + limit("diluted_room_max")
        end_paths.append("diluted_room_max")
        if room_end < end_by:
            end_by = room_end
            end_basis = (
                f"dilution {format_instant(line.diluted)} + {duration_text(limit('diluted_room_max'))} at room temperature, the "
                f"infusion included ({source('diluted_room_max')}); the earliest of that and reconstitution "
                f"{format_instant(reconstituted)} + {duration_text(to_end)} ({source('reconstitution_to_end_of_infusion')})"
            )
    candidates: list[tuple[datetime, str]] = [
        (
            end_by - infusion_duration,
            f"end infusion by {format_instant(end_by)} - {duration_text(infusion_duration)} infusion time",
        )
    ]
    if line.diluted is not None:
        room = limit("diluted_room_max")
        start_paths.append("diluted_room_max")
        candidates.append(
            (
                line.diluted + room - infusion_duration,
                f"dilution {format_instant(line.diluted)} + {duration_text(room)} at room temperature, the infusion included, "
                f"- {duration_text(infusion_duration)} infusion time ({source('diluted_room_max')})",
            )
            if room_includes_infusion
            else (
                line.diluted + room,
                f"dilution {format_instant(line.diluted)} + {duration_text(room)} at room temperature ({source('diluted_room_max')})",
            )
        )
        if line.bag_ever_refrigerated:
            cold = limit("diluted_refrigerated_max")
            start_paths.append("diluted_refrigerated_max")
            candidates.append(
                (
                    line.diluted + cold,
                    f"dilution {format_instant(line.diluted)} + {duration_text(cold)} for a refrigerated bag, warm-up included ({source('diluted_refrigerated_max')})",
                )
            )
    start_by, binding = min(candidates, key=lambda c: c[0])
    others = [text for at, text in candidates if text != binding]
    start_basis = binding
    if others:
        start_basis += "; the earliest of that and: " + "; ".join(others)
    if line.diluted is None:
        start_basis += "; the diluted-storage limit applies once dilution is recorded"

    if line.bag_ever_refrigerated:
        warm_up = limit("refrigerated_bag_warm_up")
        hard(
            "bag_from_fridge_by",
            "Bag out of refrigerator by",
            start_by - warm_up,
            None if line.bag_in_fridge else (line.bag_fridge_out or line.infusion_started),
            f"start infusion by {format_instant(start_by)} - {duration_text(warm_up)} warm-up ({source('refrigerated_bag_warm_up')})",
            [*start_paths, "refrigerated_bag_warm_up"],
        )
        if not line.bag_in_fridge and line.bag_fridge_out is not None:
            minimum(
                "warm_until",
                "Bag warming until",
                line.bag_fridge_out + warm_up,
                line.infusion_started,
                f"out of refrigerator {format_instant(line.bag_fridge_out)} + {duration_text(warm_up)} warm-up ({source('refrigerated_bag_warm_up')})",
                ["refrigerated_bag_warm_up"],
            )

    hard("start_infusion_by", "Start infusion by", start_by, line.infusion_started, start_basis, start_paths)
    hard(
        "end_infusion_by",
        "End infusion by",
        end_by,
        line.infusion_ended,
        end_basis,
        end_paths,
    )

    if line.infusion_ended is not None:
        observation = limit("observation_after_infusion")
        minimum(
            "observe_until",
            "Observe until",
            line.infusion_ended + observation,
            line.observation_ended,
            f"infusion end {format_instant(line.infusion_ended)} + {duration_text(observation)} at least ({source('observation_after_infusion')})",
            ["observation_after_infusion"],
        )

    overrides = _overrides(events)
    deadlines = [replace(d, overridden_by=overrides[d.hard_stop_code]) if d.hard_stop_code in overrides else d for d in deadlines]
    deviations = _deviations(events)
    deadlines = [replace(d, deviation=deviations[d.key]) if d.key in deviations else d for d in deadlines]
    deadlines = [_mark_late_entry(d, events, monograph) for d in deadlines]
    if line.discarded is not None:
        deadlines = [d if d.met_at is not None else replace(d, state=DeadlineState.CLOSED) for d in deadlines]
    return deadlines


def moved_earlier(
    deadline: Deadline,
    at: datetime,
    mark: str,
    basis: str,
    now: datetime,
    warning_lead: timedelta,
    limits: Sequence[str],
    monograph: Monograph,
) -> Deadline:
    """A hard deadline moved to an earlier instant `at` by something other than its time limits (a vial's
    expiry), its label marked '(<mark>)' so whoever reads it sees why, its state judged at `now` again.
    Nothing overrides it (an expiry is never overridden); it rests only on `limits` (time_limits.* paths
    of `monograph`), pending review when one of them is."""
    state = deadline.state
    if state != DeadlineState.CLOSED and not deadline.entered_late:
        state = _hard_state(at, deadline.met_at, now, warning_lead)
    pending = any(monograph.fact(path).verify for path in limits)
    return replace(
        deadline,
        at=at,
        label=f"{deadline.label} ({mark})",
        basis=basis,
        state=state,
        limits=tuple(limits),
        overridable=False,
        pending_review=pending,
        vial_expiry=True,
    )


def met_by(key: str, monograph: Monograph) -> frozenset[EventType]:
    """The steps that meet a hard deadline (the first of them, at met_at), as the monograph says."""
    return frozenset(EventType(value) for value in monograph.deadline_rule(key).met_by)


def entered_late_text(event: Event) -> str:
    return f"entered late: dated {format_instant(event.at)}, entered {format_instant(event.recorded_at)} by {event.user}"


def _mark_late_entry(deadline: Deadline, events: Sequence[Event], monograph: Monograph) -> Deadline:
    """A step dated before its deadline but entered after it passed: the limit was not seen met in time."""
    if not deadline.hard or deadline.met_at is None or deadline.met_at > deadline.at:
        return deadline
    kinds = met_by(deadline.key, monograph)
    for event in events:
        if event.type in kinds and event.at.astimezone(timezone.utc) == deadline.met_at:
            if event.recorded_at > deadline.at:
                return replace(deadline, state=DeadlineState.EXPIRED, entered_late=entered_late_text(event))
            return deadline
    return deadline


def _deviations(events: Sequence[Event]) -> dict[str, str]:
    """Deadline key -> 'user: reason', from the DEVIATION events recorded with a step."""
    found: dict[str, str] = {}
    for event in events:
        if event.type != EventType.DEVIATION:
            continue
        for key in event.details.get("deadlines", []) or []:
            found[str(key)] = f"{event.user}: {event.details.get('reason', '')}".strip()
    return found


def _overrides(events: Sequence[Event]) -> dict[str, str]:
    """Hard-stop code -> 'pharmacist: reason', from the OVERRIDE events (codes joined by '+' count singly)."""
    found: dict[str, str] = {}
    for event in events:
        if event.type != EventType.OVERRIDE:
            continue
        for code in str(event.details.get("hard_stop", "")).split("+"):
            if code:
                found[code] = f"{event.user}: {event.details.get('reason', '')}".strip()
    return found


def next_deadline(deadlines: Sequence[Deadline]) -> Deadline | None:
    """The most urgent open deadline, for the board: an expired one first, then the soonest.

    A minimum already reached (a bag that has warmed up, an observation that may end) only
    comes before nothing: while it waits, the next hard deadline is what matters.
    """
    open_ones = [d for d in deadlines if d.is_open]
    if not open_ones:
        return None
    return min(
        open_ones,
        key=lambda d: (d.state != DeadlineState.EXPIRED, not d.hard and d.state == DeadlineState.DUE, d.at),
    )


def next_state_change(deadlines: Sequence[Deadline], now: datetime, warning_lead: timedelta) -> datetime | None:
    """The first instant after `now` at which any of these deadlines' states can differ from the
    states computed at `now` (None: not before another event): until then a reader that keeps the
    deadlines (the board) need not compute them again; only the countdowns move.

    A hard limit turns warning, due and expired just after at - lead, at - DUE_WINDOW and at
    (the comparisons in _hard_state are strict: one microsecond later); a minimum turns due at
    its instant. Early by design, never late: a recomputation too many costs only time.
    """
    _require_aware(now, "now")
    tick = timedelta(microseconds=1)
    changes: list[datetime] = []
    for d in deadlines:
        if d.met_at is not None or d.state == DeadlineState.CLOSED:
            continue
        if d.hard:
            changes.extend((d.at - warning_lead + tick, d.at - DUE_WINDOW + tick, d.at + tick))
        else:
            changes.append(d.at)
    later = [t for t in changes if t > now]
    return min(later) if later else None


def passed_hard_deadlines(deadlines: Sequence[Deadline], now: datetime) -> list[Deadline]:
    """Hard deadlines passed at `now` without their step, or whose step came after them."""
    _require_aware(now, "now")
    found = []
    for d in deadlines:
        if not d.hard or d.state == DeadlineState.CLOSED:
            continue
        if (d.met_at is not None and (d.met_at > d.at or d.entered_late)) or (d.met_at is None and now > d.at):
            found.append(d)
    return found


def deadline_hard_stops(deadlines: Sequence[Deadline], now: datetime) -> list[str]:
    """One sentence per hard deadline passed without its step (or met too late), at `now`.

    Recomputed from the instants and `now` (not from the stored states), so a caller can ask
    about any instant. Instants are shown in local time with the date.
    """
    stops = []
    for d in passed_hard_deadlines(deadlines, now):
        if d.met_at is not None:
            overridden = f"; overridden by {d.overridden_by}" if d.overridden_by else ""
            deviation = f"; deviation recorded by {d.deviation}" if d.deviation else ""
            if d.entered_late and d.met_at <= d.at:
                stops.append(f"{d.label} {format_instant(d.at)}: the step was {d.entered_late}{deviation}")
                continue
            stops.append(f"{d.label} {format_instant(d.at)} was passed: the step happened at {format_instant(d.met_at)} ({d.basis}){overridden}{deviation}")
        else:
            stops.append(f"{d.label} {format_instant(d.at)} has passed ({d.basis})")
    return stops


def parse_instant(text: str, field: str) -> datetime:
    """ISO 8601 with a UTC offset ('Z' or '+01:00') -> an aware UTC datetime (domain/instants.py).

    A time without an offset is refused rather than guessed: the same wall-clock time exists
    twice on a daylight-saving night, and a workstation's zone may not be the ward's. Callers
    that can show warnings use instants.read_instant for the site-clock check too.
    """
    from .instants import parse_iso_instant

    parsed = parse_iso_instant(text, field)
    check_calendar_year(field, parsed)
    return parsed.astimezone(timezone.utc)


def reconstituted_room_time(events: Sequence[Event], now: datetime) -> timedelta:
    """How long the reconstituted solution stood at room temperature: from reconstitution (or out
    of the refrigerator) until it went into the refrigerator or was diluted (or `now`)."""
    line = Timeline.of(events)
    if line.reconstituted is None:
        return timedelta(0)
    until = line.diluted or now
    first_stop = min(t for t in (line.reconstituted_fridge_first_in, until) if t is not None)
    total = max(first_stop - line.reconstituted, timedelta(0))
    if line.reconstituted_fridge_out is not None and not line.reconstituted_in_fridge:
        total += max(until - line.reconstituted_fridge_out, timedelta(0))
    return total


def reconstituted_room_warning(events: Sequence[Event], now: datetime, allowance: timedelta) -> str | None:
    """A warning when the reconstituted solution stood at room temperature longer than the site allows.

    The label: use the reconstituted solution at once or keep it at 2-8 °C; a short allowance
    (site policy) covers drawing the dose. Not a hard stop: the 4 h dilution limit still governs.
    """
    stood = reconstituted_room_time(events, now)
    if stood <= allowance:
        return None
    line = Timeline.of(events)
    advice = "" if line.diluted is not None else ": dilute now or refrigerate the vials (2-8 °C)"
    minutes = int(stood.total_seconds() // 60)
    return f"the reconstituted solution stood at room temperature for {minutes} min, longer than the site's {duration_text(allowance)} allowance{advice}"
