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


# (name, role, PIN): the pharmacist first, who adds the others.
COURSE_USERS = (("Pat Pharmacist", Role.PHARMACIST, "246824"), ("Nina Nurse", Role.NURSE, "135713"), ("Tom Tech", Role.TECHNICIAN, "975397"))


@contextmanager
def course_services(data_dir: Path, templates=None) -> Iterator[tuple[PreparationService, CourseService, FakeClock]]:
    """(service, its course service, the clock): users Pat Pharmacist, Nina Nurse and Tom Tech.

    With `templates` (the database_templates fixture, tests/conftest.py) the data folder is a copy
    of a database migrated with these users once per session: Alembic and three PIN derivations
    were about a second of each course test on the loaded CI machine."""
    clock = FakeClock(COURSE_START)
    if templates is not None:
        templates.copy(data_dir, COURSE_USERS)
        service = open_service(data_dir=data_dir, clock=clock)
    else:
        service = open_service(data_dir=data_dir, clock=clock)
    try:
        if templates is None:
            pat = None
            for name, role, pin in COURSE_USERS:
                added = service.add_user(name, role, pin, actor=pat)
                pat = pat or added
        yield service, CourseService(service), clock
    finally:
        service.close()
