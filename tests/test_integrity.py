"""Nothing lost, nothing forged (issue 15): outputs never destroy data, files we do not own are
never changed, user management needs a pharmacist, the audit chain is keyed and anchored."""

from __future__ import annotations

import csv
import os
import sqlite3
import stat
from datetime import datetime, timezone

import pytest

from tests.prep_helpers import checked, verify_order_by_another
from tests.cli_helpers import with_drug

from tests.drugs import BESPONSA
from infusion_app.cli import main
from infusion_app.domain.clock import FakeClock
from infusion_app.domain.records import Role
from infusion_app.service import open_service
from infusion_app.storage.database import DB_FILENAME

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
PHARMACIST_PIN = "246813"


@pytest.fixture
def data(tmp_path, database_templates):
    # A copy of a database migrated with Paul Pharm once per session (tests/conftest.py).
    return database_templates.copy(tmp_path / "data", (("Paul Pharm", "pharmacist", PHARMACIST_PIN),))


def db_rows(folder) -> int:
    connection = sqlite3.connect(folder / DB_FILENAME)
    try:
        return connection.execute("SELECT count(*) FROM users").fetchone()[0]
    finally:
        connection.close()


def cli(capsys, *args):
    try:
        code = main(with_drug(args))
    except SystemExit as usage:  # argparse: a required option missing
        code = usage.code
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
        service.add_user('=HYPERLINK("http://x")', Role.NURSE, "135790", actor=paul)
    target = tmp_path / "audit.csv"
    target.write_text("old")
    target.chmod(0o644)
    assert cli(capsys, "audit", "export", "--out", str(target), "--data-dir", str(data), "--force")[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with target.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    subjects = [row["subject"] for row in rows]
    assert '\'=HYPERLINK("http://x")' in subjects
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


# -- 3. user management needs a signed-in pharmacist -----------------------------------------


def env_cli(capsys, monkeypatch, pin, new_pin, *args):
    for name, value in (("INFUSION_PREP_PIN", pin), ("INFUSION_PREP_NEW_PIN", new_pin)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return cli(capsys, *args)


@pytest.mark.parametrize(
    "argv",
    [
        ["user", "add", "Mallory", "--role", "pharmacist"],
        ["user", "add", "Mallory", "--role", "technician"],
        ["user", "set-pin", "Paul Pharm"],
        ["user", "deactivate", "Paul Pharm"],
        ["user", "activate", "Paul Pharm"],
    ],
)
def test_user_management_without_a_signed_in_pharmacist_is_refused(data, capsys, monkeypatch, argv):
    code, _, err = env_cli(capsys, monkeypatch, "999999", "999999", *argv, "--data-dir", str(data))
    assert code in (1, 2), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    with open_service(data_dir=data, clock=FakeClock(T0)) as service:
        assert service.user("Mallory") is None
        assert service.authenticate("Paul Pharm", PHARMACIST_PIN).active


def test_a_technician_cannot_add_a_pharmacist_even_with_their_own_pin(data, capsys, monkeypatch):
    assert (
        env_cli(capsys, monkeypatch, PHARMACIST_PIN, "112233", "user", "add", "Tess", "--role", "technician", "--user", "Paul Pharm", "--data-dir", str(data))[
            0
        ]
        == 0
    )
    code, _, err = env_cli(
        capsys, monkeypatch, "112233", "445566", "user", "add", "Tess Two", "--role", "pharmacist", "--user", "Tess", "--data-dir", str(data)
    )
    assert code == 1 and "pharmacist" in err
    code, _, err = env_cli(
        capsys, monkeypatch, "000000", "445566", "user", "add", "Tess Two", "--role", "pharmacist", "--user", "Paul Pharm", "--data-dir", str(data)
    )
    assert code == 2 and "pin" in err


def test_the_first_pharmacist_of_an_empty_database_needs_no_sign_in_and_the_os_account_is_recorded(tmp_path, capsys, monkeypatch):
    import getpass
    import json

    folder = tmp_path / "new"
    code, _, err = env_cli(capsys, monkeypatch, "135790", None, "user", "add", "Tina", "--role", "technician", "--data-dir", str(folder))
    assert code == 1 and "first user must be a pharmacist" in err
    assert env_cli(capsys, monkeypatch, "135790", None, "user", "add", "Ana", "--role", "pharmacist", "--data-dir", str(folder))[0] == 0
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        entry = service.audit_entries()[-1]
    assert json.loads(entry.after)["os_user"] == getpass.getuser()


def test_the_service_refuses_user_changes_without_an_actor(data):
    from infusion_app.service import StepRefused

    with open_service(data_dir=data, clock=FakeClock(T0)) as service:
        with pytest.raises(StepRefused):
            service.add_user("Mallory", Role.PHARMACIST, "999999")
        with pytest.raises(StepRefused):
            service.set_pin("Paul Pharm", "999999")
        with pytest.raises(StepRefused):
            service.set_user_active("Paul Pharm", False)


def test_pin_fd_is_read_instead_of_the_environment(data, capsys, monkeypatch):
    read_end, write_end = os.pipe()
    os.write(write_end, f"{PHARMACIST_PIN}\n778899\n".encode())
    os.close(write_end)
    try:
        code, _, err = env_cli(
            capsys,
            monkeypatch,
            None,
            None,
            "user",
            "add",
            "Fay",
            "--role",
            "nurse",
            "--user",
            "Paul Pharm",
            "--pin-fd",
            str(read_end),
            "--new-pin-fd",
            str(read_end),
            "--data-dir",
            str(data),
        )
    finally:
        os.close(read_end)
    assert code == 0, err
    with open_service(data_dir=data, clock=FakeClock(T0)) as service:
        assert service.authenticate("Fay", "778899").role is Role.NURSE


# -- 6. PIN lockout across processes, failed sign-ins audited, minimum length ------------------


def test_wrong_pins_lock_the_name_across_processes_and_each_is_audited(data):
    from infusion_app.service import AuthenticationError

    clock = FakeClock(T0)
    for _ in range(5):  # each attempt a new process: a fresh service on the same file
        with open_service(data_dir=data, clock=clock) as service, pytest.raises(AuthenticationError):
            service.authenticate("Paul Pharm", "000000")
    with open_service(data_dir=data, clock=clock) as service:
        with pytest.raises(AuthenticationError, match="try again in"):
            service.authenticate("Paul Pharm", PHARMACIST_PIN)  # even the right PIN waits
        failed = [e for e in service.audit_entries() if e.action == "sign_in.failed"]
        assert len(failed) == 5 and failed[0].subject == "Paul Pharm"
        assert service.verify_audit().intact
    clock.advance(seconds=31)
    with open_service(data_dir=data, clock=clock) as service:
        assert service.authenticate("Paul Pharm", PHARMACIST_PIN).name == "Paul Pharm"


def test_an_unknown_name_is_counted_and_audited_too(data):
    from infusion_app.service import AuthenticationError

    with open_service(data_dir=data, clock=FakeClock(T0)) as service:
        with pytest.raises(AuthenticationError):
            service.authenticate("Nobody\x1b[2J", "123456")
        assert service.audit_entries()[-1].action == "sign_in.failed"
        assert "\x1b" not in service.audit_entries()[-1].subject


def test_new_pins_need_the_site_minimum_of_six_digits_by_default(data):
    from infusion_app.domain.errors import ValidationError

    with open_service(data_dir=data, clock=FakeClock(T0)) as service:
        paul = service.authenticate("Paul Pharm", PHARMACIST_PIN)
        with pytest.raises(ValidationError, match="6 to 12"):
            service.add_user("Shorty", Role.NURSE, "1234", actor=paul)
        service.set_setting("pin_min_digits", 8, paul)
        with pytest.raises(ValidationError, match="8 to 12"):
            service.add_user("Shorty", Role.NURSE, "123456", actor=paul)
        assert service.add_user("Longer", Role.NURSE, "12345678", actor=paul).name == "Longer"
        with pytest.raises(ValidationError):
            service.set_setting("pin_min_digits", 3, paul)


# -- 8. the last pharmacist, checked inside the write transaction -----------------------------


def test_two_deactivations_racing_cannot_leave_no_pharmacist(data, monkeypatch):
    from infusion_app.service import StepRefused

    with open_service(data_dir=data, clock=FakeClock(T0)) as service:
        paul = service.authenticate("Paul Pharm", PHARMACIST_PIN)
        petra = service.add_user("Petra Pharm", Role.PHARMACIST, "864213", actor=paul)
        # Both workstations read two active pharmacists before either writes: the old check
        # (outside the transaction) passed for both.
        monkeypatch.setattr(service.repository, "list_users", lambda include_inactive=False: [paul, petra])
        service.set_user_active("Petra Pharm", False, actor=paul)
        with pytest.raises(StepRefused) as refused:
            service.set_user_active("Paul Pharm", False, actor=paul)
        assert refused.value.code == "last-pharmacist"
        monkeypatch.undo()
        assert [u.name for u in service.users() if u.role is Role.PHARMACIST] == ["Paul Pharm"]


# -- 16. names: NFKC, look-alikes, the administrator's name -----------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Paul Pharm",
        "Pаul Pharm",
        "ＰＡＵＬ ＰＨＡＲＭ",
        "Paul  Phárm",
        "local-admin (os user root)",
        "Local-Admin",
        # re-walk: punctuation and spacing that print like the reserved names
        "local–admin",
        "local_admin",
        "Local Admin",
        "local.admin",
        "localadmin",
        "sign in",
        "Sign_In",
    ],
)
def test_look_alike_and_reserved_names_are_refused(data, name):
    from infusion_app.domain.errors import ValidationError

    with open_service(data_dir=data, clock=FakeClock(T0)) as service:
        paul = service.authenticate("Paul Pharm", PHARMACIST_PIN)
        with pytest.raises(ValidationError) as refused:
            service.add_user(name, Role.NURSE, "975310", actor=paul)
        assert refused.value.field == "name"
        if "admin" in name.casefold() or "sign" in name.casefold():
            assert "reserved" in refused.value.message


