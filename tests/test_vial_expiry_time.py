"""A vial's expiry time is kept and enforced, not only read (GS1 AI 7003, or a time typed from the carton).

The parser read AI 7003 to the minute, but the vial was recorded with its date only: a vial that
expired at 10:00 was refused when scanned after 10:00, yet a dose made from it at 15:00 the same
day, from a vial scanned at 09:00, was accepted (the later steps judged the date alone). A date
alone (AI 17, a typed date, every vial stored before migration 0010) is the last day of use: the
vial is usable through the end of that day on the site's clock.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.gs1 import parse_gs1
from infusion_app.domain.preparation import StepRefused
from infusion_app.domain.records import EventType as E
from infusion_app.domain.records import Patient, VialRecord
from infusion_app.service import open_service
from tests.conftest import STAFF, add_staff
from tests.drugs import BESPONSA
from tests.prep_helpers import VIAL, verify_order

PATIENT = Patient("Doe, Jane", "MRN-7003", date(1970, 5, 17))
ORDER = DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1)
GTIN = "00300080100011"  # BESPONSA's NDC in a GTIN
# 09:00 on the site's clock (the workstation's zone, whatever it is): the day's times below stay on one date.
NINE = datetime(2026, 3, 10, 9, 0).astimezone()


@pytest.fixture
def clock():
    return FakeClock(NINE.astimezone(timezone.utc))


@pytest.fixture
def service(tmp_path, clock, database, database_templates):
    if database is None:
        database_templates.copy(tmp_path, tuple(STAFF.values()))
    svc = open_service(data_dir=tmp_path, database=database, clock=clock)
    if database is not None:
        add_staff(svc)
    yield svc
    svc.close()


def _code(expires_local: datetime, serial: str) -> str:
    return f"]d2(01){GTIN}(7003){expires_local:%y%m%d%H%M}(10)LOT7003(21){serial}"


def _prep_with_a_vial_expiring_at(service, expires_local: datetime) -> str:
    """A preparation whose first vial's code gives an expiry time (AI 7003); the others are in date."""
    tech = service.user("Tina Tech")
    prep = service.create_preparation(PATIENT, ORDER, tech, monograph=BESPONSA)
    service.add_vial(prep.id, _code(expires_local, "S1"), tech)
    for _ in range(prep.prep.order.calculation.vials - 1):
        service.add_vial(prep.id, VIAL, tech, product_confirmed=True)
    verify_order(service, prep.id)
    return prep.id


def test_a_vial_whose_code_expires_two_hours_before_the_reconstitution_is_refused(service, clock):
    expires = NINE + timedelta(hours=1)  # 10:00 on the site's clock
    prep_id = _prep_with_a_vial_expiring_at(service, expires)
    clock.set(NINE + timedelta(hours=3))  # 12:00 the same day: two hours past the vial's expiry
    with pytest.raises(StepRefused) as refused:
        service.record_event(prep_id, E.RECONSTITUTED, service.user("Tina Tech"))
    assert refused.value.code == "vial-expired" and not refused.value.overridable
    assert "LOT7003" in refused.value.message and f"{expires:%Y-%m-%d %H:%M}" in refused.value.message
    assert service.get(prep_id).last(E.RECONSTITUTED) is None
    stored = service.get(prep_id).vials[0]
    assert stored.expires_at == expires.astimezone(timezone.utc) and stored.expiry == expires.date()


def test_a_bag_made_before_its_vials_expiry_time_is_not_given_after_it(service, clock):
    expires = NINE + timedelta(hours=1)
    prep_id = _prep_with_a_vial_expiring_at(service, expires)
    tech = service.user("Tina Tech")
    clock.set(NINE + timedelta(minutes=20))
    service.record_event(prep_id, E.RECONSTITUTED, tech)  # in date: before 10:00
    clock.set(expires)  # the expiry minute itself: no longer in date
    with pytest.raises(StepRefused) as refused:
        service.record_event(prep_id, E.DILUTED, tech, details={"storage": "room"})
    assert refused.value.code == "vial-expired"


def test_the_expiry_time_is_in_the_audit_entry_and_a_changed_time_is_found(service):
    from sqlalchemy import create_engine, text

    expires = NINE + timedelta(hours=5)
    prep_id = _prep_with_a_vial_expiring_at(service, expires)
    [entry] = [e for e in service.audit_entries() if e.action == "vial.added" and "LOT7003" in e.after]
    assert json.loads(entry.after)["expires_at"] == expires.astimezone(timezone.utc).isoformat()
    assert service.verify_audit().intact
    url = service.location.url
    engine = create_engine(url)
    later = (expires + timedelta(days=1)).astimezone(timezone.utc).isoformat(timespec="microseconds")
    try:
        with engine.begin() as connection:  # the time moved a day later behind the program's back
            connection.execute(text("UPDATE vials SET expires_at = :later WHERE lot = 'LOT7003'"), {"later": later})
    finally:
        engine.dispose()
    result = service.verify_audit()
    assert not result.intact and "vials" in result.reason and prep_id in result.reason, result.reason


