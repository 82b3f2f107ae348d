"""The program's start (issue 19): the first window before the database, the tabs built when shown.

- The sign-in (or first-run) window is on screen before the service opens; the PIN is still the
  service's to check, a wrong one refused whether it is typed before or after the opening.
- The first window's import set has no report, sound, PDF, database or dose-engine module in it
  (a subprocess through gui.app.run, the program's own start, looked at when the window paints).
- The chair and course tabs are built when first shown, and then work as before.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from infusion_app.gui import app as gui_app
from infusion_app.gui.main_window import MainWindow
from infusion_app.gui.start import Start
from infusion_app.storage.database import DB_FILENAME
from tests.gui.conftest import PIN

# What the first window must not have loaded: reports (reportlab), the alarm sound (QtMultimedia),
# the print preview (QtPdf), migrations (alembic), and what only the opened service needs.
NOT_AT_THE_FIRST_WINDOW = (
    "reportlab",
    "PySide6.QtMultimedia",
    "PySide6.QtPdf",
    "alembic",
    "sqlalchemy",
    "pint",
    "infusion_app.domain.dosing",
    "infusion_app.service.preparations",
    # the PIN's hashing (hashlib, hmac, secrets): the PIN field needs only its length
    "infusion_app.domain.security",
)
# And what the sign-in window alone does without: the first-run window (and the records it
# builds), dataclasses (~4 ms, issue 19) and gui/widgets (its widget types, ~4 ms; the PIN field
# it needs is gui/pin_entry), and the sqlite3 package with datetime (the glance at the file uses
# the C module alone, storage/first_look.py).
NOT_AT_THE_SIGN_IN_WINDOW = ("infusion_app.gui.first_run", "infusion_app.domain.records", "dataclasses", "infusion_app.gui.widgets", "sqlite3", "datetime")

# Runs the program's own start and, at the first paint of its first dialog, writes what is
# imported and which dialog it is, then cancels it as a person would.
PROBE = """
import json, sys
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QDialog
from infusion_app.gui import app as gui_app

class FirstPaint(QObject):
    seen = None
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and self.seen is None and isinstance(watched, QDialog):
            self.seen = {"window": type(watched).__name__, "modules": sorted(sys.modules)}
            QTimer.singleShot(0, watched.reject)
        return False

probe = FirstPaint()
make = gui_app.create_application
def create_application(argv=None):
    app = make(argv)
    app.installEventFilter(probe)
    return app
gui_app.create_application = create_application
code = gui_app.run(sys.argv[:1], data_dir=sys.argv[1])
print(json.dumps({"code": code, **(probe.seen or {})}))
"""


def first_window_of(data_dir: Path) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", PROBE, str(data_dir)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def loaded(modules: list[str], forbidden: tuple[str, ...] = NOT_AT_THE_FIRST_WINDOW) -> list[str]:
    return sorted({name for name in forbidden for m in modules if m == name or m.startswith(name + ".")})


def test_the_sign_in_window_on_an_existing_database_loads_only_what_it_needs(data_dir):
    seen = first_window_of(data_dir)
    assert seen["window"] == "SignInDialog" and seen["code"] == 0
    assert loaded(seen["modules"], NOT_AT_THE_FIRST_WINDOW + NOT_AT_THE_SIGN_IN_WINDOW) == []


def test_the_first_run_window_comes_before_the_migrations_and_loads_only_what_it_needs(tmp_path):
    seen = first_window_of(tmp_path / "new")
    assert seen["window"] == "FirstRunDialog" and seen["code"] == 0
    assert loaded(seen["modules"]) == []


def test_the_probe_sees_a_module_the_window_pulls_in(tmp_path):
    """The check can fail: the import list it reads is the window's."""
    assert loaded(["infusion_app", "alembic.command", "PySide6.QtMultimedia"]) == ["PySide6.QtMultimedia", "alembic"]


# -- signing in with the service opened behind the window ---------------------------------------


def shown_sign_in(qtbot, monkeypatch, start: Start, act):
    """Runs start.first_user() with the sign-in's exec replaced by `act(dialog)` on the shown window."""
    from infusion_app.gui import sign_in

    def exec_(dialog):
        dialog.show()
        return act(dialog)

    monkeypatch.setattr(sign_in.SignInDialog, "exec", exec_)
    return start.first_user()