def test_a_full_width_name_is_stored_normalised(data):
    with open_service(data_dir=data, clock=FakeClock(T0)) as service:
        paul = service.authenticate("Paul Pharm", PHARMACIST_PIN)
        assert service.add_user("Ｎｉｎａ", Role.NURSE, "975310", actor=paul).name == "Nina"


# -- 4. the keyed chain, anchored outside the file --------------------------------------------


def _filled(folder):
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        paul = service.add_user("Paul Pharm", Role.PHARMACIST, PHARMACIST_PIN)
        service.add_user("Tina Tech", Role.TECHNICIAN, "112233", actor=paul)
        service.set_setting("warning_lead_minutes", 40, paul)
        assert service.verify_audit().intact
    return folder


def _verify(folder):
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        return service.verify_audit()


def test_the_site_secret_is_created_owner_only_outside_the_database(tmp_path):
    folder = _filled(tmp_path / "d")
    key = folder / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(bytes.fromhex(key.read_text().strip())) == 32
    assert key.read_text().strip().encode() not in (folder / DB_FILENAME).read_bytes()
    assert stat.S_IMODE((folder / "audit-anchor.log").stat().st_mode) == 0o600


def test_a_raised_role_with_the_whole_chain_recomputed_is_found(tmp_path):
    from infusion_app.storage.audit import GENESIS, entry_hash

    folder = _filled(tmp_path / "d")
    connection = sqlite3.connect(folder / DB_FILENAME)
    # Whoever can write the file can drop the append-only triggers; the keyed chain still tells.
    connection.executescript("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;")
    with connection:
        connection.execute("UPDATE users SET role = 'pharmacist' WHERE name = 'Tina Tech'")
        rows = connection.execute("SELECT seq, at, actor, action, subject, before_json, after_json FROM audit_log ORDER BY seq").fetchall()
        previous = GENESIS
        for seq, at, actor, action, subject, before, after in rows:
            if seq == 2:
                after = after.replace('"technician"', '"pharmacist"')
            digest = entry_hash(previous, seq, at, actor, action, subject, before, after)  # what the old verify accepted
            connection.execute("UPDATE audit_log SET after_json = ?, prev_hash = ?, hash = ? WHERE seq = ?", (after, previous, digest, seq))
            previous = digest
        connection.execute("UPDATE audit_head SET hash = ?", (previous,))
    connection.close()
    result = _verify(folder)
    assert not result.intact and result.first_broken == 1


