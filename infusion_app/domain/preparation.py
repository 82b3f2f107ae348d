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
   (warm_until), and when observation would end before observe_until. These are overridable:
   a pharmacist with a reason. An override covers exactly the hard stops named in the refusal,
   for that one event; the caller records an OVERRIDE event (override_event()) with the step.
   Once the deadline's own step has happened (in time or overridden) it stops blocking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from .deadlines import (
    Deadline,
    Timeline,
    compute_deadlines,
    duration_text,
    infusion_duration_from_minutes,
    storage_of,
)
from .double_check import verification_mismatches
from .identity import confirmation_mismatches
from .errors import ValidationError
from .formatting import format_instant, utc_iso
from .limits import SitePolicy
from .monograph import DEFAULT_MONOGRAPH, Monograph, load_monograph
from .quantities import Quantity, ureg
from .records import Event, EventType, Preparation, Role, User

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
    EventType.PATIENT_CONFIRMED: frozenset({Role.NURSE}),
    EventType.INFUSION_STARTED: frozenset({Role.NURSE}),
    EventType.INFUSION_ENDED: frozenset({Role.NURSE}),
    EventType.OBSERVATION_ENDED: frozenset({Role.NURSE}),
    EventType.DISCARDED: PREPARERS,
    EventType.OVERRIDE: frozenset({Role.PHARMACIST}),
    EventType.ALARM_ACKNOWLEDGED: EVERYONE,
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
_BLOCKS_UP_TO_RANK = {
    "dilute_by": _RANK[EventType.DILUTED],
    "reconstituted_fridge_until": _RANK[EventType.DILUTED],
    "bag_from_fridge_by": _RANK[EventType.INFUSION_STARTED],
    "start_infusion_by": _RANK[EventType.INFUSION_STARTED],
    "end_infusion_by": _RANK[EventType.INFUSION_ENDED],
}
# Not-before limits and the one step each holds back.
_MINIMUM_HOLDS = {
    "warm_until": EventType.INFUSION_STARTED,
    "observe_until": EventType.OBSERVATION_ENDED,
}
# Events outside the chain: their instant is not ordered against the steps.
_OFF_CHAIN = frozenset(
    {EventType.PREMEDICATION, EventType.PATIENT_CONFIRMED, EventType.OVERRIDE, EventType.ALARM_ACKNOWLEDGED}
)


@dataclass(frozen=True)
class Override:
    """A pharmacist's override of the time-limit hard stops named in a StepRefused.

    The caller authenticates the pharmacist (PIN) and should build it with make_override(),
    which refuses anyone who is not an active pharmacist.
    """

    pharmacist: str  # the pharmacist's user name
    reason: str
    hard_stop_code: str  # StepRefused.code being overridden ("a+b" when several were named)


class StepRefused(Exception):
    """A well-formed step that must not happen. `overridable` steps may be overridden by a pharmacist."""

    def __init__(self, code: str, message: str, overridable: bool = False):
        self.code = code
        self.message = message
        self.overridable = overridable
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
    classes = [str(c).lower() for c in monograph.items("premedication.classes")]
    drug_class = str(event.details.get("drug_class", "")).strip().lower()
    if drug_class not in classes:
        raise ValidationError("drug_class", f"must be one of {', '.join(classes)}")
    _text("drug", event.details.get("drug"))
    dose_text = _text("dose", event.details.get("dose"))
    example = "give the dose with its unit, e.g. 10 mg"
    try:
        dose = Quantity(dose_text)
    except Exception:  # pint raises several error types for text it cannot read
        raise ValidationError("dose", f"'{dose_text}' is not a dose; {example}") from None
    if not isinstance(dose, Quantity) or not (
        dose.dimensionality == ureg.gram.dimensionality or dose.dimensionality == ureg.liter.dimensionality
    ):
        raise ValidationError("dose", f"'{dose_text}' has no mass or volume unit; {example}")
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


