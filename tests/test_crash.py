"""Nothing acknowledged is lost: a writer killed with SIGKILL at random moments, many times.

After every kill the database opens, every step the writer had printed (it prints only after
the commit) is stored, and the audit chain verifies (the chain, and the data against the log).
The single-writer rounds fork the writer (no start-up cost per round); the two-writer test
runs it as real `python tests/crash_writer.py` subprocesses.
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
# Every CI run kills the writer FAST_ROUNDS times; the long run (`pytest -m long
# tests/test_crash.py`, nightly, not in CI) LONG_ROUNDS times. Rounds are random (CRASH_SEED
# repeats one), so the many short runs add up to the long one's coverage over time.
FAST_ROUNDS = 10
LONG_ROUNDS = 200


class ForkedWriter:
    """The writer in a forked child process: killed the same way, but without Python's start-up
    and imports (about a second a round), so many rounds fit in a short test.

    The child inherits no open database: the parent opens and closes its own between rounds.
    """

    def __init__(self, data_dir: Path, errors: Path, database: str | None = None):
        import importlib.util

        spec = importlib.util.spec_from_file_location("crash_writer", WRITER)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: write, and never return into pytest
            try:
                os.close(read_end)
                module.main(str(data_dir), os.fdopen(write_end, "w"), database)
            except BaseException:
                import traceback

                errors.write_text(traceback.format_exc())
            finally:
                os._exit(1)
        os.close(write_end)
        self.pid = pid
        self.errors = errors
        self.stdout = os.fdopen(read_end, "r")
        self.returncode: int | None = None

    def error_text(self) -> str:
        return self.errors.read_text() if self.errors.exists() else ""

    def send_signal(self, signal_number: int) -> None:
        os.kill(self.pid, signal_number)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        out = self.stdout.read()
        self.stdout.close()
        _, status = os.waitpid(self.pid, 0)
        self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return out, self.error_text()


def start_writer(data_dir: Path, database: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "INFUSION_PREP_TESTING"}
    env["PYTHONPATH"] = os.pathsep.join([str(WRITER.parents[1]), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(data_dir), *([database] if database else [])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


@pytest.mark.slow
def test_steps_survive_sigkill_at_random_moments(tmp_path, database):
    survive_sigkills(tmp_path, FAST_ROUNDS, database)


@pytest.mark.long
def test_steps_survive_many_sigkills_at_random_moments(tmp_path):
    survive_sigkills(tmp_path, LONG_ROUNDS)


def survive_sigkills(tmp_path, rounds: int, database: str | None = None) -> None:
    data = tmp_path / "data"
    with open_service(data_dir=data, database=database) as service:
        paul = service.add_user("Paul", Role.PHARMACIST, "222222")
        service.add_user("Tina", Role.TECHNICIAN, "111111", actor=paul)
        service.add_user("Nora", Role.NURSE, "444444", actor=paul)
        service.add_user("Olga", Role.PHARMACIST, "333333", actor=paul)
    rng = random.Random(int(os.environ.get("CRASH_SEED", time.time_ns())))
    acknowledged_preps: set[str] = set()
    acknowledged_events: dict[tuple[str, int], str] = {}
    killed_before_any_line = 0
    started = time.monotonic()
    for round_number in range(rounds):
        writer = ForkedWriter(data, tmp_path / f"errors-{round_number}.txt", database)
        seen = writer.stdout.readline()
        assert seen == "ready\n", f"the writer did not start: {writer.error_text()}"
        blind = round_number % 5 == 4
        if blind:
            time.sleep(rng.uniform(0.0, 0.03))  # within the very first transactions
        else:
            first_commit = writer.stdout.readline()  # then somewhere in the run of steps that follows
            assert first_commit.startswith("prep "), writer.error_text()
            seen += first_commit
            time.sleep(rng.uniform(0.0, 0.4))
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

        if database is None:
            integrity = sqlite3.connect(data / DB_FILENAME)
            try:
                assert integrity.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            finally:
                integrity.close()
        with open_service(data_dir=data, database=database) as service:
            stored = {p.id: p for p in service.repository.list_preparations()}
            missing = acknowledged_preps - stored.keys()
            assert not missing, f"round {round_number}: acknowledged preparations lost: {missing}"
            for (prep_id, seq), kind in acknowledged_events.items():
                events = stored[prep_id].events
                assert len(events) >= seq and events[seq - 1].type.value == kind, f"round {round_number}: lost {kind} #{seq} of {prep_id}"
            check = service.verify_audit()
            assert check.intact, f"round {round_number}: {check.reason}"
    elapsed = time.monotonic() - started
    assert len(acknowledged_preps) >= rounds - rounds // 5  # every round but the blind ones got past a commit
    print(
        f"\ncrash test: {rounds} kills, {len(acknowledged_preps)} preparations and {len(acknowledged_events)} steps acknowledged, "
        f"{killed_before_any_line} kills before the first commit was acknowledged, {elapsed:.1f} s"
    )


@pytest.mark.slow
def test_two_writers_at_once_keep_one_unbroken_chain(tmp_path, database):
    """Two workstations writing to one database: every acknowledged step is stored, one chain."""
    data = tmp_path / "data"
    with open_service(data_dir=data, database=database) as service:
        paul = service.add_user("Paul", Role.PHARMACIST, "222222")
        service.add_user("Tina", Role.TECHNICIAN, "111111", actor=paul)
        service.add_user("Nora", Role.NURSE, "444444", actor=paul)
        service.add_user("Olga", Role.PHARMACIST, "333333", actor=paul)
    writers = [start_writer(data, database) for _ in range(2)]
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
    with open_service(data_dir=data, database=database) as service:
        stored = {p.id: p for p in service.repository.list_preparations()}
        for parts in acknowledged:
            if parts[0] == "prep":
                assert parts[1] in stored
            else:
                assert stored[parts[1]].events[int(parts[2]) - 1].type.value == parts[3]
        check = service.verify_audit()
        assert check.intact, check.reason
        assert len({parts[1] for parts in acknowledged if parts[0] == "prep"}) >= 2
