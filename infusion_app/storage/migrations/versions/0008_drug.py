"""The course carries its drug (issue 17): a course is judged by its own drug's monograph, and an
order for another drug is not linked to it. Courses stored before were all BESPONSA's (course new
kept courses for no other drug), so existing rows get its monograph id.

Revision ID: 0008_drug
Revises: 0007_labs
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_drug"
down_revision = "0007_labs"
branch_labels = None
depends_on = None

# The one drug whose courses existed before this revision (the monograph file's id).
EXISTING_COURSES_DRUG = "inotuzumab-ozogamicin"


def upgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("monograph_id", sa.String(80), nullable=False, server_default=EXISTING_COURSES_DRUG))


def downgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("monograph_id")
