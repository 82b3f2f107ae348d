"""The alarm burst is synthesised once per pulse shape, not once per pulse (issue 19: the first
alarm spent about 190 ms in pure Python), and every pulse of the file is the same."""

from __future__ import annotations

import math
import wave

from infusion_app.gui import alarms


def test_a_burst_synthesises_one_pulse_and_repeats_it(tmp_path, monkeypatch):
    calls: list[float] = []

    class CountingMath:
        pi = math.pi

        @staticmethod
        def sin(x: float) -> float:
            calls.append(x)
            return math.sin(x)

    monkeypatch.setattr(alarms, "math", CountingMath)
    path = alarms._burst_wav(tmp_path / "high.wav", 5, 880.0)
    samples_per_pulse = int(44_100 * 0.15)
    assert len(calls) == samples_per_pulse * 5  # five harmonics of one pulse, not of five
    with wave.open(str(path), "rb") as read:
        assert (read.getnchannels(), read.getsampwidth(), read.getframerate()) == (2, 2, 44_100)
        frames = read.readframes(read.getnframes())
    period = 4 * (samples_per_pulse + int(44_100 * 0.08))  # bytes: 2 channels of 16 bits
    assert len(frames) == 5 * period
    assert all(frames[k * period : (k + 1) * period] == frames[:period] for k in range(5))
    assert any(frames[:period]) and not any(frames[4 * samples_per_pulse : period])  # a tone, then the gap
