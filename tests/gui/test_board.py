"""THE BOARD: rows from storage, sorted by urgency, coloured as alarms are, restored after a restart,
nothing cut off at 1280 x 800."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QStyle, QWidget

from infusion_app.domain.formatting import format_countdown, format_dose, format_instant
from infusion_app.domain.records import Patient, Role
from infusion_app.gui import theme
from infusion_app.gui.board import COUNTDOWN_COLUMN, BoardModel, BoardRow
from infusion_app.gui.main_window import MainWindow

from tests.prep_helpers import verify_order

from .conftest import PIN, cut_off

LONG_NAME = "Maximiliana Wilhelmina Featherstonehaugh-Montgomery"


def open_window(qtbot, service, user) -> MainWindow:
    window = MainWindow(service, user, repaint_ms=60_000, sound=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def three_preparations(service, make_preparation, clock):
    """One expired, one in its warning window, one running: created out of urgency order."""
    running = make_preparation(Patient("Carl Running", "MRN3", date(1980, 1, 1)), steps=())
    expired = make_preparation(Patient("Ada Expired", "MRN1", date(1970, 1, 1)), steps=("reconstituted",))
    clock.advance(minutes=40)
    warning = make_preparation(Patient(LONG_NAME, "MRN2", date(1975, 1, 1)), steps=("reconstituted",))
    clock.advance(hours=3, minutes=35)  # expired: 4 h 15 min since reconstitution; warning: 3 h 35 min
    return {"expired": expired, "warning": warning, "running": running}


def test_rows_are_sorted_by_urgency_and_coloured_as_alarms_are(qtbot, service, technician, three_preparations):
    window = open_window(qtbot, service, technician)
    rows = window.board.board_model.rows()
    assert [r.preparation_id for r in rows] == [three_preparations[k] for k in ("expired", "warning", "running")]
    assert [r.state for r in rows] == ["expired", "warning", "none"]
    model = window.board.board_model
    for i, expected in enumerate(["expired", "warning"]):
        index = model.index(i, COUNTDOWN_COLUMN)
        background, foreground = theme.colours(expected)
        assert model.data(index, Qt.ItemDataRole.BackgroundRole) == background
        assert model.data(index, Qt.ItemDataRole.ForegroundRole) == foreground
    # Countdowns are the stored deadline minus the clock's now, formatted by the one formatter.
    status = service.status(three_preparations["warning"])
    seconds = (status.next_deadline.at - status.now).total_seconds()
    assert model.data(model.index(1, COUNTDOWN_COLUMN)) == format_countdown(seconds)
    assert model.data(model.index(0, COUNTDOWN_COLUMN)).startswith("-")
    assert format_instant(status.next_deadline.at) in model.data(model.index(1, 3))
    dose = service.get(three_preparations["warning"]).order.calculation.dose_mg
    assert model.data(model.index(1, 1)) == f"{service.monograph_of(service.get(three_preparations['warning'])).brand_name} {format_dose(dose)}"


def test_the_countdown_moves_with_the_clock_on_each_tick(qtbot, service, technician, clock, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    window = open_window(qtbot, service, technician)
    before = window.board.board_model.rows()[0].countdown_text
    clock.advance(seconds=61)
    window.refresh()
    after = window.board.board_model.rows()[0].countdown_text
    deadline = service.status(prep_id).next_deadline
    assert before != after == format_countdown((deadline.at - clock.now()).total_seconds())


def test_text_contrast_of_every_alarm_colour_is_readable():
    def luminance(colour):
        def channel(c):
            c = c / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(colour.red()) + 0.7152 * channel(colour.green()) + 0.0722 * channel(colour.blue())

    for state in ("ok", "warning", "due", "expired", "none"):
        for phase in (False, True):
            background, foreground = theme.colours(state, phase)
            light, dark = sorted((luminance(background), luminance(foreground)), reverse=True)
            assert (light + 0.05) / (dark + 0.05) >= 4.5, (state, phase)


def test_a_restart_restores_the_board_and_re_raises_unacknowledged_alarms(qtbot, data_dir, clock, service, technician, three_preparations):
    from infusion_app.service import open_service

    window = open_window(qtbot, service, technician)
    before = [(r.preparation_id, r.countdown_text, r.state, r.step_text, r.deadline_text) for r in window.board.board_model.rows()]
    alarms_before = [a.identity for a in window.alarms.alarms]
    assert len(alarms_before) == 2
    window.close()
    service.close()

    reopened = open_service(data_dir=data_dir, clock=clock)
    try:
        again = open_window(qtbot, reopened, reopened.user(technician.name))
        after = [(r.preparation_id, r.countdown_text, r.state, r.step_text, r.deadline_text) for r in again.board.board_model.rows()]
        assert after == before
        assert [a.identity for a in again.alarms.alarms] == alarms_before
        assert again.banner.isVisible()
        again.close()
    finally:
        reopened.close()


def test_nothing_is_cut_off_at_1280_by_800(qtbot, service, technician, three_preparations):
    window = open_window(qtbot, service, technician)
    assert window.size().toTuple() == (1280, 800)
    window.refresh()
    clock_text = window.clock_label.text()
    assert window.clock_label.width() >= QFontMetrics(window.clock_label.font()).horizontalAdvance(clock_text)
    assert cut_off(window) == []
    # Every cell of the board fits its column (the long name included), the countdown too.
    view = window.board
    model = view.board_model
    # The item delegate's own text margin (QStyle::PM_FocusFrameHMargin + 1 on each side).
    margin = 2 * (view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1)
    for row in range(model.rowCount()):
        for column in range(model.columnCount()):
            index = model.index(row, column)
            metrics = QFontMetrics(model.data(index, Qt.ItemDataRole.FontRole))
            text = model.data(index)
            cell = view.visualRect(index)
            needed = metrics.boundingRect(QRect(0, 0, cell.width() - margin, 10_000), int(Qt.TextFlag.TextWordWrap), text)
            assert needed.width() <= cell.width() - margin, (row, column, text)
            assert needed.height() <= cell.height(), (row, column, text)
        # ... and no row is taller than its text needs (a screen holds as many bags as it can).
        assert view.rowHeight(row) <= max(view.MIN_ROW_HEIGHT, view.sizeHintForRow(row)) + 1


def test_a_long_signed_in_name_wraps_instead_of_widening_the_window_past_1280(qtbot, service, pharmacist):
    """Under Xvfb the pharmacist "Bench Pharm" made the window 1316 px wide on a 1280 px screen: the
    board's top bar took the signed-in label's whole width however long the name."""
    long_named = service.add_user(LONG_NAME, Role.PHARMACIST, "864213", actor=pharmacist)
    window = open_window(qtbot, service, long_named)
    window.refresh()
    assert window.minimumSizeHint().width() <= 1280
    assert window.size().toTuple() == (1280, 800)
    assert LONG_NAME in window.user_label.text()
    assert cut_off(window) == []


def test_the_wizard_pages_fit_at_1280_by_800(qtbot, service, technician):
    from infusion_app.gui.bench_wizard import BenchWizard

    wizard = BenchWizard(service, technician)
    qtbot.addWidget(wizard)
    wizard.resize(1280, 800)
    wizard.show()
    qtbot.waitExposed(wizard)
    assert cut_off(wizard) == []


def test_enter_on_a_board_row_resumes_the_preparation_at_its_step(qtbot, service, technician, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    window = open_window(qtbot, service, technician)
    window.board.setFocus()
    window.board.selectRow(0)
    qtbot.keyClick(window.board, Qt.Key.Key_Return)
    [wizard] = window._wizards
    from infusion_app.gui import bench_wizard as bw

    assert wizard.currentId() == bw.DRAW and wizard.preparation.id == prep_id
    wizard.close()


def test_switch_user_signs_another_person_in(qtbot, service, technician, monkeypatch):
    window = open_window(qtbot, service, technician)
    pharmacist = service.user("Phil Pharm")
    monkeypatch.setattr(MainWindow, "sign_in", staticmethod(lambda *a, **k: pharmacist))
    window.switch_action.trigger()
    assert window.user == pharmacist
    assert "Phil Pharm" in window.user_label.text()


def test_the_sign_in_dialog_checks_the_pin_through_the_service(qtbot, service):
    from infusion_app.gui.sign_in import SignInDialog

    dialog = SignInDialog(service.authenticate, [u.name for u in service.users()])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.name.setCurrentText("Tess Tech")
    qtbot.keyClicks(dialog.pin, "000000")
    qtbot.keyClick(dialog.pin, Qt.Key.Key_Return)
    assert dialog.user is None and dialog.error.isVisible() and "not recognised" in dialog.error.text()
    assert dialog.pin.text() == ""
    qtbot.keyClicks(dialog.pin, PIN["Tess Tech"])
    qtbot.keyClick(dialog.pin, Qt.Key.Key_Return)
    assert dialog.user is not None and dialog.user.name == "Tess Tech"
    assert dialog.result() == dialog.DialogCode.Accepted


def test_board_model_keeps_rows_sorted_whatever_order_they_come_in(qtbot):
    from datetime import datetime, timezone

    now = datetime(2026, 1, 15, 9, tzinfo=timezone.utc)

    def row(pid, state, minutes):
        return BoardRow(pid, "P", "M", "1 mg", "Dilute", "dilute_by", "Dilute by", now + timedelta(minutes=minutes), state, now)

    model = BoardModel()
    model.set_rows([row("C", "ok", 90), row("A", "expired", -5), row("D", "none", 0), row("B", "warning", 10), row("E", "ok", 60)])
    assert [r.preparation_id for r in model.rows()] == ["A", "B", "E", "C", "D"]


def test_the_cut_off_check_finds_a_cut_off_button(qtbot):
    from PySide6.QtWidgets import QPushButton, QVBoxLayout

    root = QWidget()
    qtbot.addWidget(root)
    layout = QVBoxLayout(root)
    squeezed = QPushButton("Acknowledge every alarm on the board", root)
    squeezed.setFixedWidth(40)
    layout.addWidget(squeezed)
    root.show()
    assert len(cut_off(root)) == 1


def test_settings_and_about_open_from_the_menus(qtbot, service, pharmacist, monkeypatch):
    from PySide6.QtWidgets import QDialog

    opened: list[str] = []
    monkeypatch.setattr(QDialog, "exec", lambda self: opened.append(self.objectName()) or 0)
    window = open_window(qtbot, service, pharmacist)
    window.settings_action.trigger()
    [about] = [a for a in window.menuBar().actions() if a.text() == "&Help"][0].menu().actions()
    about.trigger()
    assert opened == ["settingsDialog", "AboutDialog"]


def test_first_start_creates_a_pharmacist_who_is_then_signed_in(qtbot, tmp_path, clock, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from infusion_app.gui import first_run
    from infusion_app.service import open_service

    empty = open_service(data_dir=tmp_path / "empty", clock=clock)
    try:

        def fake_exec(dialog):
            dialog.created = empty.add_user("First Pharmacist", "pharmacist", "567856")
            return QDialog.DialogCode.Accepted

        monkeypatch.setattr(first_run.FirstRunDialog, "exec", fake_exec)
        user = MainWindow.first_user(empty)
        assert user is not None and user.name == "First Pharmacist"
    finally:
        empty.close()


def mnemonic(text: str) -> str | None:
    position = text.replace("&&", "").find("&")
    return None if position < 0 else text.replace("&&", "")[position + 1].lower()


def test_every_mnemonic_of_the_main_window_is_unique(qtbot, service, technician, three_preparations):
    from PySide6.QtWidgets import QPushButton

    window = open_window(qtbot, service, technician)
    texts = [a.text() for a in window.menuBar().actions()]
    texts += [b.text() for b in window.findChildren(QPushButton) if b.isVisibleTo(window)]
    texts += [window.tabs.tabText(i) for i in range(window.tabs.count())]
    letters = [m for m in map(mnemonic, texts) if m]
    assert len(letters) == len(set(letters)), texts
    assert "a" in letters  # Alt+A acknowledges


def test_a_dispensed_bag_opens_at_the_chair(qtbot, service, technician, make_preparation):
    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified", "labelled", "dispensed"))
    window = open_window(qtbot, service, technician)
    window.board.selectRow(0)
    qtbot.mouseClick(window.open_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.chair
    assert window.chair.prep is not None and window.chair.prep.id == prep_id
    assert window._wizards == []


def test_the_course_tab_shows_the_signed_in_users_course_view(qtbot, service, technician, pharmacist, monkeypatch):
    window = open_window(qtbot, service, technician)
    assert window.tabs.indexOf(window.course) >= 0
    monkeypatch.setattr(MainWindow, "sign_in", staticmethod(lambda *a, **k: pharmacist))
    window.switch_user()
    assert window.course.user == pharmacist and window.chair.user == pharmacist


def test_a_storage_failure_says_the_board_is_stale_and_keeps_the_alarm(qtbot, service, technician, three_preparations, monkeypatch):
    window = open_window(qtbot, service, technician)
    alarms = window.alarms.alarms
    assert alarms and not window.stale_label.isVisible()

    def broken():
        raise RuntimeError("database is locked")

    with monkeypatch.context() as patched:
        # Every tick asks the change feed first: a database that cannot be read fails there.
        patched.setattr(service, "changes_since", lambda _token: broken())
        window.refresh()
        assert window.stale_label.isVisible() and "NOT UP TO DATE" in window.stale_label.text()
        assert window.alarms.alarms == alarms
    window.refresh()
    assert not window.stale_label.isVisible()


def test_the_end_of_observation_is_shown_as_reached_without_an_alarm(qtbot, service, technician, nurse, clock, make_preparation):
    from infusion_app.domain.records import EventType

    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified", "labelled", "dispensed"))
    for drug_class, drug, dose in (
        ("corticosteroid", "dexamethasone", "10 mg"),
        ("antipyretic", "paracetamol", "650 mg"),
        ("antihistamine", "diphenhydramine", "25 mg"),
    ):
        service.record_event(prep_id, EventType.PREMEDICATION, nurse, details={"drug_class": drug_class, "drug": drug, "dose": dose})
    confirmed = service.get(prep_id).patient
    service.record_event(prep_id, EventType.PATIENT_CONFIRMED, nurse, details={"name": confirmed.name, "mrn": confirmed.mrn})
    service.record_event(prep_id, EventType.INFUSION_STARTED, nurse)
    clock.advance(hours=1)
    service.record_event(prep_id, EventType.INFUSION_ENDED, nurse)
    observe = next(d for d in service.status(prep_id).deadlines if not d.hard and d.state.value == "pending")
    clock.set(observe.at + timedelta(minutes=1))
    assert {d.key: d.state.value for d in service.status(prep_id).deadlines}[observe.key] == "due"

    window = open_window(qtbot, service, technician)
    [row] = window.board.board_model.rows()
    assert (row.state, row.countdown_text) == ("reached", "ready")
    assert "REACHED" in row.deadline_text
    assert window.alarms.alarms == [] and not window.banner.isVisible()


def test_closing_the_board_with_alarms_asks_first(qtbot, service, technician, three_preparations, monkeypatch):
    from infusion_app.gui import main_window

    window = open_window(qtbot, service, technician)
    answers = iter([False, True])
    asked = []
    monkeypatch.setattr(main_window, "confirm_quit_with_alarms", lambda _p, alarms: asked.append(len(alarms)) or next(answers))
    window.close()
    assert window.isVisible() and asked == [2]  # "No": the board stays, the alarms keep sounding
    assert window.alarms.alarms
    window.close()
    assert not window.isVisible() and asked == [2, 2]


def test_switch_user_is_application_wide_not_ctrl_u_and_forgets_the_previous_persons_entries(qtbot, service, technician, nurse, make_preparation, monkeypatch):
    from PySide6.QtGui import QKeySequence

    from infusion_app.gui.main_window import SWITCH_USER_SHORTCUT

    window = open_window(qtbot, service, nurse)
    assert window.switch_action.shortcut() == QKeySequence(SWITCH_USER_SHORTCUT) != QKeySequence("Ctrl+U")
    assert window.switch_action.shortcutContext() == Qt.ShortcutContext.ApplicationShortcut
    assert "Nora Nurse" in window.windowTitle()
    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified", "labelled", "dispensed"))
    chair = window.chair
    window.tabs.setCurrentWidget(chair)
    chair.open_preparation(prep_id)
    qtbot.keyClicks(chair.confirm_name, "Ada Lov")
    other = service.user("Tess Tech")
    monkeypatch.setattr(MainWindow, "sign_in", staticmethod(lambda *a, **k: other))
    window.switch_action.trigger()
    assert chair.prep is None and chair.confirm_name.text() == "" and chair.user == other
    assert "Tess Tech" in window.windowTitle()


# -- a tick rereads and recomputes only what changed (issue 19) --------------------------------


def test_a_tick_rereads_only_the_preparation_that_changed_and_recomputes_only_a_state_due_to_change(
    qtbot, service, technician, pharmacist, three_preparations, clock
):
    window = open_window(qtbot, service, technician)
    presenter = window.presenter
    window.refresh()
    assert (presenter.reloaded, presenter.recomputed) == (0, 0)  # nothing stored, no state due to change
    countdowns = [r.countdown_text for r in window.board.board_model.rows()]
    clock.advance(seconds=5)
    window.refresh()
    assert (presenter.reloaded, presenter.recomputed) == (0, 0)
    assert [r.countdown_text for r in window.board.board_model.rows()] != countdowns  # yet every countdown moved

    # A step stored (here through the service, as another workstation would): that one is reread.
    running = three_preparations["running"]
    verify_order(service, running)
    window.refresh()
    assert (presenter.reloaded, presenter.recomputed) == (1, 1)
    # A label printed changes the audit log but not the events: reread, not recomputed.
    service.record_interchange(running, "hl7", "test", "nowhere", "failed", "no receiver")
    window.refresh()
    assert (presenter.reloaded, presenter.recomputed) == (1, 0)

    # The warning preparation's dilution limit expires: its deadlines are computed again, alone.
    warning = three_preparations["warning"]
    limit = service.status(warning).next_deadline.at
    clock.advance(seconds=(limit - clock.now()).total_seconds() + 1)
    window.refresh()
    assert presenter.recomputed == 1 and presenter.reloaded == 0
    assert {r.preparation_id: r.state for r in window.board.board_model.rows()}[warning] == "expired"
    rows = [(r.preparation_id, r.state, r.deadline_text, r.step_text, r.alarm_active) for r in window.board.board_model.rows()]
    assert rows == [
        (r.preparation_id, r.state, r.deadline_text, r.step_text, r.alarm_active)
        for r in MainWindow(service, technician, repaint_ms=60_000, sound=False).board.board_model.rows()
    ]


def test_a_setting_changed_elsewhere_recomputes_every_row(qtbot, service, technician, pharmacist, three_preparations):
    window = open_window(qtbot, service, technician)
    service.set_setting("warning_lead_minutes", 240, pharmacist)
    window.refresh()
    assert window.presenter.recomputed == 3
    assert {r.preparation_id: r.state for r in window.board.board_model.rows()}[three_preparations["running"]] == "none"


def test_a_tick_with_only_countdowns_moving_measures_no_row(qtbot, service, technician, three_preparations, clock, monkeypatch):
    window = open_window(qtbot, service, technician)
    view = window.board
    measured: list[int] = []
    real = type(view).sizeHintForRow
    monkeypatch.setattr(view, "sizeHintForRow", lambda row: measured.append(row) or real(view, row))
    clock.advance(seconds=3)
    window.refresh()
    view._fit_rows()  # what a layout pass at the same width does
    assert measured == []
    # An alarm acknowledged adds who and when to its row (issue 12 item 13): rows are measured
    # again then, and not on the ticks after.
    window.acknowledge_alarms()
    assert not window.alarms.alarms and any(row.acknowledged_text for row in window.board.board_model.rows())
    measured.clear()
    window.refresh()
    view._fit_rows()
    assert measured == []
    # Another width measures each row once, however many layout passes follow.
    width = view.columnWidth(0)
    window.resize(1500, 800)
    qtbot.waitUntil(lambda: view.columnWidth(0) != width)
    view._fit_rows()
    view._fit_rows()
    assert sorted(measured) == list(range(view.board_model.rowCount()))


def test_one_ticker_repaints_the_board_the_chair_and_an_open_wizard(qtbot, service, technician, make_preparation, monkeypatch):
    window = open_window(qtbot, service, technician)
    wizard = window._open_wizard(make_preparation(steps=("reconstituted",)))
    assert not window.chair.repaint_timer.isActive() and not wizard.repaint_timer.isActive()
    painted: list[str] = []
    monkeypatch.setattr(window, "refresh", lambda: painted.append("board"))
    monkeypatch.setattr(window.chair, "repaint_countdown", lambda: painted.append("chair"))
    monkeypatch.setattr(wizard, "repaint_deadline", lambda: painted.append("wizard"))
    window.repaint_timer.timeout.emit()
    assert painted == ["board", "chair", "wizard"]
    wizard.reject()  # a closed wizard stays the window's child: it must stop reading
    painted.clear()
    window.repaint_timer.timeout.emit()
    assert painted == ["board", "chair"]


def test_a_row_whose_text_changed_widens_its_columns_without_measuring_every_row(qtbot, service, technician, three_preparations, monkeypatch):
    window = open_window(qtbot, service, technician)
    view = window.board
    whole_columns: list[int] = []
    monkeypatch.setattr(view, "resizeColumnToContents", lambda column: whole_columns.append(column))
    # A step recorded changes one row's text; then a longer one needs a wider step column.
    running = three_preparations["running"]
    before = view.columnWidth(2)
    verify_order(service, running)
    window.refresh()
    row = next(i for i, r in enumerate(view.board_model.rows()) if r.preparation_id == running)
    rows = view.board_model.rows()
    rows[row] = dataclasses.replace(rows[row], step_text="Verify (pharmacist) · DEVIATION recorded and explained")
    view.set_rows(rows)
    assert whole_columns == []
    assert view.columnWidth(2) > before
    for column in (1, 2, 3):
        assert view.columnWidth(column) >= view.sizeHintForColumn(column), column


def test_an_empty_boards_headers_are_not_cut_off(qtbot, service, technician):
    """Issue 12 minors: with no preparation the 'Next deadline' header showed as 'ext deadlin'."""
    window = open_window(qtbot, service, technician)
    view = window.board
    header = view.horizontalHeader()
    assert view.board_model.rowCount() == 0
    for column in range(view.board_model.columnCount()):
        assert view.columnWidth(column) >= header.sectionSizeHint(column), column


def test_the_board_counts_down_to_a_vial_expiry_before_the_label_limits(qtbot, service, technician, clock, make_preparation):
    """Reviewer: the steps are refused at a vial's expiry, but the board counted down to the label limit."""
    from infusion_app.domain.records import VialRecord

    expires = clock.now() + timedelta(hours=1)
    soon = VialRecord(lot="LOTSOON", expiry=expires.date(), expires_at=expires)
    make_preparation(steps=("reconstituted",), first_vial=soon)  # dilute by: 4 h after, by the label alone
    window = open_window(qtbot, service, technician)
    [row] = window.board.board_model.rows()
    assert row.deadline_key == "dilute_by" and row.deadline_at == expires
    assert row.deadline_label == "Dilute by (vial expiry)" and row.countdown_text == format_countdown(3600)
    assert format_instant(expires) in row.deadline_text
