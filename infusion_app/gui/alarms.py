"""Alarms: a repeating sound and a visual flash until a person acknowledges them.

IEC 60601-1-8 conventions: a high-priority alarm (a deadline due or expired; red) sounds a
five-pulse burst and flashes fast; a medium-priority alarm (the warning lead time reached;
yellow) sounds a three-pulse burst and flashes slowly. Both repeat until acknowledged; the
acknowledgement (who, when, which deadline, at which state) is recorded through the service.

Which alarms are active is decided from storage on every tick (a deadline in an alarm state and
no acknowledgement stored for it), so an unacknowledged alarm re-raises after a restart. This
module only keeps the sound and the flash going while that list is not empty.

Sound is optional: when QtMultimedia or an audio device is missing the program runs with the
visual flash only.
"""

from __future__ import annotations

import logging
import math
import struct
import tempfile
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, QUrl, Signal

# Which deadline raises an alarm, and at which priority, is domain/urgency.py's.
from ..domain.urgency import HIGH, MEDIUM, alarm_order_key, alarm_priority

log = logging.getLogger(__name__)


# IEC 60601-1-8, table 3 and 4: a high-priority burst repeats every 2.5-15 s and its light flashes
# at 1.4-2.8 Hz; a medium-priority burst repeats every 2.5-30 s and its light flashes at 0.4-0.8 Hz.
REPEAT_MS = {HIGH: 5_000, MEDIUM: 10_000}
FLASH_TOGGLE_MS = {HIGH: 250, MEDIUM: 1_000}  # toggling twice per period: 2 Hz and 0.5 Hz


@dataclass(frozen=True)
class Alarm:
    preparation_id: str
    deadline_key: str
    deadline_label: str
    state: str  # the deadline state that raised it: warning, due or expired
    patient_name: str
    mrn: str

    @property
    def priority(self) -> str:
        return alarm_priority(self.state) or MEDIUM

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.preparation_id, self.deadline_key, self.state)

    def describe(self) -> str:
        what = {"warning": "warning", "due": "DUE NOW", "expired": "EXPIRED"}.get(self.state, self.state)
        return f"{self.patient_name} (MRN {self.mrn}): {self.deadline_label} {what}"


# --------------------------------------------------------------------------------------------
# Sound


