"""The SQLAlchemy implementation of domain.ports.Repository.

Each writing method is one transaction (BEGIN IMMEDIATE on SQLite) holding the change and its
audit entries; it returns after the commit. Reads use their own short transactions.
"""

from __future__ import annotations

import functools
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, column, func, select, table, text
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ..domain.dosing import PreparationOrder
from ..domain.formatting import utc_iso
from ..domain.ports import AuditCheck, AuditDraft, AuditEntry, ConcurrentChange
from ..domain.records import Event, EventType, Patient, Preparation, Role, User, VialRecord
from ..domain.security import pin_fingerprint
from .database import StorageError, gate_of, station_of
from .audit import GENESIS, UNREADABLE, StoredState, canonical_json, check_anchors, cross_check, entry_hash, text_digest, verify_chain
from .models import AuditHeadRow, AuditRow, EventRow, PreparationRow, SettingRow, SignInFailureRow, UserRow, VialRow, utc_text


class DuplicateError(ValueError):
    """A unique value (user name, preparation id) is already taken."""


class NoLongerEmpty(ValueError):
    """The database gained users since the first-run check."""


class LastPharmacist(ValueError):
    """The change would leave no active pharmacist (checked inside the write transaction)."""


# The tries made while a name is locked out share the failures table, under a key no typed name
# can take: a name's key has its whitespace collapsed by str.split(), which removes the unit
# separator (U+001F) too. (Not NUL: PostgreSQL's text refuses it.)
_LOCKED_OUT_TRIES = "\x1flocked-out "

# The advisory-lock space of the vials' serials on a server (pg_advisory_xact_lock's first key; the
# migrations' lock is the one-key 7140014, another space).
_VIAL_LOCK_SPACE = 7140021