def test_a_typed_vial_may_carry_the_time_on_its_carton(service, clock):
    from infusion_app.domain.instants import read_vial_expiry

    tech = service.user("Tina Tech")
    prep = service.create_preparation(PATIENT, ORDER, tech, monograph=BESPONSA)
    day, instant = read_vial_expiry(f"{NINE:%Y-%m-%d} 10:30", "expiry")
    assert (day, instant) == (NINE.date(), (NINE + timedelta(minutes=90)).astimezone(timezone.utc))
    status = service.add_vial(prep.id, VialRecord("TYPED1", day, expires_at=instant), tech, product_confirmed=True)
    assert status.prep.vials[0].expires_at == instant
    assert status.to_dict()["vials"][0]["expires_at"] == instant.isoformat()
    clock.set(NINE + timedelta(minutes=90))
    with pytest.raises(StepRefused) as refused:  # typed at 10:30, with its time: refused from 10:30
        service.add_vial(prep.id, VialRecord("TYPED2", day, expires_at=instant), tech, product_confirmed=True)
    assert refused.value.code == "vial-expired" and "10:30" in refused.value.message
    # The date alone is still the last day of use: in date until the end of that day.
    service.add_vial(prep.id, VialRecord("TYPED3", day), tech, product_confirmed=True)


# -- the domain's reading ------------------------------------------------------------------------


def test_a_date_alone_is_the_last_day_of_use_and_a_time_is_the_minute():
    dated = VialRecord("L", date(2026, 3, 10))
    assert not dated.expired(datetime(2026, 3, 10, 23, 59).astimezone())
    assert dated.expired(datetime(2026, 3, 11, 0, 0).astimezone())
    timed = dataclasses.replace(dated, expires_at=datetime(2026, 3, 10, 10, 0).astimezone().astimezone(timezone.utc))
    assert not timed.expired(datetime(2026, 3, 10, 9, 59).astimezone())
    assert timed.expired(datetime(2026, 3, 10, 10, 0).astimezone())


def test_ai_17_day_00_is_the_last_day_of_the_month_and_has_no_time():
    record = parse_gs1(f"(01){GTIN}(17)280200(10)L1", BESPONSA, today=date(2026, 1, 1)).to_vial_record()
    assert record.expiry == date(2028, 2, 29) and record.expires_at is None  # 2028 is a leap year


def test_ai_7003_is_read_on_the_sites_clock_and_never_later_than_it_can_mean():
    from infusion_app.domain.instants import earliest_instant_of_wall_time

    paris = ZoneInfo("Europe/Paris")
    code = parse_gs1(f"(01){GTIN}(7003)2606151000(10)L1", BESPONSA, today=date(2026, 1, 1))
    assert code.to_vial_record(paris).expires_at == datetime(2026, 6, 15, 8, 0, tzinfo=timezone.utc)  # 10:00 CEST
    # 02:30 happened twice on 2026-10-25 (clocks back at 03:00 CEST): the first.
    assert earliest_instant_of_wall_time(datetime(2026, 10, 25, 2, 30), paris) == datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)
    # 02:30 never happened on 2026-03-29 (clocks forward at 02:00 CET): the earlier reading.
    assert earliest_instant_of_wall_time(datetime(2026, 3, 29, 2, 30), paris) == datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)
    # An ordinary hour on a changeover day is read with that hour's offset.
    assert earliest_instant_of_wall_time(datetime(2026, 3, 29, 15, 0), paris) == datetime(2026, 3, 29, 13, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("2027-06-30", (date(2027, 6, 30), None)),
        ("20270630", (date(2027, 6, 30), None)),
        ("2026-12-03 10:00", (date(2026, 12, 3), datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc))),
        ("2026-12-03T10:00", (date(2026, 12, 3), datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc))),
        ("2026-12-03T10:00+01:00", (date(2026, 12, 3), datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc))),
    ],
)
def test_a_typed_expiry_takes_an_optional_time(typed, expected):
    from infusion_app.domain.instants import read_vial_expiry

    assert read_vial_expiry(typed, "expiry", ZoneInfo("Europe/Paris")) == expected


@pytest.mark.parametrize("typed", ["", "2027-06-31", "2027-06-30 25:00", "30/06/2027", "2026-03-29 02:30", "2027-06-30 10h"])
def test_a_typed_expiry_that_is_not_one_is_refused_naming_the_field(typed):
    from infusion_app.domain.instants import read_vial_expiry

    with pytest.raises(ValidationError) as refused:
        read_vial_expiry(typed, "expiry", ZoneInfo("Europe/Paris"))
    assert refused.value.field == "expiry"


