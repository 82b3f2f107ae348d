"""The fast part of packaging/benchmarks/crash_tamper.py: a few kills over every write path, and
every tampering class the hostile review used (each must be detected)."""

from __future__ import annotations

import pytest
import importlib.util
import random
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "packaging" / "benchmarks" / "crash_tamper.py"


def harness():
    spec = importlib.util.spec_from_file_location("crash_tamper", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("crash_tamper", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_every_tampering_class_is_detected(tmp_path):
    module = harness()
    report = module.Report()
    module.tamper_all(tmp_path, report)
    assert report.tamperings == len(module.TAMPERINGS) >= 20
    assert report.undetected == [], report.lines()


@pytest.mark.slow
def test_kills_across_every_write_path_lose_no_acknowledged_write(tmp_path):
    module = harness()
    data = tmp_path / "data"
    module.seed(data)
    report = module.Report()
    module.crash_rounds(data, 8, random.Random(15), report, max_delay=1.5)
    assert report.kills == 8 and report.acknowledged > 0
    assert report.lost == [], report.lines()


@pytest.mark.slow
def test_kills_of_the_desktop_program_lose_no_step_its_screen_showed(tmp_path):
    module = harness()
    data = tmp_path / "gui"
    module.gui_seed(data)
    report = module.Report()
    # Two kills, each within 3 s of the screen's second step (seed 15 draws 2.9 s and 0.03 s): one
    # further into the walk, one right after a step was shown.
    module.gui_kill_rounds(data, 2, random.Random(15), report, max_delay=3.0, after_steps=2)
    assert report.kills == 2 and report.acknowledged > 0, report.lines()
    assert report.lost == [], report.lines()
