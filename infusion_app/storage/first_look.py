"""Which first window a start needs, read from the SQLite file alone (the standard library only).

The desktop program shows its sign-in (or first-run) window before it opens the database: opening
imports SQLAlchemy, builds the unit registry and, at a first run, migrates, which took most of the
time from launch to the first window (issue 19). This look reads nothing but two tables, read-only,
and writes nothing; what it cannot settle plainly it leaves to the real opening.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

try:
    # The C module alone: the sqlite3 package adds datetime and its type adapters, which two
    # SELECTs of plain values never use, about 10 M instructions (3 ms) before the first window
    # (issue 19). The package where a Python lacks the module under this name.
    import _sqlite3 as sqlite
except ImportError:  # pragma: no cover - every CPython 3.11+ has it
    import sqlite3 as sqlite  # type: ignore[no-redef]

APP_NAME = "infusion-prep"
DB_FILENAME = "infusion-prep.sqlite3"
SQLITE_HEADER = b"SQLite format 3\x00"
# Tests set this (tests/conftest.py) so that a test that forgets to pass a folder fails loudly
# instead of writing into the real user data folder.
TESTING_ENV = "INFUSION_PREP_TESTING"


def default_folder() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def read_only_uri(path: Path) -> str:
    """With no write-ahead log pending, immutable: not even the -shm and -wal files get created."""
    wal = Path(f"{path}-wal")
    pending = wal.exists() and wal.stat().st_size > 0
    return f"{path.as_uri()}?mode=ro" if pending else f"{path.as_uri()}?mode=ro&immutable=1"


def first_look(data_dir: str | os.PathLike | None = None, database: str | None = None) -> str | None:
    """'sign-in' (an SQLite database that holds a user), 'first-run' (no database yet, or one
    without a user), or None when only opening the database can tell: a URL (a server, a file
    named by URL), a site file naming a database, anything unusual about the file. A wrong answer
    costs only a second window: the opened service decides (gui/start.py)."""
    if database:
        return None
    try:
        if data_dir is None:
            if os.environ.get(TESTING_ENV):
                return None  # opening says why a folder is needed
            from .site_config import load_site_config

            if load_site_config().get("database"):
                return None
            folder = default_folder()
        else:
            folder = Path(os.fspath(data_dir)).expanduser()
        path = folder / DB_FILENAME
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return "first-run" if not folder.exists() or folder.is_dir() else None
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size == 0:
            return "first-run"
        with path.open("rb") as stream:
            if stream.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                return None
        connection = sqlite.connect(read_only_uri(path), uri=True)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "users" not in tables:
                return "first-run"
            return "sign-in" if connection.execute("SELECT EXISTS (SELECT 1 FROM users)").fetchone()[0] else "first-run"
        finally:
            connection.close()
    except Exception:  # noqa: BLE001 - undecided: the real opening reports what is wrong
        return None
