"""Outbox persistence: enqueue, list what is due, mark an attempt (one transaction each)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from ..domain.ports import AuditDraft
from .outbox_models import OutboxRow
from .repository import SqlRepository, TransactionScopes, retried


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    preparation_id: str
    format: str
    what: str
    destination: str
    payload: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None


def _message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        row.id, row.preparation_id, row.format, row.what, row.destination, row.payload, row.attempts, row.next_attempt_at, row.last_error, row.sent_at
    )


class OutboxRepository(TransactionScopes):
    @retried
    def enqueue(self, prep_id: str, fmt: str, what: str, destination: str, payload: str, now: datetime, audit: AuditDraft) -> int:
        with self._write() as session:
            row = OutboxRow(
                preparation_id=prep_id, format=fmt, what=what, destination=destination, payload=payload, created_at=now, attempts=0, next_attempt_at=now
            )
            session.add(row)
            session.flush()
            SqlRepository._append_audit(session, audit)
            return row.id

    def due(self, now: datetime) -> list[OutboxMessage]:
        with self._read() as session:
            rows = session.scalars(select(OutboxRow).where(OutboxRow.sent_at.is_(None), OutboxRow.next_attempt_at <= now).order_by(OutboxRow.id))
            return [_message(r) for r in rows]

    def pending(self) -> list[OutboxMessage]:
        with self._read() as session:
            return [_message(r) for r in session.scalars(select(OutboxRow).where(OutboxRow.sent_at.is_(None)).order_by(OutboxRow.id))]

    def pending_count(self) -> int:
        with self._read() as session:
            return int(session.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None))) or 0)

    @retried
    def record_attempt(self, message_id: int, now: datetime, error: str | None, retry_at: datetime | None, audit: AuditDraft) -> None:
        with self._write() as session:
            row = session.get(OutboxRow, message_id)
            row.attempts += 1
            row.last_error = error
            if error is None:
                row.sent_at = now
            else:
                row.next_attempt_at = retry_at or now
            SqlRepository._append_audit(session, audit)