# -- migration 0010 ------------------------------------------------------------------------------


def test_migration_0010_keeps_the_vials_stored_before_it_as_dated(tmp_path, database, monkeypatch):
    """A database at 0009 with vials in it (the old schema: a date, no time; logged without a time)
    upgrades; its vials keep their date and read as the date alone, and the audit log still matches."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from infusion_app.service import preparations
    from infusion_app.storage.database import _alembic_config, upgrade_database

    clock = FakeClock(NINE.astimezone(timezone.utc))
    folder = tmp_path / "d"

    def logged_before_0010(vial):  # what the version before 0010 wrote in the log for a vial
        return {"lot": vial.lot, "expiry": vial.expiry.isoformat(), "gtin": vial.gtin, "ndc": vial.ndc, "serial": vial.serial}

    with monkeypatch.context() as old_version, open_service(data_dir=folder, database=database, clock=clock) as service:
        old_version.setattr(preparations, "_vial_dict", logged_before_0010)
        add_staff(service)
        tech = service.user("Tina Tech")
        prep = service.create_preparation(PATIENT, ORDER, tech, vials=[VialRecord("OLD0", date(2026, 3, 11))], product_confirmed=True, monograph=BESPONSA)
        service.add_vial(prep.id, VialRecord("OLD1", date(2026, 3, 10)), tech, product_confirmed=True)
        url = service.location.url
    engine = create_engine(url)
    try:
        with engine.begin() as connection:  # back to 0009, as the version before this one left it
            command.downgrade(_alembic_config(connection), "0009_course_regimen")
            assert "expires_at" not in {c["name"] for c in _columns(connection, "vials")}
            assert [row[0] for row in connection.execute(text("SELECT lot FROM vials ORDER BY position"))] == ["OLD0", "OLD1"]
    finally:
        engine.dispose()
    if database is not None:  # a station never migrates a server's database: IT does
        upgrade_database(tmp_path / "upgrade", database)
    with open_service(data_dir=folder, database=database, clock=clock) as service:
        first, vial = service.get(prep.id).vials
        assert (vial.lot, vial.expiry, vial.expires_at) == ("OLD1", date(2026, 3, 10), None) and first.expires_at is None
        assert service.verify_audit().intact
        tech = service.user("Tina Tech")
        service.add_vial(prep.id, _code(NINE + timedelta(hours=2), "S9"), tech)  # a new vial keeps its time
        assert service.get(prep.id).vials[2].expires_at == (NINE + timedelta(hours=2)).astimezone(timezone.utc)
        assert service.verify_audit().intact


def _columns(connection, table):
    from sqlalchemy import inspect

    return inspect(connection).get_columns(table)


def test_the_countdowns_move_to_a_vials_expiry_that_comes_before_the_label_limits(service, clock):
    """Reviewer: the steps were refused at the vial's expiry, but the board's and chair's countdown (and
    prep show) still counted down to the label limit, hours later. The status (board, chair, CLI) has
    the limits whose steps all use the product at the expiry, marked as such; end-by is not moved."""
    from infusion_app.domain.formatting import format_instant

    expires = NINE + timedelta(hours=1)  # 10:00
    prep_id = _prep_with_a_vial_expiring_at(service, expires)
    clock.set(NINE + timedelta(minutes=20))
    service.record_event(prep_id, E.RECONSTITUTED, service.user("Tina Tech"))
    status = service.status(prep_id)
    by_key = {d.key: d for d in status.deadlines}
    for key in ("dilute_by", "start_infusion_by"):
        moved = by_key[key]
        assert moved.at == expires.astimezone(timezone.utc) and moved.vial_expiry, moved
        assert moved.label.endswith("(vial expiry)") and "LOT7003" in moved.basis and format_instant(expires) in moved.basis
        assert not moved.overridable
    end = by_key["end_infusion_by"]
    assert not end.vial_expiry and end.at > expires  # a running infusion goes on past the expiry
    assert status.next_deadline.key == "dilute_by" and status.next_deadline.at == expires.astimezone(timezone.utc)
    assert status.next_deadline.label == "Dilute by (vial expiry)"
    # At the expiry the step is refused and the countdown has run out with it.
    clock.set(expires + timedelta(minutes=1))
    after = service.status(prep_id)
    assert after.next_deadline.state.value == "expired" and after.next_deadline.vial_expiry
    assert any(stop.startswith("Dilute by (vial expiry)") for stop in after.hard_stops), after.hard_stops


def test_vials_in_date_past_the_limits_change_no_deadline(service, clock):
    prep_id = _prep_with_a_vial_expiring_at(service, NINE + timedelta(days=30))
    clock.set(NINE + timedelta(minutes=20))
    service.record_event(prep_id, E.RECONSTITUTED, service.user("Tina Tech"))
    status = service.status(prep_id)
    assert not any(d.vial_expiry or "vial expiry" in d.label for d in status.deadlines)
    assert status.next_deadline.key == "dilute_by" and status.next_deadline.at == NINE + timedelta(minutes=20, hours=4)


def test_effective_deadlines_move_only_the_limits_whose_steps_use_the_product_and_only_once():
    """The one place the vial's expiry meets the time limits (domain.preparation.effective_deadlines):
    dilute by, start by and a refrigerated bag's out-by move; end by does not (an infusion running goes
    on); a second pass changes nothing (the sheet applies it to the status's deadlines again)."""
    from infusion_app.domain.deadlines import compute_deadlines
    from infusion_app.domain.preparation import effective_deadlines
    from infusion_app.domain.records import Event
    from infusion_app.reports.demo import demo_preparation

    def demo_like_preparation(events, vials):
        return dataclasses.replace(demo_preparation(BESPONSA), events=events, vials=vials)

    r = NINE.astimezone(timezone.utc)
    events = [Event(E.RECONSTITUTED, r, r, "tina"), Event(E.DILUTED, r + timedelta(minutes=30), r + timedelta(minutes=30), "tina", {"storage": "fridge"})]
    expires = r + timedelta(hours=2)
    prep = demo_like_preparation(events, [VialRecord("LOTA", expires.date(), expires_at=expires), VialRecord("LOTB", date(2099, 1, 1))])
    lead = timedelta(minutes=30)
    plain = compute_deadlines(events, BESPONSA, r + timedelta(hours=1), lead)
    moved = effective_deadlines(prep, plain, BESPONSA, r + timedelta(hours=1), lead)
    by_key = {d.key: d for d in moved}
    assert {k for k, d in by_key.items() if d.vial_expiry} == {"dilute_by", "bag_from_fridge_by", "start_infusion_by"}
    assert by_key["start_infusion_by"].state.value == "ok" and by_key["bag_from_fridge_by"].label == "Bag out of refrigerator by (vial expiry)"
    assert all(by_key[k].at == expires for k in ("dilute_by", "start_infusion_by"))
    # Out of the refrigerator the warm-up (1 h, never overridden) before the start the expiry stops.
    assert by_key["bag_from_fridge_by"].at == expires - BESPONSA.duration("time_limits.refrigerated_bag_warm_up")
    assert "warms for 1 h first" in by_key["bag_from_fridge_by"].basis and by_key["bag_from_fridge_by"].limits == ("time_limits.refrigerated_bag_warm_up",)
    assert by_key["start_infusion_by"].limits == () and not by_key["start_infusion_by"].pending_review  # rests on the vial alone
    assert by_key["dilute_by"].state.value == "met"  # diluted at 09:30, before the vial's expiry: still met
    assert by_key["end_infusion_by"] == {d.key: d for d in plain}["end_infusion_by"]
    assert effective_deadlines(prep, moved, BESPONSA, r + timedelta(hours=1), lead) == moved
    # A dated vial expires at the end of its day on the site's clock: "on <date> (its last day of use)".
    day = r.astimezone().date() - timedelta(days=1)
    dated = demo_like_preparation(events, [VialRecord("LOTD", day)])
    [start] = [d for d in effective_deadlines(dated, plain, BESPONSA, r, lead) if d.key == "start_infusion_by"]
    assert start.vial_expiry and start.state.value == "expired" and f"LOTD expires on {day.isoformat()} (its last day of use)" in start.basis


def test_an_out_of_fridge_by_moved_by_a_vial_rests_on_the_warm_up_and_its_review():
    """MYLOTARG's warm-up is a program-design value awaiting pharmacist review (verify = true): the
    out-by it gives under a vial's expiry says so, as the time limits' own out-by does."""
    from infusion_app.domain.deadlines import compute_deadlines
    from infusion_app.domain.preparation import effective_deadlines
    from infusion_app.domain.records import Event
    from infusion_app.reports.demo import demo_preparation
    from tests.drugs import MYLOTARG

    drug = MYLOTARG.with_regimen("fractionated")
    r = NINE.astimezone(timezone.utc)
    events = [Event(E.RECONSTITUTED, r, r, "tina"), Event(E.DILUTED, r + timedelta(minutes=30), r + timedelta(minutes=30), "tina", {"storage": "fridge"})]
    expires = r + timedelta(hours=2)
    prep = dataclasses.replace(demo_preparation(drug), events=events, vials=[VialRecord("LOTA", expires.date(), expires_at=expires)])
    plain = compute_deadlines(events, drug, r, timedelta(minutes=30))
    [out_by] = [d for d in effective_deadlines(prep, plain, drug, r, timedelta(minutes=30)) if d.key == "bag_from_fridge_by"]
    assert out_by.vial_expiry and out_by.pending_review and out_by.review_mark == " (pending pharmacist review)"
