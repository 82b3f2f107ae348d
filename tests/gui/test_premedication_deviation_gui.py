"""Issue 16 at the chair: a premedication given before the window it counts in, or given (or written
down) after the infusion started, is a fact the domain records as a deviation with the nurse's reason;
the chair lets the nurse type that reason and shows the entry as a deviation. Before, the chair only
showed the refusal: the entry could not be recorded at all from the screen."""

from __future__ import annotations


from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from infusion_app.domain.records import EventType

from .test_chair import click, cut_off_texts, premedicate
from .test_premedication_gui import open_at_premedication


def test_a_premedication_given_before_its_window_is_recorded_as_a_deviation_with_its_reason(qtbot, chair, service, clock, make_preparation):
    prep_id = open_at_premedication(qtbot, chair, make_preparation)
    row = chair.premed_rows["antipyretic"]
    qtbot.keyClicks(row.drug, "acetaminophen")
    qtbot.keyClicks(row.dose, "650")
    row.given_at.setFocus()
    row.given_at.setDateTime(row.given_at.dateTime().addSecs(-3 * 3600))  # given 3 h ago: the site counts 2 h
    assert not row.deviation_reason.isVisible()
    click(qtbot, chair.premed_button)
    assert service.get(prep_id).events_of(EventType.PREMEDICATION) == []
    assert "more than 2 h ago" in row.status.text() and "recorded as a deviation" in row.status.text()
    assert row.deviation_reason.isVisible() and row.deviation_reason.hasFocus()

    qtbot.keyClicks(row.deviation_reason, "given on the ward before transfer, charted late")
    click(qtbot, chair.premed_button)
    prep = service.get(prep_id)
    assert [e.type for e in prep.events[-2:]] == [EventType.PREMEDICATION, EventType.DEVIATION]
    assert prep.events[-1].details["rules"] == ["premedication_window"]
    assert prep.events[-1].details["reason"] == "given on the ward before transfer, charted late"
    assert "DEVIATION" in row.status.text() and "charted late" in row.status.text()
    assert row.status.property("role") == "warning" and not row.deviation_reason.isVisible()
    qtbot.wait(50)  # the layout settles
    assert cut_off_texts(chair) == []


def _answer_late(qtbot, seen: list[str], drug_class: str, drug: str, dose: str, reason: str) -> None:
    def fill():
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "latePremedDialog":
            QTimer.singleShot(20, fill)
            return
        dialog.drug_class.setFocus()
        qtbot.keyClicks(dialog.drug_class, drug_class)
        entry = dialog.entry()
        assert entry.drug_class == drug_class.lower()
        entry.drug.setFocus()
        qtbot.keyClicks(entry.drug, drug)
        qtbot.keyClicks(entry.dose, dose)
        qtbot.keyClicks(dialog.reason, reason)
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
        if dialog.isVisible():
            seen.append(dialog.message.text())
            dialog.reject()

    QTimer.singleShot(20, fill)


def test_a_premedication_given_after_the_start_is_recorded_from_the_infusing_page_as_a_deviation(qtbot, chair, service, clock, make_preparation):
    prep_id = open_at_premedication(qtbot, chair, make_preparation)
    premedicate(qtbot, chair)
    clock.advance(minutes=10)
    click(qtbot, chair.start_button)
    assert chair.stack.currentWidget() is chair.infusing_page
    button = chair.infusing_page.late_premed_button
    assert button.isVisible()
    clock.advance(minutes=20)

    seen: list[str] = []
    _answer_late(qtbot, seen, "Antihistamine", "diphenhydramine", "25", "")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen))
    assert "deviation" in seen[0].lower() and "reason" in seen[0].lower()
    assert len(service.get(prep_id).events_of(EventType.PREMEDICATION)) == 3

    seen = []
    _answer_late(qtbot, seen, "Antihistamine", "diphenhydramine", "25", "rash at 20 min, second dose ordered")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: service.get(prep_id).events[-1].type == EventType.DEVIATION)
    prep = service.get(prep_id)
    late = prep.events[-2]
    assert late.type == EventType.PREMEDICATION and late.details["drug"] == "diphenhydramine" and late.at == clock.now()
    assert prep.events[-1].details["rules"] == ["premedication_after_start"]
    assert chair.infusing_page.message.text().startswith("Premedication recorded as a deviation")
    assert "rash at 20 min" in chair.infusing_page.message.text() and seen == []
    qtbot.wait(50)
    assert cut_off_texts(chair) == []
