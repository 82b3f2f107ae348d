"""Stations writing at once to one PostgreSQL server (issue 14): throughput, latency, nothing lost.

A measurement, not a test (never collected by pytest, never gates CI):

    .venv/bin/python packaging/benchmarks/bench_stations.py [--stations 8] [--seconds 180] [--no-kill]
                                [--baseline-seconds 20] [--steady-seconds 60] [--database postgresql+psycopg://...]

Without --database it starts a throwaway cluster (tests/postgres_server.py; Debian's postgresql,
installed by packaging/bootstrap.sh --test) with durable settings (fsync on), and migrates a new
database with `db upgrade`. Each station is its own process recording a preparation's steps in a
loop (create, vial, order verification, reconstitution, dilution, check, label, dispense,
premedication, patient check, start), one commit per line it prints, each line only after its
commit. By default a random station is killed with SIGKILL every 2-5 s and started again
(--no-kill: never). Beside them a board process (the desktop program's main window, offscreen,
listening with LISTEN/NOTIFY and ticking every second, as at a chair) reports when each
preparation's new step reaches its board: commit-to-other-board repaint. Afterwards: every
acknowledged step is in the database, the audit chain verifies (chain, anchors, tables against the
log), no station printed a traceback. Prints events/s, p50/p95/max latency of one step, the repaint
median/p95, and the counts; first the same measured with one station alone for
--baseline-seconds (the baseline of this run), then all stations without kills for
--steady-seconds (what the kills cost: a killed station's restart takes seconds of start-up).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PREMEDS = [("corticosteroid", "methylprednisolone", "100 mg"), ("antipyretic", "acetaminophen", "650 mg"), ("antihistamine", "diphenhydramine", "25 mg")]


def worker(data_dir: str, database: str, station: str) -> None:
    from datetime import date

    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import EventType as E
    from infusion_app.domain.records import Patient, VialRecord
    from infusion_app.service import open_service

    service = open_service(data_dir=data_dir, database=database, station=station)
    tech, pharm, nurse, order_pharm = (service.user(n) for n in ("Tina", "Paul", "Nora", "Olga"))
    out = sys.stdout
    number = 0
    while True:
        number += 1
        mrn = f"{station}-{os.getpid()}-{number}"
        started = time.perf_counter()
        status = service.create_preparation(
            Patient(f"Bench, Patient {number}", mrn, date(1980, 1, 1)),
            DoseOrder("170 cm", "70 kg", 1, 1),
            tech,
            monograph=service.registered("inotuzumab-ozogamicin"),
        )
        out.write(f"prep {status.id} {(time.perf_counter() - started) * 1000:.2f} {time.time():.6f}\n")
        out.flush()
        for _ in range(status.prep.order.calculation.vials):  # reconstitution waits for every vial the dose needs
            service.add_vial(status.id, VialRecord(f"LOT{number}", date(2099, 1, 1)), tech, product_confirmed=True)
        calc = status.prep.order.calculation
        checked = {"entered": {"mrn": mrn, "height": "170 cm", "weight": "70 kg", "dose_mg": str(calc.dose_mg), "volume_ml": str(calc.withdraw_ml)}}
        steps = [
            (E.ORDER_VERIFIED, order_pharm, {"labs_override": "benchmark: labs are not what is timed"}),
            (E.RECONSTITUTED, tech, {}),
            (E.DILUTED, tech, {"storage": "room"}),
            (E.VERIFIED, pharm, checked),
            (E.LABELLED, tech, {}),
            (E.DISPENSED, tech, {}),
            *[(E.PREMEDICATION, nurse, {"drug_class": c, "drug": d, "dose": q}) for c, d, q in PREMEDS],
            (E.PATIENT_CONFIRMED, nurse, {"name": f"Bench, Patient {number}", "mrn": mrn}),
            (E.INFUSION_STARTED, nurse, {}),
        ]
        for kind, user, details in steps:
            started = time.perf_counter()
            stored = service.record_event(status.id, kind, user, details=details)
            # The wall time after the commit returned (the same clock as the board's, one machine).
            out.write(f"event {status.id} {len(stored.prep.events)} {kind.value} {(time.perf_counter() - started) * 1000:.2f} {time.time():.6f}\n")
            out.flush()


def board(data_dir: str, database: str) -> None:
    """The chair's main window, offscreen: prints 'paint PREP EVENTS TIME' when a preparation's
    event count changes on its board (after the refresh a notification or the ticker ran)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from infusion_app.gui.main_window import MainWindow
    from infusion_app.service import open_service

    app = QApplication([])
    service = open_service(data_dir=data_dir, database=database, station="board")
    window = MainWindow(service, service.user("Nora"), sound=False)
    window.show()
    seen: dict[str, int] = {}
    original = window.refresh

    def refresh() -> None:
        original()
        now = time.time()
        for prep_id, shown in window.presenter._shown.items():
            if seen.get(prep_id) != shown.event_count:
                seen[prep_id] = shown.event_count
                sys.stdout.write(f"paint {prep_id} {shown.event_count} {now:.6f}\n")
        sys.stdout.flush()

    window.refresh = refresh  # type: ignore[method-assign]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    app.exec()


