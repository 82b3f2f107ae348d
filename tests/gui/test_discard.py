"""Discard by a pharmacist, with a reason, from the board and the chair (the wizard's is in test_bench_wizard)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from infusion_app.domain.records import EventType
from infusion_app.gui.chair import ChairPage
from infusion_app.gui.main_window import MainWindow

from .conftest import PIN
from .test_chair import DISPENSED, confirm, scan


def answer_discard(qtbot, name, pin, reason, seen):
    def fill():
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "discardDialog":
            QTimer.singleShot(20, fill)
            return
        dialog.pharmacist.setCurrentText(name)
        qtbot.keyClicks(dialog.pin, pin)
        qtbot.keyClicks(dialog.reason, reason)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        if dialog.isVisible():
            seen.append(dialog.error.text())
            dialog.reject()

    QTimer.singleShot(20, fill)


def test_a_pharmacist_discards_the_selected_preparation_from_the_board(qtbot, service, nurse, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    window = MainWindow(service, nurse, repaint_ms=60_000, sound=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    window.board.selectRow(0)
    seen: list[str] = []
    answer_discard(qtbot, "Phil Pharm", "0000", "bag dropped", seen)  # a wrong PIN
    qtbot.mouseClick(window.discard_button, Qt.MouseButton.LeftButton)
    assert seen and "PIN" in seen[0]
    assert service.get(prep_id).last(EventType.DISCARDED) is None
    answer_discard(qtbot, "Phil Pharm", PIN["Phil Pharm"], "bag dropped in the hood", seen)
    qtbot.mouseClick(window.discard_button, Qt.MouseButton.LeftButton)
    discarded = service.get(prep_id).last(EventType.DISCARDED)
    assert discarded.user == "Phil Pharm" and discarded.details["reason"] == "bag dropped in the hood"
    assert service.list_active() == []


def test_at_the_chair_a_passed_start_by_offers_the_discard_first(qtbot, service, nurse, clock, make_preparation):
    chair = ChairPage(service, nurse)
    qtbot.addWidget(chair)
    chair.resize(1280, 680)
    chair.show()
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    assert chair.discard_button.isVisible()
    confirm(qtbot, chair)
    from .test_chair import premedicate

    premedicate(qtbot, chair)
    clock.advance(hours=9)
    qtbot.mouseClick(chair.start_button, Qt.MouseButton.LeftButton)
    assert "Discard this bag" in chair.start_message.text() and chair.focusWidget() is chair.discard_button
    seen: list[str] = []
    answer_discard(qtbot, "Phil Pharm", PIN["Phil Pharm"], "start-by passed; new bag ordered", seen)
    qtbot.mouseClick(chair.discard_button, Qt.MouseButton.LeftButton)
    assert service.get(prep_id).last(EventType.DISCARDED).user == "Phil Pharm"
    assert chair.prep is None and "discarded" in chair.scan_message.text()
