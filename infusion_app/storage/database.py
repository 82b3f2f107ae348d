"""Opening the database: where it lives, how SQLite is set up, and migrations at start.

- Default: an SQLite file `infusion-prep.sqlite3` in the user data folder (platformdirs), or in
  `data_dir` when given; `database` (any SQLAlchemy URL) overrides both.
- SQLite runs in WAL mode with synchronous=FULL (a committed transaction is on disk before the
  commit returns) and foreign keys on; the file is created readable and writable by its owner only.
- Alembic migrates an SQLite file to the newest schema at start. Before a migration touches an
  existing file, a copy goes to `<data dir>/backups/`. A database stamped with a revision this
  version does not know (written by a newer version) is refused and left untouched.
- A shared server database (PostgreSQL, `postgresql+psycopg://...`) is never migrated by a
  workstation at start: IT runs `infusion-prep db upgrade` once (upgrade_database, after a
  pg_dump); a station finding an older or a newer schema refuses to open it, naming both revisions.
- On a server, a write that loses a race (serialization failure, deadlock, a unique value taken
  by a concurrent twin) is retried a bounded number of times (repository.retried).
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import stat
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError

from ..domain.errors import DataFileError

from .first_look import APP_NAME, DB_FILENAME, SQLITE_HEADER, TESTING_ENV, default_folder, read_only_uri

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class StorageError(DataFileError):
    """The database cannot be used; the message says why and what to do.

    A DataFileError, so that every subcommand reports it as one line with exit code 3.
    """


class NewerDatabaseError(StorageError):
    """The database was written by a newer version of the program."""


class SchemaBehindError(StorageError):
    """A shared database whose schema is older than this program's: IT must run `db upgrade`."""


# The workstation every audit entry and event records: the site's station name (site
# configuration or this variable), else the host name.
STATION_ENV = "INFUSION_PREP_STATION"
STATION_MAX = 80
_STATIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def station_problem(name: str) -> str | None:
    """Why a station name cannot be recorded, or None. It goes into every event, every audit entry
    and the audit CSV: a control character or a 5,000-character name must not get there, nor be
    cut silently."""
    if any(not ch.isprintable() for ch in name):
        return "holds control characters"
    if len(" ".join(name.split())) > STATION_MAX:
        return f"is {len(name)} characters long, at most {STATION_MAX}"
    if not name.strip():
        return "is empty"
    return None


def station_name(given: str | None = None, source: str = "station") -> str:
    """The name recorded; `given` (from `source`, named in the message) or INFUSION_PREP_STATION
    is refused when unusable (ValidationError), the host name is only tidied."""
    from ..domain.errors import ValidationError

    if not given and os.environ.get(STATION_ENV):
        given, source = os.environ[STATION_ENV], STATION_ENV
    if given:
        problem = station_problem(given)
        if problem is not None:
            raise ValidationError(source, f"the station name {problem}; give a plain name, e.g. {STATION_ENV}=bench-1")
        return " ".join(given.split())
    name = socket.gethostname() or "unknown"
    return " ".join("".join(ch if ch.isprintable() else " " for ch in name).split())[:STATION_MAX] or "unknown"


def station_of(engine: Engine) -> str:
    return _STATIONS.get(engine, "")


# The desktop program's watch on a shared database (service.watch_connection): told of every
# answer and every lost connection, it refuses writes while the server is known to be gone.
_GATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attach_gate(engine: Engine, gate) -> None:
    """`gate`: check() raises before a write while the connection is lost; answered(); lost(reason) -> the exception to raise."""
    _GATES[engine] = gate


def gate_of(engine: Engine):
    return _GATES.get(engine)


def is_shared_url(url: str) -> bool:
    """A server database several workstations use at once (anything but an SQLite file)."""
    return make_url(url).get_backend_name() != "sqlite"


@dataclass(frozen=True)
class Location:
    url: str
    path: Path | None  # the SQLite file, when the database is one
    data_dir: Path | None  # where backups go

    @property
    def where(self) -> str:
        """For messages: the file, or the URL without its password."""
        return str(self.path) if self.path is not None else make_url(self.url).render_as_string(hide_password=True)

    @property
    def backups_dir(self) -> Path | None:
        if self.data_dir is not None:
            return self.data_dir / "backups"
        return self.path.parent / "backups" if self.path is not None else None


