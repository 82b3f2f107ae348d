"""What the application needs from storage, as a small Protocol (implemented in infusion_app/storage).

Every writing method commits ONE transaction that holds both the change and its audit entry,
and returns only after the commit: when it returns, the change survives a crash; when it raises,
nothing of it was stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from collections.abc import Callable
from typing import Any, Protocol

from .records import Event, Patient, Preparation, User, VialRecord


@dataclass(frozen=True)
class AuditDraft:
    """An audit entry before the repository numbers, chains and stores it."""

    at: datetime  # UTC
    actor: str  # a user name, or "local-admin (os user X)" for the command line's user management
    action: str  # e.g. "event.recorded", "user.added", "setting.changed"
    subject: str  # what it is about: a preparation id, a user name, a setting key
    before: Any = None  # JSON-able
    after: Any = None  # JSON-able


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str  # UTC, ISO 8601, exactly as hashed
    actor: str
    action: str
    subject: str
    before: str  # canonical JSON text, exactly as hashed
    after: str
    prev_hash: str
    hash: str
    station: str = ""  # the workstation it was written at (hashed with the entry when given)


@dataclass(frozen=True)
class AuditCheck:
    """The result of walking the audit chain. `first_broken` is None when the chain is intact."""

    entries: int
    first_broken: int | None = None  # the seq of the first entry that does not verify
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.first_broken is None


class ConcurrentChange(RuntimeError):
    """Another writer appended to the same preparation between our read and our write."""


class Repository(Protocol):
    # users
    def add_user(self, user: User, pin_hash: str, audit: AuditDraft, only_if_empty: bool = False) -> User: ...
    def get_user(self, name: str) -> User | None: ...
    def get_pin_hash(self, name: str) -> str | None: ...
    def list_users(self, include_inactive: bool = False) -> list[User]: ...
    def update_user(self, name: str, *, active: bool | None = None, pin_hash: str | None = None, audit: AuditDraft) -> User: ...
    def count_users(self) -> int: ...
    # wrong PINs per typed name, shared by every process
    def sign_in_failures(self, key: str) -> tuple[int, datetime] | None: ...
    def record_sign_in_failure(self, key: str, at: datetime, audit: AuditDraft) -> int: ...
    def record_locked_out_try(self, key: str, lockout_since: datetime, audit: Callable[[int], AuditDraft]) -> int: ...
    def clear_sign_in_failures(self, key: str) -> None: ...

    # preparations
    def add_preparation(self, prep: Preparation, audit: AuditDraft, check: Callable[[], None] | None = None) -> None: ...
    def preparation_id_exists(self, prep_id: str) -> bool: ...
    def get_preparation(self, prep_id: str) -> Preparation | None: ...
    def list_preparations(self, active_only: bool = False, limit: int | None = None, unreadable: dict[str, str] | None = None) -> list[Preparation]: ...
    def get_preparations(self, prep_ids: list[str], unreadable: dict[str, str] | None = None) -> list[Preparation]: ...
    def find_patient(self, mrn: str) -> Patient | None: ...
    def preparations_with_vial(self, serial: str) -> list[str]: ...
    def scanned_vials_of_lot(self, lot: str) -> list[VialRecord]: ...
    def near_misses(self, subject: str, since: datetime | None = None) -> list[dict[str, Any]]: ...
    def add_vial(self, prep_id: str, vial: VialRecord, audit: AuditDraft, check: Callable[[], None] | None = None) -> None: ...

    def remove_vial(self, prep_id: str, number: int, audit: AuditDraft, check: Callable[[], None] | None = None) -> None: ...
    def append_events(
        self,
        prep_id: str,
        events: list[Event],
        expected_count: int,
        active: bool,
        audit: list[AuditDraft],
        expected_vials: list[VialRecord] | None = None,
    ) -> list[Event]:
        """Append events (in order) if the preparation still has `expected_count` events, else ConcurrentChange."""
        ...

    def latest_instant(self) -> datetime | None:
        """The latest instant stored anywhere (event recorded_at, audit at): a floor for the clock."""
        ...

    # settings
    def get_settings(self) -> dict[str, Any]: ...
    def set_setting(self, key: str, value: Any, audit: AuditDraft, expected: tuple[str, datetime] | None | bool = False) -> None:
        """`expected`: the (who, when) the caller read (None: not stored yet); another change since is
        ConcurrentChange. False: no check (a change typed as a whole)."""
        ...

    # audit
    def append_audit(self, audit: AuditDraft) -> AuditEntry: ...
    def audit_entries(self) -> list[AuditEntry]: ...
    def audit_head_seq(self) -> int: ...
    def audit_subjects_since(self, seq: int) -> tuple[int, list[tuple[str, str]]]:
        """(the newest entry's number, [(action, subject)] of the entries after `seq`, in order)."""
        ...

    def verify_audit(self) -> AuditCheck: ...
    def record_restore(self, restore: dict[str, Any]) -> None:
        """Keep the record of a restored backup (what was lost, by whom, why) beside the audit anchor log."""
        ...
