"""The preparation state machine: order, roles, self-verification, premedication, time limits, overrides."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tests.prep_helpers import vials_for
from infusion_app.domain.clock import FakeClock, MonotonicClock
from infusion_app.domain.deadlines import Timeline, compute_deadlines
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.limits import site_defaults
from infusion_app.domain.monograph import load_monograph
from infusion_app.domain.preparation import (
    FUTURE_TOLERANCE,
    Override,
    StepRefused,
    allowed_events,
    check_event,
    current_step,
    is_active,
    is_near_miss,
    deviation_event,
    make_override,
    override_event,
)
from infusion_app.domain.records import Event, EventType, Patient, Preparation, Role, User
from tests.lab_helpers import order_labs

UTC = timezone.utc
R = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
POLICY = site_defaults()
MONO = load_monograph("inotuzumab-ozogamicin")
CLASSES = [str(c) for c in MONO.items("premedication.classes")]

TINA = User(1, "tina", Role.TECHNICIAN)
PAUL = User(2, "paul", Role.PHARMACIST)
PETRA = User(3, "petra", Role.PHARMACIST)
NINA = User(4, "nina", Role.NURSE)
GONE = User(5, "gone", Role.PHARMACIST, active=False)

# The two identifiers a nurse checks at the chair, matching the Ward's patient.
CONFIRMED_DETAILS = {"name": "ann example", "date_of_birth": "1970-05-01"}

PREMED_DETAILS = {
    "corticosteroid": {"drug": "dexamethasone", "dose": "10 mg"},
    "antipyretic": {"drug": "acetaminophen", "dose": "650 mg"},
    "antihistamine": {"drug": "diphenhydramine", "dose": "25 mg"},
}


def _stored_order():
    from infusion_app.domain.dosing import DoseOrder, PreparationOrder, calculate_dose

    order = DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1)
    return PreparationOrder(order, calculate_dose(order, MONO, POLICY))


ORDER = _stored_order()
# What the independent checker re-enters for ORDER (the blind double check).
CHECKED = {
    "entered": {
        "mrn": "MRN0001",
        "height": "170 cm",
        "weight": "70 kg",
        "dose_mg": str(ORDER.calculation.dose_mg),
        "volume_ml": str(ORDER.calculation.withdraw_ml),
    }
}


def limit(name: str) -> timedelta:
    return MONO.duration(f"time_limits.{name}")


class Ward:
    """One preparation, a fake clock, and the application service's two calls: check, then append."""

    def __init__(self, order=None, mono=None):
        self.mono = mono or MONO
        self.deviation_reason: str | None = None
        self.breaches: list = []
        self.clock = FakeClock(R - timedelta(minutes=30))
        self.prep = Preparation(
            id="B7K2",
            patient=Patient("Ann Example", "MRN0001", date(1970, 5, 1)),
            order=order or ORDER,
            created_at=self.clock.now(),
            created_by="paul",
            monograph_id=MONO.id,
            monograph_revision=MONO.revision,
            vials=vials_for(order or ORDER),
        )

    def event(self, kind: EventType, user: User, at: datetime | None = None, **details) -> Event:
        if kind == EventType.VERIFIED and "entered" not in details:
            details = {**details, **CHECKED}
        if at is not None and at > self.clock.now():
            self.clock.set(at)
        return Event(kind, at or self.clock.now(), self.clock.now(), user.name, details)

    def check(self, kind: EventType, user: User, at: datetime | None = None, override: Override | None = None, **details):
        event = self.event(kind, user, at, **details)
        self.breaches = check_event(self.prep, event, user, self.clock.now(), self.mono, POLICY, override, deviation_reason=self.deviation_reason)
        return event

    def record(self, kind: EventType, user: User, at: datetime | None = None, override: Override | None = None, **details):
        if kind == EventType.PATIENT_CONFIRMED and not details:
            details = dict(CONFIRMED_DETAILS)
        if kind == EventType.VERIFIED and not details:
            details = dict(CHECKED)
        event = self.check(kind, user, at, override, **details)
        if override is not None:
            self.prep.events.append(override_event(override, event, self.clock.now()))
        self.prep.events.append(event)
        if self.breaches:
            self.prep.events.append(deviation_event(self.breaches, self.deviation_reason or "", event))
        return event

    def refused(self, kind: EventType, user: User, at: datetime | None = None, override: Override | None = None, **details) -> StepRefused:
        with pytest.raises(StepRefused) as excinfo:
            self.check(kind, user, at, override, **details)
        return excinfo.value

    def invalid(self, kind: EventType, user: User, at: datetime | None = None, **details) -> ValidationError:
        with pytest.raises(ValidationError) as excinfo:
            self.check(kind, user, at, **details)
        return excinfo.value

    def deadline(self, key: str) -> datetime:
        found = {d.key: d for d in compute_deadlines(self.prep.events, MONO, self.clock.now(), POLICY.warning_lead_time)}
        return found[key].at

    # -- the usual path, step by step ----------------------------------------------------------
    def verify_order(self):
        return self.record(EventType.ORDER_VERIFIED, PETRA, R - timedelta(minutes=10), **order_labs(R - timedelta(minutes=10)))

    def reconstitute(self):
        if self.prep.last(EventType.ORDER_VERIFIED) is None:
            self.verify_order()
        return self.record(EventType.RECONSTITUTED, TINA, R)

    def dilute(self, storage="room", minutes=30):
        self.reconstitute()
        return self.record(EventType.DILUTED, TINA, R + timedelta(minutes=minutes), storage=storage)

    def premedicate(self, at: datetime | None = None, confirm: bool = True):
        """The chair before the start: premedication, and (unless told not to) the two identifiers."""
        for drug_class in CLASSES:
            self.record(EventType.PREMEDICATION, NINA, at, drug_class=drug_class, **PREMED_DETAILS[drug_class])
        if confirm:
            self.record(EventType.PATIENT_CONFIRMED, NINA, at)

    def dispense(self):
        self.dilute()
        self.record(EventType.VERIFIED, PAUL, R + timedelta(minutes=40))
        self.record(EventType.LABELLED, TINA, R + timedelta(minutes=45))
        self.record(EventType.DISPENSED, TINA, R + timedelta(minutes=50))

    def start(self):
        self.dispense()
        self.premedicate(R + timedelta(minutes=55), confirm=False)
        self.record(EventType.PATIENT_CONFIRMED, NINA, R + timedelta(minutes=58))
        return self.record(EventType.INFUSION_STARTED, NINA, R + timedelta(minutes=60))

    def end(self):
        self.start()
        return self.record(EventType.INFUSION_ENDED, NINA, R + timedelta(minutes=120))


# --- the whole path -----------------------------------------------------------------------------


def test_the_whole_path_at_room_temperature():
    ward = Ward()
    assert current_step(ward.prep) == "verify order" and is_active(ward.prep)
    ward.verify_order()
    assert current_step(ward.prep) == "reconstitute"
    ward.reconstitute()
    assert current_step(ward.prep) == "dilute"
    ward.record(EventType.DILUTED, TINA, R + timedelta(minutes=30), storage="room")
    assert current_step(ward.prep) == "verify"
    ward.record(EventType.VERIFIED, PAUL, R + timedelta(minutes=40))
    assert current_step(ward.prep) == "label"
    ward.record(EventType.LABELLED, TINA, R + timedelta(minutes=45))
    assert current_step(ward.prep) == "dispense"
    ward.record(EventType.DISPENSED, TINA, R + timedelta(minutes=50))
    assert current_step(ward.prep) == "premedicate"
    ward.premedicate(R + timedelta(minutes=55))
    assert current_step(ward.prep) == "start infusion"
    ward.record(EventType.INFUSION_STARTED, NINA, R + timedelta(minutes=60))
    assert current_step(ward.prep) == "infusing"
    ward.record(EventType.INFUSION_ENDED, NINA, R + timedelta(minutes=120))
    assert current_step(ward.prep) == "observing"
    ward.record(EventType.OBSERVATION_ENDED, NINA, R + timedelta(minutes=120) + limit("observation_after_infusion"))
    assert current_step(ward.prep) == "done"
    assert not is_active(ward.prep)
    assert ward.refused(EventType.ALARM_ACKNOWLEDGED, NINA).code == "preparation_finished"


