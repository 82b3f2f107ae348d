"""Crash-and-tamper harness: SIGKILL writers mid-write, tamper with the files, count what is found.

    .venv/bin/python packaging/benchmarks/crash_tamper.py [--kills 500] [--cli-kills 40] [--gui-kills 40] [--seed N]

Part 1 kills a writer that cycles through every write path (users, settings, courses, alarms,
vials, events, overrides) at random moments: forked writers (cheap, many), real
`infusion-prep` CLI processes (`user add`, `prep record`; slow start-up, fewer) and the desktop
program itself (offscreen), whose bench wizard and chair are driven through their real widgets
by count_interactions.py's walks; the GUI acknowledges a step when its screen has moved on. A writer
prints a line only after its commit; after each kill the database must open, hold every printed
write, and verify. Part 2 applies every tampering class the hostile review used to a filled
database (its key and anchor log beside it, as an attacker with write access to the database
file alone) and counts how many `audit verify` reports. The report prints kills, acknowledged
writes, lost writes (must be 0) and tampering detected (must be 100 %).

tests/test_crash_tamper.py runs a small part of both in the test suite.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from infusion_app.domain.dosing import DoseOrder  # noqa: E402
from infusion_app.domain.records import EventType as E  # noqa: E402
from infusion_app.domain.records import Patient, Role, VialRecord  # noqa: E402
from infusion_app.service import open_service  # noqa: E402
from infusion_app.storage.database import DB_FILENAME  # noqa: E402

PINS = {"Paul": "222222", "Tina": "111111", "Nora": "444444"}


def seed(data_dir: Path) -> None:
    with open_service(data_dir=data_dir) as service:
        paul = service.add_user("Paul", Role.PHARMACIST, PINS["Paul"])
        service.add_user("Tina", Role.TECHNICIAN, PINS["Tina"], actor=paul)
        service.add_user("Nora", Role.NURSE, PINS["Nora"], actor=paul)


def writer(data_dir: str, say, start: int = 0) -> None:
    """Every write path in turn; each acknowledged line follows its commit."""
    from infusion_app.service.course import CourseService

    service = open_service(data_dir=data_dir)
    courses = CourseService(service)
    tech, pharm, _nurse = service.user("Tina"), service.user("Paul"), service.user("Nora")
    say.write("ready\n")
    say.flush()
    number = start
    while True:
        number += 1
        tag = f"{os.getpid()}x{number}"
        added = service.add_user(f"Extra {tag}", Role.NURSE, "135790", actor=pharm)
        say.write(f"user {added.name}\n")
        say.flush()
        value = 10 + number % 200
        service.set_setting("warning_lead_minutes", value, pharm)
        say.write(f"setting warning_lead_minutes {value}\n")
        say.flush()
        mrn = f"C{tag}"
        courses.new_course(mrn, False, pharm, monograph=service.registered("inotuzumab-ozogamicin"))
        say.write(f"course {mrn}\n")
        say.flush()
        status = service.create_preparation(
            Patient(f"Crash, P {tag}", mrn, date(1980, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tech, monograph=service.registered("inotuzumab-ozogamicin")
        )
        say.write(f"prep {status.id}\n")
        say.flush()
        for _ in range(status.prep.order.calculation.vials):  # reconstitution waits for every vial the dose needs
            service.add_vial(status.id, VialRecord(f"LOT{number}", date(2099, 1, 1)), tech, product_confirmed=True)
        say.write(f"vial {status.id} LOT{number}\n")
        say.flush()
        service.record_event(
            status.id,
            E.ORDER_VERIFIED,
            pharm,  # a pharmacist other than the preparer
            details={"labs_override": "labs checked on the ward record"},
        )
        stored = service.record_event(status.id, E.RECONSTITUTED, tech)
        say.write(f"event {status.id} {len(stored.prep.events)}\n")
        say.flush()
        stored = service.acknowledge_alarm(status.id, "dilute_by", "warning", tech)
        say.write(f"event {status.id} {len(stored.prep.events)}\n")
        say.flush()
        stored = service.record_event(status.id, E.DILUTED, tech, details={"storage": "room"})
        say.write(f"event {status.id} {len(stored.prep.events)}\n")
        say.flush()
        stored = service.record_event(status.id, E.VERIFIED, pharm)
        say.write(f"event {status.id} {len(stored.prep.events)}\n")
        say.flush()


def check_acknowledged(data_dir: Path, lines: list[str]) -> tuple[int, list[str]]:
    """(acknowledged writes, the ones missing); raises if the database does not open or verify."""
    from infusion_app.service.course import CourseService

    missing: list[str] = []
    count = 0
    with open_service(data_dir=data_dir) as service:
        check = service.verify_audit()
        if not check.intact:
            raise AssertionError(f"audit broken after a kill: {check.reason}")
        courses = CourseService(service)
        settings_seen = []
        for line in lines:
            parts = line.split()
            if not parts or parts[0] == "ready":
                continue
            count += 1
            kind = parts[0]
            if kind == "user":
                ok = service.user(line[len("user ") :]) is not None
            elif kind == "setting":
                settings_seen.append(int(parts[2]))
                ok = True
            elif kind == "course":
                ok = courses.course(parts[1]) is not None
            elif kind == "prep":
                ok = service.get(parts[1]) is not None
            elif kind == "vial":
                prep = service.get(parts[1])
                ok = prep is not None and any(v.lot == parts[2] for v in prep.vials)
            elif kind == "event":
                prep = service.get(parts[1])
                ok = prep is not None and len(prep.events) >= int(parts[2])
            else:
                ok = True
            if not ok:
                missing.append(line)
        if settings_seen and not any(e.action == "setting.changed" and f":{settings_seen[-1]}" in e.after for e in service.audit_entries()):
            missing.append(f"setting warning_lead_minutes {settings_seen[-1]}")
    return count, missing


class Forked:
    def __init__(self, data_dir: Path, start: int):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                writer(str(data_dir), os.fdopen(write_end, "w"), start)
            finally:
                os._exit(1)
        os.close(write_end)
        self.pid = pid
        self.stdout = os.fdopen(read_end, "r")

    def kill_and_read(self) -> list[str]:
        os.kill(self.pid, signal.SIGKILL)
        out = self.stdout.read()
        self.stdout.close()
        os.waitpid(self.pid, 0)
        return out.splitlines()


@dataclass
class Report:
    kills: int = 0
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    tamperings: int = 0
    detected: int = 0
    undetected: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        rate = 100.0 * self.detected / self.tamperings if self.tamperings else 0.0
        return [
            f"kills: {self.kills}",
            f"acknowledged writes: {self.acknowledged}",
            f"lost writes: {len(self.lost)}" + (f" ({'; '.join(self.lost[:5])})" if self.lost else ""),
            f"tampering detected: {self.detected}/{self.tamperings} ({rate:.0f} %)" + (f" undetected: {', '.join(self.undetected)}" if self.undetected else ""),
        ]


def crash_rounds(data_dir: Path, kills: int, rng: random.Random, report: Report, max_delay: float = 1.2) -> None:
    # Windows of a few milliseconds to max_delay land kills before, inside and after commits.
    for round_number in range(kills):
        child = Forked(data_dir, round_number * 1000)
        first = child.stdout.readline()
        if first != "ready\n":
            raise AssertionError(f"writer did not start: {first!r}")
        time.sleep(rng.uniform(0.0, max_delay))
        lines = child.kill_and_read()
        report.kills += 1
        count, missing = check_acknowledged(data_dir, lines)
        report.acknowledged += count
        report.lost.extend(missing)


def cli_kill_rounds(data_dir: Path, kills: int, rng: random.Random, report: Report) -> None:
    """Real `infusion-prep` processes killed at random moments; a command that exited 0 was acknowledged."""
    env = {k: v for k, v in os.environ.items() if k != "INFUSION_PREP_TESTING"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    for number in range(kills):
        name = f"Cli {os.getpid()} {number}"
        env_round = {**env, "INFUSION_PREP_PIN": PINS["Paul"], "INFUSION_PREP_NEW_PIN": "246813"}
        process = subprocess.Popen(
            [sys.executable, "-m", "infusion_app", "user", "add", name, "--role", "nurse", "--user", "Paul", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env_round,
        )
        time.sleep(rng.uniform(0.2, 2.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            report.kills += 1
        process.communicate()
        lines = [f"user {name}"] if process.returncode == 0 else []
        count, missing = check_acknowledged(data_dir, lines)
        report.acknowledged += count
        report.lost.extend(missing)


GUI_START = "2026-01-15T09:00:00+00:00"


def gui_seed(data_dir: Path) -> None:
    walks = _walks()
    walks.open_service(data_dir, walks.FakeClock(datetime.fromisoformat(GUI_START))).close()


def _walks():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import count_interactions

    return count_interactions


def gui_writer(data_dir: str, round_number: int) -> None:
    """The desktop program's bench and chair, walked through their real widgets, dose after dose.

    A step is acknowledged (printed) once the screen shows it: the wizard's or chair's own
    preparation holds the event. The stored preparation must then hold it too.
    """
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from datetime import timedelta

    from PySide6.QtWidgets import QApplication

    from infusion_app.domain.clock import FakeClock
    from infusion_app.gui.app import create_application
    from infusion_app.service import open_service as opener

    walks = _walks()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    create_application()
    # Each round's clock starts after every instant an earlier round could have stored.
    clock = FakeClock(datetime.fromisoformat(GUI_START) + timedelta(days=2 * round_number))
    service = opener(data_dir=data_dir, clock=clock)
    shown: dict[str, int] = {}

    def acknowledge(count, what: str) -> None:
        subject = count.subject
        prep = getattr(subject, "preparation", None) or getattr(subject, "prep", None)
        if prep is not None and len(prep.events) != shown.get(prep.id):
            shown[prep.id] = len(prep.events)
            print(f"event {prep.id} {len(prep.events)}", flush=True)

    print("ready", flush=True)
    dose = 0
    while True:
        dose += 1
        patient = Patient(f"Gui, Patient {round_number}x{dose}", f"G{round_number}x{dose}", date(1970, 3, 4))
        count = walks.Counter(after=acknowledge)
        _count, prep_id = walks.bench_walk(service, clock, known=False, count=count, patient=patient, serial_base=(round_number * 100 + dose) * 10)
        print(f"prep {prep_id}", flush=True)
        walks.chair_walk(service, clock, prep_id, count=walks.Counter(after=acknowledge), patient=patient)
        clock.advance(hours=2)
        app.processEvents()


def gui_kill_rounds(data_dir: Path, kills: int, rng: random.Random, report: Report, max_delay: float = 4.0, after_steps: int = 0) -> None:
    """The desktop program killed while a person works at the bench and at the chair.

    `after_steps`: the random delay starts once the screen has shown that many steps (the test
    suite's kill must land inside the walk however slowly a loaded machine starts the program)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for number in range(kills):
        process = subprocess.Popen(
            [sys.executable, __file__, "--gui-writer", str(data_dir), "--round", str(number)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        first = process.stdout.readline()
        if first != "ready\n":
            process.kill()
            raise AssertionError(f"GUI writer did not start: {first!r} {process.communicate()[1][-2000:]}")
        seen: list[str] = []
        while sum(line.startswith("event ") for line in seen) < after_steps:
            line = process.stdout.readline()
            if not line:
                raise AssertionError(f"GUI writer stopped by itself: {process.communicate()[1][-2000:]}")
            seen.append(line.rstrip("\n"))
        time.sleep(rng.uniform(0.0, max_delay))
        if process.poll() is not None:
            raise AssertionError(f"GUI writer stopped by itself: {process.communicate()[1][-2000:]}")
        process.send_signal(signal.SIGKILL)
        out, _err = process.communicate()
        report.kills += 1
        count, missing = check_acknowledged(data_dir, seen + out.splitlines())
        report.acknowledged += count
        report.lost.extend(missing)


# -- tampering ---------------------------------------------------------------------------------


def _drop_append_only(connection: sqlite3.Connection) -> None:
    """Whoever can write the file can drop the audit log's append-only triggers first."""
    connection.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    connection.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def _sql(folder: Path, *statements: str) -> None:
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        _drop_append_only(connection)
        for statement in statements:
            connection.execute(statement)
    connection.close()


def _recompute_unkeyed(folder: Path, edit: str) -> None:
    from infusion_app.storage.audit import GENESIS, entry_hash

    _sql(folder, edit)
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        _drop_append_only(connection)
        previous = GENESIS
        for seq, at, actor, action, subject, before, after in connection.execute(
            "SELECT seq, at, actor, action, subject, before_json, after_json FROM audit_log ORDER BY seq"
        ).fetchall():
            digest = entry_hash(previous, seq, at, actor, action, subject, before, after)
            connection.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (previous, digest, seq))
            previous = digest
        connection.execute("UPDATE audit_head SET hash = ?", (previous,))
    connection.close()


def _truncate(folder: Path) -> None:
    connection = sqlite3.connect(folder / DB_FILENAME)
    with connection:
        _drop_append_only(connection)
        last = connection.execute("SELECT max(seq) FROM audit_log").fetchone()[0]
        previous = connection.execute("SELECT hash FROM audit_log WHERE seq = ?", (last - 1,)).fetchone()[0]
        connection.execute("DELETE FROM audit_log WHERE seq = ?", (last,))
        connection.execute("UPDATE audit_head SET seq = ?, hash = ?", (last - 1, previous))
    connection.close()


def _wipe(folder: Path) -> None:
    for name in (DB_FILENAME, f"{DB_FILENAME}-wal", f"{DB_FILENAME}-shm"):
        (folder / name).unlink(missing_ok=True)


def _rewind(folder: Path, older: Path) -> None:
    _wipe(folder)
    shutil.copy2(older, folder / DB_FILENAME)


def _drop_anchor_line(folder: Path) -> None:
    anchor = folder / "audit-anchor.log"
    lines = anchor.read_text().splitlines(keepends=True)
    anchor.write_text("".join(lines[:1] + lines[2:]).replace('"count":', '"count":9', 1) if len(lines) > 2 else "garbage\n")


TAMPERINGS = {
    "edited entry": lambda f, o: _sql(f, "UPDATE audit_log SET actor = 'Mallory' WHERE seq = 3"),
    "deleted entry": lambda f, o: _sql(f, "DELETE FROM audit_log WHERE seq = 4"),
    "reordered entries": lambda f, o: _sql(
        f, "UPDATE audit_log SET seq = 1000 WHERE seq = 2", "UPDATE audit_log SET seq = 2 WHERE seq = 3", "UPDATE audit_log SET seq = 3 WHERE seq = 1000"
    ),
    "raised role, chain recomputed": lambda f, o: _recompute_unkeyed(f, "UPDATE users SET role = 'pharmacist' WHERE name = 'Tina'"),
    "edited dose, chain recomputed": lambda f, o: _recompute_unkeyed(
        f, "UPDATE preparations SET order_json = replace(order_json, '\"cycle\":1', '\"cycle\":2')"
    ),
    # Label limits can no longer be overridden, so the entry an attacker would hide is a step's.
    "deleted step entry, chain recomputed": lambda f, o: _recompute_unkeyed(f, "DELETE FROM audit_log WHERE action = 'event.diluted'"),
    "raised role": lambda f, o: _sql(f, "UPDATE users SET role = 'pharmacist' WHERE name = 'Tina'"),
    "swapped PIN hash": lambda f, o: _sql(f, "UPDATE users SET pin_hash = (SELECT pin_hash FROM users WHERE name = 'Tina') WHERE name = 'Paul'"),
    "edited dose": lambda f, o: _sql(f, "UPDATE preparations SET order_json = replace(order_json, '\"cycle\":1', '\"cycle\":2')"),
    "deleted event": lambda f, o: _sql(f, "DELETE FROM events WHERE type = 'diluted'"),
    "edited event time": lambda f, o: _sql(f, "UPDATE events SET at = '2020-01-01T00:00:00.000000+00:00' WHERE type = 'reconstituted'"),
    "edited setting": lambda f, o: _sql(f, "UPDATE settings SET value_json = '240'"),
    "truncated log, head fixed": lambda f, o: _truncate(f),
    "wiped database": lambda f, o: _wipe(f),
    "older copy put back": lambda f, o: _rewind(f, o),
    "anchor log deleted": lambda f, o: (f / "audit-anchor.log").unlink(),
    "anchor log edited": lambda f, o: _drop_anchor_line(f),
    "malformed JSON": lambda f, o: _sql(f, "UPDATE events SET details_json = '{bad' WHERE type = 'diluted'"),
    "garbage instant": lambda f, o: _sql(f, "UPDATE events SET recorded_at = 'soon' WHERE type = 'diluted'"),
    "unknown event type": lambda f, o: _sql(f, "UPDATE events SET type = 'teleported' WHERE type = 'diluted'"),
}


def filled_database(folder: Path, older: Path) -> None:
    from datetime import datetime, timezone

    from infusion_app.domain.clock import FakeClock

    clock = FakeClock(datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc))
    with open_service(data_dir=folder, clock=clock) as service:
        paul = service.add_user("Paul", Role.PHARMACIST, PINS["Paul"])
        tina = service.add_user("Tina", Role.TECHNICIAN, PINS["Tina"], actor=paul)
        service.set_setting("warning_lead_minutes", 40, paul)
        prep = service.create_preparation(
            Patient("Doe, Jane", "M1", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tina, monograph=service.registered("inotuzumab-ozogamicin")
        )
        for _ in range(prep.prep.order.calculation.vials):
            service.add_vial(prep.id, VialRecord("LOTT", date(2099, 1, 1)), tina, product_confirmed=True)
        service.record_event(prep.id, E.ORDER_VERIFIED, paul, details={"labs_override": "labs checked on the ward record"})
        service.record_event(prep.id, E.RECONSTITUTED, tina)
        source = sqlite3.connect(folder / DB_FILENAME)
        target = sqlite3.connect(older)
        source.backup(target)
        target.close()
        source.close()
        clock.advance(hours=1)
        service.record_event(prep.id, E.DILUTED, tina, details={"storage": "room"})
        assert service.verify_audit().intact


def tamper_all(workdir: Path, report: Report) -> None:
    template = workdir / "template"
    older = workdir / "older.sqlite3"
    filled_database(template, older)
    for name, tamper in TAMPERINGS.items():
        folder = workdir / name.replace(" ", "_").replace(",", "")
        shutil.copytree(template, folder)
        tamper(folder, older)
        report.tamperings += 1
        try:
            with open_service(data_dir=folder) as service:
                found = not service.verify_audit().intact
        except Exception as exc:  # noqa: BLE001 - refusing to open a tampered database also detects it
            from infusion_app.storage import StorageError

            found = isinstance(exc, StorageError)
        if found:
            report.detected += 1
        else:
            report.undetected.append(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=500, help="SIGKILLs of forked writers")
    parser.add_argument("--cli-kills", type=int, default=40, help="SIGKILLs of real infusion-prep processes")
    parser.add_argument("--gui-kills", type=int, default=40, help="SIGKILLs of the desktop program (offscreen)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--gui-writer", help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.gui_writer:
        gui_writer(args.gui_writer, args.round)
        return 1
    rng = random.Random(args.seed if args.seed is not None else time.time_ns())
    report = Report()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crash-tamper-") as scratch:
        work = Path(scratch)
        data = work / "crash"
        seed(data)
        crash_rounds(data, args.kills, rng, report)
        cli_kill_rounds(data, args.cli_kills, rng, report)
        gui_data = work / "gui"
        gui_seed(gui_data)
        gui_kill_rounds(gui_data, args.gui_kills, rng, report)
        tamper_all(work / "tamper", report)
    for line in report.lines():
        print(line)
    print(f"time: {time.monotonic() - started:.0f} s")
    return 0 if not report.lost and report.detected == report.tamperings else 1


if __name__ == "__main__":
    sys.exit(main())
