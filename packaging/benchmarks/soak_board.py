"""Soak check: the board with 1,000 active preparations ticking for 30 minutes under Xvfb.

A board left open for a whole shift is how the program is used; PySide6 6.12.0 on Python 3.11
aborted it after 19 minutes (112 rows) or 2 minutes (1,012 rows) by eating references to None.
This script is not a test and never gates CI: it takes as long as you ask.

    .venv/bin/python packaging/benchmarks/soak_board.py [--minutes 30] [--preparations 1000]

It starts Xvfb (and openbox when installed) unless DISPLAY is set, fills a scratch data folder,
runs the real main window with the real clock and its one-second repaint in a child process,
and prints, every --report-every seconds, the child's resident memory, sys.getrefcount(None)
and the rows shown. At the end: whether the process was alive, memory growth and None drift.
Exit 0 when the child lived to the end and None's count did not fall steadily.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHILD = r"""
import sys, time
from infusion_app.gui.app import create_application
app = create_application(sys.argv[:1])
from PySide6.QtCore import QTimer
from infusion_app.gui import main_window
from infusion_app.gui.main_window import MainWindow
from infusion_app.service import open_service

# Nobody is at the keyboard to answer "quit with alarms running?" when the soak ends.
main_window.confirm_quit_with_alarms = lambda _parent, _alarms: True

folder, minutes, every = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
service = open_service(data_dir=folder)
window = MainWindow(service, service.user("Bench Tech"), sound=False)  # the default 1 s repaint
window.resize(1280, 800)
window.show()
started = time.monotonic()

def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

def sample():
    elapsed = time.monotonic() - started
    rows = window.board.board_model.rowCount()
    print(f"SAMPLE {elapsed:.0f} {rss_kib()} {sys.getrefcount(None)} {rows}", flush=True)
    if elapsed >= minutes * 60 - every / 2:
        print("DONE", flush=True)
        app.quit()

timer = QTimer()
timer.timeout.connect(sample)
timer.start(int(every * 1000))
QTimer.singleShot(0, sample)
app.exec()
service.close()
"""


def start_display() -> list[subprocess.Popen]:
    if os.environ.get("DISPLAY"):
        return []
    if shutil.which("Xvfb") is None:
        sys.exit("Xvfb is not installed: apt-get install xvfb openbox (or set DISPLAY)")
    display = ":97"
    started = [subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"], stderr=subprocess.DEVNULL)]
    time.sleep(1)  # a benchmark script, not a test: Xvfb needs a moment to accept clients
    os.environ["DISPLAY"] = display
    if shutil.which("openbox"):
        started.append(subprocess.Popen(["openbox"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
    return started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--preparations", type=int, default=1000)
    parser.add_argument("--report-every", type=float, default=60, help="seconds between samples")
    args = parser.parse_args()
    os.environ.pop("QT_QPA_PLATFORM", None)
    os.environ.pop("INFUSION_PREP_TESTING", None)
    display = start_display()
    from bench_gui import prepare_data

    samples: list[tuple[float, int, int, int]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="infusion-prep-soak-") as tmp:
            folder = Path(tmp) / "board"
            t0 = time.perf_counter()
            prepare_data(folder, args.preparations)
            print(f"{args.preparations} active preparations set up in {time.perf_counter() - t0:.0f} s", flush=True)
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(folder), str(args.minutes), str(args.report_every)],
                stdout=subprocess.PIPE,
                text=True,
                env=dict(os.environ, PYTHONPATH=str(ROOT)),
            )
            done = False
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("SAMPLE"):
                    _, elapsed, rss, none_refs, rows = line.split()
                    samples.append((float(elapsed), int(rss), int(none_refs), int(rows)))
                    print(f"  {float(elapsed) / 60:6.1f} min  RSS {int(rss) / 1024:7.1f} MiB  refcount(None) {none_refs}  rows {rows}", flush=True)
                elif line.startswith("DONE"):
                    done = True
            code = child.wait()
    finally:
        for process in reversed(display):
            process.terminate()
    alive = done and code == 0
    print(f"process alive at the end: {'yes' if alive else f'NO (exit code {code})'}")
    if len(samples) >= 2:
        first, last = samples[0], samples[-1]
        print(f"memory: {first[1] / 1024:.1f} MiB -> {last[1] / 1024:.1f} MiB ({(last[1] - first[1]) / 1024:+.1f} MiB)")
        drift = last[2] - first[2]
        print(f"refcount(None): {first[2]} -> {last[2]} ({drift:+d}; a broken binding loses thousands a minute)")
        steady_drop = drift < -1000
    else:
        steady_drop = False
    return 0 if alive and not steady_drop else 1


if __name__ == "__main__":
    sys.exit(main())
