"""Issue 12 item 14: a step entered a few minutes after it was done, from the bench and the chair,
with its real time and the time of entry both kept; the domain's rules for late entries hold.

Fails on the code before this change: the GUI recorded every step at the moment of the click.
"""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QDateTime, Qt
from PySide6.QtWidgets import QCheckBox, QRadioButton

from infusion_app.domain.records import EventType
from infusion_app.gui import bench_wizard as bw

from .test_bench_wizard import COMMIT, NEXT, click, find, open_wizard, tick
from .test_chair import DISPENSED, confirm, premedicate, scan


def set_earlier(qtbot, late, minutes: int) -> None:
    qtbot.mouseClick(late.earlier, Qt.MouseButton.LeftButton)
    assert late.earlier.isChecked() and late.when.isEnabled()
    late.when.setDateTime(late.when.dateTime().addSecs(-60 * minutes))  # as its arrows would


def test_the_bench_records_a_dilution_done_a_few_minutes_before_it_was_entered(qtbot, service, technician, clock, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    clock.advance(minutes=30)
    wizard = open_wizard(qtbot, service, technician, prep_id)
    tick(qtbot, find(wizard, QCheckBox, "drawConfirm"))
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.DILUTE
    tick(qtbot, find(wizard, QRadioButton, "storageRoom"))
    set_earlier(qtbot, wizard.currentPage().late, 6)
    entered = clock.now()
    click(qtbot, wizard, COMMIT)
    diluted = service.get(prep_id).last(EventType.DILUTED)
    assert diluted.recorded_at == entered
    assert entered - diluted.at == timedelta(minutes=6)
    assert wizard.currentId() == bw.VERIFY
    assert not wizard.currentPage().late.earlier.isChecked()  # the next step starts at now again


def test_a_late_entry_before_the_previous_step_is_refused_on_the_page(qtbot, service, technician, clock, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    clock.advance(minutes=10)
    wizard = open_wizard(qtbot, service, technician, prep_id)
    tick(qtbot, find(wizard, QCheckBox, "drawConfirm"))
    click(qtbot, wizard, NEXT)
    tick(qtbot, find(wizard, QRadioButton, "storageRoom"))
    set_earlier(qtbot, wizard.currentPage().late, 60)
    click(qtbot, wizard, COMMIT)
    refusal = wizard.currentPage().refusal
    assert refusal.isVisible() and "before the previous step" in refusal.text()
    assert refusal.text().startswith("Time: ")
    assert service.get(prep_id).last(EventType.DILUTED) is None and wizard.currentId() == bw.DILUTE


def test_the_chair_records_a_start_entered_late_and_the_end_of_observation_at_now(qtbot, chair, service, clock, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    premedicate(qtbot, chair)
    assert chair.stack.currentWidget() is chair.start_page
    clock.advance(minutes=15)
    late = chair.late_entries[EventType.INFUSION_STARTED]
    set_earlier(qtbot, late, 4)
    assert chair.start_button.text() == "&Start infusion"  # not "now"
    entered = clock.now()
    qtbot.mouseClick(chair.start_button, Qt.MouseButton.LeftButton)
    started = service.get(prep_id).last(EventType.INFUSION_STARTED)
    assert (started.recorded_at, entered - started.at) == (entered, timedelta(minutes=4))
    assert chair.stack.currentWidget() is chair.infusing_page
    assert not chair.late_entries[EventType.INFUSION_ENDED].earlier.isChecked()


def test_a_time_in_the_future_is_refused_with_the_fields_label(qtbot, chair, service, clock, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    premedicate(qtbot, chair)
    late = chair.late_entries[EventType.INFUSION_STARTED]
    qtbot.mouseClick(late.earlier, Qt.MouseButton.LeftButton)
    late.when.setDateTime(QDateTime.fromSecsSinceEpoch(int((clock.now() + timedelta(hours=1)).timestamp())))
    qtbot.mouseClick(chair.start_button, Qt.MouseButton.LeftButton)
    assert chair.start_message.text().startswith("Time: ") and "future" in chair.start_message.text()
    assert service.get(prep_id).last(EventType.INFUSION_STARTED) is None


def test_tab_leaves_a_date_and_time_field(qtbot, chair, make_preparation):
    """Issue 12 item 10: Qt's date-time field kept Tab for its own sections (five presses to leave)."""
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    row = chair.premed_rows["corticosteroid"]
    row.given_at.setFocus()
    assert row.given_at.hasFocus()
    qtbot.keyClick(row.given_at, Qt.Key.Key_Tab)
    assert not row.given_at.hasFocus()
