"""The treatment course tables (migration 0002_course), on the same `Base` as the preparations.

One row per patient course (by MRN) with its scalar state and a version counter for optimistic
concurrency; child rows for cycles, doses given (linked to preparation ids), response
assessments and dose-modification advice with the clinician's decision.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime


class CourseRow(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mrn: Mapped[str] = mapped_column(String(40), unique=True)
    hsct_planned: Mapped[bool] = mapped_column(Boolean)
    is_child: Mapped[bool] = mapped_column(Boolean)
    blasts_per_mm3: Mapped[float | None] = mapped_column(Float, nullable=True)
    blasts_measured_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    dosing_weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    dosing_weight_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    latest_weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    latest_weight_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    reduction_level: Mapped[int] = mapped_column(Integer, default=0)
    discontinued_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    discontinued_reason: Mapped[str] = mapped_column(Text, default="")
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)  # 0007_labs
    child_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    checklist_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    monograph_id: Mapped[str] = mapped_column(String(80))  # 0008_drug: the course's drug
    regimen: Mapped[str] = mapped_column(String(80), default="")  # 0009_course_regimen: "" for a drug without regimens
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CourseCycleRow(Base):
    __tablename__ = "course_cycles"
    __table_args__ = (UniqueConstraint("course_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    start: Mapped[date] = mapped_column(Date)
    extended_to_28: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    reduction_level: Mapped[int] = mapped_column(Integer, default=0)
    omitted_days: Mapped[str] = mapped_column(String(40), default="")  # "8,15"
    delayed_days: Mapped[str] = mapped_column(String(40), default="")


class CourseDoseRow(Base):
    __tablename__ = "course_doses"
    __table_args__ = (UniqueConstraint("course_id", "cycle", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    cycle: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    given_on: Mapped[date] = mapped_column(Date)
    preparation_id: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    mg_per_m2: Mapped[float | None] = mapped_column(Float, nullable=True)
    override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class CourseResponseRow(Base):
    __tablename__ = "course_responses"
    __table_args__ = (UniqueConstraint("course_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    assessed_on: Mapped[date] = mapped_column(Date)
    response: Mapped[str] = mapped_column(String(10))
    mrd_negative: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class CourseAdviceRow(Base):
    __tablename__ = "course_advice"
    __table_args__ = (UniqueConstraint("course_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # the advice number people type: `course decide MRN 3`
    raised_on: Mapped[date] = mapped_column(Date)
    advice_json: Mapped[str] = mapped_column(Text)
    decision_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class CourseLabRow(Base):
    """A lab result or a check before a dose (migration 0007_labs)."""

    __tablename__ = "course_labs"
    __table_args__ = (UniqueConstraint("course_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    values_json: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(80))


class CourseLabOverrideRow(Base):
    """A pharmacist's override of missing labs for one dose, with the reason (migration 0007_labs)."""

    __tablename__ = "course_lab_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    cycle: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    pharmacist: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    missing_json: Mapped[str] = mapped_column(Text)