def test_the_refrigerated_bag_path():
    ward = Ward()
    ward.dilute(storage="fridge")
    ward.record(EventType.VERIFIED, PAUL, R + timedelta(minutes=40))
    ward.record(EventType.LABELLED, TINA, R + timedelta(minutes=45))
    ward.record(EventType.DISPENSED, PAUL, R + timedelta(minutes=50))
    ward.premedicate(R + timedelta(minutes=55))
    refusal = ward.refused(EventType.INFUSION_STARTED, NINA, R + timedelta(minutes=60))
    assert (refusal.code, refusal.overridable) == ("bag_in_fridge", False)
    out = R + timedelta(minutes=70)
    ward.record(EventType.BAG_FROM_FRIDGE, NINA, out)
    warm_until = out + limit("refrigerated_bag_warm_up")
    still_warming = ward.refused(EventType.INFUSION_STARTED, NINA, warm_until - timedelta(minutes=1))
    assert (still_warming.code, still_warming.overridable) == ("warm_until_not_reached", False)
    assert "wait until it is reached" in still_warming.message
    assert EventType.INFUSION_STARTED not in allowed_events(ward.prep, warm_until - timedelta(minutes=1), MONO, POLICY)
    assert EventType.INFUSION_STARTED in allowed_events(ward.prep, warm_until, MONO, POLICY)
    ward.record(EventType.INFUSION_STARTED, NINA, warm_until)
    assert current_step(ward.prep) == "infusing"


def test_a_still_warming_bag_may_not_start_even_with_a_pharmacist_override():
    ward = Ward()
    ward.dilute(storage="fridge")
    ward.record(EventType.BAG_FROM_FRIDGE, TINA, R + timedelta(minutes=35))
    ward.record(EventType.VERIFIED, PAUL, R + timedelta(minutes=40))
    ward.record(EventType.LABELLED, TINA, R + timedelta(minutes=45))
    ward.record(EventType.DISPENSED, PAUL, R + timedelta(minutes=50))
    ward.premedicate(R + timedelta(minutes=55))
    at = R + timedelta(minutes=60)
    override = make_override(PETRA, "bag warmed in the warming cabinet", "warm_until_not_reached")
    refusal = ward.refused(EventType.INFUSION_STARTED, NINA, at, override=override)
    assert (refusal.code, refusal.overridable) == ("warm_until_not_reached", False)
    assert ward.prep.events_of(EventType.OVERRIDE) == []


def test_reconstituted_vials_in_the_refrigerator():
    ward = Ward()
    ward.reconstitute()
    ward.record(EventType.RECONSTITUTED_TO_FRIDGE, TINA, R + timedelta(minutes=5))
    refused = ward.refused(EventType.DILUTED, TINA, R + timedelta(minutes=10), storage="room")
    assert refused.code == "out_of_order" and "out of the refrigerator" in refused.message
    assert ward.refused(EventType.RECONSTITUTED_TO_FRIDGE, TINA, R + timedelta(minutes=10)).code == "out_of_order"
    ward.record(EventType.RECONSTITUTED_FROM_FRIDGE, PAUL, R + timedelta(minutes=60))
    assert ward.refused(EventType.RECONSTITUTED_FROM_FRIDGE, PAUL, R + timedelta(minutes=61)).code == "out_of_order"
    ward.record(EventType.DILUTED, TINA, R + timedelta(minutes=70), storage="room")
    assert ward.refused(EventType.RECONSTITUTED_TO_FRIDGE, TINA).code == "out_of_order"


def test_reconstituted_vials_left_in_the_refrigerator_past_their_hold_time():
    ward = Ward()
    ward.reconstitute()
    ward.record(EventType.RECONSTITUTED_TO_FRIDGE, TINA, R + timedelta(minutes=5))
    late = R + limit("reconstituted_refrigerated_max") + timedelta(minutes=1)
    refusal = ward.refused(EventType.RECONSTITUTED_FROM_FRIDGE, TINA, late)
    assert not refusal.overridable and "reconstituted_fridge_until_passed" in refusal.codes
    assert "discard and prepare again" in refusal.message
    # Discarding is always possible.
    ward.record(EventType.DISCARDED, TINA, late, reason="past the refrigerated hold time")
    assert current_step(ward.prep) == "discarded"


def test_a_bag_out_by_moved_to_a_vials_expiry_refuses_its_steps_from_the_moved_instant():
    """Reviewer: effective_deadlines moves a refrigerated bag's out-by to one warm-up before a vial's
    expiry, and the countdown showed it passed from then; but the bag could still be taken out, checked,
    labelled and dispensed until the vial's expiry itself (only _check_vial_expiry refused). The step
    refusals judge the same moved deadlines: refused in the countdown's words, never overridable, a
    late entry too. Every other moved deadline (dilute by, start by, the vials' refrigerator hold) moves
    to the expiry itself, where the vial's own refusal already stood."""
    import dataclasses

    from infusion_app.domain.formatting import format_instant
    from infusion_app.domain.preparation import effective_deadlines

    ward = Ward()
    expires = R + timedelta(hours=3)  # before the label's own out-by (dilution + 3 h - 1 h warm-up = R + 2.5 h)
    ward.prep.vials[0] = dataclasses.replace(ward.prep.vials[0], lot="LOTX", expiry=expires.date(), expires_at=expires)
    ward.dilute(storage="fridge")
    out_by = expires - limit("refrigerated_bag_warm_up")
    moved = {
        d.key: d
        for d in effective_deadlines(
            ward.prep, compute_deadlines(ward.prep.events, MONO, out_by, POLICY.warning_lead_time), MONO, out_by, POLICY.warning_lead_time
        )
    }
    assert moved["bag_from_fridge_by"].at == out_by and moved["bag_from_fridge_by"].vial_expiry
    assert moved["start_infusion_by"].at == expires
    # Just before the moved out-by the bag comes out as before.
    ward.check(EventType.BAG_FROM_FRIDGE, TINA, out_by)
    after = out_by + timedelta(minutes=10)  # the vial is still in date: the old gate let every step through
    for kind, user in [(EventType.BAG_FROM_FRIDGE, TINA), (EventType.VERIFIED, PAUL)]:
        refusal = ward.refused(kind, user, after)
        assert refusal.code == "bag_from_fridge_by_passed" and not refusal.overridable and not refusal.deviation_allowed, kind
        assert (
            f"bag out of refrigerator by (vial expiry) {format_instant(out_by)} has passed (vial lot LOTX expires at {format_instant(expires)}"
            in refusal.message
        )
        assert "A label limit: it cannot be overridden; discard and prepare again." in refusal.message
    # No pharmacist's override moves it.
    overridden = ward.refused(
        EventType.BAG_FROM_FRIDGE, TINA, after, override=make_override(PETRA, "prescriber accepted the risk", "bag_from_fridge_by_passed")
    )
    assert overridden.code == "bag_from_fridge_by_passed" and not overridden.overridable
    # Dated before the moved out-by but entered after it: a late entry, refused as the plain out-by's is.
    late = ward.refused(EventType.BAG_FROM_FRIDGE, TINA, out_by - timedelta(minutes=5))
    assert late.code == "late_entry" and "bag out of refrigerator by (vial expiry)" in late.message
    assert EventType.BAG_FROM_FRIDGE not in allowed_events(ward.prep, after, MONO, POLICY)  # the chair offers it no longer
    ward.record(EventType.DISCARDED, TINA, after, reason="bag cannot warm before the vial expires")


def test_a_refrigerated_dilution_entered_after_its_moved_out_by_is_a_late_entry_in_the_countdowns_words():
    """The limits a step starts are judged as the countdowns show them too: a dilution into the
    refrigerator entered after the out-by a vial's expiry moved has its bag unusable when entered."""
    import dataclasses

    from infusion_app.domain.formatting import format_instant

    ward = Ward()
    expires = R + timedelta(hours=3)
    ward.prep.vials[0] = dataclasses.replace(ward.prep.vials[0], lot="LOTX", expiry=expires.date(), expires_at=expires)
    ward.reconstitute()
    out_by = expires - limit("refrigerated_bag_warm_up")
    ward.clock.set(out_by + timedelta(minutes=10))
    refusal = ward.refused(EventType.DILUTED, TINA, R + timedelta(minutes=30), storage="fridge")
    assert refusal.code == "late_entry" and not refusal.overridable
    assert f"bag out of refrigerator by (vial expiry) {format_instant(out_by)}, which this step starts, passed before it was entered" in refusal.message
    assert f"vial lot LOTX expires at {format_instant(expires)}" in refusal.message


# --- order ----------------------------------------------------------------------------------------