@dataclass(frozen=True)
class MigrationResult:
    from_revision: str | None
    to_revision: str | None
    backup: Path | None


def default_data_dir() -> Path:
    if os.environ.get(TESTING_ENV):
        raise StorageError(f"{TESTING_ENV} is set: pass a data folder (tmp_path) instead of the real user data folder")
    return default_folder()


def _checked_path_text(text: str | os.PathLike, option: str) -> Path:
    """A folder or database file name as typed, refused as input (exit 2) before the OS sees it:
    an over-long component or an unencodable name would otherwise end in a traceback."""
    from ..domain.errors import ValidationError
    from .safe_files import NAME_MAX_BYTES, path_text_problem

    raw = os.fspath(text)
    problem = path_text_problem(raw) if isinstance(raw, str) else None
    if problem is not None:
        kind, size = problem
        example = "--data-dir /srv/infusion-prep" if option == "data dir" else "sqlite:////srv/infusion-prep/infusion-prep.sqlite3"
        raise ValidationError(
            option,
            {
                "empty": f"is empty; give a folder, e.g. {example}",
                "control": f"holds control characters or bytes that are not text; give a plain path, e.g. {example}",
                "unencodable": f"cannot be encoded for this system; give a plain path, e.g. {example}",
                "long": f"a part of the path is {size} bytes long, at most {NAME_MAX_BYTES}; e.g. {example}",
            }[kind],
        )
    return Path(raw)


def resolve_location(data_dir: str | os.PathLike | None = None, database: str | None = None) -> Location:
    if data_dir is not None:
        _checked_path_text(data_dir, "data dir")
    if database:
        try:
            url = make_url(database)
        except Exception as exc:  # sqlalchemy raises ArgumentError with a long text
            raise StorageError(f"--database: '{database}' is not a database URL (e.g. sqlite:////path/to/file.sqlite3)") from exc
        path = None
        if url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:") or "mode=memory" in str(url)):
            # An in-memory database forgets every preparation when the program ends.
            raise StorageError(f"--database: '{database}' is an in-memory database, which keeps nothing; give a file (sqlite:////path/to/file.sqlite3)")
        if url.get_backend_name() == "sqlite" and (str(url.database or "").lower().startswith("file:") or any(key.lower() == "uri" for key in url.query)):
            # SQLite's URI form names the file (or memory, or a device) in a way no check here
            # reads: a device or FIFO got opened read-write, ':memory:' kept nothing.
            raise StorageError(
                f"--database: '{database}' is an SQLite URI (file: or uri=true), which is not accepted; "
                "give --data-dir DIR or a file, e.g. sqlite:////srv/infusion-prep/infusion-prep.sqlite3"
            )
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            path = _checked_path_text(url.database, "database").expanduser().resolve()
        folder = Path(data_dir).expanduser().resolve() if data_dir else (path.parent if path else None)
        return Location(url.render_as_string(hide_password=False), path, folder)
    folder = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()
    path = folder / DB_FILENAME
    return Location(f"sqlite:///{path}", path, folder)


def _owner_only_folder(folder: Path) -> None:
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    elif not folder.is_dir():
        raise StorageError(f"{folder} is not a folder; give a folder for the database")


