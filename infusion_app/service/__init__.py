"""The application service shared by the command line and the desktop program.

    from infusion_app.service import open_service
    service = open_service(data_dir=None, database=None, clock=None, station=None)
        # SQLite migrates at start; a shared PostgreSQL database never (IT: `infusion-prep db upgrade`).
        # Neither folder nor URL: the site file's database (storage/site_config.py). station: the
        # workstation name every event and audit entry records (else INFUSION_PREP_STATION, the
        # site file's, the host name). No clock on PostgreSQL: the server's (storage/server_clock.py).
    ...
    service.close()            # or: with open_service(...) as service:

Opening: `open_service` raises storage.StorageError (NewerDatabaseError for a database written by
a newer version: never altered) with a message fit to show a person. Any later call may raise
StorageError too (database locked past the 30 s busy timeout, disk full): nothing was stored.
StorageError is a domain.errors.DataFileError (the command line: one line, exit 3). Tests pass `data_dir=tmp_path`
and a FakeClock; with INFUSION_PREP_TESTING set, omitting both data_dir and database is an error.
`service.clock` is a MonotonicClock over the given clock (never goes back); `service.now()`.

Errors every call may raise: domain.errors.ValidationError (bad input; `.field`, `.message`),
domain.preparation.StepRefused (`.code`, `.message`, `.overridable`: the step must not happen,
including role and permission refusals), PreparationNotFound (a ValidationError),
AuthenticationError (a ValidationError on field "pin").

Users (roles: domain.records.Role)
    has_users() -> bool;  users(include_inactive=False) -> list[User];  user(name) -> User | None
    add_user(name, role, pin, actor: User | None = None) -> User   # actor: a pharmacist; None = command line
    authenticate(name, pin) -> User                                 # AuthenticationError if wrong or deactivated;
                                                                    # after 5 wrong PINs in a row a name waits 30 s, doubling
    deactivate_user(name, actor=None) / set_user_active(name, active, actor=None) -> User
                                                                    # never the last active pharmacist
    set_pin(name, new_pin, actor=None, current_pin=None) -> User
    authorize_override(pharmacist_name, pin, reason, hard_stop_code="") -> Override

Preparations (ids like "<drug prefix>-7K3QX": ids.normalize_preparation_id accepts typed/scanned forms)
    calculate(DoseOrder, date_of_birth=None, monograph=None) -> DoseCalculation   # engine + this site's policy
    create_preparation(Patient, DoseOrder, user, vials=(), coverage=None, monograph=None) -> PreparationStatus
        # monograph: the drug ordered (load_monograph(id).with_regimen(r)); None: the only drug installed, else refused (ambiguous)
    monograph_of(prep) -> Monograph                                 # the drug a stored preparation was made of
        # PreparationBlocked(.calculation, .hard_stops) when the calculation has a hard stop: nothing stored
        # prep.order: PreparationOrder (.dose DoseOrder, .calculation DoseCalculation, .course, .regimen, .coverage)
    add_vial(prep_id, VialRecord | gs1_text, user) -> PreparationStatus
    record_event(prep_id, EventType, user, at=None, details=None, override=None) -> PreparationStatus
        # domain check_event, then ONE transaction (override event + event + audit) before returning
        # StepRefused.overridable -> ask a pharmacist: authorize_override(..., refusal.code) and call again
    acknowledge_alarm(prep_id, deadline_key, state, user) -> PreparationStatus   # idempotent
    get(prep_id) -> Preparation | None
    find_patient(mrn) -> Patient | None                             # newest stored, case-insensitive MRN
    status(prep_id) -> PreparationStatus
    list_active() -> list[PreparationStatus]                        # most urgent first
    list_preparations(active_only=False, limit=None) -> list[PreparationStatus]   # newest first

PreparationStatus: .prep, .id, .now, .current_step, .active, .deadlines (domain Deadline with
state), .next_deadline, .hard_stops, .allowed_events (computed on first use: the costly part),
.acknowledged {(key, state)},
.is_acknowledged(key, state), .clock_jumped_back, .to_dict() (the `prep show --json` payload).

Settings (pharmacists change them; each change audited)
    settings() -> Settings (.policy: SitePolicy, .warning_lead_time, .paper_size, .label_size, .as_dict())
    set_setting(key, value, actor, expected=<not checked>) -> Settings   # keys: settings.SETTINGS
        # expected = setting_version(key) as read: another station's change since is refused,
        # StepRefused 'changed' ("changed by NAME at TIME; reload"), never overwritten
    setting_version(key) -> (who, when) | None
    policy() -> SitePolicy

Stations (a shared database)
    station -> str;  clock_skew_warning() -> str | None   # this clock against the server's past the site tolerance, or a stored instant far ahead of it (stored_instant_warning)
    change_listener() -> storage ChangeListener | None    # PostgreSQL: a socket readable when another station commits
    watch_connection()                                    # the desktop program: a lost server refuses reads and writes
                                                          # at once (domain.connection.NotLive, a StepRefused) until
                                                          # the backoff allows a retry; never queued
    connection_state() -> domain.connection.ConnectionState;  connection_retry_due() -> bool

Courses (service/course.py CourseService): every write takes expected=<course version shown>;
    a course changed since is refused StepRefused 'changed' ("changed by NAME at TIME; reload").

Audit
    verify_audit() -> AuditCheck (.intact, .entries, .first_broken, .reason)
    audit_entries() -> list[AuditEntry];  export_audit(path) -> int
"""

# The names load their modules on first use, so that `service.start` (read before the desktop
# program's first window) does not pull the whole service, SQLAlchemy and the dose engine in with
# the package (issue 19).
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..domain.preparation import Override, StepRefused
    from .ids import new_preparation_id, normalize_preparation_id
    from .preparations import (
        AuthenticationError,
        PreparationBlocked,
        PreparationNotFound,
        PreparationService,
        PreparationStatus,
        open_service,
    )
    from .settings import LABEL_SIZES, PAPER_SIZES, SETTINGS, Settings

_WHERE = {
    "LABEL_SIZES": ".settings",
    "PAPER_SIZES": ".settings",
    "SETTINGS": ".settings",
    "AuthenticationError": ".preparations",
    "Override": "..domain.preparation",
    "PreparationBlocked": ".preparations",
    "PreparationNotFound": ".preparations",
    "PreparationService": ".preparations",
    "PreparationStatus": ".preparations",
    "Settings": ".settings",
    "StepRefused": "..domain.preparation",
    "new_preparation_id": ".ids",
    "normalize_preparation_id": ".ids",
    "open_service": ".preparations",
}

__all__ = [
    "LABEL_SIZES",
    "PAPER_SIZES",
    "SETTINGS",
    "AuthenticationError",
    "Override",
    "PreparationBlocked",
    "PreparationNotFound",
    "PreparationService",
    "PreparationStatus",
    "Settings",
    "StepRefused",
    "new_preparation_id",
    "normalize_preparation_id",
    "open_service",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value
