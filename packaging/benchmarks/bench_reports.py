"""How long the printed outputs take: a prep sheet and a bag label, median of N runs.

A measurement, not a test (never collected by pytest, never gates CI):

    .venv/bin/python packaging/benchmarks/bench_reports.py [--runs 30] [--paper letter|a4] [--label-size 102x51mm]

Times the view model (from the domain records), the sheet PDF and the label PDF separately,
in memory, after one warm-up run (font registration and imports are reported on their own).
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def measure(action: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def report(name: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    print(f"{name:<34} median {statistics.median(ms):8.1f} ms   min {ms[0]:8.1f} ms   p90 {p90:8.1f} ms   (n={len(ms)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--paper", default="letter", choices=["letter", "a4"])
    parser.add_argument("--label-size", default="102x51mm")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    start = time.perf_counter()
    from infusion_app.reports import parse_label_size, render_bag_label, render_prep_sheet
    from infusion_app.reports.demo import demo_preparation, demo_sheet_data
    from infusion_app.reports.fonts import register_fonts

    imported = time.perf_counter() - start
    start = time.perf_counter()
    register_fonts()
    fonts = time.perf_counter() - start
    size = parse_label_size(args.label_size)

    prep = demo_preparation()
    data = demo_sheet_data(prep=prep)
    pages = io.BytesIO()
    render_prep_sheet(data, pages, page_size=args.paper)  # warm-up: font subsetting caches, lazy imports
    render_bag_label(data, io.BytesIO(), size=size)

    from pypdf import PdfReader

    page_count = len(PdfReader(io.BytesIO(pages.getvalue())).pages)
    print(f"infusion-prep reports benchmark; Python {platform.python_version()} on {platform.machine()} ({platform.system()})")
    print(f"imports {imported * 1000:.0f} ms, font registration {fonts * 1000:.0f} ms (once per process)")
    print(f"demo sheet: {page_count} {args.paper} pages, {len(pages.getvalue()) / 1024:.0f} KiB")
    report("view model (SheetData)", measure(lambda: demo_sheet_data(prep=prep), args.runs))
    report(f"prep sheet PDF ({args.paper})", measure(lambda: render_prep_sheet(data, io.BytesIO(), page_size=args.paper), args.runs))
    report(f"bag label PDF ({args.label_size})", measure(lambda: render_bag_label(data, io.BytesIO(), size=size), args.runs))
    report(
        "model + sheet + label",
        measure(
            lambda: (
                render_prep_sheet(d := demo_sheet_data(prep=prep), io.BytesIO(), page_size=args.paper),
                render_bag_label(d, io.BytesIO(), size=size),
            ),
            args.runs,
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