def _serial_lock_key(serial: str) -> int:
    """A serial's advisory-lock key: its CRC-32 as a signed 32-bit int. Two serials sharing one only wait for each other.
    Folded as domain.gs1.same_serial folds: 'sert1' and SERT1 are one vial, so they must wait for each other."""
    import zlib

    value = zlib.crc32(serial.strip().casefold().encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def mrn_matches(stored: Any, mrn: str) -> Any:
    """A stored MRN column equal to `mrn` whatever its case, both sides folded by the database's own
    lower(): folded by Python's, an MRN with an É or a full-width letter (kept as typed by SQLite's
    ASCII-only lower()) matched nothing, so its course was stored and never found again (the order
    passed as one with no course on file, and a second course could be opened)."""
    return func.lower(stored) == func.lower(str(mrn or "").strip())


class MalformedRow(ValueError):
    """A stored value this version cannot read (edited by hand, a corrupt page); names the row."""


def _user(row: UserRow) -> User:
    try:
        role = Role(row.role)
    except ValueError:
        raise MalformedRow(f"user {row.name!r} has the unknown role {row.role!r}") from None
    return User(id=row.id, name=row.name, role=role, active=bool(row.active))


def _json(text: Any, what: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise MalformedRow(f"{what} holds malformed JSON") from None


def _order(row: PreparationRow) -> PreparationOrder:
    stored = _json(row.order_json, f"the order of preparation {row.id}")
    try:
        order = PreparationOrder.from_dict(stored)
    except (TypeError, ValueError) as why:
        raise MalformedRow(f"the order of preparation {row.id} cannot be read: {why}") from None
    drug = order.calculation.monograph_id
    if drug and drug != row.monograph_id:
        # Read with another drug's monograph, the order fails as an "invalid regimen" (exit 2, the
        # user's fault) or, worse, is checked against the wrong label: the row is not what was stored.
        raise MalformedRow(f"preparation {row.id} names the drug {row.monograph_id!r} (monograph_id) but its order was calculated for {drug!r}")
    return order


def _event(row: EventRow) -> Event:
    try:
        kind = EventType(row.type)
    except ValueError:
        raise MalformedRow(f"event {row.seq} of {row.preparation_id} has the unknown type {row.type!r}") from None
    details = _json(row.details_json, f"event {row.seq} of {row.preparation_id}")
    if not isinstance(details, dict):
        raise MalformedRow(f"event {row.seq} of {row.preparation_id} holds details that are not a mapping")
    return Event(
        type=kind,
        at=row.at,
        recorded_at=row.recorded_at,
        user=row.user_name,
        details=details,
        id=row.id,
        station=row.station or "",
    )


def _vial(row: VialRow) -> VialRecord:
    return VialRecord(lot=row.lot, expiry=row.expiry, gtin=row.gtin, ndc=row.ndc, serial=row.serial, expires_at=row.expires_at)


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(row.seq, row.at, row.actor, row.action, row.subject, row.before_json, row.after_json, row.prev_hash, row.hash, row.station or "")


# A write that lost a race on a server database is tried again this many times in all.
WRITE_ATTEMPTS = 6
# SQLSTATEs of a lost race: serialization failure, deadlock, a unique value a concurrent twin
# took first, a lock not available. The retry re-reads, so a twin's row is then found and reported.
_RACE_STATES = {"40001": "a serialization failure", "40P01": "a deadlock", "23505": "a unique value taken concurrently", "55P03": "a lock not available"}


class LostRace(Exception):
    """A server-side race this transaction lost; it rolled back and may simply be tried again."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _race(exc: DatabaseError) -> str | None:
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return _RACE_STATES.get(str(state)) if state else None


F = TypeVar("F", bound=Callable[..., Any])


def retried(method: F) -> F:
    """Run a writing method again (fresh transaction, fresh reads) when it lost a race; after
    WRITE_ATTEMPTS, one line: nothing was stored. Only server databases raise LostRace."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return method(self, *args, **kwargs)
            except LostRace as race:
                if attempt == WRITE_ATTEMPTS:
                    raise StorageError(
                        f"the database refused this change {WRITE_ATTEMPTS} times because of other stations' "
                        f"concurrent changes ({race.what}); nothing of it was stored: try again"
                    ) from None
                time.sleep(random.uniform(0.002, 0.02) * attempt)  # the winners commit meanwhile
        raise AssertionError("unreachable")

    return wrapper  # type: ignore[return-value]


# The courses table (storage/course_models.py, CourseRow: one row per patient, its mrn unique) as Core
# names it: whether a patient has a course is asked before every new order, and mapping the course
# models and importing the course rules to learn "none" was about a fifth of a `prep new` (issue 19).
_COURSES = table("courses", column("mrn"))


class TransactionScopes:
    """One read or write transaction per call, for every repository on the same engine.

    Writes on SQLite begin IMMEDIATE so two workstations never interleave; any OperationalError
    (locked past the busy timeout, disk full, file gone) becomes a StorageError the CLI and GUI
    report in one line, after the transaction has rolled back.
    """

    def __init__(self, engine: Engine):
        from .audit_seal import seal_of

        self.engine = engine
        immediate = engine.dialect.name == "sqlite"
        self._write_engine = engine.execution_options(sqlite_immediate=True) if immediate else engine
        self.seal = seal_of(engine)  # the site secret and anchor log (storage/audit_seal.py)
        self.station = station_of(engine)  # written with every audit entry and event
        self._server = engine.dialect.name != "sqlite"

    def course_on_file(self, mrn: str) -> bool:
        """Whether a course is stored for `mrn`, as SqlCourseRepository.get_course matches it (mrn_matches),
        read without the course models."""
        with self._read() as session:
            return session.execute(select(_COURSES.c.mrn).where(mrn_matches(_COURSES.c.mrn, mrn)).limit(1)).first() is not None

    @contextmanager
    def _write(self) -> Iterator[Session]:
        refusal = getattr(self.seal, "write_refusal", None)
        if refusal:
            raise StorageError(refusal)
        gate = gate_of(self.engine) if self._server else None
        if gate is not None:
            gate.check()  # the server known to be gone: refused at once, nothing tried or queued
        head = None
        try:
            with Session(self._write_engine, expire_on_commit=False, info={"audit_seal": self.seal, "station": self.station}) as session:
                with session.begin():
                    yield session
                head = session.info.get("audit_head")
        except IntegrityError as exc:
            race = _race(exc) if self._server else None
            if race is not None:
                raise LostRace(race) from exc
            raise
        except OperationalError as exc:
            race = _race(exc) if self._server else None
            if race is not None:
                raise LostRace(race) from exc
            if gate is not None:  # the server unreachable: the station is not live from now
                raise gate.lost(_one_line(exc.orig)) from exc
            # Locked past the busy timeout, disk full, file gone, server unreachable: rolled back.
            raise StorageError(f"the database could not be written ({_one_line(exc.orig)}); nothing of this change was stored") from exc
        except DatabaseError as exc:
            race = _race(exc) if self._server else None
            if race is not None:
                raise LostRace(race) from exc
            if self._server:
                raise StorageError(f"the database server refused this change ({_one_line(exc.orig)}); nothing of it was stored") from exc
            raise StorageError(f"the database is damaged ({exc.orig}); nothing of this change was stored: restore a backup") from exc
        if head is not None and self.seal is not None:
            self.seal.record(*head)  # after the commit: an anchor never names an entry that was rolled back
        if gate is not None:
            gate.answered()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        gate = gate_of(self.engine) if self._server else None
        if gate is not None:
            gate.check()  # while the server is known to be gone, not tried again before the backoff says
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except OperationalError as exc:
            if gate is not None:
                raise gate.lost(_one_line(exc.orig)) from exc
            raise StorageError(f"the database could not be read ({_one_line(exc.orig)})") from exc
        except DatabaseError as exc:  # a corrupt page, a file that is not a database
            raise StorageError(f"the database is damaged ({exc.orig}); restore a backup from its backups folder") from exc
        except (ValueError, TypeError) as exc:
            # A stored value this version cannot read (an instant, JSON, a role or event type
            # edited behind the program's back): one line naming it, never a traceback.
            raise StorageError(f"a stored value is malformed: {exc}; run 'infusion-prep audit verify' and restore a backup") from exc
        if gate is not None:
            gate.answered()


class SqlRepository(TransactionScopes):
    @staticmethod
    def _append_audit(session: Session, draft: AuditDraft) -> AuditEntry:
        # Chain on the recorded head, not on the last row: if the newest rows were deleted, the
        # next entry's number leaves a gap that verify finds.
        # FOR UPDATE serialises writers on server databases; SQLite's BEGIN IMMEDIATE already has.
        head = session.get(AuditHeadRow, 1, with_for_update=True)
        seq = (head.seq if head else 0) + 1
        previous = head.hash if head else GENESIS
        station = session.info.get("station") or ""
        row = AuditRow(
            station=station,
            seq=seq,
            at=utc_text(draft.at),
            actor=draft.actor,
            action=draft.action,
            subject=draft.subject,
            before_json=canonical_json(draft.before),
            after_json=canonical_json(draft.after),
            prev_hash=previous,
        )
        seal = session.info.get("audit_seal")
        key = seal.key if seal is not None and seal.is_keyed(seq) else None
        row.hash = entry_hash(previous, seq, row.at, row.actor, row.action, row.subject, row.before_json, row.after_json, key, station)
        session.info["audit_head"] = (seq, row.hash)
        session.add(row)
        if head is None:
            session.add(AuditHeadRow(id=1, seq=seq, hash=row.hash))
        else:
            head.seq, head.hash = seq, row.hash
        session.flush()
        return _entry(row)

    # -- users ------------------------------------------------------------------------------
    @retried
    def add_user(self, user: User, pin_hash: str, audit: AuditDraft, only_if_empty: bool = False) -> User:
        """`only_if_empty`: the first pharmacist, added without a signed-in one; checked in the
        write transaction, so two first runs at once cannot both add a user without credentials."""
        try:
            with self._write() as session:
                if only_if_empty and session.scalar(select(func.count()).select_from(UserRow)):
                    raise NoLongerEmpty("users were added meanwhile: sign in as a pharmacist to add another")
                if session.scalar(select(UserRow).where(UserRow.name_key == name_key(user.name))) is not None:
                    raise DuplicateError(f"a user named '{user.name}' already exists")
                row = UserRow(
                    name=user.name,
                    name_key=name_key(user.name),
                    role=user.role.value,
                    pin_hash=pin_hash,
                    active=user.active,
                    created_at=audit.at,
                )
                session.add(row)
                session.flush()
                self._append_audit(session, audit)
                return _user(row)
        except IntegrityError as exc:
            # Only a taken name is "already exists"; any other constraint says what failed.
            if self.get_user(user.name) is not None:
                raise DuplicateError(f"a user named '{user.name}' already exists") from exc
            raise StorageError(f"the user '{user.name}' could not be stored: {exc.orig}; nothing was changed") from exc

    def _user_row(self, session: Session, name: str) -> UserRow | None:
        return session.scalar(select(UserRow).where(UserRow.name_key == name_key(name)))

    def get_user(self, name: str) -> User | None:
        with self._read() as session:
            row = self._user_row(session, name)
            return _user(row) if row else None

    def get_pin_hash(self, name: str) -> str | None:
        with self._read() as session:
            row = self._user_row(session, name)
            return row.pin_hash if row else None

    def list_users(self, include_inactive: bool = False) -> list[User]:
        with self._read() as session:
            query = select(UserRow).order_by(UserRow.name_key)
            if not include_inactive:
                query = query.where(UserRow.active.is_(True))
            return [_user(row) for row in session.scalars(query)]

    def count_users(self) -> int:
        with self._read() as session:
            return session.scalar(select(func.count()).select_from(UserRow)) or 0

    @retried
    def update_user(self, name: str, *, active: bool | None = None, pin_hash: str | None = None, audit: AuditDraft) -> User:
        with self._write() as session:
            row = self._user_row(session, name)
            if row is None:
                raise KeyError(name)
            if active is False and row.active and row.role == Role.PHARMACIST.value:
                # Counted under the write lock: two workstations deactivating the last two
                # pharmacists at once cannot both pass.
                others = session.scalar(
                    select(func.count()).select_from(UserRow).where(UserRow.role == Role.PHARMACIST.value, UserRow.active.is_(True), UserRow.id != row.id)
                )
                if not others:
                    raise LastPharmacist(row.name)
            if active is not None:
                row.active = active
            if pin_hash is not None:
                row.pin_hash = pin_hash
            self._append_audit(session, audit)
            return _user(row)

    # -- sign-in lockout -------------------------------------------------------------------
    def sign_in_failures(self, key: str) -> tuple[int, datetime] | None:
        with self._read() as session:
            row = session.get(SignInFailureRow, key[:80])
            return (row.failures, row.last_at) if row else None

    @retried
    def record_sign_in_failure(self, key: str, at: datetime, audit: AuditDraft) -> int:
        """One more wrong PIN for `key`, with its audit entry, in one transaction; returns the count."""
        with self._write() as session:
            # Locked: two stations counting the same name's wrong PINs at once must both count
            # (an unlocked read-add-write loses one); a concurrent first insert is a retried twin.
            row = session.get(SignInFailureRow, key[:80], with_for_update=True)
            if row is None:
                row = SignInFailureRow(name_key=key[:80], failures=0, last_at=at)
                session.add(row)
            row.failures += 1
            row.last_at = at
            session.flush()
            self._append_audit(session, audit)
            return row.failures

    @retried
    def record_locked_out_try(self, key: str, lockout_since: datetime, audit: Callable[[int], AuditDraft]) -> int:
        """One more try while `key` is locked out (the lockout that began at `lockout_since`); returns
        the tries of this lockout. Audited at the 1st, 2nd, 4th, 8th... try, the count in the entry:
        someone at the keyboard is on record, and hammering grows the log by its logarithm only."""
        tries_key = _LOCKED_OUT_TRIES + key[: 80 - len(_LOCKED_OUT_TRIES)]
        with self._write() as session:
            row = session.get(SignInFailureRow, tries_key, with_for_update=True)
            if row is None:
                row = SignInFailureRow(name_key=tries_key, failures=0, last_at=lockout_since)
                session.add(row)
            if row.last_at != lockout_since:  # a new lockout: its tries count afresh
                row.failures, row.last_at = 0, lockout_since
            row.failures += 1
            session.flush()
            if row.failures & (row.failures - 1) == 0:
                self._append_audit(session, audit(row.failures))
            return row.failures

    @retried
    def clear_sign_in_failures(self, key: str) -> None:
        with self._write() as session:
            for stored_key in (key[:80], _LOCKED_OUT_TRIES + key[: 80 - len(_LOCKED_OUT_TRIES)]):
                row = session.get(SignInFailureRow, stored_key)
                if row is not None:
                    session.delete(row)

    # -- preparations -----------------------------------------------------------------------
    def preparation_id_exists(self, prep_id: str) -> bool:
        with self._read() as session:
            return session.get(PreparationRow, prep_id) is not None

    @retried
    def add_preparation(self, prep: Preparation, audit: AuditDraft, check: Callable[[], None] | None = None) -> None:
        """Store a new preparation with its vials; `check` (the vials' reuse check) runs inside the
        transaction, after the vials' serials are locked (_claim_serials), and refuses by raising."""
        try:
            with self._write() as session:
                if session.get(PreparationRow, prep.id) is not None:
                    raise DuplicateError(f"preparation {prep.id} already exists")
                self._claim_serials(session, [v.serial for v in prep.vials if v.serial])
                if check is not None:
                    check()
                session.add(
                    PreparationRow(
                        id=prep.id,
                        patient_name=prep.patient.name,
                        mrn=prep.patient.mrn,
                        date_of_birth=prep.patient.date_of_birth,
                        order_json=canonical_json(prep.order.to_dict()),
                        created_at=prep.created_at,
                        created_by=prep.created_by,
                        monograph_id=prep.monograph_id,
                        monograph_revision=prep.monograph_revision,
                        active=True,
                        event_count=0,
                    )
                )
                session.flush()
                for position, vial in enumerate(prep.vials, start=1):
                    session.add(self._vial_row(prep.id, position, vial, prep.created_at, prep.created_by))
                self._append_audit(session, audit)
        except IntegrityError as exc:
            if self.preparation_id_exists(prep.id):
                raise DuplicateError(f"preparation {prep.id} already exists") from exc
            raise StorageError(f"preparation {prep.id} could not be stored: {exc.orig}; nothing was changed") from exc

    @staticmethod
    def _vial_row(prep_id: str, position: int, vial: VialRecord, at: datetime, by: str) -> VialRow:
        return VialRow(
            preparation_id=prep_id,
            position=position,
            lot=vial.lot,
            expiry=vial.expiry,
            expires_at=vial.expires_at,
            gtin=vial.gtin,
            ndc=vial.ndc,
            serial=vial.serial,
            added_at=at,
            added_by=by,
        )

    def _claim_serials(self, session: Session, serials: list[str]) -> None:
        """Hold each serial until this transaction ends, so that the check that no other preparation
        has the vial and the insert are one step across stations: two stations that both read "not used"
        and both stored one single-dose vial for two patients. SQLite's BEGIN IMMEDIATE already serialises
        every writer; on a server, a transaction-scoped advisory lock per serial (the second station waits,
        then reads the first one's committed vial). Locked in one order: two stations never deadlock."""
        if not self._server:
            return
        for key in sorted({_serial_lock_key(s) for s in serials}):
            session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": _VIAL_LOCK_SPACE, "key": key})

    @retried
    def add_vial(self, prep_id: str, vial: VialRecord, audit: AuditDraft, check: Callable[[], None] | None = None) -> None:
        """Record a vial; `check` (its reuse check, reading through this repository) runs inside the
        transaction after the preparation and the vial's serial are locked, and refuses by raising."""
        with self._write() as session:
            if session.get(PreparationRow, prep_id, with_for_update=True) is None:  # one vial number at a time
                raise KeyError(prep_id)
            self._claim_serials(session, [vial.serial] if vial.serial else [])
            if check is not None:
                check()
            last = session.scalar(select(func.max(VialRow.position)).where(VialRow.preparation_id == prep_id)) or 0
            session.add(self._vial_row(prep_id, last + 1, vial, audit.at, audit.actor))
            self._append_audit(session, audit)

    @retried
    def remove_vial(self, prep_id: str, number: int, audit: AuditDraft, check: Callable[[], None] | None = None) -> None:
        """Delete the `number`-th recorded vial (1 = first, in recording order) with its audit entry;
        `check` runs inside the transaction, the preparation locked, and refuses by raising."""
        with self._write() as session:
            if session.get(PreparationRow, prep_id, with_for_update=True) is None:  # as a step or an added vial
                raise KeyError(prep_id)
            if check is not None:
                check()
            rows = session.scalars(select(VialRow).where(VialRow.preparation_id == prep_id).order_by(VialRow.position)).all()
            if not 1 <= number <= len(rows):
                raise KeyError(number)
            session.delete(rows[number - 1])
            self._append_audit(session, audit)

    @retried
    def append_events(
        self,
        prep_id: str,
        events: list[Event],
        expected_count: int,
        active: bool,
        audit: list[AuditDraft],
        expected_vials: list[VialRecord] | None = None,
    ) -> list[Event]:
        try:
            with self._write() as session:
                # Locked first: a second station stepping the same preparation waits here, then
                # finds the count moved on and is told what the first one recorded.
                prep = session.get(PreparationRow, prep_id, with_for_update=True)
                if prep is None:
                    raise KeyError(prep_id)
                if prep.event_count != expected_count:
                    raise ConcurrentChange(self._what_changed(session, prep_id, expected_count))
                if expected_vials is not None:
                    # The vials the step was checked with (a reconstitution needs the dose's count): one
                    # removed or added at another station meanwhile (both lock this row) is re-checked.
                    stored = session.scalars(select(VialRow).where(VialRow.preparation_id == prep_id).order_by(VialRow.position)).all()
                    if [_vial(row) for row in stored] != list(expected_vials):
                        raise ConcurrentChange(f"the vials of preparation {prep_id} changed at another station while this step was being checked")
                rows = []
                for offset, item in enumerate(events, start=1):
                    row = EventRow(
                        preparation_id=prep_id,
                        seq=expected_count + offset,
                        type=item.type.value,
                        at=item.at,
                        recorded_at=item.recorded_at,
                        user_name=item.user,
                        details_json=canonical_json(item.details),
                        station=self.station,
                    )
                    session.add(row)
                    rows.append(row)
                prep.event_count = expected_count + len(events)
                prep.active = active
                session.flush()
                for draft in audit:
                    self._append_audit(session, draft)
                return [_event(row) for row in rows]
        except IntegrityError as exc:
            raise ConcurrentChange(f"preparation {prep_id} changed while this step was being checked") from exc

    @staticmethod
    def _what_changed(session: Session, prep_id: str, expected_count: int) -> str:
        """'preparation X changed ...: <step> recorded by NAME at TIME (station S)' for the loser of a race."""
        newer = session.scalars(select(EventRow).where(EventRow.preparation_id == prep_id, EventRow.seq > expected_count).order_by(EventRow.seq)).all()
        if not newer:
            return f"preparation {prep_id} changed while this step was being checked"
        done = "; ".join(
            f"{row.type.replace('_', ' ')} recorded by {row.user_name} at {utc_text(row.recorded_at)[:19]}Z"
            + (f" at station {row.station}" if row.station else "")
            for row in newer
        )
        return f"preparation {prep_id} changed while this step was being checked: {done}"

    def _assemble(self, session: Session, rows: list[PreparationRow], unreadable: dict[str, str] | None = None) -> list[Preparation]:
        """`unreadable`: a listing goes on past a preparation it cannot read, which is put there
        (id -> why) instead of failing the whole list (the board, prep list); without it, it fails."""
        if not rows:
            return []
        ids = [row.id for row in rows]
        vials: dict[str, list[VialRecord]] = defaultdict(list)
        for vial in session.scalars(select(VialRow).where(VialRow.preparation_id.in_(ids)).order_by(VialRow.preparation_id, VialRow.position)):
            vials[vial.preparation_id].append(_vial(vial))
        events: dict[str, list[Event]] = defaultdict(list)
        broken: dict[str, str] = {}
        for event in session.scalars(select(EventRow).where(EventRow.preparation_id.in_(ids)).order_by(EventRow.preparation_id, EventRow.seq)):
            try:
                events[event.preparation_id].append(_event(event))
            except MalformedRow as why:
                if unreadable is None:
                    raise
                broken.setdefault(event.preparation_id, str(why))
        found = []
        for row in rows:
            try:
                if row.id in broken:
                    raise MalformedRow(broken[row.id])
                found.append(
                    Preparation(
                        id=row.id,
                        patient=Patient(row.patient_name, row.mrn, row.date_of_birth),
                        order=_order(row),
                        created_at=row.created_at,
                        created_by=row.created_by,
                        monograph_id=row.monograph_id,
                        monograph_revision=row.monograph_revision,
                        vials=vials[row.id],
                        events=events[row.id],
                    )
                )
            except MalformedRow as why:
                if unreadable is None:
                    raise
                unreadable[row.id] = str(why)
        return found

    def get_preparation(self, prep_id: str) -> Preparation | None:
        with self._read() as session:
            row = session.get(PreparationRow, prep_id)
            return self._assemble(session, [row])[0] if row else None

    def list_preparations(self, active_only: bool = False, limit: int | None = None, unreadable: dict[str, str] | None = None) -> list[Preparation]:
        with self._read() as session:
            query = select(PreparationRow).order_by(PreparationRow.created_at.desc(), PreparationRow.id)
            if active_only:
                query = query.where(PreparationRow.active.is_(True))
            if limit is not None:
                query = query.limit(limit)
            return self._assemble(session, list(session.scalars(query)), unreadable)

    def find_patient(self, mrn: str) -> Patient | None:
        """The patient as last stored under this MRN (case-insensitive), from the newest preparation."""
        with self._read() as session:
            row = session.scalars(
                select(PreparationRow).where(mrn_matches(PreparationRow.mrn, mrn)).order_by(PreparationRow.created_at.desc()).limit(1)
            ).first()
            return Patient(row.patient_name, row.mrn, row.date_of_birth) if row else None

    def preparations_with_vial(self, serial: str) -> list[str]:
        """The ids of the preparations a vial of this serial is recorded for (of any GTIN or lot: the
        caller tells one physical vial by domain.gs1.same_physical_vial), whatever its case: a serial is of
        GS1 set 82 (ASCII), which lower() folds alike on SQLite and PostgreSQL."""
        with self._read() as session:
            rows = session.scalars(select(VialRow.preparation_id).where(mrn_matches(VialRow.serial, serial)).distinct().order_by(VialRow.preparation_id))
            return list(rows)

    def scanned_vials_of_lot(self, lot: str) -> list[VialRecord]:
        """Every vial of this lot (whatever its case) recorded from its code (a GTIN read), for any preparation."""
        with self._read() as session:
            rows = session.scalars(select(VialRow).where(mrn_matches(VialRow.lot, lot), VialRow.gtin.is_not(None)).order_by(VialRow.id))
            return [_vial(row) for row in rows]

    def near_misses(self, subject: str, since: datetime | None = None) -> list[dict[str, Any]]:
        """What the near-miss audit entries filed under `subject` (a preparation id, or the MRN of an order
        refused before it was stored) say, oldest first; from `since` on when given. The subject matches
        whatever its case, as an MRN finds its patient and course (mrn_matches): matched exactly, a refusal
        filed under 'mx100' did not stand in the way of `prep new --mrn MX100` (a preparation id is one
        case, so folding it changes nothing)."""
        with self._read() as session:
            query = select(AuditRow.after_json).where(mrn_matches(AuditRow.subject, subject), AuditRow.action == "near_miss")
            if since is not None:
                query = query.where(AuditRow.at >= utc_text(since))  # fixed-width UTC text: text order is time order
            rows = session.scalars(query.order_by(AuditRow.seq))
            found = []
            for text_value in rows:
                value = json.loads(text_value)
                if isinstance(value, dict):
                    found.append(value)
            return found

    def latest_instant(self) -> datetime | None:
        with self._read() as session:
            # One statement: every service opened (each command, each station) asks it first.
            candidates = list(
                session.execute(select(select(func.max(EventRow.recorded_at)).scalar_subquery(), select(func.max(AuditRow.at)).scalar_subquery())).one()
            )
        instants = [c if isinstance(c, datetime) else datetime.fromisoformat(c) for c in candidates if c]
        return max(instants) if instants else None

    # -- settings ---------------------------------------------------------------------------
    def get_settings(self) -> dict[str, Any]:
        with self._read() as session:
            return {row.key: _json(row.value_json, f"setting {row.key}") for row in session.scalars(select(SettingRow))}

    @retried
    def setting_versions(self) -> dict[str, tuple[str, datetime]]:
        """(who, when) each stored setting was last changed: the version a later change must name."""
        with self._read() as session:
            return {row.key: (row.updated_by, row.updated_at) for row in session.scalars(select(SettingRow))}

    @retried
    def set_setting(self, key: str, value: Any, audit: AuditDraft, expected: tuple[str, datetime] | None | bool = False) -> None:
        """`expected`: the (who, when) read before the change (None: it was not stored yet);
        another station's change since then is refused with ConcurrentChange, never overwritten.
        False (the default): no check, for a change typed as a whole (the command line)."""
        with self._write() as session:
            row = session.get(SettingRow, key, with_for_update=True)
            if expected is not False:
                stored = (row.updated_by, row.updated_at) if row is not None else None
                if stored != expected:
                    if row is None:
                        raise ConcurrentChange(f"setting {key} was removed meanwhile; reload")
                    raise ConcurrentChange(f"setting {key} was changed by {row.updated_by} at {utc_text(row.updated_at)[:19]}Z; reload")
            if row is None:
                row = SettingRow(key=key)
                session.add(row)
            row.value_json = canonical_json(value)
            row.updated_at = audit.at
            row.updated_by = audit.actor
            self._append_audit(session, audit)

    # -- audit ------------------------------------------------------------------------------
    @retried
    def append_audit(self, audit: AuditDraft) -> AuditEntry:
        with self._write() as session:
            return self._append_audit(session, audit)

    def audit_anchor(self) -> tuple[int, str] | None:
        """The newest head written outside the database (count, hash), for sheets and exports."""
        if self.seal is None:
            return None
        latest = self.seal.latest()
        return (latest.count, latest.head) if latest else None

    def audit_head_seq(self) -> int:
        """The number of the newest audit entry (0 for an empty log): one primary-key read."""
        with self._read() as session:
            head = session.get(AuditHeadRow, 1)
            return head.seq if head is not None else 0

    def audit_subjects_since(self, seq: int) -> tuple[int, list[tuple[str, str]]]:
        """(the head's number, [(action, subject)] of the entries numbered after `seq`, in order).

        The change feed's read (service.changes): every stored change has its audit entry in the
        same transaction, so the entries after a number name everything changed since it. A range
        read on the primary key; no JSON is read.
        """
        with self._read() as session:
            head = session.get(AuditHeadRow, 1)
            rows = session.execute(select(AuditRow.action, AuditRow.subject).where(AuditRow.seq > seq).order_by(AuditRow.seq)).all()
        return (head.seq if head is not None else 0), [(action, subject) for action, subject in rows]

    def get_preparations(self, prep_ids: list[str], unreadable: dict[str, str] | None = None) -> list[Preparation]:
        """The stored preparations among these ids (any order; unknown ids are left out)."""
        if not prep_ids:
            return []
        with self._read() as session:
            rows = list(session.scalars(select(PreparationRow).where(PreparationRow.id.in_(prep_ids))))
            return self._assemble(session, rows, unreadable)

    def audit_entries(self) -> list[AuditEntry]:
        with self._read() as session:
            return [_entry(row) for row in session.scalars(select(AuditRow).order_by(AuditRow.seq))]

    def restore_gap(self):
        """(the newest anchor lost, the log's entry count, its head hash) when the database is an
        older copy put back and otherwise intact; None when it is not that (see verify_audit)."""
        from .audit import rewound_anchor

        if self.seal is None or not self.verify_audit(with_anchors=False).intact:
            return None
        entries = self.audit_entries()
        lost = rewound_anchor(entries, self.seal)
        if lost is None:
            return None
        return lost, len(entries), (entries[-1].hash if entries else GENESIS)

    def record_restore(self, restore: dict) -> None:
        if self.seal is None:
            raise StorageError("no anchor log is kept for this database; there is no restore to acknowledge")
        self.seal.record_restore(restore)

    def audit_restores(self) -> list[dict]:
        return self.seal.restores() if self.seal is not None else []

    def verify_audit(self, with_anchors: bool = True) -> AuditCheck:
        """The chain first (edits, deletions, reordering, insertions in the log itself), then the
        data tables against the log (changes made to the data behind the program's back)."""
        with self._read() as session:
            entries = [_entry(row) for row in session.scalars(select(AuditRow).order_by(AuditRow.seq))]
            head = session.get(AuditHeadRow, 1)
            chain = verify_chain(entries, (head.seq, head.hash) if head else None, self.seal)
            if not chain.intact:
                return chain
            if self.seal is not None and with_anchors:
                anchored = check_anchors(entries, self.seal)
                if not anchored.intact:
                    return anchored
            try:
                state = self._stored_state(session)
            except (ValueError, TypeError) as exc:
                return AuditCheck(len(entries), len(entries) + 1, f"a stored value is malformed: {exc}")
            return cross_check(entries, state)

    def _stored_courses(self, session: Session, state: StoredState) -> dict[str, Any] | None:
        """Every stored course as the canonical JSON its audit entries keep (service.course._snapshot)."""
        import dataclasses

        from .course_models import CourseRow
        from .course_repository import SqlCourseRepository

        courses = SqlCourseRepository(self.engine)
        from .audit import without_ids

        stored: dict[str, Any] = {}
        for row in list(session.scalars(select(CourseRow))):
            state.course_rows[row.mrn] = {"created_at": row.created_at, "created_by": row.created_by, "updated_at": row.updated_at, "version": row.version}
            try:
                course = courses._assemble(session, row)
            except (ValueError, TypeError) as exc:
                # An unreadable row was altered behind the program's back: verify reports it as such.
                stored[row.mrn] = {UNREADABLE: str(exc)}
                continue
            data = dataclasses.asdict(course)
            data.pop("version", None)
            data.pop("id", None)
            stored[row.mrn] = without_ids(json.loads(canonical_json(data)))
        return stored

    def _stored_state(self, session: Session) -> StoredState:
        state = StoredState()
        for user in session.scalars(select(UserRow)):
            state.users[user.name_key] = {
                "name": user.name,
                "role": user.role,
                "active": bool(user.active),
                "pin_fingerprint": pin_fingerprint(user.pin_hash),
            }
            state.user_created_at[user.name_key] = user.created_at
        for setting in session.scalars(select(SettingRow)):
            state.settings[setting.key] = _json(setting.value_json, f"setting {setting.key}")
            state.setting_updated_by[setting.key] = setting.updated_by
            state.setting_updated_at[setting.key] = setting.updated_at
        for prep in session.scalars(select(PreparationRow)):
            state.preparations[prep.id] = {
                "patient": {"name": prep.patient_name, "mrn": prep.mrn, "date_of_birth": prep.date_of_birth.isoformat()},
                "order_digest": text_digest(prep.order_json),
                "created_by": prep.created_by,
            }
            state.preparation_rows[prep.id] = {
                "created_at": prep.created_at,
                "monograph_revision": prep.monograph_revision,
                "active": bool(prep.active),
                "event_count": prep.event_count,
                "monograph_id": prep.monograph_id,
            }
        for vial in session.scalars(select(VialRow).order_by(VialRow.preparation_id, VialRow.position)):
            state.vial_added_by.setdefault(vial.preparation_id, []).append(vial.added_by)
            state.vial_rows.setdefault(vial.preparation_id, []).append((vial.position, vial.added_at))
            state.vials.setdefault(vial.preparation_id, []).append(
                {
                    "lot": vial.lot,
                    "expiry": vial.expiry.isoformat(),
                    "expires_at": None if vial.expires_at is None else utc_iso(vial.expires_at),
                    "gtin": vial.gtin,
                    "ndc": vial.ndc,
                    "serial": vial.serial,
                }
            )
        for event in session.scalars(select(EventRow)):
            state.events[(event.preparation_id, event.seq)] = {
                "type": event.type,
                "at": event.at,
                "recorded_at": event.recorded_at,
                "user": event.user_name,
                "details": _json(event.details_json, f"event {event.seq} of {event.preparation_id}"),
            }
            state.event_stations[(event.preparation_id, event.seq)] = event.station or ""
        state.courses = self._stored_courses(session, state)
        return state
