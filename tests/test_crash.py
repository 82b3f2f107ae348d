"""Nothing acknowledged is lost: a writer killed with SIGKILL at random moments, many times.

After every kill the database opens, every step the writer had printed (it prints only after
the commit) is stored, and the audit chain verifies.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infusion_app.domain.records import Role
from infusion_app.service import open_service
from infusion_app.storage.database import DB_FILENAME

WRITER = Path(__file__).with_name("crash_writer.py")
ROUNDS = 25


def start_writer(data_dir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "INFUSION_PREP_TESTING"}
    env["PYTHONPATH"] = os.pathsep.join([str(WRITER.parents[1]), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, str(WRITER), str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_steps_survive_sigkill_at_random_moments(tmp_path):
    data = tmp_path / "data"
    with open_service(data_dir=data) as service:
        service.add_user("Tina", Role.TECHNICIAN, "1111")
        service.add_user("Paul", Role.PHARMACIST, "2222")
        service.add_user("Nora", Role.NURSE, "4444")
    rng = random.Random(int(os.environ.get("CRASH_SEED", time.time_ns())))
    acknowledged_preps: set[str] = set()
    acknowledged_events: dict[tuple[str, int], str] = {}
    killed_before_any_line = 0
    started = time.monotonic()
    for round_number in range(ROUNDS):
        writer = start_writer(data)
        seen = writer.stdout.readline()
        assert seen == "ready\n", f"the writer did not start: {writer.stderr.read()}"
        # Mostly somewhere in a run of steps; every fifth round within the very first transactions.
        time.sleep(rng.uniform(0.0, 0.03) if round_number % 5 == 4 else rng.uniform(0.0, 0.25))
        writer.send_signal(signal.SIGKILL)
        out, err = writer.communicate(timeout=30)
        assert writer.returncode == -signal.SIGKILL, err
        printed = seen + out
        lines = printed.splitlines()
        if printed and not printed.endswith("\n"):
            lines = lines[:-1]  # a line cut off by the kill was never fully acknowledged
        if lines == ["ready"]:
            killed_before_any_line += 1
        for line in lines:
            parts = line.split()
            if parts[0] == "prep":
                acknowledged_preps.add(parts[1])
            elif parts[0] == "event":  # "ready" carries nothing to check
                acknowledged_events[(parts[1], int(parts[2]))] = parts[3]

        database = data / DB_FILENAME
        integrity = sqlite3.connect(database)
        try:
            assert integrity.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            integrity.close()
        with open_service(data_dir=data) as service:
            stored = {p.id: p for p in service.repository.list_preparations()}
            missing = acknowledged_preps - stored.keys()
            assert not missing, f"round {round_number}: acknowledged preparations lost: {missing}"
            for (prep_id, seq), kind in acknowledged_events.items():
                events = stored[prep_id].events
                assert len(events) >= seq and events[seq - 1].type.value == kind, f"round {round_number}: lost {kind} #{seq} of {prep_id}"
            check = service.verify_audit()
            assert check.intact, f"round {round_number}: {check.reason}"
    elapsed = time.monotonic() - started
    assert len(acknowledged_events) > ROUNDS  # the kills did land in the middle of real work
    print(f"\ncrash test: {ROUNDS} kills, {len(acknowledged_preps)} preparations and {len(acknowledged_events)} steps acknowledged, "
          f"{killed_before_any_line} kills before the first commit was acknowledged, {elapsed:.1f} s")


@pytest.mark.slow
def test_two_writers_at_once_keep_one_unbroken_chain(tmp_path):
    """Two workstations writing to one database: every acknowledged step is stored, one chain."""
    data = tmp_path / "data"
    with open_service(data_dir=data) as service:
        service.add_user("Tina", Role.TECHNICIAN, "1111")
        service.add_user("Paul", Role.PHARMACIST, "2222")
        service.add_user("Nora", Role.NURSE, "4444")
    writers = [start_writer(data) for _ in range(2)]
    for writer in writers:
        assert writer.stdout.readline() == "ready\n", writer.stderr.read()
    # Let both get well into their loops (each line is a commit), then stop them mid-stride.
    lines: list[str] = []
    for writer in writers:
        for _ in range(8):
            line = writer.stdout.readline()
            assert line, writer.stderr.read()
            lines.append(line)
    for writer in writers:
        writer.send_signal(signal.SIGKILL)
    for writer in writers:
        out, _ = writer.communicate(timeout=30)
        lines += out.splitlines(keepends=True)
    acknowledged = [line.split() for line in lines if line.endswith("\n")]
    with open_service(data_dir=data) as service:
        stored = {p.id: p for p in service.repository.list_preparations()}
        for parts in acknowledged:
            if parts[0] == "prep":
                assert parts[1] in stored
            else:
                assert stored[parts[1]].events[int(parts[2]) - 1].type.value == parts[3]
        check = service.verify_audit()
        assert check.intact, check.reason
        assert len({parts[1] for parts in acknowledged if parts[0] == "prep"}) >= 2
