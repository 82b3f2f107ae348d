"""Several stations on one database (issue 14): real processes and connections against PostgreSQL,
and what must hold on SQLite too (append-only audit, stale writers refused, the station recorded)."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import NullPool

from tests.postgres_server import execute_autocommit, with_database
from tests.prep_helpers import verify_order
from tests.station_worker import run_station, stations_context

from tests.drugs import BESPONSA
from infusion_app.cli import main
from infusion_app.domain.clock import FakeClock
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.ports import AuditDraft
from infusion_app.domain.records import EventType as E
from infusion_app.domain.records import Patient, Role, VialRecord
from infusion_app.service import StepRefused, open_service
from infusion_app.storage import NewerDatabaseError, StorageError
from infusion_app.storage.database import SchemaBehindError, application_role_sql, known_revisions

PATIENT = Patient("Doe, Jane", "MRN-1001", date(1970, 5, 17))
ORDER = DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1)
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


def staff(service) -> dict:
    paul = service.add_user("Paul Pharm", Role.PHARMACIST, "222222")
    return {
        "pharm": paul,
        "olga": service.add_user("Olga Order", Role.PHARMACIST, "333333", actor=paul),
        "tina": service.add_user("Tina Tech", Role.TECHNICIAN, "111111", actor=paul),
        "tom": service.add_user("Tom Tech", Role.TECHNICIAN, "555555", actor=paul),
    }


def ready_to_reconstitute(service, people) -> str:
    status = service.create_preparation(PATIENT, ORDER, people["tina"], monograph=BESPONSA)
    for _ in range(service.get(status.id).order.calculation.vials):  # reconstitution waits for each vial the dose needs
        service.add_vial(status.id, VialRecord("LOT-1", date(2099, 1, 1)), people["tina"], product_confirmed=True)
    verify_order(service, status.id)
    return status.id


class Stations:
    """Station processes (tests/station_worker.py), each opened and waiting; go() releases them all."""

    def __init__(self, data_dir: Path, database: str):
        self.data_dir, self.database = data_dir, database
        self.stations: list[tuple[BaseProcess, Connection]] = []

    def start(self, station: str, *action: str) -> None:
        context = stations_context()
        ours, theirs = context.Pipe()
        process = context.Process(target=run_station, args=(theirs, str(self.data_dir), self.database, station, *action), name=station)
        process.start()
        theirs.close()
        self.stations.append((process, ours))

    def go(self) -> list[dict]:
        for process, connection in self.stations:
            said = _answer(process, connection)
            assert said == "ready", said
        for _, connection in self.stations:  # released together: the writes race
            connection.send("go")
        results = []
        for process, connection in self.stations:
            result = _answer(process, connection)
            process.join(timeout=120)
            assert process.exitcode == 0 and "crashed" not in result, result
            results.append(result)
        return results


def _answer(process: BaseProcess, connection: Connection):
    if not connection.poll(120):
        raise AssertionError(f"station {process.name} said nothing for 120 s")
    try:
        return connection.recv()
    except EOFError:
        process.join(timeout=10)
        raise AssertionError(f"station {process.name} ended (exit code {process.exitcode}) without an answer") from None


# -- conflicting steps ----------------------------------------------------------------------


@pytest.mark.slow
def test_two_stations_reconstituting_one_preparation_at_once_exactly_one_wins(tmp_path, postgres_url):
    with open_service(data_dir=tmp_path, database=postgres_url, station="bench-1") as service:
        prep_id = ready_to_reconstitute(service, staff(service))
    stations = Stations(tmp_path, postgres_url)
    for number, user in enumerate(["Tina Tech", "Tom Tech", "Tina Tech", "Tom Tech"], start=1):
        stations.start(f"bench-{number}", "step", prep_id, "reconstituted", user)
    results = stations.go()
    assert sum(result["ok"] for result in results) == 1, results
    refused = [result for result in results if not result["ok"]]
    assert all(result["error"] == "StepRefused" for result in refused), refused
    with open_service(data_dir=tmp_path, database=postgres_url) as service:
        prep = service.get(prep_id)
        assert [e.type for e in prep.events].count(E.RECONSTITUTED) == 1
        assert service.verify_audit().intact


def test_the_station_that_loses_a_race_is_told_what_the_other_recorded_and_who(tmp_path, database):
    """Station B read the preparation, then station A recorded the step, then B wrote."""
    a = open_service(data_dir=tmp_path, database=database, clock=FakeClock(T0), station="bench-A")
    people = staff(a)
    prep_id = ready_to_reconstitute(a, people)
    url = None if a.location.path is not None else a.location.url
    b = open_service(data_dir=tmp_path, database=url, clock=FakeClock(T0), station="bench-B")
    try:
        reads = b.repository.get_preparation

        def read_then_lose_the_race(wanted):
            prep = reads(wanted)
            if not getattr(read_then_lose_the_race, "done", False):
                read_then_lose_the_race.done = True
                a.record_event(prep_id, E.RECONSTITUTED, people["tina"])
            return prep

        b.repository.get_preparation = read_then_lose_the_race
        with pytest.raises(StepRefused) as refused:
            b.record_event(prep_id, E.RECONSTITUTED, b.user("Tom Tech"))
        message = refused.value.message
        assert "reconstituted recorded by Tina Tech at 2026-03-10T08:00:00Z at station bench-A" in message, message
        assert "not recorded" in message
        assert [e.type for e in a.get(prep_id).events].count(E.RECONSTITUTED) == 1
    finally:
        a.close()
        b.close()


VIAL_CODE = "]d2(01)00300080100011(17)280531(10)LOTRACE(21)SERRACE1"


@pytest.mark.slow
def test_four_stations_recording_one_vial_for_four_patients_at_once_exactly_one_wins(tmp_path, postgres_url):
    """The reuse check and the insert were two transactions: every station read "not used" and all
    stored the one single-dose vial. The serial is locked for the check and the insert."""
    with open_service(data_dir=tmp_path, database=postgres_url, station="bench-1") as service:
        people = staff(service)
        preps = [service.create_preparation(PATIENT, ORDER, people["tina"], monograph=BESPONSA).id for _ in range(4)]
    stations = Stations(tmp_path, postgres_url)
    for number, prep_id in enumerate(preps, start=1):
        stations.start(f"bench-{number}", "vial", prep_id, VIAL_CODE, "Tina Tech" if number % 2 else "Tom Tech")
    results = stations.go()
    assert sum(result["ok"] for result in results) == 1, results
    winner = preps[[result["ok"] for result in results].index(True)]
    for result in results:
        if not result["ok"]:
            assert result["error"] == "StepRefused" and result["code"] == "vial_used_elsewhere", result
            assert f"recorded for preparation {winner}, which is still open" in result["message"], result
    with open_service(data_dir=tmp_path, database=postgres_url) as service:
        assert [len(service.get(prep_id).vials) for prep_id in preps].count(1) == 1
        assert service.verify_audit().intact


def test_a_station_that_read_a_vial_as_unused_is_refused_when_another_stored_it_meanwhile(tmp_path, database):
    """Station B checked the vial (no other preparation has it), then station A stored it for another
    patient, then B wrote: B is refused, naming A's preparation, and nothing of B's is stored."""
    a = open_service(data_dir=tmp_path, database=database, clock=FakeClock(T0), station="bench-A")
    people = staff(a)
    first = a.create_preparation(PATIENT, ORDER, people["tina"], monograph=BESPONSA).id
    second = a.create_preparation(PATIENT, ORDER, people["tina"], monograph=BESPONSA).id
    url = None if a.location.path is not None else a.location.url
    b = open_service(data_dir=tmp_path, database=url, clock=FakeClock(T0), station="bench-B")
    try:
        reads = b.repository.preparations_with_vial

        def read_then_lose_the_race(*args):
            found = reads(*args)
            if not getattr(read_then_lose_the_race, "done", False):
                read_then_lose_the_race.done = True
                a.add_vial(first, VIAL_CODE, people["tina"])
            return found

        b.repository.preparations_with_vial = read_then_lose_the_race
        with pytest.raises(StepRefused) as refused:
            b.add_vial(second, VIAL_CODE, b.user("Tom Tech"))
        assert refused.value.code == "vial_used_elsewhere" and f"recorded for preparation {first}" in refused.value.message
        assert len(a.get(first).vials) == 1 and a.get(second).vials == []
        # The same at a new order's creation.
        with pytest.raises(StepRefused) as at_creation:
            b.create_preparation(PATIENT, ORDER, b.user("Tom Tech"), vials=[b.read_vial_code(VIAL_CODE, BESPONSA)], monograph=BESPONSA)
        assert at_creation.value.code == "vial_used_elsewhere"
    finally:
        a.close()
        b.close()


def test_a_vial_removed_and_a_reconstitution_at_two_stations_meanwhile_never_both_pass(tmp_path, database):
    """Each was checked against the preparation as read before the other's write: a reconstitution was
    stored with a vial fewer than the dose needs, or a vial removed from a reconstituted dose's record."""
    a = open_service(data_dir=tmp_path, database=database, clock=FakeClock(T0), station="bench-A")
    people = staff(a)
    url = None if a.location.path is not None else a.location.url
    b = open_service(data_dir=tmp_path, database=url, clock=FakeClock(T0), station="bench-B")
    try:
        # B reconstitutes, checked with every vial; A removes one meanwhile.
        first = ready_to_reconstitute(a, people)
        reads = b.repository.get_preparation

        def read_then_a_vial_goes(wanted):
            prep = reads(wanted)
            if not getattr(read_then_a_vial_goes, "done", False):
                read_then_a_vial_goes.done = True
                a.remove_vial(first, 1, people["tina"], "scanned for the wrong patient")
            return prep

        b.repository.get_preparation = read_then_a_vial_goes
        with pytest.raises(StepRefused) as refused:
            b.record_event(first, E.RECONSTITUTED, b.user("Tom Tech"))
        assert refused.value.code == "vials_not_recorded" and "vials of preparation" in refused.value.message, refused.value.message
        assert a.get(first).last(E.RECONSTITUTED) is None
        # B removes a vial, checked before the reconstitution; A reconstitutes meanwhile.
        second = ready_to_reconstitute(a, people)

        def read_then_reconstituted(wanted):
            prep = reads(wanted)
            if not getattr(read_then_reconstituted, "done", False):
                read_then_reconstituted.done = True
                a.record_event(second, E.RECONSTITUTED, people["tina"])
            return prep

        b.repository.get_preparation = read_then_reconstituted
        vials = len(a.get(second).vials)
        with pytest.raises(StepRefused) as kept:
            b.remove_vial(second, 1, b.user("Tom Tech"), "scanned for the wrong patient")
        assert kept.value.code == "vials_reconstituted"
        assert len(a.get(second).vials) == vials
    finally:
        a.close()
        b.close()


