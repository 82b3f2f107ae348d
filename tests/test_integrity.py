"""Nothing lost, nothing forged (issue 15): outputs never destroy data, files we do not own are
never changed, user management needs a pharmacist, the audit chain is keyed and anchored."""

from __future__ import annotations

import csv
import os
import sqlite3
import stat
from datetime import datetime, timezone

import pytest

from infusion_app.cli import main
from infusion_app.domain.clock import FakeClock
from infusion_app.domain.records import Role
from infusion_app.service import open_service
from infusion_app.storage.database import DB_FILENAME

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
PHARMACIST_PIN = "246813"


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        service.add_user("Paul Pharm", Role.PHARMACIST, PHARMACIST_PIN)
    return folder


def db_rows(folder) -> int:
    connection = sqlite3.connect(folder / DB_FILENAME)
    try:
        return connection.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        connection.close()


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- 1. an output never overwrites a database ------------------------------------------------


@pytest.mark.parametrize("command", ["sheet", "label"])
def test_demo_output_naming_the_live_database_is_refused_and_the_database_survives(data, capsys, command):
    before = (data / DB_FILENAME).read_bytes()
    for extra in ([], ["--force"]):
        code, _, err = cli(capsys, command, "--demo", "--out", str(data / DB_FILENAME), *extra)
        assert code == 2, err
        assert "SQLite database" in err and "Traceback" not in err
    assert (data / DB_FILENAME).read_bytes() == before
    assert db_rows(data) == 1


def test_any_existing_sqlite_file_is_refused_even_with_force(tmp_path, capsys):
    other = tmp_path / "elsewhere.pdf"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    connection.close()
    before = other.read_bytes()
    code, _, err = cli(capsys, "sheet", "--demo", "--out", str(other), "--force")
    assert code == 2 and "SQLite database" in err
    assert other.read_bytes() == before


@pytest.mark.parametrize("name", [f"{DB_FILENAME}-wal", f"{DB_FILENAME}-shm", f"{DB_FILENAME}-journal"])
def test_the_database_side_files_are_refused(data, capsys, name):
    code, _, err = cli(capsys, "sheet", "--demo", "--out", str(data / name), "--data-dir", str(data), "--force")
    assert code == 2, err
    assert not (data / name).exists() or name != f"{DB_FILENAME}-journal"


def test_the_backups_folder_is_refused(data, capsys):
    (data / "backups").mkdir(exist_ok=True)
    code, _, err = cli(capsys, "label", "--demo", "--out", str(data / "backups" / "x.pdf"))
    assert code == 2 and "backups" in err
    assert list((data / "backups").iterdir()) == []


def test_an_existing_file_is_replaced_only_with_force(tmp_path, capsys):
    target = tmp_path / "sheet.pdf"
    target.write_text("keep me")
    code, _, err = cli(capsys, "sheet", "--demo", "--out", str(target))
    assert code == 2 and "--force" in err
    assert target.read_text() == "keep me"
    assert cli(capsys, "sheet", "--demo", "--out", str(target), "--force")[0] == 0
    assert target.read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.pdf"]  # no temporary file left


