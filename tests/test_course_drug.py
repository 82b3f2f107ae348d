"""A course carries its drug (issue 17, reviewer M8): it is judged by its own drug's monograph, and an
order for another drug is neither judged by it nor linked to it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import create_engine, text

from infusion_app.domain import course as rules
from infusion_app.domain.course import CourseBlocked
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.preparation import StepRefused
from infusion_app.domain.records import Patient
from tests.course_helpers import course_services
from tests.drugs import BESPONSA, MYLOTARG

D = date.fromisoformat
PATIENT = Patient("Doe, Jane", "MRN001", D("1970-01-01"))


@pytest.fixture
def services(tmp_path, database_templates):
    with course_services(tmp_path, database_templates) as (service, courses, _clock):
        courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
        courses.record_blasts("MRN001", 100, "2026-12-19", "Nina Nurse")
        courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
        yield service, courses


def test_a_mylotarg_order_is_not_judged_by_the_patients_besponsa_course(services):
    service, courses = services
    assert courses.course("MRN001").monograph_id == BESPONSA.id
    fractionated = MYLOTARG.with_regimen("fractionated")
    # Day 4 is a MYLOTARG dose day; the BESPONSA course said "Day 4 is not a dose day".
    status = service.create_preparation(PATIENT, DoseOrder("170 cm", "70 kg", 1, 4), service.user("Tom Tech"), monograph=fractionated)
    stored = status.prep.order
    assert status.prep.monograph_id == MYLOTARG.id and stored.calculation.day == 4 and stored.calculation.dose_mg == 4.5
    assert stored.course is not None and stored.course.on_file is False
    assert "MYLOTARG" in stored.course.flag and "BESPONSA" in stored.course.flag
    with pytest.raises(ValidationError) as missing:  # without a course of its drug, the order names cycle and day
        service.create_preparation(PATIENT, DoseOrder("170 cm", "70 kg", None, None), service.user("Tom Tech"), monograph=fractionated)
    assert missing.value.field == "cycle" and "MYLOTARG" in missing.value.message
    # A BESPONSA order is still judged by its course (here: its checklist and labs are missing).
    with pytest.raises(StepRefused) as judged:
        service.create_preparation(PATIENT, DoseOrder("170 cm", "70 kg", None, None), service.user("Tom Tech"), monograph=BESPONSA)
    assert judged.value.code == "course" and "checklist" in judged.value.message


def test_a_mylotarg_dose_is_not_recorded_in_a_besponsa_course(services):
    service, courses = services
    prep = service.create_preparation(PATIENT, DoseOrder("170 cm", "70 kg", 1, 1), service.user("Tom Tech"), monograph=MYLOTARG.with_regimen("fractionated"))
    with pytest.raises(CourseBlocked) as refused:
        courses.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse", preparation_id=prep.id)
    assert "course-drug" in refused.value.reasons[0] and "MYLOTARG" in refused.value.reasons[0]
    assert courses.course("MRN001").doses == []


def test_the_domain_judges_a_course_by_its_own_drug_only():
    course = rules.new_course("MRN001", False, monograph=BESPONSA)
    assert course.monograph_id == BESPONSA.id
    with pytest.raises(ValidationError) as wrong:
        rules.course_status(course, D("2026-12-20"), MYLOTARG)
    assert wrong.value.field == "drug"
    with pytest.raises(ValidationError) as regimen:  # a regimen drug's course is its regimen's (issue 17): one is named
        rules.new_course("MRN002", False, monograph=MYLOTARG)
    assert regimen.value.field == "regimen"


def test_migration_0008_gives_the_courses_stored_before_it_the_besponsa_id(tmp_path):
    from alembic import command

    from infusion_app.storage.database import _alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "0007_labs")
            connection.execute(
                text(
                    "INSERT INTO courses (mrn, hsct_planned, is_child, reduction_level, discontinued_reason, version, "
                    "created_at, created_by, updated_at) VALUES ('MRN-OLD', 0, 0, 0, '', 1, '2026-01-01', 'Pat', '2026-01-01')"
                )
            )
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "head")
            assert connection.execute(text("SELECT monograph_id FROM courses")).scalar_one() == BESPONSA.id
    finally:
        engine.dispose()


def test_a_course_logged_before_the_drug_and_regimen_columns_still_matches_its_log():
    """A course created before 0008/0009 was logged without monograph_id and regimen; after the upgrade
    its row holds the values those migrations gave it, and audit verify must not call it altered."""
    import dataclasses
    import json

    from infusion_app.domain.ports import AuditEntry
    from infusion_app.storage.audit import StoredState, cross_check, without_ids

    course = rules.new_course("MRN-OLD", False, monograph=BESPONSA)
    stored = without_ids(json.loads(json.dumps(dataclasses.asdict(course), default=str)))
    stored.pop("version", None)
    logged = {k: v for k, v in stored.items() if k not in ("monograph_id", "regimen")}
    entry = AuditEntry(1, "2026-01-01T00:00:00+00:00", "Pat", "course.created", "MRN-OLD", "null", json.dumps(logged), "", "")
    assert cross_check([entry], StoredState(courses={"MRN-OLD": stored})).intact
    # A real difference in a field the log did keep is still reported.
    altered = {**stored, "hsct_planned": True}
    assert not cross_check([entry], StoredState(courses={"MRN-OLD": altered})).intact
    # And a regimen put on an old course by hand is not taken for the migration's default.
    assert not cross_check([entry], StoredState(courses={"MRN-OLD": {**stored, "regimen": "fractionated"}})).intact
