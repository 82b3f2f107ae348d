"""Treatment courses: cycles, doses given, response assessments, dose-modification advice and decisions.

Revision ID: 0002_course
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_course"
down_revision = "0001"
branch_labels = None
depends_on = None


def _course_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=f"fk_{table}_course_id_courses")


def upgrade() -> None:
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mrn", sa.String(40), nullable=False),
        sa.Column("hsct_planned", sa.Boolean(), nullable=False),
        sa.Column("is_child", sa.Boolean(), nullable=False),
        sa.Column("blasts_per_mm3", sa.Float(), nullable=True),
        sa.Column("blasts_measured_on", sa.Date(), nullable=True),
        sa.Column("dosing_weight_kg", sa.Float(), nullable=True),
        sa.Column("dosing_weight_on", sa.Date(), nullable=True),
        sa.Column("latest_weight_kg", sa.Float(), nullable=True),
        sa.Column("latest_weight_on", sa.Date(), nullable=True),
        sa.Column("reduction_level", sa.Integer(), nullable=False),
        sa.Column("discontinued_on", sa.Date(), nullable=True),
        sa.Column("discontinued_reason", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_courses"),
        sa.UniqueConstraint("mrn", name="uq_courses_mrn"),
    )
    op.create_table(
        "course_cycles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("extended_to_28", sa.Boolean(), nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=False),
        sa.Column("reduction_level", sa.Integer(), nullable=False),
        sa.Column("omitted_days", sa.String(40), nullable=False),
        sa.Column("delayed_days", sa.String(40), nullable=False),
        _course_fk("course_cycles"),
        sa.PrimaryKeyConstraint("id", name="pk_course_cycles"),
        sa.UniqueConstraint("course_id", "number", name="uq_course_cycles_course_id"),
    )
    op.create_index("ix_course_cycles_course_id", "course_cycles", ["course_id"])
    op.create_table(
        "course_doses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("preparation_id", sa.String(20), nullable=True),
        sa.Column("mg_per_m2", sa.Float(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        _course_fk("course_doses"),
        sa.PrimaryKeyConstraint("id", name="pk_course_doses"),
        sa.UniqueConstraint("course_id", "cycle", "day", name="uq_course_doses_course_id"),
    )
    op.create_index("ix_course_doses_course_id", "course_doses", ["course_id"])
    op.create_index("ix_course_doses_preparation_id", "course_doses", ["preparation_id"])
    op.create_table(
        "course_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("response", sa.String(10), nullable=False),
        sa.Column("mrd_negative", sa.Boolean(), nullable=True),
        _course_fk("course_responses"),
        sa.PrimaryKeyConstraint("id", name="pk_course_responses"),
        sa.UniqueConstraint("course_id", "seq", name="uq_course_responses_course_id"),
    )
    op.create_index("ix_course_responses_course_id", "course_responses", ["course_id"])
    op.create_table(
        "course_advice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("advice_json", sa.Text(), nullable=False),
        sa.Column("decision_json", sa.Text(), nullable=True),
        _course_fk("course_advice"),
        sa.PrimaryKeyConstraint("id", name="pk_course_advice"),
        sa.UniqueConstraint("course_id", "seq", name="uq_course_advice_course_id"),
    )
    op.create_index("ix_course_advice_course_id", "course_advice", ["course_id"])


def downgrade() -> None:
    for table in ("course_advice", "course_responses", "course_doses", "course_cycles"):
        op.drop_index(f"ix_{table}_course_id", table_name=table)
    op.drop_index("ix_course_doses_preparation_id", table_name="course_doses")
    for table in ("course_advice", "course_responses", "course_doses", "course_cycles", "courses"):
        op.drop_table(table)
