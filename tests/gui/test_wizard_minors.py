"""Issue 12 minors in the bench wizard: Esc asks before throwing away a typed order, and a nurse is
told at once that the bench steps are pharmacy's."""

from __future__ import annotations

from PySide6.QtCore import Qt

from .test_bench_wizard import open_wizard


def test_esc_asks_before_discarding_a_typed_order_and_keep_editing_keeps_it(qtbot, service, technician):
    wizard = open_wizard(qtbot, service, technician)
    page = wizard.currentPage()
    qtbot.keyClicks(page.name, "Doe, Jane")
    qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    box = wizard.discard_question
    assert box is not None and box.isVisible() and wizard.isVisible()
    keep = next(b for b in box.buttons() if "Keep" in b.text())
    qtbot.mouseClick(keep, Qt.MouseButton.LeftButton)
    assert wizard.isVisible() and page.name.text() == "Doe, Jane"

    qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    discard = next(b for b in wizard.discard_question.buttons() if "Discard" in b.text())
    qtbot.mouseClick(discard, Qt.MouseButton.LeftButton)
    assert not wizard.isVisible()


def test_an_empty_wizard_or_a_stored_preparation_closes_without_a_question(qtbot, service, technician, make_preparation):
    wizard = open_wizard(qtbot, service, technician)
    qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    assert not wizard.isVisible() and wizard.discard_question is None
    stored = open_wizard(qtbot, service, technician, make_preparation())
    qtbot.keyClick(stored, Qt.Key.Key_Escape)
    assert not stored.isVisible()


def test_a_nurse_is_told_at_once_that_the_bench_is_pharmacys(qtbot, service, nurse, technician):
    wizard = open_wizard(qtbot, service, nurse)
    notice = wizard.role_notice
    assert notice.isVisible() and notice.parent() is wizard.currentPage()
    assert "nurse" in notice.text() and "pharmacist or technician" in notice.text()
    assert not open_wizard(qtbot, service, technician).role_notice.isVisible()