def test_a_truncated_log_with_its_head_fixed_is_found(tmp_path):
    folder = _filled(tmp_path / "d")
    connection = sqlite3.connect(folder / DB_FILENAME)
    # Whoever can write the file can drop the append-only triggers; the keyed chain still tells.
    connection.executescript("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;")
    with connection:
        previous = connection.execute("SELECT hash FROM audit_log WHERE seq = 2").fetchone()[0]
        connection.execute("DELETE FROM audit_log WHERE seq = 3")
        connection.execute("DELETE FROM settings")
        connection.execute("UPDATE audit_head SET seq = 2, hash = ?", (previous,))
    connection.close()
    result = _verify(folder)
    assert not result.intact and "anchor" in result.reason and result.first_broken == 3


def test_a_wiped_database_is_not_intact_with_zero_entries(tmp_path, capsys):
    folder = _filled(tmp_path / "d")
    for name in (DB_FILENAME, f"{DB_FILENAME}-wal", f"{DB_FILENAME}-shm"):
        (folder / name).unlink(missing_ok=True)
    code, out, _ = cli(capsys, "audit", "verify", "--data-dir", str(folder))
    assert code == 1 and "BROKEN" in out and "anchor" in out


def test_an_older_copy_put_back_is_a_rewound_head(tmp_path):
    folder = _filled(tmp_path / "d")
    copy = sqlite3.connect(tmp_path / "old.sqlite3")
    source = sqlite3.connect(folder / DB_FILENAME)
    source.backup(copy)
    source.close()
    copy.close()
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        service.set_setting("paper_size", "a4", service.user("Paul Pharm"))
    for name in (f"{DB_FILENAME}-wal", f"{DB_FILENAME}-shm"):
        (folder / name).unlink(missing_ok=True)
    os.replace(tmp_path / "old.sqlite3", folder / DB_FILENAME)
    result = _verify(folder)
    assert not result.intact and result.first_broken == 4 and "anchor" in result.reason


def test_a_deleted_anchor_log_is_reported_not_recreated(tmp_path):
    folder = _filled(tmp_path / "d")
    (folder / "audit-anchor.log").unlink()
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        service.set_setting("paper_size", "a4", service.user("Paul Pharm"))
    assert not (folder / "audit-anchor.log").exists()
    result = _verify(folder)
    assert not result.intact and "missing" in result.reason


def test_an_older_versions_unkeyed_log_stays_verifiable_and_new_entries_are_keyed(tmp_path):
    folder = _filled(tmp_path / "d")
    (folder / "audit.key").unlink()  # as an older version left the folder: no secret, no anchor
    (folder / "audit-anchor.log").unlink()
    connection = sqlite3.connect(folder / DB_FILENAME)
    # Whoever can write the file can drop the append-only triggers; the keyed chain still tells.
    connection.executescript("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;")
    from infusion_app.storage.audit import GENESIS, entry_hash

    with connection:  # the old version's unkeyed hashes
        previous = GENESIS
        for seq, at, actor, action, subject, before, after in connection.execute(
            "SELECT seq, at, actor, action, subject, before_json, after_json FROM audit_log ORDER BY seq"
        ).fetchall():
            digest = entry_hash(previous, seq, at, actor, action, subject, before, after)
            connection.execute("UPDATE audit_log SET prev_hash = ?, hash = ?, station = '' WHERE seq = ?", (previous, digest, seq))
            previous = digest
        connection.execute("UPDATE audit_head SET hash = ?", (previous,))
    connection.close()
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        assert service.verify_audit().intact
        service.set_setting("paper_size", "a4", service.user("Paul Pharm"))
        assert service.verify_audit().intact
        assert service.audit_anchor()[0] == 4


