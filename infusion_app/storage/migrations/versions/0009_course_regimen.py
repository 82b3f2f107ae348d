"""A course of a drug dosed by regimen (MYLOTARG) keeps the regimen picked when it was opened
(issue 17): its dose days, cycles and cap are that regimen's. Courses stored before were all
BESPONSA's, whose dose no regimen decides, so existing rows get "" (no regimen).

Revision ID: 0009_course_regimen
Revises: 0008_drug
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_course_regimen"
down_revision = "0008_drug"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("regimen", sa.String(80), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("regimen")