def _burst_wav(path: Path, pulses: int, frequency: float) -> Path:
    """A burst of short pulses with harmonics (IEC tones need at least 4 harmonics to be located).

    Every pulse is the same, so one is synthesised and repeated: the first alarm synthesised each
    pulse again in pure Python, about 190 ms for both bursts (issue 19); the file is bit for bit
    what it was."""
    rate = 44_100  # CD rate, 16-bit stereo: what every audio device accepts
    pulse_s, gap_s = 0.15, 0.08
    count = int(rate * pulse_s)
    pulse: list[int] = []
    for i in range(count):
        t = i / rate
        envelope = min(1.0, i / (rate * 0.01), (count - i) / (rate * 0.01))
        value = sum(math.sin(2 * math.pi * frequency * h * t) / h for h in range(1, 6))
        pulse.append(int(9_000 * envelope * value))
    one = pulse + [0] * int(rate * gap_s)
    frames = struct.pack(f"<{2 * len(one)}h", *(value for sample in one for value in (sample, sample)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames * pulses)
    return path


class AlarmSound:
    """Plays the burst for a priority. Silently does nothing when there is no audio.

    QtMultimedia (and its FFmpeg backend) loads on the first alarm, not at start: most shifts
    open the program with nothing due, and the board should be up at once.
    """

    def __init__(self, enabled: bool = True, lazy: bool = True):
        self.enabled = enabled
        self.available = False
        self._loaded = False
        self._effects: dict[str, object] = {}
        self._folder: tempfile.TemporaryDirectory | None = None
        if enabled and not lazy:
            self.load()

    def load(self) -> bool:
        """Create the sound effects (once). False when there is no sound on this machine."""
        if self._loaded or not self.enabled:
            return self.available
        self._loaded = True
        try:
            from PySide6.QtMultimedia import QSoundEffect  # may be missing from a trimmed Qt

            self._folder = tempfile.TemporaryDirectory(prefix="infusion-prep-alarm-")
            folder = Path(self._folder.name)
            for priority, pulses, frequency in ((HIGH, 5, 880.0), (MEDIUM, 3, 660.0)):
                effect = QSoundEffect()
                effect.setSource(QUrl.fromLocalFile(str(_burst_wav(folder / f"{priority}.wav", pulses, frequency))))
                effect.setVolume(1.0)
                self._effects[priority] = effect
            self.available = True
        except Exception as exc:  # ImportError, or a multimedia backend that fails to start
            log.warning("alarm sound unavailable, visual alarm only: %s", exc)
            self._effects.clear()
            self.available = False
        return self.available

    @property
    def unavailable(self) -> bool:
        """Sound was wanted and tried, and this machine has none: the screen must say so."""
        return self.enabled and self._loaded and not self.available

    def play(self, priority: str) -> None:
        self.load()
        effect = self._effects.get(priority)
        if effect is None:
            return
        try:
            effect.play()  # type: ignore[attr-defined]
        except Exception as exc:  # an audio device that went away must not stop the alarm
            log.warning("alarm sound failed: %s", exc)

    def stop(self) -> None:
        for effect in self._effects.values():
            try:
                effect.stop()  # type: ignore[attr-defined]
            except Exception:
                pass

    def close(self) -> None:
        """Stop and remove the sound files (the temporary folder was left behind before)."""
        self.stop()
        self._effects.clear()
        self.available = False
        self._loaded = False
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


# --------------------------------------------------------------------------------------------
# The controller


class AlarmsNotAcknowledged(Exception):
    """Some alarms could not be acknowledged (each reason); the others were."""

    def __init__(self, acknowledged: int, refused: list[str]):
        self.acknowledged = acknowledged
        self.refused = refused
        done = f"{acknowledged} acknowledged; " if acknowledged else ""
        super().__init__(done + "not acknowledged, still on:\n" + "\n".join(refused))


class AlarmController(QObject):
    """Keeps the flash and the sound going while any alarm is unacknowledged.

    `acknowledge` is the service call that records an acknowledgement; it must raise when it
    could not be stored, in which case the alarm stays on.
    """

    alarms_changed = Signal(list)  # list[Alarm], most urgent first
    flash_toggled = Signal(bool)

    def __init__(
        self,
        acknowledge: Callable[[Alarm], None],
        sound: AlarmSound | None = None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._acknowledge = acknowledge
        self.sound = sound if sound is not None else AlarmSound(enabled=False)
        self._alarms: list[Alarm] = []
        self.flash_phase = False
        self.sounds_played = 0  # how many bursts were started (tests and the benchmark read it)
        self._flash = QTimer(self)
        self._flash.timeout.connect(self._toggle_flash)
        self._repeat = QTimer(self)
        self._repeat.timeout.connect(self._sound_again)

    @property
    def alarms(self) -> list[Alarm]:
        return list(self._alarms)

    @property
    def highest_priority(self) -> str | None:
        if not self._alarms:
            return None
        return HIGH if any(a.priority == HIGH for a in self._alarms) else MEDIUM

    def update(self, alarms: Iterable[Alarm]) -> None:
        """The alarms that are active now, as read from storage on this tick."""
        ordered = sorted(alarms, key=lambda a: alarm_order_key(a.state, a.preparation_id, a.deadline_key))
        before = {a.identity for a in self._alarms}
        before_priority = self.highest_priority
        self._alarms = ordered
        now = {a.identity for a in ordered}
        if now != before:
            self.alarms_changed.emit(self.alarms)
        priority = self.highest_priority
        if priority is None:
            self._stop()
            return
        new_alarm = bool(now - before)
        if priority != before_priority or not self._flash.isActive():
            self._flash.start(FLASH_TOGGLE_MS[priority])
            self._repeat.start(REPEAT_MS[priority])
        if new_alarm:
            self._sound_again()

    def acknowledge(self, alarm: Alarm) -> None:
        """Record the acknowledgement, then stop this alarm (it stays on if recording fails)."""
        self._acknowledge(alarm)
        self.update([a for a in self._alarms if a.identity != alarm.identity])

    def acknowledge_all(self) -> int:
        """Acknowledge every alarm this person may; one refused (a pharmacy alarm and a nurse) must not
        leave the others sounding. The refusals are raised together once the rest are recorded."""
        count = 0
        refused: list[str] = []
        for alarm in list(self._alarms):
            try:
                self.acknowledge(alarm)
            except Exception as exc:  # noqa: BLE001 - each is told; the alarm stays on
                refused.append(f"{alarm.preparation_id} {alarm.deadline_label}: {exc}")
                continue
            count += 1
        if refused:
            raise AlarmsNotAcknowledged(count, refused)
        return count

    def _toggle_flash(self) -> None:
        self.flash_phase = not self.flash_phase
        self.flash_toggled.emit(self.flash_phase)

    def _sound_again(self) -> None:
        priority = self.highest_priority
        if priority is None:
            return
        self.sounds_played += 1
        self.sound.play(priority)

    def _stop(self) -> None:
        self._flash.stop()
        self._repeat.stop()
        self.sound.stop()
        if self.flash_phase:
            self.flash_phase = False
            self.flash_toggled.emit(False)