@pytest.mark.slow
def test_many_stations_writing_at_once_keep_unique_numbers_and_one_unbroken_chain(tmp_path, postgres_url):
    with open_service(data_dir=tmp_path, database=postgres_url) as service:
        people = staff(service)
        preps = [ready_to_reconstitute(service, people) for _ in range(4)]
    stations = Stations(tmp_path, postgres_url)
    for number, prep_id in enumerate(preps, start=1):
        stations.start(f"bench-{number}", "step", prep_id, "reconstituted", "Tina Tech")
    results = stations.go()
    assert all(result["ok"] for result in results), results
    with open_service(data_dir=tmp_path, database=postgres_url) as service:
        entries = service.audit_entries()
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        steps = [e for e in entries if e.action == "event.reconstituted"]
        assert sorted(e.station for e in steps) == ["bench-1", "bench-2", "bench-3", "bench-4"]
        assert service.verify_audit().intact


def test_a_lost_race_is_retried_a_bounded_number_of_times_then_one_line(tmp_path, postgres_url):
    """A row another station keeps locked past the lock timeout (55P03): retried, then refused in one line."""
    from infusion_app.storage import repository as storage

    with open_service(data_dir=tmp_path, database=postgres_url, clock=FakeClock(T0)) as service:
        staff(service)
        holder = create_engine(postgres_url, poolclass=NullPool)
        try:
            with holder.connect() as other:
                other.execute(text("SELECT * FROM audit_head WHERE id = 1 FOR UPDATE"))  # another station, stuck mid-write
                engine = service.repository.engine
                from sqlalchemy import event

                @event.listens_for(engine, "connect")
                def _short_lock_wait(dbapi_connection, _record):
                    with dbapi_connection.cursor() as cursor:
                        cursor.execute("SET lock_timeout = '50ms'")
                    dbapi_connection.commit()

                engine.dispose()  # new connections, with the short wait
                with pytest.raises(StorageError) as failed:
                    service.repository.append_audit(AuditDraft(T0, "Paul Pharm", "test", "x"))
                other.rollback()
        finally:
            holder.dispose()
    message = str(failed.value)
    assert f"{storage.WRITE_ATTEMPTS} times" in message and "lock not available" in message and "nothing of it was stored" in message
    assert "\n" not in message


