"""Alarms: raised from stored deadlines at the fake clock's now, flashing and repeating until
acknowledged, the acknowledgement recorded through the service; sound optional."""

from __future__ import annotations

import sys

import pytest
from pathlib import Path
from datetime import timedelta

from PySide6.QtCore import Qt

from infusion_app.domain.records import EventType
from infusion_app.gui import alarms as alarm_module
from infusion_app.gui.alarms import Alarm, AlarmController, AlarmSound
from infusion_app.gui.main_window import MainWindow

from .conftest import PATIENT


def open_window(qtbot, service, user, repaint_ms: int = 60_000) -> MainWindow:
    # A long repaint interval: the tests call refresh() themselves after moving the fake clock.
    window = MainWindow(service, user, repaint_ms=repaint_ms, sound=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def dilute_by(service, prep_id):
    return next(d for d in service.status(prep_id).deadlines if d.key == "dilute_by")


def test_an_alarm_is_raised_at_the_warning_lead_and_acknowledged_and_recorded(qtbot, service, technician, clock, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    window = open_window(qtbot, service, technician)
    assert window.alarms.alarms == []
    assert not window.banner.isVisible()

    lead = service.settings().warning_lead_time
    clock.set(dilute_by(service, prep_id).at - lead + timedelta(seconds=1))
    window.refresh()  # what the repaint timer does every second
    [alarm] = window.alarms.alarms
    assert (alarm.preparation_id, alarm.deadline_key, alarm.state) == (prep_id, "dilute_by", "warning")
    assert window.banner.isVisible() and PATIENT.name in window.banner.text.text()
    assert window.board.board_model.rows()[0].alarm_active
    assert window.alarms.sounds_played >= 1

    # The flash runs on its own timer while the alarm is on.
    phase = window.alarms.flash_phase
    qtbot.waitUntil(lambda: window.alarms.flash_phase != phase, timeout=3000)

    qtbot.mouseClick(window.banner.acknowledge_button, Qt.MouseButton.LeftButton)
    assert window.alarms.alarms == []
    assert not window.banner.isVisible()
    ack = service.get(prep_id).last(EventType.ALARM_ACKNOWLEDGED)
    assert ack.user == technician.name
    assert ack.details == {"deadline": "dilute_by", "state": "warning"}
    assert ack.at == clock.now()

    # Still quiet on the next tick: the acknowledgement is read back from storage.
    window.refresh()
    assert window.alarms.alarms == []
    assert not window.board.board_model.rows()[0].alarm_active
    # The board says who acknowledged it and when (issue 12 item 13).
    assert f"alarm acknowledged by {technician.name}" in window.board.board_model.rows()[0].deadline_text


def test_a_nurse_cannot_silence_a_pharmacy_alarm_and_is_told_whose_it_is(qtbot, service, nurse, clock, make_preparation, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a, **k: shown.append(text))
    prep_id = make_preparation(steps=("reconstituted",))
    window = open_window(qtbot, service, nurse)
    clock.set(dilute_by(service, prep_id).at - service.settings().warning_lead_time + timedelta(seconds=1))
    window.refresh()
    assert len(window.alarms.alarms) == 1
    qtbot.mouseClick(window.banner.acknowledge_button, Qt.MouseButton.LeftButton)
    assert service.get(prep_id).last(EventType.ALARM_ACKNOWLEDGED) is None
    assert window.alarms.alarms and window.banner.isVisible()  # still on, for the bench to answer
    assert shown and "pharmacy's" in shown[-1]


def test_an_acknowledged_warning_raises_again_when_the_deadline_expires(qtbot, service, technician, clock, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    window = open_window(qtbot, service, technician)
    clock.set(dilute_by(service, prep_id).at - timedelta(minutes=5))
    window.refresh()
    window.acknowledge_alarms()
    assert window.alarms.alarms == []
    clock.advance(minutes=6)
    window.refresh()
    [alarm] = window.alarms.alarms
    assert alarm.state == "expired" and alarm.priority == alarm_module.HIGH
    assert window.board.board_model.rows()[0].state == "expired"
    assert "EXPIRED" in window.board.board_model.rows()[0].deadline_text


def test_the_alarm_keeps_sounding_until_acknowledged(qtbot, monkeypatch):
    monkeypatch.setitem(alarm_module.REPEAT_MS, alarm_module.HIGH, 30)

    class CountingSound:
        def __init__(self):
            self.played: list[str] = []

        def play(self, priority):
            self.played.append(priority)

        def stop(self):
            pass

    recorded: list[Alarm] = []
    sound = CountingSound()
    controller = AlarmController(recorded.append, sound)  # type: ignore[arg-type]
    alarm = Alarm("BSP-22222", "dilute_by", "Dilute by", "expired", "Ada", "MRN1")
    controller.update([alarm])
    qtbot.waitUntil(lambda: len(sound.played) >= 3, timeout=2000)
    assert set(sound.played) == {alarm_module.HIGH}
    controller.acknowledge(alarm)
    assert recorded == [alarm]
    count = len(sound.played)
    qtbot.wait(150)
    assert len(sound.played) == count  # silent once acknowledged


def test_a_failed_acknowledgement_leaves_the_alarm_on(qtbot):
    def refuse(_alarm):
        raise RuntimeError("database is locked")

    controller = AlarmController(refuse)
    alarm = Alarm("BSP-22222", "dilute_by", "Dilute by", "warning", "Ada", "MRN1")
    controller.update([alarm])
    try:
        controller.acknowledge(alarm)
    except RuntimeError:
        pass
    assert controller.alarms == [alarm]


def test_one_refused_acknowledgement_does_not_leave_the_others_sounding(qtbot):
    """A nurse acknowledging everything: a pharmacy alarm first in the list stopped the loop, and
    the chair's own alarm after it kept sounding unacknowledged."""
    from infusion_app.gui.alarms import AlarmsNotAcknowledged

    recorded: list[Alarm] = []

    def record(alarm):
        if alarm.deadline_key == "dilute_by":
            raise RuntimeError("the alarm 'Dilute by' is pharmacy's")
        recorded.append(alarm)

    controller = AlarmController(record)
    pharmacy = Alarm("BSP-22222", "dilute_by", "Dilute by", "expired", "Ada", "MRN1")
    chair = Alarm("BSP-33333", "end_infusion_by", "End infusion by", "warning", "Bea", "MRN2")
    controller.update([pharmacy, chair])
    try:
        controller.acknowledge_all()
    except AlarmsNotAcknowledged as refused:
        assert refused.acknowledged == 1 and "pharmacy's" in str(refused) and "BSP-22222" in str(refused)
    else:
        raise AssertionError("the refusal was not reported")
    assert recorded == [chair]
    assert controller.alarms == [pharmacy]


def test_without_qtmultimedia_the_alarm_is_visual_only(qtbot, monkeypatch):
    monkeypatch.setitem(sys.modules, "PySide6.QtMultimedia", None)  # import now fails
    sound = AlarmSound(enabled=True)
    sound.play(alarm_module.HIGH)  # tries to load, finds nothing, raises nothing
    assert not sound.available
    controller = AlarmController(lambda _a: None, sound)
    controller.update([Alarm("BSP-22222", "dilute_by", "Dilute by", "expired", "Ada", "MRN1")])
    qtbot.waitUntil(lambda: controller.flash_phase, timeout=2000)


# A machine whose audio device (none, or a dummy one while other tests hold it) cannot play the
# burst: QtMultimedia says so once, and the alarm is visual only, which this test accepts.
@pytest.mark.qt_log_ignore("QSoundEffect: playback of this format is not supported on the selected audio device")
def test_the_alarm_sound_is_generated_when_qtmultimedia_is_there(qtbot):
    sound = AlarmSound(enabled=True, lazy=False)
    # Either it is ready, or (no audio backend on this machine) it says so; it never raises.
    if sound.available:
        assert set(sound._effects) == {alarm_module.HIGH, alarm_module.MEDIUM}
    sound.play(alarm_module.MEDIUM)
    sound.stop()
    folder = sound._folder
    sound.close()
    assert folder is None or not Path(folder.name).exists()  # nothing left in the temporary folder


def test_the_burst_files_are_valid_wav(tmp_path):
    import wave

    path = alarm_module._burst_wav(tmp_path / "x.wav", pulses=5, frequency=880.0)
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == 44_100
        assert wav.getnframes() > 44_100 * 0.15 * 5


def test_the_wizard_shows_the_boards_alarms_and_acknowledges_them(qtbot, service, technician, clock, make_preparation):
    """Issue 12 item 13: a technician in the wizard still sees, and answers, another bag's alarm."""
    other = make_preparation(steps=("reconstituted",))
    window = open_window(qtbot, service, technician)
    wizard = window._open_wizard(None)
    qtbot.waitExposed(wizard)
    strip = wizard.alarm_strip
    assert strip is not None and strip.isHidden()
    clock.set(dilute_by(service, other).at - service.settings().warning_lead_time + timedelta(seconds=1))
    window.refresh()
    assert strip.isVisible() and PATIENT.name in strip.text.text()
    assert strip.parent() is wizard.currentPage()
    assert "&" not in strip.acknowledge_button.text()  # the wizard's own Alt keys stay its own
    qtbot.mouseClick(strip.acknowledge_button, Qt.MouseButton.LeftButton)
    assert service.get(other).last(EventType.ALARM_ACKNOWLEDGED).user == technician.name
    assert strip.isHidden() and not window.banner.isVisible()
    wizard.reject()
    assert window._alarm_strips == []


def test_a_machine_without_sound_says_so_on_the_alarm(qtbot, service, technician, clock, make_preparation, monkeypatch):
    monkeypatch.setattr(AlarmSound, "load", lambda self: (setattr(self, "_loaded", True), False)[1])
    prep_id = make_preparation(steps=("reconstituted",))
    window = MainWindow(service, technician, repaint_ms=60_000, sound=True)
    qtbot.addWidget(window)
    window.show()
    clock.set(dilute_by(service, prep_id).at - service.settings().warning_lead_time + timedelta(seconds=1))
    window.refresh()
    window._flash(True)
    assert window.banner.sound_note.isVisible() and "not heard" in window.banner.sound_note.text()
