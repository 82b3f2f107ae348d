"""Stored treatment courses: load a domain Course by MRN, save it back in one audited transaction.

`save_course` is optimistic: it writes only when the stored version is the one the caller read
(else ConcurrentChange), replaces the course's child rows with the course's current ones and
appends the audit entries, all in one transaction (BEGIN IMMEDIATE on SQLite), returning after
the commit.
"""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain.course import AdviceRecord, Course, CycleRecord, DoseGiven, ResponseAssessment, WeightRecord
from ..domain.dose_modification import Advice, Decision
from ..domain.ports import AuditDraft, ConcurrentChange
from ..domain.checklist import Checklist
from ..domain.labs import LabOverride, LabResult, check_stored_values
from .course_models import (
    CourseAdviceRow,
    CourseCycleRow,
    CourseDoseRow,
    CourseLabOverrideRow,
    CourseLabRow,
    CourseResponseRow,
    CourseRow,
)
from .database import StorageError
from .repository import DuplicateError, MalformedRow, SqlRepository, TransactionScopes, mrn_matches, retried


def _days_text(days: tuple[int, ...]) -> str:
    return ",".join(str(d) for d in sorted(days))


def _days_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _decision_json(decision: Decision | None) -> str | None:
    return None if decision is None else json.dumps(decision.to_dict(), sort_keys=True, ensure_ascii=False)


def _decision(text: str | None) -> Decision | None:
    if text is None:
        return None
    from datetime import datetime

    data = _mapping(text, "decision")
    for key in ("advice_code", "decided_by", "recorded_by", "reason", "at"):
        if not isinstance(data.get(key), str):
            raise ValueError(f"its decision has no {key} text")
    if not isinstance(data.get("accepted"), bool):
        raise ValueError("its decision does not say whether it was accepted (true or false)")
    at = datetime.fromisoformat(data["at"])
    if at.tzinfo is None:
        raise ValueError("its decision's time has no UTC offset")
    return Decision(data["advice_code"], data["accepted"], data["decided_by"], data["recorded_by"], data["reason"], at)


def _mapping(text: str | None, what: str) -> dict:
    try:
        data = json.loads(text) if text is not None else None
    except (TypeError, ValueError):
        raise ValueError(f"its {what} holds malformed JSON") from None
    if not isinstance(data, dict):
        raise ValueError(f"its {what} is not a mapping")
    return data


def _advice(text: str) -> Advice:
    data = _mapping(text, "advice")
    if not isinstance(data.get("sources", []), list) or not all(isinstance(item, dict) for item in data.get("sources", [])):
        raise ValueError("its advice's sources are not a list of mappings")
    if not isinstance(data.get("details") or {}, dict):
        raise ValueError("its advice's details are not a mapping")
    for key in ("code", "message"):
        if not isinstance(data.get(key), str):
            raise ValueError(f"its advice has no {key} text")
    return Advice.from_dict(data)


def _missing(text: str) -> tuple[str, ...]:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError("its list of missing labs holds malformed JSON") from None
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise ValueError("its list of missing labs is not a list of names")
    return tuple(data)


class _Row:
    """Reads one stored course row: anything it cannot make sense of (edited by hand) is a
    MalformedRow naming the table, the row and the course, never a KeyError deep in a reader."""

    def __init__(self, table: str, number: object, mrn: str):
        self.where = f"{table} row {number} of the course of MRN {mrn}"

    def __enter__(self) -> _Row:
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is not None and isinstance(exc, (ValueError, TypeError, KeyError, AttributeError)) and not isinstance(exc, MalformedRow):
            why = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            prefix = "it has no " if isinstance(exc, KeyError) else ""
            raise MalformedRow(f"{self.where} cannot be read: {prefix}{why}") from None
        return False


def _weight(kg: float | None, on: date | None) -> WeightRecord | None:
    return WeightRecord(kg, on) if kg is not None and on is not None else None


