"""The audit log: every change appended, hash-chained; tampering through raw SQL is found."""

from __future__ import annotations

from tests.drugs import BESPONSA

import csv
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from datetime import date, datetime, timedelta, timezone

import pytest

from infusion_app.cli import main
from infusion_app.domain.clock import FakeClock
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.records import EventType as E
from infusion_app.domain.records import Patient, Role, VialRecord
from infusion_app.service import open_service
from infusion_app.storage.audit import GENESIS, canonical_json, entry_hash, verify_chain
from infusion_app.storage.database import DB_FILENAME
from tests.lab_helpers import order_labs

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Site:
    """The filled database: an SQLite file in `data_dir`, or a PostgreSQL database (`database`)."""

    data_dir: Path
    database: str | None

    def open(self, clock=None):
        return open_service(data_dir=self.data_dir, database=self.database, clock=clock or FakeClock(T0))

    @property
    def cli(self) -> list[str]:
        return ["--data-dir", str(self.data_dir), *(["--database", self.database] if self.database else [])]


def fill(site: Site) -> None:
    """One of each kind of change in the site's audit log."""
    clock = FakeClock(T0)
    with site.open(clock) as service:
        pharm = service.add_user("Paul", Role.PHARMACIST, "222222")
        tech = service.add_user("Tina", Role.TECHNICIAN, "111111", actor=pharm)
        service.add_user("Nora", Role.NURSE, "444444", actor=pharm)
        service.set_setting("warning_lead_minutes", 40, pharm)
        prep = service.create_preparation(
            Patient("Doe, Jane", "M1", date(1970, 1, 1)), DoseOrder("120 cm", "30 kg", 1, 1), tech, monograph=BESPONSA
        )  # one vial: the log below counts its entries
        service.add_vial(prep.id, VialRecord("LOT-9", date(2027, 1, 1)), tech, product_confirmed=True)
        service.record_event(prep.id, E.ORDER_VERIFIED, pharm, details=order_labs(service.now()))
        service.record_event(prep.id, E.RECONSTITUTED, tech)
        clock.advance(hours=3, minutes=30)
        service.acknowledge_alarm(prep.id, "dilute_by", "warning", tech)
        clock.advance(minutes=20)
        service.record_event(prep.id, E.DILUTED, tech, details={"storage": "room"})
        service.deactivate_user("Nora", actor=pharm)
        assert service.verify_audit().intact