# -- versioned rows -----------------------------------------------------------------------------


def test_a_setting_changed_by_another_station_meanwhile_is_refused_not_overwritten(tmp_path, database):
    clock = FakeClock(T0)
    with open_service(data_dir=tmp_path, database=database, clock=clock, station="office") as first:
        people = staff(first)
        url = None if first.location.path is not None else first.location.url
        with open_service(data_dir=tmp_path, database=url, clock=clock, station="ward") as second:
            seen_by_second = second.setting_version("warning_lead_minutes")  # the form is open at the ward
            seen_by_first = first.setting_version("warning_lead_minutes")
            first.set_setting("warning_lead_minutes", 45, people["pharm"], expected=seen_by_first)
            clock.advance(minutes=1)
            with pytest.raises(StepRefused) as refused:
                second.set_setting("warning_lead_minutes", 20, second.user("Olga Order"), expected=seen_by_second)
            assert refused.value.message == "setting warning_lead_minutes was changed by Paul Pharm at 2026-03-10T08:00:00Z; reload"
            assert second.settings().as_dict()["warning_lead_minutes"] == 45
            # Reloaded, the change goes through.
            second.set_setting("warning_lead_minutes", 20, second.user("Olga Order"), expected=second.setting_version("warning_lead_minutes"))
            assert first.settings().as_dict()["warning_lead_minutes"] == 20
            assert first.verify_audit().intact


