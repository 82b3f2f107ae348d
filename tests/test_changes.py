"""The change feed (service.changes_since) and the instant a deadline's state next changes
(domain deadlines.next_state_change): what lets the board reread and recompute only what changed.

The feed's tests run on SQLite and on PostgreSQL (the `database` fixture, tests/conftest.py): a
shared server database is where another station's writes come from."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infusion_app.domain import deadlines as rules
from infusion_app.domain.clock import FakeClock
from infusion_app.domain.records import Event, EventType, VialRecord
from infusion_app.service import open_service
from infusion_app.storage.database import DB_FILENAME
from tests.conftest import TEMPLATE_INSTANT, add_staff
from tests.drugs import BESPONSA
from tests.test_service import ORDER, PATIENT, T0

LEAD = timedelta(minutes=30)


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def database_url(database, staffed_data_dir, clock):
    """None (the staffed SQLite file) or a fresh PostgreSQL database given the same STAFF, in order."""
    if database is not None:
        with open_service(data_dir=staffed_data_dir, database=database, clock=FakeClock(TEMPLATE_INSTANT)) as svc:
            add_staff(svc)
    return database


@pytest.fixture
def service(staffed_data_dir, database_url, clock):
    svc = open_service(data_dir=staffed_data_dir, database=database_url, clock=clock)
    yield svc
    svc.close()


def test_the_first_call_says_everything_and_later_calls_name_the_preparations_changed(service, staff):
    first = service.changes_since(None)
    assert first.everything
    assert service.changes_since(first.token).none
    a = service.create_preparation(PATIENT, ORDER, staff["tech"], monograph=BESPONSA).id
    b = service.create_preparation(PATIENT, ORDER, staff["tech"], monograph=BESPONSA).id
    after_create = service.changes_since(first.token)
    assert not after_create.everything and after_create.preparations == {a, b}
    for _ in range(service.get(a).order.calculation.vials):  # reconstitution waits for each vial the dose needs
        service.add_vial(a, VialRecord(lot="LOT1", expiry=date(2027, 6, 30)), staff["tech"], product_confirmed=True)
    after_ack = service.changes_since(after_create.token)
    assert after_ack.preparations == {a} and not after_ack.everything
    assert service.changes_since(after_ack.token).none


def test_a_refused_preparation_or_a_user_change_names_no_preparation(service, staff):
    token = service.changes_since(None).token
    service.add_user("Olga Other", "nurse", "555555", actor=staff["pharm"])
    changes = service.changes_since(token)
    assert changes.token > token and changes.preparations == frozenset() and not changes.everything


def test_a_setting_changed_reloads_everything(service, staff):
    token = service.changes_since(None).token
    service.set_setting("warning_lead_minutes", 45, staff["pharm"])
    assert service.changes_since(token).everything


def test_another_workstation_on_the_same_database_is_seen(service, staff, staffed_data_dir, database_url, clock):
    token = service.changes_since(None).token
    with open_service(data_dir=staffed_data_dir, database=database_url, clock=clock, station="other") as other:
        prep_id = other.create_preparation(PATIENT, ORDER, other.user(staff["tech"].name), monograph=BESPONSA).id
    assert service.changes_since(token).preparations == {prep_id}


def test_an_older_copy_of_the_database_put_back_reloads_everything(service, staff, staffed_data_dir, database_url, clock, tmp_path):
    service.close()
    if database_url is None:
        backup = tmp_path / "older.sqlite"
        shutil.copy(staffed_data_dir / DB_FILENAME, backup)
    else:  # a server database restored from a copy: here a database made from it as a template
        from sqlalchemy.engine import make_url

        from tests.postgres_server import execute_autocommit, with_database

        name, admin = make_url(database_url).database, with_database(database_url, "postgres")
        execute_autocommit(admin, f"CREATE DATABASE {name}_older TEMPLATE {name}")
    with open_service(data_dir=staffed_data_dir, database=database_url, clock=clock) as svc:
        svc.create_preparation(PATIENT, ORDER, svc.user(staff["tech"].name), monograph=BESPONSA)
        token = svc.changes_since(None).token
    if database_url is None:
        shutil.copy(backup, staffed_data_dir / DB_FILENAME)
    else:
        execute_autocommit(admin, f"DROP DATABASE {name} WITH (FORCE)", f"CREATE DATABASE {name} TEMPLATE {name}_older", f"DROP DATABASE {name}_older")
    with open_service(data_dir=staffed_data_dir, database=database_url, clock=clock) as svc:
        assert svc.changes_since(token).everything


def test_active_preparations_leaves_out_finished_and_unknown_ones(service, staff):
    kept = service.create_preparation(PATIENT, ORDER, staff["tech"], monograph=BESPONSA).id
    gone = service.create_preparation(PATIENT, ORDER, staff["tech"], monograph=BESPONSA).id
    service.record_event(gone, EventType.DISCARDED, staff["pharm"], details={"reason": "dropped"})
    assert [p.id for p in service.active_preparations([kept, gone, "BSP-22222"])] == [kept]


# -- next_state_change ------------------------------------------------------------------------

MONOGRAPH = BESPONSA


def _events(minutes: list[int]) -> list[Event]:
    kinds = [EventType.RECONSTITUTED, EventType.DILUTED, EventType.LABELLED]
    events = []
    for kind, offset in zip(kinds, minutes, strict=False):
        at = T0 + timedelta(minutes=offset)
        details = {"storage": "room"} if kind is EventType.DILUTED else {}
        events.append(Event(kind, at, at, "Tina Tech", details))
    return events


def _states(events, now):
    return [d.state for d in rules.compute_deadlines(events, MONOGRAPH, now, LEAD)]


@given(
    steps=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=3).map(lambda xs: [sum(xs[: i + 1]) for i in range(len(xs))]),
    after=st.integers(min_value=0, max_value=60 * 30),
)
def test_no_state_changes_before_the_instant_given_and_one_does_at_it(steps, after):
    events = _events(steps)
    now = events[-1].at + timedelta(minutes=after)
    deadlines = rules.compute_deadlines(events, MONOGRAPH, now, LEAD)
    change = rules.next_state_change(deadlines, now, LEAD)
    if change is None:
        assert _states(events, now + timedelta(days=30)) == _states(events, now)
        return
    assert change > now
    just_before = change - timedelta(microseconds=1)
    assert _states(events, just_before) == _states(events, now)
    assert _states(events, change) != _states(events, now)


def test_the_change_instants_of_the_dilution_limit_are_its_warning_due_and_expiry():
    events = _events([0])
    limit = rules.compute_deadlines(events, MONOGRAPH, T0, LEAD)[0].at
    seen, now = [], T0
    while (change := rules.next_state_change(rules.compute_deadlines(events, MONOGRAPH, now, LEAD), now, LEAD)) is not None:
        seen.append(change)
        now = change
    tick = timedelta(microseconds=1)
    assert seen[:3] == [limit - LEAD + tick, limit - rules.DUE_WINDOW + tick, limit + tick]
    assert datetime(2026, 1, 1, tzinfo=timezone.utc) < seen[0]
