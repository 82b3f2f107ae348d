"""The database file: where it lives, how SQLite is set up, and what the repository stores."""

from __future__ import annotations

import os
import stat
import sqlite3
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from infusion_app.domain.ports import AuditDraft, ConcurrentChange
from infusion_app.domain.records import Event, EventType, Patient, Preparation, Role, User, VialRecord
from infusion_app.storage import SqlRepository, StorageError, open_database, resolve_location
from infusion_app.storage.database import DB_FILENAME

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)


def draft(action: str = "test", subject: str = "x", after=None) -> AuditDraft:
    return AuditDraft(T0, "tester", action, subject, None, after)


@pytest.fixture
def opened(tmp_path):
    engine, location, result = open_database(tmp_path / "data")
    yield engine, location, result
    engine.dispose()


@pytest.fixture
def repository_engine(tmp_path, database):
    """The engine of a fresh database: SQLite in tmp_path, and PostgreSQL (tests/conftest.py)."""
    engine, _location, _result = open_database(tmp_path / "data", database)
    yield engine
    engine.dispose()


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_database_is_created_in_the_data_folder_readable_by_its_owner_only(opened, tmp_path):
    engine, location, _ = opened
    assert location.path == (tmp_path / "data" / DB_FILENAME).resolve()
    assert location.path.exists()
    assert mode(location.path) == 0o600
    assert mode(tmp_path / "data") == 0o700
    SqlRepository(engine).append_audit(draft())  # writes, so the WAL and shared-memory files exist
    for companion in (f"{location.path}-wal", f"{location.path}-shm"):
        if os.path.exists(companion):
            assert mode(companion) == 0o600, companion


def test_a_database_file_readable_by_others_is_tightened_on_open(tmp_path):
    engine, location, _ = open_database(tmp_path)
    engine.dispose()
    location.path.chmod(0o644)
    engine, location, _ = open_database(tmp_path)
    engine.dispose()
    assert mode(location.path) == 0o600


def test_sqlite_runs_in_wal_mode_with_full_sync_and_foreign_keys(opened):
    engine, _, _ = opened
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_foreign_keys_are_enforced(opened):
    engine, _, _ = opened
    repository = SqlRepository(engine)
    with pytest.raises(KeyError):
        repository.add_vial("BSP-NOPE2", VialRecord("L1", date(2030, 1, 1)), draft())
    with pytest.raises(Exception):
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO events (preparation_id, seq, type, at, recorded_at, user_name, details_json) "
                    "VALUES ('BSP-NOPE2', 1, 'reconstituted', 'x', 'x', 'u', '{}')"
                )
            )


def test_tests_never_fall_back_to_the_real_user_data_folder(monkeypatch):
    monkeypatch.setenv("INFUSION_PREP_TESTING", "1")
    with pytest.raises(StorageError, match="INFUSION_PREP_TESTING"):
        resolve_location()


def test_the_default_location_is_the_platform_user_data_folder(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.delenv("INFUSION_PREP_TESTING", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "user-data" / a[0]))
    location = resolve_location()
    assert location.path == tmp_path / "user-data" / "infusion-prep" / DB_FILENAME
    assert location.backups_dir == tmp_path / "user-data" / "infusion-prep" / "backups"


def test_a_database_url_overrides_the_data_folder(tmp_path):
    target = tmp_path / "elsewhere" / "site.db"
    engine, location, _ = open_database(tmp_path / "data", f"sqlite:///{target}")
    engine.dispose()
    assert location.path == target
    assert target.exists() and mode(target) == 0o600
    assert location.backups_dir == (tmp_path / "data" / "backups").resolve()
    assert not (tmp_path / "data" / DB_FILENAME).exists()


def test_a_malformed_database_url_is_a_clear_error(tmp_path):
    with pytest.raises(StorageError, match="not a database URL"):
        resolve_location(tmp_path, "no such scheme :: here")


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / DB_FILENAME
    path.write_bytes(b"this is a spreadsheet, not a database" * 200)
    before = path.read_bytes()
    with pytest.raises(StorageError, match="not a readable SQLite database"):
        open_database(tmp_path)
    assert path.read_bytes() == before


def _sample_order():
    from infusion_app.domain.dosing import DoseOrder, PreparationOrder, calculate_dose
    from infusion_app.domain.monograph import load_monograph

    order = DoseOrder("170 cm", "70 kg", 1, 1)
    return PreparationOrder(order, calculate_dose(order, load_monograph("inotuzumab-ozogamicin")), course={"on_file": False, "flag": "no course on file"})


_SAMPLE_ORDER = _sample_order()


