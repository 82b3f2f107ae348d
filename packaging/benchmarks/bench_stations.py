"""Stations writing at once to one PostgreSQL server (issue 14): throughput, latency, nothing lost.

A measurement, not a test (never collected by pytest, never gates CI):

    .venv/bin/python packaging/benchmarks/bench_stations.py [--stations 8] [--seconds 120] [--kill]
                                                            [--database postgresql+psycopg://...]

Without --database it starts a throwaway cluster (tests/postgres_server.py; Debian's postgresql,
installed by packaging/bootstrap.sh --test) with durable settings (fsync on), and migrates a new
database with `db upgrade`. Each station is its own process recording a preparation's steps in a
loop (create, vial, order verification, reconstitution, dilution, check, label, dispense,
premedication, patient check, start), one commit per line it prints, each line only after its
commit. --kill sends SIGKILL to a random station every few seconds and starts it again.
Afterwards: every acknowledged step is in the database, the audit chain verifies (chain, anchors,
tables against the log), no station printed a traceback. Prints events/s, p50/p95/max latency of one
step, and the counts.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
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
        status = service.create_preparation(Patient(f"Bench, Patient {number}", mrn, date(1980, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tech)
        out.write(f"prep {status.id} {(time.perf_counter() - started) * 1000:.2f}\n")
        out.flush()
        service.add_vial(status.id, VialRecord(f"LOT{number}", date(2099, 1, 1)), tech, product_confirmed=True)
        calc = status.prep.order["calculation"]
        checked = {"entered": {"mrn": mrn, "height": "170 cm", "weight": "70 kg", "dose_mg": str(calc["dose_mg"]), "volume_ml": str(calc["withdraw_ml"])}}
        steps = [
            (E.ORDER_VERIFIED, order_pharm, {}), (E.RECONSTITUTED, tech, {}), (E.DILUTED, tech, {"storage": "room"}),
            (E.VERIFIED, pharm, checked), (E.LABELLED, tech, {}), (E.DISPENSED, tech, {}),
            *[(E.PREMEDICATION, nurse, {"drug_class": c, "drug": d, "dose": q}) for c, d, q in PREMEDS],
            (E.PATIENT_CONFIRMED, nurse, {"name": f"Bench, Patient {number}", "mrn": mrn}), (E.INFUSION_STARTED, nurse, {}),
        ]
        for kind, user, details in steps:
            started = time.perf_counter()
            stored = service.record_event(status.id, kind, user, details=details)
            out.write(f"event {status.id} {len(stored.prep.events)} {kind.value} {(time.perf_counter() - started) * 1000:.2f}\n")
            out.flush()


def start_station(data_dir: Path, database: str, station: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "INFUSION_PREP_TESTING"}
    return subprocess.Popen([sys.executable, __file__, "--worker", str(data_dir), database, station],
                            stdout=subprocess.PIPE, stderr=log.open("ab"), text=True, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--kill", action="store_true", help="SIGKILL a random station every 2-5 s and restart it")
    parser.add_argument("--database", help="a PostgreSQL URL (a new, empty database); default: a throwaway cluster")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0

    import selectors

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
        execute_autocommit(admin, "ALTER SYSTEM SET fsync = on", "ALTER SYSTEM SET synchronous_commit = on",
                           "ALTER SYSTEM SET full_page_writes = on", "SELECT pg_reload_conf()")
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
        selector = selectors.DefaultSelector()
        stations: dict[str, subprocess.Popen] = {}
        partial: dict[int, str] = {}

        def launch(name: str) -> None:
            process = start_station(work, database, name, log)
            stations[name] = process
            os.set_blocking(process.stdout.fileno(), False)
            selector.register(process.stdout, selectors.EVENT_READ, name)

        acknowledged: list[list[str]] = []
        latencies: list[float] = []
        kills = 0

        def take(stream) -> None:
            chunk = stream.read()
            if not chunk:
                return
            text = partial.pop(stream.fileno(), "") + chunk
            *lines, rest = text.split("\n")
            if rest:
                partial[stream.fileno()] = rest  # cut by a kill: never acknowledged
            for line in lines:
                parts = line.split()
                acknowledged.append(parts)
                latencies.append(float(parts[-1]))

        for number in range(1, args.stations + 1):
            launch(f"station-{number}")
        rng = random.Random(int(os.environ.get("BENCH_SEED", time.time_ns())))
        started = time.monotonic()
        next_kill = started + rng.uniform(2, 5)
        while time.monotonic() - started < args.seconds:
            for key, _mask in selector.select(timeout=0.2):
                take(key.fileobj)
            if args.kill and time.monotonic() >= next_kill:
                name = rng.choice(sorted(stations))
                victim = stations[name]
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                take(victim.stdout)
                partial.pop(victim.stdout.fileno(), None)
                selector.unregister(victim.stdout)
                victim.stdout.close()
                kills += 1
                launch(name)
                next_kill = time.monotonic() + rng.uniform(2, 5)
        measured = time.monotonic() - started
        for name, process in stations.items():
            process.send_signal(signal.SIGKILL)
            process.wait()
            take(process.stdout)
            partial.pop(process.stdout.fileno(), None)
        events = len(acknowledged)
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
            check = service.verify_audit()
            entries = check.entries
        tracebacks = log.read_text(errors="replace").count("Traceback") if log.exists() else 0
        ordered = sorted(latencies)
        p95 = ordered[int(0.95 * (len(ordered) - 1))] if ordered else 0.0
        print(f"{args.stations} stations, {measured:.0f} s{f', {kills} SIGKILLs' if args.kill else ''}: "
              f"{events} acknowledged commits, {events / measured:.1f}/s; one step p50 {statistics.median(ordered):.1f} ms, "
              f"p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms")
        print(f"lost acknowledged: {lost}; audit chain: {'intact' if check.intact else 'BROKEN: ' + check.reason} ({entries} entries); "
              f"tracebacks: {tracebacks}")
        return 0 if lost == 0 and check.intact and tracebacks == 0 else 1
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
