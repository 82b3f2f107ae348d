"""Shared fixtures for the GUI tests: a fake clock, a real service on tmp_path with users, helpers.

clock          FakeClock at 2026-01-15 09:00 UTC; advance it, never sleep
service        infusion_app.service on tmp_path (real SQLite, real migrations) with USERS added
technician, pharmacist, second_pharmacist, nurse   the User records
make_preparation(steps=...)   a stored preparation walked through the given bench steps
cut_off(root)                 visible labels and buttons too small for their text (expect [])
ORDER, PATIENT                a typical adult order (170 cm, 70 kg, cycle 1 day 1)
"""

from __future__ import annotations

from tests.drugs import BESPONSA

import shutil
from datetime import date, datetime, timezone

import pytest
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.records import EventType, Patient, Role, VialRecord
from tests.prep_helpers import checked, verify_order

START = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)

# name -> (role, PIN)
USERS = {
    "Tess Tech": (Role.TECHNICIAN, "111111"),
    "Phil Pharm": (Role.PHARMACIST, "222222"),
    "Paula Pharm": (Role.PHARMACIST, "333333"),
    "Nora Nurse": (Role.NURSE, "444444"),
}
PIN = {name: pin for name, (_role, pin) in USERS.items()}

PATIENT = Patient(name="Ada Lovelace", mrn="MRN1001", date_of_birth=date(1970, 3, 4))
ORDER = DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1)
# A vial that expires well after the fake clock's date.
VIAL = VialRecord(lot="LOT123A", expiry=date(2027, 6, 30))


@pytest.fixture(autouse=True)
def program_style(qapp):
    """The program's own font, style sheet and identity, so tests see what people see."""
    from infusion_app.gui.app import create_application

    create_application()


@pytest.fixture(autouse=True)
def quit_without_asking(monkeypatch):
    """Closing a board with alarms asks first; tests close windows at teardown, so answer yes."""
    from infusion_app.gui import main_window

    asked: list[int] = []
    monkeypatch.setattr(main_window, "confirm_quit_with_alarms", lambda _parent, alarms: asked.append(len(alarms)) or True)
    return asked


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(scope="session")
def template_data_dir(tmp_path_factory):
    """A migrated database with USERS, made once: each test gets a copy (scrypt and Alembic are slow)."""
    from infusion_app.service import open_service

    folder = tmp_path_factory.mktemp("template") / "data"
    svc = open_service(data_dir=folder, clock=FakeClock(START))
    pharmacist = None  # the first user is a pharmacist, who then adds the others
    for name, (role, pin) in sorted(USERS.items(), key=lambda item: item[1][0] is not Role.PHARMACIST):
        added = svc.add_user(name, role, pin, actor=pharmacist)
        pharmacist = pharmacist or added
    svc.close()
    return folder


@pytest.fixture
def data_dir(tmp_path, template_data_dir):
    folder = tmp_path / "data"
    shutil.copytree(template_data_dir, folder)
    return folder


@pytest.fixture
def service(data_dir, clock):
    from infusion_app.service import open_service

    svc = open_service(data_dir=data_dir, clock=clock)
    yield svc
    svc.close()


@pytest.fixture
def technician(service):
    return service.user("Tess Tech")


@pytest.fixture
def pharmacist(service):
    return service.user("Phil Pharm")


@pytest.fixture
def second_pharmacist(service):
    return service.user("Paula Pharm")


@pytest.fixture
def nurse(service):
    return service.user("Nora Nurse")


# The bench steps in order, each as (event, who records it, details).
BENCH_STEPS = {
    "reconstituted": (EventType.RECONSTITUTED, "Tess Tech", {}),
    "diluted": (EventType.DILUTED, "Tess Tech", {"storage": "room"}),
    "verified": (EventType.VERIFIED, "Phil Pharm", {}),
    "labelled": (EventType.LABELLED, "Tess Tech", {}),
    "dispensed": (EventType.DISPENSED, "Tess Tech", {}),
}


@pytest.fixture
def make_preparation(service):
    """make_preparation(patient=PATIENT, order=ORDER, steps=("reconstituted", ...)) -> the stored id."""

    def make(patient: Patient = PATIENT, order: DoseOrder = ORDER, steps: tuple[str, ...] = (), first_vial: VialRecord = VIAL) -> str:
        status = service.create_preparation(patient, order, service.user("Tess Tech"), monograph=BESPONSA)
        for number in range(status.prep.order.calculation.vials):
            service.add_vial(status.id, first_vial if number == 0 else VIAL, service.user("Tess Tech"), product_confirmed=True)
        for step in steps:
            kind, who, details = BENCH_STEPS[step]
            if kind == EventType.RECONSTITUTED:
                verify_order(service, status.id)
            if kind == EventType.VERIFIED:
                details = checked(service, status.id)
            service.record_event(status.id, kind, service.user(who), details=dict(details))
        return status.id

    return make


def cut_off(root: QWidget) -> list[str]:
    """Visible labels and buttons narrower or shorter than their text needs."""
    problems = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisibleTo(root) or not isinstance(widget, (QLabel, QAbstractButton)):
            continue
        if isinstance(widget, QLabel) and widget.wordWrap():
            needed_height = widget.heightForWidth(widget.width())
            if needed_height > widget.height() + 1:
                problems.append(f"{widget.objectName() or widget.text()[:30]!r}: height {widget.height()} < {needed_height}")
            continue
        hint = widget.minimumSizeHint() if isinstance(widget, QLabel) else widget.sizeHint()
        if widget.width() + 1 < hint.width() or widget.height() + 1 < hint.height():
            problems.append(f"{widget.objectName() or getattr(widget, 'text', lambda: '')()[:30]!r}: {widget.size().toTuple()} < {hint.toTuple()}")
    return problems


# The main window's menu bar, tabs and alarm banner leave a page about this much of a 1280 x 800 screen.
PAGE_SIZE = (1280, 680)


@pytest.fixture
def chair(qtbot, service, nurse):
    """The nurse's chair page, shown at the size the main window leaves it."""
    from infusion_app.gui.chair import ChairPage

    page = ChairPage(service, nurse)
    qtbot.addWidget(page)
    page.resize(*PAGE_SIZE)
    page.show()
    return page
