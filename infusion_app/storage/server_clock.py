"""One clock for the whole site: the database server's.

On a shared (PostgreSQL) database every instant a station records comes from the server's
clock, so a workstation whose own clock is fast or slow neither stamps events in the future nor
drags the others' countdowns (their floor follows stored instants). The server's time is read
with `SELECT clock_timestamp()` when the database is opened and again every REFRESH; between
reads it is this workstation's clock plus the offset measured (half the round trip corrected),
so a countdown repaint costs no round trip. The offset is the workstation's clock skew, which the
board and the command line report when it exceeds the site's tolerance (default 60 s).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, text

REFRESH_SECONDS = 30.0


class ServerClock:
    def __init__(self, engine: Engine, wall=None, monotonic=time.monotonic, refresh_seconds: float = REFRESH_SECONDS):
        from ..domain.clock import SystemClock

        self._engine = engine
        self._wall = wall or SystemClock()
        self._monotonic = monotonic
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self.offset = timedelta(0)  # server minus this workstation
        self.last_error: str | None = None  # the last failed reading (the offset before it is kept)
        self._measured_at: float | None = None
        self.measure()

    def measure(self) -> timedelta:
        started = self._monotonic()
        local_before = self._wall.now()
        try:
            with self._engine.connect() as connection:
                server = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
                connection.rollback()
        except Exception as exc:  # the server unreachable: keep the last offset, say so
            self.last_error = " ".join(str(getattr(exc, "orig", exc)).split())
            with self._lock:
                self._measured_at = self._monotonic()
            return self.offset
        elapsed = self._monotonic() - started
        if server.tzinfo is None:
            server = server.replace(tzinfo=timezone.utc)
        local = local_before + timedelta(seconds=elapsed / 2)
        with self._lock:
            self.offset = server.astimezone(timezone.utc) - local
            self._measured_at = self._monotonic()
        self.last_error = None
        return self.offset

    def now(self) -> datetime:
        if self._measured_at is None or self._monotonic() - self._measured_at >= self._refresh:
            self.measure()
        return self._wall.now() + self.offset
