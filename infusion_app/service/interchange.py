"""Messages to the hospital's systems: HL7 v2 (RAS^O17, RDS^O13) and FHIR R5 (MedicationAdministration,
MedicationDispense) for a stored preparation.

Built and validated with hl7apy and fhir.resources, never with string templates: a message that the
library's own strict validator refuses is never handed out. Every drug fact (NDC, names, route,
infusion volume) comes from the monograph the preparation was made under; every person and instant
from the preparation's recorded events.

FHIR: R5, whose MedicationAdministration.partOf may name the MedicationDispense (R4's may not); R5
calls R4's effectivePeriod `occurencePeriod` (sic, the specification's spelling).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from ..domain.deadlines import Timeline
from ..domain.errors import ValidationError
from ..domain.formatting import format_instant
from ..domain.monograph import Monograph, load_monograph
from ..domain.preparation import infusion_duration_of
from ..domain.records import Event, EventType, Preparation, VialRecord

FORMATS = ("hl7v2", "fhir")
WHATS = ("administration", "dispense")
HL7_VERSION = "2.5"
# Standard code systems (HL7 table 0396, FHIR naming system, UCUM): identifiers of the standards, not drug facts.
NDC_SYSTEM_HL7 = "NDC"
NDC_SYSTEM_FHIR = "http://hl7.org/fhir/sid/ndc"
UCUM_SYSTEM = "http://unitsofmeasure.org"
PERFORMER_FUNCTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/med-admin-perform-function"
MRN_SYSTEM = "urn:infusion-prep:mrn"  # a site maps this to its own MRN namespace
PREP_SYSTEM = "urn:infusion-prep:preparation"
SENDING_APPLICATION = "INFUSION-PREP"


class NotExportable(ValidationError):
    """The preparation has not reached the step the message reports (e.g. no infusion ended yet)."""

    def __init__(self, message: str):
        super().__init__("preparation", message)


@dataclass(frozen=True)
class ExportFacts:
    """What every message says, gathered once from the preparation and its monograph."""

    prep: Preparation
    ndc: str
    drug_name: str
    brand_name: str
    route: str
    dose_mg: float
    volume_ml: float
    rate_ml_per_h: float
    preparer: str | None
    verifier: str | None
    dispenser: str | None
    dispensed_at: datetime | None
    started: Event | None
    ended: Event | None
    overrides: list[Event]
    downtime_events: list[Event]

    @property
    def nurse(self) -> str | None:
        return self.started.user if self.started else None

    def notes(self) -> list[str]:
        """Deviations and overrides, in words a reader of the EHR understands."""
        lines = []
        for event in self.overrides:
            d = event.details
            lines.append(f"Override by {event.user} of {d.get('hard_stop')} for step {d.get('step')}: {d.get('reason')}")
        for event in self.downtime_events:
            lines.append(f"Downtime entry: {event.type.value} at {format_instant(event.at)} entered late by {event.user}")
        return lines


def gather(prep: Preparation, monograph: Monograph | None = None) -> ExportFacts:
    monograph = monograph or load_monograph(prep.monograph_id)
    line = Timeline.of(prep.events)
    calc = prep.order.calculation
    volume = calc.final_volume_ml
    hours = infusion_duration_of(prep, monograph).total_seconds() / 3600
    preparer_event = prep.last(EventType.DILUTED) or prep.last(EventType.RECONSTITUTED)
    return ExportFacts(
        prep=prep,
        ndc=monograph.text("product.ndc"),
        drug_name=monograph.generic_name,
        brand_name=monograph.brand_name,
        route=monograph.text("infusion.route"),
        dose_mg=calc.dose_mg,
        volume_ml=volume,
        rate_ml_per_h=round(volume / hours, 2),
        preparer=preparer_event.user if preparer_event else None,
        verifier=_user_of(prep.last(EventType.VERIFIED)),
        dispenser=_user_of(prep.last(EventType.DISPENSED)),
        dispensed_at=line.dispensed,
        started=prep.last(EventType.INFUSION_STARTED),
        ended=prep.last(EventType.INFUSION_ENDED),
        overrides=prep.events_of(EventType.OVERRIDE),
        downtime_events=[e for e in prep.events if e.details.get("downtime")],
    )


def _user_of(event: Event | None) -> str | None:
    return event.user if event is not None else None


def _administered(facts: ExportFacts) -> tuple[Event, Event]:
    """The infusion's start and end, refused (NotExportable) until both are recorded."""
    _require(facts, "administration")
    assert facts.started is not None and facts.ended is not None  # _require refused otherwise
    return facts.started, facts.ended


