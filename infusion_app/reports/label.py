"""The bag label: the last thing a nurse reads before hanging a hazardous drug.

A page exactly the size of the label stock (4 x 2 in by default). Lines are laid
out top-down; each is shrunk to fit its width (measured with the embedded font's metrics), and
the whole label is scaled down until every line fits the height. A long name may take three lines;
only as a last resort is it cut with an ellipsis. The MRN is never cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from reportlab.graphics.barcode import qrencoder
from reportlab.lib import colors
from reportlab.lib.units import inch, mm
from reportlab.pdfbase.pdfmetrics import getAscentDescent
from reportlab.pdfgen.canvas import Canvas

from ..domain.errors import ValidationError
from .fonts import BOLD, REGULAR, draw_text, register_fonts, text_width
from .model import NOT_YET_RECONSTITUTED, SheetData

# The one default stock everywhere (settings, command line, --demo, the GUI): 4 x 2 in.
DEFAULT_LABEL_SIZE = (4 * inch, 2 * inch)
DEFAULT_LABEL_SIZE_TEXT = "4x2in"
# Thermal label stock the layout is meant for: from 3 x 1.5 in up to a 4 x 6 in (or 6 x 4 in) label.
# Smaller stock cannot carry every ISMP element at a size a nurse can read.
LABEL_WIDTH_RANGE_MM = (70.0, 160.0)
LABEL_HEIGHT_RANGE_MM = (38.0, 160.0)
LARGEST_SCALE = 2.2
ACCENTED_CAPITAL_HEIGHT = 0.93  # DejaVu Sans: top of É and Å, as a fraction of the font size
LINE_GAP = 0.03  # between one line's descent and the next line's ascent, as a fraction of the size
SMALLEST_SCALE = 0.45
# No text on any stock is smaller than this; a stock that cannot hold the label at it is refused.
MIN_FONT = 6.0
# A hand-written date and 24-hour time with its zone ("2026-03-10 09:20 EDT") fits in this, in bold too.
TIME_BLANK = "_" * 26


class LabelDoesNotFit(Exception):
    """A line cannot be printed whole at MIN_FONT in the stock's width."""


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
    # Left off when the label cannot hold every line at its smallest print (the sheet still has it).
    optional: bool = False


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


def _together(text: str) -> str:
    """Never broken across two lines (no-break spaces)."""
    return text.replace(" ", "\u00a0")


def label_lines(data: SheetData) -> list[LabelLine]:
    blank = TIME_BLANK
    prepared = data.prepared or f"{blank} by ________"

    def deadline(text: str) -> str:
        # Before reconstitution there is no time yet: a line to write it on, and why it is empty.
        return f"{blank} ({text})" if text == NOT_YET_RECONSTITUTED else _together(text)

    lines = [
        LabelLine(data.patient_name, bold=True, size=10, min_size=MIN_FONT, wrap=3),
        LabelLine(f"{_together('MRN ' + data.mrn)}   {_together('DOB ' + data.date_of_birth)}", bold=True, size=8, min_size=MIN_FONT, never_cut=True, wrap=2),
        LabelLine(f"{data.generic_name} ({data.brand_name})", size=8, min_size=MIN_FONT, gap_before=1.5),
        LabelLine(data.dose, bold=True, size=17, min_size=10),
        LabelLine(data.vehicle_line, size=7.5, min_size=MIN_FONT, wrap=2),
        # How the dose was drawn, for the checker: optional, so a small stock that holds the rest still prints.
        *([LabelLine(data.draw_line, size=6.5, min_size=MIN_FONT, wrap=2, optional=True)] if data.draw_line else []),
        LabelLine(f"Final concentration {data.final_concentration}", size=7.5, min_size=MIN_FONT),
        LabelLine(data.route_rate, bold=True, size=7.5, min_size=MIN_FONT, wrap=2),
        *([LabelLine(data.label_filter, bold=True, size=7.5, min_size=MIN_FONT, never_cut=True, wrap=2)] if data.label_filter else []),
        LabelLine(f"Prepared {prepared}", size=6.5, min_size=MIN_FONT, gap_before=1.5, wrap=2),
        LabelLine(f"Checked by {data.checked_by or blank}", size=6.5, min_size=MIN_FONT, wrap=2),
        # The latest start is the discard point: a bag not started by then is never hung.
        LabelLine(
            f"DO NOT START AFTER {deadline(data.do_not_start_after)} (discard)", bold=True, size=8.5, min_size=MIN_FONT, gap_before=1.5, never_cut=True, wrap=2
        ),
        LabelLine(f"INFUSION MUST END BY {deadline(data.must_end_by)}", bold=True, size=8.5, min_size=MIN_FONT, never_cut=True, wrap=2),
    ]
    if data.out_of_fridge_by:
        lines.append(LabelLine(f"OUT OF FRIDGE BY {_together(data.out_of_fridge_by)}", bold=True, size=8.5, min_size=MIN_FONT, never_cut=True, wrap=2))
    lines += [
        LabelLine(" · ".join(data.storage), size=6.5, min_size=MIN_FONT, wrap=3, gap_before=1),
        LabelLine(data.hazard, bold=True, size=7, min_size=MIN_FONT, inverse=True, gap_before=2, never_cut=True, wrap=2),
    ]
    if data.reprint_at:
        lines.append(LabelLine(f"REPRINT {data.reprint_at}", bold=True, size=8, min_size=MIN_FONT, inverse=True, gap_before=1.5, never_cut=True))
    return lines