def test_a_wrong_pin_typed_before_the_database_has_opened_is_refused_by_the_service(qtbot, monkeypatch, data_dir, clock):
    start = Start(data_dir, clock=clock)

    def act(dialog):
        qtbot.addWidget(dialog)
        assert start.service is None, "the window is up before the database is opened"
        assert dialog.isVisible()
        qtbot.keyClicks(dialog.name.lineEdit(), "Tess Tech")
        qtbot.keyClicks(dialog.pin, "000000")
        qtbot.keyClick(dialog.pin, Qt.Key.Key_Return)  # before the opening: it opens now, and checks
        assert start.service is not None
        assert dialog.user is None and dialog.error.isVisible() and "not recognised" in dialog.error.text()
        assert dialog.pin.text() == "" and dialog.result() != QDialog.DialogCode.Accepted
        qtbot.keyClicks(dialog.pin, PIN["Tess Tech"])
        qtbot.keyClick(dialog.pin, Qt.Key.Key_Return)
        assert dialog.user is not None and dialog.user.name == "Tess Tech"
        return dialog.result()

    try:
        user = shown_sign_in(qtbot, monkeypatch, start, act)
        assert user is not None and user.name == "Tess Tech"
        failures = start.service.repository.sign_in_failures("tess tech")
        assert failures is None or failures[0] == 0  # the right PIN reset the stored count
        assert any(e.action == "sign_in.failed" for e in start.service.audit_entries()), "the wrong PIN is audited"
    finally:
        if start.service is not None:
            start.service.close()


def test_the_database_opens_only_once_the_window_has_painted(qtbot, monkeypatch, data_dir, clock):
    """The window is watched for being on screen (gui/start.py _FirstPaint), not for its paint event:
    the opening, which holds the event loop, must still come after the first paint."""
    from PySide6.QtCore import QEvent, QObject

    start = Start(data_dir, clock=clock)
    paints: list[int] = []
    paints_at_opening: list[int] = []

    class CountPaints(QObject):
        def eventFilter(self, watched, event):  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Paint:
                paints.append(1)
            return False

    counter = CountPaints()
    real_open = Start.open

    def open_(self):
        if self.service is None and self.failure is None:
            paints_at_opening.append(len(paints))
        return real_open(self)

    monkeypatch.setattr(Start, "open", open_)

    def act(dialog):
        qtbot.addWidget(dialog)
        dialog.installEventFilter(counter)
        qtbot.waitUntil(lambda: start.service is not None, timeout=10_000)
        dialog.reject()
        return dialog.result()

    try:
        assert shown_sign_in(qtbot, monkeypatch, start, act) is None
        assert len(paints_at_opening) == 1 and paints_at_opening[0] >= 1
    finally:
        if start.service is not None:
            start.service.close()


def test_the_names_arrive_after_the_paint_keeping_what_was_typed_and_a_wrong_pin_is_still_refused(qtbot, monkeypatch, data_dir, clock):
    start = Start(data_dir, clock=clock)

    def act(dialog):
        qtbot.addWidget(dialog)
        assert dialog.name.count() == 0 and start.service is None
        qtbot.keyClicks(dialog.name.lineEdit(), "Nora")  # typed while the database opens
        qtbot.waitUntil(lambda: start.service is not None and dialog.name.count() == 4, timeout=10_000)
        assert dialog.name.currentText() == "Nora"
        qtbot.keyClicks(dialog.name.lineEdit(), " Nurse")
        qtbot.keyClicks(dialog.pin, PIN["Phil Pharm"])  # another person's PIN
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
        assert dialog.user is None and "not recognised" in dialog.error.text()
        qtbot.keyClicks(dialog.pin, PIN["Nora Nurse"])
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
        return dialog.result()

    try:
        user = shown_sign_in(qtbot, monkeypatch, start, act)
        assert user is not None and user.name == "Nora Nurse"
    finally:
        if start.service is not None:
            start.service.close()


def test_the_first_run_window_creates_the_first_pharmacist_once_the_database_is_made(qtbot, monkeypatch, tmp_path, clock):
    from infusion_app.gui import first_run

    folder = tmp_path / "new"
    start = Start(folder, clock=clock)

    def exec_(dialog):
        qtbot.addWidget(dialog)
        dialog.show()
        assert start.service is None and not (folder / DB_FILENAME).exists(), "nothing is created before the window"
        qtbot.keyClicks(dialog.name, "Fran First")
        qtbot.keyClicks(dialog.pin, "567856")
        qtbot.keyClicks(dialog.pin_again, "567856")
        qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
        return dialog.result()

    monkeypatch.setattr(first_run.FirstRunDialog, "exec", exec_)
    try:
        user = start.first_user()
        assert user is not None and user.name == "Fran First" and user.role.value == "pharmacist"
        assert [u.name for u in start.service.users()] == ["Fran First"]
    finally:
        if start.service is not None:
            start.service.close()


