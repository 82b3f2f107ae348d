"""The preparation state machine: which event may follow which, who may record it, and when.

check_event() is the one gate every event passes before the application service commits it.
It raises ValidationError for malformed input (naming the field) and StepRefused for a step that
is well-formed but must not happen. Checks run in this order, and only the last kind can be
overridden:

1. input: instants with a UTC offset, not in the future beyond FUTURE_TOLERANCE, not before
   the previous step; details (dilution storage, premedication class/drug/dose, reasons);
2. the preparation is still open (not discarded, not finished);
3. order: reconstituted -> [reconstituted vials to/from refrigerator] -> diluted (room|fridge)
   -> [bag to/from refrigerator, any time until the infusion starts] -> verified -> labelled
   -> dispensed -> infusion-started -> infusion-ended -> observation-ended. Premedication and
   patient-confirmed may be recorded at any time before the infusion starts (premedication is
   given to the patient, often while the pharmacy is still preparing). Discarded: any time
   before the infusion starts; it ends the preparation;
4. roles: technician or pharmacist prepare (reconstitute, refrigerate vials, dilute, label,
   dispense, discard); only a pharmacist verifies, and never one who recorded reconstituted or
   diluted; only a nurse records premedication, patient confirmation and administration; anyone
   may move the bag in or out of the refrigerator; overrides are a pharmacist's;
5. infusion start: the patient confirmed by two identifiers (identity.py; a patient-confirmed
   event whose identifiers do not match is refused), all premedication classes of the monograph
   recorded, the bag not in the refrigerator (none of these can be overridden);
6. time limits (deadlines.py), judged at the event's own instant: a step is refused when a hard
   deadline it depends on has passed without its step (dilute_by for the vials' steps and the
   dilution; reconstituted_fridge_until for the same; bag_from_fridge_by and start_infusion_by
   for every step up to the start of the infusion; end_infusion_by up to the end of the
   infusion), when the infusion would start while a refrigerated bag is still warming
   (warm_until), and when observation would end before observe_until. The hard deadlines are
   judged as the countdowns show them: moved to a vial's expiry when it comes first
   (effective_deadlines). A step is judged at its entry too: one dated before a limit but entered after it passed is a late entry.
   Steps acting on the drug are refused: a label limit is never overridden (the monograph says
   per limit; only a site-policy limit marked overridable may be, by a pharmacist who neither
   prepared nor verified the preparation nor performs the step). Facts (infusion ended,
   observation ended) are recorded anyway with a deviation reason: the caller stores a
   DEVIATION event (deviation_event()) right after the step. An infusion ending sooner than
   the monograph's minimum (less the site's tolerance) is such a fact.
   Once the deadline's own step has happened (in time or with a deviation) it stops blocking.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, NamedTuple

from .deadlines import (
    Deadline,
    Timeline,
    compute_deadlines,
    duration_text,
    entered_late_text,
    met_by,
    moved_earlier,
    storage_of,
)
from .double_check import ENTERED_FIELDS, FIELD_WORDS, IncompleteCheck, verification_mismatches
from .identity import confirmation_mismatches
from .lookalikes import invisible_characters, mixed_alphabet_word, skeleton
from .errors import ValidationError
from .formatting import format_amount, format_instant, format_vial_expiry, utc_iso
from .instants import earliest_instant_of_wall_time
from .limits import SitePolicy
from .monograph import Monograph, PremedicationDrug, load_monograph
from .numbers import odd_digit
from .quantities import Quantity, has_dimension
from .records import DiluteStorage, Event, EventType, Preparation, Role, User, VialRecord, event_words

# How far in the future an event's instant may lie: workstation clocks differ a little. A
# program-design tolerance, not a drug fact.
FUTURE_TOLERANCE = timedelta(minutes=2)
# How long before the preparation was entered an event may be dated: a late entry after a
# downtime or premedication given on the ward before the order reached the pharmacy, but never
# a typo of a year. A program-design limit, not a drug fact.
BACKDATE_LIMIT = timedelta(hours=24)
# A reason (discard, override) must say something.
MIN_REASON_CHARS = 3
MAX_TEXT_CHARS = 200

PREPARERS = frozenset({Role.TECHNICIAN, Role.PHARMACIST})
EVERYONE = frozenset(Role)

ROLES_FOR: dict[EventType, frozenset[Role]] = {
    EventType.ORDER_VERIFIED: frozenset({Role.PHARMACIST}),
    EventType.RECONSTITUTED: PREPARERS,
    EventType.RECONSTITUTED_TO_FRIDGE: PREPARERS,
    EventType.RECONSTITUTED_FROM_FRIDGE: PREPARERS,
    EventType.DILUTED: PREPARERS,
    EventType.BAG_TO_FRIDGE: EVERYONE,
    EventType.BAG_FROM_FRIDGE: EVERYONE,
    EventType.VERIFIED: frozenset({Role.PHARMACIST}),
    EventType.LABELLED: PREPARERS,
    EventType.DISPENSED: PREPARERS,
    EventType.PREMEDICATION: frozenset({Role.NURSE}),
    EventType.PREMEDICATION_CORRECTED: frozenset({Role.NURSE}),
    EventType.PATIENT_CONFIRMED: frozenset({Role.NURSE}),
    EventType.INFUSION_STARTED: frozenset({Role.NURSE}),
    EventType.INFUSION_ENDED: frozenset({Role.NURSE}),
    EventType.OBSERVATION_ENDED: frozenset({Role.NURSE}),
    EventType.DISCARDED: PREPARERS,
    EventType.OVERRIDE: frozenset({Role.PHARMACIST}),
    EventType.ALARM_ACKNOWLEDGED: EVERYONE,
    EventType.DEVIATION: EVERYONE,
}

# The chain, in order. A hard deadline blocks every step up to the one that meets it.
_RANK: dict[EventType, int] = {
    EventType.RECONSTITUTED: 0,
    EventType.RECONSTITUTED_TO_FRIDGE: 1,
    EventType.RECONSTITUTED_FROM_FRIDGE: 1,
    EventType.DILUTED: 2,
    EventType.BAG_TO_FRIDGE: 3,
    EventType.BAG_FROM_FRIDGE: 3,
    EventType.VERIFIED: 4,
    EventType.LABELLED: 5,
    EventType.DISPENSED: 6,
    EventType.INFUSION_STARTED: 7,
    EventType.INFUSION_ENDED: 8,
    EventType.OBSERVATION_ENDED: 9,
}


def _blocks_up_to_rank(deadline_key: str, monograph: Monograph) -> int:
    """The rank of the last chain step a hard deadline refuses until met (the monograph's
    [deadlines] blocks_until); -1 when it blocks none."""
    until = monograph.deadline_rule(deadline_key).blocks_until
    return _RANK[EventType(until)] if until else -1


def _holds(deadline_key: str, monograph: Monograph) -> EventType | None:
    """The one step a not-before limit holds back (the monograph's [deadlines] holds)."""
    held = monograph.deadline_rule(deadline_key).holds
    return EventType(held) if held else None


def alarm_acknowledgers(deadline_key: str, monograph: Monograph, *, dispensed: bool) -> frozenset[Role]:
    """Who may acknowledge a deadline's alarm: whoever holds the product. Before it is dispensed it is
    at the bench, so every alarm is pharmacy's to answer, a chair limit such as "start the infusion
    by" too (a nurse silencing it would leave the bench unaware of a bag about to expire in its
    hands); after, a limit on a pharmacy step is still pharmacy's, a limit at the chair anyone's."""
    if not dispensed:
        return PREPARERS
    rank = _blocks_up_to_rank(deadline_key, monograph)
    if rank >= 0 and rank <= _RANK[EventType.DISPENSED]:
        return PREPARERS
    return EVERYONE


# Events outside the chain: their instant is not ordered against the steps.
_OFF_CHAIN = frozenset(
    {
        EventType.PREMEDICATION,
        EventType.PREMEDICATION_CORRECTED,
        EventType.PATIENT_CONFIRMED,
        EventType.OVERRIDE,
        EventType.ALARM_ACKNOWLEDGED,
        EventType.DEVIATION,
        EventType.ORDER_VERIFIED,
    }
)
# Facts: what already happened to the patient cannot be refused, only recorded. When one breaks a
# limit (an infusion that ended after the 8 h limit or faster than its minimum, observation ended
# early, a step entered after its limit passed) it needs a reason and is recorded as a DEVIATION.
# Every other chain step acts on the drug and is refused once its limit passed.
FACTS = frozenset({EventType.INFUSION_ENDED, EventType.OBSERVATION_ENDED})
# The steps that use the product, from the vials' reconstitution to the start of its infusion. A
# vial's expiry was checked only when it was recorded, so a dose could be made or started after
# midnight on vials that expired that day; a preparation's use ends with its components' expiry
# (USP <797>) whatever the label's in-use times still allow. Never overridden, never a deviation:
# the infusion itself, once running, is not stopped by it (infusion-ended is a fact).
_PRODUCT_STEPS = frozenset(
    {
        EventType.RECONSTITUTED,
        EventType.RECONSTITUTED_TO_FRIDGE,
        EventType.RECONSTITUTED_FROM_FRIDGE,
        EventType.DILUTED,
        EventType.BAG_TO_FRIDGE,
        EventType.BAG_FROM_FRIDGE,
        EventType.VERIFIED,
        EventType.LABELLED,
        EventType.DISPENSED,
        EventType.INFUSION_STARTED,
    }
)


@dataclass(frozen=True)
class Breach:
    """One limit a step breaks: refused for a step acting on the drug, a deviation for a fact."""

    code: str  # the rule's name: '<deadline>_passed', '<deadline>_not_reached', 'late_entry', 'infusion_too_fast'
    message: str
    overridable: bool = False
    deadline: str | None = None  # the deadline key it concerns, when there is one
    late_entry: bool = False
    started: bool = False  # a limit this very step starts or brings forward, already behind it


@dataclass(frozen=True)
class Override:
    """A pharmacist's override of the time-limit hard stops named in a StepRefused.

    The caller authenticates the pharmacist (PIN) and should build it with make_override(),
    which refuses anyone who is not an active pharmacist.
    """

    pharmacist: str  # the pharmacist's user name
    reason: str
    hard_stop_code: str  # StepRefused.code being overridden ("a+b" when several were named)


# Refusals that stopped a wrong dose, a wrong patient or an expired product on its way: each is a
# near miss, audited when it happens though nothing else is stored (a refused out-of-order click
# or a missing field is not). A limit's "<deadline>_passed" refusal is one too.
NEAR_MISS_CODES = frozenset(
    {
        "verification_mismatch",
        "self_verification",
        "order_self_verification",
        "order_verifier_prepares",
        "patient_mismatch",
        "premedication_drug_not_in_class",
        "premedication_dose_implausible",
        "premedication_other_unchecked",
        "premedication_other_is_listed",
        "premedication_dose_above_child_limit",
        "premedication_total_above_limit",
        "premedication_duplicate",
        "reconstituted_before_order_verified",
        "vial-expired",
        "vial_wrong_product",
        "vial_already_recorded",
        "vial_used_elsewhere",
        "typed_vial_scan_refused",
        "typed_vial_expiry_differs",
        "vials_not_recorded",
        "late_entry",
    }
)


def is_near_miss(code: str) -> bool:
    """Whether a refusal's code (or any of the hard stops it names) is a near miss worth auditing."""
    return any(part in NEAR_MISS_CODES or part.endswith("_passed") for part in code.split("+"))


class StepRefused(Exception):
    """A well-formed step that must not happen. `overridable` steps may be overridden by a pharmacist."""

    def __init__(self, code: str, message: str, overridable: bool = False, deviation_allowed: bool = False):
        self.code = code
        self.message = message
        self.overridable = overridable
        # A fact that breaks a limit: it may be recorded with a deviation reason instead.
        self.deviation_allowed = deviation_allowed
        super().__init__(message)

    @property
    def codes(self) -> list[str]:
        """The individual hard stops in `code` (time-limit refusals may name several)."""
        return self.code.split("+")


def make_override(pharmacist: User, reason: str, hard_stop_code: str) -> Override:
    """An Override signed by `pharmacist`, who must be an active pharmacist, with a real reason."""
    if pharmacist.role != Role.PHARMACIST:
        raise StepRefused(
            "override_not_pharmacist",
            f"{pharmacist.name} is a {pharmacist.role.value}: only a pharmacist may override a hard stop",
        )
    if not pharmacist.active:
        raise StepRefused("user_inactive", f"{pharmacist.name} is not an active user")
    return Override(pharmacist.name, _reason("override reason", reason), _text("hard stop", hard_stop_code))


def deviation_event(breaches: list[Breach], reason: str, step: Event) -> Event:
    """The DEVIATION event the caller records right after a fact accepted with a deviation reason."""
    return Event(
        type=EventType.DEVIATION,
        at=step.recorded_at,
        recorded_at=step.recorded_at,
        user=step.user,
        details={
            "rules": [b.code for b in breaches],
            "deadlines": sorted({b.deadline for b in breaches if b.deadline}),
            "messages": [b.message for b in breaches],
            "reason": reason,
            "step": step.type.value,
            "step_at": utc_iso(step.at),
            "entered_at": utc_iso(step.recorded_at),
            "late_entry": any(b.late_entry for b in breaches),
        },
    )


def deviations_of(prep: Preparation) -> list[Event]:
    """The deviations recorded for a preparation, in order (for the board, the sheet, the audit)."""
    return prep.events_of(EventType.DEVIATION)


def deviation_text(event: Event) -> str:
    """One line: which step, what it broke, who recorded it, when, and why."""
    details = event.details
    late = " (entered late)" if details.get("late_entry") else ""
    broke = "; ".join(str(m) for m in details.get("messages", [])) or ", ".join(details.get("rules", []))
    return f"{details.get('step', 'step')}{late} recorded by {event.user} at {format_instant(event.recorded_at)}: {broke}. Reason: {details.get('reason', '')}"


def override_event(override: Override, step: Event, recorded_at: datetime) -> Event:
    """The OVERRIDE event the caller records (before the step) when check_event accepted an override."""
    return Event(
        type=EventType.OVERRIDE,
        at=recorded_at,
        recorded_at=recorded_at,
        user=override.pharmacist,
        details={
            "hard_stop": override.hard_stop_code,
            "reason": override.reason,
            "step": step.type.value,
            "step_at": utc_iso(step.at),
        },
    )


# ---------------------------------------------------------------------------------------------
# Input checks


def _text(field_name: str, value: object) -> str:
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ValidationError(field_name, "must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(field_name, f"must be at most {MAX_TEXT_CHARS} characters")
    return text


def _reason(field_name: str, value: object) -> str:
    text = str(value).strip() if value is not None else ""
    if len(text) < MIN_REASON_CHARS:
        raise ValidationError(field_name, f"give a reason of at least {MIN_REASON_CHARS} characters")
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(field_name, f"must be at most {MAX_TEXT_CHARS} characters")
    return text


def _aware(instant: object, field_name: str) -> datetime:
    if not isinstance(instant, datetime) or instant.tzinfo is None or instant.utcoffset() is None:
        raise ValidationError(field_name, "needs a date and time with its UTC offset")
    return instant


def _validate_premedication(event: Event, monograph: Monograph) -> None:
    classes = monograph.premedication_classes()
    drug_class = str(event.details.get("drug_class", "")).strip().lower()
    if drug_class not in classes:
        raise ValidationError("drug_class", f"must be one of {', '.join(classes)}")
    drug_text = _text("drug", event.details.get("drug"))
    hidden = invisible_characters(drug_text)
    if hidden:
        raise ValidationError("drug", f"holds invisible characters ({', '.join(hidden)}); type the drug's name, e.g. dexamethasone")
    mixed = mixed_alphabet_word(drug_text)
    if mixed:
        raise ValidationError("drug", f"'{mixed}' mixes letters of different alphabets; type the drug's name, e.g. dexamethasone")
    for flag in ("other", "dose_checked"):
        if not isinstance(event.details.get(flag, False), bool):
            raise ValidationError(flag, "must be true or false")
    dose_text = _text("dose", event.details.get("dose"))
    example = "give the amount of drug with its unit, e.g. 650 mg"
    odd = odd_digit(dose_text)
    if odd is not None:  # pint reads '10² mg' as 100 mg
        raise ValidationError("dose", f"'{dose_text}' holds '{odd}', which is not a digit; {example}")
    try:
        dose = Quantity(dose_text)
    except Exception:  # pint raises several error types for text it cannot read
        raise ValidationError("dose", f"'{dose_text}' is not a dose; {example}") from None
    if not isinstance(dose, Quantity) or not has_dimension(dose, "gram"):
        raise ValidationError("dose", f"'{dose_text}' is not an amount of drug; {example}")
    if not math.isfinite(float(dose.magnitude)) or dose.magnitude <= 0:
        raise ValidationError("dose", f"'{dose_text}' must be more than 0; {example}")
    given_at = event.details.get("given_at")
    if given_at is not None:
        if isinstance(given_at, str):
            try:
                given_at = datetime.fromisoformat(given_at)
            except ValueError:
                raise ValidationError("given_at", "is not an ISO 8601 date and time") from None
        _aware(given_at, "given_at")
        if given_at != event.at:
            raise ValidationError("given_at", "must be the event's own time (the time the premedication was given)")


# The details each step may carry, from any client. Anything else would be stored, shown in the
# audit and exported as if the program had checked it: refused, naming the key.
_PREMEDICATION_KEYS = frozenset({"drug_class", "drug", "dose", "other", "dose_checked", "given_at"})
_DETAIL_KEYS: dict[EventType, frozenset[str]] = {
    # A preparation with no course on file: the labs the verifying pharmacist checked, or why not.
    EventType.ORDER_VERIFIED: frozenset({"labs", "labs_override"}),
    EventType.DILUTED: frozenset({"storage", "withdrawn_ml"}),
    EventType.VERIFIED: frozenset({"entered"}),
    EventType.DISCARDED: frozenset({"reason"}),
    EventType.PREMEDICATION: _PREMEDICATION_KEYS,
    EventType.PREMEDICATION_CORRECTED: _PREMEDICATION_KEYS | {"corrects", "reason"},
    EventType.PATIENT_CONFIRMED: frozenset({"name", "date_of_birth", "mrn", "identifiers"}),
    EventType.INFUSION_ENDED: frozenset({"reason", "planned_end"}),
    # Built by the program itself (override_event, deviation_event, the alarm's acknowledgement):
    EventType.OVERRIDE: frozenset({"hard_stop", "reason", "step", "requested_by"}),
    EventType.DEVIATION: frozenset({"rules", "deadlines", "messages", "reason", "step", "step_at", "entered_at", "late_entry"}),
    EventType.ALARM_ACKNOWLEDGED: frozenset({"deadline", "state"}),
}
_ENTERED_KEYS = frozenset({"mrn", "height", "weight", "dose_mg", "volume_ml"})
_EVERY_STEP_KEYS = frozenset({"downtime"})  # set by the service for a late entry of a paper record


def _refuse_unknown_details(event: Event) -> None:
    if not isinstance(event.details, dict):
        raise ValidationError("details", "must be a mapping of names to values")
    accepted = _DETAIL_KEYS.get(event.type, frozenset()) | _EVERY_STEP_KEYS
    unknown = sorted(str(key) for key in event.details if key not in accepted)
    if unknown:
        takes = ", ".join(sorted(accepted - _EVERY_STEP_KEYS)) or "none"
        raise ValidationError("details", f"'{unknown[0]}' is not a detail of the {event_words(event.type)}; it takes: {takes}")
    entered = event.details.get("entered")
    if event.type == EventType.VERIFIED and entered is not None:
        if not isinstance(entered, dict):
            raise ValidationError("entered", 'must be the values re-entered at the check, e.g. {"dose_mg": "1.5"}')
        stray = sorted(str(key) for key in entered if key not in _ENTERED_KEYS)
        if stray:
            raise ValidationError("entered", f"'{stray[0]}' is not a value of the check; it takes: {', '.join(sorted(_ENTERED_KEYS))}")


def _validate_input(prep: Preparation, event: Event, actor: User, now: datetime, monograph: Monograph) -> None:
    _aware(now, "now")
    _refuse_unknown_details(event)
    field_name = "given_at" if event.type in (EventType.PREMEDICATION, EventType.PREMEDICATION_CORRECTED) else "at"
    at = _aware(event.at, field_name)
    if not isinstance(event.type, EventType):
        raise ValidationError("event", "unknown event type")
    if event.user.strip().casefold() != actor.name.strip().casefold():
        raise ValidationError("user", f"the event names {event.user!r} but {actor.name!r} is recording it")
    if at > now + FUTURE_TOLERANCE:
        raise ValidationError(
            field_name,
            f"{format_instant(at)} is in the future (now {format_instant(now)}); at most {duration_text(FUTURE_TOLERANCE)} ahead is accepted",
        )
    earliest = prep.created_at - BACKDATE_LIMIT
    if at < earliest:
        raise ValidationError(
            field_name,
            f"{format_instant(at)} is more than {duration_text(BACKDATE_LIMIT)} before this preparation was "
            f"entered ({format_instant(prep.created_at)}); accepted from {format_instant(earliest)}",
        )
    if event.type not in _OFF_CHAIN:
        line = Timeline.of(prep.events)
        if line.last_step_at is not None and at < line.last_step_at:
            raise ValidationError(
                field_name,
                f"{format_instant(at)} is before the previous step "
                f"({line.last_step.value if line.last_step else 'step'} at {format_instant(line.last_step_at)})",
            )
    if event.type == EventType.INFUSION_STARTED:
        for earlier in premedication_given(prep) + prep.events_of(EventType.PATIENT_CONFIRMED):
            if at < earlier.at:
                raise ValidationError(
                    field_name,
                    f"{format_instant(at)} is before the {event_words(earlier.type)} recorded at {format_instant(earlier.at)}",
                )
    kind = event.type
    if kind == EventType.DILUTED:
        if storage_of(event) is None:
            raise ValidationError("storage", "say where the diluted bag is kept: room or fridge")
    elif kind == EventType.PREMEDICATION:
        _validate_premedication(event, monograph)
    elif kind == EventType.PREMEDICATION_CORRECTED:
        _reason("correction reason", event.details.get("reason"))
        corrected = _as_corrected(prep, event)
        _validate_premedication(corrected, monograph)
        _refuse_correction_changing_nothing(prep, event, corrected)
    elif kind == EventType.DISCARDED:
        _reason("reason", event.details.get("reason"))
    elif kind == EventType.OVERRIDE:
        _text("hard_stop", event.details.get("hard_stop"))
        _reason("override reason", event.details.get("reason"))


# ---------------------------------------------------------------------------------------------
# Order


def _phase(line: Timeline) -> int:
    """How far along the chain the preparation is (the rank of the last chain step done)."""
    for attribute, kind in (
        ("observation_ended", EventType.OBSERVATION_ENDED),
        ("infusion_ended", EventType.INFUSION_ENDED),
        ("infusion_started", EventType.INFUSION_STARTED),
        ("dispensed", EventType.DISPENSED),
        ("labelled", EventType.LABELLED),
        ("verified", EventType.VERIFIED),
        ("diluted", EventType.DILUTED),
        ("reconstituted", EventType.RECONSTITUTED),
    ):
        if getattr(line, attribute) is not None:
            return _RANK[kind]
    return -1


def _check_order(prep: Preparation, event: Event, monograph: Monograph) -> None:
    line = Timeline.of(prep.events)
    if line.discarded is not None:
        raise StepRefused("preparation_discarded", f"preparation {prep.id} was discarded: nothing more can be recorded")
    if line.observation_ended is not None:
        raise StepRefused("preparation_finished", f"preparation {prep.id} is finished (observation ended)")
    kind = event.type
    phase = _phase(line)
    started = _RANK[EventType.INFUSION_STARTED]
    next_step = current_step(prep, monograph)

    def refuse(why: str) -> None:
        raise StepRefused("out_of_order", f"the {event_words(kind)} cannot be recorded now: {why}")

    if kind in (EventType.OVERRIDE, EventType.ALARM_ACKNOWLEDGED, EventType.DEVIATION):
        return
    if kind == EventType.ORDER_VERIFIED:
        if line.order_verified is not None:
            refuse("the order is already verified")
        if line.reconstituted is not None:
            refuse("the order is verified before reconstitution")
        return
    if kind in (EventType.PREMEDICATION, EventType.PREMEDICATION_CORRECTED, EventType.PATIENT_CONFIRMED, EventType.DISCARDED):
        if phase >= started:
            refuse("the infusion has started")
        return
    if kind in (EventType.RECONSTITUTED_TO_FRIDGE, EventType.RECONSTITUTED_FROM_FRIDGE):
        if phase != _RANK[EventType.RECONSTITUTED]:
            refuse("the reconstituted vials are refrigerated only between reconstitution and dilution")
        going_in = kind == EventType.RECONSTITUTED_TO_FRIDGE
        if going_in and line.reconstituted_in_fridge:
            refuse("the reconstituted vials are already in the refrigerator")
        if not going_in and not line.reconstituted_in_fridge:
            refuse("the reconstituted vials are not in the refrigerator")
        return
    if kind in (EventType.BAG_TO_FRIDGE, EventType.BAG_FROM_FRIDGE):
        if not _RANK[EventType.DILUTED] <= phase < started:
            refuse("the bag is refrigerated only between dilution and the start of the infusion")
        going_in = kind == EventType.BAG_TO_FRIDGE
        if going_in and line.bag_in_fridge:
            refuse("the bag is already in the refrigerator")
        if not going_in and not line.bag_in_fridge:
            refuse("the bag is not in the refrigerator")
        return
    wanted_phase = _RANK[kind] - 1
    if kind == EventType.DILUTED:
        wanted_phase = _RANK[EventType.RECONSTITUTED]
    elif kind == EventType.VERIFIED:
        wanted_phase = _RANK[EventType.DILUTED]
    if phase != wanted_phase:
        refuse(f"the next step is '{next_step}'")
    if kind == EventType.DILUTED and line.reconstituted_in_fridge:
        refuse("take the reconstituted vials out of the refrigerator first and record it")


def _check_role(prep: Preparation, event: Event, actor: User) -> None:
    if not actor.active:
        raise StepRefused("user_inactive", f"{actor.name} is not an active user")
    allowed = ROLES_FOR[event.type]
    if actor.role not in allowed:
        names = " or ".join(sorted(r.value for r in allowed))
        raise StepRefused(
            "role",
            f"the {event_words(event.type)} is recorded by a {names}; {actor.name} is a {actor.role.value}",
        )
    if event.type == EventType.PREMEDICATION_CORRECTED:
        _, original = _premedication_numbered(prep, event.details.get("corrects"))
        if actor.name.strip().casefold() != original.user.strip().casefold():
            raise StepRefused(
                "premedication_correction_not_recorder",
                f"only {original.user}, who recorded this premedication, may correct it; {actor.name} may record a new entry",
            )
    order_verifier = prep.last(EventType.ORDER_VERIFIED)
    if event.type == EventType.ORDER_VERIFIED and actor.name.strip().casefold() == prep.created_by.strip().casefold():
        raise StepRefused(
            "order_self_verification",
            f"{actor.name} entered this order: another pharmacist must verify it",
        )
    if (
        event.type in (EventType.RECONSTITUTED, EventType.DILUTED)
        and order_verifier is not None
        and actor.name.strip().casefold() == order_verifier.user.strip().casefold()
    ):
        raise StepRefused(
            "order_verifier_prepares",
            f"{actor.name} verified this order: the preparer may not be the pharmacist who verified the order",
        )
    if event.type == EventType.VERIFIED:
        preparers = {e.user.strip().casefold() for e in prep.events if e.type in (EventType.RECONSTITUTED, EventType.DILUTED)}
        if actor.name.strip().casefold() in preparers:
            raise StepRefused(
                "self_verification",
                f"{actor.name} prepared this dose: another pharmacist must verify it independently",
            )


def _check_administration(prep: Preparation, event: Event, monograph: Monograph, policy: SitePolicy, now: datetime) -> None:
    if event.type == EventType.PREMEDICATION:
        _check_premedication(prep, event, monograph, policy, now)
        return
    if event.type == EventType.PREMEDICATION_CORRECTED:
        corrected = _as_corrected(prep, event)
        _check_premedication(prep, corrected, monograph, policy, now, replacing=int(event.details["corrects"]))
        return
    if event.type == EventType.ORDER_VERIFIED:
        _check_order_labs(prep, event, monograph, policy)
        return
    verification = prep.last(EventType.ORDER_VERIFIED)
    if event.type == EventType.RECONSTITUTED and verification is not None and event.at < verification.at:
        # A late entry may not move the reconstitution before the order was verified.
        raise StepRefused(
            "reconstituted_before_order_verified",
            f"the order was verified {format_instant(verification.at)}: a reconstitution at {format_instant(event.at)}, "
            "before it, is not possible; check the time (a dose reconstituted before its order check is discarded)",
        )
    if event.type == EventType.RECONSTITUTED and prep.last(EventType.ORDER_VERIFIED) is None:
        raise StepRefused(
            "order_not_verified",
            "a pharmacist who is not the preparer must verify the order (patient, course, cycle/day, height, "
            "weight, BSA, dose) before reconstitution: have the order verified first",
        )
    if event.type == EventType.VERIFIED:
        # Blind and complete from every client: the checker re-enters the five values.
        entered = event.details.get("entered")
        try:
            if not isinstance(entered, dict):
                raise IncompleteCheck(list(ENTERED_FIELDS))
            mismatches = verification_mismatches(prep, entered, policy.bsa_decimals, policy.dose_precision_mg)
        except IncompleteCheck as incomplete:
            raise StepRefused(
                "double_check_incomplete",
                "the independent double check re-enters the patient's MRN, height, weight, dose and volume "
                "without being shown them; missing: " + ", ".join(FIELD_WORDS[name] for name in incomplete.missing),
            ) from None
        if mismatches:
            raise StepRefused(
                "verification_mismatch",
                "not verified: " + "; ".join(mismatches) + ". Check the patient, the syringe and the bag again and ask the preparer; do not release this bag.",
            )
        return
    if event.type == EventType.PATIENT_CONFIRMED:
        mismatches = confirmation_mismatches(prep.patient, event.details)
        if mismatches:
            raise StepRefused(
                "patient_mismatch",
                "patient not confirmed: "
                + "; ".join(mismatches)
                + ". Check the wristband and the bag label; do not give this bag until both identifiers match.",
            )
        return
    if event.type != EventType.INFUSION_STARTED:
        return
    line = Timeline.of(prep.events)
    required = monograph.premedication_classes()
    missing = [c for c in required if c not in line.premedicated_classes]
    if missing:
        raise StepRefused(
            "premedication_missing",
            f"premedication not recorded for: {', '.join(missing)} (all of {', '.join(required)} before every dose)",
        )
    stale = []
    premedicated = premedication_given(prep)
    for drug_class in required:
        window, why = premedication_window_for(drug_class, monograph, policy)
        given = [e for e in premedicated if _class_of(e) == drug_class and e.at <= event.at]
        if not any(event.at - e.at <= window for e in given):
            latest = max((e.at for e in given), default=None)
            when = f"last given {format_instant(latest)}" if latest else "not given before this start"
            stale.append(f"{drug_class} more than {duration_text(window)} before the start ({why}) does not count: {when}")
    if stale:
        raise StepRefused(
            "premedication_window",
            f"premedication: {'; '.join(stale)}. Give it again, then start",
        )
    if line.bag_in_fridge:
        raise StepRefused(
            "bag_in_fridge",
            "the bag is in the refrigerator: record it taken out and let it warm up before starting",
        )
    if prep.last(EventType.PATIENT_CONFIRMED) is None:
        raise StepRefused(
            "patient_not_confirmed",
            "confirm the patient by two identifiers (name, and date of birth or MRN) before starting the infusion",
        )


def has_course(prep: Preparation) -> bool:
    """Whether a course on file of this drug checked the order (and holds the patient's labs)."""
    return prep.order.course is not None and prep.order.course.on_file


def order_labs_needed(prep: Preparation, details: Mapping[str, Any], monograph: Monograph, policy: SitePolicy, at: datetime) -> list[str]:
    """What an order verification with these details at `at` still lacks of the labs before the dose
    (empty for a preparation a course checked: the course holds its labs and blocked it at entry)."""
    from .identity import completed_years
    from .labs import no_course_labs_needed

    if has_course(prep):
        return []
    age = completed_years(prep.patient.date_of_birth, at.astimezone().date())
    return no_course_labs_needed(details.get("labs"), at, prep.order.cycle, prep.order.day, monograph, policy, age)


# What a verifying pharmacist does about missing labs (a client may say it in its own words: the CLI's options).
NO_COURSE_LABS_HOW = (
    "No course on file for this patient: the pharmacist verifying the order gives the values checked and "
    "when they were taken, or overrides the missing labs with a reason"
)


def _check_order_labs(prep: Preparation, event: Event, monograph: Monograph, policy: SitePolicy) -> None:
    """Labs before every dose, course or not: with no course on file, the verifying pharmacist gives
    the values checked (kind, values, when taken) within the site's window, or overrides what is
    missing with a reason; both are kept on the event (and so in the audit log)."""
    details = event.details
    if has_course(prep):
        if "labs" in details or "labs_override" in details:
            raise ValidationError("labs", "this dose's course holds the patient's labs: record them in the course (course lab)")
        return
    missing = order_labs_needed(prep, details, monograph, policy, event.at)
    if "labs_override" in details:
        _reason_of_length("labs override reason", details.get("labs_override"), policy.override_reason_min_chars)
        if not missing:
            raise ValidationError("labs override reason", "no labs are missing: verify without an override")
        return
    if missing:
        raise StepRefused(
            "labs_needed",
            "labs needed: " + "; ".join(missing) + f". {NO_COURSE_LABS_HOW}",
        )


def premedication_window_for(drug_class: str, monograph: Monograph, policy: SitePolicy) -> tuple[timedelta, str]:
    """How long before the start a premedication of this class counts, and why: the label's timing for
    the class ([premedication.within] of the monograph: MYLOTARG's methylprednisolone within 30 minutes)
    when it is stricter than the site's window, else the site's window."""
    site = policy.premedication_window
    path = f"premedication.within.{drug_class}"
    if path in monograph.facts:
        label = monograph.duration(path)
        if label < site:
            return label, f"label: {monograph.fact(path).where}"
    return site, "site policy"


def premedication_timing(drug_class: str, monograph: Monograph, policy: SitePolicy, short: bool = False) -> str:
    """When the class is due, in words: "within 30 minutes before the start (label: ...)", the label's
    timing when stricter than the site's window, else the site's window (the sheet, the downtime kit)."""
    window, why = premedication_window_for(drug_class, monograph, policy)
    minutes = window.total_seconds() / 60
    amount = format_amount(minutes / 60, "hour") if minutes >= 60 and minutes % 60 == 0 else format_amount(minutes, "minute")
    if short:  # a table's cell; the reference says where the timing comes from
        why = "label" if why.startswith("label") else why
    return f"within {amount} before the start ({why})"


def _class_of(event: Event) -> str:
    return str(event.details.get("drug_class", "")).strip().lower()


# What a correction may change: the drug (with "other" and its dose check), the dose and, through
# the event's own instant, the time given. Never the class: another class is another entry.
_CORRECTABLE = ("drug", "dose", "other", "dose_checked")


def _corrected_details(original: Event, correction: Event) -> dict[str, Any]:
    """The entry's details with the correction's drug and dose. "Other" and its dose check are
    the correction's own: a changed entry off the list is confirmed again, never inherited."""
    details = {
        k: v
        for k, v in original.details.items()
        if k not in ("other", "dose_checked", "given_at", "corrected_by", "corrected_at", "correction_reason", "original")
    }
    details.update({k: correction.details[k] for k in _CORRECTABLE if k in correction.details})
    return details


def numbered_premedications(prep: Preparation) -> list[tuple[int, Event]]:
    """Each premedication with its number among the preparation's events (from 1), as corrected.

    Corrections apply in the order they were recorded, each to the entry as the one before left
    it: exactly the entry that was checked when the correction was accepted (_as_corrected)."""
    effective: dict[int, Event] = {}
    first: dict[int, Event] = {}
    for number, event in enumerate(prep.events, start=1):
        if event.type == EventType.PREMEDICATION:
            effective[number] = first[number] = event
            continue
        if event.type != EventType.PREMEDICATION_CORRECTED:
            continue
        target = _event_number(event.details.get("corrects"))
        if target is None or target not in effective:
            continue
        original = first[target]
        details = _corrected_details(effective[target], event)
        details.update(
            {
                "corrected_by": event.user,
                "corrected_at": event.recorded_at,
                "correction_reason": event.details.get("reason", ""),
                "original": {"drug": original.details.get("drug"), "dose": original.details.get("dose"), "given_at": utc_iso(original.at)},
            }
        )
        effective[target] = Event(
            type=EventType.PREMEDICATION, at=event.at, recorded_at=original.recorded_at, user=original.user, details=details, id=original.id
        )
    return sorted(effective.items())


def premedication_correction_refusal(prep: Preparation, number: int, actor: User) -> str | None:
    """Why `actor` may not correct premedication `number` now, or None when they may (for a client's offer)."""
    probe = Event(EventType.PREMEDICATION_CORRECTED, at=prep.created_at, recorded_at=prep.created_at, user=actor.name, details={"corrects": number})
    try:
        _check_order(prep, probe, _monograph_for(prep))
        _check_role(prep, probe, actor)
    except (StepRefused, ValidationError) as refusal:
        return refusal.message if isinstance(refusal, StepRefused) else str(refusal)
    return None


def premedication_missing(prep: Preparation, monograph: Monograph) -> list[str]:
    """The premedication classes of the drug not yet recorded for this dose, in the monograph's order."""
    done = Timeline.of(prep.events).premedicated_classes
    return [c for c in monograph.premedication_classes() if c not in done]


def premedication_given(prep: Preparation) -> list[Event]:
    """The premedication given for this dose, each as last corrected (for the start check, the chair, the sheet)."""
    return [event for _, event in numbered_premedications(prep)]


def premedication_deviation(prep: Preparation, number: int) -> Event | None:
    """The deviation premedication `number` (its number among the events, from 1) was recorded with
    (given before its window, after the start, or not totalled with its class), or None."""
    if not 1 <= number < len(prep.events):
        return None
    following = prep.events[number]
    if following.type == EventType.DEVIATION and following.details.get("step") == EventType.PREMEDICATION.value:
        return following
    return None


def premedication_time(prep: Preparation, number: object) -> datetime | None:
    """When premedication event `number` was given, as last corrected; None if it is no premedication.

    A correction that names no time keeps this one (a client fills it in, so that correcting a
    dose never moves the time given to the moment of the correction)."""
    try:
        return _premedication_numbered(prep, number)[1].at
    except ValidationError:
        return None


def _event_number(value: object) -> int | None:
    """An event number as typed or stored (3 or "3"), or None: ASCII digits only (int() would read "８", "١" and True)."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"[0-9]{1,9}", text):
        return None
    return int(text)


def _premedication_numbered(prep: Preparation, field_value: object) -> tuple[int, Event]:
    """The premedication a correction names, by its number among the preparation's events."""
    example = "give the premedication's number shown in the preparation's events, e.g. 3"
    number = _event_number(field_value)
    if number is None:
        raise ValidationError("corrects", f"'{field_value}' is not an event number; {example}")
    for candidate, event in numbered_premedications(prep):
        if candidate == number:
            return number, event
    if 1 <= number <= len(prep.events) and prep.events[number - 1].type == EventType.PREMEDICATION_CORRECTED:
        # Corrections are not corrected in turn: each names the entry itself, which reads as last corrected.
        target = prep.events[number - 1].details.get("corrects")
        raise ValidationError(
            "corrects",
            f"event {number} of {prep.id} is a correction of premedication {target}; "
            f"correct premedication {target} itself (give {target} as the entry to correct)",
        )
    raise ValidationError("corrects", f"event {number} of {prep.id} is not a premedication; {example}")


class _PremedicationReading(NamedTuple):
    """What a premedication entry says was given, compared field by field (a correction must change one)."""

    drug: str  # casefolded
    amount: object  # mg as a number, or the casefolded text when it is no amount
    at: datetime
    other: bool
    dose_checked: bool


def _premedication_reading(event: Event) -> _PremedicationReading:
    """What a premedication entry says was given: drug, amount, time, and its off-list confirmation."""
    details = event.details
    dose_text = str(details.get("dose", "")).strip()
    try:
        amount: object = Quantity(dose_text).to("mg").magnitude
    except Exception:  # pint raises several error types for text it cannot read
        amount = dose_text.casefold()
    return _PremedicationReading(
        str(details.get("drug", "")).strip().casefold(), amount, event.at, bool(details.get("other", False)), bool(details.get("dose_checked", False))
    )


def _refuse_correction_changing_nothing(prep: Preparation, correction: Event, corrected: Event) -> None:
    """A correction that leaves the entry as it reads would put a second, empty signature on record."""
    number, current = _premedication_numbered(prep, correction.details.get("corrects"))
    if _premedication_reading(corrected) == _premedication_reading(current):
        raise ValidationError(
            "corrects",
            f"event {number} already reads {current.details.get('drug')} {current.details.get('dose')} at "
            f"{format_instant(current.at)}: a correction changes the drug, the dose or the time given, e.g. dose 500 mg",
        )


def _as_corrected(prep: Preparation, correction: Event) -> Event:
    """The premedication as the correction would leave it (checked like a new entry)."""
    number, original = _premedication_numbered(prep, correction.details.get("corrects"))
    drug_class = correction.details.get("drug_class")
    if drug_class is not None and str(drug_class).strip().lower() != _class_of(original):
        raise ValidationError("drug_class", f"a correction keeps the class ({_class_of(original)}); record another class as a new entry")
    details = _corrected_details(original, correction)
    details["drug_class"] = _class_of(original)
    return Event(type=EventType.PREMEDICATION, at=correction.at, recorded_at=correction.recorded_at, user=original.user, details=details)


def _check_premedication(prep: Preparation, event: Event, monograph: Monograph, policy: SitePolicy, now: datetime, replacing: int | None = None) -> None:
    """The drug belongs to its class, the dose is plausible for it, recent enough, and not a double entry.

    A drug off the monograph's list is accepted only as "other" with its dose checked against
    the order (there is no range to check it against). `replacing` is the number of the
    premedication a correction replaces: it is not a double entry of itself.
    """
    drug_class = _class_of(event)
    drug_text = _drug_text(event)
    drugs = monograph.premedication_drugs()
    if not drugs:
        return  # a monograph without a drug list checks the class only
    listed = [d for d in drugs if d.drug_class == drug_class]
    drug = next((d for d in listed if d.is_named(drug_text)), None)
    if drug is None:
        elsewhere = next((d for d in drugs if d.is_named(drug_text)), None)
        named_inside = next((d for d in drugs if d.named_within(drug_text)), None)
        if elsewhere is None and named_inside is not None and event.details.get("other") is True:
            # "acetaminophen PO", "methylprednisolone sodium succinate": a listed drug, whose range
            # (and a child's cap) must hold; "other" is for drugs the list does not know.
            raise StepRefused(
                "premedication_other_is_listed",
                f"premedication refused: {drug_text} is {named_inside.name}, a listed {named_inside.drug_class}: "
                f"record it as {named_inside.name} so its dose range applies",
            )
        if elsewhere is None and event.details.get("other") is True:
            if event.details.get("dose_checked") is not True:
                raise StepRefused(
                    "premedication_other_unchecked",
                    f"premedication refused: {drug_text} is not on the list of {drug_class}s, so its dose cannot be "
                    "checked here; check the dose against the order, then confirm that it was checked",
                )
            _check_premedication_time(prep, event, monograph, policy, now, replacing, drug_text.casefold())
            _check_class_total(prep, event, monograph, policy, now, replacing)
            return
        why = f"{drug_text} is a {elsewhere.drug_class}, not a {drug_class}" if elsewhere else f"'{drug_text}' is not on the monograph's list of {drug_class}s"
        raise StepRefused(
            "premedication_drug_not_in_class",
            f"premedication refused: {why}; accepted: "
            + ", ".join(f"{d.name} (typical {d.typical})" for d in listed)
            + ("" if elsewhere else ", or another drug recorded as other with its dose checked against the order"),
        )
    dose = Quantity(str(event.details.get("dose")).strip())
    low, high = drug.dose_min.value, drug.dose_max.value
    child_limit = child_premedication_limit(prep, drug, policy, now)
    if child_limit is not None and child_limit[0] < float(low.to("mg").magnitude):
        # A small child's most (hydroxyzine 0.5 mg/kg x 15 kg = 7.5 mg) can be below the adults' smallest
        # plausible dose (10 mg): no dose could be recorded at all. Half the child's most still catches a
        # tenfold slip of the unit or the decimal point.
        low = Quantity(child_limit[0] / 2, "mg")
    if not low <= dose <= high:
        raise StepRefused(
            "premedication_dose_implausible",
            f"premedication refused: {drug.name} {format_amount(float(dose.to('mg').magnitude), 'mg')} is outside the "
            f"plausible single dose {format_amount(float(low.to('mg').magnitude), 'mg')} to "
            f"{format_amount(float(high.to('mg').magnitude), 'mg')} (typical {drug.typical}); check the dose and its unit",
        )
    if child_limit is not None and float(dose.to("mg").magnitude) > child_limit[0] + 1e-9:
        raise StepRefused(
            "premedication_dose_above_child_limit",
            f"premedication refused: {drug.name} {format_amount(float(dose.to('mg').magnitude), 'mg')} is more than a "
            f"child's {child_limit[1]}; check the dose against the order",
        )
    _check_premedication_time(prep, event, monograph, policy, now, replacing, drug)
    _check_premedication_total(prep, event, drug, policy, now, replacing, child_limit)
    _check_class_total(prep, event, monograph, policy, now, replacing)


def _drug_text(entry: Event) -> str:
    """A premedication entry's drug as typed, its runs of spaces made one (as the name lists read it)."""
    return " ".join(str(entry.details.get("drug", "")).split())


def _stored_dose_mg(entry: Event) -> float | None:
    """A stored premedication entry's dose in mg, or None when it cannot be read (it was checked when
    stored, so a total leaves it out rather than refusing what comes after it)."""
    try:
        return float(Quantity(str(entry.details.get("dose")).strip()).to("mg").magnitude)
    except Exception:
        return None


# A premedication entry the class total cannot count (a drug off the list, or one without an
# equivalent): refused, or recorded as a deviation with the nurse's reason (it was given).
NOT_TOTALLED = "premedication_not_totalled"


def _check_class_total(prep: Preparation, event: Event, monograph: Monograph, policy: SitePolicy, now: datetime, replacing: int | None) -> None:
    """Every entry of one class within the premedication window adds up, whatever it was recorded as.

    Two different drugs of a class with an equivalence table (corticosteroids: dexamethasone 0.75 mg =
    methylprednisolone 4 mg = prednisolone 5 mg = hydrocortisone 20 mg, resources/premedication/) are
    counted in equivalents and held together to the most any one of them may be alone (a child's
    per-kg cap, else the plausible single dose). An entry recorded as "other" that no table converts
    cannot be added up beside another corticosteroid, nor (in a class without a table, whose different
    drugs are each held to their own limit) beside an earlier entry of the same unlisted drug: refused
    (NOT_TOTALLED), or recorded as a deviation with the nurse's reason."""
    from .equivalence import equivalence_table

    drug_class = _class_of(event)
    window = policy.premedication_window
    entries = [(n, e) for n, e in numbered_premedications(prep) if n != replacing and _class_of(e) == drug_class and abs(e.at - event.at) <= window]
    if not entries:
        return
    listed = [d for d in monograph.premedication_drugs() if d.drug_class == drug_class]
    table = equivalence_table(drug_class)

    def reading(entry: Event) -> tuple[str, float | None, PremedicationDrug | None]:
        text = _drug_text(entry)
        mg = _stored_dose_mg(entry)
        drug = next((d for d in listed if d.is_named(text) or d.named_within(text)), None)
        return text, mg, drug

    rows = [reading(e) for _, e in entries] + [reading(event)]
    names = {(d.name if d is not None else skeleton(t)) for t, _, d in rows}
    if len(names) == 1 and rows[-1][2] is not None:
        return  # one listed drug under its names: its own total (_check_premedication_total) holds it
    if table is None:
        # Different drugs of a class without equivalence are each held to their own limit (as listed
        # ones are); the same unlisted drug twice has no limit to add up against.
        this = rows[-1][0]
        earlier = [e for _, e in entries if skeleton(_drug_text(e)) == skeleton(this)]
        if rows[-1][2] is None and earlier:
            raise StepRefused(
                NOT_TOTALLED,
                f"premedication refused: {this} {event.details.get('dose')} with "
                + "; ".join(f"{e.details.get('drug')} {e.details.get('dose')} at {format_instant(e.at)}" for e in earlier)
                + f" already recorded within {duration_text(window)}: {this} is not on the list of {drug_class}s, so "
                "no limit can check its total. Check the order; if this second dose was ordered and given, record it as a "
                "deviation with its reason",
                deviation_allowed=True,
            )
        return
    unconverted = [t for t, _, d in rows if table.of(t) is None and d is None]
    if unconverted:
        earlier_text = "; ".join(f"{_drug_text(e)} {e.details.get('dose')} at {format_instant(e.at)}" for _, e in entries)
        raise StepRefused(
            NOT_TOTALLED,
            f"premedication refused: {rows[-1][0]} {event.details.get('dose')} with {earlier_text} already recorded within "
            f"{duration_text(window)}: {', '.join(dict.fromkeys(unconverted))} is not on the list of {drug_class}s "
            f"nor in the {drug_class} equivalence table, so the {drug_class} total cannot be checked. Record the drug under "
            "its listed name, or, if this is what was ordered and given, record it as a deviation with its reason "
            "(a pharmacist checks the total against the order)",
            deviation_allowed=True,
        )
    ref = table.of(table.reference)
    assert ref is not None
    total = 0.0  # in mg of the reference drug
    limits: list[tuple[float, str]] = []
    parts = []
    for text, mg, drug in rows:
        equivalent = table.of(text, drug.name if drug else text)
        if equivalent is None or mg is None:
            continue
        total += mg / equivalent.mg * ref.mg
        parts.append((text, mg, equivalent))
        if drug is not None:
            child = child_premedication_limit(prep, drug, policy, now)
            limit_mg, why = child if child is not None else (float(drug.dose_max.value.to("mg").magnitude), "the most of one dose")
            limits.append((limit_mg / equivalent.mg * ref.mg, f"{drug.name} {format_amount(round(limit_mg, 2), 'mg')} ({why})"))
    if not limits or len({e.name for _, _, e in parts}) < 2:
        return
    limit, why = max(limits)
    if total > limit + 1e-9:
        each = "; ".join(f"{t} {format_amount(mg, 'mg')} = {format_amount(round(mg / e.mg * ref.mg, 2), 'mg')} {ref.name}" for t, mg, e in parts)
        pending = " (equivalence pending pharmacist review)" if table.pending_review else ""
        raise StepRefused(
            "premedication_class_total_above_limit",
            f"premedication refused: the {drug_class}s recorded within {duration_text(window)} add up to "
            f"{format_amount(round(total, 2), 'mg')} {ref.name}-equivalent ({each}), more than the most of any one of them "
            f"alone, {why} = {format_amount(round(limit, 2), 'mg')} {ref.name}-equivalent{pending}: "
            f"different {drug_class}s add up to the patient; check the entries against the order",
        )


def _check_premedication_total(
    prep: Preparation, event: Event, drug: PremedicationDrug, policy: SitePolicy, now: datetime, replacing: int | None, child_limit: tuple[float, str] | None
) -> None:
    """The same drug recorded more than once for one dose (under a brand, another class or as "other")
    is one dose to the patient: its total within the premedication window must stay under the limit
    a single entry is held to (a child's per-kg cap, else the plausible single dose)."""
    window = policy.premedication_window
    earlier_mg = 0.0
    entries: list[str] = []
    for number, earlier in numbered_premedications(prep):
        text = _drug_text(earlier)
        if number == replacing or not (drug.is_named(text) or drug.named_within(text)):
            continue
        if abs(earlier.at - event.at) > window:
            continue
        mg = _stored_dose_mg(earlier)
        if mg is None:
            continue
        earlier_mg += mg
        entries.append(f"{text} {format_amount(mg, 'mg')} at {format_instant(earlier.at)}")
    if not entries:
        return
    dose_mg = float(Quantity(str(event.details.get("dose")).strip()).to("mg").magnitude)
    total = earlier_mg + dose_mg
    if child_limit is not None:
        limit, why = child_limit[0], f"a child's {child_limit[1]}"
    else:
        limit = float(drug.dose_max.value.to("mg").magnitude)
        why = f"the most of one dose, {format_amount(limit, 'mg')}" + (" (pending pharmacist review)" if drug.dose_max.verify else "")
    if total > limit + 1e-9:
        raise StepRefused(
            "premedication_total_above_limit",
            f"premedication refused: {drug.name} {format_amount(dose_mg, 'mg')} with {'; '.join(entries)} already recorded "
            f"within {duration_text(window)} makes {format_amount(round(total, 2), 'mg')}, more than {why}; "
            "the same drug under another name is the same dose to the patient: check the entries against the order",
        )


def child_premedication_limit(prep: Preparation, drug: PremedicationDrug, policy: SitePolicy, now: datetime) -> tuple[float, str] | None:
    """A child's most of this premedication (mg) and how it is reached, or None (an adult, or no per-kg dose in the data)."""
    from .identity import completed_years

    weight = prep.order.calculation.weight_kg
    if drug.child_per_kg is None or not weight:
        return None
    if completed_years(prep.patient.date_of_birth, now.astimezone().date()) >= policy.adult_from_age_years:
        return None
    per_kg = float(drug.child_per_kg.value.to("mg/kg").magnitude)
    limit = per_kg * float(weight)
    text = f"{format_amount(per_kg, 'mg/kg')} × {format_amount(float(weight), 'kg')} = {format_amount(round(limit, 2), 'mg')}"
    if drug.child_max is not None:
        cap = float(drug.child_max.value.to("mg").magnitude)
        text += f", at most {format_amount(cap, 'mg')}"
        limit = min(limit, cap)
    pending = " (pending pharmacist review)" if drug.child_per_kg.verify or (drug.child_max and drug.child_max.verify) else ""
    return limit, f"{text}{pending}"


def _check_premedication_time(
    prep: Preparation,
    event: Event,
    monograph: Monograph,
    policy: SitePolicy,
    now: datetime,
    replacing: int | None,
    drug: PremedicationDrug | str,
) -> None:
    """Recent enough to count for a start from now, and not the same entry twice."""
    drug_class = _class_of(event)
    dose = Quantity(str(event.details.get("dose")).strip())
    window, why = premedication_window_for(drug_class, monograph, policy)
    if event.at < now - window:
        # The infusion cannot start before now, so this dose can no longer count for it.
        raise StepRefused(
            "premedication_window",
            f"premedication refused: given {format_instant(event.at)}, more than {duration_text(window)} ago; "
            f"{drug_class} premedication counts only within {duration_text(window)} before the start ({why}). Give it again",
        )

    def same_drug(earlier: Event) -> bool:
        text = _drug_text(earlier)
        return drug.is_named(text) if isinstance(drug, PremedicationDrug) else skeleton(text) == skeleton(drug)

    for number, earlier in numbered_premedications(prep):
        if number == replacing or _class_of(earlier) != drug_class or not same_drug(earlier):
            continue
        try:
            same_dose = Quantity(str(earlier.details.get("dose")).strip()) == dose
        except Exception:  # an unreadable stored dose is not the same dose
            same_dose = False
        if same_dose and abs(earlier.at - event.at) <= policy.premedication_duplicate_window:
            raise StepRefused(
                "premedication_duplicate",
                f"premedication refused: {earlier.details.get('drug')} {event.details.get('dose')} was already recorded by {earlier.user} "
                f"for {format_instant(earlier.at)}; the same entry within {duration_text(policy.premedication_duplicate_window)} "
                "is a double entry",
            )


def _time_breaches(prep: Preparation, event: Event, now: datetime, monograph: Monograph, policy: SitePolicy) -> list[Breach]:
    """Every limit this step breaks, judged at its own instant and at its entry (`now`).

    A step dated before a limit but entered after it passed is judged at its entry too: the
    program cannot tell a late entry from a backdated one.
    """
    rank = _RANK.get(event.type)
    if rank is None:
        return []
    duration = infusion_duration_of(prep, monograph)
    # As the countdowns show them (effective_deadlines): a limit a vial's expiry moved earlier refuses
    # its steps from the moved instant, not from the vial's expiry alone (a refrigerated bag's out-by
    # is the warm-up before it: a bag out later could not warm before the start is refused).
    plain = compute_deadlines(prep.events, monograph, event.at, policy.warning_lead_time, duration)
    deadlines: list[Deadline] = effective_deadlines(prep, plain, monograph, event.at, policy.warning_lead_time)
    found: list[Breach] = []
    for d in deadlines:
        mark = d.review_mark
        if d.hard:
            if d.met_at is not None or rank > _blocks_up_to_rank(d.key, monograph):
                continue
            if event.at > d.at:
                found.append(
                    Breach(
                        d.hard_stop_code,
                        f"{d.label.lower()} {format_instant(d.at)}{mark} has passed ({d.basis})",
                        d.overridable,
                        d.key,
                    )
                )
            elif now > d.at:
                found.append(
                    Breach(
                        "late_entry",
                        f"{d.label.lower()} {format_instant(d.at)}{mark} passed before this step was entered "
                        f"(dated {format_instant(event.at)}, {entered_late_text(event)})",
                        False,
                        d.key,
                        late_entry=True,
                    )
                )
        elif _holds(d.key, monograph) == event.type and d.met_at is None and event.at < d.at:
            found.append(
                Breach(
                    d.hard_stop_code,
                    f"{d.label.lower()} {format_instant(d.at)}{mark} has not been reached ({d.basis})",
                    d.overridable,
                    d.key,
                )
            )
    # The limits this step starts or moves earlier (a reconstitution's dilute-by, a dilution's start-by, a
    # bag put in the refrigerator: its out-by, and a start-by the refrigerated limit brings forward) may
    # already be behind the step: a bag refrigerated 3.5 h after a room-temperature dilution has a start-by
    # (dilution + 3 h) and an out-by already passed, so the step made the product unusable and was accepted
    # all the same. Passed at the step's own instant it is refused as that limit passed (a fact is recorded
    # only as a deviation); passed by its entry, a late entry. They exist only with the step among the
    # events (and a step may move an instant), so this second reckoning is of another event list.
    before = {d.key: d.at for d in deadlines}
    passed_before = any(b.code.endswith("_passed") for b in found)
    started_limits = effective_deadlines(
        prep,
        compute_deadlines([*prep.events, event], monograph, max(now, event.at), policy.warning_lead_time, duration),
        monograph,
        max(now, event.at),
        policy.warning_lead_time,
    )
    for d in started_limits:
        if not d.hard or d.met_at is not None or (d.key in before and d.at >= before[d.key]):
            continue
        if d.at < event.at:
            if passed_before:
                continue  # refused already for a limit passed before the step: that one is the answer
            found.append(
                Breach(
                    d.hard_stop_code,
                    f"{d.label.lower()} {format_instant(d.at)}{d.review_mark}, which this step "
                    f"{'starts' if d.key not in before else 'brings forward'}, would already have passed at "
                    f"{format_instant(event.at)} ({d.basis})",
                    d.overridable,
                    d.key,
                    started=True,
                )
            )
        elif d.at < now:
            found.append(
                Breach(
                    "late_entry",
                    f"{d.label.lower()} {format_instant(d.at)}{d.review_mark}, which this step "
                    f"{'starts' if d.key not in before else 'brings forward'}, passed before it was "
                    f"entered (dated {format_instant(event.at)}, {entered_late_text(event)}): "
                    + (f"{d.basis}" if d.vial_expiry else "the product has expired"),
                    False,
                    d.key,
                    late_entry=True,
                )
            )
    if event.type == EventType.INFUSION_ENDED:
        started = Timeline.of(prep.events).infusion_started
        minimum = monograph.duration("infusion.minimum_duration")
        shortest = minimum - policy.infusion_minimum_tolerance
        if started is not None and event.at - started < shortest:
            ran = int((event.at - started).total_seconds() // 60)
            found.append(
                Breach(
                    "infusion_too_fast",
                    f"the infusion ran {ran} min (started {format_instant(started)}); the monograph's minimum is "
                    f"{duration_text(minimum)}, less the site's "
                    f"{duration_text(policy.infusion_minimum_tolerance)} tolerance",
                )
            )
    return found


def _kept_as_it_is(event: Event, breaches: Sequence[Breach]) -> str:
    """The way out of a refrigeration refused only because the refrigerated limits it starts would already
    have passed: the product not refrigerated keeps its room-temperature limits, still open (a passed one
    refuses the step by itself, and then the answer is to discard)."""
    refrigerates = event.type in (EventType.BAG_TO_FRIDGE, EventType.RECONSTITUTED_TO_FRIDGE) or (
        event.type == EventType.DILUTED and storage_of(event) == DiluteStorage.FRIDGE
    )
    if not refrigerates or not breaches or not all(b.started for b in breaches):
        return ""
    instead = "dilute it for room-temperature storage" if event.type == EventType.DILUTED else "keep it out of the refrigerator"
    return f". A label limit: it cannot be overridden; {instead}, where its room-temperature limits still hold, or discard and prepare again."


def _override_conflicts(prep: Preparation, event: Event, override: Override) -> str | None:
    """Why this pharmacist may not override this step (separation of duties), or None."""
    who = override.pharmacist.strip().casefold()
    if who == event.user.strip().casefold():
        return "performs this step"
    if who == prep.created_by.strip().casefold():
        return "entered this preparation"
    for e in prep.events:
        if e.user.strip().casefold() != who:
            continue
        if e.type in (EventType.RECONSTITUTED, EventType.DILUTED):
            return "prepared this dose"
        if e.type in (EventType.VERIFIED, EventType.ORDER_VERIFIED):
            return "verified this preparation"
    return None


def infusion_duration_of(prep: Preparation, monograph: Monograph) -> timedelta:
    """The planned infusion time: the monograph's (no order has carried its own since 0.1)."""
    return monograph.duration("infusion.duration")


def _premedication_too_old(prep: Preparation, event: Event, monograph: Monograph, policy: SitePolicy, now: datetime) -> Breach | None:
    """A premedication given longer ago than its class counts for a start from now: it happened, so it
    is recorded (as a deviation: the nurse's reason), and it counts in the drug's total, which a
    refusal would hide when the dose is given again (review: acetaminophen 650 mg refused at 90 min,
    given again, 1,300 mg the program never saw). It does not count for the start."""
    if event.type != EventType.PREMEDICATION or Timeline.of(prep.events).infusion_started is not None:
        return None
    drug_class = str(event.details.get("drug_class", "")).strip().lower()
    if drug_class not in monograph.premedication_classes():
        return None  # the class is refused as input, with its own message
    window, why = premedication_window_for(drug_class, monograph, policy)
    if event.at >= now - window:
        return None
    return Breach(
        "premedication_window",
        f"premedication given {format_instant(event.at)}, more than {duration_text(window)} ago; {drug_class} premedication "
        f"counts only within {duration_text(window)} before the start ({why}): recorded, it does not count for the start. "
        "Give it again only after checking the total of this drug",
        late_entry=True,
    )


def _premedication_after_start(prep: Preparation, event: Event) -> Breach | None:
    """A premedication entered once the infusion has started (and before it is finished)."""
    if event.type != EventType.PREMEDICATION:
        return None
    line = Timeline.of(prep.events)
    if line.infusion_started is None or line.discarded is not None or line.observation_ended is not None:
        return None
    when = "before" if event.at <= line.infusion_started else "after"
    return Breach(
        "premedication_after_start",
        f"premedication given {format_instant(event.at)}, {when} the infusion started ({format_instant(line.infusion_started)}), entered after the start",
        late_entry=True,
    )


def check_event(
    prep: Preparation,
    event: Event,
    actor: User,
    now: datetime,
    monograph: Monograph,
    policy: SitePolicy,
    override: Override | None = None,
    deviation_reason: str | None = None,
) -> list[Breach]:
    """Raise ValidationError or StepRefused if `actor` may not append `event` to `prep` (see module doc).

    Returns the breaches a fact is recorded with (the caller stores deviation_event(...) right
    after the step); empty for a step that breaks no limit.

    `now` must come from a MonotonicClock. A step acting on the drug after its limit is refused;
    only a limit the monograph marks overridable (never a label limit) may be overridden with
    `override` (built by make_override) by a pharmacist who neither prepared nor verified this
    preparation nor performs the step; the caller then records override_event(...) and the step.
    A fact (FACTS) breaking a limit needs `deviation_reason`.
    """
    _validate_input(prep, event, actor, now, monograph)
    late_premedication = _premedication_after_start(prep, event) or _premedication_too_old(prep, event, monograph, policy, now)
    if late_premedication is not None:
        # Given, and written down only once the infusion ran: a fact, recorded as a deviation.
        _check_role(prep, event, actor)
        untotalled = _untotalled(
            lambda: _check_premedication(prep, event, monograph, policy, event.at),  # not "recent enough now"
            deviation_reason,
        )
        if untotalled is not None:
            late_premedication = Breach(late_premedication.code, f"{late_premedication.message}; {untotalled.message}", late_entry=True)
        if override is not None:
            raise ValidationError("override", "what already happened is not overridden: record it with a deviation reason")
        if deviation_reason is None:
            raise StepRefused(
                late_premedication.code,
                late_premedication.message + ". If this is what happened, record it as a deviation with its reason",
                deviation_allowed=True,
            )
        _reason_of_length("deviation reason", deviation_reason, policy.override_reason_min_chars)
        return [late_premedication]
    _check_order(prep, event, monograph)
    _check_role(prep, event, actor)
    _check_vials_recorded(prep, event)
    _check_vial_expiry(prep, event, now)
    breaches = _time_breaches(prep, event, now, monograph, policy)
    # An action on a product past an absolute limit is refused for that limit first: the answer is
    # "discard and prepare again", not "give the premedication again, then start".
    expired = event.type not in FACTS and any((b.code.endswith("_passed") or b.late_entry) and not b.overridable for b in breaches)
    if not expired:
        untotalled = _untotalled(lambda: _check_administration(prep, event, monograph, policy, now), deviation_reason)
        if untotalled is not None:
            if override is not None:
                raise ValidationError("override", "what already happened is not overridden: record it with a deviation reason")
            _reason_of_length("deviation reason", deviation_reason, policy.override_reason_min_chars)
            return [untotalled]
    code = "+".join(dict.fromkeys(b.code for b in breaches))
    message = f"{event_words(event.type)} refused: " + "; ".join(b.message for b in breaches)
    if event.type in FACTS:
        if override is not None:
            raise ValidationError("override", "what already happened is not overridden: record it with a deviation reason")
        if not breaches:
            if deviation_reason is not None:
                raise ValidationError("deviation reason", "this step breaks no limit: record it without a deviation reason")
            return []
        if deviation_reason is None:
            raise StepRefused(
                code,
                message + ". If this is what happened, record it as a deviation with its reason",
                deviation_allowed=True,
            )
        _reason_of_length("deviation reason", deviation_reason, policy.override_reason_min_chars)
        return breaches
    if deviation_reason is not None:
        raise ValidationError(
            "deviation reason",
            f"only what already happened ({', '.join(sorted(k.value for k in FACTS))}) is recorded as a deviation; '{event.type.value}' acts on the drug",
        )
    if override is not None:
        _text("override pharmacist", override.pharmacist)
        _reason_of_length("override reason", override.reason, policy.override_reason_min_chars)
        if not breaches:
            raise ValidationError("override", "there is no hard stop to override for this step")
    if not breaches:
        return []
    overridable = all(b.overridable for b in breaches)
    if override is not None and overridable:
        conflict = _override_conflicts(prep, event, override)
        if conflict:
            raise StepRefused(
                "override_not_independent",
                f"{override.pharmacist} {conflict}: the overriding pharmacist may not be the preparer, the verifier or the one who performs the step",
            )
        if set(override.hard_stop_code.split("+")) == {b.code for b in breaches}:
            return []
    instead = _kept_as_it_is(event, breaches)
    if instead and not overridable:
        message += instead
    elif overridable:
        message += ". A site-policy limit: a pharmacist who did not prepare or verify this dose may override it with a reason."
    elif any(b.code.endswith("_not_reached") for b in breaches) and not any(b.code.endswith("_passed") or b.late_entry for b in breaches):
        message += ". A label limit: it cannot be overridden; wait until it is reached."
    else:
        message += ". A label limit: it cannot be overridden; discard and prepare again."
    raise StepRefused(code, message, overridable=overridable)


def _untotalled(check: Callable[[], None], deviation_reason: str | None) -> Breach | None:
    """Run a premedication check; a refusal only because the class total cannot count the entry is,
    with a deviation reason, the breach it is recorded with (it was given: a refusal would hide it)."""
    try:
        check()
    except StepRefused as refusal:
        if refusal.code != NOT_TOTALLED or deviation_reason is None:
            raise
        words = refusal.message.replace("premedication refused: ", "premedication not totalled: ", 1)
        return Breach(NOT_TOTALLED, re.split(r"\. (?:Record the drug|Check the order)", words)[0])
    return None


def _check_vials_recorded(prep: Preparation, event: Event) -> None:
    """Refuse a step using the product until the vials recorded cover the calculation's count: a
    dose reconstituted from no recorded vial has no lot, no product check and no expiry check (the
    service records a vial only product-confirmed and in date; _check_vial_expiry re-judges the date).
    A late entry is no exception: the lots are on the cartons, which are kept, so they are recorded
    first and the step after."""
    if event.type not in _PRODUCT_STEPS:
        return
    needed = prep.order.calculation.vials
    if len(prep.vials) < needed:
        raise StepRefused(
            "vials_not_recorded",
            f"{event_words(event.type)} refused: vials needed: {len(prep.vials)} recorded of {needed}; "
            "record each vial used (its lot and expiry, from the carton) before this step.",
        )


def _check_vial_expiry(prep: Preparation, event: Event, now: datetime) -> None:
    """Refuse a step using the product once a recorded vial is past its expiry, at the step's instant
    or at its entry: a late entry of a step done before the expiry is still a step whose product has
    since expired. The expiry is the vial's time when its code (AI 7003) or carton gave one, else the
    end of its expiry date on the site's clock (the last day of use)."""
    if event.type not in _PRODUCT_STEPS or not prep.vials:
        return
    for instant in (event.at, now):
        expired = sorted((v for v in prep.vials if v.expired(instant)), key=lambda v: (v.expiry, v.lot))
        if expired:
            lots = ", ".join(f"lot {v.lot} expired {vial_expiry_words(v)}" + ("" if v.expires_at else ", its last day of use") for v in expired)
            raise StepRefused(
                "vial-expired",
                f"{event_words(event.type)} refused: vial {lots} (judged at {format_instant(instant)}): "
                "a product past its expiry is not used. An expiry cannot be overridden; discard and prepare again "
                "with vials in date.",
            )


def product_expires_at(vials: Sequence[VialRecord], zone: tzinfo | None = None) -> datetime | None:
    """The instant (UTC) from which the first of these vials is past its expiry, so every step using
    the product is refused (_check_vial_expiry): its time when its code or carton gave one, else the
    end of its expiry date on the site's clock (`zone`, by default the workstation's). None without
    vials. The sheet and label give it when it comes before the label's latest start."""
    ends = [
        v.expires_at if v.expires_at is not None else earliest_instant_of_wall_time(datetime.combine(v.expiry + timedelta(days=1), time(0)), zone)
        for v in vials
    ]
    return min(ends, default=None)


def first_expiring_vial(vials: Sequence[VialRecord], zone: tzinfo | None = None) -> VialRecord | None:
    """The vial whose expiry comes first (product_expires_at's), the lowest lot of a tie; None without vials."""
    return min(vials, key=lambda v: (product_expires_at([v], zone), v.lot), default=None)


# How a deadline moved to a vial's expiry is marked, on the board, the chair, prep show, sheet and label.
VIAL_EXPIRY_MARK = "vial expiry"


def effective_deadlines(
    prep: Preparation, deadlines: Sequence[Deadline], monograph: Monograph, now: datetime, warning_lead: timedelta, zone: tzinfo | None = None
) -> list[Deadline]:
    """The deadlines as the steps are refused: a hard deadline whose steps all use the product (dilute
    by, start by, the refrigerator limits; not end by: a running infusion goes on) moves to the first
    vial's expiry when that comes before its time limits (a refrigerated bag's out-by to the warm-up
    before it), marked '(vial expiry)' with the vial's lot and expiry as its basis. The one place this
    is decided: the step refusals (_time_breaches) judge these deadlines, as the service's status
    (board, chair, CLI) and the sheet and label show them, so a countdown that has run out is a step
    refused with the same words (a bag is not taken out of the refrigerator after its moved out-by,
    while _check_vial_expiry alone allowed it until the vial's expiry). Idempotent."""
    first = first_expiring_vial(prep.vials, zone)
    expires = product_expires_at(prep.vials, zone)
    if first is None or expires is None:
        return list(deadlines)
    why = f"vial lot {first.lot} expires {vial_expiry_words(first)}{'' if first.expires_at else ' (its last day of use)'}: no step using the product from then"
    moved = []
    for d in deadlines:
        bound, because = expires, why
        limits: tuple[str, ...] = ()  # the vial's expiry alone: no time limit under it
        if d.key == "bag_from_fridge_by":
            # As the time limits' own out-by (start by - warm-up): a bag out later cannot warm up
            # before the start is refused, and the warm-up is never overridden.
            warm_up = monograph.duration("time_limits.refrigerated_bag_warm_up")
            bound = expires - warm_up
            because = f"{why}, the start included, and a refrigerated bag warms for {duration_text(warm_up)} first (time_limits.refrigerated_bag_warm_up)"
            limits = ("time_limits.refrigerated_bag_warm_up",)
        if d.hard and not d.vial_expiry and bound < d.at and met_by(d.key, monograph) <= _PRODUCT_STEPS:
            basis = f"{because}; the time limits alone give {format_instant(d.at)} ({d.basis})"
            d = moved_earlier(d, bound, VIAL_EXPIRY_MARK, basis, now, warning_lead, limits, monograph)
        moved.append(d)
    return moved


def vial_expiry_words(vial: VialRecord, zone: tzinfo | None = None) -> str:
    """When a vial expires, for a refusal: 'at <date, time on the site's clock (`zone`, by default the
    workstation's)>' when its time is known, else 'on <date>'."""
    if vial.expires_at is not None:
        return f"at {format_vial_expiry(vial.expiry, vial.expires_at, zone)}"
    return f"on {vial.expiry.isoformat()}"


def _reason_of_length(field_name: str, value: object, minimum: int) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    if len(text) < max(minimum, MIN_REASON_CHARS):
        raise ValidationError(field_name, f"give a reason of at least {max(minimum, MIN_REASON_CHARS)} characters saying what happened")
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(field_name, f"must be at most {MAX_TEXT_CHARS} characters")
    return text


# ---------------------------------------------------------------------------------------------
# Where a preparation stands


def _monograph_for(prep: Preparation) -> Monograph:
    # Every stored preparation names its monograph (migration 0005 gave the old rows theirs).
    return load_monograph(prep.monograph_id)


def current_step(prep: Preparation, monograph: Monograph | None = None) -> str:
    """The next thing to do: 'verify order', 'reconstitute', 'dilute', 'verify', 'label', 'dispense',
    'premedicate', 'start infusion', 'infusing', 'observing', 'done' or 'discarded'."""
    line = Timeline.of(prep.events)
    if line.discarded is not None:
        return "discarded"
    if line.observation_ended is not None:
        return "done"
    if line.infusion_ended is not None:
        return "observing"
    if line.infusion_started is not None:
        return "infusing"
    if line.reconstituted is None:
        return "verify order" if line.order_verified is None else "reconstitute"
    if line.diluted is None:
        return "dilute"
    if line.verified is None:
        return "verify"
    if line.labelled is None:
        return "label"
    if line.dispensed is None:
        return "dispense"
    monograph = monograph or _monograph_for(prep)
    required = set(monograph.premedication_classes())
    if not required <= line.premedicated_classes:
        return "premedicate"
    return "start infusion"


def _probe(prep: Preparation, kind: EventType, now: datetime, monograph: Monograph) -> tuple[Event, User]:
    role = sorted(ROLES_FOR[kind], key=lambda r: r.value)[0]
    taken = {e.user.strip().casefold() for e in prep.events}
    name = "probe"
    while name in taken:
        name += "_"
    details: dict[str, object] = {}
    if kind == EventType.DILUTED:
        details = {"storage": "room"}
    elif kind == EventType.PREMEDICATION:
        classes = monograph.premedication_classes()
        done = Timeline.of(prep.events).premedicated_classes
        missing = [c for c in classes if c not in done] or classes
        drug = next((d for d in monograph.premedication_drugs() if d.drug_class == missing[0]), None)
        if drug is None:
            details = {"drug_class": missing[0], "drug": "probe", "dose": "1 mg"}
        else:
            details = {"drug_class": missing[0], "drug": drug.name, "dose": f"{drug.dose_max.value.to('mg').magnitude:g} mg"}
    elif kind == EventType.VERIFIED:
        calc = prep.order.calculation
        details = {
            "entered": {
                "mrn": prep.patient.mrn,
                "height": f"{calc.height_cm} cm",
                "weight": f"{calc.weight_kg} kg",
                "dose_mg": str(calc.dose_mg),
                "volume_ml": str(calc.withdraw_ml),
            }
        }
    elif kind == EventType.DISCARDED:
        details = {"reason": "probe reason"}
    elif kind == EventType.ORDER_VERIFIED and not has_course(prep):
        # Verifiable: with the labs checked, or their override (the probe cannot know the values).
        details = {"labs_override": "probe: the labs are checked at verification"}
    elif kind == EventType.PATIENT_CONFIRMED:
        details = {"name": prep.patient.name, "mrn": prep.patient.mrn}
    return Event(kind, now, now, name, details), User(None, name, role)


def allowed_events(prep: Preparation, now: datetime, monograph: Monograph, policy: SitePolicy) -> list[EventType]:
    """The step events check_event would accept at `now` from a suitable user, without an override.

    Role is not considered (some user of the right role is assumed), nor are OVERRIDE,
    DEVIATION and ALARM_ACKNOWLEDGED, which accompany steps rather than being steps. A fact that
    would need a deviation reason is not listed.
    """
    found: list[EventType] = []
    for kind in EventType:
        # A correction is of an entry, not a step: the chair offers it on the entry itself.
        if kind in (EventType.OVERRIDE, EventType.ALARM_ACKNOWLEDGED, EventType.DEVIATION, EventType.PREMEDICATION_CORRECTED):
            continue
        event, actor = _probe(prep, kind, now, monograph)
        try:
            check_event(prep, event, actor, now, monograph, policy)
        except (StepRefused, ValidationError):
            continue
        found.append(kind)
    return found


def is_active(prep: Preparation) -> bool:
    """Neither discarded nor finished (observation ended)."""
    line = Timeline.of(prep.events)
    return line.discarded is None and line.observation_ended is None