def test_a_symbolic_link_is_never_followed(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "out.pdf"
    link.symlink_to(victim)
    code, _, err = cli(capsys, "sheet", "--demo", "--out", str(link), "--force")
    assert code == 2 and "symbolic link" in err
    assert victim.read_text() == "precious" and link.is_symlink()


@pytest.mark.parametrize("name", ["", "   ", "a\nb.pdf", "tab\there.pdf", "x" * 300 + ".pdf"])
def test_blank_control_or_overlong_names_are_one_clean_line(tmp_path, capsys, name):
    code, _, err = cli(capsys, "sheet", "--demo", "--out", str(tmp_path / name) if name.strip() else name)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "\n" not in err.strip() and "\t" not in err


def test_audit_export_never_overwrites_the_database(data, capsys):
    before = (data / DB_FILENAME).read_bytes()
    code, _, err = cli(capsys, "audit", "export", "--out", str(data / DB_FILENAME), "--data-dir", str(data), "--force")
    assert code == 2 and "--out" in err
    assert db_rows(data) == 1 and (data / DB_FILENAME).read_bytes()[:16] == before[:16]


def test_audit_export_escapes_formulas_and_is_owner_only_over_an_existing_file(data, tmp_path, capsys):
    with open_service(data_dir=data, clock=FakeClock(T0)) as service:
        paul = service.authenticate("Paul Pharm", PHARMACIST_PIN)
        service.add_user("=HYPERLINK(\"http://x\")", Role.NURSE, "135790", actor=paul)
    target = tmp_path / "audit.csv"
    target.write_text("old")
    target.chmod(0o644)
    assert cli(capsys, "audit", "export", "--out", str(target), "--data-dir", str(data), "--force")[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    subjects = [row["subject"] for row in rows]
    assert "'=HYPERLINK(\"http://x\")" in subjects
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())
    assert rows[-1]["action"] == "audit.exported"


# -- 2. files the program does not own are never changed -------------------------------------


def test_a_fifo_named_as_the_database_is_refused_before_opening(tmp_path, capsys):
    pipe = tmp_path / "db.sqlite3"
    os.mkfifo(pipe, 0o644)
    code, _, err = cli(capsys, "prep", "list", "--database", f"sqlite:///{pipe}")
    assert code == 3 and "not a regular file" in err and "Traceback" not in err
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and stat.S_IMODE(os.stat(pipe).st_mode) == 0o644


def test_a_device_named_as_the_database_is_never_chmodded(capsys):
    before = os.stat("/dev/null")
    code, _, err = cli(capsys, "prep", "list", "--database", "sqlite:////dev/null")
    assert code == 3 and "device" in err
    assert stat.S_IMODE(os.stat("/dev/null").st_mode) == stat.S_IMODE(before.st_mode)


def test_a_folder_named_as_the_database_or_a_file_as_the_data_folder_is_refused(tmp_path, capsys):
    code, _, err = cli(capsys, "prep", "list", "--database", f"sqlite:///{tmp_path}")
    assert code == 3 and "folder" in err
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    code, _, err = cli(capsys, "prep", "list", "--data-dir", str(plain))
    assert code == 3 and "not a folder" in err and plain.read_text() == "x"


def test_a_linked_wal_file_is_refused(tmp_path, capsys):
    folder = tmp_path / "d"
    with open_service(data_dir=folder, clock=FakeClock(T0)):
        pass
    for side in ("-wal", "-shm"):
        (folder / f"{DB_FILENAME}{side}").unlink(missing_ok=True)
    os.mkfifo(folder / f"{DB_FILENAME}-wal")
    code, _, err = cli(capsys, "prep", "list", "--data-dir", str(folder))
    assert code == 3 and "not a regular file" in err


def test_someone_elses_wider_file_is_not_chmodded_but_ours_is(tmp_path):
    from infusion_app.storage import database

    ours = tmp_path / "ours.sqlite3"
    ours.write_bytes(b"")
    ours.chmod(0o644)
    database._owner_only_file(ours)
    assert stat.S_IMODE(ours.stat().st_mode) == 0o600
    link = tmp_path / "link.sqlite3"
    target = tmp_path / "target"
    target.write_bytes(b"")
    target.chmod(0o644)
    link.symlink_to(target)
    database._owner_only_file(link)  # never through a link
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


# -- 17. an in-memory database keeps nothing -------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true"])
def test_an_in_memory_database_is_refused(capsys, url):
    code, _, err = cli(capsys, "user", "list", "--database", url)
    assert code == 3 and "in-memory" in err


# -- 9. a full disk during the pre-migration backup ------------------------------------------


def test_a_full_disk_during_the_backup_leaves_no_backup_and_migrates_nothing(tmp_path, monkeypatch, capsys):
    from infusion_app.storage import database

    folder = tmp_path / "d"
    with open_service(data_dir=folder, clock=FakeClock(T0)):
        pass
    from alembic import command

    from infusion_app.storage.database import _alembic_config, make_engine, resolve_location

    engine = make_engine(resolve_location(folder))
    with engine.begin() as connection:  # back to the first schema, as an older version left it
        command.downgrade(_alembic_config(connection), "0001")
    engine.dispose()

    class FullDisk:
        def __init__(self, real):
            self.real = real

        def backup(self, destination, *a, **k):
            destination.execute("CREATE TABLE partial (x)")
            destination.commit()
            raise sqlite3.OperationalError("database or disk is full")

        def __getattr__(self, name):
            return getattr(self.real, name)

    real_connect = sqlite3.connect

    def connect(target, *a, **k):
        connection = real_connect(target, *a, **k)
        return FullDisk(connection) if str(target) == str(folder / DB_FILENAME) else connection

    monkeypatch.setattr(database.sqlite3, "connect", connect)
    code, _, err = cli(capsys, "prep", "list", "--data-dir", str(folder))
    assert code == 3, err
    assert "disk is full" in err and "nothing was migrated" in err and len(err.strip().splitlines()) == 1
    assert list((folder / "backups").iterdir()) == []
    monkeypatch.undo()
    connection = sqlite3.connect(folder / DB_FILENAME)
    assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
    connection.close()


# -- 12. the first-run race waits -------------------------------------------------------------


def test_eight_programs_creating_one_new_database_all_succeed(tmp_path):
    import concurrent.futures

    from tests.cli_helpers import run_cli

    folder = str(tmp_path / "fresh")
    commands = [["prep", "list"], ["audit", "verify"], ["user", "list"], ["course", "list"]] * 2
    with concurrent.futures.ThreadPoolExecutor(len(commands)) as pool:
        results = list(pool.map(lambda c: run_cli(*c, "--data-dir", folder), commands))
    assert [r.code for r in results] == [0] * len(commands), [r.stderr for r in results if r.code]
