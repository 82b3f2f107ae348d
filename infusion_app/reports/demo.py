"""A realistic sample preparation, built in memory, for `--demo` and for tests.

Nothing here reads or writes the user's data: the patient is invented, the dose comes from the
real engine and monograph, and the events sit at fixed instants so the sample is the same on
every run (only its local-time rendering follows the machine's time zone).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from ..domain.course import transplant_plan_decides
from ..domain.dosing import DoseOrder, PreparationOrder, calculate_dose
from ..domain.formatting import format_dose
from ..domain.monograph import Monograph, load_monograph
from ..domain.records import DiluteStorage, Event, EventType, Patient, Preparation, VialRecord
from .model import SheetData

DEMO_ID = "DEMO-0001"
DEMO_PATIENT = Patient(name="Marie-Hélène Dubois-Lefèvre", mrn="00412873", date_of_birth=date(1968, 4, 12))
DEMO_ORDER = DoseOrder(height="5 ft 6 in", weight="143 lb", cycle=1, day=1)
TECHNICIAN = "Tomás Ortega"
PHARMACIST = "Priya Raman"
NURSE = "Grace Okafor"
# A Tuesday morning in UTC: reconstituted 09:00, diluted 09:20, checked 09:30, labelled 09:35.
RECONSTITUTED_AT = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
PRINTED_AT = RECONSTITUTED_AT + timedelta(minutes=36)
# Typical premedication for the three classes the label asks for (sample data, not advice).
DEMO_PREMEDICATION = (
    ("corticosteroid", "methylprednisolone IV", 100),
    ("antipyretic", "acetaminophen PO", 650),
    ("antihistamine", "diphenhydramine IV", 25),
)


def _event(kind: EventType, minutes: int, user: str, **details: Any) -> Event:
    at = RECONSTITUTED_AT + timedelta(minutes=minutes)
    return Event(type=kind, at=at, recorded_at=at, user=user, details=details)


def demo_preparation(monograph: Monograph, vials: int | None = None) -> Preparation:
    """The sample preparation of `monograph`'s drug: cycle 1 day 1, reconstituted, diluted, checked and labelled."""
    calculation = calculate_dose(DEMO_ORDER, monograph)
    order = PreparationOrder(DEMO_ORDER, calculation)
    ndc = monograph.text("product.ndc")
    count = calculation.vials if vials is None else vials
    vial_records = [VialRecord(lot=f"FX{4821 + n}", expiry=date(2027, 8, 31), ndc=ndc, serial=f"1034{n:04d}") for n in range(count)]
    events = [_event(EventType.PREMEDICATION, -40, NURSE, drug_class=cls, drug=drug, dose=format_dose(mg)) for cls, drug, mg in DEMO_PREMEDICATION]
    events += [
        _event(EventType.RECONSTITUTED, 0, TECHNICIAN),
        _event(EventType.DILUTED, 20, TECHNICIAN, storage=DiluteStorage.ROOM.value),
        _event(EventType.VERIFIED, 30, PHARMACIST),
        _event(EventType.LABELLED, 35, TECHNICIAN),
    ]
    return Preparation(
        id=DEMO_ID,
        patient=DEMO_PATIENT,
        order=order,
        created_at=RECONSTITUTED_AT - timedelta(minutes=50),
        created_by=TECHNICIAN,
        monograph_id=monograph.id,
        monograph_revision=monograph.revision,
        vials=vial_records,
        events=sorted(events, key=lambda e: e.at),
    )


def demo_policy_decision(monograph: Monograph) -> Any:
    """The payer-policy check of the sample patient for `monograph`'s drug: the facts of its policy's
    example patient ([example] in the policy file), or None when no policy judges the drug."""
    from ..domain.coverage import CoverageFacts, check_coverage, policy_for_billing_code

    policy = policy_for_billing_code(monograph.text("billing.hcpcs"))
    return None if policy is None else check_coverage(CoverageFacts(**policy.example), policy)


def deadlines_for(prep: Preparation, monograph: Monograph, now: datetime) -> list[Any]:
    from ..domain.deadlines import compute_deadlines
    from ..domain.limits import site_defaults

    return compute_deadlines(prep.events, monograph, now, site_defaults().warning_lead_time)


def demo_sheet_data(
    program_version: str | None = None,
    tz: tzinfo | None = None,
    prep: Preparation | None = None,
    monograph: Monograph | None = None,
) -> SheetData:
    """The sheet of `prep` (a sample preparation), or of a new sample of `monograph`'s drug."""
    from .. import __version__

    if prep is not None:
        monograph = load_monograph(prep.monograph_id)
    elif monograph is None:
        raise ValueError("a sample sheet needs its preparation or its drug's monograph")
    prep = prep or demo_preparation(monograph)
    calc = prep.order.calculation
    course = {"Course": f"Cycle {calc.cycle}, Day {calc.day}: the first dose of the course"}
    if transplant_plan_decides(monograph):
        course["HSCT"] = "not planned"
    data = SheetData.from_preparation(
        prep,
        monograph,
        deadlines_for(prep, monograph, PRINTED_AT),
        printed_at=PRINTED_AT,
        program_version=program_version or __version__,
        course_info=course,
        policy_decision=demo_policy_decision(monograph),
        tz=tz,
    )
    return dataclasses.replace(data, sample=True)