def test_steps_out_of_order_are_refused():
    ward = Ward()
    for kind, user in [
        (EventType.DILUTED, TINA),
        (EventType.VERIFIED, PAUL),
        (EventType.INFUSION_STARTED, NINA),
        (EventType.BAG_TO_FRIDGE, TINA),
        (EventType.RECONSTITUTED_TO_FRIDGE, TINA),
    ]:
        refusal = ward.refused(kind, user, **({"storage": "room"} if kind == EventType.DILUTED else {}))
        assert (refusal.code, refusal.overridable) == ("out_of_order", False), kind
        assert "cannot be recorded now" in refusal.message
    ward.reconstitute()
    assert ward.refused(EventType.RECONSTITUTED, TINA).code == "out_of_order"
    assert ward.refused(EventType.LABELLED, TINA).code == "out_of_order"
    ward.record(EventType.DILUTED, TINA, R + timedelta(minutes=30), storage="room")
    assert ward.refused(EventType.DILUTED, TINA, storage="room").code == "out_of_order"
    assert ward.refused(EventType.BAG_FROM_FRIDGE, TINA).code == "out_of_order"  # not in the refrigerator
    assert ward.refused(EventType.DISPENSED, TINA).code == "out_of_order"
    assert ward.refused(EventType.INFUSION_ENDED, NINA).code == "out_of_order"
    assert ward.refused(EventType.OBSERVATION_ENDED, NINA).code == "out_of_order"
    ward.record(EventType.BAG_TO_FRIDGE, TINA)
    assert ward.refused(EventType.BAG_TO_FRIDGE, TINA).code == "out_of_order"


def test_a_detail_the_step_does_not_take_is_refused_naming_it_never_stored():
    """Reviewer finding: any key a client sent was stored with the step, shown and exported as if checked."""
    ward = Ward()
    stray = ward.invalid(EventType.ORDER_VERIFIED, PETRA, checked_by="the attending")
    assert stray.field == "details" and "'checked_by'" in stray.message and "takes: labs, labs_override" in stray.message
    ward.record(EventType.ORDER_VERIFIED, PETRA, **order_labs(ward.clock.now()))
    wrong_step = ward.invalid(EventType.RECONSTITUTED, TINA, storage="room")
    assert wrong_step.field == "details" and "'storage'" in wrong_step.message
    ward.reconstitute()
    forged = ward.invalid(EventType.DILUTED, TINA, R + timedelta(minutes=30), storage="room", late_entry=True)
    assert forged.field == "details" and "'late_entry'" in forged.message and "storage" in forged.message
    ward.record(EventType.DILUTED, TINA, R + timedelta(minutes=30), storage="room")
    entered = dict(CHECKED["entered"], pharmacist_note="fine")
    assert ward.invalid(EventType.VERIFIED, PETRA, entered=entered).field == "entered"
    assert ward.invalid(EventType.VERIFIED, PETRA, entered="all good").field == "entered"


def test_nothing_in_the_chain_after_the_infusion_starts_but_its_end():
    ward = Ward()
    ward.start()
    # A premedication entered after the start is a fact: a deviation (test_premedication_entries), not out of order.
    late = ward.refused(EventType.PREMEDICATION, NINA, drug_class="corticosteroid", drug="dexamethasone", dose="8 mg")
    assert late.code == "premedication_after_start" and late.deviation_allowed
    for kind, user in [
        (EventType.PATIENT_CONFIRMED, NINA),
        (EventType.DISCARDED, PAUL),
        (EventType.BAG_TO_FRIDGE, NINA),
        (EventType.VERIFIED, PETRA),
        (EventType.INFUSION_STARTED, NINA),
    ]:
        details = {EventType.PATIENT_CONFIRMED: CONFIRMED_DETAILS, EventType.DISCARDED: {"reason": "no longer needed"}, EventType.VERIFIED: CHECKED}.get(
            kind, {}
        )
        assert ward.refused(kind, user, **details).code == "out_of_order", kind


def test_premedication_and_patient_confirmation_may_come_before_preparation():
    ward = Ward()
    ward.premedicate(R - timedelta(minutes=20), confirm=False)
    ward.record(EventType.PATIENT_CONFIRMED, NINA, R - timedelta(minutes=10))
    assert current_step(ward.prep) == "verify order"
    ward.dispense()
    assert current_step(ward.prep) == "start infusion"
    ward.record(EventType.INFUSION_STARTED, NINA, R + timedelta(minutes=60))


def test_all_three_premedication_classes_are_required_and_cannot_be_overridden():
    ward = Ward()
    ward.dispense()
    for drug_class in CLASSES[:-1]:
        ward.record(EventType.PREMEDICATION, NINA, drug_class=drug_class, **PREMED_DETAILS[drug_class])
    assert current_step(ward.prep) == "premedicate"
    refusal = ward.refused(EventType.INFUSION_STARTED, NINA)
    assert (refusal.code, refusal.overridable) == ("premedication_missing", False)
    assert CLASSES[-1] in refusal.message
    override = Override("paul", "given on the ward", "premedication_missing")
    assert ward.refused(EventType.INFUSION_STARTED, NINA, override=override).code == "premedication_missing"
    last = CLASSES[-1]
    ward.record(EventType.PREMEDICATION, NINA, drug_class=last.upper(), **PREMED_DETAILS[last])
    ward.record(EventType.PATIENT_CONFIRMED, NINA)
    ward.record(EventType.INFUSION_STARTED, NINA)


def test_the_infusion_waits_for_two_matching_identifiers_and_cannot_be_overridden():
    ward = Ward()
    ward.dispense()
    ward.premedicate(confirm=False)
    refusal = ward.refused(EventType.INFUSION_STARTED, NINA)
    assert (refusal.code, refusal.overridable) == ("patient_not_confirmed", False)
    override = Override("paul", "patient well known", "patient_not_confirmed")
    assert ward.refused(EventType.INFUSION_STARTED, NINA, override=override).code == "patient_not_confirmed"
    for wrong in (
        {"name": "Anne Example", "date_of_birth": "1970-05-01"},
        {"name": "Ann Example", "date_of_birth": "1970-01-05"},
        {"name": "Ann Example", "mrn": "MRN0002"},
        {"name": "Ann Example"},
        {"mrn": "MRN0001", "date_of_birth": "1970-05-01"},
    ):
        mismatch = ward.refused(EventType.PATIENT_CONFIRMED, NINA, **wrong)
        assert (mismatch.code, mismatch.overridable) == ("patient_mismatch", False), wrong
        assert "MRN0001" not in mismatch.message and "1970-05-01" not in mismatch.message
    ward.record(EventType.PATIENT_CONFIRMED, NINA, name=" ANN   Example ", mrn="mrn0001")
    ward.record(EventType.INFUSION_STARTED, NINA)


@pytest.mark.parametrize(
    "details, field",
    [
        ({"drug_class": "antiemetic", "drug": "ondansetron", "dose": "8 mg"}, "drug_class"),
        ({"drug": "dexamethasone", "dose": "10 mg"}, "drug_class"),
        ({"drug_class": "corticosteroid", "drug": "  ", "dose": "10 mg"}, "drug"),
        ({"drug_class": "corticosteroid", "dose": "10 mg"}, "drug"),
        ({"drug_class": "corticosteroid", "drug": "dexamethasone"}, "dose"),
        ({"drug_class": "corticosteroid", "drug": "dexamethasone", "dose": "ten"}, "dose"),
        ({"drug_class": "corticosteroid", "drug": "dexamethasone", "dose": "10"}, "dose"),
        ({"drug_class": "corticosteroid", "drug": "dexamethasone", "dose": "10 m"}, "dose"),
        ({"drug_class": "corticosteroid", "drug": "dexamethasone", "dose": "-10 mg"}, "dose"),
        ({"drug_class": "corticosteroid", "drug": "dexamethasone", "dose": "0 mg"}, "dose"),
        ({"drug_class": "corticosteroid", "drug": "x" * 300, "dose": "10 mg"}, "drug"),
        (
            {"drug_class": "corticosteroid", "drug": "dexamethasone", "dose": "10 mg", "given_at": "2026-11-27T07:00+00:00"},
            "given_at",
        ),
    ],
)
def test_premedication_details_are_validated(details, field):
    ward = Ward()
    error = ward.invalid(EventType.PREMEDICATION, NINA, R - timedelta(minutes=20), **details)
    assert error.field == field


def test_premedication_given_at_may_repeat_the_event_time_and_doses_are_amounts_of_drug():
    ward = Ward()
    at = R - timedelta(minutes=20)
    ward.record(EventType.PREMEDICATION, NINA, at, drug_class="antipyretic", drug="acetaminophen", dose="650 mg", given_at=at.isoformat())
    # A volume says nothing about the amount given: 20.3 mL of which strength?
    error = ward.invalid(EventType.PREMEDICATION, NINA, at, drug_class="antipyretic", drug="acetaminophen", dose="20.3 mL")
    assert error.field == "dose" and "mg" in error.message


# --- roles ------------------------------------------------------------------------------------------

