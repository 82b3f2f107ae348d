"""The desktop program's print actions against a real CUPS server (tests/cups_server.py): the
label in one click to the site's label queue, a clear message without a queue, REPRINT after
labelling, and Print… sending the PDF itself to a CUPS queue chosen in the system dialog."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtPrintSupport import QPrinter
from pypdf import PdfReader

from infusion_app.gui import bench_wizard as bw
from infusion_app.gui.bench_wizard import BenchWizard
from infusion_app.gui.print_preview import PrintPreview
from infusion_app.gui.printing import DocumentPrinter
from infusion_app.domain.records import EventType
from tests.cups_server import CupsUnavailable, start_cups_server

QUEUE = f"ip-gui-labels-{os.getpid()}"
SHEETS = f"ip-gui-sheets-{os.getpid()}"


@pytest.fixture(scope="module")
def cups():
    try:
        server = start_cups_server()
    except CupsUnavailable as exc:
        pytest.fail(f"the CUPS test server could not start: {exc}", pytrace=False)
    previous = os.environ.get("CUPS_SERVER")
    try:
        server.add_pdf_queue(QUEUE)
        server.add_pdf_queue(SHEETS)
        os.environ["CUPS_SERVER"] = str(server.socket)
        yield server
    finally:
        if previous is None:
            os.environ.pop("CUPS_SERVER", None)
        else:
            os.environ["CUPS_SERVER"] = previous
        server.stop()


def open_label_page(qtbot, service, technician, make_preparation):
    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified"))
    wizard = BenchWizard(service, technician, prep_id)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.currentId() == bw.LABEL
    return wizard, prep_id


def text(path) -> str:
    return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(path).pages)


def test_print_label_without_a_queue_set_says_so_and_nothing_crashes(qtbot, cups, service, technician, make_preparation):
    wizard, _prep_id = open_label_page(qtbot, service, technician, make_preparation)
    page = wizard.currentPage()
    qtbot.mouseClick(page.print_label_button, Qt.MouseButton.LeftButton)
    assert page.refusal.isVisible() and "no label printer is set" in page.refusal.text()


def test_print_label_is_one_click_to_the_label_queue_and_a_reprint_after_labelling_says_so(
    qtbot, cups, service, technician, pharmacist, make_preparation, clock
):
    service.set_setting("label_queue", QUEUE, pharmacist)
    wizard, prep_id = open_label_page(qtbot, service, technician, make_preparation)
    page = wizard.currentPage()
    qtbot.mouseClick(page.print_label_button, Qt.MouseButton.LeftButton)
    assert not page.refusal.isVisible(), page.refusal.text()
    assert f"sent to {QUEUE}" in page.status.text()
    [first] = cups.wait_for_output(QUEUE, 1)
    page_one = PdfReader(first).pages[0]
    assert sorted((float(page_one.mediabox.width), float(page_one.mediabox.height))) == pytest.approx([144, 288], abs=1.5)
    assert "REPRINT" not in text(first)

    service.record_event(prep_id, EventType.LABELLED, technician)
    clock.advance(minutes=20)
    messages = []
    printer = DocumentPrinter(service, technician, None, warn=lambda *args: messages.append(args[2]))
    job = printer.print_label_now(prep_id)
    assert job is not None and messages == []
    second = cups.wait_for_output(QUEUE, 2)[-1]
    assert "REPRINT" in text(second)
    actions = [e.action for e in service.audit_entries() if e.subject == prep_id]
    assert "document.printed" in actions and actions[-1] == "document.reprinted"


def test_print_in_the_preview_sends_the_pdf_itself_to_the_cups_queue_chosen(qtbot, cups, service, technician, pharmacist, make_preparation, monkeypatch):
    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified"))

    def choose_queue(printer: QPrinter, parent) -> bool:
        printer.setPrinterName(SHEETS)
        return True

    # Qt reads the print system's queues once per process: when an earlier test made a QPrinter
    # before this test's CUPS server existed, Qt drops the unknown name. The user's choice is
    # what the dialog set, so read it back as the dialog left it.
    monkeypatch.setattr(PrintPreview, "_printer_name", staticmethod(lambda printer: printer.printerName() or SHEETS))

    printer = DocumentPrinter(service, technician, None, run_print_dialog=choose_queue, choose_save_path=lambda *_: None)
    dialog = printer.preview(prep_id, "sheet", show=False)
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.print_button, Qt.MouseButton.LeftButton)
    assert f"Sent to {SHEETS}" in dialog.status.text(), dialog.status.text()
    [out] = cups.wait_for_output(SHEETS, 1)
    assert "Preparation sheet" in text(out) and "Administration" in text(out)
    assert "document.printed" in [e.action for e in service.audit_entries() if e.subject == prep_id]


def test_the_board_reprints_the_selected_label_with_ctrl_p_and_the_chair_with_its_button(
    qtbot, cups, service, technician, nurse, pharmacist, make_preparation, clock
):
    from PySide6.QtGui import QKeySequence

    from infusion_app.gui.chair import ChairPage
    from infusion_app.gui.main_window import MainWindow

    service.set_setting("label_queue", QUEUE, pharmacist)
    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified", "labelled", "dispensed"))
    already = len(list(cups.outputs[QUEUE].glob("*.pdf")))

    window = MainWindow(service, technician, repaint_ms=60_000, sound=False)
    qtbot.addWidget(window)
    window.show()
    warnings = []
    window.print_warn = lambda _parent, _title, text: warnings.append(text)
    window.board.selectRow(0)
    assert window.board.selected_id() == prep_id
    assert window.print_label_action.shortcut() == QKeySequence("Ctrl+P")
    window.print_label_action.trigger()
    assert warnings == []
    from_board = cups.wait_for_output(QUEUE, already + 1)[-1]
    assert "REPRINT" in text(from_board)

    chair = ChairPage(service, nurse)
    qtbot.addWidget(chair)
    chair.show()
    chair.scan_field.setText(prep_id)
    qtbot.keyClick(chair.scan_field, Qt.Key.Key_Return)
    assert chair.reprint_button.isVisible()
    clock.advance(minutes=5)
    qtbot.mouseClick(chair.reprint_button, Qt.MouseButton.LeftButton)
    assert f"sent to {QUEUE}" in chair.scan_message.text(), chair.scan_message.text()
    from_chair = cups.wait_for_output(QUEUE, already + 2)[-1]
    assert "REPRINT" in text(from_chair)
    reprints = [e for e in service.audit_entries() if e.subject == prep_id and e.action == "document.reprinted"]
    assert [e.actor for e in reprints] == [technician.name, nurse.name]


def test_without_a_selection_the_board_says_what_to_do(qtbot, service, technician):
    from infusion_app.gui.main_window import MainWindow

    window = MainWindow(service, technician, repaint_ms=60_000, sound=False)
    qtbot.addWidget(window)
    warnings = []
    window.print_warn = lambda _parent, _title, text: warnings.append(text)
    window.print_label_action.trigger()
    assert warnings and "Select a preparation" in warnings[0]


def test_ctrl_p_in_the_wizard_after_labelling_reprints_from_the_page_in_view(qtbot, cups, service, technician, pharmacist, make_preparation):
    service.set_setting("label_queue", QUEUE, pharmacist)
    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified", "labelled"))
    already = len(list(cups.outputs[QUEUE].glob("*.pdf")))
    wizard = BenchWizard(service, technician, prep_id)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.currentId() == bw.DISPENSE
    from PySide6.QtGui import QKeySequence

    assert wizard.print_shortcut.key() == QKeySequence("Ctrl+P")
    wizard.print_shortcut.activated.emit()  # offscreen windows never become active for a key shortcut
    page = wizard.currentPage()
    assert not page.refusal.isVisible(), page.refusal.text()
    assert f"sent to {QUEUE}" in page.print_status.text()
    assert "REPRINT" in text(cups.wait_for_output(QUEUE, already + 1)[-1])


def test_one_click_prints_the_label_and_the_sheet_each_to_its_queue(qtbot, cups, service, technician, pharmacist, make_preparation):
    """Issue 12 minors: one action prints label and sheet together."""
    service.set_setting("label_queue", QUEUE, pharmacist)
    service.set_setting("sheet_queue", SHEETS, pharmacist)
    wizard, prep_id = open_label_page(qtbot, service, technician, make_preparation)
    page = wizard.currentPage()
    labels_before, sheets_before = (len(list(cups.outputs[q].glob("*.pdf"))) for q in (QUEUE, SHEETS))
    qtbot.mouseClick(page.print_both_button, Qt.MouseButton.LeftButton)
    assert not page.refusal.isVisible(), page.refusal.text()
    assert f"sent to {QUEUE}" in page.status.text() and f"sent to {SHEETS}" in page.status.text()
    label = cups.wait_for_output(QUEUE, labels_before + 1)[-1]
    sheet = cups.wait_for_output(SHEETS, sheets_before + 1)[-1]
    assert "Preparation sheet" in text(sheet) and "Preparation sheet" not in text(label)
    printed = [e.action for e in service.audit_entries() if e.subject == prep_id and e.action == "document.printed"]
    assert len(printed) == 2