class SqlCourseRepository(TransactionScopes):
    # -- reading --------------------------------------------------------------------------------
    def _assemble(self, session: Session, row: CourseRow) -> Course:
        mrn = row.mrn
        with _Row("courses", row.id, mrn):
            checklist = Checklist.from_dict(_mapping(row.checklist_json, "checklist")) if row.checklist_json else None
            course = Course(
                mrn=row.mrn,
                monograph_id=row.monograph_id,
                regimen=row.regimen or "",
                hsct_planned=bool(row.hsct_planned),
                is_child=bool(row.is_child),
                blasts_per_mm3=row.blasts_per_mm3,
                blasts_measured_on=row.blasts_measured_on,
                dosing_weight=_weight(row.dosing_weight_kg, row.dosing_weight_on),
                latest_weight=_weight(row.latest_weight_kg, row.latest_weight_on),
                reduction_level=row.reduction_level,
                discontinued_on=row.discontinued_on,
                discontinued_reason=row.discontinued_reason or "",
                checklist=checklist,
                date_of_birth=row.date_of_birth,
                child_reason=row.child_reason or "",
                id=row.id,
                version=row.version,
            )
        if course.latest_weight == course.dosing_weight:
            course.latest_weight = course.dosing_weight  # one record: no change to compare
        for c in session.scalars(select(CourseCycleRow).where(CourseCycleRow.course_id == row.id).order_by(CourseCycleRow.number)):
            with _Row("course_cycles", c.number, mrn):
                course.cycles.append(
                    CycleRecord(
                        c.number,
                        c.start,
                        bool(c.extended_to_28),
                        c.extension_reason or "",
                        c.reduction_level,
                        _days_tuple(c.omitted_days),
                        _days_tuple(c.delayed_days),
                        c.id,
                    )
                )
        for d in session.scalars(select(CourseDoseRow).where(CourseDoseRow.course_id == row.id).order_by(CourseDoseRow.cycle, CourseDoseRow.day)):
            with _Row("course_doses", f"cycle {d.cycle} day {d.day}", mrn):
                course.doses.append(DoseGiven(d.cycle, d.day, d.given_on, d.preparation_id, d.mg_per_m2, d.override_reason, d.id))
        for r in session.scalars(select(CourseResponseRow).where(CourseResponseRow.course_id == row.id).order_by(CourseResponseRow.seq)):
            with _Row("course_responses", r.seq, mrn):
                course.responses.append(ResponseAssessment(r.assessed_on, r.response, r.mrd_negative, r.seq))
        course.responses.sort(key=lambda r: r.assessed_on)
        for a in session.scalars(select(CourseAdviceRow).where(CourseAdviceRow.course_id == row.id).order_by(CourseAdviceRow.seq)):
            with _Row("course_advice", a.seq, mrn):
                course.advice.append(AdviceRecord(_advice(a.advice_json), a.raised_on, _decision(a.decision_json), a.seq))
        for lab in session.scalars(select(CourseLabRow).where(CourseLabRow.course_id == row.id).order_by(CourseLabRow.seq)):
            with _Row("course_labs", lab.seq, mrn):
                course.labs.append(
                    LabResult(lab.kind, lab.taken_at, check_stored_values(lab.kind, _mapping(lab.values_json, "values")), lab.recorded_by, lab.seq)
                )
        course.labs.sort(key=lambda r: r.taken_at)
        for o in session.scalars(select(CourseLabOverrideRow).where(CourseLabOverrideRow.course_id == row.id).order_by(CourseLabOverrideRow.id)):
            with _Row("course_lab_overrides", o.id, mrn):
                course.lab_overrides.append(LabOverride(o.cycle, o.day, o.pharmacist, o.reason, o.at, _missing(o.missing_json)))
        return course

    def get_course(self, mrn: str) -> Course | None:
        """The course of this MRN, matched as the patient is (mrn_matches: whatever its case): an MRN
        typed in lower case found no course, and the order passed as one with no course on file."""
        with self._read() as session:
            row = session.scalar(select(CourseRow).where(mrn_matches(CourseRow.mrn, mrn)))
            return self._assemble(session, row) if row is not None else None

    def list_mrns(self) -> list[str]:
        with self._read() as session:
            return list(session.scalars(select(CourseRow.mrn).order_by(CourseRow.mrn)))

    def courses_for_preparation(self, prep_id: str) -> list[tuple[str, int, int]]:
        """(mrn, cycle, day) of every dose recorded with this preparation id."""
        with self._read() as session:
            rows = session.execute(
                select(CourseRow.mrn, CourseDoseRow.cycle, CourseDoseRow.day)
                .join(CourseRow, CourseRow.id == CourseDoseRow.course_id)
                .where(CourseDoseRow.preparation_id == prep_id)
            )
            return [(m, c, d) for m, c, d in rows]

    # -- writing --------------------------------------------------------------------------------
    @staticmethod
    def _fill(row: CourseRow, course: Course) -> None:
        row.hsct_planned = course.hsct_planned
        row.is_child = course.is_child
        row.blasts_per_mm3 = course.blasts_per_mm3
        row.blasts_measured_on = course.blasts_measured_on
        row.dosing_weight_kg = course.dosing_weight.kg if course.dosing_weight else None
        row.dosing_weight_on = course.dosing_weight.measured_on if course.dosing_weight else None
        row.latest_weight_kg = course.latest_weight.kg if course.latest_weight else None
        row.latest_weight_on = course.latest_weight.measured_on if course.latest_weight else None
        row.reduction_level = course.reduction_level
        row.discontinued_on = course.discontinued_on
        row.discontinued_reason = course.discontinued_reason or ""
        row.checklist_json = json.dumps(course.checklist.to_dict(), sort_keys=True, ensure_ascii=False) if course.checklist else None
        row.date_of_birth = course.date_of_birth
        row.child_reason = course.child_reason or None
        row.monograph_id = course.monograph_id
        row.regimen = course.regimen or ""

    @staticmethod
    def _children(session: Session, course_id: int, course: Course) -> None:
        for table in (CourseCycleRow, CourseDoseRow, CourseResponseRow, CourseAdviceRow, CourseLabRow, CourseLabOverrideRow):
            session.execute(delete(table).where(table.course_id == course_id))
        session.flush()
        for c in course.cycles:
            session.add(
                CourseCycleRow(
                    course_id=course_id,
                    number=c.number,
                    start=c.start,
                    extended_to_28=c.extended_to_28,
                    extension_reason=c.extension_reason,
                    reduction_level=c.reduction_level,
                    omitted_days=_days_text(c.omitted_days),
                    delayed_days=_days_text(c.delayed_days),
                )
            )
        for d in course.doses:
            session.add(
                CourseDoseRow(
                    course_id=course_id,
                    cycle=d.cycle,
                    day=d.day,
                    given_on=d.given_on,
                    preparation_id=d.preparation_id,
                    mg_per_m2=d.mg_per_m2,
                    override_reason=d.override_reason,
                )
            )
        for seq, r in enumerate(sorted(course.responses, key=lambda r: r.assessed_on), start=1):
            session.add(CourseResponseRow(course_id=course_id, seq=seq, assessed_on=r.assessed_on, response=r.response, mrd_negative=r.mrd_negative))
        for index, a in enumerate(course.advice, start=1):
            seq = a.id or index
            a.id = seq
            session.add(
                CourseAdviceRow(
                    course_id=course_id,
                    seq=seq,
                    raised_on=a.raised_on,
                    advice_json=json.dumps(a.advice.to_dict(), sort_keys=True, ensure_ascii=False),
                    decision_json=_decision_json(a.decision),
                )
            )
        for number, lab in enumerate(course.labs, start=1):
            session.add(
                CourseLabRow(
                    course_id=course_id,
                    seq=lab.id or number,
                    kind=lab.kind,
                    taken_at=lab.taken_at,
                    values_json=json.dumps(lab.values, sort_keys=True, ensure_ascii=False),
                    recorded_by=lab.recorded_by,
                )
            )
        for o in course.lab_overrides:
            session.add(
                CourseLabOverrideRow(
                    course_id=course_id,
                    cycle=o.cycle,
                    day=o.day,
                    pharmacist=o.pharmacist,
                    reason=o.reason,
                    at=o.at,
                    missing_json=json.dumps(list(o.missing), ensure_ascii=False),
                )
            )

    @retried
    def add_course(self, course: Course, created_by: str, audit: AuditDraft) -> Course:
        try:
            with self._write() as session:
                if session.scalar(select(CourseRow.id).where(mrn_matches(CourseRow.mrn, course.mrn))) is not None:
                    raise DuplicateError(f"a course for MRN {course.mrn} already exists")
                row = CourseRow(mrn=course.mrn, version=1, created_at=audit.at, created_by=created_by, updated_at=audit.at)
                self._fill(row, course)
                session.add(row)
                session.flush()
                self._children(session, row.id, course)
                SqlRepository._append_audit(session, audit)
                course.id, course.version = row.id, row.version
        except IntegrityError as exc:
            # Only a taken MRN is "already exists"; any other constraint says what failed.
            if self.get_course(course.mrn) is not None:
                raise DuplicateError(f"a course for MRN {course.mrn} already exists") from None
            raise StorageError(f"the course for MRN {course.mrn} could not be stored: {exc.orig}; nothing was changed") from None
        return course

    @staticmethod
    def _last_change(session: Session, mrn: str) -> str:
        """'changed by NAME at TIME (station S)', from the course's newest audit entry, its MRN matched
        whatever its case (mrn_matches), as get_course finds the course: matched exactly, an MRN given in
        another case found no entry and read 'changed by someone else'."""
        from .models import AuditRow

        newest = select(AuditRow).where(mrn_matches(AuditRow.subject, mrn), AuditRow.action.like("course.%")).order_by(AuditRow.seq.desc()).limit(1)
        last = session.scalars(newest).first()
        if last is None:
            return "changed by someone else"
        return f"changed by {last.actor} at {last.at[:19]}Z" + (f" at station {last.station}" if last.station else "")

    def last_change(self, mrn: str) -> str:
        """'changed by NAME at TIME (station S)' of the course's newest audit entry, for a refusal."""
        with self._read() as session:
            return self._last_change(session, mrn)

    @retried
    def save_course(self, course: Course, audit: list[AuditDraft]) -> Course:
        """Write the course if nobody changed it since it was read (course.version), with its audit entries."""
        with self._write() as session:
            row = session.scalar(select(CourseRow).where(CourseRow.mrn == course.mrn).with_for_update())
            if row is None:
                raise ConcurrentChange(f"the course for MRN {course.mrn} is no longer stored")
            if row.version != course.version:
                raise ConcurrentChange(f"the course for MRN {course.mrn} was {self._last_change(session, course.mrn)}; reload")
            self._fill(row, course)
            row.version += 1
            row.updated_at = audit[0].at if audit else row.updated_at
            self._children(session, row.id, course)
            for draft in audit:
                SqlRepository._append_audit(session, draft)
            course.version = row.version
        return course