def _validate_input(prep: Preparation, event: Event, actor: User, now: datetime, monograph: Monograph) -> None:
    _aware(now, "now")
    field_name = "given_at" if event.type == EventType.PREMEDICATION else "at"
    at = _aware(event.at, field_name)
    if not isinstance(event.type, EventType):
        raise ValidationError("event", "unknown event type")
    if event.user.strip().casefold() != actor.name.strip().casefold():
        raise ValidationError("user", f"the event names {event.user!r} but {actor.name!r} is recording it")
    if at > now + FUTURE_TOLERANCE:
        raise ValidationError(
            field_name,
            f"{format_instant(at)} is in the future (now {format_instant(now)}); "
            f"at most {duration_text(FUTURE_TOLERANCE)} ahead is accepted",
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
        for earlier in prep.events_of(EventType.PREMEDICATION) + prep.events_of(EventType.PATIENT_CONFIRMED):
            if at < earlier.at:
                raise ValidationError(
                    field_name,
                    f"{format_instant(at)} is before the {earlier.type.value} recorded at {format_instant(earlier.at)}",
                )
    kind = event.type
    if kind == EventType.DILUTED:
        if storage_of(event) is None:
            raise ValidationError("storage", "say where the diluted bag is kept: room or fridge")
    elif kind == EventType.PREMEDICATION:
        _validate_premedication(event, monograph)
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
        raise StepRefused("out_of_order", f"'{kind.value}' cannot be recorded now: {why}")

    if kind in (EventType.OVERRIDE, EventType.ALARM_ACKNOWLEDGED):
        return
    if kind in (EventType.PREMEDICATION, EventType.PATIENT_CONFIRMED, EventType.DISCARDED):
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
        refuse("take the reconstituted vials out of the refrigerator first (record reconstituted-from-fridge)")


def _check_role(prep: Preparation, event: Event, actor: User) -> None:
    if not actor.active:
        raise StepRefused("user_inactive", f"{actor.name} is not an active user")
    allowed = ROLES_FOR[event.type]
    if actor.role not in allowed:
        names = " or ".join(sorted(r.value for r in allowed))
        raise StepRefused(
            "role",
            f"'{event.type.value}' is recorded by a {names}; {actor.name} is a {actor.role.value}",
        )
    if event.type == EventType.VERIFIED:
        preparers = {
            e.user.strip().casefold() for e in prep.events if e.type in (EventType.RECONSTITUTED, EventType.DILUTED)
        }
        if actor.name.strip().casefold() in preparers:
            raise StepRefused(
                "self_verification",
                f"{actor.name} prepared this dose: another pharmacist must verify it independently",
            )


def _check_administration(prep: Preparation, event: Event, monograph: Monograph) -> None:
    if event.type == EventType.VERIFIED and "entered" in event.details:
        # The screen always sends the re-entered values; a script may verify without them.
        mismatches = verification_mismatches(prep, dict(event.details["entered"] or {}))
        if mismatches:
            raise StepRefused(
                "verification_mismatch",
                "not verified: " + "; ".join(mismatches)
                + ". Check the patient, the syringe and the bag again and ask the preparer; do not release this bag.",
            )
        return
    if event.type == EventType.PATIENT_CONFIRMED:
        mismatches = confirmation_mismatches(prep.patient, event.details)
        if mismatches:
            raise StepRefused(
                "patient_mismatch",
                "patient not confirmed: " + "; ".join(mismatches)
                + ". Check the wristband and the bag label; do not give this bag until both identifiers match.",
            )
        return
    if event.type != EventType.INFUSION_STARTED:
        return
    line = Timeline.of(prep.events)
    required = [str(c).lower() for c in monograph.items("premedication.classes")]
    missing = [c for c in required if c not in line.premedicated_classes]
    if missing:
        raise StepRefused(
            "premedication_missing",
            f"premedication not recorded for: {', '.join(missing)} (all of {', '.join(required)} before every dose)",
        )
    if line.bag_in_fridge:
        raise StepRefused(
            "bag_in_fridge",
            "the bag is in the refrigerator: record bag-from-fridge and let it warm up before starting",
        )
    if prep.last(EventType.PATIENT_CONFIRMED) is None:
        raise StepRefused(
            "patient_not_confirmed",
            "confirm the patient by two identifiers (name, and date of birth or MRN) before starting the infusion",
        )


def _time_refusals(prep: Preparation, event: Event, monograph: Monograph, policy: SitePolicy) -> list[tuple[str, str]]:
    """(code, message) for every time limit this event breaks, judged at the event's own instant."""
    deadlines: list[Deadline] = compute_deadlines(
        prep.events, monograph, event.at, policy.warning_lead_time, infusion_duration_of(prep, monograph)
    )
    rank = _RANK.get(event.type)
    if rank is None:
        return []
    refusals = []
    for d in deadlines:
        if d.hard:
            if d.met_at is None and event.at > d.at and rank <= _BLOCKS_UP_TO_RANK.get(d.key, -1):
                refusals.append(
                    (
                        d.hard_stop_code,
                        f"{d.label.lower()} {format_instant(d.at)} has passed ({d.basis})",
                    )
                )
        elif _MINIMUM_HOLDS.get(d.key) == event.type and d.met_at is None and event.at < d.at:
            refusals.append(
                (
                    d.hard_stop_code,
                    f"{d.label.lower()} {format_instant(d.at)} has not been reached ({d.basis})",
                )
            )
    return refusals


def infusion_duration_of(prep: Preparation, monograph: Monograph) -> timedelta:
    """The planned infusion time: the order's 'infusion_minutes' when given, else the monograph's."""
    minutes = prep.order.get("infusion_minutes") if isinstance(prep.order, dict) else None
    if minutes is None:
        return monograph.duration("infusion.duration")
    return infusion_duration_from_minutes(minutes, monograph, "infusion_minutes")


def check_event(
    prep: Preparation,
    event: Event,
    actor: User,
    now: datetime,
    monograph: Monograph,
    policy: SitePolicy,
    override: Override | None = None,
) -> None:
    """Raise ValidationError or StepRefused if `actor` may not append `event` to `prep` (see module doc).

    `now` must come from a MonotonicClock. With `override` (built by make_override), time-limit
    refusals whose codes are exactly override.hard_stop_code are accepted; the caller then
    records override_event(...) and the step, in that order.
    """
    _validate_input(prep, event, actor, now, monograph)
    _check_order(prep, event, monograph)
    _check_role(prep, event, actor)
    _check_administration(prep, event, monograph)
    refusals = _time_refusals(prep, event, monograph, policy)
    if override is not None:
        _text("override pharmacist", override.pharmacist)
        _reason("override reason", override.reason)
        if not refusals:
            raise ValidationError("override", "there is no hard stop to override for this step")
    if not refusals:
        return
    code = "+".join(c for c, _ in refusals)
    if override is not None and set(override.hard_stop_code.split("+")) == {c for c, _ in refusals}:
        return
    message = f"'{event.type.value}' refused: " + "; ".join(m for _, m in refusals)
    message += ". A pharmacist may override with a reason."
    raise StepRefused(code, message, overridable=True)


# ---------------------------------------------------------------------------------------------
# Where a preparation stands


def _monograph_for(prep: Preparation) -> Monograph:
    try:
        return load_monograph(prep.monograph_id or DEFAULT_MONOGRAPH)
    except Exception:  # an unknown id in an old record: the shipped monograph still knows the classes
        return load_monograph()


def current_step(prep: Preparation, monograph: Monograph | None = None) -> str:
    """The next thing to do: 'reconstitute', 'dilute', 'verify', 'label', 'dispense', 'premedicate',
    'start infusion', 'infusing', 'observing', 'done' or 'discarded'."""
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
        return "reconstitute"
    if line.diluted is None:
        return "dilute"
    if line.verified is None:
        return "verify"
    if line.labelled is None:
        return "label"
    if line.dispensed is None:
        return "dispense"
    monograph = monograph or _monograph_for(prep)
    required = {str(c).lower() for c in monograph.items("premedication.classes")}
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
        classes = [str(c).lower() for c in monograph.items("premedication.classes")]
        done = Timeline.of(prep.events).premedicated_classes
        missing = [c for c in classes if c not in done] or classes
        details = {"drug_class": missing[0], "drug": "probe", "dose": "1 mg"}
    elif kind == EventType.DISCARDED:
        details = {"reason": "probe reason"}
    elif kind == EventType.PATIENT_CONFIRMED:
        details = {"name": prep.patient.name, "mrn": prep.patient.mrn}
    return Event(kind, now, now, name, details), User(None, name, role)


def allowed_events(
    prep: Preparation, now: datetime, monograph: Monograph, policy: SitePolicy
) -> list[EventType]:
    """The step events check_event would accept at `now` from a suitable user, without an override.

    Role is not considered (some user of the right role is assumed), nor are OVERRIDE and
    ALARM_ACKNOWLEDGED, which accompany steps rather than being steps.
    """
    found = []
    for kind in EventType:
        if kind in (EventType.OVERRIDE, EventType.ALARM_ACKNOWLEDGED):
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
