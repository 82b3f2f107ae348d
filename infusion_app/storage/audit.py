"""The audit chain: canonical JSON, entry hashes, and the walk that finds the first broken entry.

hash(entry) = sha256(previous hash + canonical JSON of [seq, at, actor, action, subject, before, after]),
where `before` and `after` are the stored canonical JSON texts. The first entry chains to GENESIS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from ..domain.ports import AuditCheck, AuditEntry

GENESIS = "0" * 64


def _plain(value: Any) -> Any:
    """JSON-able form of what services put in before/after: dataclass dicts, instants, enums."""
    if isinstance(value, datetime):
        from .models import utc_text

        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, float) and value != value:
        raise ValueError("NaN cannot be audited")
    return value


def canonical_json(value: Any) -> str:
    """One text for one value: sorted keys, no spaces, UTF-8 kept, instants in UTC."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str, before: str, after: str) -> str:
    payload = json.dumps([seq, at, actor, action, subject, before, after], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def verify_chain(entries: Iterable[AuditEntry], head: tuple[int, str] | None) -> AuditCheck:
    """Walk the entries in seq order. An edit, a deletion, a reordering or an insertion breaks it.

    `head` is the (seq, hash) stored beside the log; it catches the deletion of the newest entries,
    which leaves an otherwise valid shorter chain.
    """
    previous = GENESIS
    count = 0
    for expected_seq, entry in enumerate(entries, start=1):
        count = expected_seq
        if entry.seq != expected_seq:
            return AuditCheck(count, entry.seq, f"entry {entry.seq} found where entry {expected_seq} was expected (an entry was deleted or inserted)")
        if entry.prev_hash != previous:
            return AuditCheck(count, entry.seq, f"entry {entry.seq} does not chain to the entry before it (deleted, inserted or reordered)")
        recomputed = entry_hash(previous, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.before, entry.after)
        if recomputed != entry.hash:
            return AuditCheck(count, entry.seq, f"entry {entry.seq} was altered after it was written (its hash does not match its content)")
        previous = entry.hash
    head_seq, head_hash = head if head is not None else (0, GENESIS)
    if head_seq != count or head_hash != previous:
        first_missing = count + 1 if head_seq > count else max(head_seq, 1)
        return AuditCheck(count, first_missing, f"the log ends at entry {count} but its recorded head is entry {head_seq} (entries were deleted or added behind its back)")
    return AuditCheck(count)
