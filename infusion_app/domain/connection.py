"""Whether this station is live on the shared database, decided here and only shown by screens.

A station that loses the database server says so at once, keeps showing the last deadlines it
read (they count down from their stored instants, which need no server), refuses every new step
with a message saying why (a step is never held back to be sent later: a person must know it was
not recorded) and tries again by itself, waiting longer after each failure (FIRST_RETRY doubling up
to MAX_RETRY) so that a hundred stations do not hammer a server that is coming back up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from .errors import DataFileError
from .formatting import format_instant
from .preparation import StepRefused

FIRST_RETRY = timedelta(seconds=1)
MAX_RETRY = timedelta(seconds=30)


@dataclass(frozen=True)
class ConnectionState:
    live: bool
    last_update: datetime | None = None  # the last instant the database answered this station
    lost_at: datetime | None = None  # when it stopped answering (None while live)
    reason: str = ""  # the driver's one line
    retry_at: datetime | None = None  # the next attempt to reconnect
    failures: int = 0  # attempts failed in a row

    def headline(self, tz: tzinfo | None = None) -> str:
        """The red line every screen shows while not live."""
        if self.live:
            return ""
        last = f"last update {format_instant(self.last_update, tz)}" if self.last_update else "no update read yet"
        return f"NOT LIVE — {last}"

    def details(self, now: datetime) -> str:
        if self.live:
            return ""
        retry = ""
        if self.retry_at is not None:
            seconds = max(0, round((self.retry_at - now).total_seconds()))
            retry = f" Reconnecting by itself (next try in {seconds} s)."
        return (
            f"The database server cannot be reached ({self.reason or 'no answer'}). The deadlines shown are the last "
            f"read, counting down from their stored times; steps recorded at other stations since are not shown. "
            f"No step can be recorded here until this clears: use another station or the paper downtime sheet.{retry}"
        )

    def refusal(self, tz: tzinfo | None = None) -> str:
        """Why a step is refused while not live: nothing stored, nothing queued."""
        since = f" since {format_instant(self.lost_at, tz)}" if self.lost_at else ""
        return (
            f"not recorded: this station has lost the database server{since} ({self.reason or 'no answer'}); "
            "nothing was stored or queued: record it when 'not live' clears, at another station, or on the paper downtime sheet"
        )


class ConnectionWatch:
    """Counts successes and failures and says when to try again; no I/O, time passed in."""

    def __init__(self) -> None:
        self._state = ConnectionState(live=True)

    @property
    def state(self) -> ConnectionState:
        return self._state

    def succeeded(self, now: datetime) -> bool:
        """The database answered. True when this ends a loss (the caller reloads everything)."""
        was_lost = not self._state.live
        self._state = ConnectionState(live=True, last_update=now)
        return was_lost

    def lost(self, reason: str, now: datetime) -> None:
        previous = self._state
        failures = previous.failures + 1
        wait = min(FIRST_RETRY * 2 ** min(failures - 1, 16), MAX_RETRY)
        self._state = ConnectionState(
            live=False,
            last_update=previous.last_update,
            lost_at=previous.lost_at if not previous.live and previous.lost_at else now,
            reason=" ".join(reason.split())[:300],
            retry_at=now + wait,
            failures=failures,
        )

    def retry_due(self, now: datetime) -> bool:
        state = self._state
        return state.live or state.retry_at is None or now >= state.retry_at


class NotLive(StepRefused, DataFileError):
    """A step refused because the station has lost the database: nothing was stored or queued.

    A refusal (every screen that shows a refused step shows this one) and a data problem (a
    command reports it in one line, exit 3)."""

    def __init__(self, message: str):
        StepRefused.__init__(self, "not-live", message)
