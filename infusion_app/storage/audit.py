"""The audit chain: canonical JSON, entry hashes, and the walk that finds the first broken entry.

hash(entry) = sha256(previous hash + canonical JSON of [seq, at, actor, action, subject, before, after]),
where `before` and `after` are the stored canonical JSON texts, and the station (the workstation
that wrote it) appended to that list when there is one, so entries written before stations were
recorded keep their hashes. The first entry chains to GENESIS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
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


def entry_hash(
    prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str, before: str, after: str, key: bytes | None = None, station: str = ""
) -> str:
    """SHA-256 of the entry chained to the previous hash; an HMAC under the site secret when `key`."""
    fields: list = [seq, at, actor, action, subject, before, after]
    if station:
        fields.append(station)
    payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    message = (prev_hash + payload).encode("utf-8")
    if key is not None:
        return hmac.new(key, message, hashlib.sha256).hexdigest()
    return hashlib.sha256(message).hexdigest()


def verify_chain(entries: Iterable[AuditEntry], head: tuple[int, str] | None, seal=None) -> AuditCheck:
    """Walk the entries in seq order. An edit, a deletion, a reordering or an insertion breaks it.

    `head` is the (seq, hash) stored beside the log; it catches the deletion of the newest entries,
    which leaves an otherwise valid shorter chain.
    """
    previous = GENESIS
    count = 0
    verified_keyed = False
    entries = list(entries)
    for expected_seq, entry in enumerate(entries, start=1):
        count = expected_seq
        if entry.seq != expected_seq:
            return AuditCheck(count, entry.seq, f"entry {entry.seq} found where entry {expected_seq} was expected (an entry was deleted or inserted)")
        if entry.prev_hash != previous:
            return AuditCheck(count, entry.seq, f"entry {entry.seq} does not chain to the entry before it (deleted, inserted or reordered)")
        key = seal.key if seal is not None and seal.is_keyed(entry.seq) else None
        recomputed = entry_hash(previous, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.before, entry.after, key, entry.station)
        if recomputed != entry.hash:
            if key is not None and not verified_keyed and _none_verify(entries, expected_seq, key):
                # Not one keyed entry verifies, though each chains to the one before: the entries
                # were written under another key. Saying "entry N was altered" would send IT after
                # a forgery when a station simply holds a wrong copy of the site's key.
                return AuditCheck(count, entry.seq, wrong_key_text(seal))
            return AuditCheck(count, entry.seq, f"entry {entry.seq} was altered after it was written (its hash does not match its content)")
        verified_keyed = verified_keyed or key is not None
        previous = entry.hash
    head_seq, head_hash = head if head is not None else (0, GENESIS)
    if head_seq != count or head_hash != previous:
        first_missing = count + 1 if head_seq > count else max(head_seq, 1)
        return AuditCheck(
            count, first_missing, f"the log ends at entry {count} but its recorded head is entry {head_seq} (entries were deleted or added behind its back)"
        )
    return AuditCheck(count)


WRONG_KEY = "this station's audit key"  # how a reason for another key begins (the CLI words its verdict by it)


def wrong_key_text(seal) -> str:
    return (
        f"{WRONG_KEY} ({seal.key_path}, key id {seal.key_id}) is not the key the audit entries were written with: "
        "no entry verifies under it, so nothing can be vouched for here (not a broken chain). "
        "Copy the site's audit.key from a working station (owner-only; README, For IT) or set INFUSION_PREP_AUDIT_KEY_FILE"
    )


def _none_verify(entries: list[AuditEntry], start: int, key: bytes) -> bool:
    """No entry from number `start` on verifies under `key` (entries before it are unkeyed)."""
    for entry in entries[start - 1 :]:
        if (
            entry_hash(entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.before, entry.after, key, entry.station)
            == entry.hash
        ):
            return False
    return True


def check_anchors(entries: list[AuditEntry], seal) -> AuditCheck:
    """The log against every head written to the anchor log outside the database.

    A log shorter than an anchor was truncated, wiped or replaced by an older copy; an anchored
    entry with another hash was rewritten. A log longer than its newest anchor is normal after a
    crash between a commit and its anchor line (the keyed chain still vouches for the entries).
    """
    count = len(entries)
    anchors, problem = seal.anchors()
    if problem is not None:
        return AuditCheck(count, min(count + 1, max(seal.keyed_from, 1)), problem)
    by_seq = {entry.seq: entry.hash for entry in entries}
    for anchor in sorted(anchors, key=lambda a: a.count):
        if anchor.count > count:
            return AuditCheck(
                count,
                count + 1,
                f"the log ends at entry {count} but the anchor log outside the database recorded "
                f"{anchor.count} entries{' at ' + anchor.at if anchor.at else ''} (truncated, wiped or an older copy put back)",
            )
        if anchor.count and by_seq.get(anchor.count) != anchor.head:
            return AuditCheck(
                count, anchor.count, f"entry {anchor.count} differs from the head recorded in the anchor log outside the database (the log was rewritten)"
            )
    return AuditCheck(count)


def rewound_anchor(entries: list[AuditEntry], seal):
    """The newest anchor the log falls short of, when the log is otherwise exactly what was
    anchored up to its own end (an older copy put back); None for any other disagreement."""
    anchors, problem = seal.anchors()
    if problem is not None:
        return None
    by_seq = {entry.seq: entry.hash for entry in entries}
    count = len(entries)
    if any(a.count and a.count <= count and by_seq.get(a.count) != a.head for a in anchors):
        return None  # an anchored entry the copy holds differently: rewritten, not restored
    beyond = [a for a in anchors if a.count > count]
    return max(beyond, key=lambda a: a.count) if beyond else None


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class StoredState:
    """What the tables hold now, as plain values, for comparison with what the log says happened."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # name key -> name, role, active, pin_fingerprint
    settings: dict[str, Any] = field(default_factory=dict)
    preparations: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> patient, order_digest, created_by
    vials: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)  # (prep id, seq) -> type, at, recorded_at, user, details
    # Kept beside the data above, replayed since issue 15 (item 11):
    preparation_rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> created_at, monograph_revision, active, event_count
    vial_added_by: dict[str, list[str]] = field(default_factory=dict)  # prep id -> who added each vial, in order
    setting_updated_by: dict[str, str] = field(default_factory=dict)
    courses: dict[str, Any] | None = None  # mrn -> the course as stored, as plain JSON values without storage ids (None: not compared)
    # Replayed since the re-walk of issue 15 (items 4 and 11): the columns written from the entry itself.
    user_created_at: dict[str, datetime] = field(default_factory=dict)  # name key -> created_at
    setting_updated_at: dict[str, datetime] = field(default_factory=dict)
    vial_rows: dict[str, list[tuple[int, datetime]]] = field(default_factory=dict)  # prep id -> (position, added_at), by position
    event_stations: dict[tuple[str, int], str] = field(default_factory=dict)
    course_rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # mrn -> created_at, created_by, updated_at, version


