"""Users, preparations, vials, events, settings and the hash-chained audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("name_key", sa.String(80), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name_key", name="uq_users_name_key"),
    )
    op.create_table(
        "preparations",
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("patient_name", sa.String(200), nullable=False),
        sa.Column("mrn", sa.String(40), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("order_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("monograph_id", sa.String(80), nullable=False),
        sa.Column("monograph_revision", sa.String(40), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_preparations"),
    )
    op.create_index("ix_preparations_mrn", "preparations", ["mrn"])
    op.create_index("ix_preparations_active", "preparations", ["active"])
    op.create_table(
        "vials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("preparation_id", sa.String(20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("lot", sa.String(40), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("gtin", sa.String(20), nullable=True),
        sa.Column("ndc", sa.String(20), nullable=True),
        sa.Column("serial", sa.String(40), nullable=True),
        sa.Column("added_at", sa.String(32), nullable=False),
        sa.Column("added_by", sa.String(80), nullable=False),
        sa.ForeignKeyConstraint(["preparation_id"], ["preparations.id"], name="fk_vials_preparation_id_preparations"),
        sa.PrimaryKeyConstraint("id", name="pk_vials"),
        sa.UniqueConstraint("preparation_id", "position", name="uq_vials_preparation_id"),
    )
    op.create_index("ix_vials_preparation", "vials", ["preparation_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("preparation_id", sa.String(20), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("user_name", sa.String(80), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["preparation_id"], ["preparations.id"], name="fk_events_preparation_id_preparations"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("preparation_id", "seq", name="uq_events_preparation_id"),
    )
    op.create_index("ix_events_preparation", "events", ["preparation_id"])
    op.create_table(
        "settings",
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("updated_by", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("subject", sa.String(120), nullable=False),
        sa.Column("before_json", sa.Text(), nullable=False),
        sa.Column("after_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )


def downgrade() -> None:
    for table in ("audit_head", "audit_log", "settings", "events", "vials", "preparations", "users"):
        op.drop_table(table)
