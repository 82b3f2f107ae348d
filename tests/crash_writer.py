"""Records steps in a loop and prints each one only after its commit (used by test_crash.py).

    python tests/crash_writer.py DATA_DIR [DATABASE_URL]

Lines: "ready" once the database is open, "prep ID" after a preparation is stored, "event ID SEQ TYPE" after a step is stored
(SEQ counts every stored event of the preparation, the override included). The test kills this
process with SIGKILL at random moments and then checks that every printed line is in the database.
"""

from __future__ import annotations

from tests.drugs import BESPONSA

import sys
from datetime import date

from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.records import EventType as E
from infusion_app.domain.records import Patient, VialRecord
from infusion_app.service import open_service
from tests.lab_helpers import order_labs

PREMEDS = [("corticosteroid", "methylprednisolone", "100 mg"), ("antipyretic", "acetaminophen", "650 mg"), ("antihistamine", "diphenhydramine", "25 mg")]


def main(data_dir: str, say=None, database: str | None = None) -> None:
    say = say or sys.stdout
    service = open_service(data_dir=data_dir, database=database)
    tech, pharm, nurse = service.user("Tina"), service.user("Paul"), service.user("Nora")
    order_pharm = service.user("Olga")
    say.write("ready\n")  # opened: from here on every line follows a commit
    say.flush()
    number = 0
    while True:
        number += 1
        status = service.create_preparation(
            Patient(f"Crash, Patient {number}", f"CR{number}", date(1980, 1, 1)), DoseOrder("170 cm", "70 kg", 1, 1), tech, monograph=BESPONSA
        )
        say.write(f"prep {status.id}\n")
        say.flush()
        for _ in range(status.prep.order.calculation.vials):  # reconstitution waits for every vial the dose needs
            service.add_vial(status.id, VialRecord(f"LOT{number}", date(2099, 1, 1)), tech, product_confirmed=True)
        calc = status.prep.order.calculation
        checked = {"entered": {"mrn": f"CR{number}", "height": "170 cm", "weight": "70 kg", "dose_mg": str(calc.dose_mg), "volume_ml": str(calc.withdraw_ml)}}
        steps = [
            (E.ORDER_VERIFIED, order_pharm, order_labs(service.now())),
            (E.RECONSTITUTED, tech, {}),
            (E.DILUTED, tech, {"storage": "room"}),
            (E.VERIFIED, pharm, checked),
            (E.LABELLED, tech, {}),
            (E.DISPENSED, tech, {}),
            *[(E.PREMEDICATION, nurse, {"drug_class": c, "drug": d, "dose": q}) for c, d, q in PREMEDS],
            (E.PATIENT_CONFIRMED, nurse, {"name": f"Crash, Patient {number}", "mrn": f"CR{number}"}),
            (E.INFUSION_STARTED, nurse, {}),
        ]
        for kind, user, details in steps:
            stored = service.record_event(status.id, kind, user, details=details)
            say.write(f"event {status.id} {len(stored.prep.events)} {kind.value}\n")
            say.flush()


if __name__ == "__main__":
    main(sys.argv[1], database=sys.argv[2] if len(sys.argv) > 2 else None)