def start_station(data_dir: Path, database: str, station: str, log: Path, role: str = "--worker") -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "INFUSION_PREP_TESTING"}
    argv = [sys.executable, __file__, role, str(data_dir), database, *([station] if role == "--worker" else [])]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log.open("ab"), text=True, env=env)


def percentile(ordered: list[float], share: float) -> float:
    return ordered[int(share * (len(ordered) - 1))] if ordered else float("nan")


def repaints(acknowledged: list[list[str]], painted: dict[str, list[tuple[int, float]]]) -> tuple[list[float], int]:
    """(commit-to-board latencies in ms, steps the board never showed): each acknowledged step
    against the first paint of its preparation showing at least that many events."""
    latencies, missed = [], 0
    for parts in acknowledged:
        if parts[0] != "event":
            continue
        prep, seq, committed = parts[1], int(parts[2]), float(parts[5])
        shown = next((at for count, at in painted.get(prep, []) if count >= seq), None)
        if shown is None:
            missed += 1
        else:
            latencies.append((shown - committed) * 1000)
    return latencies, missed


def run_phase(work: Path, database: str, log: Path, count: int, seconds: float, kill: bool, rng: random.Random) -> dict:
    import selectors

    from infusion_app.service import open_service

    selector = selectors.DefaultSelector()
    stations: dict[str, subprocess.Popen] = {}
    partial: dict[int, str] = {}
    acknowledged: list[list[str]] = []
    painted: dict[str, list[tuple[int, float]]] = {}
    latencies: list[float] = []
    kills = 0

    board_process = start_station(work, database, "board", log, role="--board")
    assert board_process.stdout is not None
    first = b""
    while not first.endswith(b"ready\n"):  # read raw, so that no line waits in a text buffer
        piece = os.read(board_process.stdout.fileno(), 1)
        if not piece:
            raise SystemExit(f"the board process did not start; see {log}")
        first += piece
    os.set_blocking(board_process.stdout.fileno(), False)
    selector.register(board_process.stdout, selectors.EVENT_READ, "board")

    def launch(name: str) -> None:
        process = start_station(work, database, name, log)
        stations[name] = process
        os.set_blocking(process.stdout.fileno(), False)
        selector.register(process.stdout, selectors.EVENT_READ, name)

    def take(stream, is_board: bool = False) -> None:
        chunks = []
        while True:
            try:
                piece = os.read(stream.fileno(), 1 << 20)
            except BlockingIOError:
                break
            if not piece:
                break
            chunks.append(piece)
        chunk = b"".join(chunks).decode("utf-8", errors="replace")
        if not chunk:
            return
        text = partial.pop(stream.fileno(), "") + chunk
        *lines, rest = text.split("\n")
        if rest:
            partial[stream.fileno()] = rest  # cut by a kill: never acknowledged
        for line in lines:
            parts = line.split()
            if is_board:
                painted.setdefault(parts[1], []).append((int(parts[2]), float(parts[3])))
                continue
            acknowledged.append(parts)
            latencies.append(float(parts[2] if parts[0] == "prep" else parts[4]))

    for number in range(1, count + 1):
        launch(f"station-{number}")
    started = time.monotonic()
    next_kill = started + rng.uniform(2, 5)
    while time.monotonic() - started < seconds:
        for key, _mask in selector.select(timeout=0.2):
            take(key.fileobj, key.data == "board")
        if kill and time.monotonic() >= next_kill:
            name = rng.choice(sorted(stations))
            victim = stations[name]
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            take(victim.stdout)
            partial.pop(victim.stdout.fileno(), None)  # a line cut by the kill: never acknowledged
            selector.unregister(victim.stdout)
            victim.stdout.close()
            kills += 1
            launch(name)
            next_kill = time.monotonic() + rng.uniform(2, 5)
    measured = time.monotonic() - started
    for process in stations.values():
        process.send_signal(signal.SIGKILL)
        process.wait()
        take(process.stdout)
        partial.pop(process.stdout.fileno(), None)
    time.sleep(2.0)  # the board's last notifications and tick
    take(board_process.stdout, True)
    board_process.send_signal(signal.SIGKILL)
    board_process.wait()
    with open_service(data_dir=work, database=database) as service:
        stored = {p.id: p for p in service.repository.list_preparations()}
    lost = 0
    for parts in acknowledged:
        if parts[0] == "prep":
            lost += parts[1] not in stored
        else:
            prep = stored.get(parts[1])
            seq = int(parts[2])
            lost += prep is None or len(prep.events) < seq or prep.events[seq - 1].type.value != parts[3]
    shown, missed = repaints(acknowledged, painted)
    return {
        "measured": measured,
        "events": len(acknowledged),
        "latencies": sorted(latencies),
        "kills": kills,
        "lost": lost,
        "repaints": sorted(shown),
        "missed": missed,
    }


