"""The service a course test works on: one data folder, a pharmacist, a nurse and a technician, the
clock at noon on the course's first day (the setup several test modules repeated)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.records import Role
from infusion_app.service import PreparationService, open_service
from infusion_app.service.course import CourseService

COURSE_START = datetime(2026, 12, 20, 12, 0, tzinfo=timezone.utc)


@contextmanager
def course_services(data_dir: Path) -> Iterator[tuple[PreparationService, CourseService, FakeClock]]:
    """(service, its course service, the clock): users Pat Pharmacist, Nina Nurse and Tom Tech."""
    clock = FakeClock(COURSE_START)
    service = open_service(data_dir=data_dir, clock=clock)
    try:
        pat = service.add_user("Pat Pharmacist", Role.PHARMACIST, "246824")
        service.add_user("Nina Nurse", Role.NURSE, "135713", actor=pat)
        service.add_user("Tom Tech", Role.TECHNICIAN, "975397", actor=pat)
        yield service, CourseService(service), clock
    finally:
        service.close()
