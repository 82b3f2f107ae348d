"""PreparationService: the one application layer under the command line and the desktop program.

It loads from the repository, asks the domain (dosing, the state machine, deadlines) and writes
back one transaction per change, each with its audit entry. Nothing here draws or prints.
"""

from __future__ import annotations

import dataclasses
import getpass
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..domain import deadlines as deadline_rules
from ..domain import preparation as machine
from ..domain.clock import Clock, MonotonicClock, SystemClock
from ..domain.limits import SitePolicy
from ..domain.connection import ConnectionState, ConnectionWatch, NotLive
from ..domain.deadlines import Deadline
from ..domain.dosing import CourseCheck, DoseCalculation, DoseOrder, PreparationOrder, calculate_dose
from ..domain.lookalikes import skeleton
from ..domain.errors import EARLIEST_YEAR, LATEST_YEAR, ValidationError, holds_undecodable_bytes
from ..domain.formatting import format_instant, format_number, utc_iso
from ..domain.monograph import Monograph, installed_monographs, load_monograph, resolve_drug
from ..domain.ports import AuditCheck, AuditDraft, AuditEntry, ConcurrentChange, Repository
from ..domain.preparation import Override, StepRefused, vial_expiry_words
from ..domain.records import Event, EventType, Patient, Preparation, Role, User, VialRecord
from ..domain.security import dummy_verify, hash_pin, pin_fingerprint, validate_pin, verify_pin

from .changes import Changes, changes_since
from .ids import AmbiguousPreparationId, new_preparation_id, normalize_preparation_id
from .settings import Settings, build_settings, validate_setting

if TYPE_CHECKING:  # the start-up does not import SQLAlchemy (nor the course rules) for these names
    from sqlalchemy.engine import Engine

    from ..domain.course import Course
    from ..domain.coverage import CoverageDecision, CoverageFacts, Policy  # only for a coverage check (issue 19)
    from ..storage.database import Location, MigrationResult

# An event typed in as happening later than now (beyond clock skew between workstations) is a typo.
FUTURE_TOLERANCE = timedelta(minutes=2)
# A stored instant later than this workstation's clock by more than this is another clock's error.
CLOCK_AHEAD_TOLERANCE = timedelta(minutes=5)
NAME_MAX = 80
PATIENT_NAME_MAX = 200
MRN_MAX = 40
OLDEST_PATIENT_YEARS = 130
REASON_MAX = 500
FREE_PIN_ATTEMPTS = 5
PIN_WAIT = timedelta(seconds=30)
MAX_PIN_WAIT = timedelta(minutes=15)
PREPARING_ROLES = (Role.TECHNICIAN, Role.PHARMACIST)


class AuthenticationError(ValidationError):
    """Wrong name or PIN (one message for both, so names cannot be probed)."""

    def __init__(self, message: str = "name or PIN not recognised"):
        super().__init__("pin", message)


class PreparationNotFound(ValidationError):
    def __init__(self, prep_id: str):
        super().__init__("preparation id", f"no preparation {prep_id} is stored here")


class CalculationChanged(StepRefused):
    """The dose calculated now is not the one the caller showed (a site setting, the course or the
    date changed in between): nothing is stored; `calculation` is the new one, to be shown and checked."""

    def __init__(self, calculation: DoseCalculation):
        super().__init__(
            "calculation_changed",
            "the dose calculation changed since it was shown (a site setting, "
            "the course or the date changed meanwhile): nothing was stored; check the new calculation",
        )
        self.calculation = calculation


class PreparationBlocked(Exception):
    """The dose calculation has a hard stop: nothing is stored, the calculation says why."""

    def __init__(self, calculation: DoseCalculation):
        self.calculation = calculation
        self.hard_stops = list(calculation.hard_stops)
        super().__init__("; ".join(self.hard_stops))


def os_account() -> str:
    """The operating-system account running the program, recorded beside every user change."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers and services
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def local_admin_name() -> str:
    """Who acts when nobody is signed in (the first pharmacist, an export): the operating-system account."""
    return f"local-admin (os user {os_account()})"


def name_skeleton(name: str) -> str:
    """The shape of a name for comparison (domain/lookalikes.py): "Tina" and "Tinа" with a Cyrillic а are one."""
    return skeleton(name, keep_spaces=False)


def _clean_text(field_name: str, value: Any, maximum: int, minimum: int = 1) -> str:
    if not isinstance(value, str):
        raise ValidationError(field_name, "must be text")
    text = " ".join(value.split())
    if len(text) < minimum:
        raise ValidationError(field_name, "must not be empty" if minimum == 1 else f"must be at least {minimum} characters")
    if len(text) > maximum:
        raise ValidationError(field_name, f"has {len(text)} characters; at most {maximum}")
    if any(not ch.isprintable() for ch in text):
        raise ValidationError(field_name, "must not hold control characters")
    return text


def validate_user_name(name: Any) -> str:
    """NFKC-normalised (a full-width or ligature form is the same name), printable, and not the
    name the program records for the local administrator."""
    import unicodedata

    if isinstance(name, str):
        name = unicodedata.normalize("NFKC", name)
    text = _clean_text("name", name, NAME_MAX)
    # Letters and digits only: "local–admin", "local_admin", "Local Admin" print like the reserved name.
    letters = "".join(ch for ch in name_skeleton(text) if ch.isalnum())
    if letters.startswith(("localadmin", "signin")):
        raise ValidationError("name", f"'{text}' is reserved for the program's own records; choose a person's name")
    return text


def validate_role(role: Any) -> Role:
    try:
        return role if isinstance(role, Role) else Role(str(role).strip().lower())
    except ValueError:
        raise ValidationError("role", f"'{role}' is not a role; must be one of {', '.join(r.value for r in Role)}") from None


def validate_patient(patient: Patient, today: date) -> Patient:
    name = _clean_text("patient name", patient.name, PATIENT_NAME_MAX)
    mrn = _clean_text("mrn", patient.mrn, MRN_MAX)
    if any(ch.isspace() for ch in mrn):
        raise ValidationError("mrn", f"'{mrn}' must not contain spaces")
    dob = patient.date_of_birth
    if not isinstance(dob, date) or isinstance(dob, datetime):
        raise ValidationError("dob", "must be a date (YYYY-MM-DD)")
    if dob > today:
        raise ValidationError("dob", f"{dob.isoformat()} is in the future; must be on or before {today.isoformat()}")
    if dob.year < today.year - OLDEST_PATIENT_YEARS:
        raise ValidationError("dob", f"{dob.isoformat()} is more than {OLDEST_PATIENT_YEARS} years ago")
    return Patient(name=name, mrn=mrn, date_of_birth=dob)


def _event_dict(event: Event, seq: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": event.type.value,
        "at": utc_iso(event.at),
        "recorded_at": utc_iso(event.recorded_at),
        "user": event.user,
        "details": event.details,
    }
    if seq is not None:
        data["seq"] = seq
    return data


# How long a vial scan refused for a new order not yet stored (its near miss filed under the patient's
# MRN) keeps that lot from being typed in for the patient's order: a working day and a night. A
# program-design choice, not a drug fact.
REFUSED_SCAN_WINDOW = timedelta(hours=24)


def _vial_dict(vial: VialRecord) -> dict[str, Any]:
    return {
        "lot": vial.lot,
        "expiry": vial.expiry.isoformat(),
        # In the log too: audit verify's replay compares it with the stored row (storage.audit._VIAL_FIELDS).
        "expires_at": None if vial.expires_at is None else utc_iso(vial.expires_at),
        "gtin": vial.gtin,
        "ndc": vial.ndc,
        "serial": vial.serial,
    }


def _deadline_dict(deadline: Deadline) -> dict[str, Any]:
    return {
        "key": deadline.key,
        "label": deadline.label,
        "at": utc_iso(deadline.at),
        "state": getattr(deadline.state, "value", deadline.state),
        "met_at": utc_iso(deadline.met_at) if deadline.met_at else None,
        "basis": deadline.basis,
        "hard": deadline.hard,
        "overridable": deadline.overridable,
        "pending_review": deadline.pending_review,
        "entered_late": deadline.entered_late,
        "deviation": deadline.deviation,
    }


@dataclass(frozen=True)
class PreparationStatus:
    """A stored preparation as of `now`: its deadlines with states, its step, what may come next."""

    prep: Preparation
    now: datetime
    current_step: str
    active: bool
    deadlines: list[Deadline]
    next_deadline: Deadline | None
    hard_stops: list[str]
    acknowledged: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (deadline key, state)
    warnings: list[str] = field(default_factory=list)  # not hard stops: e.g. reconstituted solution left standing
    clock_jumped_back: bool = False
    stored_instant_ahead: datetime | None = None  # a stored instant far ahead of this clock (another workstation's clock?)
    # allowed_events asks the state machine about every event type, the costliest part of a
    # status: computed on first use, so the board's list of 100 preparations does not pay for it.
    _allowed: Callable[[], list[EventType]] = field(default=lambda: [], repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.prep.id

    @cached_property
    def allowed_events(self) -> list[EventType]:
        """Step events the state machine would accept now from a suitable user, without an override."""
        return self._allowed()

    def is_acknowledged(self, deadline_key: str, state: str) -> bool:
        return (deadline_key, getattr(state, "value", state)) in self.acknowledged

    def acknowledgement_of(self, deadline_key: str, state: str) -> Event | None:
        """Who acknowledged this deadline's alarm in this state, and when (the latest), or None."""
        state = getattr(state, "value", state)
        found = [e for e in self.prep.events_of(EventType.ALARM_ACKNOWLEDGED) if e.details.get("deadline") == deadline_key and e.details.get("state") == state]
        return found[-1] if found else None

    def to_dict(self) -> dict[str, Any]:
        prep = self.prep
        return {
            "id": prep.id,
            "patient": {"name": prep.patient.name, "mrn": prep.patient.mrn, "date_of_birth": prep.patient.date_of_birth.isoformat()},
            "order": prep.order.order_dict(),
            "calculation": prep.order.calculation.to_dict(),
            "created_at": utc_iso(prep.created_at),
            "created_by": prep.created_by,
            "monograph": {"id": prep.monograph_id, "revision": prep.monograph_revision},
            "vials": [_vial_dict(v) for v in prep.vials],
            "events": [_event_dict(e, seq) for seq, e in enumerate(prep.events, start=1)],
            "deadlines": [_deadline_dict(d) for d in self.deadlines],
            "next_deadline": _deadline_dict(self.next_deadline) if self.next_deadline else None,
            "hard_stops": list(self.hard_stops),
            "warnings": list(self.warnings),
            "deviations": [{**_event_dict(e), "text": machine.deviation_text(e)} for e in machine.deviations_of(prep)],
            # What was given, as last corrected (the events keep what was first entered).
            "premedication_given": [_event_dict(e, number) for number, e in machine.numbered_premedications(prep)],
            "current_step": self.current_step,
            "allowed_events": [e.value for e in self.allowed_events],
            "active": self.active,
            "acknowledged_alarms": [{"deadline": k, "state": s} for k, s in sorted(self.acknowledged)],
            "now": utc_iso(self.now),
            "clock_jumped_back": self.clock_jumped_back,
            "stored_instant_ahead": utc_iso(self.stored_instant_ahead) if self.stored_instant_ahead else None,
        }


