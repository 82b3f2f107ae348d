"""The board's export button, outbox counter and File > Downtime snapshot."""

from __future__ import annotations

from pathlib import Path

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from pypdf import PdfReader

from infusion_app.domain.records import EventType as E
from infusion_app.gui.main_window import MainWindow


def _ended(service, make_preparation, clock, nurse):
    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified", "labelled", "dispensed"))
    for drug_class, drug, dose in (
        ("corticosteroid", "methylprednisolone", "100 mg"),
        ("antipyretic", "acetaminophen", "650 mg"),
        ("antihistamine", "diphenhydramine", "25 mg"),
    ):
        service.record_event(prep_id, E.PREMEDICATION, nurse, details={"drug_class": drug_class, "drug": drug, "dose": dose})
    patient = service.get(prep_id).patient
    service.record_event(prep_id, E.PATIENT_CONFIRMED, nurse, details={"name": patient.name, "mrn": patient.mrn})
    clock.advance(minutes=5)
    service.record_event(prep_id, E.INFUSION_STARTED, nurse)
    clock.advance(hours=1)
    service.record_event(prep_id, E.INFUSION_ENDED, nurse)
    return prep_id


def test_export_button_snapshot_and_outbox_counter(qtbot, service, make_preparation, clock, nurse, pharmacist, tmp_path):
    service.set_setting("interchange_mode", "folder", pharmacist)
    service.set_setting("interchange_folder", str(tmp_path / "not-mounted"), pharmacist)
    prep_id = _ended(service, make_preparation, clock, nurse)
    window = MainWindow(service, nurse, repaint_ms=60_000, sound=False)
    qtbot.addWidget(window)
    window.show()
    controls = window.interchange
    assert controls.outbox_label.isVisible() and controls.outbox_label.text() == "Outbox: 1 waiting"
    (tmp_path / "not-mounted").mkdir()
    clock.advance(minutes=2)
    controls.retry()
    assert not controls.outbox_label.isVisible()

    window.print_target = lambda: prep_id  # the selected row; selection itself is the board's own test
    out = controls.export_selected(str(tmp_path / "ras.hl7"))
    assert out is not None
    parse_message(Path(out).read_bytes().decode(), validation_level=VALIDATION_LEVEL.STRICT).validate()
    assert any(e.action == "interchange.sent" and e.subject == prep_id for e in service.audit_entries())

    assert controls.snapshot_action in window.menuBar().actions()[0].menu().actions()
    pdf = controls.print_snapshot(str(tmp_path / "snap.pdf"))
    text = " ".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert prep_id in text