def test_a_course_saved_by_another_station_meanwhile_is_refused_naming_who_and_when(tmp_path, database):
    from infusion_app.domain.course import Course
    from infusion_app.domain.ports import ConcurrentChange
    from infusion_app.storage.course_repository import SqlCourseRepository

    with open_service(data_dir=tmp_path, database=database, clock=FakeClock(T0), station="ward") as service:
        courses = SqlCourseRepository(service.engine)
        courses.add_course(
            Course(mrn="MRN-1001", monograph_id="inotuzumab-ozogamicin", hsct_planned=False),
            "Paul Pharm",
            AuditDraft(T0, "Paul Pharm", "course.created", "MRN-1001"),
        )
        mine, theirs = courses.get_course("MRN-1001"), courses.get_course("MRN-1001")
        theirs.hsct_planned = True  # another station
        courses.save_course(theirs, [AuditDraft(T0 + timedelta(minutes=5), "Olga Order", "course.changed", "MRN-1001")])
        mine.is_child = True
        with pytest.raises(ConcurrentChange) as refused:
            courses.save_course(mine, [AuditDraft(T0, "Paul Pharm", "course.changed", "MRN-1001")])
    assert str(refused.value) == "the course for MRN MRN-1001 was changed by Olga Order at 2026-03-10T08:05:00Z at station ward; reload"


def test_the_replay_reads_courses_in_its_own_transaction_and_finds_an_unreadable_advice(tmp_path, database):
    """Re-walk of issue 15 items 7/11 on both databases: verify reads each course in the
    transaction that reads the log, and a decision edited by hand is reported altered, not a crash."""
    from infusion_app.domain.dose_modification import infusion_reaction_advice
    from infusion_app.service.course import CourseService

    with open_service(data_dir=tmp_path, database=database, clock=FakeClock(T0), station="ward") as service:
        paul = service.add_user("Paul Pharm", Role.PHARMACIST, "246813")
        courses = CourseService(service)
        courses.new_course("MRN-1001", False, paul, monograph=BESPONSA)
        courses.assess("MRN-1001", infusion_reaction_advice(2, monograph=BESPONSA), paul)
        courses.decide("MRN-1001", 1, True, "Dr Who", "per label", paul)
        assert service.verify_audit().intact
        with service.engine.begin() as connection:
            connection.execute(text("""UPDATE course_advice SET decision_json = '{"decision":"accept"}'"""))
        check = service.verify_audit()
        assert not check.intact and "course_advice row 1 of the course of MRN MRN-1001" in check.reason, check.reason
        assert "altered" in check.reason


# -- append-only audit --------------------------------------------------------------------------


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'Mallory' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 1"])
def test_the_database_itself_refuses_to_change_or_delete_an_audit_entry(tmp_path, database, statement):
    with open_service(data_dir=tmp_path, database=database, clock=FakeClock(T0)) as service:
        staff(service)
        with pytest.raises(DatabaseError) as refused:
            with service.engine.begin() as connection:
                connection.exec_driver_sql(statement)
        assert "the audit log is append-only" in str(refused.value)
        assert service.audit_entries()[0].actor.startswith("local-admin") and service.verify_audit().intact