def _dispensed_at(facts: ExportFacts) -> datetime:
    _require(facts, "dispense")
    assert facts.dispensed_at is not None  # _require refused otherwise
    return facts.dispensed_at


def _require(facts: ExportFacts, what: str) -> None:
    prep = facts.prep
    if prep.last(EventType.DISCARDED) is not None:
        raise NotExportable(f"{prep.id} was discarded: nothing was dispensed or given")
    if what == "administration":
        if facts.started is None or facts.ended is None:
            raise NotExportable(f"{prep.id} has no ended infusion yet; an administration is reported after infusion-ended")
    if facts.dispensed_at is None:
        raise NotExportable(f"{prep.id} is not dispensed yet; a dispense is reported after dispensed")


# ---------------------------------------------------------------------------------------------
# HL7 v2


def _hl7_escape(text: str) -> str:
    """HL7 v2 escape sequences for the delimiters (names may hold ^ & ~ | \\ in principle)."""
    out = str(text).replace("\\", "\\E\\")
    for char, code in (("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        out = out.replace(char, code)
    return " ".join(out.split())


def _ts(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S+0000")


def _dt(day: date) -> str:
    return day.strftime("%Y%m%d")


def _vial_expiry(vial: VialRecord) -> str:
    # DTM to the minute when the vial's code or carton gave a time (AI 7003), else the date printed.
    return _ts(vial.expires_at) if vial.expires_at is not None else _dt(vial.expiry)


def _xpn(name: str) -> str:
    family, _, given = name.partition(",")
    return f"{_hl7_escape(family.strip())}^{_hl7_escape(given.strip())}"


def _xcn(user: str | None) -> str:
    # The program's user name is its identifier; XCN.2 carries it as the family name for display.
    return f"{_hl7_escape(user)}^{_hl7_escape(user)}" if user else ""


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _hl7_message(structure: str, trigger: str, control_id: str, sent_at: datetime) -> Any:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.core import Message

    message = Message(structure, version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
    message.msh.msh_3 = SENDING_APPLICATION
    message.msh.msh_7 = _ts(sent_at)
    code, event = structure.split("_")
    message.msh.msh_9 = f"{code}^{event}^{structure}"
    message.msh.msh_10 = control_id
    message.msh.msh_11 = "P"
    message.msh.msh_12 = HL7_VERSION
    return message


def _repeat(segment: Any, field_name: str, values: list[str]) -> None:
    """One repetition of the field per value (one per vial), each validated by its own type."""
    for value in values:
        segment.add_field(field_name).value = value


def _pid(group: Any, prep: Preparation) -> None:
    pid = group.add_segment("PID")
    pid.pid_1 = "1"
    pid.pid_3 = f"{_hl7_escape(prep.patient.mrn)}^^^^MR"
    pid.pid_5 = _xpn(prep.patient.name)
    pid.pid_7 = _dt(prep.patient.date_of_birth)


def _orc(group: Any, facts: ExportFacts, control: str) -> Any:
    orc = group.add_segment("ORC")
    orc.orc_1 = control
    orc.orc_3 = _hl7_escape(facts.prep.id)  # filler order number: the preparation id on the label
    return orc


def build_ras_o17(facts: ExportFacts, control_id: str, sent_at: datetime) -> str:
    started, ended = _administered(facts)
    prep = facts.prep
    message = _hl7_message("RAS_O17", "O17", control_id, sent_at)
    patient = message.add_group("RAS_O17_PATIENT")
    _pid(patient, prep)
    order = message.add_group("RAS_O17_ORDER")
    _orc(order, facts, "RE")
    administration = order.add_group("RAS_O17_ADMINISTRATION")
    rxa = administration.add_segment("RXA")
    rxa.rxa_1 = "0"
    rxa.rxa_2 = "1"
    rxa.rxa_3 = _ts(started.at)
    rxa.rxa_4 = _ts(ended.at)
    rxa.rxa_5 = f"{_hl7_escape(facts.ndc)}^{_hl7_escape(facts.drug_name)} ({_hl7_escape(facts.brand_name)})^{NDC_SYSTEM_HL7}"
    rxa.rxa_6 = _number(facts.dose_mg)
    rxa.rxa_7 = "mg^milligram^UCUM"
    rxa.rxa_10 = _xcn(facts.nurse)
    if prep.vials:
        _repeat(rxa, "RXA_15", [_hl7_escape(v.lot) for v in prep.vials])
        _repeat(rxa, "RXA_16", [_vial_expiry(v) for v in prep.vials])
    rxa.rxa_20 = "CP"
    rxa.rxa_21 = "A"
    rxr = administration.add_segment("RXR")
    rxr.rxr_1 = f"{_hl7_escape(facts.route)}^{_hl7_escape(facts.route)}^HL70162"
    for seq, note in enumerate(facts.notes(), start=1):
        nte = message.add_segment("NTE")
        nte.nte_1 = str(seq)
        nte.nte_3 = _hl7_escape(note)
    return _validated_er7(message)


def build_rds_o13(facts: ExportFacts, control_id: str, sent_at: datetime) -> str:
    dispensed_at = _dispensed_at(facts)
    prep = facts.prep
    message = _hl7_message("RDS_O13", "O13", control_id, sent_at)
    patient = message.add_group("RDS_O13_PATIENT")
    _pid(patient, prep)
    order = message.add_group("RDS_O13_ORDER")
    orc = _orc(order, facts, "RE")
    orc.orc_10 = _xcn(facts.preparer)  # entered by: who prepared the dose
    orc.orc_11 = _xcn(facts.verifier)  # verified by: the independent double check
    rxd = order.add_segment("RXD")
    rxd.rxd_1 = "1"
    rxd.rxd_2 = f"{_hl7_escape(facts.ndc)}^{_hl7_escape(facts.drug_name)} ({_hl7_escape(facts.brand_name)})^{NDC_SYSTEM_HL7}"
    rxd.rxd_3 = _ts(dispensed_at)
    rxd.rxd_4 = _number(facts.dose_mg)
    rxd.rxd_5 = "mg^milligram^UCUM"
    rxd.rxd_7 = _hl7_escape(prep.id)
    rxd.rxd_10 = _xcn(facts.preparer)
    if prep.vials:
        _repeat(rxd, "RXD_18", [_hl7_escape(v.lot) for v in prep.vials])
        _repeat(rxd, "RXD_19", [_vial_expiry(v) for v in prep.vials])
    rxr = order.add_segment("RXR")
    rxr.rxr_1 = f"{_hl7_escape(facts.route)}^{_hl7_escape(facts.route)}^HL70162"
    for seq, note in enumerate(facts.notes(), start=1):
        nte = message.add_segment("NTE")
        nte.nte_1 = str(seq)
        nte.nte_3 = _hl7_escape(note)
    return _validated_er7(message)


def _validated_er7(message: Any) -> str:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    message.validate()  # raises on a structure the standard does not allow
    text = str(message.to_er7())
    parse_message(text, validation_level=VALIDATION_LEVEL.STRICT).validate()  # and it reads back
    return text


# ---------------------------------------------------------------------------------------------
# FHIR R5


def _reference_user(user: str) -> dict[str, Any]:
    return {"identifier": {"system": "urn:infusion-prep:user", "value": user}, "display": user}


def _medication(facts: ExportFacts) -> dict[str, Any]:
    return {
        "concept": {
            "coding": [{"system": NDC_SYSTEM_FHIR, "code": facts.ndc, "display": f"{facts.drug_name} ({facts.brand_name})"}],
            "text": f"{facts.drug_name} ({facts.brand_name})",
        }
    }


def _subject(prep: Preparation) -> dict[str, Any]:
    return {"identifier": {"system": MRN_SYSTEM, "value": prep.patient.mrn}, "display": prep.patient.name}


def _dose(facts: ExportFacts) -> dict[str, Any]:
    return {"value": round(facts.dose_mg, 2), "unit": "mg", "system": UCUM_SYSTEM, "code": "mg"}


def _json_object(text: str) -> dict[str, Any]:
    """A FHIR resource validated by fhir.resources, as the plain JSON object it serialises to."""
    value: dict[str, Any] = json.loads(text)
    return value


def build_medication_dispense(facts: ExportFacts) -> dict[str, Any]:
    from fhir.resources.medicationdispense import MedicationDispense

    dispensed_at = _dispensed_at(facts)
    prep = facts.prep
    performers = []
    if facts.preparer:
        performers.append(
            {
                "function": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationdispense-performer-function", "code": "packager"}]},
                "actor": _reference_user(facts.preparer),
            }
        )
    if facts.verifier:
        performers.append(
            {
                "function": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationdispense-performer-function", "code": "finalchecker"}]},
                "actor": _reference_user(facts.verifier),
            }
        )
    resource = {
        "resourceType": "MedicationDispense",
        "id": f"dispense-{prep.id}",
        "identifier": [{"system": PREP_SYSTEM, "value": prep.id}],
        "status": "completed",
        "medication": _medication(facts),
        "subject": _subject(prep),
        "performer": performers,
        "quantity": {"value": round(facts.volume_ml, 2), "unit": "mL", "system": UCUM_SYSTEM, "code": "mL"},
        "whenPrepared": dispensed_at.isoformat(),
        "whenHandedOver": dispensed_at.isoformat(),
        "dosageInstruction": [
            {
                "text": f"{_number(facts.dose_mg)} mg in {_number(facts.volume_ml)} mL {facts.route} over the planned infusion time",
                "doseAndRate": [
                    {"doseQuantity": _dose(facts), "rateQuantity": {"value": facts.rate_ml_per_h, "unit": "mL/h", "system": UCUM_SYSTEM, "code": "mL/h"}}
                ],
            }
        ],
        "note": [{"text": n} for n in facts.notes()] or None,
    }
    resource = {k: v for k, v in resource.items() if v is not None}
    return _json_object(MedicationDispense.model_validate(resource).model_dump_json(exclude_none=True))


def build_medication_administration(facts: ExportFacts) -> dict[str, Any]:
    from fhir.resources.medicationadministration import MedicationAdministration

    started, ended = _administered(facts)
    prep = facts.prep
    performers = [
        {
            "function": {"coding": [{"system": PERFORMER_FUNCTION_SYSTEM, "code": "performer", "display": "Performer"}]},
            "actor": {"reference": _reference_user(started.user)},  # the nurse who started it
        }
    ]
    if facts.verifier:
        performers.append(
            {
                "function": {"coding": [{"system": PERFORMER_FUNCTION_SYSTEM, "code": "verifier", "display": "Verifier"}]},
                "actor": {"reference": _reference_user(facts.verifier)},
            }
        )
    resource = {
        "resourceType": "MedicationAdministration",
        "id": f"administration-{prep.id}",
        "identifier": [{"system": PREP_SYSTEM, "value": prep.id}],
        "status": "completed",
        "medication": _medication(facts),
        "subject": _subject(prep),
        "occurencePeriod": {"start": started.at.isoformat(), "end": ended.at.isoformat()},
        "performer": performers,
        "partOf": [{"reference": f"MedicationDispense/dispense-{prep.id}"}],
        "dosage": {
            "route": {"text": facts.route},
            "dose": _dose(facts),
            "rateQuantity": {"value": facts.rate_ml_per_h, "unit": "mL/h", "system": UCUM_SYSTEM, "code": "mL/h"},
        },
        "note": [{"text": n} for n in facts.notes()] or None,
    }
    resource = {k: v for k, v in resource.items() if v is not None}
    return _json_object(MedicationAdministration.model_validate(resource).model_dump_json(exclude_none=True))


def build_fhir_bundle(facts: ExportFacts, what: str, sent_at: datetime) -> dict[str, Any]:
    """A collection Bundle: the administration with the dispense it is part of, or the dispense alone."""
    from fhir.resources.bundle import Bundle

    entries = []
    if what == "administration":
        entries.append(build_medication_administration(facts))
    entries.append(build_medication_dispense(facts))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": sent_at.astimezone(timezone.utc).isoformat(),
        "entry": [{"fullUrl": f"urn:infusion-prep:{r['resourceType']}/{r['id']}", "resource": r} for r in entries],
    }
    return _json_object(Bundle.model_validate(bundle).model_dump_json(exclude_none=True))


def build_message(prep: Preparation, fmt: str, what: str, sent_at: datetime, control_id: str | None = None, monograph: Monograph | None = None) -> str:
    """The message text: HL7 v2 ER7 (segments separated by CR) or FHIR JSON."""
    if fmt not in FORMATS:
        raise ValidationError("format", f"'{fmt}' is not a format; must be one of {', '.join(FORMATS)}")
    if what not in WHATS:
        raise ValidationError("what", f"'{what}' is not accepted; must be one of {', '.join(WHATS)}")
    facts = gather(prep, monograph)
    control_id = control_id or f"{prep.id}-{'A' if what == 'administration' else 'D'}-{sent_at.astimezone(timezone.utc):%Y%m%d%H%M%S}"
    if fmt == "hl7v2":
        return (build_ras_o17 if what == "administration" else build_rds_o13)(facts, control_id, sent_at)
    return json.dumps(build_fhir_bundle(facts, what, sent_at), indent=2, ensure_ascii=False) + "\n"
