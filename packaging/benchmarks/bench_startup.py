"""Start-up of the headless command against `python -c pass`, measured side by side in one run.

A measurement, not a test (never collected by pytest, never gates CI):

    .venv/bin/python packaging/benchmarks/bench_startup.py [--runs 7]

Each command runs as a fresh process (as scripts call it), interleaved with the baseline so
that the machine's load falls on both alike; prints the median wall time, the peak resident
memory (ru_maxrss of the child) and the ratio to the baseline. Target (issue 19): `--version`,
`calc`, `coverage`, `deadlines`, `schedule` at most 4x the baseline; `prep new` and `prep record`
at most 4x once their PIN key derivation (scrypt, slow on purpose: README, "What the PIN check
costs a person") is taken off. That cost is measured in this run too, interleaved with the rest
(the program's own derivation, timed in this process), times the number of derivations each
command makes (counted once, by running it in a child with the derivation counted).
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
    "calc": ["calc", "--drug", "inotuzumab-ozogamicin", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"],
    "coverage": ["coverage", "--drug", "inotuzumab-ozogamicin", "--age", "45", "--icd10", "C91.00", "--cd22-percent", "80", "--ph", "negative"],
    "deadlines": [
        "deadlines",
        "--drug",
        "inotuzumab-ozogamicin",
        "--reconstituted",
        "2026-11-27T09:00+01:00",
        "--diluted",
        "2026-11-27T11:30+01:00",
        "--diluted-storage",
        "fridge",
    ],
    "schedule": ["schedule", "--drug", "inotuzumab-ozogamicin", "--cycle", "1", "--start", "2026-12-20"],
    "prep list (existing database)": ["prep", "list", "--data-dir", "{data}"],
}
# Commands that sign a user in: their PIN comes from the environment, {id} is a fresh preparation.
PIN_COMMANDS = {
    "prep new": (
        [
            "prep",
            "new",
            "--drug",
            "inotuzumab-ozogamicin",
            "--patient-name",
            "Doe, Jane",
            "--mrn",
            "MRN-1",
            "--dob",
            "1970-05-17",
            "--height",
            "170 cm",
            "--weight",
            "70 kg",
            "--cycle",
            "1",
            "--day",
            "1",
            "--user",
            "tina",
            "--data-dir",
            "{data}",
        ],
        "111111",
    ),
    "prep record": (
        ["prep", "record", "{id}", "order-verified", "--labs-override-reason", "benchmark: labs checked on paper", "--user", "paul", "--data-dir", "{data}"],
        "222222",
    ),
}
COUNT_DERIVATIONS = """
import contextlib, io, sys
from infusion_app.domain import security
from infusion_app.cli import main
count = 0
derive = security._derive
def counted(*args, **kwargs):
    global count
    count += 1
    return derive(*args, **kwargs)
security._derive = counted
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = main(sys.argv[1:])
print(code, count)
"""


def run_once(argv: list[str]) -> tuple[float, int]:
    """(wall seconds, this child's peak resident memory in KiB)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, _status, usage = os.wait4(child.pid, 0)
    child.returncode = 0  # reaped here; keeps Popen from waiting again
    return time.perf_counter() - start, usage.ru_maxrss


def _env(pin: str) -> dict[str, str]:
    return {**os.environ, "INFUSION_PREP_PIN": pin}


def _setup(python: list[str], data: str, preparations: int) -> list[str]:
    """Users paul (pharmacist) and tina (technician) and `preparations` new preparations' ids."""

    def run(argv: list[str], pin: str, **kw: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*python, "-m", "infusion_app", *argv],
            capture_output=True,
            text=True,
            check=True,
            env={**_env(pin), **kw.get("env", {})},
        )

    run(["user", "add", "paul", "--role", "pharmacist", "--data-dir", data], "222222")
    run(["user", "add", "tina", "--role", "technician", "--user", "paul", "--data-dir", data], "222222", env={"INFUSION_PREP_NEW_PIN": "111111"})
    new, pin = PIN_COMMANDS["prep new"]
    return [run([a.replace("{data}", data) for a in new], pin).stdout.strip() for _ in range(preparations)]


def _derivations(python: list[str], argv: list[str], pin: str) -> int:
    done = subprocess.run([*python, "-c", COUNT_DERIVATIONS, *argv], capture_output=True, text=True, env=_env(pin), check=True)
    code, count = map(int, done.stdout.split())
    assert code == 0, (argv, done.stdout, done.stderr)
    return count


def _time_kdf() -> float:
    from infusion_app.domain import security

    start = time.perf_counter()
    security._derive("123456", b"0" * security.SALT_BYTES, security.SCRYPT_N, security.SCRYPT_R, security.SCRYPT_P, security.KEY_BYTES)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="bench-startup-")
    env_python = [sys.executable]
    subprocess.run([*env_python, "-m", "infusion_app", "prep", "list", "--data-dir", data], capture_output=True, check=False)  # create + migrate once
    ids = _setup(env_python, data, 2 * args.runs + 1)
    fill = lambda argv: [a.replace("{data}", data).replace("{id}", ids.pop()) if "{id}" in a else a.replace("{data}", data) for a in argv]  # noqa: E731
    derivations = {name: _derivations(env_python, fill(argv), pin) for name, (argv, pin) in PIN_COMMANDS.items()}
    baseline: list[float] = []
    kdf: list[float] = []
    floor: list[float] = []  # what no stored-data command starts under while it uses SQLAlchemy's ORM: its import alone
    results: dict[str, list[float]] = {name: [] for name in [*COMMANDS, *PIN_COMMANDS]}
    peaks: dict[str, int] = {}
    for _ in range(args.runs):
        baseline.append(run_once([*env_python, "-c", "pass"])[0])
        kdf.append(_time_kdf())
        floor.append(run_once([*env_python, "-c", "import sqlalchemy.orm"])[0])
        for name, argv in COMMANDS.items():
            elapsed, peak = run_once([*env_python, "-m", "infusion_app", *fill(argv)])
            results[name].append(elapsed)
            peaks[name] = peak
        for name, (argv, pin) in PIN_COMMANDS.items():
            os.environ["INFUSION_PREP_PIN"] = pin
            elapsed, peak = run_once([*env_python, "-m", "infusion_app", *fill(argv)])
            results[name].append(elapsed)
            peaks[name] = peak
    base, kdf_cost = statistics.median(baseline), statistics.median(kdf)
    print(f"python -c pass: {base * 1000:.0f} ms (median of {args.runs}); one PIN key derivation (scrypt): {kdf_cost * 1000:.0f} ms")
    for name, times in results.items():
        median = statistics.median(times)
        line = f"{name:32} {median * 1000:6.0f} ms  {median / base:5.1f}x  (peak RSS {peaks[name] / 1024:.0f} MiB)"
        if name in derivations:
            rest = median - derivations[name] * kdf_cost
            line += f"; without its {derivations[name]} PIN derivation(s): {rest * 1000:.0f} ms, {rest / base:.1f}x"
        print(line)
    print(f"{'(import sqlalchemy.orm alone)':32} {statistics.median(floor) * 1000:6.0f} ms  {statistics.median(floor) / base:5.1f}x")
    print(f"pint cache: {os.environ.get('INFUSION_PREP_CACHE_DIR') or os.environ.get('XDG_CACHE_HOME') or '~/.cache'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
