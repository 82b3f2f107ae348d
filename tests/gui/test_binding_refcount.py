"""The Qt binding must not eat references to None (PySide6 6.12.0 on Python 3.11 does: one per
void call, and a board left open aborts with "none_dealloc" within minutes).

Each test counts sys.getrefcount(None) around thousands of calls and fails on a steady drop. On
a sound binding the count moves by a handful at most; on the broken one it falls by one per call.
"""

from __future__ import annotations

import gc
import sys
from datetime import date

from PySide6.QtWidgets import QMessageBox, QWidget

from infusion_app.domain.records import Patient
from infusion_app.gui import app as gui_app
from infusion_app.gui import binding_check
from infusion_app.gui.main_window import MainWindow

CALLS = 3000
# Far below CALLS: a leak of one per call cannot hide under it, interpreter noise cannot reach it.
NOISE = 50


def none_count() -> int:
    # Collected garbage releases its references to None too: count only what is still alive.
    gc.collect()
    return sys.getrefcount(None)


def test_void_qt_calls_keep_every_reference_to_none(qtbot):
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    before = none_count()
    for _ in range(CALLS):
        widget.repaint()
        widget.setMinimumWidth(10)
    assert before - none_count() < NOISE, "the Qt binding drops a reference to None on every void call"


def test_the_boards_own_repaint_path_keeps_every_reference_to_none(qtbot, service, technician, make_preparation, clock):
    for i in range(5):
        make_preparation(Patient(f"Soak Patient {i}", f"MRN9{i}", date(1970, 1, 1)), steps=("reconstituted",))
    window = MainWindow(service, technician, repaint_ms=60_000, sound=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    for _ in range(50):  # warm up: first ticks fill caches that later ticks may release
        clock.advance(seconds=1)
        window.refresh()
    ticks = 1000
    before = none_count()
    for _ in range(ticks):  # each tick is dozens of void Qt calls: model signals, row heights, repaint
        clock.advance(seconds=1)
        window.refresh()
        window.board.repaint()
    # A broken binding loses at least one per tick from repaint() alone, dozens more from the rest;
    # caches of the program's own (a regex, a formatted instant) may come and go by a few hundred.
    assert before - none_count() < ticks // 3, "the board's repaint tick loses references to None"


def test_a_release_known_to_be_broken_is_named_with_its_fix():
    defect = binding_check.binding_defect("6.12.0", (3, 11))
    assert defect is not None and defect.known_release
    assert "6.12.0" in defect.message() and "<6.12" in defect.message() and "3.12" in defect.message()
    # The same release on a Python with an immortal None is not refused for its number alone.
    assert not binding_check._known_broken("6.12.0", (3, 12))


def test_the_running_binding_is_sound():
    assert binding_check.none_references_lost() <= binding_check.PROBE_TOLERANCE
    assert binding_check.binding_defect() is None


def test_the_program_refuses_to_start_on_a_broken_binding(qapp, monkeypatch, tmp_path, capsys):
    defect = binding_check.BindingDefect("6.12.0", "3.11", 500, known_release=False)
    monkeypatch.setattr(binding_check, "binding_defect", lambda: defect)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda _parent, _title, text: shown.append(text))
    opened: list[object] = []
    import infusion_app.service as service_module

    monkeypatch.setattr(service_module, "open_service", lambda **kw: opened.append(kw))
    assert gui_app.run([], data_dir=tmp_path) == 3
    assert opened == [], "no data may be opened on a binding that aborts"
    assert shown and "lost 500 references" in shown[0] and "pip install" in shown[0]
    assert "cannot run safely" in capsys.readouterr().err