def report(title: str, result: dict) -> str:
    ordered, shown = result["latencies"], result["repaints"]
    return (
        f"{title}, {result['measured']:.0f} s: {result['events']} acknowledged commits, {result['events'] / result['measured']:.1f}/s; "
        f"one step p50 {percentile(ordered, 0.5):.1f} ms, p95 {percentile(ordered, 0.95):.1f} ms, max {ordered[-1] if ordered else float('nan'):.1f} ms; "
        f"commit to the other board's repaint median {percentile(shown, 0.5):.0f} ms, p95 {percentile(shown, 0.95):.0f} ms "
        f"({len(shown)} steps; {result['missed']} not shown by the end); lost acknowledged {result['lost']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=180, help="the measured run (default 180 s)")
    parser.add_argument("--baseline-seconds", type=float, default=20, help="one station alone first, the baseline (0: none)")
    parser.add_argument("--steady-seconds", type=float, default=60, help="then all stations without kills (0: none), before the measured run with kills")
    parser.add_argument("--no-kill", dest="kill", action="store_false", help="never SIGKILL a station (default: one every 2-5 s, restarted)")
    parser.add_argument("--database", help="a PostgreSQL URL (a new, empty database); default: a throwaway cluster")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--board", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    if args.board:
        board(*args.board)
        return 0

    from tests.postgres_server import ThrowawayCluster, execute_autocommit, with_database

    from infusion_app.domain.records import Role
    from infusion_app.service import open_service
    from infusion_app.storage.database import upgrade_database

    work = Path(tempfile.mkdtemp(prefix="bench-stations-"))
    cluster = None
    database = args.database
    if database is None:
        cluster = ThrowawayCluster()
        admin = cluster.start()
        # Durable, as a real server: the throwaway cluster turns fsync off for the tests.
        execute_autocommit(
            admin,
            "ALTER SYSTEM SET fsync = on",
            "ALTER SYSTEM SET synchronous_commit = on",
            "ALTER SYSTEM SET full_page_writes = on",
            "SELECT pg_reload_conf()",
        )
        execute_autocommit(admin, "CREATE DATABASE bench")
        database = with_database(admin, "bench")
    try:
        upgrade_database(work, database)
        with open_service(data_dir=work, database=database) as service:
            paul = service.add_user("Paul", Role.PHARMACIST, "222222")
            service.add_user("Tina", Role.TECHNICIAN, "111111", actor=paul)
            service.add_user("Nora", Role.NURSE, "444444", actor=paul)
            service.add_user("Olga", Role.PHARMACIST, "333333", actor=paul)
        log = work / "stations.log"
        rng = random.Random(int(os.environ.get("BENCH_SEED", time.time_ns())))
        baseline = None
        if args.baseline_seconds > 0:
            baseline = run_phase(work, database, log, 1, args.baseline_seconds, False, rng)
            print(report("baseline, 1 station alone, no kills", baseline))
        steady = None
        if args.kill and args.steady_seconds > 0:
            steady = run_phase(work, database, log, args.stations, args.steady_seconds, False, rng)
            print(report(f"{args.stations} stations, no kills", steady))
        result = run_phase(work, database, log, args.stations, args.seconds, args.kill, rng)
        print(report(f"{args.stations} stations" + (f", {result['kills']} SIGKILLs" if args.kill else ""), result))
        with open_service(data_dir=work, database=database) as service:
            check = service.verify_audit()
        tracebacks = log.read_text(errors="replace").count("Traceback") if log.exists() else 0
        lost = result["lost"] + sum(phase["lost"] for phase in (baseline, steady) if phase)
        print(
            f"lost acknowledged: {lost}; audit chain: {'intact' if check.intact else 'BROKEN: ' + str(check.reason)} "
            f"({check.entries} entries); tracebacks: {tracebacks}"
        )
        return 0 if lost == 0 and check.intact and tracebacks == 0 else 1
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