# The role rules, written out here rather than read from the code under test.
PREPARERS = {Role.TECHNICIAN, Role.PHARMACIST}
EVERYONE = set(Role)
EXPECTED_ROLES = {
    EventType.RECONSTITUTED: PREPARERS,
    EventType.RECONSTITUTED_TO_FRIDGE: PREPARERS,
    EventType.RECONSTITUTED_FROM_FRIDGE: PREPARERS,
    EventType.DILUTED: PREPARERS,
    EventType.BAG_TO_FRIDGE: EVERYONE,
    EventType.BAG_FROM_FRIDGE: EVERYONE,
    EventType.VERIFIED: {Role.PHARMACIST},
    EventType.LABELLED: PREPARERS,
    EventType.DISPENSED: PREPARERS,
    EventType.PREMEDICATION: {Role.NURSE},
    EventType.PREMEDICATION_CORRECTED: {Role.NURSE},
    EventType.PATIENT_CONFIRMED: {Role.NURSE},
    EventType.INFUSION_STARTED: {Role.NURSE},
    EventType.INFUSION_ENDED: {Role.NURSE},
    EventType.OBSERVATION_ENDED: {Role.NURSE},
    EventType.DISCARDED: PREPARERS,
    EventType.OVERRIDE: {Role.PHARMACIST},
    EventType.ALARM_ACKNOWLEDGED: EVERYONE,
    EventType.ORDER_VERIFIED: {Role.PHARMACIST},
    EventType.DEVIATION: EVERYONE,
}


def ward_ready_for(kind: EventType) -> Ward:
    ward = Ward()
    if kind in (EventType.ORDER_VERIFIED, EventType.PREMEDICATION, EventType.PATIENT_CONFIRMED, EventType.OVERRIDE, EventType.DEVIATION):
        return ward
    if kind == EventType.RECONSTITUTED:
        ward.verify_order()
        return ward
    if kind == EventType.PREMEDICATION_CORRECTED:
        # Event 1, recorded by the nurse test_every_role_rule signs in as: only its recorder corrects it.
        ward.record(EventType.PREMEDICATION, User(9, "new-nurse", Role.NURSE), drug_class="corticosteroid", drug="dexamethasone", dose="12 mg")
        return ward
    if kind in (EventType.RECONSTITUTED_TO_FRIDGE, EventType.DILUTED, EventType.DISCARDED, EventType.ALARM_ACKNOWLEDGED):
        ward.reconstitute()
    elif kind == EventType.RECONSTITUTED_FROM_FRIDGE:
        ward.reconstitute()
        ward.record(EventType.RECONSTITUTED_TO_FRIDGE, TINA, R + timedelta(minutes=5))
    elif kind in (EventType.BAG_TO_FRIDGE, EventType.VERIFIED):
        ward.dilute()
    elif kind == EventType.BAG_FROM_FRIDGE:
        ward.dilute(storage="fridge")
    elif kind == EventType.LABELLED:
        ward.dilute()
        ward.record(EventType.VERIFIED, PAUL, R + timedelta(minutes=40))
    elif kind == EventType.DISPENSED:
        ward.dilute()
        ward.record(EventType.VERIFIED, PAUL, R + timedelta(minutes=40))
        ward.record(EventType.LABELLED, TINA, R + timedelta(minutes=45))
    elif kind == EventType.INFUSION_STARTED:
        ward.dispense()
        ward.premedicate()
    elif kind == EventType.INFUSION_ENDED:
        ward.start()
    elif kind == EventType.OBSERVATION_ENDED:
        ward.end()
        ward.clock.advance(limit("observation_after_infusion"))
    return ward


@pytest.mark.parametrize("kind", list(EventType), ids=lambda k: k.value)
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_every_role_rule(kind, role):
    ward = ward_ready_for(kind)
    someone = User(9, f"new-{role.value}", role)  # never the preparer
    premedication = {"drug_class": "corticosteroid", "drug": "dexamethasone", "dose": "10 mg"}
    details = {
        EventType.DILUTED: {"storage": "room"},
        EventType.DISCARDED: {"reason": "bag dropped on the floor"},
        EventType.OVERRIDE: {"hard_stop": "dilute_by_passed", "reason": "bag dropped on the floor"},
        EventType.DEVIATION: {"reason": "bag dropped on the floor"},
        EventType.PREMEDICATION: premedication,
        EventType.PREMEDICATION_CORRECTED: {"dose": "8 mg", "reason": "typed 10, gave 8", "corrects": 1},
        EventType.PATIENT_CONFIRMED: CONFIRMED_DETAILS,
        EventType.VERIFIED: CHECKED,
        EventType.ORDER_VERIFIED: order_labs(R - timedelta(hours=1)),
    }.get(kind, {})
    if kind == EventType.INFUSION_ENDED:
        ward.clock.advance(timedelta(hours=1))
    if role in EXPECTED_ROLES[kind]:
        ward.check(kind, someone, **details)
    else:
        refusal = ward.refused(kind, someone, **details)
        assert (refusal.code, refusal.overridable) == ("role", False)
        assert role.value in refusal.message


def test_the_role_table_covers_every_event_type():
    assert set(EXPECTED_ROLES) == set(EventType)


def test_an_inactive_user_may_record_nothing():
    ward = Ward()
    inactive_tech = User(8, "former", Role.TECHNICIAN, active=False)
    assert ward.refused(EventType.RECONSTITUTED, inactive_tech).code == "user_inactive"
    with pytest.raises(StepRefused):
        make_override(GONE, "a reason", "dilute_by_passed")


def test_the_event_is_signed_by_who_records_it():
    ward = Ward()
    event = Event(EventType.RECONSTITUTED, R, R, "paul", {})
    with pytest.raises(ValidationError) as excinfo:
        check_event(ward.prep, event, TINA, R, MONO, POLICY)
    assert excinfo.value.field == "user"


@pytest.mark.parametrize("preparer_step", ["reconstituted", "diluted"])
def test_the_preparer_may_not_verify(preparer_step):
    ward = Ward()
    reconstituter = PAUL if preparer_step == "reconstituted" else TINA
    diluter = PAUL if preparer_step == "diluted" else TINA
    ward.verify_order()
    ward.record(EventType.RECONSTITUTED, reconstituter, R)
    ward.record(EventType.DILUTED, diluter, R + timedelta(minutes=30), storage="room")
    refusal = ward.refused(EventType.VERIFIED, PAUL)
    assert (refusal.code, refusal.overridable) == ("self_verification", False)
    shouting = User(2, "PAUL ", Role.PHARMACIST)
    assert ward.refused(EventType.VERIFIED, shouting).code == "self_verification"
    override = Override("petra", "no second pharmacist on nights", "self_verification")
    assert ward.refused(EventType.VERIFIED, PAUL, override=override).code == "self_verification"
    ward.record(EventType.VERIFIED, PETRA)


# --- time limits and overrides ---------------------------------------------------------------------


def test_the_four_hour_dilution_limit_is_a_label_limit_no_override_releases():
    ward = Ward()
    ward.reconstitute()
    dilute_by = R + limit("reconstitution_to_dilution")
    ward.check(EventType.DILUTED, TINA, dilute_by, storage="room")  # the limit itself is in time
    late = dilute_by + timedelta(seconds=1)
    refusal = ward.refused(EventType.DILUTED, TINA, late, storage="room")
    assert (refusal.code, refusal.overridable) == ("dilute_by_passed", False)
    assert "discard and prepare again" in refusal.message and "dilute by" in refusal.message
    assert EventType.DILUTED not in allowed_events(ward.prep, late, MONO, POLICY)
    assert EventType.DISCARDED in allowed_events(ward.prep, late, MONO, POLICY)
    with pytest.raises(StepRefused) as not_pharmacist:
        make_override(TINA, "needed", "dilute_by_passed")
    assert not_pharmacist.value.code == "override_not_pharmacist"
    override = make_override(PETRA, "prescriber accepted the risk", refusal.code)
    assert ward.refused(EventType.DILUTED, TINA, late, override=override, storage="room").code == "dilute_by_passed"
    ward.record(EventType.DISCARDED, TINA, late, reason="dilute-by passed")
    assert current_step(ward.prep) == "discarded"


def _site_policy_monograph(*overridable: str):
    """The shipped monograph with some limits marked overridable, as a site-policy limit would be."""
    import copy

    from infusion_app.domain.monograph import parse_monograph

    raw = copy.deepcopy(MONO.raw)
    for name in overridable:
        raw["time_limits"][name]["overridable"] = True
    return parse_monograph(raw)


def test_the_monograph_says_per_limit_whether_it_is_overridable_and_label_limits_never_are():
    assert all(not f.overridable for path, f in MONO.facts.items() if path.startswith("time_limits."))
    deadlines = compute_deadlines(Ward().prep.events + [Event(EventType.RECONSTITUTED, R, R, "tina", {})], MONO, R, POLICY.warning_lead_time)
    assert deadlines and not any(d.overridable for d in deadlines)


