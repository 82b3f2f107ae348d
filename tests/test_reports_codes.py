"""The machine-readable codes decode back to the preparation id, read off the rendered PDF page.

Each PDF is rasterised as a printer would (poppler's pdftoppm when installed, and always Qt's
PDF renderer, the one the GUI preview uses) and decoded with zxing-cpp.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import zxingcpp
from PIL import Image

from tests.drugs import BESPONSA
from infusion_app.reports import parse_label_size, render_bag_label, render_prep_sheet
from infusion_app.reports.demo import demo_preparation, demo_sheet_data
from infusion_app.reports.label import code_modules

NEW_YORK = ZoneInfo("America/New_York")
RENDERERS = ["qtpdf", "pdftoppm"]


@pytest.fixture(autouse=True)
def qt_application(qapp):
    """QtPdf needs an application object: pytest-qt's, so the GUI tests of the same run share it."""
    return qapp


def rasterise(pdf: Path, renderer: str, dpi: int = 300, page: int = 0) -> Image.Image:
    if renderer == "pdftoppm":
        if shutil.which("pdftoppm") is None:
            pytest.skip("poppler-utils (pdftoppm) is not installed; the Qt renderer still decodes the codes")
        prefix = pdf.with_suffix("")
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(dpi), "-f", str(page + 1), "-l", str(page + 1), "-singlefile", str(pdf), str(prefix)],
            check=True,
        )
        with Image.open(f"{prefix}.png") as rendered_page:
            return rendered_page.convert("L")
    from PySide6.QtCore import QSize
    from PySide6.QtPdf import QPdfDocument

    document = QPdfDocument()
    assert document.load(str(pdf)) == QPdfDocument.Error.None_
    points = document.pagePointSize(page)
    image = document.render(page, QSize(round(points.width() * dpi / 72), round(points.height() * dpi / 72)))
    png = pdf.with_suffix(".qt.png")
    assert image.save(str(png))
    with Image.open(png) as rendered:
        # Qt renders onto a transparent page; paper is white.
        paper = Image.new("RGBA", rendered.size, "white")
        paper.alpha_composite(rendered.convert("RGBA"))
    return paper.convert("L")


def decoded(image: Image.Image) -> list[tuple[str, str]]:
    return [(str(result.format).replace("BarcodeFormat.", ""), result.text) for result in zxingcpp.read_barcodes(image)]


def data_with_id(prep_id: str):
    prep = demo_preparation(BESPONSA)
    prep.id = prep_id
    return demo_sheet_data(tz=NEW_YORK, prep=prep)


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("prep_id, size", [("BSP-7K3QX", "102x51mm"), ("BSP-A2B9C", "3x2in"), ("DEMO-0001", "4x6in")])
def test_the_label_qr_code_decodes_to_the_preparation_id(tmp_path, renderer, prep_id, size):
    pdf = tmp_path / "label.pdf"
    render_bag_label(data_with_id(prep_id), pdf, size=parse_label_size(size))
    # 203 dpi: the resolution of common thermal label printers.
    results = decoded(rasterise(pdf, renderer, dpi=203))
    assert [text for fmt, text in results if "QR" in fmt] == [prep_id]


@pytest.mark.slow
@pytest.mark.parametrize("renderer", RENDERERS)
def test_every_sheet_page_has_a_code128_of_the_preparation_id(tmp_path, renderer):
    pdf = tmp_path / "sheet.pdf"
    render_prep_sheet(data_with_id("BSP-7K3QX"), pdf)
    from pypdf import PdfReader

    pages = len(PdfReader(pdf).pages)
    assert pages >= 2
    for page in range(pages):
        results = decoded(rasterise(pdf, renderer, dpi=200, page=page))
        assert [text for fmt, text in results if fmt.replace(" ", "").endswith("Code128")] == ["BSP-7K3QX"], f"page {page + 1}: {results}"


def test_the_qr_matrix_is_a_real_qr_code_with_finder_patterns():
    modules = code_modules("BSP-7K3QX")
    count = len(modules)
    assert count >= 21 and (count - 17) % 4 == 0  # QR sizes are 21, 25, 29, ... modules
    finder = [row[:7] for row in modules[:7]]
    assert finder[0] == [True] * 7 and finder[3] == [True, False, True, True, True, False, True]


def test_a_different_id_gives_a_different_code():
    assert code_modules("BSP-7K3QX") != code_modules("BSP-7K3QY")


def test_rendering_to_a_stream_gives_the_same_code(tmp_path):
    stream = io.BytesIO()
    render_bag_label(data_with_id("BSP-7K3QX"), stream)
    pdf = tmp_path / "stream.pdf"
    pdf.write_bytes(stream.getvalue())
    assert [t for f, t in decoded(rasterise(pdf, "qtpdf", dpi=203)) if "QR" in f] == ["BSP-7K3QX"]
