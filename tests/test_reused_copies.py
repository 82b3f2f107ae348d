"""The PostgreSQL copies the tests share (tests/postgres_server.py, ReusedCopies): a copy handed
to the next test holds exactly its template's rows and sequences, and a copy whose schema a test
changed is never handed on."""

from __future__ import annotations

from tests.postgres_server import ReusedCopies, execute_autocommit, with_database


def _rows(admin, name, sql):
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(with_database(admin, name), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).fetchall()
    finally:
        engine.dispose()


def test_a_copy_handed_on_holds_its_templates_rows_and_sequences_again(postgres_admin_url, postgres_template):
    copies = ReusedCopies(postgres_admin_url)
    try:
        name = copies.take(postgres_template)
        version = _rows(postgres_admin_url, name, "SELECT version_num FROM alembic_version")
        sequence = _rows(
            postgres_admin_url, name, "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1 LIMIT 1"
        )[0][0]
        first = _rows(postgres_admin_url, name, f"SELECT nextval('{sequence}')")
        execute_autocommit(
            with_database(postgres_admin_url, name),
            "UPDATE alembic_version SET version_num = 'changed by a test'",
            f"SELECT setval('{sequence}', 5000)",
        )
        copies.give_back(name)

        again = copies.take(postgres_template)
        assert again == name  # put back, not made anew
        assert _rows(postgres_admin_url, again, "SELECT version_num FROM alembic_version") == version
        assert _rows(postgres_admin_url, again, f"SELECT nextval('{sequence}')") == first
        copies.give_back(again)
    finally:
        copies.drop_all()


def test_a_copy_whose_schema_a_test_changed_is_dropped_not_handed_on(postgres_admin_url, postgres_template):
    copies = ReusedCopies(postgres_admin_url)
    try:
        for change in (
            "CREATE TABLE left_behind (id integer)",
            "ALTER TABLE alembic_version ADD COLUMN note text",
            "ALTER DATABASE {name} SET statement_timeout = 1",
            "CREATE FUNCTION public.left_behind() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
        ):
            name = copies.take(postgres_template)
            execute_autocommit(with_database(postgres_admin_url, name), change.format(name=name))
            copies.give_back(name)
            fresh = copies.take(postgres_template)
            assert fresh != name, change
            assert _rows(postgres_admin_url, "postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == [(0,)], change
            copies.give_back(fresh)
    finally:
        copies.drop_all()


def test_a_template_made_again_under_its_name_is_copied_anew_once_forgotten(postgres_admin_url, postgres_template):
    """A module's fixture set up a second time (its tests split between workers) dropped and made
    its template again under the same name; its copies were restored from the first one's rows."""
    import os

    name = f"infusion_remade_{os.getpid()}"
    copies = ReusedCopies(postgres_admin_url)
    try:
        for version in ("first", "second"):
            execute_autocommit(postgres_admin_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name} TEMPLATE {postgres_template}")
            execute_autocommit(with_database(postgres_admin_url, name), f"UPDATE alembic_version SET version_num = '{version}'")
            copy = copies.take(name)
            assert _rows(postgres_admin_url, copy, "SELECT version_num FROM alembic_version") == [(version,)]
            copies.give_back(copy)
            copies.forget(name)
    finally:
        copies.drop_all()
        execute_autocommit(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
