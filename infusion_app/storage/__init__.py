"""Persistence: SQLAlchemy 2 models, Alembic migrations and the Repository implementation.

`open_database(data_dir, database)` finds, creates and migrates the database;
`SqlRepository(engine)` implements infusion_app.domain.ports.Repository.
Only the service layer (infusion_app.service) should need to import this package.

The names below load their modules on first use: `storage.first_look`, which the desktop program
reads before its first window, must not pull SQLAlchemy in with the package (issue 19).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .database import Location, MigrationResult, NewerDatabaseError, StorageError, open_database, resolve_location
    from .repository import DuplicateError, SqlRepository

_WHERE = {
    "DuplicateError": "repository",
    "Location": "database",
    "MigrationResult": "database",
    "NewerDatabaseError": "database",
    "SqlRepository": "repository",
    "StorageError": "database",
    "open_database": "database",
    "resolve_location": "database",
}

__all__ = [
    "DuplicateError",
    "Location",
    "MigrationResult",
    "NewerDatabaseError",
    "SqlRepository",
    "StorageError",
    "open_database",
    "resolve_location",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