def test_an_overridable_site_limit_needs_an_independent_pharmacist_and_a_real_reason():
    ward = Ward(mono=_site_policy_monograph("reconstitution_to_dilution"))
    ward.reconstitute()  # order verified by petra, reconstituted by tina; entered by paul
    late = R + limit("reconstitution_to_dilution") + timedelta(minutes=1)
    refusal = ward.refused(EventType.DILUTED, TINA, late, storage="room")
    assert (refusal.code, refusal.overridable) == ("dilute_by_passed", True)
    for who in (PAUL, PETRA):  # the one who entered the order, the one who verified it
        refused = ward.refused(EventType.DILUTED, TINA, late, override=make_override(who, "prescriber accepted the risk", refusal.code), storage="room")
        assert refused.code == "override_not_independent"
    with pytest.raises(ValidationError) as short:
        ward.check(EventType.DILUTED, TINA, late, override=make_override(User(7, "olga", Role.PHARMACIST), "ok fine", refusal.code), storage="room")
    assert short.value.field == "override reason"
    olga = User(7, "olga", Role.PHARMACIST)
    wrong_code = make_override(olga, "prescriber accepted the risk", "start_infusion_by_passed")
    assert ward.refused(EventType.DILUTED, TINA, late, override=wrong_code, storage="room").code == "dilute_by_passed"
    ward.record(EventType.DILUTED, TINA, late, override=make_override(olga, "prescriber accepted the risk", refusal.code), storage="room")
    assert [e.type for e in ward.prep.events[-2:]] == [EventType.OVERRIDE, EventType.DILUTED]


def test_start_by_passed_blocks_every_step_to_the_start_but_not_the_patient_records():
    ward = Ward()
    ward.dilute()
    start_by = ward.deadline("start_infusion_by")
    late = start_by + timedelta(minutes=1)
    refusal = ward.refused(EventType.VERIFIED, PAUL, late)
    assert refusal.code == "start_infusion_by_passed" and not refusal.overridable
    assert ward.refused(EventType.BAG_TO_FRIDGE, NINA, late).code == "start_infusion_by_passed"
    ward.premedicate(late)  # what the patient was given is never lost
    ward.record(EventType.PATIENT_CONFIRMED, NINA, late)
    assert ward.refused(EventType.VERIFIED, PAUL, late, override=make_override(PETRA, "stability data on file", refusal.code)).code == refusal.code


def test_starting_after_start_by_is_refused_and_names_the_limit():
    ward = Ward()
    ward.dispense()
    start_by = ward.deadline("start_infusion_by")
    ward.premedicate(start_by - timedelta(minutes=30))
    ward.check(EventType.INFUSION_STARTED, NINA, start_by)
    late = start_by + timedelta(hours=3)
    refusal = ward.refused(EventType.INFUSION_STARTED, NINA, late)
    assert refusal.code.startswith("start_infusion_by_passed") or refusal.code == "premedication_window"
    ward.premedicate(late - timedelta(minutes=10))
    refusal = ward.refused(EventType.INFUSION_STARTED, NINA, late)
    assert "start_infusion_by_passed" in refusal.codes and not refusal.overridable
    assert "start infusion by" in refusal.message and "discard and prepare again" in refusal.message
    override = make_override(User(7, "olga", Role.PHARMACIST), "physician order to give it", refusal.code)
    assert ward.refused(EventType.INFUSION_STARTED, NINA, late, override=override).code == refusal.code


def test_several_time_limits_at_once_are_named_together():
    ward = Ward()
    ward.reconstitute()
    very_late = R + limit("reconstitution_to_end_of_infusion") + timedelta(minutes=1)
    refusal = ward.refused(EventType.DILUTED, TINA, very_late, storage="room")
    assert set(refusal.codes) == {"dilute_by_passed", "start_infusion_by_passed", "end_infusion_by_passed"}
    assert not refusal.overridable


def test_a_refrigerated_bag_taken_out_too_late():
    ward = Ward()
    ward.dilute(storage="fridge")
    out_by = ward.deadline("bag_from_fridge_by")
    late = out_by + timedelta(minutes=1)
    refusal = ward.refused(EventType.BAG_FROM_FRIDGE, NINA, late)
    assert refusal.code == "bag_from_fridge_by_passed" and not refusal.overridable
    # A bag left in the refrigerator too long blocks the steps towards the start too.
    assert ward.refused(EventType.VERIFIED, PAUL, late).code == "bag_from_fridge_by_passed"


def test_an_infusion_ended_after_end_by_is_a_fact_recorded_as_a_deviation():
    ward = Ward()
    ward.start()
    end_by = ward.deadline("end_infusion_by")
    refusal = ward.refused(EventType.INFUSION_ENDED, NINA, end_by + timedelta(minutes=2))
    assert refusal.code == "end_infusion_by_passed" and refusal.deviation_allowed and not refusal.overridable
    with pytest.raises(ValidationError):
        ward.check(EventType.INFUSION_ENDED, NINA, end_by + timedelta(minutes=2), override=make_override(PETRA, "pump paused for a reaction", refusal.code))
    ward.deviation_reason = "ok"
    assert ward.invalid(EventType.INFUSION_ENDED, NINA, end_by + timedelta(minutes=2)).field == "deviation reason"
    ward.deviation_reason = "pump paused 40 min for a grade 2 reaction"
    ward.record(EventType.INFUSION_ENDED, NINA, end_by + timedelta(minutes=2))
    deviation = ward.prep.events[-1]
    assert deviation.type == EventType.DEVIATION and deviation.user == "nina"
    assert deviation.details["rules"] == ["end_infusion_by_passed"] and deviation.details["reason"].startswith("pump paused")
    shown = {d.key: d for d in compute_deadlines(ward.prep.events, MONO, ward.clock.now(), POLICY.warning_lead_time)}
    assert shown["end_infusion_by"].deviation == "nina: pump paused 40 min for a grade 2 reaction"


def test_an_infusion_shorter_than_the_monograph_minimum_is_refused_as_an_end():
    ward = Ward()
    started = ward.start()
    tolerance = POLICY.infusion_minimum_tolerance
    shortest = started.at + MONO.duration("infusion.minimum_duration") - tolerance
    five_minutes = ward.refused(EventType.INFUSION_ENDED, NINA, started.at + timedelta(minutes=5))
    assert five_minutes.code == "infusion_too_fast" and five_minutes.deviation_allowed
    assert "1 h" in five_minutes.message
    assert ward.refused(EventType.INFUSION_ENDED, NINA, shortest - timedelta(seconds=1)).code == "infusion_too_fast"
    ward.check(EventType.INFUSION_ENDED, NINA, shortest)
    ward.deviation_reason = "pump programmed at 100 mL/h in error"
    ward.record(EventType.INFUSION_ENDED, NINA, started.at + timedelta(minutes=30))
    assert ward.prep.events[-1].details["rules"] == ["infusion_too_fast"]


def test_observation_ended_early_is_a_deviation_with_its_reason():
    ward = Ward()
    ended = ward.end()
    observe_until = ended.at + limit("observation_after_infusion")
    early = observe_until - timedelta(minutes=1)
    ward.clock.set(observe_until + timedelta(minutes=5))
    refusal = ward.refused(EventType.OBSERVATION_ENDED, NINA, early)
    assert (refusal.code, refusal.overridable, refusal.deviation_allowed) == ("observe_until_not_reached", False, True)
    ward.check(EventType.OBSERVATION_ENDED, NINA, observe_until)
    ward.deviation_reason = "transferred to ICU for monitoring"
    ward.record(EventType.OBSERVATION_ENDED, NINA, early)
    assert not is_active(ward.prep)


def test_a_step_dated_in_time_but_entered_after_its_limit_is_judged_at_its_entry():
    ward = Ward()
    ward.reconstitute()
    dilute_by = R + limit("reconstitution_to_dilution")
    ward.clock.set(dilute_by + timedelta(hours=1))
    refusal = ward.refused(EventType.DILUTED, TINA, dilute_by - timedelta(minutes=2), storage="room")
    assert refusal.code == "late_entry" and not refusal.overridable
    assert "entered late" in refusal.message and "tina" in refusal.message and "discard and prepare again" in refusal.message
    # A fact entered late: recorded, as a deviation that says it was entered late, by whom and when.
    ward = Ward()
    ward.start()
    end_by = ward.deadline("end_infusion_by")
    ward.clock.set(end_by + timedelta(minutes=30))
    late = ward.refused(EventType.INFUSION_ENDED, NINA, end_by - timedelta(minutes=30))
    assert late.code == "late_entry" and late.deviation_allowed
    ward.deviation_reason = "charted on paper during a downtime"
    ward.record(EventType.INFUSION_ENDED, NINA, end_by - timedelta(minutes=30))
    assert ward.prep.events[-1].details["late_entry"] is True
    shown = {d.key: d for d in compute_deadlines(ward.prep.events, MONO, ward.clock.now(), POLICY.warning_lead_time)}
    assert shown["end_infusion_by"].entered_late and "nina" in shown["end_infusion_by"].entered_late
    assert shown["end_infusion_by"].state.value == "expired"


