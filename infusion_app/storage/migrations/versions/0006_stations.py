"""Several stations on one database: the audit head row, an append-only audit log, the station of each entry and event.

- The audit chain's head (id 1) exists from the migration on, so every writer locks that one row
  FOR UPDATE in its transaction; on a server, two first writers could otherwise both insert it.
- audit_log and events record the workstation (host name or the site's station name).
- The audit log refuses UPDATE and DELETE for any role, by trigger (SQLite and PostgreSQL); on
  PostgreSQL TRUNCATE too. The least-privilege application role (README, For IT) has no UPDATE or
  DELETE privilege on it either.

Revision ID: 0006_stations
Revises: 0004_outbox
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_stations"
down_revision = "0004_outbox"
branch_labels = None
depends_on = None

CHANNEL = "infusion_prep_changes"
APPEND_ONLY = "the audit log is append-only: entries are never changed or deleted"


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("audit_log", sa.Column("station", sa.String(80), nullable=False, server_default=""))
    op.add_column("events", sa.Column("station", sa.String(80), nullable=False, server_default=""))
    if bind.execute(sa.text("SELECT count(*) FROM audit_head WHERE id = 1")).scalar() == 0:
        # Chains on the log as it stands (a database written before the head row existed has none).
        last = bind.execute(sa.text("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")).first()
        seq, digest = (int(last[0]), str(last[1])) if last else (0, "0" * 64)
        bind.execute(sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :seq, :hash)"), {"seq": seq, "hash": digest})
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END")
    elif bind.dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'insufficient_privilege';
            END $$""")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()")
        op.execute("CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()")
        # Live updates: every committed entry wakes the stations listening (storage/changes_listener.py);
        # PostgreSQL delivers a notification only at commit, and folds duplicates within one.
        op.execute(f"""
            CREATE FUNCTION audit_log_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{CHANNEL}', '');
                RETURN NULL;
            END $$""")
        op.execute("CREATE TRIGGER audit_log_notify AFTER INSERT ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_notify()")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_notify ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_notify()")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_change()")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("station")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("station")