def _shown_name(typed: str) -> str:
    """A typed sign-in name as the audit shows it: control characters escaped, within the name length."""
    return "".join(ch if ch.isprintable() else "?" for ch in " ".join(typed.split()))[:NAME_MAX] or "(blank)"


class PreparationService:
    """See the package docstring (infusion_app/service/__init__.py) for the API summary."""

    def __init__(
        self,
        repository: Repository,
        clock: Clock | None = None,
        monograph: Monograph | None = None,
        *,
        engine: Engine | None = None,
        location: Location | None = None,
        migration: MigrationResult | None = None,
    ):
        self.repository = repository
        # A monograph read from a file (a site's or a test's) stands in the registry for its drug's id;
        # it is never the drug of anything else. Nothing here has a default drug: a stored preparation
        # is read with its own monograph (monograph_of), a new order names its drug or takes the
        # new-order rule (new_order_drug), which refuses several drugs as ambiguous.
        self._given = monograph
        self.clock = clock if isinstance(clock, MonotonicClock) else MonotonicClock(clock or SystemClock())
        self._wall = getattr(self.clock, "_inner", self.clock)
        # The latest stored instant far ahead of this workstation's clock: flagged, never adopted.
        self.stored_instant_ahead: datetime | None = None
        floor = repository.latest_instant()
        if floor is not None:
            self._raise_floor(floor)
        self.engine = engine
        self.location = location
        self.migration = migration
        self.interchange_error: str | None = None  # the last failure to queue a message, for the board
        self._skew_cache: tuple[Any, str | None] | None = None
        self.connection = ConnectionWatch()

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    def __enter__(self) -> PreparationService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def station(self) -> str:
        """The workstation name every event and audit entry from here records."""
        return str(getattr(self.repository, "station", "") or "")

    def change_listener(self) -> Any:
        """On a shared (PostgreSQL) database, a storage.changes_listener.ChangeListener whose
        socket becomes readable when another station commits; None on SQLite (poll changes_since)."""
        if self.engine is None or self.engine.dialect.name != "postgresql":
            return None
        from ..storage.changes_listener import ChangeListener

        return ChangeListener(self.engine)

    # -- the connection to a shared database (domain/connection.py decides, screens show) -----
    def watch_connection(self) -> None:
        """The desktop program's station: from now on every read and write tells the watch whether
        the server answered; while it is known to be gone, a write is refused at once (NotLive),
        never queued. Commands do not watch: a lost server is their one-line exit 3."""
        if self.engine is None or self.engine.dialect.name == "sqlite":
            return
        from ..storage.database import attach_gate

        attach_gate(self.engine, _ConnectionGate(self))

    def connection_state(self) -> ConnectionState:
        return self.connection.state

    def connection_retry_due(self) -> bool:
        return self.connection.retry_due(self.now())

    def clock_skew_warning(self) -> str | None:
        """On a shared database: this workstation's clock against the server's, when further
        apart than the site's tolerance (instants come from the server either way).

        Cheap enough for every tick: recomputed (one settings read) only after the server clock
        took a new reading (every 30 s), so a skew that appears later reaches the board too."""
        offset = getattr(self._wall, "offset", None)
        if offset is None:
            return self.stored_instant_warning()
        readings = getattr(self._wall, "readings", None)
        cached = self._skew_cache
        if cached is not None and readings is not None and cached[0] == (readings, offset):
            return cached[1]
        tolerance = self.settings().clock_skew_tolerance
        if abs(offset) <= tolerance:
            warning = None
        else:
            direction = "behind" if offset > timedelta(0) else "ahead of"
            warning = (
                f"this workstation's clock is {abs(offset.total_seconds()):.0f} s {direction} the database server's "
                f"(tolerance {tolerance.total_seconds():.0f} s): times are taken from the server; ask IT to fix this clock (NTP)"
            )
        self._skew_cache = ((readings, offset), warning)
        return warning if warning is not None else self.stored_instant_warning()

    def stored_instant_warning(self) -> str | None:
        """A stored instant far ahead of this workstation's clock (another station's clock ahead, or
        this one behind): never adopted, so each clock times its own deadlines; said wherever the
        clock-skew warning is (board, every command), since one of the two clocks is wrong."""
        ahead = self.stored_instant_ahead
        if ahead is None:
            return None
        minutes = max(0.0, (ahead - self._wall.now()).total_seconds() / 60)
        return (
            f"a time stored in the database ({format_instant(ahead)}) is {minutes:.0f} min ahead of this workstation's clock: "
            "another workstation's clock is ahead or this one is behind; deadlines here are timed by this clock; "
            "ask IT to check both clocks (NTP)"
        )

    # -- users ------------------------------------------------------------------------------
    def has_users(self) -> bool:
        return self.repository.count_users() > 0

    def users(self, include_inactive: bool = False) -> list[User]:
        return self.repository.list_users(include_inactive)

    def user(self, name: str) -> User | None:
        return self.repository.get_user(name)

    def _actor_name(self, actor: User | None, why: str) -> str:
        """None means the command line's local administrator; a signed-in actor must be a pharmacist."""
        if actor is None:
            return local_admin_name()
        current = self._current_user(actor)
        if current.role is not Role.PHARMACIST:
            raise StepRefused("role", f"{why} is a pharmacist's task; {current.name} is a {current.role.value}")
        return current.name

    def _current_user(self, user: User | str) -> User:
        """The user as stored now (role and active state may have changed since sign-in)."""
        name = user if isinstance(user, str) else user.name
        stored = self.repository.get_user(name)
        if stored is None:
            raise ValidationError("user", f"no user named '{name}'")
        if not stored.active:
            raise StepRefused("user-inactive", f"user {stored.name} is deactivated")
        return stored

    def add_user(self, name: str, role: Role | str, pin: str, actor: User | None = None) -> User:
        """A signed-in pharmacist adds a user. Without `actor`, only the very first user of an
        empty database, who must be a pharmacist (checked again inside the write transaction)."""
        name = validate_user_name(name)
        role = validate_role(role)
        validate_pin(pin, minimum=self.settings().pin_min_digits)
        first = actor is None
        if first:
            if self.repository.count_users() > 0:
                raise StepRefused(
                    "sign-in-required",
                    "adding a user needs a pharmacist signed in with their PIN; only the first pharmacist of an empty database is added without one",
                )
            if role is not Role.PHARMACIST:
                raise StepRefused("first-user-pharmacist", f"the first user must be a pharmacist (who can then add the others); '{role.value}' was given")
        who = self._actor_name(actor, "adding a user")
        self._refuse_confusable(name)
        pin_hash = hash_pin(pin)
        audit = AuditDraft(
            self.now(),
            who,
            "user.added",
            name,
            None,
            {"name": name, "role": role.value, "active": True, "pin_fingerprint": pin_fingerprint(pin_hash), "os_user": os_account()},
        )
        from ..storage.repository import DuplicateError, NoLongerEmpty  # the storage layer's own refusal of a race

        try:
            return self.repository.add_user(User(None, name, role), pin_hash, audit, only_if_empty=first)
        except DuplicateError:
            raise ValidationError("name", f"a user named '{name}' already exists (names are unique regardless of case)") from None
        except NoLongerEmpty as exc:
            raise StepRefused("sign-in-required", str(exc)) from None

    def _refuse_confusable(self, name: str) -> None:
        """A name that looks like an existing one ("Tina" and "Tinа" with a Cyrillic а) is refused."""
        skeleton = name_skeleton(name)
        for existing in self.repository.list_users(include_inactive=True):
            if " ".join(existing.name.split()).casefold() == " ".join(name.split()).casefold():
                raise ValidationError("name", f"a user named '{existing.name}' already exists (names are unique regardless of case)")
            if name_skeleton(existing.name) == skeleton:
                raise ValidationError(
                    "name", f"'{name}' looks like the existing user '{existing.name}' (letters from another alphabet); choose a distinct name"
                )

    def authenticate(self, name: str, pin: str) -> User:
        """The stored user when name and PIN match and the user is active; AuthenticationError otherwise.

        Wrong PINs are counted per typed name in the database (every process and workstation
        shares the count, and a restart keeps it), and each is audited. After FREE_PIN_ATTEMPTS
        in a row the name waits before the next try, doubling up to MAX_PIN_WAIT. A right PIN
        resets the count.
        """
        if not isinstance(name, str) or not isinstance(pin, str):
            raise AuthenticationError()
        if holds_undecodable_bytes(name):
            # Bytes that are not text (a mis-set terminal) can name no stored user; refused as
            # input, before the failure counter, whose key would not even store. (A name with
            # control characters is an ordinary failed sign-in: counted and audited, escaped.)
            raise ValidationError("user", "holds bytes that are not text; type the name as it was added, e.g. Tina Tech")
        key = " ".join(name.split()).casefold()[:NAME_MAX]
        now = self.now()
        stored_failures = self.repository.sign_in_failures(key)
        failures, last = stored_failures if stored_failures else (0, now)
        if failures >= FREE_PIN_ATTEMPTS:
            wait = min(PIN_WAIT * 2 ** min(failures - FREE_PIN_ATTEMPTS, 30), MAX_PIN_WAIT)
            if now < last + wait:
                seconds = math.ceil((last + wait - now).total_seconds())
                # A try while locked out does not lengthen the wait, but someone is at the keyboard:
                # counted, and audited at the 1st, 2nd, 4th... try so hammering cannot flood the log.
                shown = _shown_name(name)
                self.repository.record_locked_out_try(
                    key,
                    last,
                    lambda tries: AuditDraft(
                        now, shown, "sign_in.locked_out", shown, None, {"os_user": os_account(), "failures": failures, "wait_s": seconds, "tries": tries}
                    ),
                )
                raise AuthenticationError(f"too many wrong PINs for this name; try again in {seconds} s")
        stored_hash = self.repository.get_pin_hash(name)
        if stored_hash is None:
            dummy_verify(pin)
            self._sign_in_failed(key, name, now)
            raise AuthenticationError()
        if not verify_pin(pin, stored_hash):
            self._sign_in_failed(key, name, now)
            raise AuthenticationError()
        if stored_failures:
            self.repository.clear_sign_in_failures(key)
        user = self.repository.get_user(name)
        if user is None or not user.active:
            raise AuthenticationError(f"user {name} is deactivated; ask a pharmacist")
        return user

    def _audit_near_miss(self, prep_id: str, actor: User, refusal: StepRefused, step: str, now: datetime, vial: VialRecord | None = None) -> None:
        """A refusal that stopped a wrong dose, patient or product: audited though nothing else is stored.
        A refused vial is kept with it as read: the same vial typed in afterwards is refused (_check_vial_use)."""
        if not machine.is_near_miss(refusal.code):
            return
        after: dict[str, Any] = {"step": step, "code": refusal.code, "message": refusal.message, "os_user": os_account()}
        if vial is not None:
            after["vial"] = _vial_dict(vial)
        self.repository.append_audit(AuditDraft(now, actor.name, "near_miss", prep_id, None, after))

    def _sign_in_failed(self, key: str, typed: str, now: datetime) -> None:
        shown = _shown_name(typed)
        audit = AuditDraft(now, shown, "sign_in.failed", shown, None, {"os_user": os_account()})
        self.repository.record_sign_in_failure(key, now, audit)

    def set_user_active(self, name: str, active: bool, actor: User | None = None) -> User:
        if actor is None:
            raise StepRefused("sign-in-required", "activating or deactivating a user needs a pharmacist signed in with their PIN")
        who = self._actor_name(actor, "activating or deactivating a user")
        stored = self.repository.get_user(name)
        if stored is None:
            raise ValidationError("name", f"no user named '{name}'")
        audit = AuditDraft(
            self.now(),
            who,
            "user.activated" if active else "user.deactivated",
            stored.name,
            {"active": stored.active},
            {"active": active, "os_user": os_account()},
        )
        from ..storage.repository import LastPharmacist

        try:
            return self.repository.update_user(stored.name, active=active, audit=audit)
        except LastPharmacist:
            raise StepRefused(
                "last-pharmacist",
                f"{stored.name} is the last active pharmacist: add another before deactivating (nobody could verify, override or manage users)",
            ) from None

    def deactivate_user(self, name: str, actor: User | None = None) -> User:
        return self.set_user_active(name, False, actor)

    def set_pin(self, name: str, new_pin: str, actor: User | None = None, current_pin: str | None = None) -> User:
        """A signed-in pharmacist resets a PIN (`actor`); a user changes their own with `current_pin`."""
        validate_pin(new_pin, minimum=self.settings().pin_min_digits)
        stored = self.repository.get_user(name)
        if stored is None:
            raise ValidationError("name", f"no user named '{name}'")
        if current_pin is not None:
            self.authenticate(name, current_pin)
            who = stored.name
        elif actor is None:
            raise StepRefused("sign-in-required", "resetting a PIN needs a pharmacist signed in with their PIN, or the user's current PIN")
        else:
            who = self._actor_name(actor, "resetting a PIN")
        pin_hash = hash_pin(new_pin)
        audit = AuditDraft(self.now(), who, "user.pin_changed", stored.name, None, {"pin_fingerprint": pin_fingerprint(pin_hash), "os_user": os_account()})
        return self.repository.update_user(stored.name, pin_hash=pin_hash, audit=audit)

    def authorize_override(self, pharmacist: str, pin: str, reason: str, hard_stop_code: str = "") -> Override:
        """Check the overriding pharmacist's PIN and role; the Override then goes to record_event."""
        user = self.authenticate(pharmacist, pin)
        reason = _clean_text("override reason", reason, REASON_MAX, self.policy().override_reason_min_chars)
        # make_override checks the role; a missing code is filled in by record_event from the refusal.
        override = machine.make_override(user, reason, hard_stop_code or "pending")
        return override if hard_stop_code else dataclasses.replace(override, hard_stop_code="")

    # -- settings ---------------------------------------------------------------------------
    def settings(self) -> Settings:
        return build_settings(self.repository.get_settings())

    def policy(self) -> SitePolicy:
        return self.settings().policy

    def setting_version(self, key: str) -> tuple[str, datetime] | None:
        """Who last changed a setting and when (None: never changed): pass it back as `expected`."""
        versions = getattr(self.repository, "setting_versions", None)
        return versions().get(key) if versions is not None else None

    def set_setting(self, key: str, value: Any, actor: User, expected: tuple[str, datetime] | None | bool = False) -> Settings:
        """Pharmacists change settings; the change (before and after) is audited.

        `expected`: setting_version(key) as read when the form was filled; a change another
        station made since is refused (StepRefused 'changed': "changed by NAME at TIME; reload"),
        never overwritten. Left out, the value is set as given (the command line)."""
        if actor is None:
            raise ValidationError("user", "a pharmacist must be named to change a setting")
        who = self._actor_name(actor, "changing a setting")
        clean = validate_setting(key, value)
        before = self.settings().as_dict().get(key)
        draft = AuditDraft(self.now(), who, "setting.changed", key, {key: before}, {key: clean})
        try:
            self.repository.set_setting(key, clean, draft, expected=expected)
        except ConcurrentChange as change:
            raise StepRefused("changed", str(change)) from None
        self._skew_cache = None  # the tolerance may be what changed
        return self.settings()

    # -- preparations -----------------------------------------------------------------------
    def calculate(self, order: DoseOrder, date_of_birth: date | None = None, monograph: Monograph | None = None) -> DoseCalculation:
        """The dose engine with this site's policy (no storage); with the date of birth, the
        label's minimum age is checked at today's date on the site's clock. `monograph`: the drug
        (and regimen) ordered; not given, the drug of a new order naming none (new_order_drug)."""
        drug = self.new_order_drug(monograph)
        dose_date = self.now().astimezone().date() if date_of_birth is not None else None
        return calculate_dose(order, drug, self.policy(), date_of_birth=date_of_birth, dose_date=dose_date)

    def registered(self, monograph_id: str) -> Monograph:
        """The monograph of this id, from the registry (or the one this service was handed for it)."""
        if self._given is not None and self._given.id == monograph_id:
            return self._given
        return load_monograph(monograph_id)

    def new_order_drug(self, monograph: Monograph | None = None) -> Monograph:
        """The drug of a NEW order (or course): the one named, else the only drug installed; several
        installed and none named is ambiguous (ValidationError 'drug'), never a default.
        Never used for anything already stored: that is read with its own monograph."""
        if monograph is not None:
            return monograph
        return self.registered(resolve_drug(None))

    def drugs(self) -> list[Monograph]:
        """The drugs a new order may name: every installed monograph, by id (as monograph_of reads it)."""
        return [self.registered(m.id) for m in installed_monographs()]

    def default_drug(self) -> str | None:
        """The drug an order names when nobody picks one: the only one installed, or None when several
        are: then it is picked (screens start with no drug selected)."""
        try:
            return resolve_drug(None)
        except ValidationError:
            return None

    def coverage_policy(self, monograph: Monograph) -> Policy | None:
        """The payer policy that judges this drug (by its billing code), or None when none is installed."""
        from ..domain.coverage import policy_for_billing_code

        return policy_for_billing_code(monograph.text("billing.hcpcs"))

    def check_coverage(self, monograph: Monograph, facts: CoverageFacts, date_of_birth: date | None = None) -> CoverageDecision | None:
        """The payer policy's decision on these facts for this drug; None when no policy judges it.
        The facts the policy derives from the patient's record (the age) come from `date_of_birth`,
        today. ValidationError names a fact typed wrongly."""
        from ..domain.coverage import CoverageFacts, check_coverage, patient_facts

        policy = self.coverage_policy(monograph)
        if policy is None:
            return None
        derived = patient_facts(policy, date_of_birth, self.now().astimezone().date())
        typed = {name: facts.get(name) for name in facts.given()}
        return check_coverage(CoverageFacts(**{**typed, **derived}), policy)

    def monograph_of(self, prep: Preparation) -> Monograph:
        """The monograph a preparation was made from (its monograph_id), as dosed by its regimen."""
        regimen = prep.order.regimen
        return self.registered(prep.monograph_id).with_regimen(regimen)

    def order_from_course(
        self, mrn: str, order: DoseOrder, monograph: Monograph | None = None, date_of_birth: date | None = None
    ) -> tuple[DoseOrder, CourseCheck]:
        """The order as the patient's course has it (cycle, day, response, reduction), and what to store of it.

        With a course on file, typed values that disagree are refused (StepRefused 'course', both values
        named) and a dose that is not due cannot be prepared. Without one, cycle and day must be typed
        and the preparation is flagged "no course on file" (stored with the order, shown on the sheet).
        `date_of_birth` is the order's patient's: a course kept without one plans a child's days by it."""
        from ..domain.labs import NO_COURSE_FLAG

        drug = self.new_order_drug(monograph)
        course = self._course_on_file(str(mrn or "").strip())
        flag = NO_COURSE_FLAG
        if course is not None and course.monograph_id != drug.id:
            # The patient's course is another drug's: its schedule does not judge this order (nor is
            # the order linked to it); the order is checked as one with no course of its drug on file.
            other = self.registered(course.monograph_id)
            flag = f"{flag} for {drug.brand_name} (the course on file is {other.brand_name}'s)"
            course = None
        if course is None:
            missing = [name for name, value in (("cycle", order.cycle), ("day", order.day)) if value in (None, "")]
            if missing:
                raise ValidationError(missing[0], f"{flag} for MRN {mrn}: the order needs the cycle and day (e.g. cycle 1, day 1)")
            from ..domain.labs import LABS_NEEDED_FLAG, no_course_labs

            # No course holds this patient's labs: the order verification asks for them (the domain
            # refuses it without the values or a pharmacist's override), named on the sheet and at entry.
            labs_text = "; ".join(no_course_labs(drug, self.policy()))
            return order, CourseCheck(
                on_file=False,
                flag=flag,
                flags=(
                    f"{LABS_NEEDED_FLAG} ({NO_COURSE_FLAG}): the pharmacist verifying the order "
                    f"records {labs_text}, or overrides the missing labs with a reason",
                ),
            )
        from ..domain import course as course_rules

        today = self.now().astimezone().date()
        try:
            found = course_rules.order_from_course(
                course,
                today,
                order.cycle,
                order.day,
                order.response,
                order.reduce_pct,
                monograph=drug,
                policy=self.policy(),
                now=self.now(),
                date_of_birth=date_of_birth,
            )
        except course_rules.CourseBlocked as blocked:
            raise StepRefused("course", "; ".join(blocked.reasons)) from None
        resolved = dataclasses.replace(order, cycle=found.cycle, day=found.day, response=found.response, reduce_pct=found.reduce_pct)
        return resolved, CourseCheck.from_dict(found.to_dict())

    def create_preparation(
        self,
        patient: Patient,
        order: DoseOrder,
        user: User,
        vials: Iterable[VialRecord] = (),
        coverage: CoverageDecision | dict[str, Any] | None = None,
        product_confirmed: bool = False,
        correction: tuple[User, str] | None = None,
        monograph: Monograph | None = None,
        shown: DoseCalculation | None = None,
    ) -> PreparationStatus:
        """Calculate and store a new preparation of `monograph`'s drug (as dosed by its regimen; the
        drug of a new order naming none when not given: new_order_drug). PreparationBlocked (nothing stored) on a hard stop;
        CalculationChanged (nothing stored) when `shown` is given and is not the calculation made now."""
        drug = self.new_order_drug(monograph)
        creator = self._current_user(user)
        if creator.role not in PREPARING_ROLES:
            raise StepRefused("role", f"preparations are started by pharmacy technicians or pharmacists; {creator.name} is a {creator.role.value}")
        now = self.now()
        patient = validate_patient(patient, now.astimezone().date())
        known = self.repository.find_patient(patient.mrn)
        corrected_from = None
        if known is not None and known.date_of_birth != patient.date_of_birth:
            # One MRN, one date of birth: a different one is a typo or another patient, unless a
            # pharmacist corrects the record (audited with the old and new values and the reason).
            if correction is None:
                raise StepRefused(
                    "patient_dob_differs",
                    f"MRN {patient.mrn} is stored with another date of birth; check the wristband. "
                    "A pharmacist may correct the date of birth (recorded with a reason).",
                )
            corrector, why = correction
            corrector = self._current_user(corrector)
            if corrector.role is not Role.PHARMACIST:
                raise StepRefused("role", f"correcting a date of birth is a pharmacist's task; {corrector.name} is a {corrector.role.value}")
            why = _clean_text("reason", why, REASON_MAX, minimum=3)
            corrected_from = (corrector.name, why, known.date_of_birth)
        try:
            order, course_on_file = self.order_from_course(patient.mrn, order, drug, patient.date_of_birth)
        except StepRefused as refused:
            self.repository.append_audit(
                AuditDraft(
                    now,
                    creator.name,
                    "preparation.refused",
                    patient.mrn,
                    None,
                    {"patient": dataclasses.asdict(patient), "order": dataclasses.asdict(order), "hard_stops": [refused.message]},
                )
            )
            raise
        calculation = self.calculate(order, patient.date_of_birth, drug)
        if shown is not None and shown != calculation:
            # `shown`: the calculation the person creating it checked; only that one is stored.
            raise CalculationChanged(calculation)
        checked: list[VialRecord] = []
        current: VialRecord | None = None
        try:
            for current in vials:
                checked.append(self._validate_vial(current, now, product_confirmed, drug))
                # The same checks a vial added later meets: the same vial twice in this order, or one
                # recorded for another preparation (`prep new --vial-code X --vial-code X` was accepted).
                self._check_vial_use(None, checked[:-1], checked[-1], drug, now, patient.mrn)
        except StepRefused as refused:
            # Not yet a preparation: the near miss is filed under the patient's MRN.
            self._audit_near_miss(patient.mrn, creator, refused, "vial", now, current)
            raise
        vials = checked
        if calculation.hard_stops:
            self.repository.append_audit(
                AuditDraft(
                    now,
                    creator.name,
                    "preparation.refused",
                    patient.mrn,
                    None,
                    {"patient": dataclasses.asdict(patient), "order": dataclasses.asdict(order), "hard_stops": calculation.hard_stops},
                )
            )
            raise PreparationBlocked(calculation)
        if isinstance(coverage, dict):
            from ..domain.coverage import CoverageDecision

            decision: CoverageDecision | None = CoverageDecision.from_dict(coverage)
        else:
            decision = coverage
        stored_order = PreparationOrder(order, calculation, course_on_file, drug.regimen.id if drug.regimen is not None else None, decision)
        from ..storage.audit import canonical_json, text_digest
        from ..storage.repository import DuplicateError

        for _attempt in range(20):
            prep_id = new_preparation_id(drug.id_prefix)
            if self.repository.preparation_id_exists(prep_id):
                continue
            prep = Preparation(
                id=prep_id,
                patient=patient,
                order=stored_order,
                created_at=now,
                created_by=creator.name,
                monograph_id=drug.id,
                monograph_revision=drug.revision,
                vials=list(vials),
            )
            audit = AuditDraft(
                now,
                creator.name,
                "preparation.created",
                prep_id,
                None,
                {
                    "patient": dataclasses.asdict(patient),
                    "order": dataclasses.asdict(order),
                    "dose_mg": calculation.dose_mg,
                    "vials": [_vial_dict(v) for v in vials],
                    "monograph": {"id": prep.monograph_id, "revision": prep.monograph_revision},
                    "created_by": creator.name,
                    # the stored order and calculation, exactly: a dose edited in the table is detected
                    "order_digest": text_digest(canonical_json(stored_order.to_dict())),
                },
            )

            def check_again(ready: list[VialRecord] = list(vials)) -> None:
                # Inside the write, the vials' serials locked: another station's vial stored meanwhile counts.
                for number, vial in enumerate(ready):
                    self._check_vial_use(None, ready[:number], vial, drug, now, patient.mrn)

            try:
                self.repository.add_preparation(prep, audit, check=check_again)
            except DuplicateError:
                continue
            except StepRefused as refused:
                self._audit_near_miss(patient.mrn, creator, refused, "vial", now)
                raise
            if corrected_from is not None:
                who, why, old_dob = corrected_from
                self.repository.append_audit(
                    AuditDraft(
                        now,
                        who,
                        "patient.dob_corrected",
                        patient.mrn,
                        {"date_of_birth": old_dob.isoformat()},
                        {"date_of_birth": patient.date_of_birth.isoformat(), "reason": why, "preparation": prep_id},
                    )
                )
            return self.status(prep_id)
        raise RuntimeError("could not find a free preparation id")  # 20 collisions in a 2^20 space: a broken RNG

    def _validate_vial(self, vial: VialRecord, now: datetime, product_confirmed: bool, monograph: Monograph) -> VialRecord:
        from ..domain.gs1 import vial_product_refusal

        lot = _clean_text("lot", vial.lot, 40)
        if not isinstance(vial.expiry, date) or isinstance(vial.expiry, datetime):
            raise ValidationError("expiry", "must be a date (YYYY-MM-DD)")
        if vial.expires_at is not None and (not isinstance(vial.expires_at, datetime) or vial.expires_at.tzinfo is None):
            raise ValidationError("expiry", "an expiry time must be an instant with its UTC offset")
        # A year past the calendar's span (the bench's typed '9999-12-31') was stored, and every status
        # then overflowed working out the end of its last day of use: the board could show no preparation.
        for value in (vial.expiry, vial.expires_at):
            if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
                raise ValidationError(
                    "expiry",
                    f"{value.isoformat()} is out of range: the year must be {EARLIEST_YEAR} to {LATEST_YEAR}; give the date printed on the vial, e.g. 2027-06-30",
                )
        serial = vial.serial
        if serial is not None and not vial.gtin:
            from ..domain.gs1 import typed_serial

            serial = typed_serial(serial)  # typed from the carton: the reuse check goes by it
        if vial.expired(now):
            raise StepRefused("vial-expired", f"vial lot {lot} expired {vial_expiry_words(vial)}; do not use it")
        refusal = vial_product_refusal(vial, monograph, product_confirmed)
        if refusal is not None:
            code = "vial_product_unconfirmed" if not (vial.gtin or vial.ndc) else "vial_wrong_product"
            raise StepRefused(code, f"vial lot {lot} not recorded: {refusal}")
        return dataclasses.replace(vial, lot=lot, serial=serial)

    def read_vial_code(self, text: str, monograph: Monograph) -> VialRecord:
        """A scanned vial code of `monograph`'s drug (the preparation's, or the new order's), read
        against the clock's local date (GS1 two-digit years).

        A code with an expiry time (AI 7003, the site's wall clock) keeps it as the vial's expiry
        instant: every vial is judged by it when recorded (_validate_vial) and at every step using
        the product (domain.preparation).
        """
        from ..domain.gs1 import parse_gs1

        code = parse_gs1(text, monograph, today=self.now().astimezone().date())
        return code.to_vial_record()

    def add_vial(self, prep_id: str, vial: VialRecord | str, user: User, product_confirmed: bool = False) -> PreparationStatus:
        """Record a vial opened for the preparation: a VialRecord, or the text of its GS1 DataMatrix code.

        A vial of another product is refused (domain.gs1.vial_product_refusal); a typed vial (no
        code read) needs `product_confirmed`: the preparer read the carton's product and NDC.
        """
        prep_id = self.preparation_id(prep_id)
        actor = self._current_user(user)
        if actor.role not in PREPARING_ROLES:
            raise StepRefused("role", f"vials are recorded by pharmacy technicians or pharmacists; {actor.name} is a {actor.role.value}")
        prep = self._load(prep_id)
        if not machine.is_active(prep):
            raise StepRefused("inactive", f"preparation {prep_id} is finished or discarded; no vial can be added")
        now = self.now()
        drug = self.monograph_of(prep)
        read: VialRecord | None = None
        try:
            if isinstance(vial, str):
                vial = self.read_vial_code(vial, drug)
            read = vial
            vial = self._validate_vial(vial, now, product_confirmed, drug)
            self._check_vial_use(prep_id, prep.vials, vial, drug, now, prep.patient.mrn)
        except StepRefused as refusal:
            self._audit_near_miss(prep_id, actor, refusal, "vial", now, read)
            raise
        entry = {**_vial_dict(vial), "entry": "scanned" if vial.gtin else "typed"}
        if not vial.gtin:
            entry["product_confirmed"] = bool(product_confirmed)
        checked_vial = vial

        def check_again() -> None:
            # Inside the write, the vial's serial locked: what another station stored meanwhile counts.
            self._check_vial_use(prep_id, self._load(prep_id).vials, checked_vial, drug, now, prep.patient.mrn)

        try:
            self.repository.add_vial(prep_id, vial, AuditDraft(now, actor.name, "vial.added", prep_id, None, entry), check=check_again)
        except StepRefused as refusal:
            self._audit_near_miss(prep_id, actor, refusal, "vial", now, read)
            raise
        return self.status(prep_id)

    def _check_vial_use(
        self, prep_id: str | None, recorded: Sequence[VialRecord], vial: VialRecord, drug: Monograph, now: datetime, mrn: str | None = None
    ) -> None:
        """Refuse a vial (scanned or typed, already validated) that is one physical vial with one recorded
        for this preparation (`recorded`) or another one (domain.gs1.same_physical_vial: by its serial,
        typed or read), or a typed vial its lot's code or a refused scan of its lot contradicts
        (domain.gs1.typed_vial_refusal). Run before the write and again inside it (add_vial, create_preparation)."""
        from ..domain.gs1 import same_vial_recorded, typed_vial_refusal, vial_product_refusal, vial_used_elsewhere

        if same_vial_recorded(recorded, vial) is not None:
            where = f"for {prep_id}" if prep_id else "for this order"
            raise StepRefused(
                "vial_already_recorded",
                f"this vial (serial {vial.serial}, lot {vial.lot}) is already recorded {where}: a double scan, or a single-dose vial used twice",
            )
        if vial.serial:
            # The same physical vial for another patient's dose: only this check sees the other preparations.
            others = [self._load(other) for other in self.repository.preparations_with_vial(vial.serial) if other != prep_id]
            elsewhere = vial_used_elsewhere(vial, [p for p in others if same_vial_recorded(p.vials, vial) is not None])
            if elsewhere is not None:
                raise StepRefused("vial_used_elsewhere", elsewhere)
        if vial.gtin:
            return
        refused_scans = []
        # A new order's scans refused before it was stored are filed under the patient's MRN: those of the
        # last day count as this order's (`prep new --vial-code` refused, then the same lot typed with --vial).
        # The refusal says which: one filed under the MRN was not scanned for this preparation.
        hours = format_number(REFUSED_SCAN_WINDOW.total_seconds() / 3600, 0)
        misses = [(miss, "for this preparation") for miss in self.repository.near_misses(prep_id)] if prep_id else []
        if mrn is not None:
            earlier = f"for an order for this patient that was not stored (MRN {mrn}, in the last {hours} h)"
            misses += [(miss, earlier) for miss in self.repository.near_misses(mrn, since=now - REFUSED_SCAN_WINDOW)]
        read_expiries = []
        for miss, where in misses:
            seen = miss.get("vial")
            if miss.get("step") == "vial" and isinstance(seen, dict) and seen.get("gtin") and seen.get("lot"):
                serial = str(seen["serial"]) if seen.get("serial") else None
                refused = VialRecord(lot=str(seen["lot"]), expiry=vial.expiry, gtin=str(seen["gtin"]), serial=serial)
                refused_scans.append((refused, str(miss.get("message", "")), where))
                # A refused scan's code read its lot's expiry too: another vial of the lot, no longer kept
                # out by the refusal (another serial), is still held to it (an expired scan, then typed later).
                try:
                    at = seen.get("expires_at")
                    read = dataclasses.replace(
                        refused, expiry=date.fromisoformat(str(seen["expiry"])), expires_at=datetime.fromisoformat(str(at)) if at else None
                    )
                except (KeyError, TypeError, ValueError):
                    continue
                if read.expires_at is None or read.expires_at.tzinfo is not None:
                    read_expiries.append(read)
        # The lot's code as scanned for any preparation of this drug (a lot number of another product says nothing of it).
        scanned = [v for v in [*self.repository.scanned_vials_of_lot(vial.lot), *read_expiries] if vial_product_refusal(v, drug) is None]
        found = typed_vial_refusal(vial, refused_scans, scanned, now, recorded=recorded)
        if found is not None:
            raise StepRefused(found[0], f"vial lot {vial.lot} not recorded: {found[1]}")

    def remove_vial(self, prep_id: str, number: int, user: User, reason: str) -> PreparationStatus:
        """Remove a vial recorded by mistake (1 = the first recorded), before reconstitution, with a reason (audited)."""
        prep_id = self.preparation_id(prep_id)
        actor = self._current_user(user)
        if actor.role not in PREPARING_ROLES:
            raise StepRefused("role", f"vials are recorded by pharmacy technicians or pharmacists; {actor.name} is a {actor.role.value}")
        prep = self._load(prep_id)
        if not machine.is_active(prep):
            raise StepRefused("inactive", f"preparation {prep_id} is finished or discarded; its vials stay as recorded")
        if prep.last(EventType.RECONSTITUTED) is not None:
            raise StepRefused("vials_reconstituted", "the vials are reconstituted: the record of what was used stays as it is")
        if not isinstance(number, int) or not 1 <= number <= len(prep.vials):
            raise ValidationError("vial", f"choose one of the {len(prep.vials)} recorded vials")
        why = _clean_text("reason", reason, REASON_MAX, minimum=3)
        removed = prep.vials[number - 1]

        def check_again() -> None:
            # Inside the write, the preparation locked: a reconstitution or a vial change at another station meanwhile.
            current = self._load(prep_id)
            if current.last(EventType.RECONSTITUTED) is not None:
                raise StepRefused(
                    "vials_reconstituted", "the vials were reconstituted at another station meanwhile: the record of what was used stays as it is"
                )
            if current.vials != prep.vials:
                raise StepRefused("vials_changed", f"the vials of {prep_id} changed at another station meanwhile; look at them again before removing one")

        self.repository.remove_vial(
            prep_id,
            number,
            AuditDraft(self.now(), actor.name, "vial.removed", prep_id, _vial_dict(removed), {"number": number, "reason": why}),
            check=check_again,
        )
        return self.status(prep_id)

    def _load(self, prep_id: str) -> Preparation:
        prep = self.repository.get_preparation(prep_id)
        if prep is None:
            raise PreparationNotFound(prep_id)
        return prep

    def _now_for(self, prep: Preparation) -> datetime:
        # A preparation's own latest instant is a floor too: another workstation may have recorded it.
        for event in prep.events:
            self._raise_floor(event.recorded_at)
        return self.clock.now()

    def _raise_floor(self, instant: datetime) -> None:
        """Adopt a stored instant as the clock's floor only when it is not far ahead of this clock.

        One workstation with its clock hours ahead would otherwise drag every other one forward
        (the floor is shared through the file) and expire their deadlines early. Such an instant
        is kept in `stored_instant_ahead`, for the board, `prep show` and `prep list` to flag (stored_instant_warning).
        """
        wall = self._wall.now()
        if instant > wall + CLOCK_AHEAD_TOLERANCE:
            if self.stored_instant_ahead is None or instant > self.stored_instant_ahead:
                self.stored_instant_ahead = instant
            return
        self.clock.raise_floor(instant)

    def find_patient(self, mrn: str) -> Patient | None:
        """The patient as last stored with this MRN (from the newest preparation), or None. Indexed: cheap."""
        if not isinstance(mrn, str) or not mrn.strip():
            return None
        return self.repository.find_patient(mrn)

    def preparation_id(self, text: str) -> str:
        """The stored preparation's id from what was typed or scanned (ids.normalize_preparation_id). A
        short id alone ("7K3QX") while several drugs are installed is the one stored record it names; it
        is refused as ambiguous when records of several drugs have it, and named as not stored when none
        has (never read as the default drug's)."""
        try:
            return normalize_preparation_id(text)
        except AmbiguousPreparationId as ambiguous:
            stored = [c for c in ambiguous.candidates if self.repository.preparation_id_exists(c)]
            if len(stored) == 1:
                return stored[0]
            if not stored:
                raise PreparationNotFound(f"{str(text).strip()} (as {' or '.join(ambiguous.candidates)})") from None
            raise AmbiguousPreparationId(str(text).strip(), tuple(stored)) from None

    def get(self, prep_id: str) -> Preparation | None:
        """The stored preparation, or None. ValidationError when `prep_id` is not an id at all."""
        return self.repository.get_preparation(self.preparation_id(prep_id))

    def status(self, prep_id: str) -> PreparationStatus:
        """The preparation with its deadlines, step and allowed events now. PreparationNotFound if none."""
        return self._status(self._load(self.preparation_id(prep_id)))

    def _status(self, prep: Preparation, settings: Settings | None = None) -> PreparationStatus:
        settings = settings or self.settings()
        now = self._now_for(prep)
        drug = self.monograph_of(prep)
        deadlines = deadline_rules.compute_deadlines(prep.events, drug, now, settings.warning_lead_time, machine.infusion_duration_of(prep, drug))
        # A vial expiring first moves the limits its steps are refused at: the board, the chair, prep
        # show and the sheet count down to the same instant the steps stop.
        deadlines = machine.effective_deadlines(prep, deadlines, drug, now, settings.warning_lead_time)
        acknowledged = frozenset((str(e.details.get("deadline")), str(e.details.get("state"))) for e in prep.events_of(EventType.ALARM_ACKNOWLEDGED))
        return PreparationStatus(
            prep=prep,
            now=now,
            current_step=machine.current_step(prep, drug),
            active=machine.is_active(prep),
            deadlines=deadlines,
            next_deadline=deadline_rules.next_deadline(deadlines),
            hard_stops=deadline_rules.deadline_hard_stops(deadlines, now),
            _allowed=lambda: machine.allowed_events(prep, now, drug, settings.policy),
            acknowledged=acknowledged,
            warnings=[w for w in (deadline_rules.reconstituted_room_warning(prep.events, now, settings.policy.reconstituted_room_allowance),) if w],
            clock_jumped_back=self.clock.jumped_back,
            stored_instant_ahead=self.stored_instant_ahead,
        )

    def list_active(self, unreadable: dict[str, str] | None = None) -> list[PreparationStatus]:
        """Every active preparation, most urgent first (the nearest open deadline; none last).
        `unreadable`: those that cannot be read are put there (id -> why) instead of failing the list."""
        settings = self.settings()
        statuses = [self._status(p, settings) for p in self.repository.list_preparations(active_only=True, unreadable=unreadable)]
        far = datetime.max.replace(tzinfo=timezone.utc)
        return sorted(statuses, key=lambda s: (s.next_deadline.at if s.next_deadline else far, s.prep.created_at, s.id))

    # -- change feed (service/changes.py): readers that keep a copy reload only what changed ----
    def changes_since(self, token: int | None) -> Changes:
        """What changed in storage after `token` (None: the first call, which says 'everything')."""
        return changes_since(self.repository, token)

    def active_preparations(self, prep_ids: Iterable[str], unreadable: dict[str, str] | None = None) -> list[Preparation]:
        """Those of these preparations that are stored and active (the others are left out), in one read."""
        return [p for p in self.repository.get_preparations(sorted(set(prep_ids)), unreadable) if machine.is_active(p)]

    def status_of(self, prep: Preparation, settings: Settings | None = None) -> PreparationStatus:
        """The status at now of a preparation already read (its deadlines again, nothing re-read)."""
        return self._status(prep, settings)

    def list_preparations(self, active_only: bool = False, limit: int | None = None, unreadable: dict[str, str] | None = None) -> list[PreparationStatus]:
        """Newest first. `unreadable`: as for list_active."""
        settings = self.settings()
        return [self._status(p, settings) for p in self.repository.list_preparations(active_only=active_only, limit=limit, unreadable=unreadable)]

    def record_event(
        self,
        prep_id: str,
        event_type: EventType | str,
        user: User,
        at: datetime | None = None,
        details: dict[str, Any] | None = None,
        override: Override | None = None,
        downtime: bool = False,
        deviation_reason: str | None = None,
    ) -> PreparationStatus:
        """Check the step with the domain's state machine and commit it (with its audit entry).

        `downtime=True` marks a late entry of a step done on paper while the program was down: it
        needs `at` (when it happened), passes every rule a live step passes, and is marked as a
        downtime entry in the event and in its audit entry.
        A fact that breaks a limit (an infusion ended late or too fast, a late entry) is
        refused (StepRefused.deviation_allowed) unless `deviation_reason` is given; then a
        DEVIATION event is stored right after it, in the same transaction.

        Returns only after the commit. Raises ValidationError (bad input), StepRefused (the step
        must not happen: out of order, wrong person, a time limit passed; `overridable` says
        whether a pharmacist's override may allow it) or PreparationNotFound.
        With an override, an OVERRIDE event is stored just before the step, in the same transaction.
        """
        prep_id = self.preparation_id(prep_id)
        try:
            kind = event_type if isinstance(event_type, EventType) else EventType(str(event_type).strip().lower())
        except ValueError:
            raise ValidationError("event", f"'{event_type}' is not an event; events are {', '.join(e.value for e in EventType)}") from None
        if kind is EventType.OVERRIDE:
            raise ValidationError("event", "an override is recorded together with the step it allows (pass override=)")
        if kind is EventType.ALARM_ACKNOWLEDGED:
            raise ValidationError("event", "alarm acknowledgements go through acknowledge_alarm()")
        if kind is EventType.DEVIATION:
            raise ValidationError("event", "a deviation is recorded together with the fact it concerns (pass deviation_reason=)")
        if deviation_reason is not None:
            deviation_reason = _clean_text("deviation reason", deviation_reason, REASON_MAX)
        if details is not None and not isinstance(details, dict):
            raise ValidationError("details", "must be a mapping of names to values")
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise ValidationError("at", "must be an instant with its UTC offset (e.g. 2026-01-15T09:30+01:00)")
        if override is not None and not isinstance(override, Override):
            raise ValidationError("override", "must come from authorize_override()")
        if downtime and at is None:
            raise ValidationError("at", "a downtime entry needs the time it happened on paper (e.g. 2026-01-15T09:30+01:00)")
        if details and "downtime" in details:
            raise ValidationError("details", "a downtime entry is marked with downtime=True, not in the details")
        if downtime:
            details = {**(details or {}), "downtime": True}
        actor = self._current_user(user)
        settings = self.settings()
        if kind is EventType.ORDER_VERIFIED and not {"labs", "labs_override"} & set(details or {}):
            details = self._recorded_labs(prep_id, details)
        conflict: ConcurrentChange | None = None
        for _attempt in range(5):
            prep = self._load(prep_id)
            now = self._now_for(prep)
            if at is None and kind is EventType.PREMEDICATION_CORRECTED:
                at = machine.premedication_time(prep, (details or {}).get("corrects"))
            when = (at or now).astimezone(timezone.utc)
            if when > now + FUTURE_TOLERANCE:
                raise ValidationError("at", f"{format_instant(when)} is in the future (now {format_instant(now)})")
            event = Event(type=kind, at=when, recorded_at=now, user=actor.name, details=dict(details or {}))
            use = override
            try:
                if use is not None and not use.hard_stop_code:
                    use = self._fill_override_code(prep, event, actor, now, settings, use)
                breaches = machine.check_event(prep, event, actor, now, self.monograph_of(prep), settings.policy, use, deviation_reason=deviation_reason)
            except StepRefused as refusal:
                self._audit_near_miss(prep_id, actor, refusal, kind.value, now)
                if conflict is None:
                    raise
                # Another station's step won the race: say what it recorded and who, then why this one cannot follow.
                raise StepRefused(
                    refusal.code, f"{conflict}; so this step was not recorded: {refusal.message}", refusal.overridable, refusal.deviation_allowed
                ) from None
            new_events = []
            if use is not None:
                new_events.append(self._override_event(prep, event, use, now))
            new_events.append(event)
            if breaches:
                new_events.append(machine.deviation_event(breaches, deviation_reason or "", event))
            after = dataclasses.replace(prep, events=[*prep.events, *new_events])
            step_before, step_after = machine.current_step(prep), machine.current_step(after)
            audits = []
            for offset, item in enumerate(new_events, start=1):
                action = {EventType.OVERRIDE: "override", EventType.DEVIATION: "deviation"}.get(item.type, f"event.{item.type.value}")
                audits.append(
                    AuditDraft(
                        now,
                        item.user,
                        action,
                        prep_id,
                        {"step": step_before},
                        {**_event_dict(item, len(prep.events) + offset), "step": step_after, "active": machine.is_active(after)},
                    )
                )
            try:
                stored = self.repository.append_events(prep_id, new_events, len(prep.events), machine.is_active(after), audits, expected_vials=list(prep.vials))
            except ConcurrentChange as change:
                conflict = change
                continue  # another workstation recorded a step meanwhile: re-check against it
            if kind is EventType.INFUSION_ENDED:
                self._report_administration(prep_id)
            # The write found, under the preparation's row lock, the events and vials this step was
            # checked with; a preparation's other fields never change. So what is stored now is the
            # preparation read plus the events just stored, and it is not read a third time (a read
            # was about a quarter of a step).
            return self._status(dataclasses.replace(prep, events=[*prep.events, *stored]), settings)
        raise StepRefused("busy", f"preparation {prep_id} kept changing while this step was checked; try again")

    def _course_on_file(self, mrn: str) -> Course | None:
        """The patient's stored course, or None. Whether there is one is asked first, without the course
        models and rules (most orders have none: a fifth of a `prep new` went to loading them for that)."""
        if self.engine is None:
            return None
        from ..storage.repository import TransactionScopes

        if not TransactionScopes(self.engine).course_on_file(mrn):
            return None
        from ..storage.course_repository import SqlCourseRepository

        return SqlCourseRepository(self.engine).get_course(mrn)

    def _recorded_labs(self, prep_id: str, details: dict[str, Any] | None) -> dict[str, Any] | None:
        """An order with no course of its drug on file is verified with the labs recorded for the patient
        in a course of another drug, when there is one (the domain judges their window; none: unchanged)."""
        prep = self._load(prep_id)
        if machine.has_course(prep) or self.engine is None:
            return details
        from ..domain.labs import recorded_verification_labs

        course = self._course_on_file(prep.patient.mrn)
        found = recorded_verification_labs(course, self._now_for(prep)) if course is not None else {}
        return {**(details or {}), "labs": found} if found else details

    def _report_administration(self, prep_id: str) -> None:
        """Queue and send the administration to the hospital's systems (site setting); the step is already committed."""
        if self.engine is None:
            return
        try:
            from .outbox import Interchange

            Interchange(self).infusion_ended(prep_id)
            self.interchange_error = None
        except Exception as exc:  # a send problem must never undo or hide the recorded step
            self.interchange_error = f"the administration of {prep_id} was not queued for the hospital's systems: {exc}"

    def _fill_override_code(self, prep: Preparation, event: Event, actor: User, now: datetime, settings: Settings, override: Override) -> Override:
        """An override given without a code (the command line) applies to the refusal the step meets."""
        try:
            machine.check_event(prep, event, actor, now, self.monograph_of(prep), settings.policy, None)
        except StepRefused as refusal:
            if not refusal.overridable:
                raise
            return dataclasses.replace(override, hard_stop_code=refusal.code)
        raise ValidationError("override", "this step is allowed without an override; nothing was recorded")

    def _override_event(self, prep: Preparation, event: Event, override: Override, now: datetime) -> Event:
        return machine.override_event(override, event, now)

    def acknowledge_alarm(self, prep_id: str, deadline_key: str, state: str, user: User) -> PreparationStatus:
        """Record that `user` saw the alarm of one deadline in one state (idempotent)."""
        prep_id = self.preparation_id(prep_id)
        actor = self._current_user(user)
        state = getattr(state, "value", state)
        for _attempt in range(5):
            current = self._status(self._load(prep_id))
            keys = {d.key: d for d in current.deadlines}
            if deadline_key not in keys:
                raise ValidationError("deadline", f"'{deadline_key}' is not a deadline of {prep_id}; it has {', '.join(keys) or 'none yet'}")
            allowed = machine.alarm_acknowledgers(deadline_key, self.monograph_of(current.prep), dispensed=current.prep.last(EventType.DISPENSED) is not None)
            if actor.role not in allowed:
                raise StepRefused(
                    "alarm_role",
                    f"the alarm '{keys[deadline_key].label}' is pharmacy's: a "
                    + " or ".join(sorted(r.value for r in allowed))
                    + f" acknowledges it; {actor.name} is a {actor.role.value}",
                )
            shown = keys[deadline_key].state.value
            if state != shown:
                # Only the alarm that is sounding now: an 'expired' acknowledged in advance would
                # silence that alarm before it ever rang.
                raise ValidationError("state", f"the alarm '{keys[deadline_key].label}' is {shown} now, not {state}; acknowledge what is shown")
            if current.is_acknowledged(deadline_key, state):
                return current
            now = current.now
            event = Event(EventType.ALARM_ACKNOWLEDGED, at=now, recorded_at=now, user=actor.name, details={"deadline": deadline_key, "state": state})
            prep = current.prep
            audit = AuditDraft(now, actor.name, "alarm.acknowledged", prep_id, None, _event_dict(event, len(prep.events) + 1))
            try:
                self.repository.append_events(prep_id, [event], len(prep.events), current.active, [audit])
            except ConcurrentChange:
                continue
            return self.status(prep_id)
        raise StepRefused("busy", f"preparation {prep_id} kept changing; try again")

    def record_interchange(self, prep_id: str, fmt: str, what: str, destination: str, outcome: str = "sent", error: str | None = None) -> None:
        """Audit one message handed to the hospital's systems (a file written, an MLLP send tried)."""
        after = {"format": fmt, "what": what, "destination": destination, "outcome": outcome}
        if error:
            after["error"] = error
        self.repository.append_audit(AuditDraft(self.now(), local_admin_name(), f"interchange.{outcome}", prep_id, None, after))

    # -- audit ------------------------------------------------------------------------------
    def verify_audit(self) -> AuditCheck:
        return self.repository.verify_audit()

    def audit_entries(self) -> list[AuditEntry]:
        return self.repository.audit_entries()

    def audit_anchor(self) -> tuple[int, str] | None:
        """(entry count, head hash) as last anchored outside the database, or None when no anchor is kept."""
        anchor = getattr(self.repository, "audit_anchor", None)
        return anchor() if anchor is not None else None

    def acknowledge_restore(self, pharmacist: User, reason: str) -> dict[str, Any]:
        """A pharmacist's acknowledgement that the database was put back from a backup.

        After a restore the log honestly ends before the newest anchored head, and `audit verify`
        would report the rewound head for ever. This records the gap (what the anchor log had,
        what the copy has, who, why, the operating-system account) in the anchor log, signed with
        the site key, and as an audit entry; later anchors start from the copy. Refused when the
        log is intact, or when it is anything but an older copy of itself (edited, a rewritten
        entry, data changed behind the log): that is tampering, never acknowledged away.
        """
        who = self._actor_name(pharmacist, "acknowledging a restore from a backup")
        why = _clean_text("reason", reason, REASON_MAX, self.policy().override_reason_min_chars)
        gap = getattr(self.repository, "restore_gap", None)
        if gap is None:
            raise StepRefused("no-anchor", "this database keeps no anchor log; there is no restore to acknowledge")
        check = self.verify_audit()  # a walk of the whole chain: once
        if check.intact:
            raise StepRefused("nothing-to-acknowledge", "the audit log is intact against its anchor: there is no restore to acknowledge")
        found = gap()
        if found is None:
            raise StepRefused(
                "not-a-restore",
                "the audit log is not an older copy of itself: "
                f"{check.reason}; that is not acknowledged as a restore (restore the backup again, or investigate)",
            )
        lost, count, head = found
        now = self.now()
        restore = {
            "from_count": lost.count,
            "from_head": lost.head,
            "from_at": lost.at,
            "to_count": count,
            "to_head": head,
            "lost_entries": lost.count - count,
            "by": who,
            "reason": why,
            "os_user": os_account(),
            "at": utc_iso(now),
        }
        self.repository.record_restore(restore)
        self.repository.append_audit(
            AuditDraft(
                now,
                who,
                "audit.restore_acknowledged",
                "audit log",
                {"count": lost.count, "head": lost.head, "anchored_at": lost.at},
                {"count": count, "head": head, "lost_entries": lost.count - count, "reason": why, "os_user": os_account()},
            )
        )
        return restore

    def audit_restores(self) -> list[dict[str, Any]]:
        """Every acknowledged restore, oldest first (empty when no anchor log is kept)."""
        restores = getattr(self.repository, "audit_restores", None)
        return list(restores()) if restores is not None else []

    def audit_anchor_text(self) -> str:
        """One line for a printed footer: "audit 123 · 9f86d081884c7d65" (count and the head's first 16 hex)."""
        anchored = self.audit_anchor()
        return f"audit {anchored[0]} · {anchored[1][:16]}" if anchored else "audit anchor not kept"

    def write_file(self, path: str | os.PathLike[str], data: bytes, force: bool = False) -> Path:
        """Write `data` to a file the person chose, through the one safe writer: this database,
        its audit key and anchor log, the site configuration are never replaced (ValueError says why)."""
        from ..storage.safe_files import write_output

        guarded = [self.location.path] if self.location is not None and self.location.path else []

        def render(stream: BinaryIO) -> None:
            stream.write(data)

        return write_output(path, render, force=force, protected=guarded)

    def export_audit(self, path: str | os.PathLike[str], force: bool = False, protected: Iterable[Path] = (), actor: User | None = None) -> int:
        """Write the whole audit log as CSV (UTF-8, owner-only); returns the number of entries written.

        The log names patients, so the export itself is audited first (who, which file), and the
        file goes through the safe writer: never over a database, a link or a device, an existing
        file only with `force`. Cells a spreadsheet would run as a formula are escaped.
        """
        import csv
        import io

        from ..storage.safe_files import check_output_name, refuse_protected

        target = check_output_name(os.fspath(path))
        guarded = [*protected, *([self.location.path] if self.location is not None and self.location.path else [])]
        refuse_protected(target, guarded)
        who = self._current_user(actor).name if actor is not None else local_admin_name()
        self.repository.append_audit(AuditDraft(self.now(), who, "audit.exported", str(target), None, {"file": os.path.abspath(target)}))
        entries = self.audit_entries()

        def render(stream: BinaryIO) -> None:
            text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(["seq", "at_utc", "actor", "action", "subject", "before", "after", "prev_hash", "hash", "station"])
            for e in entries:
                writer.writerow(
                    [
                        spreadsheet_safe(v)
                        for v in (e.seq, e.at, e.actor, e.action, e.subject, e.before, e.after, e.prev_hash, e.hash, getattr(e, "station", ""))
                    ]
                )
            text.flush()
            text.detach()

        from ..storage.safe_files import write_output

        write_output(target, render, force=force, protected=guarded)
        return len(entries)


