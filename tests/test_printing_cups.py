"""Printing through a real CUPS server to virtual PDF printers: the job reaches the queue, and the
PDF that comes out of the printer has the stock's page size, its orientation and the label's text.

The server is private to this test session (tests/cups_server.py). It needs root and the Debian
packages cups and printer-driver-cups-pdf (packaging/bootstrap.sh --test); without them every test
here FAILS with the reason, never skips.
"""

from __future__ import annotations

from tests.drugs import BESPONSA

import os
import subprocess
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from tests.prep_helpers import checked, verify_order_by_another
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.units import inch, mm

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.records import EventType as E
from infusion_app.domain.records import Patient, Role, VialRecord
from infusion_app.service import open_service
from infusion_app.service.documents import DocumentService
from infusion_app.service.printing import PrintError, print_document
from tests.cli_helpers import run_cli
from tests.cups_server import CupsUnavailable, start_cups_server

LABEL_QUEUE = f"ip-labels-{os.getpid()}"
SHEET_QUEUE = f"ip-sheets-{os.getpid()}"
T0 = datetime(2026, 3, 10, 13, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def cups():
    try:
        server = start_cups_server()
    except CupsUnavailable as exc:
        pytest.fail(f"the CUPS test server could not start: {exc}", pytrace=False)
    try:
        server.add_pdf_queue(LABEL_QUEUE)
        server.add_pdf_queue(SHEET_QUEUE)
        previous = os.environ.get("CUPS_SERVER")
        os.environ["CUPS_SERVER"] = str(server.socket)
        yield server
    finally:
        if previous is None:
            os.environ.pop("CUPS_SERVER", None)
        else:
            os.environ["CUPS_SERVER"] = previous
        server.stop()


def printed(cups, queue: str, before: int) -> Path:
    files = cups.wait_for_output(queue, before + 1)
    return files[-1]


def pdf_page(path: Path):
    reader = PdfReader(path)
    assert len(reader.pages) >= 1
    return reader


def displayed_size(page) -> tuple[float, float]:
    """The page as a viewer or printer shows it: /Rotate 90 or 270 swaps the sides."""
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    return (height, width) if int(page.get("/Rotate", 0) or 0) % 180 else (width, height)


def displayed_words(path: Path) -> list[tuple[str, float, float, float, float]]:
    """(word, x0, y0, x1, y1) as displayed, top-left origin (poppler applies the page's /Rotate)."""
    import re

    html = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"], capture_output=True, text=True, check=True).stdout
    pattern = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
    return [(m.group(5), *map(float, m.group(1, 2, 3, 4))) for m in pattern.finditer(html)]


def assert_upright(path: Path) -> None:
    """Text runs left to right across the displayed page, the patient's name above the hazard line."""
    words = displayed_words(path)
    long_words = [w for w in words if len(w[0]) >= 5]
    assert long_words and all((w[3] - w[1]) > (w[4] - w[2]) for w in long_words), "text is turned on the printed page"
    first = {w[0]: w for w in words}
    assert first["MRN"][2] < first["HAZARDOUS"][2], "the label is upside down"


def text_of(path: Path) -> str:
    return " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(path).pages)


def decoded_codes(path: Path, dpi: int) -> list[str]:
    import zxingcpp
    from PIL import Image

    prefix = path.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", str(path), str(prefix)], check=True)
    image = sorted(path.parent.glob(prefix.name + "*.png"))[-1]
    with Image.open(image) as picture:
        return [r.text for r in zxingcpp.read_barcodes(picture)]


def count(cups, queue: str) -> int:
    return len(list(cups.outputs[queue].glob("*.pdf")))


@pytest.mark.parametrize(
    "stock, size",
    [
        ("4x2in", (4 * inch, 2 * inch)),
        ("4x6in", (4 * inch, 6 * inch)),
        ("6x4in", (6 * inch, 4 * inch)),
        ("3x2in", (3 * inch, 2 * inch)),
        ("102x51mm", (102 * mm, 51 * mm)),
    ],
)
def test_the_command_line_prints_the_label_at_its_size_unrotated_with_its_text(cups, stock, size, tmp_path):
    before = count(cups, LABEL_QUEUE)
    result = run_cli("print", "label", "--demo", "--queue", LABEL_QUEUE, "--label-size", stock, env={"CUPS_SERVER": str(cups.socket)})
    assert result.code == 0, result.stderr
    assert f"sent to {LABEL_QUEUE} as job {LABEL_QUEUE}-" in result.stdout
    out = printed(cups, LABEL_QUEUE, before)
    page = pdf_page(out).pages[0]
    width, height = displayed_size(page)
    # A turned page would have its sides swapped; a scaled one another size.
    assert (width, height) == pytest.approx(size, abs=1.5), f"{stock}: printer page {width:.1f} x {height:.1f} pt"
    assert_upright(out)
    text = text_of(out)
    assert "DO NOT START AFTER" in text and "INFUSION MUST END BY" in text and "MRN 00412873" in text
    assert "inotuzumab ozogamicin (Besponsa)" in text
    local = tmp_path / "copy.pdf"
    local.write_bytes(out.read_bytes())
    assert "DEMO-0001" in decoded_codes(local, 203), "the 2D code decodes from the printer's output at 203 dpi"


@pytest.mark.slow
@pytest.mark.parametrize("paper, size", [("letter", letter), ("a4", A4)])
def test_the_command_line_prints_the_sheet_on_its_paper(cups, paper, size, tmp_path):
    before = count(cups, SHEET_QUEUE)
    result = run_cli("print", "sheet", "--demo", "--queue", SHEET_QUEUE, "--paper", paper, env={"CUPS_SERVER": str(cups.socket)})
    assert result.code == 0, result.stderr
    out = printed(cups, SHEET_QUEUE, before)
    reader = pdf_page(out)
    assert len(reader.pages) >= 2
    for page in reader.pages:
        assert displayed_size(page) == pytest.approx(size, abs=1.5)
    text = text_of(out)
    assert "Preparation sheet: inotuzumab ozogamicin (Besponsa)" in text and "Administration" in text
    local = tmp_path / "sheet.pdf"
    local.write_bytes(out.read_bytes())
    assert "DEMO-0001" in decoded_codes(local, 110), "the footer barcode decodes at 110 dpi"


@pytest.fixture()
def labelled(tmp_path):
    data_dir = tmp_path / "data"
    clock = FakeClock(T0)
    with open_service(data_dir=data_dir, clock=clock) as service:
        pharmacist = service.add_user("Priya Raman", Role.PHARMACIST, "593024")
        tech = service.add_user("Tomás Ortega", Role.TECHNICIAN, "482913", actor=pharmacist)
        status = service.create_preparation(
            Patient("Zoë Ångström-Lefèvre", "00999123", date(1971, 2, 3)),
            DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1),
            tech,
            vials=[VialRecord(lot="LT2291", expiry=date(2027, 5, 31))] * 2,  # the two the dose needs
            product_confirmed=True,
            monograph=BESPONSA,
        )
        prep_id = status.id
        verify_order_by_another(service, prep_id, pharmacist)
        service.record_event(prep_id, E.RECONSTITUTED, tech)
        clock.advance(minutes=15)
        service.record_event(prep_id, E.DILUTED, tech, details={"storage": "room"})
        clock.advance(minutes=5)
        service.record_event(prep_id, E.VERIFIED, pharmacist, details=checked(service, prep_id))
        service.set_setting("label_queue", LABEL_QUEUE, pharmacist)
        service.set_setting("sheet_queue", SHEET_QUEUE, pharmacist)
        yield service, clock, prep_id, tech


