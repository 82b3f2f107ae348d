"""The board of one station follows another station's steps on a shared PostgreSQL database (issue 14)."""

from __future__ import annotations

from tests.drugs import BESPONSA

import pytest
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.records import EventType as E
from infusion_app.domain.records import Patient, Role, VialRecord
from infusion_app.gui.main_window import MainWindow
from infusion_app.service import open_service

from tests.prep_helpers import verify_order

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


@contextmanager
def two_stations(data_dir, url, clock):
    """A bench and a chair on one server, with a preparation verified at the bench: (bench, chair,
    its id, the technician). The setup the board tests repeated."""
    bench = open_service(data_dir=data_dir, database=url, clock=clock, station="bench")
    chair = open_service(data_dir=data_dir, database=url, clock=clock, station="chair")
    try:
        paul = bench.add_user("Paul Pharm", Role.PHARMACIST, "222222")
        bench.add_user("Olga Order", Role.PHARMACIST, "333333", actor=paul)
        tina = bench.add_user("Tina Tech", Role.TECHNICIAN, "111111", actor=paul)
        status = bench.create_preparation(Patient("Doe, Jane", "MRN-1", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tina, monograph=BESPONSA)
        for _ in range(bench.get(status.id).order.calculation.vials):  # reconstitution waits for each vial the dose needs
            bench.add_vial(status.id, VialRecord("LOT-1", date(2099, 1, 1)), tina, product_confirmed=True)
        verify_order(bench, status.id)
        yield bench, chair, status.id, tina
    finally:
        bench.close()
        chair.close()


def test_a_step_at_the_bench_reaches_the_chairs_board_without_the_ticker(qtbot, tmp_path, postgres_url):
    with two_stations(tmp_path, postgres_url, FakeClock(T0)) as (bench, chair, prep_id, tina):
        window = MainWindow(chair, chair.user("Tina Tech"), repaint_ms=600_000, sound=False)  # the ticker never fires here
        qtbot.addWidget(window)
        window.show()

        def step_of_board() -> str:
            return next(row.step_text for row in window.board.board_model.rows() if row.preparation_id == prep_id)

        before = step_of_board()
        bench.record_event(prep_id, E.RECONSTITUTED, tina)
        # Only the database's notification can bring the step here: the ticker never fires. How
        # fast it arrives is measured by packaging/benchmarks/bench_stations.py, not asserted
        # here (a wall-clock bound failed CI on a loaded 2-core machine).
        qtbot.waitUntil(lambda: step_of_board() != before, timeout=15_000)
        window.close()


class ReadServerClock:
    """The injected clock, with what storage.server_clock.ServerClock reports of this workstation:
    the skew measured at its latest reading, and how many readings it took."""

    def __init__(self, clock):
        self._clock = clock
        self.offset = timedelta(0)
        self.readings = 1

    def now(self):
        return self._clock.now()


def test_a_clock_skew_that_appears_later_is_shown_on_the_board_and_goes_when_fixed(qtbot, data_dir, clock):
    server_clock = ReadServerClock(clock)
    service = open_service(data_dir=data_dir, clock=server_clock)
    try:
        window = MainWindow(service, service.user("Tess Tech"), repaint_ms=600_000, sound=False)
        qtbot.addWidget(window)
        window.show()
        assert not window.skew_label.isVisible()  # on time at start
        server_clock.offset, server_clock.readings = timedelta(seconds=-90), 2  # NTP lost an hour later
        clock.advance(seconds=30)
        window._tick()
        assert window.skew_label.isVisible()
        assert "90 s ahead of the database server's" in window.skew_label.text() and "tolerance 60 s" in window.skew_label.text()
        server_clock.offset, server_clock.readings = timedelta(seconds=2), 3
        clock.advance(seconds=30)
        window._tick()
        assert not window.skew_label.isVisible()
        window.close()
    finally:
        service.close()


def checked_entries(service, prep_id):
    prep = service.get(prep_id)
    calc = prep.order.calculation
    return {"entered": {"mrn": prep.patient.mrn, "height": "170 cm", "weight": "70 kg", "dose_mg": str(calc.dose_mg), "volume_ml": str(calc.withdraw_ml)}}


def test_a_lost_server_turns_the_board_red_keeps_counting_down_refuses_steps_and_clears_on_reconnect(qtbot, tmp_path, own_server):
    """Issue 14: the server stopped under the chair's window (a real one, then started again)."""
    from infusion_app.domain.connection import NotLive
    from infusion_app.domain.formatting import format_instant

    cluster, url = own_server
    clock = FakeClock(T0)
    with two_stations(tmp_path, url, clock) as (bench, chair, prep_id, tina):
        bench.record_event(prep_id, E.RECONSTITUTED, tina)  # a clock is running: reconstituted-by
        window = MainWindow(chair, chair.user("Tina Tech"), repaint_ms=600_000, sound=False)
        qtbot.addWidget(window)
        window.show()

        def row():
            return next(r for r in window.board.board_model.rows() if r.preparation_id == prep_id)

        assert not window.connection_banner.isVisible() and window.new_button.isEnabled()
        live_countdown, deadline_at = row().countdown_text, row().deadline_at
        wizard = window._open_wizard(prep_id)  # the bench wizard, a window of its own
        strip = window._alarm_strips[-1]
        assert not strip.isVisible()
        cluster.pause()
        clock.advance(seconds=60)
        window._tick()
        banner = window.connection_banner.text()
        assert window.connection_banner.isVisible()
        assert banner.startswith(f"NOT LIVE — last update {format_instant(T0)}"), banner
        assert "cannot be reached" in banner and "No step can be recorded here" in banner and "next try in 1 s" in banner
        offline = row()  # the last known deadline, still counting down from its stored instant
        assert offline.countdown_text != live_countdown and offline.deadline_at == deadline_at
        assert not window.new_button.isEnabled() and not window.new_action.isEnabled()
        assert strip.isVisible() and strip.connection.text().startswith("NOT LIVE — last update")  # in the wizard too
        clock.advance(seconds=30)
        window._tick()
        assert row().now == clock.now()
        with pytest.raises(NotLive, match="nothing was stored or queued"):  # what the chair's own step gets
            chair.record_event(prep_id, E.DILUTED, tina, details={"storage": "room"})

        cluster.resume()
        bench.record_event(prep_id, E.DILUTED, tina, details={"storage": "room"})  # at the bench, meanwhile
        clock.advance(seconds=60)  # past the backoff
        window._tick()
        assert not window.connection_banner.isVisible() and window.new_button.isEnabled()
        assert not strip.connection.isVisible() and not strip.isVisible()
        wizard.close()
        assert row().step_text != offline.step_text  # reloaded: the bench's step is shown
        before = row().step_text
        bench.record_event(prep_id, E.VERIFIED, bench.user("Paul Pharm"), details=checked_entries(bench, prep_id))
        qtbot.waitUntil(lambda: row().step_text != before, timeout=3000)  # listening again: no tick needed
        window.close()


def test_a_stored_instant_ahead_of_this_clock_is_the_boards_clock_notice_on_sqlite(qtbot, data_dir, clock):
    """Re-walk of issue 15 item 10: a time another station stored hours ahead of this clock was
    flagged only in `prep show --json`; the board (SQLite, no server clock) said nothing."""
    ahead = FakeClock(clock.now() + timedelta(hours=6))  # another workstation's clock six hours fast
    other = open_service(data_dir=data_dir, clock=ahead)
    try:
        tess = other.user("Tess Tech")
        status = other.create_preparation(Patient("Doe, Jane", "MRN-1", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tess, monograph=BESPONSA)
        verify_order(other, status.id)
    finally:
        other.close()
    service = open_service(data_dir=data_dir, clock=clock)
    try:
        window = MainWindow(service, service.user("Tess Tech"), repaint_ms=600_000, sound=False)
        qtbot.addWidget(window)
        window.show()
        window._tick()
        assert window.skew_label.isVisible()
        assert "ahead of this workstation's clock" in window.skew_label.text() and "360 min" in window.skew_label.text()
        window.close()
    finally:
        service.close()


def test_an_unreadable_preparation_is_named_on_the_board_and_the_others_stay(qtbot, data_dir, clock):
    """Re-walk of issue 15 item 7: one preparation whose stored order cannot be read blanked the
    whole board ('not up to date'); the others stay, the unreadable one is named."""
    import sqlite3

    from infusion_app.storage.database import DB_FILENAME

    service = open_service(data_dir=data_dir, clock=clock)
    try:
        tess = service.user("Tess Tech")
        kept = service.create_preparation(Patient("Doe, Jane", "MRN-1", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tess, monograph=BESPONSA)
        broken = service.create_preparation(Patient("Roe, Ann", "MRN-2", date(1971, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tess, monograph=BESPONSA)
        window = MainWindow(service, tess, repaint_ms=600_000, sound=False)
        qtbot.addWidget(window)
        window.show()
        assert not window.unreadable_label.isVisible()
        connection = sqlite3.connect(data_dir / DB_FILENAME)
        with connection:
            connection.execute("UPDATE preparations SET order_json = '{}' WHERE id = ?", (broken.id,))
        connection.close()
        window.presenter._token = None  # as after a database put back: everything is read again
        window.refresh()
        ids = [row.preparation_id for row in window.board.board_model.rows()]
        assert kept.id in ids and broken.id not in ids
        assert not window.stale_label.isVisible()
        assert window.unreadable_label.isVisible() and broken.id in window.unreadable_label.text()
        assert "calculation has no" in window.unreadable_label.text()
        window.close()
    finally:
        service.close()
