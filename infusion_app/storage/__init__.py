"""Persistence: SQLAlchemy 2 models, Alembic migrations and the Repository implementation.

`open_database(data_dir, database)` finds, creates and migrates the database;
`SqlRepository(engine)` implements infusion_app.domain.ports.Repository.
Only the service layer (infusion_app.service) should need to import this package.
"""

from .database import Location, MigrationResult, NewerDatabaseError, StorageError, open_database, resolve_location
from .repository import DuplicateError, SqlRepository

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
