"""Labs and checks before every dose (issue 16): lab results, pharmacists' overrides of missing labs,
the course-start checklist, and the patient's date of birth on the course.

Revision ID: 0007_labs
Revises: 0006_stations
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_labs"
down_revision = "0006_stations"
branch_labels = None
depends_on = None


def _course_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=f"fk_{table}_course_id_courses")


def upgrade() -> None:
    op.create_table(
        "course_labs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("taken_at", sa.String(32), nullable=False),
        sa.Column("values_json", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(80), nullable=False),
        _course_fk("course_labs"),
        sa.PrimaryKeyConstraint("id", name="pk_course_labs"),
        sa.UniqueConstraint("course_id", "seq", name="uq_course_labs_course_id"),
    )
    op.create_index("ix_course_labs_course_id", "course_labs", ["course_id"])
    op.create_table(
        "course_lab_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("pharmacist", sa.String(80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("missing_json", sa.Text(), nullable=False),
        _course_fk("course_lab_overrides"),
        sa.PrimaryKeyConstraint("id", name="pk_course_lab_overrides"),
    )
    op.create_index("ix_course_lab_overrides_course_id", "course_lab_overrides", ["course_id"])
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("date_of_birth", sa.Date(), nullable=True))
        batch.add_column(sa.Column("child_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("checklist_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("checklist_json")
        batch.drop_column("child_reason")
        batch.drop_column("date_of_birth")
    for table in ("course_lab_overrides", "course_labs"):
        op.drop_index(f"ix_{table}_course_id", table_name=table)
        op.drop_table(table)
