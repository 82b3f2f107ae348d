"""Take the screenshot the AppStream metainfo points at: the board with a few preparations.

    .venv/bin/python packaging/screenshot.py [packaging/screenshots/board.png]

Uses a throwaway data folder and a fake clock, so it never touches real data and the picture is
the same from run to run. Publish the file at the <screenshot> address in the metainfo.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from infusion_app.domain.clock import FakeClock  # noqa: E402
from infusion_app.domain.dosing import DoseOrder  # noqa: E402
from infusion_app.domain.records import EventType, Patient, Role, VialRecord  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "screenshots" / "board.png"
START = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
WIDTH, HEIGHT = 1280, 800  # the smallest screen the program is designed for

# (patient, order, minutes before "now" that the bench started, bench steps done)
DEMO = [
    (Patient("Grace Hopper", "MRN20417", date(1961, 12, 9)), DoseOrder(height="165 cm", weight="61 kg", cycle=1, day=1), 215, ("reconstituted",)),
    (
        Patient("Alan Turing", "MRN20533", date(1954, 6, 23)),
        DoseOrder(height="5 ft 10 in", weight="154 lb", cycle=2, day=8, response="cr"),
        120,
        ("reconstituted", "diluted", "verified", "labelled", "dispensed"),
    ),
    (
        Patient("Émilie du Châtelet", "MRN20611", date(1976, 12, 17)),
        DoseOrder(height="158 cm", weight="52 kg", cycle=1, day=15),
        20,
        ("reconstituted", "diluted"),
    ),
]
STEPS = {
    "reconstituted": (EventType.RECONSTITUTED, "Tess Tech", {}),
    "diluted": (EventType.DILUTED, "Tess Tech", {"storage": "room"}),
    "verified": (EventType.VERIFIED, "Phil Pharm", {}),
    "labelled": (EventType.LABELLED, "Tess Tech", {}),
    "dispensed": (EventType.DISPENSED, "Tess Tech", {}),
}


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    from infusion_app.gui.app import create_application
    from infusion_app.gui.main_window import MainWindow
    from infusion_app.service import open_service

    app = create_application([sys.argv[0]])
    clock = FakeClock(START)
    with tempfile.TemporaryDirectory() as folder:
        service = open_service(data_dir=Path(folder), clock=clock)
        pharmacist = service.add_user("Phil Pharm", Role.PHARMACIST, "222222")  # the first user must be one
        service.add_user("Tess Tech", Role.TECHNICIAN, "111111", actor=pharmacist)
        latest = max(minutes for *_rest, minutes, _steps in DEMO)
        for patient, order, minutes, steps in sorted(DEMO, key=lambda d: -d[2]):
            clock.set(START + timedelta(minutes=latest - minutes))
            status = service.create_preparation(patient, order, service.user("Tess Tech"), monograph=service.registered("inotuzumab-ozogamicin"))
            for _ in range(status.prep.order.calculation.vials):
                service.add_vial(status.id, VialRecord(lot="FK4471", expiry=date(2027, 9, 30)), service.user("Tess Tech"), product_confirmed=True)
            for step in steps:
                kind, who, details = STEPS[step]
                service.record_event(status.id, kind, service.user(who), details=dict(details))
        clock.set(START + timedelta(minutes=latest))
        window = MainWindow(service, service.user("Phil Pharm"), sound=False)
        window.resize(WIDTH, HEIGHT)
        window.show()
        for _ in range(5):
            app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out), "PNG"):
            raise SystemExit(f"could not write {out}")
        window.close()
        service.close()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
