"""HL7 v2 and FHIR messages of a stored preparation, parsed back with the libraries' own validators."""

from __future__ import annotations

from tests.drugs import BESPONSA

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from tests.prep_helpers import checked, verify_order_by_another
from fhir.resources.bundle import Bundle
from fhir.resources.medicationadministration import MedicationAdministration
from fhir.resources.medicationdispense import MedicationDispense
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.monograph import load_monograph
from infusion_app.domain.records import EventType as E
from infusion_app.domain.records import Patient, Role, VialRecord
from infusion_app.service import open_service
from infusion_app.service.interchange import NotExportable, build_message
from tests.cli_helpers import assert_clean_invalid, run_cli

T0 = datetime(2026, 3, 10, 13, 0, tzinfo=timezone.utc)
PATIENT = Patient("Doe, Jane", "00123456", date(1970, 5, 17))
MONO = load_monograph("inotuzumab-ozogamicin")


def _finished(service, clock, people, *, override: bool = False):
    status = service.create_preparation(
        PATIENT,
        DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1),
        people["tech"],
        vials=[VialRecord("LT2291", date(2027, 5, 31)), VialRecord("LT2292", date(2027, 6, 30))],
        product_confirmed=True,
        monograph=BESPONSA,
    )
    pid = status.id
    verify_order_by_another(service, pid, people["pharmacist"])
    service.record_event(pid, E.RECONSTITUTED, people["tech"])
    clock.advance(minutes=15)
    service.record_event(pid, E.DILUTED, people["tech"], details={"storage": "room"})
    clock.advance(minutes=5)
    service.record_event(pid, E.VERIFIED, people["pharmacist"], details=checked(service, pid))
    service.record_event(pid, E.LABELLED, people["tech"])
    service.record_event(pid, E.DISPENSED, people["tech"])
    for drug_class, drug, dose in (
        ("corticosteroid", "methylprednisolone", "100 mg"),
        ("antipyretic", "acetaminophen", "650 mg"),
        ("antihistamine", "diphenhydramine", "25 mg"),
    ):
        service.record_event(pid, E.PREMEDICATION, people["nurse"], details={"drug_class": drug_class, "drug": drug, "dose": dose})
    service.record_event(pid, E.PATIENT_CONFIRMED, people["nurse"], details={"name": PATIENT.name, "mrn": PATIENT.mrn})
    clock.advance(minutes=10)
    service.record_event(pid, E.INFUSION_STARTED, people["nurse"])
    clock.advance(hours=1)
    service.record_event(pid, E.INFUSION_ENDED, people["nurse"])
    return service.get(pid)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("interchange") / "data"
    clock = FakeClock(T0)
    with open_service(data_dir=data_dir, clock=clock) as service:
        pharmacist = service.add_user("Priya Raman", Role.PHARMACIST, "222222")
        people = {
            "pharmacist": pharmacist,
            "tech": service.add_user("Tomás Ortega", Role.TECHNICIAN, "111111", actor=pharmacist),
            "nurse": service.add_user("Nina Kowalski", Role.NURSE, "333333", actor=pharmacist),
        }
        prep = _finished(service, clock, people)
        pending = service.create_preparation(PATIENT, DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=8), people["tech"], monograph=BESPONSA)
    return data_dir, prep, pending.prep


def test_ras_o17_carries_patient_drug_dose_times_nurse_and_every_vial(stored):
    _, prep, _ = stored
    text = build_message(prep, "hl7v2", "administration", T0 + timedelta(hours=3))
    message = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT)
    message.validate()
    assert message.msh.msh_9.to_er7() == "RAS^O17^RAS_O17"
    pid = message.ras_o17_patient.pid
    assert pid.pid_3.cx_1.to_er7() == PATIENT.mrn and pid.pid_3.cx_5.to_er7() == "MR"
    assert pid.pid_5.to_er7() == "Doe^Jane" and pid.pid_7.to_er7() == "19700517"
    order = message.ras_o17_order
    assert order.orc.orc_3.to_er7() == prep.id
    rxa = order.ras_o17_administration.rxa
    assert rxa.rxa_5.ce_1.to_er7() == MONO.text("product.ndc")
    assert MONO.generic_name in rxa.rxa_5.ce_2.to_er7() and rxa.rxa_5.ce_3.to_er7() == "NDC"
    started, ended = prep.last(E.INFUSION_STARTED).at, prep.last(E.INFUSION_ENDED).at
    assert rxa.rxa_3.to_er7() == started.strftime("%Y%m%d%H%M%S+0000")
    assert rxa.rxa_4.to_er7() == ended.strftime("%Y%m%d%H%M%S+0000")
    assert float(rxa.rxa_6.to_er7()) == pytest.approx(prep.order.calculation.dose_mg, abs=0.005)
    assert rxa.rxa_7.ce_1.to_er7() == "mg"
    assert rxa.rxa_10.xcn_1.to_er7() == "Nina Kowalski"
    assert [f.to_er7() for f in rxa.rxa_15] == ["LT2291", "LT2292"]
    assert [f.to_er7() for f in rxa.rxa_16] == ["20270531", "20270630"]
    assert order.ras_o17_administration.rxr.rxr_1.ce_1.to_er7() == MONO.text("infusion.route")