@pytest.fixture(scope="module")
def filled_templates(request, tmp_path_factory):
    """The filled site, made at its first request once per dialect for this module's tests, each
    of which tampers with its own copy: the scenario's writes ran again for every one of the 48
    tests (issue 19). Returns (data folder, PostgreSQL database name or None)."""
    made: dict[str, tuple[Path, str | None]] = {}

    def template(dialect: str) -> tuple[Path, str | None]:
        if dialect not in made:
            folder = tmp_path_factory.mktemp(f"filled-{dialect}")
            if dialect == "sqlite":
                fill(Site(folder, None))
                made[dialect] = (folder, None)
            else:
                from tests.postgres_server import execute_autocommit, with_database

                admin = request.getfixturevalue("postgres_admin_url")
                migrated = request.getfixturevalue("postgres_template")
                name = f"infusion_filled_{os.getpid()}"
                execute_autocommit(admin, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name} TEMPLATE {migrated}")
                copies = request.getfixturevalue("reused_copies")

                def drop() -> None:
                    copies.forget(name)
                    execute_autocommit(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

                request.addfinalizer(drop)
                fill(Site(folder, with_database(admin, name)))
                made[dialect] = (folder, name)
        return made[dialect]

    return template


@pytest.fixture(params=["sqlite", "postgresql"])
def filled(request, tmp_path, filled_templates):
    """A copy of the filled site: its data folder (the SQLite file, or the audit seal beside a
    PostgreSQL database) and, for PostgreSQL, its own database made from the filled one."""
    folder, template_name = filled_templates(request.param)
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    if template_name is None:
        yield Site(tmp_path, None)
        return
    from tests.postgres_server import with_database

    admin = request.getfixturevalue("postgres_admin_url")
    copies = request.getfixturevalue("reused_copies")
    name = copies.take(template_name)
    try:
        yield Site(tmp_path, with_database(admin, name))
    finally:
        copies.give_back(name)


def raw(site: Site, *statements):
    """Change the tables behind the program's back, as whoever owns them could: the audit log's
    append-only triggers are dropped (SQLite) or disabled (PostgreSQL, the owner) first."""
    if site.database is None:
        connection = sqlite3.connect(site.data_dir / DB_FILENAME)
        with connection:
            connection.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
            connection.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
            for statement in statements:
                connection.execute(statement)
        connection.close()
        return
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(site.database, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
            for statement in statements:
                connection.exec_driver_sql(statement.replace("%", "%%"))
            connection.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER USER")
    finally:
        engine.dispose()


def one_value(site: Site, query: str):
    if site.database is None:
        connection = sqlite3.connect(site.data_dir / DB_FILENAME)
        try:
            return connection.execute(query).fetchone()[0]
        finally:
            connection.close()
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(site.database, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql(query).scalar()
    finally:
        engine.dispose()


def check(site: Site):
    with site.open() as service:
        return service.verify_audit()


def test_every_kind_of_change_is_in_the_log_with_who_and_when(filled):
    with filled.open() as service:
        entries = service.audit_entries()
    actions = [e.action for e in entries]
    assert actions == [
        "user.added",
        "user.added",
        "user.added",
        "setting.changed",
        "preparation.created",
        "vial.added",
        "event.order-verified",
        "event.reconstituted",
        "alarm.acknowledged",
        "event.diluted",
        "user.deactivated",
    ]
    assert entries[0].actor.startswith("local-admin (os user ")
    assert entries[2].actor == "Paul"
    assert entries[6].actor == "Paul" and "order-verified" in entries[6].after
    assert entries[10].before == '{"active":true}' and json.loads(entries[10].after)["active"] is False
    assert all(json.loads(e.after)["os_user"] for e in entries if e.action.startswith("user."))  # the OS account too
    assert entries[4].at == "2026-03-10T08:00:00.000000+00:00"
    assert entries[9].at == "2026-03-10T11:50:00.000000+00:00"
    assert all("111111" not in e.after and "222222" not in e.after for e in entries)  # no PIN ever


def test_an_intact_log_verifies(filled):
    result = check(filled)
    assert result.intact and result.entries == 11 and result.first_broken is None


def test_an_edited_entry_is_found(filled):
    raw(filled, "UPDATE audit_log SET after_json = replace(after_json, 'Paul', 'Petra') WHERE seq = 7")
    result = check(filled)
    assert result.first_broken == 7 and "altered" in result.reason


def test_an_edited_actor_is_found(filled):
    raw(filled, "UPDATE audit_log SET actor = 'Petra' WHERE seq = 5")
    assert check(filled).first_broken == 5


def test_a_deleted_entry_is_found(filled):
    raw(filled, "DELETE FROM audit_log WHERE seq = 6")
    assert check(filled).first_broken == 7


def test_deleting_the_newest_entries_is_found(filled):
    raw(filled, "DELETE FROM audit_log WHERE seq >= 10")
    result = check(filled)
    assert not result.intact and result.first_broken == 10


def test_deleting_the_newest_entry_is_found_even_after_more_are_written(filled):
    raw(filled, "DELETE FROM audit_log WHERE seq = 11")
    with filled.open() as service:
        service.set_setting("paper_size", "a4", service.user("Paul"))
        assert service.verify_audit().first_broken == 12


def test_reordered_entries_are_found(filled):
    raw(
        filled,
        "UPDATE audit_log SET seq = 100 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE seq = 100",
    )
    assert check(filled).first_broken == 3


def test_an_inserted_entry_with_a_valid_looking_hash_is_found(filled):
    previous = one_value(filled, "SELECT hash FROM audit_log WHERE seq = 4")
    at, actor, action, subject, before, after = "2026-03-10T08:00:00.000000+00:00", "Paul", "user.added", "Mallory", "null", '{"name":"Mallory"}'
    forged = entry_hash(previous, 5, at, actor, action, subject, before, after)
    raw(
        filled,
        "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 5",
        "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000",
        "INSERT INTO audit_log (seq, at, actor, action, subject, before_json, after_json, prev_hash, hash) "
        f"VALUES (5, '{at}', '{actor}', '{action}', '{subject}', '{before}', '{after}', '{previous}', '{forged}')",
    )
    result = check(filled)
    # The chain is keyed: a forger without the site secret cannot give entry 5 a valid hash.
    assert result.first_broken == 5 and "altered" in result.reason


def test_verify_chain_on_its_own():
    assert verify_chain([], None).intact
    assert not verify_chain([], (1, "ab")).intact  # a head with no entries: everything was deleted


def test_canonical_json_is_stable_and_typed():
    value = {"b": [1, 2], "a": datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=1))), "c": date(2026, 1, 2), "d": E.DILUTED, "é": "ü"}
    assert canonical_json(value) == '{"a":"2026-01-01T08:00:00.000000+00:00","b":[1,2],"c":"2026-01-02","d":"diluted","é":"ü"}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    assert len(entry_hash(GENESIS, 1, "t", "a", "x", "s", "null", "null")) == 64


