"""A station that loses the shared PostgreSQL server (issue 14): it says so, keeps the last
deadlines counting down, refuses new steps at once with the reason (never queues them) and
reconnects by itself with backoff. A real server of its own, stopped and started again, and
backends killed with pg_terminate_backend."""

from __future__ import annotations

from tests.drugs import BESPONSA

from datetime import date, datetime, timedelta, timezone

import pytest

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.connection import ConnectionWatch, NotLive
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.formatting import format_instant
from infusion_app.domain.records import EventType as E
from infusion_app.domain.records import Patient, Role, VialRecord
from infusion_app.service import open_service

from tests.postgres_server import execute_autocommit
from tests.prep_helpers import verify_order

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


def prepared(service) -> tuple[str, dict]:
    paul = service.add_user("Paul Pharm", Role.PHARMACIST, "222222")
    people = {
        "pharm": paul,
        "olga": service.add_user("Olga Order", Role.PHARMACIST, "333333", actor=paul),
        "tina": service.add_user("Tina Tech", Role.TECHNICIAN, "111111", actor=paul),
    }
    status = service.create_preparation(Patient("Doe, Jane", "MRN-1", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), people["tina"], monograph=BESPONSA)
    for _ in range(service.get(status.id).order.calculation.vials):  # reconstitution waits for each vial the dose needs
        service.add_vial(status.id, VialRecord("LOT-1", date(2099, 1, 1)), people["tina"], product_confirmed=True)
    verify_order(service, status.id)
    return status.id, people


def test_the_backoff_doubles_to_thirty_seconds_and_a_success_ends_it():
    watch = ConnectionWatch()
    watch.succeeded(T0)
    waits = []
    for attempt in range(7):
        now = T0 + timedelta(minutes=attempt)
        watch.lost("connection refused", now)
        waits.append((watch.state.retry_at - now).total_seconds())
        assert not watch.retry_due(now)
    assert waits == [1, 2, 4, 8, 16, 30, 30]
    state = watch.state
    assert not state.live and state.lost_at == T0 and state.last_update == T0 and state.failures == 7
    assert state.headline(timezone.utc) == "NOT LIVE — last update 2026-03-10 08:00 UTC"
    assert watch.succeeded(T0 + timedelta(hours=1)) and watch.state.live


def test_a_stopped_server_refuses_steps_at_once_stores_nothing_and_the_station_reconnects(tmp_path, own_server):
    cluster, url = own_server
    clock = FakeClock(T0)
    with open_service(data_dir=tmp_path, database=url, clock=clock, station="bench") as service:
        service.watch_connection()
        prep_id, people = prepared(service)
        assert service.connection_state().live
        cluster.pause()
        with pytest.raises(NotLive) as first:  # tried, failed: not live from now
            service.record_event(prep_id, E.RECONSTITUTED, people["tina"])
        assert first.value.code == "not-live"
        assert first.value.message.startswith("not recorded: this station has lost the database server since 2026-03-10")
        assert "nothing was stored or queued" in first.value.message
        state = service.connection_state()
        assert not state.live and state.last_update == T0 and state.failures == 1
        with pytest.raises(NotLive):  # refused at once: the retry is not due yet
            service.record_event(prep_id, E.RECONSTITUTED, people["tina"])
        assert service.connection_state().failures == 1  # nothing was tried
        cluster.resume()
        clock.advance(seconds=1)  # the first retry is due after 1 s
        assert service.connection_retry_due()
        assert E.RECONSTITUTED not in [e.type for e in service.get(prep_id).events]  # the refused step was never queued
        assert service.connection_state().live  # the read answered: live again
        service.record_event(prep_id, E.RECONSTITUTED, people["tina"])
        assert [e.type for e in service.get(prep_id).events].count(E.RECONSTITUTED) == 1 and service.verify_audit().intact


def test_a_backend_killed_by_the_server_is_replaced_without_losing_the_station(tmp_path, own_server):
    _cluster, url = own_server
    with open_service(data_dir=tmp_path, database=url, clock=FakeClock(T0), station="chair") as service:
        service.watch_connection()
        prep_id, people = prepared(service)
        execute_autocommit(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'infusion-prep' AND pid <> pg_backend_pid()")
        service.record_event(prep_id, E.RECONSTITUTED, people["tina"])  # a pooled connection was dead: a new one
        assert service.connection_state().live and service.verify_audit().intact


def test_a_station_not_watching_a_lost_server_is_a_one_line_storage_error(tmp_path, own_server):
    """Commands do not watch: a lost server is their exit 3 (StorageError), as before."""
    from infusion_app.storage import StorageError

    cluster, url = own_server
    with open_service(data_dir=tmp_path, database=url, clock=FakeClock(T0)) as service:
        prep_id, people = prepared(service)
        cluster.pause()
        with pytest.raises(StorageError) as refused:
            service.record_event(prep_id, E.RECONSTITUTED, people["tina"])
        assert "\n" not in str(refused.value) and not isinstance(refused.value, NotLive)
        cluster.resume()


def test_the_headline_names_the_last_update_in_local_time_with_its_date():
    watch = ConnectionWatch()
    watch.succeeded(T0)
    watch.lost("server closed the connection unexpectedly", T0 + timedelta(seconds=5))
    assert watch.state.headline() == f"NOT LIVE — last update {format_instant(T0)}"
    details = watch.state.details(T0 + timedelta(seconds=5))
    assert "server closed the connection unexpectedly" in details and "next try in 1 s" in details
