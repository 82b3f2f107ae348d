"""A vial's expiry time (GS1 AI 7003, or a time typed from the carton) is kept with the vial as its
UTC instant, so a vial that expires at 10:00 is refused at every later step from 10:00 on, not only
when it was scanned. The date column stays as it was. Vials stored before kept no time: they get
NULL, which means the date alone, the last day of use (what the program judged them by before).

Revision ID: 0010_vial_expiry_time
Revises: 0009_course_regimen
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_vial_expiry_time"
down_revision = "0009_course_regimen"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vials") as batch:
        # UTCDateTime's text form (storage.models), as every stored instant.
        batch.add_column(sa.Column("expires_at", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vials") as batch:
        batch.drop_column("expires_at")
