"""Launch to the first window (sign-in) against a bare PySide6 window, and peak memory (a script,
not a test; never gates CI).

    .venv/bin/python packaging/benchmarks/bench_launch.py [--runs 5] [--preparations 100]

Each run is a fresh process, the program's interleaved with the bare window's so that the
machine's load falls on both alike; the time runs from just before the process starts to the
moment its window has been shown and painted once (the child prints a wall-clock stamp).
  bare            QApplication + QMainWindow with a label (the baseline)
  sign-in         the program's own start (gui.app.run) on an existing database up to its sign-in
                  window; beside it, when the service behind the window had finished opening
  first run       the same on a new data folder (database created and migrated behind the
                  first-run window)
  peak RSS        ru_maxrss of a child: the main window idle for 3 s of one-second ticks with
                  --preparations active preparations; `calc`
Targets (issue 19): sign-in at most 1.25x bare; first run at most 2x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_startup import COMMANDS  # noqa: E402 - beside this script

# The peak memory of the same `calc` whose start-up bench_startup times.
CALC = COMMANDS["calc"]

# Every launch script ends the same way: show its first window, say when it is painted, quit.
SHOW_AND_REPORT = """
window.show()
def shown():
    window.repaint()
    print(f"SHOWN {time.time():.6f} {time.process_time():.6f}", flush=True)
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""

BARE = (
    """
import time, sys
from PySide6.QtWidgets import QApplication, QMainWindow, QLabel
from PySide6.QtCore import QTimer
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.setCentralWidget(QLabel("hello"))
"""
    + SHOW_AND_REPORT
)

# The program's own start (gui.app.run) on a data folder, up to its first window: the dialog,
# painted once in its event loop's first turn, is stamped, and so is the moment the service behind it has finished opening (READY;
# at once where the window waits for it), then the window is closed as a person's Cancel would.
FIRST_WINDOW = """
import time, sys
from PySide6.QtCore import QTimer
from infusion_app.gui import app as gui_app
try:
    from infusion_app.gui import start as gui_start
except ImportError:  # a version that opens the database before its first window
    gui_start = None

# Stamped as the bare window is: in the dialog's event loop's first turn, painted (repaint) and
# stamped. Not by an event filter: one in Python builds QEvent's type (about 13 M instructions,
# 4 ms), which the program itself no longer needs before its first window and the bare window
# never pays.
class FirstPaint:
    shown = None
    def stamp(self, dialog):
        if self.shown is None:
            dialog.repaint()
            self.shown = dialog
            print(f"SHOWN {time.time():.6f} {time.process_time():.6f}", flush=True)
            QTimer.singleShot(0, self.when_ready)
    def when_ready(self):
        start = getattr(gui_start, "last", None)
        if start is not None and start.service is None and start.failure is None:
            QTimer.singleShot(5, self.when_ready)
            return
        print(f"READY {time.time():.6f}", flush=True)
        self.shown.reject()

probe = FirstPaint()
if gui_start is not None:
    opened_start = gui_start.Start.__init__
    def remember(self, *args, **kwargs):
        opened_start(self, *args, **kwargs)
        gui_start.last = self
    gui_start.Start.__init__ = remember
    # Handed the dialog the program itself shows: importing both dialogs here would time the
    # first-run window's module (and the records it needs) on a start that never shows it.
    show_dialog = gui_start.Start._show
    def watched_show(self, dialog, opened):
        QTimer.singleShot(0, lambda: probe.stamp(dialog))  # runs in the dialog's exec, once shown
        return show_dialog(self, dialog, opened)
    gui_start.Start._show = watched_show
else:
    from infusion_app.gui.first_run import FirstRunDialog
    from infusion_app.gui.sign_in import SignInDialog
    for dialog_class in (SignInDialog, FirstRunDialog):
        def watched_exec(dialog, _exec=dialog_class.exec):
            QTimer.singleShot(0, lambda: probe.stamp(dialog))
            return _exec(dialog)
        dialog_class.exec = watched_exec
sys.exit(gui_app.run(sys.argv[:1], data_dir=sys.argv[1]))
"""

