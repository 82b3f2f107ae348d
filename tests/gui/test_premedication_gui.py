"""Issue 12 item 11 at the chair: premedication picked from the monograph's list per class, "other"
only with its name and the dose checked, the dose in mg, the time now unless changed, and the
recording nurse's correction of an entry (audited; the original kept)."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from tests.drugs import BESPONSA
from infusion_app.domain.preparation import premedication_given
from infusion_app.domain.records import EventType, Role
from infusion_app.gui.chair import ChairPage

from .conftest import PAGE_SIZE
from .test_chair import DISPENSED, click, confirm, premedicate, scan


def open_at_premedication(qtbot, chair, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    assert chair.stack.currentWidget() is chair.premed_page
    return prep_id


def test_the_drug_is_picked_from_the_class_list_and_free_text_is_only_other(qtbot, chair, service, make_preparation):
    prep_id = open_at_premedication(qtbot, chair, make_preparation)
    row = chair.premed_rows["antihistamine"]
    names = [row.drug.itemData(i) for i in range(row.drug.count())]
    assert names[1:-1] == [d.name for d in BESPONSA.premedication_drugs() if d.drug_class == "antihistamine"]
    assert names[-1] == "other" and not row.drug.isEditable()
    assert not row.other_name.isVisible() and not row.dose_checked.isVisible()

    row.drug.setFocus()
    qtbot.keyClicks(row.drug, "other")  # keyboard search picks "Other (not on the list)"
    qtbot.keyClick(row.drug, Qt.Key.Key_Return)
    assert row.other_name.isVisible() and row.other_name.hasFocus() and row.dose_checked.isVisible()
    qtbot.keyClicks(row.other_name, "clemastine")
    qtbot.keyClick(row.other_name, Qt.Key.Key_Return)
    qtbot.keyClicks(row.dose, "2")
    click(qtbot, chair.premed_button)
    assert "check the dose against the order" in row.status.text()
    assert service.get(prep_id).events_of(EventType.PREMEDICATION) == []

    click(qtbot, row.dose_checked)
    click(qtbot, chair.premed_button)
    stored = service.get(prep_id).events_of(EventType.PREMEDICATION)
    assert [(e.details["drug"], e.details["dose"], e.details["other"], e.details["dose_checked"]) for e in stored] == [("clemastine", "2 mg", True, True)]
    assert "other; dose checked against the order" in row.status.text()


def test_the_time_given_is_now_unless_the_nurse_changes_it(qtbot, chair, service, clock, make_preparation):
    prep_id = open_at_premedication(qtbot, chair, make_preparation)
    clock.advance(minutes=7)
    chair.repaint_countdown()  # a tick keeps an untouched time at now
    row = chair.premed_rows["corticosteroid"]
    premedicate(qtbot, chair, classes=("corticosteroid",))
    assert service.get(prep_id).last(EventType.PREMEDICATION).at == clock.now()

    earlier = chair.premed_rows["antipyretic"]
    earlier.given_at.setFocus()
    earlier.given_at.setDateTime(earlier.given_at.dateTime().addSecs(-20 * 60))  # as the spin box's arrows would
    clock.advance(minutes=3)
    chair.repaint_countdown()
    premedicate(qtbot, chair, classes=("antipyretic",))
    given = {e.details["drug_class"]: e.at for e in service.get(prep_id).events_of(EventType.PREMEDICATION)}
    assert clock.now() - given["antipyretic"] == timedelta(minutes=23)
    assert row.status.text().startswith("Recorded: dexamethasone 10 mg")


def answer_correction(qtbot, dose: str | None, reason: str, seen: list[str], drug: str | None = None):
    def fill():
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "premedCorrectionDialog":
            QTimer.singleShot(20, fill)
            return
        seen.append(dialog.entry.dose.text())
        if drug is not None:
            dialog.entry.drug.setFocus()
            qtbot.keyClicks(dialog.entry.drug, drug)
        if dose is not None:
            dialog.entry.dose.clear()
            qtbot.keyClicks(dialog.entry.dose, dose)
        qtbot.keyClicks(dialog.reason, reason)
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
        if dialog.isVisible():
            seen.append(dialog.message.text())
            dialog.reject()

    QTimer.singleShot(20, fill)


def test_the_recording_nurse_corrects_an_entry_and_another_nurse_cannot(qtbot, chair, service, pharmacist, make_preparation):
    prep_id = open_at_premedication(qtbot, chair, make_preparation)
    premedicate(qtbot, chair, classes=("antipyretic",))
    row = chair.premed_rows["antipyretic"]
    assert row.correct_button.isVisible()

    seen: list[str] = []
    answer_correction(qtbot, "500", "", seen)
    assert not chair.correct_premedication("antipyretic")
    assert seen[0] == "650 mg" and "reason" in seen[1].lower()

    seen = []
    answer_correction(qtbot, "500", "wrong dose typed", seen)
    assert chair.correct_premedication("antipyretic")
    prep = service.get(prep_id)
    assert prep.events[-1].type == EventType.PREMEDICATION_CORRECTED
    assert [e.details["dose"] for e in premedication_given(prep)] == ["500 mg"]
    assert prep.events_of(EventType.PREMEDICATION)[0].details["dose"] == "650 mg"  # the original is kept
    assert "corrected by Nora Nurse: wrong dose typed" in row.status.text()
    audit = [entry.action for entry in service.audit_entries()]
    assert "event.premedication-corrected" in audit

    other = ChairPage(service, service.add_user("Nils Nurse", Role.NURSE, "555555", actor=pharmacist))
    qtbot.addWidget(other)
    other.resize(*PAGE_SIZE)
    other.show()
    scan(qtbot, other, prep_id)
    assert other.stack.currentWidget() is other.premed_page
    assert not other.premed_rows["antipyretic"].correct_button.isVisible()