def line_extent(font: str, size: float) -> tuple[float, float]:
    """How far a line's glyphs reach above and below its baseline (descent negative).

    The font's ascent covers capitals but not the accent on a capital (É, Å): those reach higher.
    """
    ascent, descent = getAscentDescent(font, size)
    return max(ascent, ACCENTED_CAPITAL_HEIGHT * size), descent


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
    # A line that may wrap shrinks only a little; past that, two lines read better than tiny print.
    # An identifier or a deadline shrinks as far as it may before it is broken in two.
    if line.wrap <= 1:
        threshold = min_size
    else:
        threshold = max(min_size, size * (0.7 if line.never_cut else 0.85))
    if shrunk >= threshold:
        return [(line.text, shrunk)]
    if line.wrap > 1:
        wrap_size = size
        while True:
            parts = _split(line.text, font, wrap_size, avail, at_hyphens=not line.never_cut)
            if len(parts) <= line.wrap and all(text_width(p, font, wrap_size) <= avail for p in parts):
                return [(p, wrap_size) for p in parts]
            if wrap_size <= min_size:
                break
            wrap_size = max(min_size, wrap_size * 0.93)
        if line.never_cut:
            raise LabelDoesNotFit(line.text)
        # Last resort: the smallest size, the lines it may take, and an ellipsis where even that is too long.
        parts = _split(line.text, font, min_size, avail)
        if len(parts) > line.wrap:
            parts = [*parts[: line.wrap - 1], _join(parts[line.wrap - 1 :])]
        return [(p if text_width(p, font, min_size) <= avail else _cut(p, font, min_size, avail), min_size) for p in parts]
    if line.never_cut:
        raise LabelDoesNotFit(line.text)
    return [(_cut(line.text, font, min_size, avail), min_size)]


def _join(parts: list[str]) -> str:
    return "".join(p if i == 0 or parts[i - 1].endswith("-") else " " + p for i, p in enumerate(parts))


def _split(text: str, font: str, size: float, avail: float, at_hyphens: bool = True) -> list[str]:
    """Split at spaces and hyphens (a hyphenated name breaks after its hyphen; an MRN or a date never)."""
    # Without hyphens, only ordinary spaces break: a no-break space holds "MRN 123" or a date and time together.
    pieces = re.findall(r"[^\s-]+-?|-", text) if at_hyphens else [p for p in text.split(" ") if p]
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
    # Larger stock gets larger text: start from the size ratio to the default stock, then shrink.
    scale = min(LARGEST_SCALE, max(1.0, width / DEFAULT_LABEL_SIZE[0], height / DEFAULT_LABEL_SIZE[1]))
    code_side = min(22 * mm * scale, height * 0.45, width * 0.26)
    # The id printed under the code, for typing when a scanner fails; never cut.
    id_size = min(6.5 * scale, 6.5 * code_side / text_width(data.prep_id, BOLD, 6.5))
    id_width = text_width(data.prep_id, BOLD, id_size)
    code_x = width - margin - code_side
    code_y = height - margin - code_side
    code_bottom = code_y - id_size * 1.2
    lines = label_lines(data)
    first_scale = scale
    while True:
        texts = [PlacedText(data.prep_id, BOLD, id_size, code_x + (code_side - id_width) / 2, code_y - id_size, id_width)]
        top = height - margin
        for line in lines:
            font = BOLD if line.bold else REGULAR
            top -= line.gap_before * scale
            # Lines beside the code are narrower; once below it, a line has the whole width.
            beside_code = top > code_bottom
            right_edge = code_x - 1.5 * mm if beside_code else width - margin
            avail = right_edge - margin - (4 if line.inverse else 0)
            try:
                fitted = _fit_line(line, font, max(line.size * scale, line.min_size), line.min_size, avail)
            except LabelDoesNotFit as exc:
                raise _refuse_stock(width, height, f"'{exc}' does not fit its width at {MIN_FONT:g} pt") from None
            for text, font_size in fitted:
                # From the font's real extent, so a large dose's descender never touches the next line.
                ascent, descent = line_extent(font, font_size)
                baseline = top - ascent
                x = margin + (2 if line.inverse else 0)
                texts.append(PlacedText(text, font, font_size, x, baseline, text_width(text, font, font_size), line.inverse))
                top = baseline + descent - font_size * LINE_GAP
        # The hazard box reaches a little below its line; keep it clear of the printer's dead edge.
        if top >= margin * 0.8 + 1:
            return LabelLayout(width, height, texts, (code_x, code_y, code_side), scale)
        if scale <= SMALLEST_SCALE and any(line.optional for line in lines):
            lines, scale = [line for line in lines if not line.optional], first_scale
            continue
        if scale <= SMALLEST_SCALE:
            raise _refuse_stock(width, height, f"the label's lines do not fit its height at {MIN_FONT:g} pt")
        scale = round(scale - 0.04, 2)


