"""The course over storage: persisted, audited, role-checked, concurrency-safe, migration matches the models."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from infusion_app.domain.course import CourseBlocked
from infusion_app.domain.dose_modification import interruption_advice
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.ports import ConcurrentChange
from infusion_app.domain.preparation import Override, StepRefused
from infusion_app.service import open_service
from infusion_app.service.course import CourseNotFound, CourseService
from tests.course_helpers import course_services
from tests.drugs import BESPONSA

D = date.fromisoformat


def _labs_on_file(courses, user="Nina Nurse", mrn="MRN001", kinds=("cbc", "liver", "ecg", "electrolytes"), checklist=True):
    """What a dose needs recorded before it is given (issue 16): labs within the window, the course-start checklist."""
    from tests.lab_helpers import CHECKLIST, NORMAL

    for kind in kinds:
        courses.record_lab(mrn, kind, NORMAL[kind], None, user)
    if checklist:
        courses.complete_checklist(mrn, CHECKLIST, "Pat Pharmacist")


@pytest.fixture
def services(tmp_path, database_templates):
    with course_services(tmp_path, database_templates) as found:
        yield found


def test_a_course_survives_reopening_and_every_change_is_audited(services, tmp_path):
    service, courses, clock = services
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
    courses.record_blasts("MRN001", 4000, "2026-12-19", "Nina Nurse")
    courses.record_weight("MRN001", "154 lb", "2026-12-19", "Nina Nurse")
    courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    _labs_on_file(courses)
    courses.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse")
    service.close()

    reopened = open_service(data_dir=tmp_path, clock=clock)
    try:
        again = CourseService(reopened)
        status = again.status("MRN001")
        assert status.course.blasts_per_mm3 == 4000
        assert round(status.course.dosing_weight.kg, 2) == 69.85
        assert [(d.cycle, d.day, d.given_on) for d in status.course.doses] == [(1, 1, D("2026-12-20"))]
        assert (status.next_dose.cycle, status.next_dose.day, status.next_dose.earliest) == (1, 8, D("2026-12-26"))
        actions = [e.action for e in reopened.audit_entries() if e.action.startswith("course.")]
        assert actions == [
            "course.created",
            "course.blasts_recorded",
            "course.weight_recorded",
            "course.cycle_started",
            *["course.lab_recorded"] * 4,
            "course.checklist_completed",
            "course.dose_given",
        ]
        assert reopened.verify_audit().intact
    finally:
        reopened.close()


def test_roles(services):
    _service, courses, _clock = services
    with pytest.raises(StepRefused):
        courses.new_course("MRN001", False, "Nina Nurse", monograph=BESPONSA)
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
    with pytest.raises(StepRefused):
        courses.record_blasts("MRN001", 100, "2026-12-19", "Tom Tech")
    with pytest.raises(StepRefused):
        courses.start_cycle("MRN001", "2026-12-20", "Nina Nurse")


def test_unknown_course_and_duplicate(services):
    _service, courses, _clock = services
    with pytest.raises(CourseNotFound):
        courses.status("NOPE")
    courses.new_course("MRN001", True, "Pat Pharmacist", monograph=BESPONSA)
    with pytest.raises(ValidationError) as info:
        courses.new_course("MRN001", True, "Pat Pharmacist", monograph=BESPONSA)
    assert info.value.field == "mrn"


def test_blocked_first_dose_stores_nothing(services):
    service, courses, _clock = services
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
    courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    courses.record_blasts("MRN001", 15000, "2026-12-19", "Nina Nurse")
    count = len(service.audit_entries())
    with pytest.raises(CourseBlocked) as info:
        courses.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse")
    assert "10,000/mm³" in info.value.reasons[0]
    assert courses.course("MRN001").doses == [] and len(service.audit_entries()) == count


def test_a_dose_given_on_an_instant_is_recorded_on_its_day(services):
    # The domain reads a datetime as its date (cycle_plan._date); the service's labs-instant helper
    # took it for a date and compared it with today's date: TypeError instead of the dose recorded.
    _service, courses, _clock = services
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
    courses.record_blasts("MRN001", 100, "2026-12-19", "Nina Nurse")
    courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    _labs_on_file(courses)
    courses.record_dose("MRN001", 1, 1, datetime(2026, 12, 20, 9, 30).astimezone(), "Nina Nurse")
    assert [(d.cycle, d.day, d.given_on) for d in courses.course("MRN001").doses] == [(1, 1, D("2026-12-20"))]


def test_an_override_is_stored_with_the_pharmacist_and_reason(services):
    _service, courses, clock = services
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
    courses.record_blasts("MRN001", 100, "2026-12-19", "Nina Nurse")
    courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    _labs_on_file(courses)
    courses.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse")
    clock.set(datetime(2026, 12, 31, 12, 0, tzinfo=timezone.utc))
    with pytest.raises(CourseBlocked):
        courses.record_dose("MRN001", 1, 8, "2026-12-31", "Nina Nurse")
    courses.record_dose("MRN001", 1, 8, "2026-12-31", "Nina Nurse", override=Override("Pat Pharmacist", "admitted", ""))
    dose = courses.course("MRN001").doses[1]
    assert dose.override_reason == "admitted (override by Pat Pharmacist)"
    with pytest.raises(StepRefused):
        courses.record_dose("MRN001", 1, 15, "2026-12-31", "Nina Nurse", override=Override("Nina Nurse", "x", ""))
    # Re-walk finding: a pharmacist recording the dose overrode her own hard stop.
    with pytest.raises(StepRefused) as own:
        courses.record_dose("MRN001", 1, 15, "2026-12-31", "Pat Pharmacist", override=Override("Pat Pharmacist", "prescriber wants it", ""))
    assert own.value.code == "override_not_independent" and "another pharmacist" in own.value.message


def test_advice_and_decision_round_trip_and_apply(services):
    service, courses, clock = services
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
    courses.record_blasts("MRN001", 100, "2026-12-19", "Nina Nurse")
    courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    records = courses.assess("MRN001", interruption_advice(14, monograph=BESPONSA), "Nina Nurse")
    assert [r.id for r in records] == [1, 2]
    with pytest.raises(StepRefused):
        courses.decide("MRN001", 2, True, "Dr Who", "per label", "Nina Nurse")
    decided = courses.decide("MRN001", 2, True, "Dr Who", "per label", "Pat Pharmacist")
    assert decided.decision.recorded_by == "Pat Pharmacist" and decided.decision.decided_by == "Dr Who"
    stored = courses.course("MRN001")
    assert stored.reduction_level == 1
    assert stored.advice[1].decision.reason == "per label" and stored.advice[0].decision is None
    with pytest.raises(ValidationError):
        courses.decide("MRN001", 2, False, "Dr Who", "again", "Pat Pharmacist")
    with pytest.raises(ValidationError) as info:
        courses.decide("MRN001", 9, True, "Dr Who", "x", "Pat Pharmacist")
    assert info.value.field == "advice"
    assert [o.id for o in courses.status("MRN001").open_advice] == [1]
    last = [e for e in service.audit_entries() if e.action == "course.advice_decided"][-1]
    assert "Dr Who" in last.after and last.subject == "MRN001"


def test_a_stale_write_is_refused_by_the_repository(services):
    _service, courses, _clock = services
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
    first = courses.repository.get_course("MRN001")
    second = courses.repository.get_course("MRN001")
    from infusion_app.domain.ports import AuditDraft

    draft = AuditDraft(datetime(2026, 12, 20, 12, 0, tzinfo=timezone.utc), "Pat Pharmacist", "course.test", "MRN001")
    first.hsct_planned = True
    courses.repository.save_course(first, [draft])
    second.is_child = True
    with pytest.raises(ConcurrentChange):
        courses.repository.save_course(second, [draft])
    assert courses.course("MRN001").hsct_planned is True and courses.course("MRN001").is_child is False


def test_a_dose_links_to_a_preparation_of_the_same_patient_cycle_and_day(services):
    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import Patient

    service, courses, _clock = services
    tech = service.user("Tom Tech")
    prep = service.create_preparation(Patient("Doe, Jane", "MRN001", D("1970-01-01")), DoseOrder("170 cm", "70 kg", 1, 1), tech, monograph=BESPONSA)
    other = service.create_preparation(Patient("Roe, Rick", "MRN002", D("1970-01-01")), DoseOrder("170 cm", "70 kg", 1, 1), tech, monograph=BESPONSA)
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
    courses.record_blasts("MRN001", 100, "2026-12-19", "Nina Nurse")
    courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    _labs_on_file(courses)
    with pytest.raises(ValidationError) as info:
        courses.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse", preparation_id=other.id)
    assert "MRN002" in info.value.message
    courses.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse", preparation_id=prep.id)
    assert courses.course("MRN001").doses[0].preparation_id == prep.id
    assert courses.repository.courses_for_preparation(prep.id) == [("MRN001", 1, 1)]


def test_the_migration_matches_the_course_models(services):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from infusion_app.storage import course_models
    from infusion_app.storage.models import Base

    service, _courses, _clock = services
    course_tables = {t for t in Base.metadata.tables if t.startswith("course")}
    assert course_tables == {"courses", "course_cycles", "course_doses", "course_responses", "course_advice", "course_labs", "course_lab_overrides"}
    assert course_models.CourseRow.__tablename__ == "courses"
    with service.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    mine = [d for d in diff if any(t in repr(d) for t in course_tables)]
    assert mine == []


def test_overdue_advice_is_stored_once_and_decided(services):
    _service, courses, clock = services
    courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
    courses.record_blasts("MRN001", 100, "2026-12-19", "Nina Nurse")
    courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
    _labs_on_file(courses)
    courses.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse")
    clock.set(datetime(2027, 1, 4, 12, 0, tzinfo=timezone.utc))  # Day 8 (2026-12-27) is 8 days late
    first = courses.assess_overdue("MRN001", "Nina Nurse")
    assert [(r.advice.code, r.advice.cycle, r.advice.day) for r in first] == [("interruption-omit", 1, 8)]
    again = courses.assess_overdue("MRN001", "Nina Nurse")
    assert [r.id for r in again] == [r.id for r in first]
    assert len([r for r in courses.course("MRN001").advice if r.advice.needs_decision]) == 1  # the labs' recovery values are kept too
    courses.decide("MRN001", first[0].id, True, "Dr Who", "missed visit", "Pat Pharmacist")
    status = courses.status("MRN001")
    assert status.plan.dose(8).status == "omitted"
    assert (status.next_dose.day, status.next_dose.earliest) == (15, D("2027-01-01"))