def test_a_reconstitution_entered_after_its_own_dilute_by_passed_is_refused_as_expired():
    """Reviewer finding: a reconstitution dated 5 h back was accepted, a product already past the
    dilute-by limit it starts; the limits a step starts are judged at its entry too."""
    ward = Ward()
    ward.record(EventType.ORDER_VERIFIED, PETRA, R - timedelta(hours=6), **order_labs(R - timedelta(hours=6)))
    ward.clock.set(R)
    dated = R - timedelta(hours=5)
    refusal = ward.refused(EventType.RECONSTITUTED, TINA, dated)
    assert refusal.code == "late_entry" and not refusal.overridable
    assert "dilute by" in refusal.message and "which this step starts" in refusal.message
    assert "discard and prepare again" in refusal.message
    # Dated within its limit, entered late: still recordable, its limit still ahead.
    ward.record(EventType.RECONSTITUTED, TINA, R - timedelta(hours=3))
    assert ward.deadline("dilute_by") == R + timedelta(hours=1)


def test_no_step_using_the_product_before_the_vials_recorded_cover_the_calculation():
    """Hostile tester: a preparation was reconstituted with no vial recorded (no lot, no product or
    expiry check). The domain refuses it for every client, a late entry too (the kept cartons give
    the lots), and every later step using the product on a record reconstituted without vials."""
    needed = ORDER.calculation.vials
    assert needed >= 2
    ward = Ward()
    ward.prep.vials.clear()
    ward.verify_order()
    refusal = ward.refused(EventType.RECONSTITUTED, TINA, R)
    assert refusal.code == "vials_not_recorded" and not refusal.overridable and not refusal.deviation_allowed
    assert f"vials needed: 0 recorded of {needed}" in refusal.message
    ward.prep.vials.extend(vials_for(ORDER)[1:])
    late = ward.refused(EventType.RECONSTITUTED, TINA, R - timedelta(minutes=5))
    assert f"vials needed: {needed - 1} recorded of {needed}" in late.message
    assert is_near_miss(late.code)
    ward.prep.vials.extend(vials_for(ORDER)[:1])
    ward.record(EventType.RECONSTITUTED, TINA, R)
    # A record from before the rule, reconstituted without vials: the next step waits for them.
    ward.prep.vials.clear()
    later = ward.refused(EventType.DILUTED, TINA, R + timedelta(minutes=30), storage="room")
    assert later.code == "vials_not_recorded" and "dilution" in later.message.lower()
    assert EventType.DILUTED not in allowed_events(ward.prep, ward.clock.now(), MONO, POLICY)


# --- discarding ---------------------------------------------------------------------------------------


def test_discarding():
    ward = Ward()
    ward.dilute()
    assert ward.invalid(EventType.DISCARDED, TINA, reason=" ").field == "reason"
    assert ward.invalid(EventType.DISCARDED, TINA).field == "reason"
    assert ward.refused(EventType.DISCARDED, NINA, reason="leaking bag").code == "role"
    ward.record(EventType.DISCARDED, PAUL, reason="leaking bag")
    assert current_step(ward.prep) == "discarded" and not is_active(ward.prep)
    assert allowed_events(ward.prep, ward.clock.now(), MONO, POLICY) == []
    assert ward.refused(EventType.VERIFIED, PETRA).code == "preparation_discarded"
    assert ward.refused(EventType.DISCARDED, PAUL, reason="again").code == "preparation_discarded"


def test_a_preparation_may_be_discarded_before_anything_was_made():
    ward = Ward()
    ward.record(EventType.DISCARDED, TINA, reason="order cancelled")
    assert not is_active(ward.prep)


# --- instants ----------------------------------------------------------------------------------------


def test_instants_in_the_future_are_refused_beyond_the_tolerance():
    ward = Ward()
    ward.verify_order()
    now = ward.clock.now()
    event = Event(EventType.RECONSTITUTED, now + FUTURE_TOLERANCE, now, "tina", {})
    check_event(ward.prep, event, TINA, now, MONO, POLICY)
    event = Event(EventType.RECONSTITUTED, now + FUTURE_TOLERANCE + timedelta(seconds=1), now, "tina", {})
    with pytest.raises(ValidationError) as excinfo:
        check_event(ward.prep, event, TINA, now, MONO, POLICY)
    assert excinfo.value.field == "at" and "future" in excinfo.value.message
    premed = Event(EventType.PREMEDICATION, now + timedelta(hours=1), now, "nina", {"drug_class": "antipyretic", "drug": "acetaminophen", "dose": "650 mg"})
    with pytest.raises(ValidationError) as excinfo:
        check_event(ward.prep, premed, NINA, now, MONO, POLICY)
    assert excinfo.value.field == "given_at"


def test_a_step_may_not_be_dated_before_the_previous_one():
    ward = Ward()
    ward.dilute(minutes=30)
    error = ward.invalid(EventType.VERIFIED, PAUL, R + timedelta(minutes=29))
    assert error.field == "at" and "before the previous step" in error.message
    ward.record(EventType.VERIFIED, PAUL, R + timedelta(minutes=30))  # the same instant is fine
    ward.record(EventType.LABELLED, TINA, R + timedelta(minutes=31))
    ward.record(EventType.DISPENSED, TINA, R + timedelta(minutes=32))
    ward.premedicate(R + timedelta(minutes=50))
    error = ward.invalid(EventType.INFUSION_STARTED, NINA, R + timedelta(minutes=40))
    assert error.field == "at" and "premedication" in error.message


def test_instants_need_an_offset():
    ward = Ward()
    naive = datetime(2026, 11, 27, 8, 0)
    with pytest.raises(ValidationError) as excinfo:
        check_event(ward.prep, Event(EventType.RECONSTITUTED, naive, naive, "tina", {}), TINA, R, MONO, POLICY)
    assert excinfo.value.field == "at"
    with pytest.raises(ValidationError):
        check_event(ward.prep, Event(EventType.RECONSTITUTED, R, R, "tina", {}), TINA, naive, MONO, POLICY)


def test_diluted_needs_its_storage():
    ward = Ward()
    ward.reconstitute()
    assert ward.invalid(EventType.DILUTED, TINA).field == "storage"
    assert ward.invalid(EventType.DILUTED, TINA, storage="freezer").field == "storage"


def test_a_clock_set_back_cannot_reopen_the_dilution_window():
    """With the MonotonicClock the application service uses, 'now' stays past the limit after a jump back."""
    ward = Ward()
    ward.reconstitute()
    wall = FakeClock(R)
    clock = MonotonicClock(wall, floor=R)
    wall.set(R + limit("reconstitution_to_dilution") + timedelta(minutes=10))
    clock.now()
    wall.set(R + timedelta(hours=1))  # someone sets the computer's clock back
    now = clock.now()
    event = Event(EventType.DILUTED, now, now, "tina", {"storage": "room"})
    with pytest.raises(StepRefused) as excinfo:
        check_event(ward.prep, event, TINA, now, MONO, POLICY)
    assert excinfo.value.code == "dilute_by_passed"


# --- what may happen next -----------------------------------------------------------------------------


def test_allowed_events_follow_the_state():
    ward = Ward()
    allowed = allowed_events(ward.prep, R, MONO, POLICY)
    assert set(allowed) == {EventType.ORDER_VERIFIED, EventType.PREMEDICATION, EventType.PATIENT_CONFIRMED, EventType.DISCARDED}
    ward.verify_order()
    assert set(allowed_events(ward.prep, R, MONO, POLICY)) == {
        EventType.RECONSTITUTED,
        EventType.PREMEDICATION,
        EventType.PATIENT_CONFIRMED,
        EventType.DISCARDED,
    }
    ward.reconstitute()
    assert set(allowed_events(ward.prep, R + timedelta(minutes=1), MONO, POLICY)) == {
        EventType.RECONSTITUTED_TO_FRIDGE,
        EventType.DILUTED,
        EventType.PREMEDICATION,
        EventType.PATIENT_CONFIRMED,
        EventType.DISCARDED,
    }
    ward = Ward()
    ward.end()
    assert allowed_events(ward.prep, ward.clock.now(), MONO, POLICY) == []  # observing: too early to end
    later = ward.clock.now() + limit("observation_after_infusion")
    assert allowed_events(ward.prep, later, MONO, POLICY) == [EventType.OBSERVATION_ENDED]