def _refuse_stock(width: float, height: float, why: str) -> ValidationError:
    return ValidationError(
        "label-size",
        f"{width / inch:.3g} x {height / inch:.3g} in ({width / mm:.0f} x {height / mm:.0f} mm) cannot hold this label: "
        f"{why}; choose a larger stock such as {DEFAULT_LABEL_SIZE_TEXT}",
    )


# -- drawing ----------------------------------------------------------------------------------


QUIET_ZONE_MODULES = 4  # the QR standard's blank margin, needed by every scanner


def code_modules(value: str) -> list[list[bool]]:
    """The QR code (error correction M) carrying `value`, as rows of dark (True) modules, top row first."""
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(value)
    code.make()
    return [list(map(bool, row)) for row in code.modules]


def draw_code(canvas: Canvas, value: str, x: float, y: float, side: float) -> None:
    """Draw the 2D code with its quiet zone in the square (x, y, side), one rectangle per dark run.

    Drawn straight on the canvas rather than through renderPDF, whose initial state would add an
    unembedded Helvetica to the page.
    """
    modules = code_modules(value)
    count = len(modules)
    module = side / (count + 2 * QUIET_ZONE_MODULES)
    origin_x = x + QUIET_ZONE_MODULES * module
    top = y + side - QUIET_ZONE_MODULES * module
    canvas.saveState()
    canvas.setFillColor(colors.white)
    canvas.rect(x, y, side, side, stroke=0, fill=1)
    canvas.setFillColor(colors.black)
    path = canvas.beginPath()
    for row_index, row in enumerate(modules):
        column = 0
        while column < count:
            if not row[column]:
                column += 1
                continue
            run_start = column
            while column < count and row[column]:
                column += 1
            path.rect(origin_x + run_start * module, top - (row_index + 1) * module, (column - run_start) * module, module)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def render_bag_label(data: SheetData, out: str | Path | BinaryIO, size: tuple[float, float] = DEFAULT_LABEL_SIZE) -> None:
    """Write the bag label as a one-page PDF whose page is exactly the label stock."""
    if data.discarded:
        from ..domain.preparation import StepRefused

        # The sheet stays printable as the record; a label would put a discarded dose back on a bag.
        raise StepRefused("preparation_discarded", f"preparation {data.prep_id} was discarded: no label is printed for it")
    layout = layout_bag_label(data, size)
    target = str(out) if isinstance(out, Path) else out
    canvas = Canvas(target, pagesize=(layout.width, layout.height), pageCompression=1, initialFontName=REGULAR, initialFontSize=7)
    canvas.setTitle(f"Bag label {data.prep_id}")
    canvas.setAuthor(f"infusion-prep {data.program_version}")
    canvas.setSubject(f"{data.generic_name} {data.dose}")
    canvas.setCreator("infusion-prep")
    if data.sample:
        from .sheet import draw_sample_mark

        draw_sample_mark(canvas, layout.width, layout.height)
    x, y, side = layout.code_box
    draw_code(canvas, data.prep_id, x, y, side)
    for placed in layout.texts:
        if placed.inverse:
            canvas.setFillColor(colors.black)
            ascent, descent = line_extent(placed.font, placed.size)
            canvas.rect(placed.x - 2, placed.baseline + descent, placed.width + 4, ascent - descent, stroke=0, fill=1)
            canvas.setFillColor(colors.white)
        else:
            canvas.setFillColor(colors.black)
        draw_text(canvas, placed.x, placed.baseline, placed.text, placed.font, placed.size)
    canvas.setFillColor(colors.black)
    canvas.showPage()
    canvas.save()