IDLE = """
import sys
from infusion_app.gui.app import create_application
app = create_application(sys.argv[:1])
from PySide6.QtCore import QTimer
from infusion_app.gui import main_window
from infusion_app.gui.main_window import MainWindow
from infusion_app.service import open_service
main_window.confirm_quit_with_alarms = lambda _parent, _alarms: True
service = open_service(data_dir=sys.argv[1])
window = MainWindow(service, service.user("Bench Tech"), sound=True)
window.resize(1280, 800)
window.show()
QTimer.singleShot(3000, app.quit)
app.exec()
window.close()
service.close()
"""


def stamp(out: str, name: str) -> float | None:
    line = next((line for line in out.splitlines() if line.startswith(f"{name} ")), None)
    return float(line.split()[1]) if line else None


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(wall seconds to the SHOWN stamp or to the end, peak RSS in KiB, stdout)."""
    started = time.time()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    out = child.stdout.read() if child.stdout else ""
    _pid, _status, usage = os.wait4(child.pid, 0)
    child.returncode = 0
    ended = time.time()
    shown = stamp(out, "SHOWN")
    return (shown if shown is not None else ended) - started, usage.ru_maxrss, out


def cpu_at_paint(out: str) -> float:
    """The child's own CPU seconds when its window was painted: on a machine shared with other
    work, less disturbed than the wall clock by waiting for a core."""
    line = next(line for line in out.splitlines() if line.startswith("SHOWN "))
    return float(line.split()[2])


def run_window(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(seconds to the first window's paint, seconds to its service being open, CPU seconds at the paint)."""
    shown, _rss, out = run_child(argv, env)
    shown_at, ready_at = stamp(out, "SHOWN"), stamp(out, "READY")
    if shown_at is None or ready_at is None:
        raise SystemExit(f"the program did not show its first window: {' '.join(argv[:2])}\n{out}")
    return shown, shown + ready_at - shown_at, cpu_at_paint(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--preparations", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.pop("INFUSION_PREP_TESTING", None)
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="infusion-prep-bench-launch-") as tmp:
        existing = Path(tmp) / "existing"
        # In a child: a child's peak RSS counts the parent's pages it was forked with, so this
        # process stays small (no program imports) for the calc figure to mean calc's own.
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
                f"from bench_gui import prepare_data; from pathlib import Path; prepare_data(Path({str(existing)!r}), {args.preparations})",
            ],
            check=True,
            env=env,
        )
        bare: list[float] = []
        bare_cpu: list[float] = []
        sign_in: list[tuple[float, float, float]] = []
        first: list[tuple[float, float, float]] = []
        for run in range(args.runs):
            elapsed, _rss, out = run_child([sys.executable, "-c", BARE], env)
            bare.append(elapsed)
            bare_cpu.append(cpu_at_paint(out))
            sign_in.append(run_window([sys.executable, "-c", FIRST_WINDOW, str(existing)], env))
            first.append(run_window([sys.executable, "-c", FIRST_WINDOW, str(Path(tmp) / f"new-{run}")], env))
        base, base_cpu = statistics.median(bare), statistics.median(bare_cpu)
        print(f"bare PySide6 window            {base * 1000:6.0f} ms (median of {args.runs}); CPU {base_cpu * 1000:.0f} ms")
        for name, times, target in (("sign-in (existing database)", sign_in, 1.25), ("first run (new database)", first, 2.0)):
            median = statistics.median(shown for shown, _ready, _cpu in times)
            ready = statistics.median(ready for _shown, ready, _cpu in times)
            cpu = statistics.median(cpu for _shown, _ready, cpu in times)
            print(
                f"{name:30} {median * 1000:6.0f} ms  {median / base:4.2f}x  (target {target}x); CPU {cpu * 1000:.0f} ms "
                f"{cpu / base_cpu:4.2f}x; its service open behind it at {ready * 1000:.0f} ms"
            )
        _t, bare_rss, _ = run_child([sys.executable, "-c", BARE], env)
        _t, idle_rss, _ = run_child([sys.executable, "-c", IDLE, str(existing)], env)
        calc = [sys.executable, "-m", "infusion_app", *CALC]
        _t, calc_rss, _ = run_child(calc, env)
        _t, pass_rss, _ = run_child([sys.executable, "-c", "pass"], env)
        print(f"peak RSS: GUI idle, {args.preparations} active preparations {idle_rss / 1024:5.0f} MiB (bare window {bare_rss / 1024:.0f} MiB)")
        print(f"peak RSS: calc                               {calc_rss / 1024:5.0f} MiB (python -c pass {pass_rss / 1024:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
