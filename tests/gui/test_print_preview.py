"""The print preview: loads a PDF made by infusion_app.reports, saves a copy, prints to a PDF printer."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt
from PySide6.QtPrintSupport import QPrinter

from tests.drugs import BESPONSA
from infusion_app.gui.print_preview import PrintPreview


@pytest.fixture
def demo_pdf(tmp_path: Path) -> Path:
    """The prep sheet of infusion_app.reports' sample preparation (what `sheet --demo` prints)."""
    from infusion_app.reports import render_prep_sheet
    from infusion_app.reports.demo import demo_sheet_data

    path = tmp_path / "sheet.pdf"
    render_prep_sheet(demo_sheet_data(monograph=BESPONSA), str(path), page_size="letter")
    return path


@pytest.fixture
def demo_label(tmp_path: Path) -> Path:
    from infusion_app.reports import DEFAULT_LABEL_SIZE, render_bag_label
    from infusion_app.reports.demo import demo_sheet_data

    path = tmp_path / "label.pdf"
    render_bag_label(demo_sheet_data(monograph=BESPONSA), str(path), size=DEFAULT_LABEL_SIZE)
    return path


def _refuse(*_args):
    raise AssertionError("a modal system dialog would have opened in a test")


def test_preview_loads_the_demo_pdf_and_save_writes_a_copy(qtbot, demo_pdf, tmp_path):
    target = tmp_path / "out" / "copy"
    target.parent.mkdir()
    dialog = PrintPreview(
        demo_pdf,
        "Prep sheet",
        choose_save_path=lambda parent, name: str(target),
        run_print_dialog=_refuse,
    )
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.page_count() == len(PdfReader(demo_pdf).pages) > 0
    assert dialog.print_button.isEnabled()

    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)

    written = target.with_suffix(".pdf")
    assert written.read_bytes() == demo_pdf.read_bytes()
    assert str(written) in dialog.status.text()


def test_cancelled_save_writes_nothing(qtbot, demo_pdf, tmp_path):
    dialog = PrintPreview(demo_pdf, "Prep sheet", choose_save_path=lambda *_: None, run_print_dialog=_refuse)
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert list(tmp_path.iterdir()) == [demo_pdf]


def test_print_sends_every_page_at_the_pdf_page_size(qtbot, demo_pdf, tmp_path):
    printed = tmp_path / "printed.pdf"

    def print_to_file(printer: QPrinter, parent) -> bool:
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(printed))
        # A 300 dpi printer, as a person may pick in the dialog: the page sizes checked here do not
        # depend on it, and the PDF printer's default 1200 dpi made each letter page a 0.5 GB
        # picture (about 30 s of the suite on the loaded CI machine).
        printer.setResolution(300)
        return True

    dialog = PrintPreview(demo_pdf, "Prep sheet", choose_save_path=_refuse, run_print_dialog=print_to_file)
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.print_button, Qt.MouseButton.LeftButton)

    source = PdfReader(demo_pdf)
    result = PdfReader(printed)
    assert len(result.pages) == len(source.pages)
    for ours, theirs in zip(result.pages, source.pages):
        assert float(ours.mediabox.width) == pytest.approx(float(theirs.mediabox.width), abs=1.5)
        assert float(ours.mediabox.height) == pytest.approx(float(theirs.mediabox.height), abs=1.5)


def test_cancelled_print_sends_nothing(qtbot, demo_pdf):
    dialog = PrintPreview(demo_pdf, "Prep sheet", choose_save_path=_refuse, run_print_dialog=lambda *_: False)
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.print_button, Qt.MouseButton.LeftButton)
    assert "cancelled" in dialog.status.text().lower()


def test_a_broken_file_disables_print_and_save(qtbot, tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"not a pdf")
    dialog = PrintPreview(broken, "Prep sheet", choose_save_path=_refuse, run_print_dialog=_refuse)
    qtbot.addWidget(dialog)
    assert not dialog.print_button.isEnabled()
    assert not dialog.save_button.isEnabled()
    assert "Could not open" in dialog.status.text()


def test_a_label_is_shown_whole_and_printed_at_its_own_size(qtbot, demo_label, tmp_path):
    printed = tmp_path / "label-printed.pdf"

    def print_to_file(printer: QPrinter, parent) -> bool:
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(printed))
        return True

    dialog = PrintPreview(demo_label, "Bag label", choose_save_path=_refuse, run_print_dialog=print_to_file)
    qtbot.addWidget(dialog)
    assert dialog.page_count() == 1
    assert dialog.whole_page_button.isChecked()  # a small landscape page is shown whole
    qtbot.mouseClick(dialog.print_button, Qt.MouseButton.LeftButton)
    source, result = PdfReader(demo_label).pages[0], PdfReader(printed).pages[0]
    assert float(result.mediabox.width) == pytest.approx(float(source.mediabox.width), abs=1.5)
    assert float(result.mediabox.height) == pytest.approx(float(source.mediabox.height), abs=1.5)
