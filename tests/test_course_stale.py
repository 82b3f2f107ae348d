"""A course shown at one station and changed at another meanwhile: the first station's change is
refused by the service naming who changed it, on every course write path (issue 14), on SQLite
and on PostgreSQL. The storage refused a stale copy already; the service used to retry on a fresh
copy, re-applying a decision made on what was no longer the course."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.dose_modification import interruption_advice
from infusion_app.domain.preparation import StepRefused
from infusion_app.domain.records import Role
from infusion_app.service import open_service
from infusion_app.service.course import CourseService
from tests.drugs import BESPONSA

T0 = datetime(2026, 12, 20, 12, 0, tzinfo=timezone.utc)

# Every write path of an existing course, as a station holding the version it showed calls it.
WRITES = {
    "set_hsct": lambda c, v: c.set_hsct("MRN001", True, "Pat Pharmacist", expected=v),
    "record_blasts": lambda c, v: c.record_blasts("MRN001", 200, "2026-12-19", "Nina Nurse", expected=v),
    "record_weight": lambda c, v: c.record_weight("MRN001", "70 kg", "2026-12-19", "Nina Nurse", expected=v),
    "record_response": lambda c, v: c.record_response("MRN001", "2026-12-19", "CR", None, "Nina Nurse", expected=v),
    "start_cycle": lambda c, v: c.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist", expected=v),
    "move_cycle_start": lambda c, v: c.move_cycle_start("MRN001", "2026-12-21", "Pat Pharmacist", expected=v),
    "extend_first_cycle": lambda c, v: c.extend_first_cycle("MRN001", "remission: extended per label", "Pat Pharmacist", expected=v),
    "record_dose": lambda c, v: c.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse", expected=v),
    "assess": lambda c, v: c.assess("MRN001", interruption_advice(14, monograph=BESPONSA), "Nina Nurse", expected=v),
    "assess_overdue": lambda c, v: c.assess_overdue("MRN001", "Nina Nurse", expected=v),
    "record_lab": lambda c, v: c.record_lab("MRN001", "ecg", {"qtc_ms": "420"}, None, "Nina Nurse", expected=v),
    "complete_checklist": lambda c, v: c.complete_checklist("MRN001", {}, "Pat Pharmacist", expected=v),
    "override_labs": lambda c, v: c.override_labs("MRN001", "labs drawn, results pending at the lab", "Pat Pharmacist", expected=v),
    "decide": lambda c, v: c.decide("MRN001", 1, True, "Dr Who", "per label", "Pat Pharmacist", expected=v),
}


def test_every_course_write_with_a_stale_version_is_refused_naming_who_changed_it(tmp_path, database):
    clock = FakeClock(T0)
    with open_service(data_dir=tmp_path, database=database, clock=clock, station="office") as here:
        pat = here.add_user("Pat Pharmacist", Role.PHARMACIST, "246824")
        here.add_user("Olga Order", Role.PHARMACIST, "333333", actor=pat)
        here.add_user("Nina Nurse", Role.NURSE, "135713", actor=pat)
        url = None if here.location.path is not None else here.location.url
        with open_service(data_dir=tmp_path, database=url, clock=clock, station="ward") as there:
            mine, theirs = CourseService(here), CourseService(there)
            mine.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
            shown = mine.status("MRN001").course.version  # on this station's screen
            clock.advance(minutes=5)
            theirs.record_blasts("MRN001", 4000, "2026-12-19", "Olga Order")  # the other station, meanwhile
            audit_before = len(here.audit_entries())
            refused = {}
            for name, write in WRITES.items():
                try:
                    write(mine, shown)
                except StepRefused as refusal:
                    refused[name] = (refusal.code, refusal.message)
                else:
                    refused[name] = ("stored", "")
            expected = ("changed", "the course for MRN MRN001 was changed by Olga Order at 2026-12-20T12:05:00Z at station ward; reload")
            assert refused == {name: expected for name in WRITES}
            assert len(here.audit_entries()) == audit_before  # nothing written
            course = mine.course("MRN001")
            assert course.blasts_per_mm3 == 4000 and course.hsct_planned is False
            # Reloaded, the change goes through; without a version (a command) it is checked on the fresh course.
            mine.set_hsct("MRN001", True, "Pat Pharmacist", expected=mine.status("MRN001").course.version)
            mine.record_blasts("MRN001", 300, "2026-12-19", "Nina Nurse")
            assert theirs.course("MRN001").hsct_planned is True and here.verify_audit().intact


def test_a_race_lost_between_reading_and_writing_is_refused_too_not_retried_on_a_fresh_copy(tmp_path, database):
    clock = FakeClock(T0)
    with open_service(data_dir=tmp_path, database=database, clock=clock, station="office") as here:
        pat = here.add_user("Pat Pharmacist", Role.PHARMACIST, "246824")
        here.add_user("Olga Order", Role.PHARMACIST, "333333", actor=pat)
        url = None if here.location.path is not None else here.location.url
        with open_service(data_dir=tmp_path, database=url, clock=clock, station="ward") as there:
            mine, theirs = CourseService(here), CourseService(there)
            mine.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
            shown = mine.status("MRN001").course.version
            save = mine.repository.save_course

            def other_station_first(course, audit):  # the other station commits between this one's read and write
                mine.repository.save_course = save
                theirs.record_blasts("MRN001", 4000, "2026-12-19", "Olga Order")
                return save(course, audit)

            mine.repository.save_course = other_station_first
            with pytest.raises(StepRefused) as info:
                mine.set_hsct("MRN001", True, "Pat Pharmacist", expected=shown)
            assert info.value.code == "changed" and "changed by Olga Order" in info.value.message and info.value.message.endswith("; reload")
            assert mine.course("MRN001").hsct_planned is False


def test_who_changed_a_course_is_found_whatever_case_its_mrn_is_given_in(tmp_path, database):
    """The newest change of a course was matched by its audit subject exactly, while an MRN finds its patient,
    course and refused scans in any case (mrn_matches, 3a7bd35, 5839c9e): asked for 'mrn001', the course
    stored as MRN001 was 'changed by someone else' (review)."""
    clock = FakeClock(T0)
    with open_service(data_dir=tmp_path, database=database, clock=clock, station="office") as here:
        pat = here.add_user("Pat Pharmacist", Role.PHARMACIST, "246824")
        courses = CourseService(here)
        courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
        clock.advance(minutes=5)
        courses.set_hsct("mrn001", True, pat)
        expected = "changed by Pat Pharmacist at 2026-12-20T12:05:00Z at station office"
        assert courses.repository.last_change("MRN001") == courses.repository.last_change("mrn001") == courses.repository.last_change(" Mrn001 ") == expected