# --- any sequence at all --------------------------------------------------------------------------
#
# Random attempts by random staff at random times, some with a pharmacist's override; whatever
# check_event accepts is appended. Afterwards the record must satisfy every safety rule.

import random  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

STAFF = [TINA, PAUL, PETRA, NINA]
STEP_KINDS = [k for k in EventType if k not in (EventType.OVERRIDE, EventType.DEVIATION)]
NEXT_ON_PATH = {
    "verify order": EventType.ORDER_VERIFIED,
    "reconstitute": EventType.RECONSTITUTED,
    "dilute": EventType.DILUTED,
    "verify": EventType.VERIFIED,
    "label": EventType.LABELLED,
    "dispense": EventType.DISPENSED,
    "premedicate": EventType.PREMEDICATION,
    "start infusion": EventType.INFUSION_STARTED,
    "infusing": EventType.INFUSION_ENDED,
    "observing": EventType.OBSERVATION_ENDED,
}


def _details_for(kind: EventType, pick: int) -> dict:
    if kind == EventType.DILUTED:
        return {"storage": ("room", "fridge")[pick % 2]}
    if kind == EventType.PREMEDICATION:
        drug_class = CLASSES[pick % len(CLASSES)]
        return {"drug_class": drug_class, **PREMED_DETAILS[drug_class]}
    if kind == EventType.DISCARDED:
        return {"reason": "fuzzed discard"}
    if kind == EventType.PATIENT_CONFIRMED:
        return dict(CONFIRMED_DETAILS)
    if kind == EventType.VERIFIED:
        return dict(CHECKED)
    if kind == EventType.ORDER_VERIFIED:
        return order_labs(R - timedelta(hours=30))  # before any backdated verification, inside the 72 h
    return {}


def run_attempts(attempts) -> tuple[Ward, set[str]]:
    """Apply (kind or None, who, advance min, backdate min, pick, want_override) attempts.

    kind None means 'the next step on the usual path, by someone allowed to do it'.
    Returns the ward and the steps the preparation went through.
    """
    ward = Ward()
    reached = set()
    for kind, who, advance, backdate, pick, want_override in attempts:
        reached.add(current_step(ward.prep, MONO))
        if kind is None:
            step = current_step(ward.prep, MONO)
            kind = NEXT_ON_PATH.get(step, EventType.ALARM_ACKNOWLEDGED)
            if kind == EventType.INFUSION_STARTED:
                # Premedication counts only within the site's window before the start: give it again.
                soon = ward.clock.now() + timedelta(minutes=advance)
                stale = [
                    i
                    for i, c in enumerate(CLASSES)
                    if not any(
                        e.details.get("drug_class") == c and soon - e.at < POLICY.premedication_window - timedelta(minutes=30)
                        for e in ward.prep.events_of(EventType.PREMEDICATION)
                    )
                ]
                if stale:
                    kind, pick, backdate = EventType.PREMEDICATION, stale[0], 0
                elif ward.prep.last(EventType.PATIENT_CONFIRMED) is None:
                    kind = EventType.PATIENT_CONFIRMED
            elif kind == EventType.PREMEDICATION:
                given_classes = Timeline.of(ward.prep.events).premedicated_classes
                pick = next(i for i, c in enumerate(CLASSES) if c not in given_classes)
            if kind == EventType.INFUSION_STARTED and Timeline.of(ward.prep.events).bag_in_fridge:
                kind = EventType.BAG_FROM_FRIDGE
            preparers = {e.user for e in ward.prep.events if e.type in (EventType.RECONSTITUTED, EventType.DILUTED)}
            order_verifier = ward.prep.last(EventType.ORDER_VERIFIED)
            eligible = [
                u
                for u in STAFF
                if u.role in EXPECTED_ROLES[kind]
                and not (kind == EventType.VERIFIED and u.name in preparers)
                and not (kind == EventType.ORDER_VERIFIED and u.name == ward.prep.created_by)
                and not (kind in (EventType.RECONSTITUTED, EventType.DILUTED) and order_verifier and u.name == order_verifier.user)
            ]
            user = eligible[who % len(eligible)] if eligible else STAFF[who]
        else:
            user = STAFF[who]
        ward.clock.advance(minutes=advance)
        now = ward.clock.now()
        event = Event(kind, now - timedelta(minutes=backdate), now, user.name, _details_for(kind, pick))
        try:
            check_event(ward.prep, event, user, now, MONO, POLICY)
        except ValidationError:
            continue
        except StepRefused as refusal:
            if refusal.deviation_allowed and want_override:
                reason = "fuzzed deviation reason"
                breaches = check_event(ward.prep, event, user, now, MONO, POLICY, deviation_reason=reason)
                ward.prep.events += [event, deviation_event(breaches, reason, event)]
                continue
            if not (refusal.overridable and want_override):
                continue
            override = make_override(PETRA, "fuzzed override", refusal.code)
            check_event(ward.prep, event, user, now, MONO, POLICY, override)
            ward.prep.events.append(override_event(override, event, now))
        ward.prep.events.append(event)
    reached.add(current_step(ward.prep, MONO))
    return ward, reached


def assert_safe(events: list[Event]) -> None:
    role_of = {u.name: u.role for u in STAFF}
    preparers = {e.user for e in events if e.type in (EventType.RECONSTITUTED, EventType.DILUTED)}
    chain_times = []
    off_chain = (
        EventType.PREMEDICATION,
        EventType.PATIENT_CONFIRMED,
        EventType.OVERRIDE,
        EventType.ALARM_ACKNOWLEDGED,
        EventType.DEVIATION,
        EventType.ORDER_VERIFIED,
    )
    for index, event in enumerate(events):
        before = events[:index]
        overridden = set()
        if before and before[-1].type == EventType.OVERRIDE:
            overridden = set(before[-1].details["hard_stop"].split("+"))
        assert role_of[event.user] in EXPECTED_ROLES[event.type], event
        # Label limits are never overridden; a fact breaking one is followed by its deviation.
        assert event.type != EventType.OVERRIDE
        deviated = set()
        if index + 1 < len(events) and events[index + 1].type == EventType.DEVIATION:
            deviated = set(events[index + 1].details["rules"])
            assert event.type in (EventType.INFUSION_ENDED, EventType.OBSERVATION_ENDED)
        if event.type == EventType.RECONSTITUTED:
            verifiers = [e.user for e in before if e.type == EventType.ORDER_VERIFIED]
            assert verifiers and event.user not in verifiers
        if event.type != EventType.DEVIATION:  # recorded with its fact, right after it
            assert not any(e.type in (EventType.DISCARDED, EventType.OBSERVATION_ENDED) for e in before), event
        if event.type == EventType.VERIFIED:
            assert event.user not in preparers
        if event.type not in off_chain:
            assert not chain_times or event.at >= chain_times[-1]
            chain_times.append(event.at)
        deadlines = {d.key: d for d in compute_deadlines(before, MONO, event.at, POLICY.warning_lead_time)}
        if event.type == EventType.DILUTED:
            assert any(e.type == EventType.RECONSTITUTED for e in before)
            assert event.at <= deadlines["dilute_by"].at or "dilute_by_passed" in overridden
        if event.type == EventType.INFUSION_STARTED:
            given_classes = {e.details["drug_class"] for e in before if e.type == EventType.PREMEDICATION}
            assert given_classes == set(CLASSES)
            assert [e.type for e in before].count(EventType.DISPENSED) == 1
            assert not Timeline.of(before).bag_in_fridge
            assert event.at <= deadlines["start_infusion_by"].at or "start_infusion_by_passed" in overridden
            if "warm_until" in deadlines:
                assert event.at >= deadlines["warm_until"].at or "warm_until_not_reached" in overridden
        if event.type == EventType.INFUSION_ENDED:
            assert event.at <= deadlines["end_infusion_by"].at or "end_infusion_by_passed" in deviated
            started = Timeline.of(before).infusion_started
            assert event.at - started >= timedelta(minutes=55) or "infusion_too_fast" in deviated
        if event.type == EventType.OBSERVATION_ENDED:
            assert event.at >= deadlines["observe_until"].at or "observe_until_not_reached" in deviated
        if event.type == EventType.OVERRIDE:
            assert index + 1 < len(events) and role_of[event.user] == Role.PHARMACIST