def test_the_application_role_may_append_but_never_change_delete_or_unprotect_the_log(tmp_path, postgres_url, postgres_admin_url):
    role = f"infusion_app_{os.getpid()}"
    execute_autocommit(postgres_admin_url, f"DROP ROLE IF EXISTS {role}", f"CREATE ROLE {role} LOGIN")
    try:
        execute_autocommit(postgres_url, *application_role_sql(role))
        as_app = f"postgresql+psycopg://{role}@/{postgres_url.rsplit('/', 1)[1]}"
        with open_service(data_dir=tmp_path, database=as_app, clock=FakeClock(T0)) as service:
            people = staff(service)  # a station works as the role: users, preparations, steps
            prep_id = ready_to_reconstitute(service, people)
            service.record_event(prep_id, E.RECONSTITUTED, people["tina"])
            for statement, words in [
                ("UPDATE audit_log SET actor = 'Mallory' WHERE seq = 1", "permission denied"),
                ("DELETE FROM audit_log WHERE seq = 1", "permission denied"),
                ("TRUNCATE audit_log", "permission denied"),
                ("ALTER TABLE audit_log DISABLE TRIGGER USER", "must be owner"),
                ("DROP TRIGGER audit_log_append_only ON audit_log", "must be owner"),
                ("UPDATE alembic_version SET version_num = '0001'", "permission denied"),
                ("CREATE TABLE mine (x int)", "permission denied"),
            ]:
                with pytest.raises(DatabaseError) as refused:
                    with service.engine.begin() as connection:
                        connection.exec_driver_sql(statement)
                assert words in str(refused.value), (statement, refused.value)
            assert service.verify_audit().intact
        # Even the owner (here the superuser) is refused by the trigger.
        with pytest.raises(DatabaseError, match="append-only"):
            execute_autocommit(postgres_url, "UPDATE audit_log SET actor = 'Mallory' WHERE seq = 1")
    finally:
        execute_autocommit(postgres_url, f"DROP OWNED BY {role}")
        execute_autocommit(postgres_admin_url, f"DROP ROLE IF EXISTS {role}")


def test_db_grants_prints_the_role_sql_and_refuses_a_name_that_is_not_plain(capsys):
    assert main(["db", "grants", "infusion_app"]) == 0
    out = capsys.readouterr().out
    assert "REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM infusion_app;" in out
    assert main(["db", "grants", "app; DROP TABLE users"]) == 2
    assert "role" in capsys.readouterr().err


# -- the station on every entry and event ------------------------------------------------------


def test_every_event_and_audit_entry_records_its_station(tmp_path, database, monkeypatch):
    monkeypatch.setenv("INFUSION_PREP_STATION", "chair 3")
    with open_service(data_dir=tmp_path, database=database, clock=FakeClock(T0)) as service:
        people = staff(service)
        prep_id = ready_to_reconstitute(service, people)
        assert service.station == "chair 3"
        assert {e.station for e in service.get(prep_id).events} == {"chair 3"}
        assert {e.station for e in service.audit_entries()} == {"chair 3"}
        assert service.verify_audit().intact
    with open_service(data_dir=tmp_path, database=database, clock=FakeClock(T0), station="bench-2") as other:
        other.record_event(prep_id, E.RECONSTITUTED, other.user("Tina Tech"))
        assert [e.station for e in other.get(prep_id).events][-1] == "bench-2"
        # The station is part of the entry's hash: changing it breaks the chain.
        entry = other.audit_entries()[-1]
        from infusion_app.storage.audit import entry_hash

        key = other.repository.seal.key
        assert entry.hash == entry_hash(
            entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.before, entry.after, key, "bench-2"
        )
        assert entry.hash != entry_hash(
            entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.before, entry.after, key, "bench-1"
        )


# -- explicit migrations ------------------------------------------------------------------------