def refuse_special_file(path: Path, what: str = "database") -> None:
    """A device, FIFO, socket or folder named as the database is refused before anything opens it.

    Run as root, the owner-only fix once set /dev/zero and /dev/null to mode 0600.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"cannot examine the {what} at {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        from .safe_files import file_kind

        raise StorageError(f"{path} is {file_kind(info.st_mode)}, not a regular file; nothing was changed: give a database file or folder")


def _owner_only_file(path: Path) -> None:
    """Create the file 0600 before SQLite does (SQLite gives its -wal/-shm files the same mode).

    An existing file is tightened only when it is a regular file of this account, through a
    descriptor opened without following links: never a device, a link or somebody else's file.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            fd = os.open(candidate, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
            if stat.S_ISREG(info.st_mode) and mine and info.st_mode & 0o077:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN, not the driver (pysqlite's own handling
        # defers BEGIN and cannot take the write lock up front).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Writers take the write lock at BEGIN, so a read-check-write sequence (the next audit
        # hash, the next event number) cannot interleave with another process's.
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(location: Location) -> Engine:
    if location.path is not None:
        _owner_only_folder(location.path.parent)
        _owner_only_file(location.path)
    url = make_url(location.url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(location.url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
    else:
        # READ COMMITTED (the server's default): writers serialise on the rows they lock (the
        # audit head FOR UPDATE, the preparation being stepped); the losers of a race are retried.
        # A server that goes away must be noticed in seconds, not at TCP's two hours: connecting
        # gives up after 5 s, and an idle connection is probed (libpq keepalives; a sent write
        # unacknowledged for 15 s fails). The URL's own values win.
        engine = create_engine(
            location.url,
            pool_pre_ping=True,
            pool_size=2,
            max_overflow=4,
            connect_args={
                "application_name": APP_NAME,
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "tcp_user_timeout": 15000,
                **{k: v for k, v in url.query.items() if isinstance(v, str)},
            },
        )
    return engine


def _alembic_config(connection=None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


_REVISION_LINE = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:"([^"]*)"|'([^']*)'|None)\s*$""", re.MULTILINE)


def _revision_graph() -> tuple[frozenset[str], str | None] | None:
    """(every revision, the one head) read as text from the migration files; None if unclear.

    Alembic's import and its script directory cost about a fifth of every start; a database
    already at the head needs neither. Anything this plain reading cannot settle (a revision
    written another way, two heads, a merge) is left to Alembic.
    """
    revisions: dict[str, str | None] = {}
    for script in sorted((MIGRATIONS / "versions").glob("*.py")):
        if script.name.startswith("_"):  # __init__.py: Alembic skips it too
            continue
        found = {match[1]: match[2] or match[3] or None for match in _REVISION_LINE.finditer(script.read_text(encoding="utf-8"))}
        if not found.get("revision") or "down_revision" not in found:
            return None
        revisions[found["revision"]] = found["down_revision"]
    parents = set(revisions.values())
    heads = [revision for revision in revisions if revision not in parents]
    if len(heads) != 1 or not parents - {None} <= set(revisions):
        return None
    return frozenset(revisions), heads[0]


def _alembic_revisions() -> tuple[set[str], str | None]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    return {rev.revision for rev in script.walk_revisions()}, script.get_current_head()


def known_revisions() -> tuple[set[str], str | None]:
    graph = _revision_graph()
    if graph is None:
        return _alembic_revisions()
    return set(graph[0]), graph[1]


def current_revisions(engine: Engine) -> tuple[set[str], bool]:
    """(the revisions stamped in the database, whether it holds any table at all).

    Read with plain SQL (the alembic_version table Alembic keeps), so that opening a database
    that needs no migration never imports Alembic.
    """
    with engine.connect() as connection:
        found = current_revisions_on(connection)
        connection.rollback()
    return found


def current_revisions_on(connection) -> tuple[set[str], bool]:
    tables = _table_names(connection)
    heads: set[str] = set()
    if "alembic_version" in tables:
        heads = {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
    return heads, bool(tables - {"alembic_version"})


# The tables SQLAlchemy's inspector lists (get_table_names, no schema given), in one catalogue
# query: its reflection was about 12 ms of every station's open on PostgreSQL, and every command
# opens the database. On PostgreSQL that is every table visible on the search path, not only the
# first schema's (an empty schema named after the role, PostgreSQL's "$user", would otherwise
# hide the program's tables in public), and no temporary table.
_TABLE_NAMES_SQL = {
    "postgresql": "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND pg_catalog.pg_table_is_visible(c.oid) AND n.nspname <> 'pg_catalog'",
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~'",
}


def _table_names(connection) -> set[str]:
    query = _TABLE_NAMES_SQL.get(connection.dialect.name)
    if query is None:
        return set(inspect(connection).get_table_names())
    return {row[0] for row in connection.execute(text(query))}


def backup_sqlite(location: Location, label: str, now: datetime | None = None) -> Path:
    """A consistent copy (SQLite's online backup, WAL included) in the backups folder, 0600.

    A copy that cannot be completed (disk full, folder read-only) is removed and the failure is a
    StorageError: no 0-byte or partial backup is left to be mistaken for a good one.
    """
    assert location.path is not None and location.backups_dir is not None
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = location.backups_dir
    target = folder / f"{location.path.stem}-{stamp}-{label}.sqlite3"
    try:
        _owner_only_folder(folder)
        _owner_only_file(target)
        source = sqlite3.connect(str(location.path))
        try:
            destination = sqlite3.connect(str(target))
            try:
                source.backup(destination)
                destination.execute("PRAGMA integrity_check").fetchone()
            finally:
                destination.close()
        finally:
            source.close()
    except (OSError, sqlite3.Error) as exc:
        for leftover in (target, Path(f"{target}-journal"), Path(f"{target}-wal"), Path(f"{target}-shm")):
            try:
                leftover.unlink()
            except OSError:
                pass
        reason = getattr(exc, "strerror", None) or str(exc)
        raise StorageError(
            f"cannot back up the database to {folder} before updating it ({reason}); nothing was migrated: free some disk space and start again"
        ) from exc
    return target


def migrate(engine: Engine, location: Location, now: datetime | None = None, peeked: tuple[set[str], bool] | None = None) -> MigrationResult:
    """`peeked`: the SQLite file's stamped revisions, read by _peek_sqlite under the first-run lock
    just before; a file at the head is then not read a second time (through SQLAlchemy's inspector,
    the costlier read). Anything else is read again here before a migration is decided."""
    _known, head = known_revisions()
    if peeked is not None and peeked[0] == {head}:
        return MigrationResult(head, head, None)
    try:
        stamped, has_tables = current_revisions(engine)
    except (DatabaseError, OperationalError) as exc:
        raise StorageError(f"cannot read the database at {location.where}: {_reason(exc)}") from exc
    refuse_unknown(stamped, has_tables, location.where)
    if len(stamped) > 1:
        raise StorageError(
            f"the database at {location.where} names {len(stamped)} schema revisions at once "
            f"({', '.join(sorted(stamped))}; edited?); nothing was changed: restore a backup from its backups folder"
        )
    from_revision = next(iter(stamped)) if len(stamped) == 1 else (",".join(sorted(stamped)) or None)
    if stamped == {head}:
        return MigrationResult(from_revision, head, None)
    backup = None
    if has_tables and location.path is not None:
        backup = backup_sqlite(location, f"before-{head}-from-{from_revision}", now)
    from alembic import command  # only now: a database at the head never loads Alembic

    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Two `db upgrade` runs at once: the second waits, then finds the schema at head.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7140014)")
                if current_revisions_on(connection)[0] == {head}:
                    return MigrationResult(from_revision, head, None)
            command.upgrade(_alembic_config(connection), "head")
    except (DatabaseError, OperationalError) as exc:
        # Two programs opening a new database at once: the loser finds it locked or already
        # built. Built to head by the other is success; anything else is a one-line failure.
        try:
            if current_revisions(engine)[0] == {head}:
                return MigrationResult(from_revision, head, backup)
        except (DatabaseError, OperationalError):
            pass
        raise StorageError(f"cannot update the database at {location.where}: {_reason(exc)}") from exc
    return MigrationResult(from_revision, head, backup)


def _peek_sqlite(path: Path) -> tuple[set[str], bool]:
    """Read the stamped revision before anything can write (no pragma, read-only).

    With no write-ahead log pending, the file is opened as immutable so that not even the
    shared-memory and log files are created beside a database we may refuse.
    """
    if not path.exists() or path.stat().st_size == 0:
        return set(), False
    # SQLite takes a file shorter than its header for an empty database and writes over it:
    # a text file named by mistake would be destroyed.
    try:
        with path.open("rb") as stream:
            header = stream.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StorageError(f"cannot open the database at {path}: {exc.strerror}") from exc
    if header != SQLITE_HEADER:
        raise StorageError(
            f"{path} is not a readable SQLite database (no SQLite header); nothing was changed: "
            "give another file or folder, or restore a backup from its backups folder"
        )
    try:
        connection = sqlite3.connect(read_only_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the database at {path}: {exc}") from exc
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        stamped: set[str] = set()
        if "alembic_version" in tables:
            stamped = {row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}
        return stamped, bool(tables - {"alembic_version"})
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path} is not a readable SQLite database ({exc}); restore a backup from its backups folder") from exc
    finally:
        connection.close()


def refuse_unknown(stamped: set[str], has_tables: bool, where: object) -> None:
    """A newer version's database, or somebody else's, is refused before anything touches it."""
    if has_tables and not stamped:
        raise StorageError(f"{where} holds tables but no schema revision: it is not an infusion-prep database")
    known, head = known_revisions()
    unknown = stamped - known
    if unknown:
        raise NewerDatabaseError(
            # Both revisions first: a long server URL at the end is what a one-line message cuts.
            f"the database's schema is {', '.join(sorted(unknown))}, from a newer version (this one knows up to "
            f"{head}) and will not be opened or changed. Use the newer version, or restore a backup from its backups folder ({where})"
        )


def site_configured(data_dir, database: str | None, station: str | None = None) -> tuple[str | None, str | None]:
    """(database URL, station name) with the site configuration file filling what was not given
    (storage/site_config.py): its database only when neither a folder nor a URL was given."""
    from .site_config import SiteConfigError, load_site_config

    try:
        config = load_site_config()
    except SiteConfigError as exc:
        raise StorageError(str(exc)) from None
    if database is None and data_dir is None:
        database = config.get("database")
    if not station and not os.environ.get(STATION_ENV):
        station = config.get("station")
    return database, station


def open_database(
    data_dir: str | os.PathLike | None = None, database: str | None = None, now: datetime | None = None, station: str | None = None
) -> tuple[Engine, Location, MigrationResult]:
    database, station = site_configured(data_dir, database, station)
    name = station_name(station)  # refused before anything is created or migrated
    engine, location, result = _open_database(data_dir, database, now)
    _STATIONS[engine] = name
    return engine, location, result


def _open_database(data_dir: str | os.PathLike | None, database: str | None, now: datetime | None) -> tuple[Engine, Location, MigrationResult]:
    location = resolve_location(data_dir, database)
    if location.data_dir is not None and location.data_dir.exists() and not location.data_dir.is_dir():
        raise StorageError(f"{location.data_dir} is not a folder; give a folder for the database")
    if location.path is not None:
        for candidate in (location.path, Path(f"{location.path}-wal"), Path(f"{location.path}-shm")):
            refuse_special_file(candidate)
    with _first_run_lock(location):
        peeked = None
        if location.path is not None:
            peeked = _peek_sqlite(location.path)
            refuse_unknown(*peeked, location.path)
        return _open_locked(location, now, peeked)


@contextmanager
def _first_run_lock(location: Location, wait_seconds: float = 60.0):
    """Programs opening one new SQLite database at once take turns to create and migrate it.

    SQLite's busy timeout does not cover switching a new file to WAL, so the losers of a
    first-run race failed with "database is locked". An advisory lock on the folder (no extra
    file) makes them wait for the winner instead; they then find the schema at head.
    """
    if location.path is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: SQLite's own locking only
        yield
        return
    folder = location.path.parent
    try:
        _owner_only_folder(folder)
    except OSError as exc:
        raise StorageError(f"cannot create the folder {folder}: {exc.strerror}") from exc
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StorageError(f"another program has been setting up the database at {location.path} for {wait_seconds:.0f} s; try again") from None
                time.sleep(0.05)
            except OSError:
                break  # a file system without locks: SQLite's own locking only
        yield
    finally:
        os.close(descriptor)  # releases the lock


def check_shared_schema(engine: Engine, location: Location) -> MigrationResult:
    """A station opening a shared database: at this program's schema, or refused (never migrated here)."""
    _known, head = known_revisions()
    try:
        stamped, has_tables = current_revisions(engine)
    except (DatabaseError, OperationalError) as exc:
        raise StorageError(f"cannot read the database at {location.where}: {_reason(exc)}") from exc
    refuse_unknown(stamped, has_tables, location.where)
    if stamped != {head}:
        current = ", ".join(sorted(stamped)) or "none (an empty database)"
        raise SchemaBehindError(
            f"the shared database has schema revision {current}; this version of infusion-prep needs {head}. "
            "A workstation never changes a shared schema: IT runs 'infusion-prep db upgrade --database URL' once, after a backup (pg_dump) "
            f"({location.where})"
        )
    return MigrationResult(head, head, None)


def _reason(exc: Exception) -> str:
    """The driver's own message, on one line, with what to do about a refused TLS certificate."""
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
    if "certificate verify failed" in reason:
        reason += (
            "; the server's certificate is not signed by the CA this station trusts (sslrootcert= in the database URL): "
            "give the site's CA certificate, never sslmode=require, and ask IT"
        )
    elif "does not match host name" in reason:
        reason += "; the database URL must name the server as its certificate does (sslmode=verify-full checks it): ask IT"
    return reason


def upgrade_database(data_dir: str | os.PathLike | None = None, database: str | None = None, now: datetime | None = None) -> tuple[Location, MigrationResult]:
    """`infusion-prep db upgrade`: migrate the database to this program's schema (a shared one too)."""
    database, _station = site_configured(data_dir, database)
    location = resolve_location(data_dir, database)
    if location.path is not None:
        for candidate in (location.path, Path(f"{location.path}-wal"), Path(f"{location.path}-shm")):
            refuse_special_file(candidate)
        with _first_run_lock(location):
            refuse_unknown(*_peek_sqlite(location.path), location.path)
            engine, location, result = _open_locked(location, now)
            engine.dispose()
            return location, result
    engine = _engine_for(location)
    try:
        return location, migrate(engine, location, now)
    finally:
        engine.dispose()


def _engine_for(location: Location) -> Engine:
    try:
        return make_engine(location)
    except OSError as exc:
        raise StorageError(f"cannot create the database at {location.path}: {exc.strerror}") from exc
    except (ImportError, ArgumentError) as exc:  # a URL whose driver is not installed, or malformed
        raise StorageError(f"cannot use the database {location.where}: {exc}") from exc


def _open_locked(location: Location, now: datetime | None, peeked: tuple[set[str], bool] | None = None) -> tuple[Engine, Location, MigrationResult]:
    engine = _engine_for(location)
    try:
        result = (
            migrate(engine, location, now, peeked) if location.path is not None or not is_shared_url(location.url) else check_shared_schema(engine, location)
        )
        _seal(engine, location)
    except BaseException:
        engine.dispose()
        raise
    return engine, location, result


def _seal(engine: Engine, location: Location) -> None:
    """Open (at first run: create) the audit chain's site secret and anchor log."""
    from sqlalchemy import text

    from .audit_seal import SealError, attach, open_seal

    site_dir = location.data_dir
    if site_dir is None:
        try:
            site_dir = default_data_dir()
        except StorageError:
            site_dir = None
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
            connection.rollback()
    except (DatabaseError, OperationalError) as exc:
        raise StorageError(f"cannot read the database at {location.where}: {_reason(exc)}") from exc
    shared = location.path is None and is_shared_url(location.url)
    if shared and row is not None and int(row[0]) > 0:
        from .audit_seal import seal_paths

        paths = seal_paths(site_dir)
        if paths is not None and not paths[0].exists():
            # A new key here would chain this station's entries under a secret no other station
            # has, and every other station's verify would report them as altered.
            raise StorageError(
                f"this station has no audit key ({paths[0]}) and the shared database already holds {int(row[0])} audit entries: "
                "copy audit.key from a working station (owner-only) or set INFUSION_PREP_AUDIT_KEY_FILE; nothing was written"
            )
        if paths is not None and paths[0].exists() and not paths[1].exists():
            _start_station_anchor_log(paths[1], int(row[0]), str(row[1]))
    if not shared and row is not None and int(row[0]) > 0:
        _refuse_a_lost_key(engine, site_dir, int(row[0]))
    try:
        seal = open_seal(site_dir, (int(row[0]), str(row[1])) if row else None)
    except (SealError, OSError) as exc:
        raise StorageError(str(exc)) from exc
    if shared and seal is not None and row is not None and int(row[0]) > 0 and seal.is_keyed(int(row[0])):
        seal.write_refusal = _another_key(engine, seal)
    attach(engine, seal)


def _refuse_a_lost_key(engine: Engine, site_dir: Path | None, count: int) -> None:
    """A deleted audit.key must not be silently replaced: a new one would sign every later entry
    with a secret no backup holds. Only a log an older version wrote (unkeyed, no anchor log)
    gets a new key; a log whose newest entry was signed, or that has an anchor log, is refused."""
    from .audit import entry_hash
    from .audit_seal import seal_paths

    paths = seal_paths(site_dir)
    if paths is None or os.path.lexists(paths[0]):
        return
    signed = os.path.lexists(paths[1])
    if not signed:
        with engine.connect() as connection:
            newest = connection.execute(
                text("SELECT seq, at, actor, action, subject, before_json, after_json, prev_hash, hash, station FROM audit_log WHERE seq = :seq"),
                {"seq": count},
            ).first()
            connection.rollback()
        if newest is not None:
            seq, at, actor, action, subject, before, after, previous, digest, station = newest
            signed = entry_hash(previous, seq, at, actor, action, subject, before, after, None, station or "") != digest
    if signed:
        raise StorageError(
            f"the audit key {paths[0]} is missing and the audit log already holds {count} entries signed with it: "
            "restore audit.key from the site's key backup (owner-only) or set INFUSION_PREP_AUDIT_KEY_FILE; nothing was written"
        )


def _start_station_anchor_log(path: Path, count: int, head: str) -> None:
    """A station joining a shared database with the site's key starts its own anchor log at the
    current head (each station anchors what it sees; the others' logs still catch a truncation)."""
    import json

    from .audit_seal import _append_line

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _append_line(path, json.dumps({"keyed_from": 1}, separators=(",", ":")) + "\n")
        _append_line(
            path,
            json.dumps({"count": count, "head": head, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}, separators=(",", ":")) + "\n",
            create=False,
        )
    except OSError as exc:
        raise StorageError(f"cannot start the anchor log {path}: {exc.strerror or exc}") from exc


def _another_key(engine: Engine, seal) -> str | None:
    """Why this station must not write: the shared database's entries do not verify under its
    key. Neither the newest nor the first keyed entry verifying is another key (said so, with the
    key's id for IT to compare); only the newest failing is an altered entry. None: it verifies."""
    from sqlalchemy import text

    from .audit import entry_hash, wrong_key_text

    columns = "seq, at, actor, action, subject, before_json, after_json, prev_hash, hash, station"
    with engine.connect() as connection:
        last = connection.execute(text(f"SELECT {columns} FROM audit_log ORDER BY seq DESC LIMIT 1")).first()
        first = connection.execute(text(f"SELECT {columns} FROM audit_log WHERE seq >= :keyed ORDER BY seq LIMIT 1"), {"keyed": seal.keyed_from}).first()
        connection.rollback()
    if last is None:
        return None  # the head names entries the log lacks: audit verify reports it

    def verifies(row) -> bool:
        seq, at, actor, action, subject, before, after, previous, digest, station = row
        return entry_hash(previous, seq, at, actor, action, subject, before, after, seal.key, station or "") == digest

    if verifies(last):
        return None
    if first is None or not verifies(first):
        return wrong_key_text(seal) + "; nothing was written"
    return (
        f"the shared database's newest audit entry ({last[0]}) does not verify under this station's key (key id {seal.key_id}), "
        "though its first entries do: it was altered; run audit verify and call IT; nothing was written"
    )


def application_role_sql(role: str) -> list[str]:
    """The grants of the least-privilege role stations connect as (README, For IT).

    Run by the owner after `db upgrade` (and again after each upgrade, for new tables): the role
    reads and writes the data tables, appends to the audit log but can never change or delete an
    entry (no UPDATE, DELETE or TRUNCATE on it; the trigger refuses them even to the owner), and
    cannot change the schema (no CREATE, not the owner of any table).
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        from ..domain.errors import ValidationError

        raise ValidationError("role", f"'{role}' is not a plain role name; use lower-case letters, digits and _, e.g. infusion_app")
    return [
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ]
