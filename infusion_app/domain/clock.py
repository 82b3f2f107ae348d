"""The injected clock. Every 'now' in the program comes from a Clock, so tests never sleep."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FakeClock:
    """A clock for tests: starts at a given instant and moves only when told."""

    def __init__(self, start: datetime | None = None):
        start = start or datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to any instant, backwards too (for clock-jump tests)."""
        if instant.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = instant.astimezone(timezone.utc)


class MonotonicClock:
    """Wraps a clock so that 'now' never goes backwards.

    If the wall clock is set back (NTP step, a user changing the time), an expired deadline must
    not become 'ok' again: this clock keeps answering the latest instant it has seen until the
    wall clock passes it. `floor` lets a caller seed it with the latest stored event instant.
    """

    def __init__(self, inner: Clock, floor: datetime | None = None):
        self._inner = inner
        self._latest = floor
        self._lock = threading.Lock()

    def raise_floor(self, instant: datetime) -> None:
        with self._lock:
            if self._latest is None or instant > self._latest:
                self._latest = instant

    @property
    def jumped_back(self) -> bool:
        """True while the wall clock is behind an instant already seen."""
        return self._latest is not None and self._inner.now() < self._latest

    def now(self) -> datetime:
        current = self._inner.now()
        with self._lock:
            if self._latest is None or current > self._latest:
                self._latest = current
            return self._latest