def test_a_station_never_migrates_a_shared_database_and_db_upgrade_does_with_the_backup_advice_first(tmp_path, postgres_admin_url, capsys):
    name = f"infusion_empty_{os.getpid()}"
    execute_autocommit(postgres_admin_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    url = with_database(postgres_admin_url, name)
    try:
        head = known_revisions()[1]
        with pytest.raises(SchemaBehindError) as refused:
            open_service(data_dir=tmp_path, database=url)
        assert "none (an empty database)" in str(refused.value) and head in str(refused.value) and "db upgrade" in str(refused.value)
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar() == 0
        assert main(["db", "status", "--database", url, "--data-dir", str(tmp_path)]) == 0
        assert "needs 'infusion-prep db upgrade'" in capsys.readouterr().out
        assert main(["db", "upgrade", "--database", url, "--data-dir", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert out.index("pg_dump") < out.index(f"to {head}")
        with open_service(data_dir=tmp_path, database=url) as service:
            assert not service.has_users()
        assert main(["db", "upgrade", "--database", url, "--data-dir", str(tmp_path)]) == 0
        assert "already at schema revision" in capsys.readouterr().out
        # An older client against this schema: the newer revision, and what the client knows, are named.
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
        engine.dispose()
        with pytest.raises(NewerDatabaseError) as newer:
            open_service(data_dir=tmp_path, database=url)
        assert "0099_from_the_future" in str(newer.value) and f"up to {head}" in str(newer.value)
        assert main(["prep", "list", "--database", url, "--data-dir", str(tmp_path)]) == 3
        err = capsys.readouterr().err
        assert "0099_from_the_future" in err and head in err and len(err.strip().splitlines()) == 1, err
    finally:
        execute_autocommit(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_sqlite_still_migrates_at_start(tmp_path):
    with open_service(data_dir=tmp_path, clock=FakeClock(T0)) as service:
        assert service.migration.to_revision == known_revisions()[1]


# -- one clock for the site ---------------------------------------------------------------------


def test_a_skewed_workstation_records_the_servers_time_and_is_warned(tmp_path, postgres_url):
    from infusion_app.service.preparations import PreparationService
    from infusion_app.storage import SqlRepository, open_database
    from infusion_app.storage.server_clock import ServerClock

    class FastClock:  # this workstation's clock, 10 minutes fast
        def now(self):
            return datetime.now(timezone.utc) + timedelta(minutes=10)

    engine, location, migration = open_database(tmp_path, postgres_url, station="skewed")
    service = PreparationService(SqlRepository(engine), ServerClock(engine, wall=FastClock()), engine=engine, location=location, migration=migration)
    try:
        people = staff(service)
        prep_id = ready_to_reconstitute(service, people)
        with engine.connect() as connection:
            server_now = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
        recorded = service.get(prep_id).events[-1].recorded_at
        assert abs(recorded - server_now) < timedelta(seconds=30), (recorded, server_now)
        warning = service.clock_skew_warning()
        assert warning is not None and "600 s ahead of the database server's" in warning and "tolerance 60 s" in warning
        service.set_setting("clock_skew_tolerance_seconds", 900, people["pharm"])
        assert service.clock_skew_warning() is None
    finally:
        service.close()


def test_a_station_on_time_is_not_warned(tmp_path, postgres_url):
    with open_service(data_dir=tmp_path, database=postgres_url) as service:
        assert service.clock_skew_warning() is None


# -- PIN lockout across processes ---------------------------------------------------------------


@pytest.mark.slow
def test_wrong_pins_from_several_stations_add_up_to_one_lockout(tmp_path, postgres_url):
    with open_service(data_dir=tmp_path, database=postgres_url) as service:
        staff(service)
    stations = Stations(tmp_path, postgres_url)
    for number in range(2):
        stations.start(f"chair-{number}", "wrong-pins", "Tina Tech", "2")
    results = stations.go()
    assert all(len(result["messages"]) == 2 for result in results)
    with open_service(data_dir=tmp_path, database=postgres_url) as service:
        assert service.repository.sign_in_failures("tina tech")[0] == 4  # none lost between stations
    stations = Stations(tmp_path, postgres_url)
    stations.start("bench", "wrong-pins", "Tina Tech", "1")  # the fifth, at a third station
    stations.go()
    stations = Stations(tmp_path, postgres_url)
    stations.start("office", "sign-in", "Tina Tech", "111111")  # the right PIN, at a fourth: locked out
    [result] = stations.go()
    assert not result["ok"] and "too many wrong PINs" in result["message"]


def test_the_sheet_shows_the_station_each_signed_step_was_recorded_at(tmp_path, monkeypatch):
    from infusion_app.domain.deadlines import compute_deadlines
    from infusion_app.domain.limits import site_defaults
    from infusion_app.reports.model import SheetData

    with open_service(data_dir=tmp_path, clock=FakeClock(T0), station="bench-2") as service:
        people = staff(service)
        prep_id = ready_to_reconstitute(service, people)
        service.record_event(prep_id, E.RECONSTITUTED, people["tina"])
        prep = service.get(prep_id)
        deadlines = compute_deadlines(prep.events, service.monograph_of(prep), T0, site_defaults().warning_lead_time)
        data = SheetData.from_preparation(prep, service.monograph_of(prep), deadlines, printed_at=T0, program_version="9.9", tz=timezone.utc)
    prepared = next(s for s in data.signatures if s.role == "Prepared by")
    assert prepared.name == "Tina Tech" and prepared.at.endswith(", station bench-2"), prepared


# -- site configuration -------------------------------------------------------------------------


def test_the_site_file_names_the_database_and_the_station(tmp_path, postgres_url, monkeypatch, capsys):
    site = tmp_path / "site.toml"
    site.write_text(f'database = "{postgres_url}"\nstation = "bench-7"\n', encoding="utf-8")
    monkeypatch.setenv("INFUSION_PREP_SITE_CONFIG", str(site))
    monkeypatch.setenv("INFUSION_PREP_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    monkeypatch.setenv("INFUSION_PREP_AUDIT_ANCHOR_FILE", str(tmp_path / "audit-anchor.log"))
    monkeypatch.delenv("INFUSION_PREP_STATION", raising=False)
    with open_service(clock=FakeClock(T0)) as service:  # no folder, no URL: the site file's
        assert service.location.url == postgres_url and service.station == "bench-7"
        staff(service)
    assert main(["db", "status"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_a_password_is_refused_on_the_command_line_and_in_the_site_file(tmp_path, monkeypatch, capsys):
    assert main(["prep", "list", "--database", "postgresql+psycopg://app:s3cret@db.example/infusion"]) == 2
    err = capsys.readouterr().err
    assert "--database" in err and ".pgpass" in err and "s3cret" not in err
    site = tmp_path / "site.toml"
    site.write_text('database = "postgresql+psycopg://app:s3cret@db.example/infusion"\n', encoding="utf-8")
    monkeypatch.setenv("INFUSION_PREP_SITE_CONFIG", str(site))
    with pytest.raises(StorageError) as refused:
        open_service(clock=FakeClock(T0))
    assert ".pgpass" in str(refused.value) and "s3cret" not in str(refused.value)
    site.write_text('databse = "x"\n', encoding="utf-8")
    with pytest.raises(StorageError, match="unknown key 'databse'"):
        open_service(clock=FakeClock(T0))


def test_a_station_without_the_sites_audit_key_is_refused_before_it_writes(tmp_path, postgres_url, capsys):
    with open_service(data_dir=tmp_path / "bench", database=postgres_url, clock=FakeClock(T0)) as service:
        staff(service)
        entries = len(service.audit_entries())
    with pytest.raises(StorageError) as refused:
        open_service(data_dir=tmp_path / "chair", database=postgres_url, clock=FakeClock(T0))
    assert "no audit key" in str(refused.value) and not (tmp_path / "chair" / "audit.key").exists()
    (tmp_path / "chair").mkdir(exist_ok=True)
    (tmp_path / "chair" / "audit.key").write_text("ab" * 32 + "\n", encoding="ascii")  # another site's key
    (tmp_path / "chair" / "audit.key").chmod(0o600)
    with open_service(data_dir=tmp_path / "chair", database=postgres_url, clock=FakeClock(T0)) as wrong_key:
        assert len(wrong_key.audit_entries()) == entries  # it reads, and may run audit verify,
        with pytest.raises(StorageError) as no_write:
            wrong_key.add_user("Nora Nurse", Role.NURSE, "444444", actor=wrong_key.user("Paul Pharm"))  # but never writes
        # Said as what it is, with the key's id for IT to compare, not as altered entries or a broken chain.
        from infusion_app.storage.audit_seal import key_id

        wrong_id = key_id(bytes.fromhex("ab" * 32))
        assert "audit key" in str(no_write.value) and "is not the key the audit entries were written with" in str(no_write.value)
        assert f"key id {wrong_id}" in str(no_write.value) and "altered" not in str(no_write.value)
        check = wrong_key.verify_audit()
        assert not check.intact and check.first_broken == 1
        assert "is not the key the audit entries were written with" in check.reason and f"key id {wrong_id}" in check.reason
        assert "altered" not in check.reason and "not a broken chain" in check.reason
    from infusion_app.storage.audit_seal import key_id as id_of

    right_id = id_of(bytes.fromhex((tmp_path / "bench" / "audit.key").read_text(encoding="ascii").strip()))
    capsys.readouterr()
    assert main(["audit", "verify", "--data-dir", str(tmp_path / "chair"), "--database", postgres_url]) == 1
    out = capsys.readouterr().out
    assert out.startswith("audit log NOT CHECKED at this station: this station's audit key") and "BROKEN" not in out
    assert main(["audit", "verify", "--data-dir", str(tmp_path / "bench"), "--database", postgres_url]) == 0
    assert f"(audit key id {right_id})" in capsys.readouterr().out
    import shutil

    shutil.copy(tmp_path / "bench" / "audit.key", tmp_path / "chair" / "audit.key")  # as README says
    with open_service(data_dir=tmp_path / "chair", database=postgres_url, clock=FakeClock(T0), station="chair-1") as chair:
        chair.add_user("Nora Nurse", Role.NURSE, "444444", actor=chair.user("Paul Pharm"))
        assert len(chair.audit_entries()) == entries + 1 and chair.verify_audit().intact
    with open_service(data_dir=tmp_path / "bench", database=postgres_url, clock=FakeClock(T0)) as bench:
        assert bench.verify_audit().intact


# -- live updates -------------------------------------------------------------------------------


def test_a_step_committed_at_one_station_wakes_the_others_listener_at_once(tmp_path, postgres_url):
    import select

    from infusion_app.storage.changes_listener import ChangeListener

    with open_service(data_dir=tmp_path, database=postgres_url, clock=FakeClock(T0), station="bench") as bench:
        people = staff(bench)
        prep_id = ready_to_reconstitute(bench, people)
        with open_service(data_dir=tmp_path, database=postgres_url, clock=FakeClock(T0), station="chair") as chair:
            listener = ChangeListener(chair.engine)
            try:
                assert not listener.drain()  # nothing yet
                token = chair.changes_since(None).token
                bench.record_event(prep_id, E.RECONSTITUTED, people["tina"])
                # The socket becomes readable by the notification alone (no polling here); the
                # latency is bench_stations.py's to measure, not a wall-clock assert on a loaded CI.
                readable, _, _ = select.select([listener.fileno()], [], [], 15.0)  # what a QSocketNotifier waits on
                assert readable and listener.drain(timeout=5.0)
                assert chair.changes_since(token).preparations == {prep_id}
                assert not listener.drain()  # read once
            finally:
                listener.close()


class SteppedWall:
    """A workstation's wall clock: the real time plus a step that a test sets (NTP, a person)."""

    def __init__(self):
        self.step = timedelta(0)

    def now(self):
        return datetime.now(timezone.utc) + self.step


class FakeMonotonic:
    """Monotonic time that moves only when told (`following`: the real one plus what was added)."""

    def __init__(self, following: bool = False):
        import time

        self._real = time.monotonic if following else None
        self.value = 0.0 if following else time.monotonic()

    def __call__(self):
        return self.value + (self._real() if self._real else 0.0)


def _server_now(engine):
    with engine.connect() as connection:
        return connection.execute(text("SELECT clock_timestamp()")).scalar_one()


def test_the_server_clock_runs_on_the_monotonic_clock_between_readings_and_its_error_is_bounded(tmp_path, postgres_url):
    """Between readings (every 30 s) an instant is the last server reading plus monotonic time:
    a step of the workstation's wall clock moves nothing; the error is half the reading's round trip."""
    from infusion_app.storage import open_database
    from infusion_app.storage.server_clock import ServerClock

    engine, _location, _migration = open_database(tmp_path, postgres_url)
    try:
        wall, monotonic = SteppedWall(), FakeMonotonic()
        clock = ServerClock(engine, wall=wall, monotonic=monotonic)
        first = clock.now()
        real = _server_now(engine)
        # Fake monotonic time stood still while the server's ran on: first is behind by that much at most.
        assert timedelta(0) <= real - first <= clock.uncertainty * 2 + timedelta(milliseconds=250), (first, real, clock.uncertainty)
        wall.step = timedelta(minutes=3)  # the workstation's clock is stepped between readings
        monotonic.value += 5.0
        assert clock.now() - first == timedelta(seconds=5)  # the wall clock's step is not in it
        assert clock.readings == 1
        monotonic.value += 30.0  # due: read again; the skew is now measured
        clock.now()
        assert clock.readings == 2 and abs(clock.offset + timedelta(minutes=3)) < timedelta(seconds=1)
    finally:
        engine.dispose()


def test_a_station_whose_clock_is_stepped_ahead_never_freezes_anothers_countdown(tmp_path, postgres_url):
    """Two stations, one skewed: the skewed one stamps the server's time, so the other one's
    clock floor (raised to every stored instant) is not dragged ahead and its countdown moves on."""
    from infusion_app.service.preparations import PreparationService
    from infusion_app.storage import SqlRepository, open_database
    from infusion_app.storage.server_clock import ServerClock

    opened = []
    try:

        def station(name, wall, monotonic=None):
            engine, location, migration = open_database(tmp_path, postgres_url, station=name)
            clock = ServerClock(engine, wall=wall, **({"monotonic": monotonic} if monotonic else {}))
            service = PreparationService(SqlRepository(engine), clock, engine=engine, location=location, migration=migration)
            opened.append(service)
            return service

        skewed_wall = SteppedWall()
        skewed = station("bench-skewed", skewed_wall)
        chair_monotonic = FakeMonotonic(following=True)
        chair = station("chair", SteppedWall(), chair_monotonic)
        people = staff(skewed)
        prep_id = ready_to_reconstitute(skewed, people)
        skewed_wall.step = timedelta(minutes=3)  # the bench's clock jumps ahead after its last reading
        skewed.record_event(prep_id, E.RECONSTITUTED, people["tina"])
        stamped = skewed.get(prep_id).events[-1].recorded_at
        assert abs(stamped - _server_now(skewed.engine)) < timedelta(seconds=5), stamped  # the server's time, not +3 min
        before = chair.status(prep_id)  # the chair reads the bench's step: its clock floor takes the stored instants
        chair_monotonic.value += 10.0
        after = chair.status(prep_id)
        assert not before.clock_jumped_back
        # Counting down, not frozen at a future instant (old: the bench stamped its clock + the offset read before the step).
        assert timedelta(seconds=10) <= after.now - before.now < timedelta(seconds=13)
        assert before.next_deadline.at == after.next_deadline.at
    finally:
        for service in opened:
            service.close()
