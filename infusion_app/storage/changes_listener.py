"""Live updates from a shared (PostgreSQL) database: a station hears that another one committed.

Every insert into the audit log notifies the channel below (migration 0006_stations), at commit.
A ChangeListener holds one dedicated autocommit connection that LISTENs; its socket (`fileno()`)
is what the desktop program watches (a QSocketNotifier), so a step recorded at the bench reaches
the chair's board as soon as it is committed, without polling. `drain()` reads what arrived and
says whether anything did; the reader then asks the change feed (service.changes_since) what
changed, as it does on SQLite at each tick. A lost connection is reported by `drain()` raising
StorageError; `reconnect()` opens a new one.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from .database import StorageError

CHANNEL = "infusion_prep_changes"


class ChangeListener:
    def __init__(self, engine: Engine):
        if engine.dialect.name != "postgresql":
            raise ValueError("live notifications need a PostgreSQL database; SQLite readers poll the change feed")
        self._url = engine.url
        self._connection = None
        self.reconnect()

    def reconnect(self) -> None:
        import psycopg

        self.close()
        url = make_url(self._url)
        params = {
            "dbname": url.database,
            "user": url.username,
            "password": url.password,
            "host": url.host,
            "port": url.port,
            **{k: v for k, v in url.query.items() if isinstance(v, str)},
        }
        try:
            self._connection = psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True)
            self._connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            self._connection = None
            raise StorageError(f"cannot listen for other stations' changes: {' '.join(str(exc).split())}") from exc

    def fileno(self) -> int:
        if self._connection is None:
            raise StorageError("not listening: the connection is closed")
        return self._connection.pgconn.socket

    def drain(self, timeout: float = 0.0) -> bool:
        """True when at least one notification arrived (waiting up to `timeout` seconds for one)."""
        import psycopg

        if self._connection is None:
            raise StorageError("not listening: the connection is closed")
        try:
            arrived = list(self._connection.notifies(timeout=timeout, stop_after=1)) if timeout else []
            arrived += list(self._connection.notifies(timeout=0))  # and whatever else is already there
        except psycopg.Error as exc:
            raise StorageError(f"lost the connection that hears other stations' changes: {' '.join(str(exc).split())}") from exc
        return bool(arrived)

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None
