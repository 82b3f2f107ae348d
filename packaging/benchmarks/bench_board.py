"""The board's tick at 100 and 1,000 active preparations (a script, not a test; never gates CI).

    .venv/bin/python packaging/benchmarks/bench_board.py [--sizes 100 1000] [--ticks 20]

For each size, in one process on one data folder (offscreen):
  tick            window.refresh() + a paint of the table, nothing stored since the last tick:
                  the change feed says so, no preparation is read, the countdowns move
  changed         one preparation's step recorded (as another workstation would), then the tick
                  that rereads and recomputes it
  full reload     the baseline, measured in the same run: the tick as it was before the change
                  feed (every active preparation read from storage and its deadlines computed),
                  forced by forgetting the feed's token
and the ratio of each to the full reload, then how each grows from the smallest size to the
largest (linear growth is 10x for 100 -> 1,000; less is better than linear).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.pop("INFUSION_PREP_TESTING", None)


def prepare(folder: Path, preparations: int) -> None:
    from bench_gui import prepare_data

    prepare_data(folder, preparations)


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def measure(folder: Path, ticks: int) -> dict[str, float]:
    from infusion_app.domain.records import EventType
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

    def timed(before=None) -> float:
        if before is not None:
            before()
        t0 = time.perf_counter()
        window.refresh()
        window.board.viewport().repaint()
        return time.perf_counter() - t0

    tick = [timed() for _ in range(ticks)]
    # Preparations not yet verified: verifying one changes its step (and so its row's text).
    pharmacist = service.user("Bench Pharm")
    waiting = [r.preparation_id for r in window.board.board_model.rows() if r.step_text.startswith("Verify order")]
    changed = []
    for prep_id in waiting[: min(ticks, len(waiting))]:
        changed.append(
            timed(
                lambda prep_id=prep_id: service.record_event(
                    prep_id, EventType.ORDER_VERIFIED, pharmacist, details={"labs_override": "benchmark: labs are not what is timed"}
                )
            )
        )
    recomputed = window.presenter.recomputed
    full = [timed(lambda: setattr(window.presenter, "_token", None)) for _ in range(max(3, ticks // 4))]
    window.close()
    from PySide6.QtCore import QTimer

    for timer in window.findChildren(QTimer):  # the outbox retry would fire on a closed service
        timer.stop()
    service.close()
    return {"rows": rows, "tick": median_ms(tick), "changed": median_ms(changed), "full": median_ms(full), "recomputed": recomputed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--ticks", type=int, default=20)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="infusion-prep-bench-board-") as tmp:
        for size in args.sizes:
            folder = Path(tmp) / f"board-{size}"
            t0 = time.perf_counter()
            prepare(folder, size)
            setup = time.perf_counter() - t0
            results[size] = measure(folder, args.ticks)
            r = results[size]
            print(
                f"{r['rows']:5d} active (set up in {setup:.0f} s): tick {r['tick']:7.1f} ms ({r['tick'] / r['full']:.3f}x)   "
                f"changed {r['changed']:7.1f} ms ({r['changed'] / r['full']:.3f}x, {r['recomputed']} recomputed)   "
                f"full reload (baseline) {r['full']:7.1f} ms",
                flush=True,
            )
    small, large = min(results), max(results)
    if small != large:
        factor = large / small
        for key in ("tick", "changed", "full"):
            growth = results[large][key] / results[small][key]
            verdict = "linear or better" if growth <= factor * 1.2 else "WORSE THAN LINEAR"
            print(f"{key:8} grows {growth:5.1f}x from {small} to {large} preparations ({factor:.0f}x more): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
