"""Wrong-PIN counts per name, kept in the database so a lockout holds across processes and restarts.

Revision ID: 0003_sign_in_lockout
Revises: 0002_course
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_sign_in_lockout"
down_revision = "0002_course"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("name_key", sa.String(80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("name_key", name="pk_sign_in_failures"),
    )


def downgrade() -> None:
    op.drop_table("sign_in_failures")