def test_a_database_with_no_user_yet_gets_the_first_run_window_after_all(qtbot, monkeypatch, tmp_path, clock):
    """The glance at the file guessed sign-in (a users table, say, left by a cancelled first run);
    the opened service says no user exists: the first-run window replaces the sign-in."""
    from infusion_app.gui import first_run
    from infusion_app.service import open_service

    folder = tmp_path / "data"
    open_service(data_dir=folder, clock=clock).close()  # migrated, no user
    monkeypatch.setattr("infusion_app.service.start.first_window", lambda *_a: "sign-in")
    start = Start(folder, clock=clock)
    shown: list[str] = []

    def sign_in_exec(dialog):
        shown.append("sign-in")
        qtbot.addWidget(dialog)
        dialog.show()
        return QDialog.exec(dialog)  # the real loop: the opening behind the paint swaps it

    def first_run_exec(dialog):
        shown.append("first-run")
        qtbot.addWidget(dialog)
        return QDialog.DialogCode.Rejected

    from infusion_app.gui import sign_in

    monkeypatch.setattr(sign_in.SignInDialog, "exec", sign_in_exec)
    monkeypatch.setattr(first_run.FirstRunDialog, "exec", first_run_exec)
    try:
        assert start.first_user() is None
        assert shown == ["sign-in", "first-run"]
    finally:
        if start.service is not None:
            start.service.close()


def test_a_database_that_cannot_be_opened_closes_the_window_and_says_so(qtbot, monkeypatch, data_dir):
    """A newer program's database: the sign-in came up first, the opening behind it fails, the
    window closes, the reason is shown and the program stops with 3; the file is not altered."""
    path = data_dir / DB_FILENAME
    connection = sqlite3.connect(path)
    connection.execute("UPDATE alembic_version SET version_num = '9999_from_a_newer_version'")
    connection.commit()
    connection.close()
    before = path.read_bytes()
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda _parent, _title, text: shown.append(text))
    stayed: list[bool] = []

    def close_what_stayed() -> None:
        stayed.append(True)
        if QApplication.activeModalWidget() is not None:
            QApplication.activeModalWidget().reject()

    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(close_what_stayed)
    guard.start(20_000)
    try:
        code = gui_app.run([], data_dir=data_dir)
    finally:
        guard.stop()
    assert not stayed, "the sign-in stayed open"
    assert code == 3
    assert shown and "could not be opened" in shown[0] and "newer" in shown[0]
    assert path.read_bytes() == before


# -- the tabs built when first shown ----------------------------------------------------------


def open_window(qtbot, service, user) -> MainWindow:
    window = MainWindow(service, user, repaint_ms=60_000, sound=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    return window


def click_tab(qtbot, window: MainWindow, label: str) -> None:
    bar = window.tabs.tabBar()
    [index] = [i for i in range(window.tabs.count()) if window.tabs.tabText(i) == label]
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())


def test_the_chair_tab_is_built_when_first_opened_and_then_works(qtbot, service, nurse, make_preparation):
    from infusion_app.gui.chair import ChairPage

    window = open_window(qtbot, service, nurse)
    assert window._chair is None and window.findChildren(ChairPage) == [], "not built at sign-in"
    click_tab(qtbot, window, "&Chair")
    chair = window.tabs.currentWidget()
    assert isinstance(chair, ChairPage) and chair is window.chair and chair.isVisible()
    assert window.tabs.tabText(window.tabs.currentIndex()) == "&Chair"
    assert chair.user == nurse
    chair.scan_field.setFocus()
    qtbot.keyClicks(chair.scan_field, "no such bag!")
    qtbot.keyClick(chair.scan_field, Qt.Key.Key_Return)
    assert chair.stack.currentWidget() is chair.scan_page and chair.scan_message.property("role") == "error"
    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified", "labelled", "dispensed"))
    chair.scan_field.clear()
    qtbot.keyClicks(chair.scan_field, prep_id)
    qtbot.keyClick(chair.scan_field, Qt.Key.Key_Return)
    assert chair.prep is not None and chair.prep.id == prep_id and chair.stack.currentWidget() is chair.confirm_page
    click_tab(qtbot, window, "&Board")
    click_tab(qtbot, window, "&Chair")
    assert window.tabs.currentWidget() is chair and window.findChildren(ChairPage) == [chair], "built once"


def test_the_course_tab_is_built_when_first_opened_and_then_works(qtbot, service, pharmacist):
    from infusion_app.gui.course_view import CourseView

    window = open_window(qtbot, service, pharmacist)
    assert window._course is None and window.findChildren(CourseView) == []
    click_tab(qtbot, window, "Co&urse")
    view = window.tabs.currentWidget()
    assert isinstance(view, CourseView) and view is window.course and view.isVisible() and view.user == pharmacist
    view.mrn.setFocus()
    qtbot.keyClicks(view.mrn.lineEdit(), "NOPE")
    qtbot.keyClick(view.mrn.lineEdit(), Qt.Key.Key_Return)
    assert view.message.text().startswith("MRN:") and view.status is None
    assert window._chair is None, "opening one tab builds only that one"


def test_a_switch_of_user_before_a_tab_is_built_builds_it_for_the_new_user(qtbot, service, technician, nurse, monkeypatch):
    window = open_window(qtbot, service, technician)
    monkeypatch.setattr(MainWindow, "sign_in", staticmethod(lambda *a, **k: nurse))
    window.switch_user()
    click_tab(qtbot, window, "&Chair")
    assert window.chair.user == nurse
