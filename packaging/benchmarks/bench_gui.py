"""GUI timings (a script, not a test; it never gates CI).

1. Launch to a shown main window, next to a bare PySide6 window, on the same machine: each is a
   fresh Python process; the time runs from just before the process is started to the moment the
   window has been shown and painted once (the child prints a wall-clock stamp).
2. One repaint tick of the board with 100 active preparations: the whole tick (read every
   preparation from storage, compute their deadlines at the clock's now, update the model) and
   the paint of the table alone.

    .venv/bin/python packaging/benchmarks/bench_gui.py [--runs 5] [--ticks 20]

Runs offscreen unless DISPLAY is set and --screen is given.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BARE = """
import time, sys
from PySide6.QtWidgets import QApplication, QMainWindow, QLabel
from PySide6.QtCore import QTimer
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.setCentralWidget(QLabel("hello"))
window.resize(1280, 800)
window.show()
def shown():
    window.repaint()
    print(f"SHOWN {time.time():.6f}", flush=True)
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""

PROGRAM = """
import time, sys
from infusion_app.gui.app import create_application
app = create_application(sys.argv[:1])
from infusion_app.service import open_service
from infusion_app.gui.main_window import MainWindow
from PySide6.QtCore import QTimer
service = open_service(data_dir=sys.argv[1])
window = MainWindow(service, service.user("Bench Tech"), sound=True)
window.show()
def shown():
    window.repaint()
    print(f"SHOWN {time.time():.6f}", flush=True)
    window.close()
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
service.close()
"""


def launch_seconds(code: str, args: list[str], env: dict[str, str]) -> float:
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    stamp = next(line for line in out.stdout.splitlines() if line.startswith("SHOWN "))
    return float(stamp.split()[1]) - started


# Normal results of every lab an order's verification asks for (as tests/lab_helpers.py gives them).
NORMAL_LABS = {
    "anc": 2.0,
    "platelets": 150,
    "transfusion_independent": True,
    "bilirubin_x_uln": 0.8,
    "ast_alt_x_uln": 1.0,
    "qtc_ms": 420,
    "potassium": 4.1,
    "magnesium": 0.85,
    "weight_gain": False,
    "hepatomegaly": False,
    "ascites": False,
    "bilirubin_rising": False,
}


def prepare_data(folder: Path, preparations: int) -> None:
    """A data folder with one technician and `preparations` active preparations, half with running clocks."""
    from datetime import date, timedelta

    from infusion_app.domain import labs
    from infusion_app.domain.clock import FakeClock, SystemClock
    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import EventType, Patient, Role, VialRecord
    from infusion_app.service import open_service

    start = SystemClock().now() - timedelta(hours=3)
    clock = FakeClock(start)
    service = open_service(data_dir=folder, clock=clock)
    try:
        pharmacist = service.add_user("Bench Pharm", Role.PHARMACIST, "222222")  # the first user must be one
        tech = service.add_user("Bench Tech", Role.TECHNICIAN, "111111", actor=pharmacist)
        for i in range(preparations):
            patient = Patient(f"Patient {i:03d} Benchmark", f"MRN{i:05d}", date(1960 + i % 40, 1 + i % 12, 1 + i % 28))
            status = service.create_preparation(
                patient, DoseOrder(f"{150 + i % 40} cm", f"{50 + i % 40} kg", 1, 1), tech, monograph=service.registered("inotuzumab-ozogamicin")
            )
            for _ in range(status.prep.order.calculation.vials):
                service.add_vial(status.id, VialRecord(lot=f"LOT{i}", expiry=start.date() + timedelta(days=365)), tech, product_confirmed=True)
            if i % 2 == 0:
                # The order is verified by a pharmacist who did not enter it before any reconstitution,
                # with the labs every order now needs (no course on file: given at the verification).
                checked = labs.verification_labs(clock.now(), **NORMAL_LABS)
                service.record_event(status.id, EventType.ORDER_VERIFIED, pharmacist, details={"labs": checked})
                service.record_event(status.id, EventType.RECONSTITUTED, tech)
            clock.advance(seconds=90)
    finally:
        service.close()


def board_tick_timings(folder: Path, ticks: int) -> tuple[list[float], list[float], int]:
    from infusion_app.gui.app import create_application

    app = create_application(sys.argv[:1])
    from infusion_app.gui.main_window import MainWindow
    from infusion_app.service import open_service

    service = open_service(data_dir=folder)
    window = MainWindow(service, service.user("Bench Tech"), repaint_ms=3_600_000, sound=False)
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    rows = window.board.board_model.rowCount()
    whole, paint = [], []
    for _ in range(ticks):
        t0 = time.perf_counter()
        window.refresh()
        window.board.viewport().repaint()
        whole.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        window.board.viewport().repaint()
        paint.append(time.perf_counter() - t0)
    window.close()
    service.close()
    return whole, paint, rows


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.1f} ms (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--preparations", type=int, default=100)
    parser.add_argument("--screen", action="store_true", help="use the real DISPLAY instead of offscreen")
    args = parser.parse_args()
    if not args.screen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.pop("INFUSION_PREP_TESTING", None)
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    with tempfile.TemporaryDirectory(prefix="infusion-prep-bench-") as tmp:
        launch_folder = Path(tmp) / "launch"
        prepare_data(launch_folder, 10)
        bare = [launch_seconds(BARE, [], env) for _ in range(args.runs)]
        program = [launch_seconds(PROGRAM, [str(launch_folder)], env) for _ in range(args.runs)]

        board_folder = Path(tmp) / "board"
        t0 = time.perf_counter()
        prepare_data(board_folder, args.preparations)
        setup = time.perf_counter() - t0
        whole, paint, rows = board_tick_timings(board_folder, args.ticks)

    platform = os.environ.get("QT_QPA_PLATFORM", "default (DISPLAY)")
    print(
        textwrap.dedent(f"""\
        Qt platform: {platform}; Python {sys.version.split()[0]}
        Launch to a shown window (fresh process each run):
          bare PySide6 window          {ms(bare)}
          Infusion Prep main window    {ms(program)}  (10 active preparations, sign-in skipped)
        Board repaint with {rows} active preparations (data set up in {setup:.1f} s):
          whole tick (storage read, deadlines, model, paint)  {ms(whole)}
          paint of the table alone                            {ms(paint)}""")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