def test_the_anchor_is_printed_and_exported(tmp_path, capsys):
    import json

    folder = _filled(tmp_path / "d")
    code, out, _ = cli(capsys, "audit", "anchor", "--json", "--data-dir", str(folder), "--out", str(tmp_path / "anchor.json"))
    assert code == 0 and json.loads(out)["entries"] == 3
    assert json.loads((tmp_path / "anchor.json").read_text()) == json.loads(out)
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        assert service.audit_anchor_text().startswith("audit 3 · ")


# -- 7. malformed stored values: one line naming the entry, never a traceback -----------------


@pytest.fixture(scope="module")
def with_prep(tmp_path_factory):
    from datetime import date

    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import EventType, Patient

    folder = tmp_path_factory.mktemp("malformed") / "d"
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        paul = service.add_user("Paul Pharm", Role.PHARMACIST, PHARMACIST_PIN)
        prep = service.create_preparation(Patient("Doe, Jane", "M1", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), paul, monograph=BESPONSA)
        verify_order_by_another(service, prep.id, paul)
        service.record_event(prep.id, EventType.RECONSTITUTED, paul)
    return folder


@pytest.mark.parametrize(
    "statement, words",
    [
        ("UPDATE events SET at = 'yesterday-ish'", "not a stored instant"),
        ("UPDATE events SET type = 'teleported'", "unknown type"),
        ("UPDATE events SET details_json = '{not json'", "malformed JSON"),
        ("UPDATE users SET role = 'overlord'", "unknown role"),
        ("UPDATE preparations SET order_json = '['", "malformed JSON"),
    ],
)
def test_malformed_stored_values_are_one_line_everywhere(with_prep, tmp_path, capsys, statement, words):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(with_prep, folder)
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        connection.execute(statement)
    connection.close()
    said = ""
    for argv in (["prep", "list"], ["audit", "verify"], ["prep", "list", "--json"], ["user", "list"]):
        code, out, err = cli(capsys, *argv, "--data-dir", str(folder))
        assert "Traceback" not in err, (argv, err)
        if code == 3:
            assert len(err.strip().splitlines()) == 1, (argv, err)
        said += out + err
    code, out, _ = cli(capsys, "audit", "verify", "--data-dir", str(folder))
    assert code == 1 and len(out.strip().splitlines()) == 1  # never "intact" over malformed data
    assert words in said


@pytest.mark.parametrize(
    "expression, words",
    [
        ("'[]'", "not a mapping"),
        ("'{}'", "calculation has no"),
        ("json_set(order_json, '$.calculation.dose_mg', 'x')", "dose_mg is 'x', not a number"),
        ("json_set(order_json, '$.calculation.cycle', 'one')", "cycle is 'one', not a whole number"),
        ("json_set(order_json, '$.calculation.dose_mg', json('true'))", "dose_mg is 'True', not a number"),
        ("json_set(order_json, '$.calculation.hard_stops', json('{}'))", "hard_stops"),
        ("json_set(order_json, '$.calculation.vehicle', 5)", "vehicle is '5', not text"),
        ("json_set(order_json, '$.cycle', json('[1]'))", "order's cycle"),
        ("json_set(order_json, '$.coverage', json('[]'))", "coverage is not a mapping"),
    ],
)
def test_a_stored_order_of_the_wrong_shape_is_one_line_exit_3(with_prep, tmp_path, capsys, expression, words):
    """Re-walk of issue 15 item 7: a value of the wrong type inside the stored order (a dose as
    text) passed the loader and failed where it was used (decimal.InvalidOperation traceback)."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(with_prep, folder)
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        prep_id = connection.execute("SELECT id FROM preparations").fetchone()[0]
        connection.execute(f"UPDATE preparations SET order_json = {expression}")
    connection.close()
    for argv in (
        ["prep", "show", prep_id],
        ["prep", "show", prep_id, "--json"],
        ["prep", "list"],
        ["downtime", "snapshot", "--out", str(tmp_path / "s.pdf")],
        ["sheet", prep_id, "--out", str(tmp_path / "sheet.pdf")],
        ["label", prep_id, "--out", str(tmp_path / "label.pdf")],
        ["export", prep_id, "--format", "fhir"],
    ):
        code, out, err = cli(capsys, *argv, "--data-dir", str(folder))
        assert code == 3 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, code, err)
        assert prep_id in err and words in err, (argv, err)
    code, out, _ = cli(capsys, "audit", "verify", "--data-dir", str(folder))
    assert code == 1 and prep_id in out


def test_a_preparation_switched_to_another_drug_is_one_line_exit_3_not_invalid_input(with_prep, tmp_path, capsys):
    """Re-walk of issue 15 items 4/11: read with the other drug's monograph, prep show said
    'invalid regimen' (exit 2, as if the user had typed something wrong)."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(with_prep, folder)
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        prep_id = connection.execute("SELECT id FROM preparations").fetchone()[0]
        connection.execute("UPDATE preparations SET monograph_id = 'gemtuzumab-ozogamicin'")
    connection.close()
    for argv in (["prep", "show", prep_id], ["prep", "list"], ["downtime", "snapshot", "--out", str(tmp_path / "s.pdf")]):
        code, out, err = cli(capsys, *argv, "--data-dir", str(folder))
        assert code == 3 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, code, err)
        assert prep_id in err and "monograph_id" in err and "inotuzumab-ozogamicin" in err, err
    code, out, _ = cli(capsys, "audit", "verify", "--data-dir", str(folder))
    assert code == 1 and "drug" in out


