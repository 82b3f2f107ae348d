"""Start-up of the headless command against `python -c pass`, measured side by side in one run.

A measurement, not a test (never collected by pytest, never gates CI):

    .venv/bin/python packaging/benchmarks/bench_startup.py [--runs 7]

Each command runs as a fresh process (as scripts call it), interleaved with the baseline so
that the machine's load falls on both alike; prints the median wall time, the peak resident
memory (ru_maxrss of the child) and the ratio to the baseline. Target (issue 19): `--version`,
`calc`, `coverage`, `deadlines`, `schedule` at most 4x the baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "--version": ["--version"],
    "calc": ["calc", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"],
    "coverage": ["coverage", "--age", "45", "--icd10", "C91.00", "--cd22-percent", "80", "--ph", "negative"],
    "deadlines": ["deadlines", "--reconstituted", "2026-11-27T09:00+01:00", "--diluted", "2026-11-27T11:30+01:00", "--diluted-storage", "fridge"],
    "schedule": ["schedule", "--cycle", "1", "--start", "2026-12-20"],
    "prep list (existing database)": ["prep", "list", "--data-dir", "{data}"],
}


def run_once(argv: list[str]) -> tuple[float, int]:
    """(wall seconds, this child's peak resident memory in KiB)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, _status, usage = os.wait4(child.pid, 0)
    child.returncode = 0  # reaped here; keeps Popen from waiting again
    return time.perf_counter() - start, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="bench-startup-")
    env_python = [sys.executable]
    subprocess.run([*env_python, "-m", "infusion_app", "prep", "list", "--data-dir", data], capture_output=True, check=False)  # create + migrate once
    baseline: list[float] = []
    results: dict[str, list[float]] = {name: [] for name in COMMANDS}
    peaks: dict[str, int] = {}
    for _ in range(args.runs):
        baseline.append(run_once([*env_python, "-c", "pass"])[0])
        for name, argv in COMMANDS.items():
            elapsed, peak = run_once([*env_python, "-m", "infusion_app", *[a.replace("{data}", data) for a in argv]])
            results[name].append(elapsed)
            peaks[name] = peak
    base = statistics.median(baseline)
    print(f"python -c pass: {base * 1000:.0f} ms (median of {args.runs})")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:32} {median * 1000:6.0f} ms  {median / base:5.1f}x  (peak RSS {peaks[name] / 1024:.0f} MiB)")
    print(f"pint cache: {os.environ.get('INFUSION_PREP_CACHE_DIR') or os.environ.get('XDG_CACHE_HOME') or '~/.cache'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
