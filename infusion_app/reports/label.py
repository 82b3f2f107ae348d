"""The bag label: the last thing a nurse reads before hanging a hazardous drug.

A page exactly the size of the label stock (4 x 2 in, 102 x 51 mm, by default). Lines are laid
out top-down; each is shrunk to fit its width (measured with the embedded font's metrics), and
the whole label is scaled down until every line fits the height. A long name may take two lines;
only as a last resort is it cut with an ellipsis. The MRN is never cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.units import inch, mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from ..domain.errors import ValidationError
from .fonts import BOLD, REGULAR, register_fonts, text_width
from .model import SheetData

DEFAULT_LABEL_SIZE = (102 * mm, 51 * mm)
DEFAULT_LABEL_SIZE_TEXT = "102x51mm"
# Thermal label stock the layout is meant for: from 2 x 1 in up to a 4 x 6 in (or 6 x 4 in) label.
LABEL_WIDTH_RANGE_MM = (50.0, 160.0)
LABEL_HEIGHT_RANGE_MM = (25.0, 160.0)
LEADING = 1.16
SMALLEST_SCALE = 0.45
ABSOLUTE_MIN_FONT = 3.5  # below this no printer renders a readable glyph; only the MRN goes here

_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[x×]\s*(\d+(?:\.\d+)?)\s*(mm|in)\s*$", re.IGNORECASE)


def parse_label_size(text: str) -> tuple[float, float]:
    """'102x51mm', '4x2in', '100 x 50 mm' -> (width, height) in points. ValidationError('label-size') otherwise."""
    match = _SIZE_PATTERN.match(text or "")
    accepted = (
        f"WIDTHxHEIGHT with mm or in, e.g. {DEFAULT_LABEL_SIZE_TEXT} or 4x2in; width "
        f"{LABEL_WIDTH_RANGE_MM[0]:g} to {LABEL_WIDTH_RANGE_MM[1]:g} mm, height "
        f"{LABEL_HEIGHT_RANGE_MM[0]:g} to {LABEL_HEIGHT_RANGE_MM[1]:g} mm"
    )
    if not match:
        raise ValidationError("label-size", f"'{text}' is not accepted; must be {accepted}")
    unit = mm if match.group(3).lower() == "mm" else inch
    width, height = float(match.group(1)) * unit, float(match.group(2)) * unit
    check_label_size((width, height), text)
    return width, height


def check_label_size(size: tuple[float, float], shown: str | None = None) -> None:
    width_mm, height_mm = size[0] / mm, size[1] / mm
    if not (LABEL_WIDTH_RANGE_MM[0] - 0.5 <= width_mm <= LABEL_WIDTH_RANGE_MM[1] + 0.5) or not (
        LABEL_HEIGHT_RANGE_MM[0] - 0.5 <= height_mm <= LABEL_HEIGHT_RANGE_MM[1] + 0.5
    ):
        shown = shown or f"{width_mm:g}x{height_mm:g}mm"
        raise ValidationError(
            "label-size",
            f"'{shown}' is not accepted; width must be {LABEL_WIDTH_RANGE_MM[0]:g} to {LABEL_WIDTH_RANGE_MM[1]:g} mm "
            f"and height {LABEL_HEIGHT_RANGE_MM[0]:g} to {LABEL_HEIGHT_RANGE_MM[1]:g} mm",
        )


# -- layout -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelLine:
    text: str
    bold: bool = False
    size: float = 7.0  # at full scale
    min_size: float = 5.0
    wrap: int = 1  # how many lines it may take
    never_cut: bool = False  # an identifier: shrink as far as needed, never an ellipsis
    inverse: bool = False  # white on black (the hazard line)
    gap_before: float = 0.0


@dataclass(frozen=True)
class PlacedText:
    text: str
    font: str
    size: float
    x: float
    baseline: float
    width: float
    inverse: bool = False


@dataclass(frozen=True)
class LabelLayout:
    width: float
    height: float
    texts: list[PlacedText]
    code_box: tuple[float, float, float]  # x, y, side of the 2D code
    scale: float


def label_lines(data: SheetData) -> list[LabelLine]:
    blank = "__________"
    prepared = data.prepared or f"{blank} by {blank}"
    return [
        LabelLine(data.patient_name, bold=True, size=10, min_size=6, wrap=2),
        LabelLine(f"MRN {data.mrn}   DOB {data.date_of_birth}", bold=True, size=8, min_size=5.5, never_cut=True),
        LabelLine(f"{data.generic_name} ({data.brand_name})", size=8, min_size=5.5, gap_before=1.5),
        LabelLine(data.dose, bold=True, size=17, min_size=10),
        LabelLine(data.vehicle_line, size=7.5, min_size=5),
        LabelLine(f"Final concentration {data.final_concentration}", size=7.5, min_size=5),
        LabelLine(data.route_rate, bold=True, size=7.5, min_size=5),
        LabelLine(f"Prepared {prepared}", size=6.5, min_size=4.5, gap_before=1.5),
        LabelLine(f"Checked by {data.checked_by or blank}", size=6.5, min_size=4.5),
        LabelLine(f"START BY {data.start_by}", bold=True, size=8.5, min_size=5.5, gap_before=1.5, never_cut=True),
        LabelLine(f"DISCARD AFTER {data.discard_after}", bold=True, size=8.5, min_size=5.5, never_cut=True),
        LabelLine(" · ".join(data.storage), size=6.5, min_size=4.5, wrap=2, gap_before=1),
        LabelLine(data.hazard, bold=True, size=7, min_size=4.5, inverse=True, gap_before=2, never_cut=True),
    ]


def _cut(text: str, font: str, size: float, width: float) -> str:
    while text and text_width(text + "…", font, size) > width:
        text = text[:-1].rstrip()
    return text + "…"


def _fit_line(line: LabelLine, font: str, size: float, min_size: float, avail: float) -> list[tuple[str, float]]:
    """The physical lines (text, font size) `line` takes in `avail` points of width."""
    natural = text_width(line.text, font, size)
    if natural <= avail:
        return [(line.text, size)]
    shrunk = size * avail / natural
    if shrunk >= min_size:
        return [(line.text, shrunk)]
    if line.wrap > 1:
        for wrap_size in (size, *(size * f for f in (0.9, 0.8, 0.7, 0.6))):
            wrap_size = max(wrap_size, min_size)
            parts = _split(line.text, font, wrap_size, avail)
            if len(parts) <= line.wrap and all(text_width(p, font, wrap_size) <= avail for p in parts):
                return [(p, wrap_size) for p in parts]
        parts = _split(line.text, font, min_size, avail)
        fitted = [(p, min(min_size, min_size * avail / max(text_width(p, font, min_size), 0.01))) for p in parts[: line.wrap]]
        if len(parts) > line.wrap:
            rest = " ".join(parts[line.wrap - 1 :])
            fitted[-1] = (_cut(rest, font, min_size, avail), min_size)
        return [(t, s) if s >= min_size or line.never_cut else (_cut(t, font, min_size, avail), min_size) for t, s in fitted]
    if line.never_cut:
        return [(line.text, max(shrunk, ABSOLUTE_MIN_FONT))]
    return [(_cut(line.text, font, min_size, avail), min_size)]


def _split(text: str, font: str, size: float, avail: float) -> list[str]:
    """Split at spaces and hyphens (a hyphenated name breaks after its hyphen)."""
    pieces = re.findall(r"[^\s-]+-?|-", text)
    lines: list[str] = []
    current = ""
    for piece in pieces:
        joiner = "" if current.endswith("-") or not current else " "
        candidate = current + joiner + piece if current else piece
        if current and text_width(candidate, font, size) > avail:
            lines.append(current)
            current = piece
        else:
            current = candidate
    if current:
        lines.append(current)
    # Words longer than the width on their own stay as they are; the caller shrinks or cuts them.
    return lines or [text]


def layout_bag_label(data: SheetData, size: tuple[float, float] = DEFAULT_LABEL_SIZE) -> LabelLayout:
    """Place every line of the label; the largest scale at which everything fits wins."""
    register_fonts()
    check_label_size(size)
    width, height = size
    margin = max(2 * mm, min(width, height) * 0.045)
    code_side = min(22 * mm, height * 0.45, width * 0.26)
    id_size = 6.5
    code_x = width - margin - code_side
    code_y = height - margin - code_side
    code_bottom = code_y - id_size * LEADING  # the id printed under the code
    lines = label_lines(data)
    attempt: LabelLayout | None = None
    scale = 1.0
    while True:
        texts = [PlacedText(data.prep_id, BOLD, id_size, code_x + (code_side - text_width(data.prep_id, BOLD, id_size)) / 2, code_y - id_size, text_width(data.prep_id, BOLD, id_size))]
        top = height - margin
        for line in lines:
            font = BOLD if line.bold else REGULAR
            top -= line.gap_before * scale
            # Lines beside the code are narrower; once below it, a line has the whole width.
            beside_code = top > code_bottom
            right_edge = code_x - 1.5 * mm if beside_code else width - margin
            avail = right_edge - margin - (4 if line.inverse else 0)
            for text, font_size in _fit_line(line, font, line.size * scale, line.min_size * min(scale, 1), avail):
                baseline = top - font_size * 0.95
                x = margin + (2 if line.inverse else 0)
                texts.append(PlacedText(text, font, font_size, x, baseline, text_width(text, font, font_size), line.inverse))
                top -= font_size * LEADING
        attempt = LabelLayout(width, height, texts, (code_x, code_y, code_side), scale)
        if top >= margin * 0.6 or scale <= SMALLEST_SCALE:
            return attempt
        scale = round(scale - 0.04, 2)


# -- drawing ----------------------------------------------------------------------------------


def code_drawing(value: str, side: float) -> Drawing:
    """The 2D code (QR, error correction M, with its quiet zone) carrying `value`, `side` points square."""
    widget = QrCodeWidget(value, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(side, side, transform=[side / (x1 - x0), 0, 0, side / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def render_bag_label(data: SheetData, out: str | Path | BinaryIO, size: tuple[float, float] = DEFAULT_LABEL_SIZE) -> None:
    """Write the bag label as a one-page PDF whose page is exactly the label stock."""
    layout = layout_bag_label(data, size)
    target = str(out) if isinstance(out, Path) else out
    canvas = Canvas(target, pagesize=(layout.width, layout.height), pageCompression=1)
    canvas.setTitle(f"Bag label {data.prep_id}")
    canvas.setAuthor(f"infusion-prep {data.program_version}")
    canvas.setSubject(f"{data.generic_name} {data.dose}")
    canvas.setCreator("infusion-prep")
    x, y, side = layout.code_box
    renderPDF.draw(code_drawing(data.prep_id, side), canvas, x, y)
    for placed in layout.texts:
        if placed.inverse:
            canvas.setFillColor(colors.black)
            canvas.rect(placed.x - 2, placed.baseline - placed.size * 0.3, placed.width + 4, placed.size * 1.22, stroke=0, fill=1)
            canvas.setFillColor(colors.white)
        else:
            canvas.setFillColor(colors.black)
        canvas.setFont(placed.font, placed.size)
        canvas.drawString(placed.x, placed.baseline, placed.text)
    canvas.setFillColor(colors.black)
    canvas.showPage()
    canvas.save()