def test_audit_verify_command_exit_codes(filled, capsys):
    assert main(["audit", "verify", *filled.cli]) == 0
    assert "intact: 11 entries" in capsys.readouterr().out
    raw(filled, "UPDATE audit_log SET subject = 'other' WHERE seq = 2")
    assert main(["audit", "verify", *filled.cli]) == 1
    out = capsys.readouterr().out
    assert "BROKEN at entry 2" in out
    assert main(["audit", "verify", "--json", *filled.cli]) == 1
    import json

    assert json.loads(capsys.readouterr().out)["first_broken"] == 2


def test_audit_export_writes_every_entry_as_csv(filled, tmp_path, capsys):
    target = tmp_path / "audit.csv"
    assert main(["audit", "export", "--out", str(target), *filled.cli]) == 0
    import stat

    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # it names patients
    with target.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 12  # the export itself is audited first: the file names patients
    assert rows[-1]["action"] == "audit.exported"
    import socket

    assert {row["station"] for row in rows} == {socket.gethostname()}  # the workstation of every entry
    assert rows[0]["action"] == "user.added" and rows[0]["prev_hash"] == GENESIS
    assert all(rows[i]["prev_hash"] == rows[i - 1]["hash"] for i in range(1, len(rows)))
    assert main(["audit", "export", "--out", str(tmp_path / "missing" / "a.csv"), *filled.cli]) == 2
    assert "--out" in capsys.readouterr().err


# -- the data tables against the log --------------------------------------------------------


@pytest.mark.parametrize(
    "statement, expected_seq, words",
    [
        ("UPDATE users SET role = 'pharmacist' WHERE name = 'Tina'", 2, "role"),
        ("UPDATE users SET active = true WHERE name = 'Nora'", 11, "active"),
        ("UPDATE users SET pin_hash = (SELECT pin_hash FROM users WHERE name = 'Tina') WHERE name = 'Paul'", 1, "pin_fingerprint"),
        ("DELETE FROM users WHERE name = 'Nora'", 11, "deleted"),
        ("UPDATE preparations SET order_json = replace(order_json, '\"dose_mg\":0.8', '\"dose_mg\":8.0')", 5, "order"),
        ("UPDATE preparations SET mrn = 'M2'", 5, "patient"),
        ("UPDATE vials SET lot = 'LOT-8'", 6, "vials"),
        ("DELETE FROM events WHERE type = 'diluted'", 10, "deleted"),
        ("UPDATE events SET details_json = '{\"storage\":\"fridge\"}' WHERE type = 'diluted'", 10, "differs"),
        ("UPDATE events SET at = '2026-03-10T11:00:00.000000+00:00' WHERE type = 'reconstituted'", 8, "differs"),
        ("UPDATE settings SET value_json = '240'", 4, "setting"),
    ],
)
def test_data_changed_behind_the_programs_back_is_found(filled, statement, expected_seq, words):
    raw(filled, statement)
    result = check(filled)
    assert result.first_broken == expected_seq, result.reason
    assert words in result.reason


def test_data_added_without_an_audit_entry_is_found(filled):
    raw(
        filled,
        "INSERT INTO events (preparation_id, seq, type, at, recorded_at, user_name, details_json) "
        "SELECT id, 5, 'verified', '2026-03-10T12:11:00.000000+00:00', '2026-03-10T12:11:00.000000+00:00', 'Paul', '{}' FROM preparations",
    )
    result = check(filled)
    assert result.first_broken == 12 and "without an audit entry" in result.reason