ATTEMPT = st.tuples(
    st.one_of(st.none(), st.sampled_from(STEP_KINDS)),
    st.integers(min_value=0, max_value=len(STAFF) - 1),
    st.one_of(st.integers(min_value=0, max_value=15), st.integers(min_value=0, max_value=150)),
    st.integers(min_value=0, max_value=20),
    st.integers(min_value=0, max_value=5),
    st.booleans(),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(attempts=st.lists(ATTEMPT, min_size=1, max_size=50))
def test_no_sequence_of_attempts_breaks_a_safety_rule(attempts):
    ward, _ = run_attempts(attempts)
    assert_safe(ward.prep.events)


@pytest.mark.slow
def test_seeded_random_walks_reach_every_step_and_stay_safe():
    """Deterministic walks that mostly follow the path (so they get deep), with stray attempts."""
    rng = random.Random(20261127)
    reached: set[str] = set()
    overridden_steps = 0
    for _walk in range(150):
        attempts = []
        for _ in range(rng.randint(5, 45)):
            kind = None if rng.random() < 0.75 else rng.choice(STEP_KINDS)
            advance = rng.choice([0, 1, 5, 10, 20, 45, 70, 130])
            attempts.append((kind, rng.randrange(len(STAFF)), advance, rng.choice([0, 0, 0, 5, 30]), rng.randrange(6), rng.random() < 0.5))
        ward, steps = run_attempts(attempts)
        reached |= steps
        overridden_steps += len(ward.prep.events_of(EventType.DEVIATION))
        assert_safe(ward.prep.events)
    assert set(NEXT_ON_PATH) | {"done", "discarded"} <= reached
    assert overridden_steps > 0  # facts breaking a limit were recorded as deviations


# --- the independent double check and identity helpers ----------------------------------------


def test_re_entered_values_must_match_for_verification_and_cannot_be_overridden():
    from infusion_app.domain.dosing import DoseOrder, PreparationOrder, calculate_dose

    typed = calculate_dose(DoseOrder("170 cm", "70 kg", 1, 1), load_monograph("inotuzumab-ozogamicin"))  # 1.46 mg calculated, drawn 5.8 mL = 1.45 mg
    calc = typed.to_dict()
    ward = Ward(order=PreparationOrder(DoseOrder("170 cm", "70 kg", 1, 1), typed))
    ward.dilute()
    right = {
        "mrn": ward.prep.patient.mrn.lower(),
        "height": "170",
        "weight": "154.32 lb",
        "dose_mg": f"{calc['dose_mg']}0 mg",
        "volume_ml": str(calc["withdraw_ml"]),
    }
    for field, wrong_value in (("mrn", "MRN9999"), ("dose_mg", "9.99"), ("volume_ml", "1 mL"), ("height", "160 cm"), ("weight", "80 kg")):
        refusal = ward.refused(EventType.VERIFIED, PAUL, entered={**right, field: wrong_value})
        assert (refusal.code, refusal.overridable) == ("verification_mismatch", False)
        assert str(calc["dose_mg"]) not in refusal.message and ward.prep.patient.mrn not in refusal.message
    for field in right:
        missing = ward.refused(EventType.VERIFIED, PAUL, entered={**right, field: " "})
        assert missing.code == "double_check_incomplete" and not missing.overridable
    # Without any re-entered value, from any client: refused.
    event = Event(EventType.VERIFIED, ward.clock.now(), ward.clock.now(), "paul", {})
    with pytest.raises(StepRefused) as bare:
        check_event(ward.prep, event, PAUL, ward.clock.now(), MONO, POLICY)
    assert bare.value.code == "double_check_incomplete" and "height" in bare.value.message and "--" not in bare.value.message
    ward.record(EventType.VERIFIED, PAUL, entered=right)


def test_age_in_completed_years_turns_on_the_birthday():
    from infusion_app.domain.identity import completed_years

    assert completed_years(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert completed_years(date(2008, 2, 29), date(2026, 3, 1)) == 18
    assert completed_years(date(1970, 5, 1), date(2026, 5, 1)) == 56


def test_an_event_dated_long_before_the_preparation_was_entered_is_refused():
    from infusion_app.domain.preparation import BACKDATE_LIMIT

    ward = Ward()
    created = ward.prep.created_at
    error = ward.invalid(EventType.RECONSTITUTED, TINA, created - BACKDATE_LIMIT - timedelta(minutes=1))
    assert error.field == "at" and "before this preparation was entered" in error.message
    premed = ward.invalid(
        EventType.PREMEDICATION,
        NINA,
        datetime(1900, 1, 1, tzinfo=timezone.utc),
        drug_class="antipyretic",
        drug="acetaminophen",
        dose="650 mg",
    )
    assert premed.field == "given_at"


RAW_ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"


def test_a_deadline_refusal_gives_every_time_in_local_time_with_the_date():
    """Reviewer: 'dilute by 2026-... has passed (reconstitution 2026-11-27T09:00:00+00:00 + 4 h ...)': the
    deadline's basis gave the instants it rests on as raw UTC ISO, in the refusal, prep show and the board."""
    import re

    from infusion_app.domain.formatting import format_instant

    ward = Ward()
    ward.reconstitute()
    late = R + limit("reconstitution_to_dilution") + timedelta(seconds=1)
    refusal = ward.refused(EventType.DILUTED, TINA, late, storage="room")
    assert not re.search(RAW_ISO, refusal.message), refusal.message
    assert f"reconstitution {format_instant(R)} + 4 h" in refusal.message, refusal.message


# --- a step whose own limit would already be behind it ------------------------------------------


def test_a_bag_refrigerated_after_its_refrigerated_limit_is_refused_and_stays_usable_at_room_temperature():
    """A room-temperature bag put in the refrigerator 3.5 h after its dilution: the refrigerated limit
    (dilution + 3 h) and the out-by it gives are behind the step itself. The old gate judged only the
    deadlines before the step and accepted it, leaving a bag that could never be taken out in time."""
    ward = Ward()
    ward.dilute("room", 30)
    diluted = R + timedelta(minutes=30)
    late = diluted + timedelta(hours=3, minutes=30)
    refusal = ward.refused(EventType.BAG_TO_FRIDGE, TINA, late)
    assert set(refusal.codes) == {"bag_from_fridge_by_passed", "start_infusion_by_passed"}
    assert not refusal.overridable and not refusal.deviation_allowed
    assert "which this step starts, would already have passed" in refusal.message
    assert "which this step brings forward, would already have passed" in refusal.message
    assert "keep it out of the refrigerator, where its room-temperature limits still hold, or discard and prepare again" in refusal.message
    assert is_near_miss(refusal.code)
    assert EventType.BAG_TO_FRIDGE not in allowed_events(ward.prep, late, MONO, POLICY)  # not offered either
    # Kept at room temperature it is still within its own limit (dilution + 4 h).
    ward.record(EventType.VERIFIED, PAUL, late)
    # Refrigerated while the refrigerated limit still allows it, as before.
    other = Ward()
    other.dilute("room", 30)
    other.record(EventType.BAG_TO_FRIDGE, TINA, diluted + timedelta(hours=1))


def test_a_refrigerated_dilution_whose_moved_out_by_is_behind_it_is_refused_a_room_one_accepted():
    """Dilution into the refrigerator 90 min before a vial expires: the out-by (the expiry less the
    1 h warm-up) is behind the dilution itself, a bag that cannot be given."""
    import dataclasses

    ward = Ward()
    expires = R + timedelta(hours=2)
    ward.prep.vials[0] = dataclasses.replace(ward.prep.vials[0], lot="LOTX", expiry=expires.date(), expires_at=expires)
    ward.reconstitute()
    refusal = ward.refused(EventType.DILUTED, TINA, R + timedelta(minutes=90), storage="fridge")
    assert refusal.code == "bag_from_fridge_by_passed" and not refusal.overridable
    assert "bag out of refrigerator by (vial expiry)" in refusal.message and "vial lot LOTX expires" in refusal.message
    assert "dilute it for room-temperature storage" in refusal.message
    ward.record(EventType.DILUTED, TINA, R + timedelta(minutes=90), storage="room")


def test_a_late_entered_refrigeration_that_brought_the_start_by_forward_past_its_entry_is_a_late_entry():
    """A bag refrigerated 2.5 h after dilution, entered 3.2 h after it: the refrigerated limit it brings
    forward (start by = dilution + 3 h) passed before the entry, and its out-by before the step."""
    ward = Ward()
    ward.dilute("room", 30)
    diluted = R + timedelta(minutes=30)
    ward.clock.set(diluted + timedelta(hours=3, minutes=12))
    refusal = ward.refused(EventType.BAG_TO_FRIDGE, TINA, diluted + timedelta(hours=2, minutes=30))
    assert set(refusal.codes) == {"bag_from_fridge_by_passed", "late_entry"} and not refusal.overridable
    assert "start infusion by" in refusal.message and "which this step brings forward, passed before it was entered" in refusal.message