class _ConnectionGate:
    """What storage calls around every read and write on a watched shared database."""

    def __init__(self, service: PreparationService):
        self._service = service

    def check(self) -> None:
        watch = self._service.connection
        if not watch.retry_due(self._service.now()):
            raise NotLive(watch.state.refusal())

    def answered(self) -> None:
        self._service.connection.succeeded(self._service.now())

    def lost(self, reason: str) -> NotLive:
        watch = self._service.connection
        watch.lost(reason, self._service.now())
        return NotLive(watch.state.refusal())


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def open_service(
    data_dir: str | os.PathLike[str] | None = None,
    database: str | None = None,
    clock: Clock | None = None,
    monograph: Monograph | None = None,
    station: str | None = None,
) -> PreparationService:
    """Open (creating and migrating when needed) the database and return the service.

    Raises storage.StorageError / NewerDatabaseError with a message fit to show a person.
    """
    from ..storage import SqlRepository, open_database

    from ..storage.database import is_shared_url

    engine, location, migration = open_database(data_dir, database, now=(clock or SystemClock()).now(), station=station)
    try:
        wall: Clock = clock or SystemClock()
        if clock is None and is_shared_url(location.url):
            from ..storage.server_clock import ServerClock

            wall = ServerClock(engine)  # one clock for the site: the server's
        return PreparationService(SqlRepository(engine), wall, monograph, engine=engine, location=location, migration=migration)
    except BaseException:
        engine.dispose()
        raise