def test_prep_list_goes_on_past_an_unreadable_preparation_and_exits_3(with_prep, tmp_path, capsys):
    """Re-walk of issue 15 item 7: one preparation whose order cannot be read hid every other one
    from prep list (and the board); the others are listed, the unreadable one named, exit 3."""
    import shutil
    from datetime import date

    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import Patient

    folder = tmp_path / "copy"
    shutil.copytree(with_prep, folder)
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        other = service.create_preparation(
            Patient("Roe, Ann", "M2", date(1971, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), service.user("Paul Pharm"), monograph=BESPONSA
        )
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        broken = connection.execute("SELECT id FROM preparations WHERE mrn = 'M1'").fetchone()[0]
        connection.execute("UPDATE preparations SET order_json = '[]' WHERE mrn = 'M1'")
    connection.close()
    for argv in (["prep", "list"], ["prep", "list", "--active"], ["prep", "list", "--json"]):
        code, out, err = cli(capsys, *argv, "--data-dir", str(folder))
        assert code == 3 and other.id in out and broken not in out, (argv, code, out)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and broken in err and "not a mapping" in err, err


@pytest.mark.parametrize(
    "value, words",
    [
        ("'\"x\"'", "warning_lead_minutes ('x')"),
        ("'[1]'", "warning_lead_minutes ('[1]')"),
        ("'true'", "warning_lead_minutes ('True')"),
        ("'-5'", "warning_lead_minutes ('-5')"),
        ("'{bad'", "setting warning_lead_minutes holds malformed JSON"),
    ],
)
def test_a_stored_setting_of_the_wrong_type_is_one_line_exit_3(with_prep, tmp_path, capsys, value, words):
    """A sibling of re-walk item 7 in the settings table: text for minutes was a ValueError
    traceback in every command, a negative lead time 'invalid' input (exit 2)."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(with_prep, folder)
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        prep_id = connection.execute("SELECT id FROM preparations").fetchone()[0]
        connection.execute(f"INSERT OR REPLACE INTO settings VALUES ('warning_lead_minutes', {value}, '2026-03-10T08:00:00.000000+00:00', 'Paul Pharm')")
    connection.close()
    for argv in (["prep", "show", prep_id], ["prep", "list"], ["downtime", "snapshot", "--out", str(tmp_path / "s.pdf")]):
        code, out, err = cli(capsys, *argv, "--data-dir", str(folder))
        assert code == 3 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, code, err)
        assert words in err, err


def test_two_rows_in_alembic_version_are_one_line(with_prep, tmp_path, capsys):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(with_prep, folder)
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        connection.execute("INSERT INTO alembic_version VALUES ('0001')")
    connection.close()
    code, _, err = cli(capsys, "prep", "list", "--data-dir", str(folder))
    assert code == 3 and "schema revisions" in err and len(err.strip().splitlines()) == 1


def test_a_corrupt_page_is_one_line(with_prep, tmp_path, capsys):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(with_prep, folder)
    connection = sqlite3.connect(folder / DB_FILENAME)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    data = bytearray((folder / DB_FILENAME).read_bytes())
    page = 4096
    for offset in range(2 * page, min(len(data), 6 * page)):
        data[offset] = 0xA5
    (folder / DB_FILENAME).write_bytes(bytes(data))
    for argv in (["prep", "list"], ["audit", "verify"]):
        code, out, err = cli(capsys, *argv, "--data-dir", str(folder))
        assert code in (1, 3), (argv, code, err)
        assert "Traceback" not in err and len((err or out).strip().splitlines()) == 1, err


# -- 10. a clock ahead on one workstation does not drag the others ----------------------------


def test_a_stored_instant_far_ahead_is_flagged_not_adopted(tmp_path):
    from datetime import date, timedelta

    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import EventType, Patient

    folder = tmp_path / "d"
    ahead = FakeClock(T0 + timedelta(hours=6))  # a workstation with its clock six hours fast
    with open_service(data_dir=folder, clock=ahead) as service:
        paul = service.add_user("Paul Pharm", Role.PHARMACIST, PHARMACIST_PIN)
        prep = service.create_preparation(Patient("Doe, Jane", "M1", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), paul, monograph=BESPONSA)
        verify_order_by_another(service, prep.id, paul)
        service.record_event(prep.id, EventType.RECONSTITUTED, paul)
    right = FakeClock(T0)
    with open_service(data_dir=folder, clock=right) as service:
        assert service.now() == T0  # not dragged six hours forward
        status = service.status(prep.id)
        assert status.now == T0
        assert status.stored_instant_ahead == T0 + timedelta(hours=6)
        assert status.to_dict()["stored_instant_ahead"].startswith("2026-03-10T14:00")
    small = FakeClock(T0 + timedelta(hours=6) - timedelta(minutes=1))  # within the tolerance: adopted
    with open_service(data_dir=folder, clock=small) as service:
        assert service.now() == T0 + timedelta(hours=6) and service.stored_instant_ahead is None


def test_a_stored_instant_far_ahead_is_said_in_text_prep_show_prep_list_and_the_skew_warning(tmp_path, capsys):
    """Re-walk of issue 15 item 10: only `prep show --json` said it; text show, list and the
    clock-skew warning (which only knew a server's clock) were silent on SQLite."""
    from datetime import date, timedelta

    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import Patient

    folder = tmp_path / "d"
    # The command line runs on this machine's clock: another station's six hours ahead of it.
    ahead = FakeClock(datetime.now(timezone.utc) + timedelta(hours=6))
    with open_service(data_dir=folder, clock=ahead) as service:
        paul = service.add_user("Paul Pharm", Role.PHARMACIST, PHARMACIST_PIN)
        prep = service.create_preparation(Patient("Doe, Jane", "M1", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), paul, monograph=BESPONSA)
        verify_order_by_another(service, prep.id, paul)
    with open_service(data_dir=folder) as service:
        warning = service.clock_skew_warning()
        assert warning is not None and "ahead of this workstation's clock" in warning
    code, out, err = cli(capsys, "prep", "show", prep.id, "--data-dir", str(folder))
    assert code == 0 and "WARNING: a time stored" in out and "ahead of this workstation's clock" in out, out
    code, out, err = cli(capsys, "prep", "list", "--data-dir", str(folder))
    assert code == 0 and prep.id in out and "warning" in err and "ahead of this workstation's clock" in err, err
    assert "ahead" not in out  # the list itself stays one preparation a line


# -- 20. no label before the independent check -----------------------------------------------


def test_a_label_cannot_print_before_the_preparation_is_verified(tmp_path, capsys):
    from datetime import date, timedelta

    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import EventType, Patient
    from infusion_app.service import StepRefused
    from infusion_app.service.documents import DocumentService

    folder = tmp_path / "d"
    clock = FakeClock(T0)
    with open_service(data_dir=folder, clock=clock) as service:
        paul = service.add_user("Paul Pharm", Role.PHARMACIST, PHARMACIST_PIN)
        tina = service.add_user("Tina Tech", Role.TECHNICIAN, "112233", actor=paul)
        prep = service.create_preparation(Patient("Doe, Jane", "M1", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tina, monograph=BESPONSA)
        verify_order_by_another(service, prep.id, paul)
        service.record_event(prep.id, EventType.RECONSTITUTED, tina)
        clock.advance(minutes=20)
        service.record_event(prep.id, EventType.DILUTED, tina, details={"storage": "room"})
        with pytest.raises(StepRefused) as refused:
            DocumentService(service).label(prep.id)
        assert refused.value.code == "not_verified"
    out = tmp_path / "label.pdf"
    code, _, err = cli(capsys, "label", prep.id, "--out", str(out), "--data-dir", str(folder))
    assert code == 1 and "not verified" in err and not out.exists()
    assert cli(capsys, "sheet", prep.id, "--out", str(tmp_path / "sheet.pdf"), "--data-dir", str(folder))[0] == 0  # the record prints
    with open_service(data_dir=folder, clock=FakeClock(T0 + timedelta(minutes=30))) as service:
        service.record_event(prep.id, EventType.VERIFIED, service.user("Paul Pharm"), details=checked(service, prep.id))
    assert cli(capsys, "label", prep.id, "--out", str(out), "--data-dir", str(folder))[0] == 0


# -- 11. the replay covers every table that matters -------------------------------------------


@pytest.fixture(scope="module")
def replayable(tmp_path_factory):
    from datetime import date, timedelta

    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import EventType, Patient, VialRecord
    from infusion_app.service.course import CourseService

    folder = tmp_path_factory.mktemp("replay") / "d"
    clock = FakeClock(datetime(2026, 12, 20, 9, 0, tzinfo=timezone.utc))
    with open_service(data_dir=folder, clock=clock) as service:
        paul = service.add_user("Paul Pharm", Role.PHARMACIST, PHARMACIST_PIN)
        tina = service.add_user("Tina Tech", Role.TECHNICIAN, "112233", actor=paul)
        service.set_setting("warning_lead_minutes", 40, paul)
        prep = service.create_preparation(Patient("Doe, Jane", "M1", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tina, monograph=BESPONSA)
        for _ in range(service.get(prep.id).order.calculation.vials):  # reconstitution waits for each vial the dose needs
            service.add_vial(prep.id, VialRecord("LOT1", date(2099, 1, 1)), tina, product_confirmed=True)
        verify_order_by_another(service, prep.id, paul)
        service.record_event(prep.id, EventType.RECONSTITUTED, tina)
        courses = CourseService(service)
        courses.new_course("M1", False, paul, monograph=BESPONSA)
        courses.record_blasts("M1", 4000, "2026-12-19", paul)
        courses.record_weight("M1", "70 kg", "2026-12-19", paul)
        courses.start_cycle("M1", "2026-12-20", paul)
        from tests.lab_helpers import labs_for_dose

        labs_for_dose(courses, "M1", clock.now().date(), paul, paul)
        courses.record_dose("M1", 1, 1, "2026-12-20", paul)
        clock.advance(timedelta(minutes=1))
        assert service.verify_audit().intact
    return folder


@pytest.mark.parametrize(
    "statement, words",
    [
        ("UPDATE preparations SET active = 0", "active"),
        ("UPDATE preparations SET event_count = 0", "event count"),
        ("UPDATE preparations SET created_at = '2026-12-01T09:00:00.000000+00:00'", "creation time"),
        ("UPDATE preparations SET monograph_revision = 'r0'", "monograph revision"),
        ("UPDATE users SET name = 'Tina Thief' WHERE name = 'Tina Tech'", "display name"),
        ("UPDATE vials SET added_by = 'Paul Pharm'", "vials"),
        ("UPDATE settings SET updated_by = 'Tina Tech'", "author"),
        ("UPDATE courses SET reduction_level = 2", "course"),
        ("UPDATE courses SET hsct_planned = 1", "course"),
        ("UPDATE course_cycles SET start = '2026-12-27'", "course"),
        ("UPDATE course_doses SET given_on = '2026-12-21'", "course"),
        ("DELETE FROM course_doses", "course"),
        # re-walk of issue 15 (items 4 and 11): every column written from the entry is replayed
        ("UPDATE preparations SET monograph_id = 'gemtuzumab-ozogamicin'", "drug"),
        ("UPDATE preparations SET patient_name = 'Roe, Jane'", "patient"),
        ("UPDATE preparations SET mrn = 'M2'", "patient"),
        ("UPDATE preparations SET date_of_birth = '1971-01-01'", "patient"),
        ("UPDATE preparations SET created_by = 'Paul Pharm'", "patient or order"),
        ("UPDATE vials SET added_at = '2026-12-01T09:00:00.000000+00:00'", "vial numbers or times"),
        ("UPDATE vials SET position = 5 WHERE position = (SELECT MAX(position) FROM vials)", "vial numbers or times"),
        ("UPDATE vials SET lot = 'LOT9'", "vials"),
        ("UPDATE vials SET expiry = '2099-02-01'", "vials"),
        ("UPDATE vials SET expires_at = '2099-02-01T09:00:00.000000+00:00'", "vials"),  # 0010: the expiry time is replayed too
        ("UPDATE users SET created_at = '2026-12-01T09:00:00.000000+00:00' WHERE name = 'Tina Tech'", "creation time"),
        ("UPDATE users SET role = 'pharmacist' WHERE name = 'Tina Tech'", "role"),
        ("UPDATE users SET active = 0 WHERE name = 'Tina Tech'", "active"),
        ("UPDATE users SET pin_hash = (SELECT pin_hash FROM users WHERE name = 'Paul Pharm')", "pin_fingerprint"),
        ("UPDATE events SET station = 'elsewhere'", "station"),
        ("UPDATE events SET user_name = 'Paul Pharm' WHERE type = 'reconstituted'", "differs from its audit entry"),
        ("UPDATE events SET at = '2026-12-20T08:00:00.000000+00:00' WHERE type = 'reconstituted'", "differs from its audit entry"),
        ("UPDATE events SET recorded_at = '2026-12-20T08:00:00.000000+00:00' WHERE type = 'reconstituted'", "differs from its audit entry"),
        ("UPDATE events SET type = 'discarded' WHERE type = 'reconstituted'", "differs from its audit entry"),
        ("UPDATE events SET details_json = '{\"x\":1}' WHERE type = 'reconstituted'", "differs from its audit entry"),
        ("UPDATE settings SET updated_at = '2026-12-01T09:00:00.000000+00:00'", "change time"),
        ("UPDATE settings SET value_json = '41'", "setting"),
        ("UPDATE courses SET monograph_id = 'gemtuzumab-ozogamicin'", "course"),
        ("UPDATE courses SET created_at = '2026-12-01T09:00:00.000000+00:00'", "creation time or author"),
        ("UPDATE courses SET created_by = 'Tina Tech'", "creation time or author"),
        ("UPDATE courses SET updated_at = '2026-12-01T09:00:00.000000+00:00'", "change time"),
        ("UPDATE courses SET version = 2", "version"),
        ("UPDATE courses SET is_child = 1", "course"),
        ("UPDATE courses SET blasts_per_mm3 = 900", "course"),
        ("UPDATE courses SET dosing_weight_kg = 60", "course"),
        ("UPDATE courses SET date_of_birth = '1971-01-01'", "course"),
        ("UPDATE course_cycles SET extended_to_28 = 1", "course"),
        ("UPDATE course_cycles SET reduction_level = 1", "course"),
        ("UPDATE course_doses SET mg_per_m2 = 0.5", "course"),
        ("UPDATE course_doses SET preparation_id = 'BSP-XXXXX'", "course"),
        ("UPDATE course_labs SET values_json = '{}'", "course"),
        ("UPDATE course_labs SET recorded_by = 'Tina Tech'", "course"),
        ("UPDATE course_labs SET taken_at = '2026-12-01T09:00:00.000000+00:00'", "course"),
        ("UPDATE course_labs SET kind = 'lft' WHERE kind = 'cbc'", "course"),
    ],
)
def test_the_replay_finds_changes_in_every_table(replayable, tmp_path, statement, words):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(replayable, folder)
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        connection.execute(statement)
    connection.close()
    result = _verify(folder)
    assert not result.intact and words in result.reason, result.reason


@pytest.fixture(scope="module")
def advised(tmp_path_factory, replayable):
    """The replayable database with a decided advice and a labs override besides its labs and dose."""
    import shutil

    from infusion_app.domain.dose_modification import infusion_reaction_advice
    from infusion_app.service.course import CourseService

    folder = tmp_path_factory.mktemp("advised") / "d"
    shutil.copytree(replayable, folder)
    with open_service(data_dir=folder, clock=FakeClock(datetime(2026, 12, 20, 9, 5, tzinfo=timezone.utc))) as service:
        courses = CourseService(service)
        paul = service.user("Paul Pharm")
        courses.assess("M1", infusion_reaction_advice(2, monograph=BESPONSA), paul)
        courses.decide("M1", 1, True, "Dr Who", "per label", paul)
        assert service.verify_audit().intact
    return folder


@pytest.mark.parametrize(
    "statement, words",
    [
        ("""UPDATE course_advice SET decision_json = '{"decision":"accept"}'""", "course_advice row 1"),
        ("UPDATE course_advice SET decision_json = 'x'", "malformed JSON"),
        ("""UPDATE course_advice SET decision_json = json_set(decision_json, '$.accepted', 'yes')""", "accepted"),
        ("""UPDATE course_advice SET decision_json = json_set(decision_json, '$.at', '2026-12-20T09:05:00')""", "UTC offset"),
        ("UPDATE course_advice SET advice_json = '[]'", "not a mapping"),
        ("""UPDATE course_advice SET advice_json = json_set(advice_json, '$.action', 'zap')""", "course_advice row 1"),
        ("""UPDATE course_advice SET advice_json = json_set(advice_json, '$.sources', json('[1]'))""", "sources"),
        ("""UPDATE course_advice SET advice_json = json_remove(advice_json, '$.code')""", "code"),
        ("UPDATE course_labs SET values_json = '[1]'", "course_labs row"),
        ("""UPDATE course_labs SET values_json = json_set(values_json, '$.anc', 'x') WHERE kind = 'cbc'""", "anc is 'x'"),
        ("""UPDATE course_labs SET values_json = json_set(values_json, '$.anc', -1) WHERE kind = 'cbc'""", "anc is '-1', not a count of 0 or more"),
        ("""UPDATE course_labs SET values_json = json_set(values_json, '$.transfusion_independent', 'y') WHERE kind = 'cbc'""", "transfusion_independent"),
        ("UPDATE course_labs SET kind = 'zz'", "kind 'zz'"),
        ("UPDATE courses SET checklist_json = '[]'", "checklist"),
        ("UPDATE course_cycles SET omitted_days = 'a,b'", "course_cycles row 1"),
    ],
)
def test_an_unreadable_course_row_is_one_line_and_verify_reports_it(advised, tmp_path, capsys, statement, words):
    """Re-walk of issue 15 item 7: a course row edited by hand crashed course show and audit
    verify (KeyError 'advice_code'); it is one line naming the row (exit 3), verify says altered."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(advised, folder)
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        connection.execute(statement)
    connection.close()
    code, out, err = cli(capsys, "audit", "verify", "--data-dir", str(folder))
    assert code == 1 and "Traceback" not in err and "MRN M1" in out and words in out, (code, out, err)
    for argv in (["course", "show", "M1"], ["course", "show", "M1", "--json"]):
        code, out, err = cli(capsys, *argv, "--data-dir", str(folder))
        # (the data is dated ahead of this machine's clock: its warning says so on a line of its own)
        said = [line for line in err.strip().splitlines() if "ahead of this workstation's clock" not in line]
        assert code == 3 and "Traceback" not in err and len(said) == 1, (argv, code, err)
        assert "of the course of MRN M1" in err and words in err, err


def test_a_deleted_course_is_found(replayable, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(replayable, folder)
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        for table in ("course_doses", "course_cycles", "course_responses", "course_advice", "courses"):
            connection.execute(f"DELETE FROM {table}")
    connection.close()
    result = _verify(folder)
    assert not result.intact and "deleted" in result.reason


# -- 21. an IntegrityError says what failed ---------------------------------------------------


def test_a_constraint_other_than_the_name_is_not_reported_as_a_taken_name(data):
    from infusion_app.storage import StorageError

    connection = sqlite3.connect(data / DB_FILENAME)
    with connection:  # a trigger stands in for any other constraint of a future schema
        connection.execute("CREATE TRIGGER refuse BEFORE INSERT ON users BEGIN SELECT RAISE(ABORT, 'constraint failed: CHECK'); END")
    connection.close()
    with open_service(data_dir=data, clock=FakeClock(T0)) as service:
        paul = service.authenticate("Paul Pharm", PHARMACIST_PIN)
        with pytest.raises(StorageError) as failed:
            service.add_user("Nia New", Role.NURSE, "975310", actor=paul)
        assert "already exists" not in str(failed.value) and "could not be stored" in str(failed.value)
