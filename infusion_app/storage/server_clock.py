"""One clock for the whole site: the database server's.

On a shared (PostgreSQL) database every instant a station records comes from the server's
clock, so a workstation whose own clock is fast or slow neither stamps events in the future nor
drags the others' countdowns (their floor follows stored instants).

Why not `now()` inside each writing transaction: the instant of a step is needed before the
transaction, by the domain, which checks it against the deadlines (a step at 08:00:59 may be
allowed where one at 08:01:01 is refused) and writes it into the event and its audit entry, which
are hashed before the insert. So the server's time is read with `SELECT clock_timestamp()` when the
database is opened and again every REFRESH_SECONDS (30 s), and between readings it is

    server time at the last reading + the time elapsed since, on this machine's MONOTONIC clock.

The workstation's wall clock takes no part in it: an NTP step or a person setting the time moves
neither the instants stamped here nor, through them, the other stations' countdowns. The error of
an instant is bounded by the reading's own uncertainty, half its round trip (`uncertainty`), plus
the drift of the monotonic clock since (quartz: under 100 ppm, 3 ms in 30 s). A reading whose round
trip exceeds MAX_ROUND_TRIP is not trusted and the previous one is kept. The wall clock is still
compared with the server at each reading: that offset is this workstation's clock skew, which the
board and the command line report when it exceeds the site's tolerance (default 60 s).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, text

REFRESH_SECONDS = 30.0
# A reading slower than this (a loaded server, a congested link) says little about the time.
MAX_ROUND_TRIP = timedelta(seconds=2)


class ServerClock:
    def __init__(self, engine: Engine, wall=None, monotonic=time.monotonic, refresh_seconds: float = REFRESH_SECONDS):
        from ..domain.clock import SystemClock

        self._engine = engine
        self._wall = wall or SystemClock()
        self._monotonic = monotonic
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self.offset = timedelta(0)  # server minus this workstation's wall clock: its skew
        self.uncertainty = timedelta(0)  # half the round trip of the reading in use
        self.last_error: str | None = None  # the last failed reading (the one before it is kept)
        self.readings = 0  # successful readings so far: the skew warning is recomputed at each
        self._server_at: datetime | None = None  # the server's time at the reading in use,
        self._read_at: float | None = None  # and this machine's monotonic time then
        self._tried_at: float | None = None
        self.measure()

    def measure(self) -> timedelta:
        started = self._monotonic()
        local_before = self._wall.now()
        try:
            with self._engine.connect() as connection:
                server = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
                connection.rollback()
        except Exception as exc:  # the server unreachable: keep the last reading, say so
            self.last_error = " ".join(str(getattr(exc, "orig", exc)).split())
            with self._lock:
                self._tried_at = self._monotonic()
            return self.offset
        finished = self._monotonic()
        half_trip = timedelta(seconds=(finished - started) / 2)
        if server.tzinfo is None:
            server = server.replace(tzinfo=timezone.utc)
        server = server.astimezone(timezone.utc)
        with self._lock:
            self._tried_at = finished
            if 2 * half_trip > MAX_ROUND_TRIP and self._server_at is not None:
                return self.offset
            # The server read its clock somewhere within the round trip: its middle, +- half.
            self._server_at, self._read_at = server + half_trip, finished
            self.uncertainty = half_trip
            self.offset = server - (local_before + half_trip)
            self.readings += 1
        self.last_error = None
        return self.offset

    def now(self) -> datetime:
        if self._tried_at is None or self._monotonic() - self._tried_at >= self._refresh:
            self.measure()
        with self._lock:
            if self._server_at is None or self._read_at is None:  # never reached the server
                return self._wall.now() + self.offset
            return self._server_at + timedelta(seconds=self._monotonic() - self._read_at)
