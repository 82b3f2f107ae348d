"""Migrations at start: from empty, a backup before a real migration, and refusal of a newer database."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.postgres_server import execute_autocommit

from infusion_app.storage import NewerDatabaseError, StorageError, database, open_database
from infusion_app.storage.database import DB_FILENAME, _table_names, known_revisions
from infusion_app.storage.models import load_all_models


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_empty_folder_is_migrated_to_the_newest_schema_without_a_backup(tmp_path):
    engine, location, result = open_database(tmp_path)
    try:
        _, head = known_revisions()
        assert result.from_revision is None and result.to_revision == head
        assert result.backup is None
        assert not (tmp_path / "backups").exists()
        with engine.connect() as connection:
            # The hand-written migrations create exactly what the models describe.
            assert compare_metadata(MigrationContext.configure(connection), load_all_models().metadata) == []
            assert MigrationContext.configure(connection).get_current_heads() == (head,)
    finally:
        engine.dispose()


def test_reopening_a_current_database_migrates_and_copies_nothing(tmp_path):
    engine, location, _ = open_database(tmp_path)
    engine.dispose()
    engine, _, result = open_database(tmp_path)
    engine.dispose()
    assert result.backup is None and result.from_revision == result.to_revision
    assert not (tmp_path / "backups").exists()


def stamp(path: Path, revision: str) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    connection.close()


def test_a_database_from_a_newer_version_is_refused_and_left_byte_for_byte_unchanged(tmp_path):
    engine, location, _ = open_database(tmp_path)
    engine.dispose()
    stamp(location.path, "9f9f_from_the_future")
    before = digest(location.path)
    files_before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(NewerDatabaseError) as refused:
        open_database(tmp_path)
    message = str(refused.value)
    assert "9f9f_from_the_future" in message and "newer version" in message
    assert digest(location.path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before  # no backup, no journal left behind


def test_the_command_line_refuses_a_newer_database_with_one_line(tmp_path, capsys):
    from infusion_app.cli import main

    engine, location, _ = open_database(tmp_path)
    engine.dispose()
    stamp(location.path, "9f9f_from_the_future")
    before = digest(location.path)
    code = main(["prep", "list", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 3
    assert len(err.strip().splitlines()) == 1 and "newer version" in err and "Traceback" not in err
    assert digest(location.path) == before


def test_tables_without_a_schema_revision_are_not_taken_for_ours(tmp_path):
    path = tmp_path / DB_FILENAME
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE patients (id INTEGER)")
    connection.commit()
    connection.close()
    before = digest(path)
    with pytest.raises(StorageError, match="not an infusion-prep database"):
        open_database(tmp_path)
    assert digest(path) == before


NEXT_REVISION = """
revision = "t002"
down_revision = "{head}"
branch_labels = None
depends_on = None

from alembic import op
import sqlalchemy as sa


def upgrade():
    op.add_column("users", sa.Column("test_column", sa.Integer(), nullable=True))


def downgrade():
    op.drop_column("users", "test_column")
