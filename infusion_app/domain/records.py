"""The records the preparation lifecycle is made of, shared by the domain, storage, CLI, PDF and GUI.

These are plain data. The rules (which event may follow which, who may record it, deadlines)
live in preparation.py and deadlines.py; persistence lives in infusion_app/storage behind the
Repository protocol in ports.py.

All instants are timezone-aware datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dosing import PreparationOrder


class Role(str, Enum):
    TECHNICIAN = "technician"
    PHARMACIST = "pharmacist"
    NURSE = "nurse"


class EventType(str, Enum):
    """Everything that can happen to a preparation. Values are the CLI's kebab-case names."""

    ORDER_VERIFIED = "order-verified"  # a pharmacist (not the preparer) verified the order; before reconstitution
    RECONSTITUTED = "reconstituted"  # starts the clocks
    RECONSTITUTED_TO_FRIDGE = "reconstituted-to-fridge"  # reconstituted vials put in the refrigerator
    RECONSTITUTED_FROM_FRIDGE = "reconstituted-from-fridge"
    DILUTED = "diluted"  # details: storage = room | fridge
    BAG_TO_FRIDGE = "bag-to-fridge"
    BAG_FROM_FRIDGE = "bag-from-fridge"  # starts the warm-up
    VERIFIED = "verified"  # independent double check by a pharmacist, not the preparer
    LABELLED = "labelled"
    DISPENSED = "dispensed"
    PREMEDICATION = "premedication"  # details: drug_class, drug, dose, given_at; other + dose_checked off-list
    # The nurse who recorded a premedication corrects its drug, dose or time before the infusion
    # starts: details: corrects (the premedication's number among the preparation's events, from
    # 1), drug, dose, reason; `at` is the corrected time given. The original stays in the record.
    PREMEDICATION_CORRECTED = "premedication-corrected"
    PATIENT_CONFIRMED = "patient-confirmed"  # two identifiers checked at the chair
    INFUSION_STARTED = "infusion-started"
    INFUSION_ENDED = "infusion-ended"
    OBSERVATION_ENDED = "observation-ended"
    DISCARDED = "discarded"  # details: reason
    OVERRIDE = "override"  # details: hard_stop, reason; recorded by a pharmacist
    ALARM_ACKNOWLEDGED = "alarm-acknowledged"  # details: deadline, state
    # A fact recorded although it breaks a limit (an infusion ended after the 8 h limit, an
    # infusion faster than its minimum, a step entered after its limit passed): details: rules,
    # deadlines, messages, reason, step, step_at, entered_at, late_entry. Recorded with the step.
    DEVIATION = "deviation"


# What each event is called on a screen or in a message (the kebab-case values are the command line's).
EVENT_WORDS: dict[EventType, str] = {
    EventType.ORDER_VERIFIED: "order verification",
    EventType.RECONSTITUTED: "reconstitution",
    EventType.RECONSTITUTED_TO_FRIDGE: "reconstituted vials into the refrigerator",
    EventType.RECONSTITUTED_FROM_FRIDGE: "reconstituted vials out of the refrigerator",
    EventType.DILUTED: "dilution",
    EventType.BAG_TO_FRIDGE: "bag into the refrigerator",
    EventType.BAG_FROM_FRIDGE: "bag out of the refrigerator",
    EventType.VERIFIED: "independent double check",
    EventType.LABELLED: "labelling",
    EventType.DISPENSED: "dispensing",
    EventType.PREMEDICATION: "premedication",
    EventType.PREMEDICATION_CORRECTED: "premedication correction",
    EventType.PATIENT_CONFIRMED: "patient identification",
    EventType.INFUSION_STARTED: "infusion start",
    EventType.INFUSION_ENDED: "infusion end",
    EventType.OBSERVATION_ENDED: "end of observation",
    EventType.DISCARDED: "discard",
    EventType.OVERRIDE: "override",
    EventType.ALARM_ACKNOWLEDGED: "alarm acknowledgement",
    EventType.DEVIATION: "deviation",
}


def event_words(kind: EventType) -> str:
    return EVENT_WORDS.get(kind, kind.value.replace("-", " "))


class DiluteStorage(str, Enum):
    ROOM = "room"
    FRIDGE = "fridge"


@dataclass(frozen=True)
class User:
    id: int | None
    name: str
    role: Role
    active: bool = True


@dataclass(frozen=True)
class Patient:
    name: str
    mrn: str
    date_of_birth: date


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def mrn_key(mrn: str) -> str:
    """What two MRNs are compared by: one patient whatever the case it is typed or scanned in (a
    scanner may send lower case). The patient lookup, the course lookup and their checks all use it;
    the storage lets the database fold both sides (storage.repository.mrn_matches).

    Only A-Z are folded, as SQLite's lower() folds them: str.lower() also folds É or a full-width Ｍ,
    which the database kept, so the two said different things of one MRN."""
    return str(mrn or "").strip().translate(_ASCII_LOWER)


@dataclass(frozen=True)
class VialRecord:
    lot: str
    expiry: date  # the expiry date printed (the site's local date of `expires_at` when there is one)
    gtin: str | None = None
    ndc: str | None = None
    serial: str | None = None
    # The expiry instant (UTC) when the code (GS1 AI 7003) or the carton gives a time. None: the date
    # alone (AI 17, a typed date, every vial stored before migration 0010), the last day of use.
    expires_at: datetime | None = None

    def expired(self, instant: datetime, zone: tzinfo | None = None) -> bool:
        """Past its expiry at `instant` (aware): from the expiry time on when one is known, else from the
        end of the expiry day on the site's clock (`zone`, by default the workstation's; a date is the
        last day of use)."""
        if self.expires_at is not None:
            return instant >= self.expires_at
        return instant.astimezone(zone).date() > self.expiry


@dataclass(frozen=True)
class Event:
    type: EventType
    at: datetime  # when it happened (may be typed in, e.g. premedication given earlier)
    recorded_at: datetime  # when the program was told
    user: str  # the user's name
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    station: str = ""  # the workstation that recorded it (set by storage: host or site station name)


@dataclass
class Preparation:
    """One dose for one patient, from order to observation. Events are append-only."""

    id: str  # a short human-typable id, also in the label's 2D code
    patient: Patient
    order: PreparationOrder  # the order, its calculation, course check and coverage (stored by its to_dict)
    created_at: datetime
    created_by: str
    monograph_id: str
    monograph_revision: str
    vials: list[VialRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def events_of(self, kind: EventType) -> list[Event]:
        return [e for e in self.events if e.type == kind]

    def last(self, kind: EventType) -> Event | None:
        found = self.events_of(kind)
        return found[-1] if found else None