def sample_prep(prep_id: str = "BSP-ABCD7") -> Preparation:
    return Preparation(
        id=prep_id,
        patient=Patient("Łukasz Ø'Brien-Núñez", "MRN-77", date(1961, 2, 28)),
        order=_SAMPLE_ORDER,
        created_at=T0,
        created_by="Tina",
        monograph_id="inotuzumab-ozogamicin",
        monograph_revision="r1",
        vials=[VialRecord("LOT-1", date(2027, 5, 31), gtin="00300080100015", ndc="0008-0100-01", serial="S1")],
    )


def test_a_preparation_round_trips_with_vials_events_and_utc_instants(repository_engine):
    engine = repository_engine
    repository = SqlRepository(engine)
    repository.add_preparation(sample_prep(), draft("preparation.created", "BSP-ABCD7"))
    repository.add_vial("BSP-ABCD7", VialRecord("LOT-2", date(2027, 6, 30)), draft())
    plus_one = timezone(timedelta(hours=1))
    stored = repository.append_events(
        "BSP-ABCD7",
        [Event(EventType.RECONSTITUTED, datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=plus_one), T0, "Tina", {"note": "ok"})],
        expected_count=0,
        active=True,
        audit=[draft()],
    )
    assert stored[0].id is not None
    prep = repository.get_preparation("BSP-ABCD7")
    assert prep.patient == sample_prep().patient
    assert prep.order == sample_prep().order
    assert [v.lot for v in prep.vials] == ["LOT-1", "LOT-2"]
    assert prep.vials[0] == sample_prep().vials[0]
    (event,) = prep.events
    assert event.type is EventType.RECONSTITUTED
    assert event.at == datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=timezone.utc)
    assert event.at.tzinfo is not None and event.at.utcoffset() == timedelta(0)
    assert event.details == {"note": "ok"}
    assert repository.latest_instant() == T0


def test_appending_after_someone_else_appended_is_a_concurrent_change(repository_engine):
    engine = repository_engine
    repository = SqlRepository(engine)
    repository.add_preparation(sample_prep(), draft())
    step = Event(EventType.RECONSTITUTED, T0, T0, "Tina")
    repository.append_events("BSP-ABCD7", [step], expected_count=0, active=True, audit=[draft()])
    entries_before = len(repository.audit_entries())
    with pytest.raises(ConcurrentChange):
        repository.append_events("BSP-ABCD7", [step], expected_count=0, active=True, audit=[draft()])
    assert len(repository.get_preparation("BSP-ABCD7").events) == 1
    assert len(repository.audit_entries()) == entries_before  # the failed transaction left nothing


def test_the_active_flag_filters_the_list(repository_engine):
    engine = repository_engine
    repository = SqlRepository(engine)
    repository.add_preparation(sample_prep("BSP-ABCD7"), draft())
    repository.add_preparation(sample_prep("BSP-WXYZ2"), draft())
    repository.append_events("BSP-WXYZ2", [Event(EventType.DISCARDED, T0, T0, "Tina", {"reason": "dropped"})], 0, False, [draft()])
    assert [p.id for p in repository.list_preparations(active_only=True)] == ["BSP-ABCD7"]
    assert {p.id for p in repository.list_preparations()} == {"BSP-ABCD7", "BSP-WXYZ2"}


def test_users_are_unique_regardless_of_case_and_never_deleted(repository_engine):
    from infusion_app.storage import DuplicateError

    engine = repository_engine
    repository = SqlRepository(engine)
    repository.add_user(User(None, "Ana Silva", Role.NURSE), "hash", draft())
    with pytest.raises(DuplicateError):
        repository.add_user(User(None, "ana  SILVA", Role.PHARMACIST), "hash", draft())
    repository.update_user("ANA SILVA", active=False, audit=draft())
    assert repository.list_users() == []
    assert repository.list_users(include_inactive=True)[0].active is False
    assert repository.get_user("ana silva").name == "Ana Silva"


def test_a_database_url_without_its_driver_is_a_clear_error_that_hides_the_password(tmp_path):
    with pytest.raises(StorageError) as refused:
        open_database(tmp_path, "postgresql+nosuchdriver://pharmacy:s3cret@localhost/infusion")
    assert "cannot use the database" in str(refused.value) and "s3cret" not in str(refused.value)


def test_a_locked_database_is_a_clear_storage_error_and_nothing_is_half_written(tmp_path):
    engine, location, _ = open_database(tmp_path)
    repository = SqlRepository(engine)
    import sqlalchemy

    quick = sqlalchemy.create_engine(f"sqlite:///{location.path}", connect_args={"timeout": 0.1})
    from infusion_app.storage.database import _configure_sqlite

    _configure_sqlite(quick)
    hurried = SqlRepository(quick)
    blocker = sqlite3.connect(location.path)
    blocker.execute("BEGIN IMMEDIATE")  # another workstation holds the write lock
    try:
        with pytest.raises(StorageError, match="nothing of this change was stored"):
            hurried.append_audit(draft())
    finally:
        blocker.rollback()
        blocker.close()
        quick.dispose()
    assert repository.audit_entries() == []
    engine.dispose()