"""


def test_a_real_migration_first_copies_the_file_aside(tmp_path, monkeypatch):
    from infusion_app.service import open_service

    data = tmp_path / "data"
    with open_service(data) as service:
        service.add_user("Ana", "pharmacist", "246824")
    _, head = known_revisions()
    # A later version of the program: the shipped migrations plus one more.
    scripts = tmp_path / "migrations"
    shutil.copytree(database.MIGRATIONS, scripts)
    (scripts / "versions" / "t002_test.py").write_text(NEXT_REVISION.format(head=head))
    monkeypatch.setattr(database, "MIGRATIONS", scripts)

    engine, location, result = open_database(data)
    engine.dispose()
    assert (result.from_revision, result.to_revision) == (head, "t002")
    backup = result.backup
    assert backup is not None and backup.parent == data.resolve() / "backups"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    copy = sqlite3.connect(backup)
    try:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (head,)
        assert copy.execute("SELECT name FROM users").fetchall() == [("Ana",)]  # the WAL's content is in the copy
        columns = [row[1] for row in copy.execute("PRAGMA table_info(users)")]
        assert "test_column" not in columns
    finally:
        copy.close()
    migrated = sqlite3.connect(location.path)
    try:
        assert "test_column" in [row[1] for row in migrated.execute("PRAGMA table_info(users)")]
    finally:
        migrated.close()


def test_a_newer_revision_still_in_the_write_ahead_log_is_refused_too(tmp_path):
    """The newer version crashed before its log reached the main file: the log is read, not ignored."""
    engine, location, _ = open_database(tmp_path)
    engine.dispose()
    newer = sqlite3.connect(location.path)
    try:
        newer.execute("PRAGMA wal_autocheckpoint=0")
        with newer:
            newer.execute("UPDATE alembic_version SET version_num = '9f9f_from_the_future'")
        assert Path(f"{location.path}-wal").stat().st_size > 0
        before = digest(location.path)
        with pytest.raises(NewerDatabaseError):
            open_database(tmp_path)
        assert digest(location.path) == before
    finally:
        newer.close()


def test_the_plain_reading_of_the_migration_files_agrees_with_alembic():
    from infusion_app.storage.database import _alembic_revisions, _revision_graph

    assert _revision_graph() is not None, "a migration file the plain reading cannot parse: every start imports Alembic"
    assert known_revisions() == _alembic_revisions()


def test_opening_a_database_at_the_head_never_imports_alembic(tmp_path):
    import subprocess
    import sys

    from infusion_app.service import open_service

    open_service(data_dir=tmp_path).close()  # created and migrated here
    code = (
        "import sys; from infusion_app.storage.database import open_database; "
        f"engine, _, result = open_database(data_dir={str(tmp_path)!r}); engine.dispose(); "
        "print(result.from_revision == result.to_revision, 'alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_an_sqlite_file_at_the_head_has_its_revision_read_once(tmp_path, monkeypatch):
    """The stamped revision read before anything may write (_peek_sqlite) settles a file at the
    head: no second read of it through SQLAlchemy's inspector (issue 19: a migration check costs
    no more than a read of the stored revision). A file behind the head is read again."""
    engine, _, _ = open_database(tmp_path)
    engine.dispose()
    reads: list[object] = []
    real = database.current_revisions
    monkeypatch.setattr(database, "current_revisions", lambda engine: reads.append(engine) or real(engine))
    engine, _, result = open_database(tmp_path)
    engine.dispose()
    assert reads == [] and result.from_revision == result.to_revision == known_revisions()[1]
    # A glance that says "behind": the file is read again before anything is migrated.
    monkeypatch.setattr(database, "_peek_sqlite", lambda _path: ({"0008_drug"}, True))
    engine, _, result = open_database(tmp_path)
    engine.dispose()
    assert len(reads) == 1 and result.from_revision == result.to_revision == known_revisions()[1]


def test_the_tables_are_listed_as_sqlalchemys_inspector_lists_them(tmp_path, database):
    """current_revisions reads the table names with one catalogue query instead of the inspector's
    reflection; views, SQLite's own tables and other schemas' tables are left out as it leaves them."""
    from sqlalchemy import inspect, text

    from infusion_app.service import open_service

    with open_service(data_dir=tmp_path, database=database) as service:
        with service.engine.begin() as connection:
            connection.execute(text("CREATE VIEW extra_view AS SELECT 1 AS one"))
            connection.execute(
                text("CREATE TABLE counted (id INTEGER PRIMARY KEY AUTOINCREMENT)" if database is None else "CREATE TABLE counted (id serial PRIMARY KEY)")
            )
            connection.execute(text("INSERT INTO counted DEFAULT VALUES"))  # SQLite's sqlite_sequence appears
            if database is not None:
                connection.execute(text("CREATE SCHEMA elsewhere"))
                connection.execute(text("CREATE TABLE elsewhere.not_ours (id integer)"))
        with service.engine.connect() as connection:
            listed = _table_names(connection)
            assert listed == set(inspect(connection).get_table_names())
            assert "counted" in listed and "extra_view" not in listed and "not_ours" not in listed
            if database is not None:
                # An empty schema first on the path (as "$user" is) and a temporary table (reviewer).
                connection.execute(text("CREATE SCHEMA empty_first"))
                connection.execute(text("SET search_path = empty_first, public"))
                connection.execute(text("CREATE TEMP TABLE scratch (id integer)"))
                listed = _table_names(connection)
                assert listed == set(inspect(connection).get_table_names()) and "counted" in listed and "scratch" not in listed
                connection.rollback()
    if database is not None:
        # A schema named after the connecting role comes first on PostgreSQL's default path.
        from sqlalchemy.engine import make_url

        execute_autocommit(database, f'CREATE SCHEMA "{make_url(database).username}"')
        with open_service(data_dir=tmp_path, database=database) as service:
            assert service.migration.from_revision == known_revisions()[1]
