"""Deadlines of one preparation, computed from stored event instants and the monograph.

Never from a running timer: a deadline is an instant (UTC) derived only from the instants of
recorded events plus monograph time limits. Its *state* depends on `now`; callers must pass a
`now` from a MonotonicClock so that a wall clock set backwards never turns an expired deadline
back into 'ok'. Daylight-saving changes cannot shift a deadline: the arithmetic is on UTC
instants, and local time appears only when an instant is formatted (formatting.format_instant).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from .monograph import Monograph
from .records import Event


class DeadlineState(str, Enum):
    OK = "ok"
    WARNING = "warning"  # within the warning lead time
    DUE = "due"  # the final minute before a hard deadline; or, for a not-before limit, the step may be done now
    EXPIRED = "expired"  # passed without the step (or the step happened too late)
    MET = "met"  # the step happened in time
    PENDING = "pending"  # a not-before limit (observe_until, warm_until) not yet reached
    EARLY = "early"  # a not-before limit whose step happened before it (only with an override)
    CLOSED = "closed"  # the preparation was discarded before this step: nothing left to do


@dataclass(frozen=True)
class Deadline:
    key: str
    label: str
    at: datetime
    state: DeadlineState
    met_at: datetime | None
    basis: str
    hard: bool  # True: a 'not after' limit whose passing is a hard stop; False: a 'not before' minimum


def compute_deadlines(
    events: Sequence[Event],
    monograph: Monograph,
    now: datetime,
    warning_lead: timedelta,
    infusion_duration: timedelta | None = None,
) -> list[Deadline]:
    """All deadlines that the recorded events define, with their state at `now`."""
    raise NotImplementedError


def next_deadline(deadlines: Sequence[Deadline]) -> Deadline | None:
    """The most urgent open deadline (for the board), or None."""
    raise NotImplementedError


def deadline_hard_stops(deadlines: Sequence[Deadline], now: datetime) -> list[str]:
    """One sentence per hard deadline passed without its step (or met too late)."""
    raise NotImplementedError


def parse_instant(text: str, field: str) -> datetime:
    """ISO 8601 with a UTC offset ('Z' or '+01:00') -> aware UTC datetime; ValidationError(field) otherwise."""
    raise NotImplementedError
