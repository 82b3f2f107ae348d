"""Storage timings (a script, not a test; it never gates CI).

Each step is committed with SQLite synchronous=FULL, so a step's time includes the fsync that
makes it survive a power cut. Measured in a scratch folder, never the user's data.

    .venv/bin/python packaging/benchmarks/bench_storage.py [--preparations 100]

Reports: opening a new database (migrations included) and an existing one; creating a
preparation; recording one step (check, commit, fresh status); the board's list_active() with
N active preparations; verify_audit() over the whole log.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.records import EventType, Patient, Role, VialRecord
from infusion_app.service import open_service


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preparations", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clock = FakeClock()
        first_open, service = timed(open_service, data_dir=folder, clock=clock)
        service.close()
        reopen, service = timed(open_service, data_dir=folder, clock=clock)
        pharmacist = service.add_user("Bench Pharm", Role.PHARMACIST, "222222")  # the first user must be one
        tech = service.add_user("Tina", Role.TECHNICIAN, "111111", actor=pharmacist)
        checker = service.add_user("Vera Verify", Role.PHARMACIST, "333333", actor=pharmacist)
        creates, steps = [], []
        for number in range(args.preparations):
            took, status = timed(
                service.create_preparation, Patient(f"Patient {number}", f"M{number}", date(1970, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tech
            )
            creates.append(took)
            # Not timed: the vials the dose needs and the order check, which reconstitution waits for.
            for _ in range(status.prep.order.calculation.vials):
                service.add_vial(status.id, VialRecord(f"LOT{number}", date(2099, 1, 1)), tech, product_confirmed=True)
            service.record_event(status.id, EventType.ORDER_VERIFIED, checker, details={"labs_override": "benchmark: labs are not what is timed"})
            steps.append(timed(service.record_event, status.id, EventType.RECONSTITUTED, tech)[0])
            steps.append(timed(service.record_event, status.id, EventType.DILUTED, tech, details={"storage": "room"})[0])
        board = [timed(service.list_active)[0] for _ in range(10)]
        verify, check = timed(service.verify_audit)
        service.close()

    def ms(values) -> str:
        values = values if isinstance(values, list) else [values]
        return f"{statistics.median(values) * 1000:8.1f} ms" + (f"  (median of {len(values)}, max {max(values) * 1000:.1f} ms)" if len(values) > 1 else "")

    print(f"open a new database (migrate)    {ms(first_open)}")
    print(f"open an existing database        {ms(reopen)}")
    print(f"create a preparation             {ms(creates)}")
    print(f"record one step                  {ms(steps)}")
    print(f"list_active, {args.preparations} preparations     {ms(board)}")
    print(f"verify_audit, {check.entries} entries        {ms(verify)}  intact={check.intact}")


if __name__ == "__main__":
    main()