def test_a_label_printed_after_labelling_is_marked_reprint_with_its_time_and_audited(cups, labelled):
    service, clock, prep_id, tech = labelled
    documents = DocumentService(service)
    first = documents.label(prep_id)
    assert not first.reprint
    before = count(cups, LABEL_QUEUE)
    job = print_document(first, service.settings().label_queue)
    documents.record_issued(first, tech.name, f"queue {job.queue}")
    assert "REPRINT" not in text_of(printed(cups, LABEL_QUEUE, before))
    service.record_event(prep_id, E.LABELLED, tech)
    clock.advance(minutes=30)
    again = documents.label(prep_id)
    assert again.reprint
    before = count(cups, LABEL_QUEUE)
    print_document(again, service.settings().label_queue)
    documents.record_issued(again, tech.name, "queue")
    text = text_of(printed(cups, LABEL_QUEUE, before))
    assert f"REPRINT {again.printed_at}" in text and again.printed_at.startswith("2026-03-10")
    actions = [(e.action, e.subject) for e in service.audit_entries()]
    assert ("document.printed", prep_id) in actions and ("document.reprinted", prep_id) in actions
    assert service.verify_audit().intact


def test_no_printer_set_and_a_queue_gone_are_clear_messages(cups, labelled):
    service, _clock, prep_id, _tech = labelled
    label = DocumentService(service).label(prep_id)
    with pytest.raises(PrintError) as error:
        print_document(label, "")
    assert "no label printer is set" in error.value.message and "Settings" in error.value.message
    cups.add_pdf_queue("ip-gone-" + str(os.getpid()))
    cups.remove_queue("ip-gone-" + str(os.getpid()))
    with pytest.raises(PrintError) as error:
        print_document(label, "ip-gone-" + str(os.getpid()))
    assert "is not known to the print system" in error.value.message
    result = run_cli("print", "label", "--demo", "--queue", "ip-gone-" + str(os.getpid()), env={"CUPS_SERVER": str(cups.socket)})
    assert result.code == 1 and "Traceback" not in result.stderr and "not printed" in result.stderr


def test_every_sheet_page_carries_the_audit_anchor_of_its_printing(labelled):
    import io as _io

    service, _clock, prep_id, _tech = labelled
    sheet = DocumentService(service).sheet(prep_id)
    anchor = service.audit_anchor_text()
    assert anchor.startswith("audit ")
    pages = [" ".join((p.extract_text() or "").split()) for p in PdfReader(_io.BytesIO(sheet.pdf)).pages]
    assert all(anchor in page for page in pages)