def test_rds_o13_names_preparer_and_verifier(stored):
    _, prep, _ = stored
    message = parse_message(build_message(prep, "hl7v2", "dispense", T0 + timedelta(hours=3)), validation_level=VALIDATION_LEVEL.STRICT)
    message.validate()
    assert message.msh.msh_9.to_er7() == "RDS^O13^RDS_O13"
    order = message.rds_o13_order
    assert order.orc.orc_10.xcn_1.to_er7() == "Tomás Ortega"
    assert order.orc.orc_11.xcn_1.to_er7() == "Priya Raman"
    rxd = order.rxd
    assert rxd.rxd_2.ce_1.to_er7() == MONO.text("product.ndc")
    assert rxd.rxd_10.xcn_1.to_er7() == "Tomás Ortega"
    assert rxd.rxd_3.to_er7() == prep.last(E.DISPENSED).at.strftime("%Y%m%d%H%M%S+0000")
    assert [f.to_er7() for f in rxd.rxd_18] == ["LT2291", "LT2292"]


def test_fhir_administration_and_dispense_validate_and_carry_every_field(stored):
    _, prep, _ = stored
    bundle = Bundle.model_validate(json.loads(build_message(prep, "fhir", "administration", T0 + timedelta(hours=3))))
    administration, dispense = (e.resource for e in bundle.entry)
    assert isinstance(administration, MedicationAdministration) and isinstance(dispense, MedicationDispense)
    coding = administration.medication.concept.coding[0]
    assert coding.system == "http://hl7.org/fhir/sid/ndc" and coding.code == MONO.text("product.ndc")
    assert administration.subject.identifier.value == PATIENT.mrn
    assert float(administration.dosage.dose.value) == pytest.approx(prep.order.calculation.dose_mg, abs=0.005)
    assert administration.dosage.dose.code == "mg" and administration.dosage.rateQuantity.code == "mL/h"
    assert float(administration.dosage.rateQuantity.value) == pytest.approx(MONO.magnitude("infusion.rate", "mL/hour"))
    period = administration.occurencePeriod
    assert period.start == prep.last(E.INFUSION_STARTED).at and period.end == prep.last(E.INFUSION_ENDED).at
    functions = {p.function.coding[0].code: p.actor.reference.display for p in administration.performer}
    assert functions == {"performer": "Nina Kowalski", "verifier": "Priya Raman"}
    assert administration.partOf[0].reference == f"MedicationDispense/{dispense.id}"
    assert dispense.status == "completed" and dispense.medication.concept.coding[0].code == MONO.text("product.ndc")
    assert {p.actor.display for p in dispense.performer} == {"Tomás Ortega", "Priya Raman"}


def test_an_unfinished_preparation_is_not_reported(stored):
    _, _, pending = stored
    with pytest.raises(NotExportable):
        build_message(pending, "hl7v2", "administration", T0)
    with pytest.raises(NotExportable):
        build_message(pending, "fhir", "dispense", T0)


def test_cli_export_writes_once_and_refuses_to_overwrite(stored, tmp_path):
    data_dir, prep, pending = stored
    out = tmp_path / "ras.hl7"
    done = run_cli("export", prep.id, "--format", "hl7v2", "--out", str(out), "--data-dir", str(data_dir))
    assert done.code == 0, done.stderr
    parse_message(out.read_text().replace("\n", "\r"), validation_level=VALIDATION_LEVEL.STRICT).validate()
    again = run_cli("export", prep.id, "--format", "hl7v2", "--out", str(out), "--data-dir", str(data_dir))
    assert_clean_invalid(again, "out")
    forced = run_cli("export", prep.id, "--format", "fhir", "--what", "dispense", "--out", str(out), "--force", "--data-dir", str(data_dir))
    assert forced.code == 0, forced.stderr
    assert Bundle.model_validate(json.loads(out.read_text())).entry[0].resource.get_resource_type() == "MedicationDispense"
    stdout = run_cli("export", prep.id, "--format", "fhir", "--data-dir", str(data_dir))
    assert stdout.code == 0 and Bundle.model_validate(json.loads(stdout.stdout))
    refused = run_cli("export", pending.id, "--format", "hl7v2", "--data-dir", str(data_dir))
    assert refused.code == 1 and "infusion-ended" in refused.stderr and "Traceback" not in refused.stderr
    assert_clean_invalid(run_cli("export", prep.id, "--format", "csv", "--data-dir", str(data_dir)), "format")


def test_cli_export_never_overwrites_the_database_or_the_audit_key_and_refuses_unusable_names(stored, tmp_path):
    # Issue 15 re-walk: export wrote through its own writer, which skipped the database checks.
    data_dir, prep, _ = stored
    for name in ("infusion-prep.sqlite3", "audit.key", "audit-anchor.log"):
        target = data_dir / name
        before = target.read_bytes() if target.exists() else None
        refused = run_cli("export", prep.id, "--format", "hl7v2", "--what", "dispense", "--out", str(target), "--force", "--data-dir", str(data_dir))
        assert_clean_invalid(refused, "out")
        assert (target.read_bytes() if target.exists() else None) == before
    for name in ("m\x1b[31m.json", "a" * 300 + ".json"):
        refused = run_cli("export", prep.id, "--format", "fhir", "--out", str(tmp_path / name), "--data-dir", str(data_dir))
        assert_clean_invalid(refused, "out")
        assert "\x1b" not in refused.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_downtime_entry_note_gives_its_time_in_local_time_with_the_date():
    """The EHR note gave a downtime step's time as raw ISO ('2026-11-27T09:00:00+00:00')."""
    from types import SimpleNamespace

    from infusion_app.domain.formatting import format_instant
    from infusion_app.domain.records import Event, EventType
    from infusion_app.service.interchange import ExportFacts

    event = Event(EventType.INFUSION_STARTED, T0, T0, "nina", {"downtime": True})
    [note] = ExportFacts.notes(SimpleNamespace(overrides=[], downtime_events=[event]))  # type: ignore[arg-type]
    assert note == f"Downtime entry: infusion-started at {format_instant(T0)} entered late by nina", note
