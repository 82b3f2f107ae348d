"""Late entries after a downtime: marked as downtime entries in the event and the audit, same rules as live steps."""

from __future__ import annotations

from tests.drugs import BESPONSA

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.records import EventType as E
from infusion_app.domain.records import Patient, Role
from infusion_app.service import StepRefused, open_service
from tests.prep_helpers import record_vials
from tests.cli_helpers import assert_clean_invalid, run_cli
from tests.lab_helpers import order_labs

T0 = datetime(2026, 3, 10, 13, 0, tzinfo=timezone.utc)
PATIENT = Patient("Doe, Jane", "00123456", date(1970, 5, 17))


@pytest.fixture()
def setup(tmp_path):
    clock = FakeClock(T0)
    service = open_service(data_dir=tmp_path / "data", clock=clock)
    pharmacist = service.add_user("Priya Raman", Role.PHARMACIST, "222222")
    tech = service.add_user("Tomás Ortega", Role.TECHNICIAN, "111111", actor=pharmacist)
    status = service.create_preparation(PATIENT, DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1), tech, monograph=BESPONSA)
    record_vials(service, status.id, tech)  # the kept cartons' lots come first, a downtime entry too
    service.record_event(status.id, E.ORDER_VERIFIED, pharmacist, details=order_labs(clock.now()))  # before any reconstitution, by another person
    yield service, clock, tech, status.id, tmp_path / "data"
    service.close()


def test_a_downtime_entry_is_marked_in_the_event_and_the_audit(setup):
    service, clock, tech, pid, _ = setup
    clock.advance(hours=2)  # the program came back two hours later
    paper_time = T0 + timedelta(minutes=30)
    status = service.record_event(pid, E.RECONSTITUTED, tech, at=paper_time, downtime=True)
    event = status.prep.last(E.RECONSTITUTED)
    assert event.details["downtime"] is True and event.at == paper_time and event.recorded_at == T0 + timedelta(hours=2)
    audit = [e for e in service.audit_entries() if e.action == "event.reconstituted"][-1]
    assert json.loads(audit.after)["details"]["downtime"] is True
    assert service.verify_audit().intact
    live = service.record_event(pid, E.DILUTED, tech, details={"storage": "room"})
    assert "downtime" not in live.prep.last(E.DILUTED).details


def test_a_downtime_entry_needs_its_time_and_meets_every_rule(setup):
    service, clock, tech, pid, _ = setup
    with pytest.raises(ValidationError) as missing:
        service.record_event(pid, E.RECONSTITUTED, tech, downtime=True)
    assert missing.value.field == "at"
    with pytest.raises(ValidationError):
        service.record_event(pid, E.RECONSTITUTED, tech, at=T0, details={"downtime": True})  # no forging the mark
    clock.advance(hours=6)
    with pytest.raises(StepRefused) as expired:  # reconstituted on paper 6 h ago: past its 4 h dilute-by, on paper too
        service.record_event(pid, E.RECONSTITUTED, tech, at=T0, downtime=True)
    assert expired.value.code == "late_entry" and not expired.value.overridable  # a label limit: discard and prepare again
    service.record_event(pid, E.RECONSTITUTED, tech, at=T0 + timedelta(hours=3), downtime=True)  # its dilute-by is ahead
    clock.advance(hours=1, minutes=30)
    with pytest.raises(StepRefused) as late:  # diluted on paper 4 h 15 min after reconstitution: refused on paper too
        service.record_event(pid, E.DILUTED, tech, at=T0 + timedelta(hours=7, minutes=15), details={"storage": "room"}, downtime=True)
    assert late.value.code == "dilute_by_passed" and not late.value.overridable


def test_cli_records_a_downtime_entry(setup):
    service, clock, tech, pid, data_dir = setup
    service.close()
    env = {"INFUSION_PREP_PIN": "111111"}
    assert_clean_invalid(run_cli("prep", "record", pid, "reconstituted", "--downtime", "--user", "Tomás Ortega", "--data-dir", str(data_dir), env=env), "--at")
    at = (datetime.now(timezone.utc) - timedelta(minutes=20)).isoformat(timespec="minutes")
    done = run_cli("prep", "record", pid, "reconstituted", "--at", at, "--downtime", "--user", "Tomás Ortega", "--json", "--data-dir", str(data_dir), env=env)
    assert done.code == 0, done.stderr
    assert done.json()["events"][-1]["details"] == {"downtime": True}
    shown = run_cli("prep", "show", pid, "--data-dir", str(data_dir))
    assert "downtime entry" in shown.stdout


# -- the printed downtime kit and snapshot -------------------------------------------------------


def _pdf_text(path) -> str:
    from pypdf import PdfReader

    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)


def test_downtime_kit_prints_every_field_and_the_monographs_numbers(tmp_path):
    from infusion_app.domain.bsa import body_surface_area
    from infusion_app.domain.formatting import format_number, format_value
    from infusion_app.domain.monograph import load_monograph

    out = tmp_path / "kit.pdf"
    done = run_cli("downtime", "--out", str(out))
    assert done.code == 0, done.stderr
    text = _pdf_text(out)
    mono = load_monograph("inotuzumab-ozogamicin")
    assert mono.text("product.ndc") in text and mono.generic_name in text and mono.brand_name in text
    for path in (
        "time_limits.reconstitution_to_dilution",
        "time_limits.reconstitution_to_end_of_infusion",
        "dilution.final_volume",
        "reconstitution.concentration",
        "infusion.rate",
        "product.vial_deliverable",
    ):
        assert format_value(mono.fact(path).value) in text, path
    for cls in mono.items("premedication.classes"):
        assert cls in text
    for row in mono.dose_rows:
        for fact in row.mg_per_m2_by_day.values():
            assert format_value(fact.value) in text
    assert format_number(body_surface_area(170, 70, "mosteller"), 2) in text
    for field in ("Patient name", "MRN", "Lot", "Expiry", "Verified by", "Infusion started", "Start infusion by"):
        assert field in text
    again = run_cli("downtime", "--out", str(out))
    assert_clean_invalid(again, "out")
    assert_clean_invalid(run_cli("downtime", "--out", str(tmp_path / "a.pdf"), "--paper", "legal"), "paper")


def test_downtime_snapshot_lists_active_preparations_with_deadlines(setup, tmp_path):
    service, clock, tech, pid, data_dir = setup
    service.record_event(pid, E.RECONSTITUTED, tech)
    deadlines = service.status(pid).deadlines
    service.close()
    out = tmp_path / "snap.pdf"
    done = run_cli("downtime", "snapshot", "--out", str(out), "--data-dir", str(data_dir))
    assert done.code == 0, done.stderr
    text = _pdf_text(out)
    assert pid in text and PATIENT.mrn in text and "1 active preparation" in text
    for deadline in deadlines:
        assert deadline.label in text