def _instant(text: Any) -> Any:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return text


def _same_event(logged: dict[str, Any], stored: dict[str, Any]) -> bool:
    return (
        logged.get("type") == stored["type"]
        and _instant(logged.get("at")) == stored["at"]
        and _instant(logged.get("recorded_at")) == stored["recorded_at"]
        and logged.get("user") == stored["user"]
        and logged.get("details") == stored["details"]
    )


# A vial logged before migration 0010 has no "expires_at": read as None, the NULL 0010 gave its row.
_VIAL_FIELDS = ("lot", "expiry", "expires_at", "gtin", "ndc", "serial")
# The key a stored course that cannot be read is kept under, with why, in StoredState.courses.
UNREADABLE = "\x1funreadable"


# Course fields a migration added after courses were first logged, with the value that migration gave
# the rows stored before it: a snapshot logged before the field existed is replayed with that value,
# so an untouched course from before the upgrade still matches its log.
@cache
def course_fields_added() -> dict[str, str]:
    """The fields and the values their migrations gave (read from the migration itself, which alone
    knows which drug the courses stored before it were: no drug is named here). Read when an audit
    is verified, not when the program starts."""
    import importlib

    drug = importlib.import_module("infusion_app.storage.migrations.versions.0008_drug")
    return {
        "monograph_id": str(drug.EXISTING_COURSES_DRUG),  # 0008_drug
        "regimen": "",  # 0009_course_regimen
    }


def without_ids(value: Any) -> Any:
    """A course snapshot without the row ids storage assigns (an entry is written before them)."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in ("id", "version")}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def cross_check(entries: list[AuditEntry], state: StoredState) -> AuditCheck:
    """Replay the (already verified) log and compare it with the tables.

    Catches changes made to the data tables without the program: a role raised, a PIN hash
    swapped, an event deleted or edited, a dose in a stored order changed. Returns the audit
    entry that no longer matches the data (or, for data with no entry at all, the next number).
    """
    count = len(entries)
    users: dict[str, tuple[dict[str, Any], int]] = {}
    settings: dict[str, tuple[Any, int]] = {}
    preparations: dict[str, tuple[dict[str, Any], int]] = {}
    vials: dict[str, list[tuple[dict[str, Any], int]]] = {}
    events: dict[tuple[str, int], tuple[dict[str, Any], int]] = {}
    created: dict[str, AuditEntry] = {}
    vial_actors: dict[str, list[str]] = {}
    setting_actors: dict[str, tuple[str, int]] = {}
    prep_active: dict[str, tuple[bool, int]] = {}
    courses: dict[str, tuple[str, int]] = {}
    user_added: dict[str, AuditEntry] = {}
    setting_entries: dict[str, AuditEntry] = {}
    vial_rows: dict[str, list[tuple[int, str]]] = {}  # prep id -> (position, the entry's instant) of each vial kept
    event_entries: dict[tuple[str, int], AuditEntry] = {}
    course_entries: dict[str, list[AuditEntry]] = {}
    for entry in entries:
        try:
            after = json.loads(entry.after)
        except (TypeError, ValueError):
            return AuditCheck(count, entry.seq, f"entry {entry.seq} holds malformed JSON")
        if not isinstance(after, dict):
            after = {}
        action, subject = entry.action, entry.subject
        key = " ".join(subject.split()).casefold()
        if action == "user.added":
            users[key] = (dict(after), entry.seq)
            user_added[key] = entry
        elif action in ("user.activated", "user.deactivated", "user.pin_changed") and key in users:
            users[key] = ({**users[key][0], **after}, entry.seq)
        elif action == "setting.changed":
            for name, value in after.items():
                settings[name] = (value, entry.seq)
                setting_actors[name] = (entry.actor, entry.seq)
                setting_entries[name] = entry
        elif action == "preparation.created":
            preparations[subject] = (after, entry.seq)
            vials[subject] = [({k: v.get(k) for k in _VIAL_FIELDS} if isinstance(v, dict) else v, entry.seq) for v in after.get("vials", [])]
            created[subject] = entry
            vial_actors[subject] = [entry.actor for _ in after.get("vials", [])]
            vial_rows[subject] = [(position, entry.at) for position, _ in enumerate(after.get("vials", []), start=1)]
        elif action == "vial.added":
            # how it was entered (scanned, typed and confirmed) is in the log only, not in the table
            vials.setdefault(subject, []).append(({k: after.get(k) for k in _VIAL_FIELDS}, entry.seq))
            vial_actors.setdefault(subject, []).append(entry.actor)
            # storage numbers a vial one past the highest position still stored (removed ones leave gaps)
            kept_rows = vial_rows.setdefault(subject, [])
            kept_rows.append((max((p for p, _ in kept_rows), default=0) + 1, entry.at))
        elif action == "vial.removed":
            kept = vials.get(subject, [])
            index = int(after.get("number", 0)) - 1
            if 0 <= index < len(kept):
                del kept[index]
                actors = vial_actors.get(subject, [])
                if 0 <= index < len(actors):
                    del actors[index]
                kept_rows = vial_rows.get(subject, [])
                if 0 <= index < len(kept_rows):
                    del kept_rows[index]
        elif action.startswith("event.") or action in ("override", "alarm.acknowledged"):
            events[(subject, int(after.get("seq", 0)))] = (after, entry.seq)
            event_entries[(subject, int(after.get("seq", 0)))] = entry
            if "active" in after:
                prep_active[subject] = (bool(after["active"]), entry.seq)
        elif action.startswith("course."):
            logged = {**course_fields_added(), **after} if isinstance(after, dict) else after
            courses[subject] = (without_ids(logged), entry.seq)
            course_entries.setdefault(subject, []).append(entry)

    problems: list[tuple[int, str]] = []
    for key, row in state.users.items():
        logged = users.get(key)
        if logged is None:
            problems.append((count + 1, f"user {row['name']} is stored but was never added through the program"))
            continue
        for attribute in ("role", "active", "pin_fingerprint"):
            if attribute in logged[0] and logged[0][attribute] != row[attribute]:
                problems.append((logged[1], f"user {row['name']}: stored {attribute} differs from the audit log"))
    for key, (logged, seq) in users.items():
        if key not in state.users:
            problems.append((seq, f"user {logged.get('name', key)} was deleted from the database"))
    for name, value in state.settings.items():
        if name not in settings or settings[name][0] != value:
            problems.append((settings.get(name, (None, count + 1))[1], f"setting {name} differs from the audit log"))
    for prep_id, row in state.preparations.items():
        logged = preparations.get(prep_id)
        if logged is None:
            problems.append((count + 1, f"preparation {prep_id} is stored but was never created through the program"))
            continue
        after, seq = logged
        if any(after.get(part) != row[part] for part in ("patient", "order_digest", "created_by")):
            problems.append((seq, f"preparation {prep_id}: stored patient or order differs from the audit log"))
        expected_vials = [v for v, _ in vials.get(prep_id, [])]
        if expected_vials != state.vials.get(prep_id, []):
            first = vials.get(prep_id, [(None, seq)])[0][1]
            problems.append((first, f"preparation {prep_id}: stored vials differ from the audit log"))
    for prep_id, row in state.preparation_rows.items():
        entry = created.get(prep_id)
        if entry is None:
            continue  # reported above
        logged_after = preparations[prep_id][0]
        revision = (logged_after.get("monograph") or {}).get("revision")
        if _instant(entry.at) != row["created_at"]:
            problems.append((entry.seq, f"preparation {prep_id}: stored creation time differs from the audit log"))
        if revision is not None and revision != row["monograph_revision"]:
            problems.append((entry.seq, f"preparation {prep_id}: stored monograph revision differs from the audit log"))
        drug = (logged_after.get("monograph") or {}).get("id")
        if drug is not None and drug != row.get("monograph_id", drug):
            problems.append((entry.seq, f"preparation {prep_id}: stored drug (monograph {row.get('monograph_id')}) differs from the audit log ({drug})"))
        logged_events = sorted(seq for (pid, seq) in events if pid == prep_id)
        if row["event_count"] != len(logged_events):
            last = events[(prep_id, logged_events[-1])][1] if logged_events else entry.seq
            problems.append((last, f"preparation {prep_id}: stored event count {row['event_count']} differs from the audit log ({len(logged_events)})"))
        if prep_id in prep_active and prep_active[prep_id][0] != row["active"]:
            problems.append((prep_active[prep_id][1], f"preparation {prep_id}: stored active flag differs from the audit log"))
        if vial_actors.get(prep_id, []) != state.vial_added_by.get(prep_id, []):
            problems.append((entry.seq, f"preparation {prep_id}: who added the vials differs from the audit log"))
    for key, row in state.users.items():
        logged = users.get(key)
        if logged is not None and "name" in logged[0] and logged[0]["name"] != row["name"]:
            problems.append((logged[1], f"user {row['name']}: stored display name differs from the audit log ({logged[0]['name']})"))
    for name, actor in state.setting_updated_by.items():
        if name in setting_actors and setting_actors[name][0] != actor:
            problems.append((setting_actors[name][1], f"setting {name}: stored author differs from the audit log"))
    if state.courses is not None:
        for mrn, stored_course in state.courses.items():
            if mrn not in courses:
                problems.append((count + 1, f"the course of MRN {mrn} is stored but was never created through the program"))
            elif UNREADABLE in stored_course:
                problems.append((courses[mrn][1], f"the course of MRN {mrn} was altered: {stored_course[UNREADABLE]}"))
            elif courses[mrn][0] != stored_course:
                problems.append((courses[mrn][1], f"the course of MRN {mrn} differs from the audit log"))
        for mrn in courses.keys() - state.courses.keys():
            problems.append((courses[mrn][1], f"the course of MRN {mrn} was deleted from the database"))
    for key, created_at in state.user_created_at.items():
        if key in user_added and _instant(user_added[key].at) != created_at:
            problems.append((user_added[key].seq, f"user {user_added[key].subject}: stored creation time differs from the audit log"))
    for name, updated_at in state.setting_updated_at.items():
        if name in setting_entries and _instant(setting_entries[name].at) != updated_at:
            problems.append((setting_entries[name].seq, f"setting {name}: stored change time differs from the audit log"))
    for prep_id, stored_rows in state.vial_rows.items():
        logged_rows = [(position, _instant(at)) for position, at in vial_rows.get(prep_id, [])]
        if prep_id in created and logged_rows != stored_rows:
            first = vials.get(prep_id, [(None, created[prep_id].seq)])[0][1] if vials.get(prep_id) else created[prep_id].seq
            problems.append((first, f"preparation {prep_id}: stored vial numbers or times differ from the audit log"))
    for where, station in state.event_stations.items():
        logged_entry = event_entries.get(where)
        if logged_entry is not None and logged_entry.station != station:
            problems.append((logged_entry.seq, f"event {where[1]} of {where[0]}: stored station differs from its audit entry"))
    for mrn, row in state.course_rows.items():
        written = course_entries.get(mrn)
        if not written:
            continue  # reported with the course itself
        first, last = written[0], written[-1]
        if first.action == "course.created" and (_instant(first.at) != row["created_at"] or first.actor != row["created_by"]):
            problems.append((first.seq, f"the course of MRN {mrn}: stored creation time or author differs from the audit log"))
        if _instant(last.at) != row["updated_at"]:
            problems.append((last.seq, f"the course of MRN {mrn}: stored change time differs from the audit log"))
        if first.action == "course.created" and row["version"] != len(written):
            problems.append((last.seq, f"the course of MRN {mrn}: stored version {row['version']} differs from the audit log ({len(written)})"))
    for prep_id in preparations.keys() - state.preparations.keys():
        problems.append((preparations[prep_id][1], f"preparation {prep_id} was deleted from the database"))
    for where, row in state.events.items():
        logged = events.get(where)
        if logged is None:
            problems.append((count + 1, f"event {where[1]} of {where[0]} ({row['type']}) is stored without an audit entry"))
        elif not _same_event(logged[0], row):
            problems.append((logged[1], f"event {where[1]} of {where[0]} differs from its audit entry"))
    for where in events.keys() - state.events.keys():
        problems.append((events[where][1], f"event {where[1]} of {where[0]} was deleted from the database"))
    if not problems:
        return AuditCheck(count)
    seq, reason = min(problems)
    return AuditCheck(count, seq, reason)
