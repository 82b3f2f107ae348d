"""The prep sheet: the paper that travels with the bag from the bench to the chair.

Laid out with platypus so that nothing can overflow: every value is a wrapping Paragraph in a
table with fixed column widths, and a long name, many vials or a long override note simply
push the rest onto the next page. Every page carries the patient, the preparation id and a
footer with the id as a Code 128 barcode and "page X of Y".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from ..domain.errors import ValidationError
from .fonts import BOLD, REGULAR, draw_text, is_plain, register_fonts, text_width
from .model import SheetData

PAPER_SIZES = {"letter": letter, "a4": A4}

MARGIN = 14 * mm
HEADER_HEIGHT = 9 * mm
FOOTER_HEIGHT = 17 * mm
GRID = colors.Color(0.55, 0.55, 0.55)
SHADE = colors.Color(0.92, 0.92, 0.92)
ALERT = colors.Color(0.75, 0, 0)
FOOTER_BAR_WIDTH = 1.45  # points per Code 128 module
CHECKBOX = "☐"
CHECKED = "☑"


def paper_size(paper: str) -> tuple[float, float]:
    try:
        return PAPER_SIZES[paper.strip().lower()]
    except (KeyError, AttributeError):
        raise ValidationError("paper", f"'{paper}' is not accepted; must be letter or a4") from None


# -- styles -------------------------------------------------------------------------------------


def _styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    body = ParagraphStyle("body", fontName=REGULAR, fontSize=8.5, leading=10.5)
    return {
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.5, leading=9),
        "bold": ParagraphStyle("bold", parent=body, fontName=BOLD),
        "heading": ParagraphStyle("heading", parent=body, fontName=BOLD, fontSize=10.5, leading=13, spaceBefore=4, spaceAfter=1.5),
        "title": ParagraphStyle("title", parent=body, fontName=BOLD, fontSize=13, leading=16),
        "patient": ParagraphStyle("patient", parent=body, fontName=BOLD, fontSize=14, leading=17),
        "dose": ParagraphStyle("dose", parent=body, fontName=BOLD, fontSize=16, leading=19),
        "alert": ParagraphStyle("alert", parent=body, fontName=BOLD, textColor=ALERT),
        "boxed": ParagraphStyle("boxed", parent=body, fontName=BOLD, fontSize=8.5, leading=10.5),
        "checkbox": ParagraphStyle("checkbox", parent=body, fontSize=11, leading=12),
        "cell_head": ParagraphStyle("cell_head", parent=body, fontName=BOLD, fontSize=8, leading=9.5),
    }


def _p(text: str, style: ParagraphStyle) -> Flowable:
    """A paragraph of plain text (escaped: a name may hold & or <).

    Text that needs another script's face or right-to-left order (a CJK, Arabic or Hebrew name,
    anywhere on the sheet) is set by ScriptText instead: shaped, in visual order, wrapped at spaces.
    """
    font = BOLD if style.fontName == BOLD else REGULAR
    if not is_plain(text, font):
        return ScriptText(text, font, style.fontSize, style.leading, style.textColor)
    return Paragraph(escape(text), style)


class ScriptText(Flowable):
    """Lines of any script, drawn through fonts.draw_text, wrapped at spaces to the width given."""

    def __init__(self, text: str, font: str, size: float, leading: float, color=colors.black):
        super().__init__()
        self.text, self.font, self.size, self.leading, self.color = text, font, size, leading, color
        self._lines: list[str] = [text]

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:  # noqa: D102
        lines: list[str] = []
        current = ""
        for word in self.text.split(" "):
            candidate = f"{current} {word}" if current else word
            if current and text_width(candidate, self.font, self.size) > available_width:
                lines.append(current)
                current = word
            else:
                current = candidate
        lines.append(current)
        self._lines = lines
        self.width = available_width
        self.height = self.leading * len(lines)
        return available_width, self.height

    def draw(self) -> None:
        self.canv.setFillColor(self.color)
        for number, line in enumerate(self._lines, start=1):
            baseline = self.height - number * self.leading + (self.leading - self.size) / 2 + self.size * 0.2
            draw_text(self.canv, 0, baseline, line, self.font, self.size)


def _grid_style(header: bool = True, extra: Sequence[tuple] = (), grid: bool = True) -> TableStyle:
    commands = [
        # A table sets its cells' font even when they hold paragraphs: Helvetica unless told.
        ("FONTNAME", (0, 0), (-1, -1), REGULAR),
        *([("GRID", (0, 0), (-1, -1), 0.5, GRID)] if grid else []),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), SHADE))
    return TableStyle([*commands, *extra])


def _table(rows: list[list], widths: Sequence[float], header: bool = True, extra: Sequence[tuple] = (), grid: bool = True) -> Table:
    # splitInRow: a row taller than a page (a very long note) continues on the next page.
    table = Table(rows, colWidths=list(widths), repeatRows=1 if header else 0, splitInRow=1)
    table.setStyle(_grid_style(header, extra, grid))
    return table


def _section(title: str, body: list[Flowable], s: dict[str, ParagraphStyle]) -> KeepTogether:
    """A heading kept with its content, so that no heading is left alone at the foot of a page."""
    return KeepTogether([_p(title, s["heading"]), *body])


def _writing_space(height: float = 13) -> Spacer:
    """Room in an empty cell for a hand-written entry."""
    return Spacer(1, height)


def _label_value_table(rows, width: float, s, label_share: float = 0.27) -> Table:
    label_width = width * label_share
    data = [[_p(r.label, s["bold"]), _p(r.value, s["body"])] for r in rows]
    return _table(data, [label_width, width - label_width], header=False)


# -- the story ------------------------------------------------------------------------------------


def _story(data: SheetData, width: float) -> list[Flowable]:
    s = _styles()
    story: list[Flowable] = []

    story.append(_p(f"Preparation sheet: {data.generic_name} ({data.brand_name})", s["title"]))
    story.append(Spacer(1, 3))

    # Patient: name on its own full-width line so that any length wraps instead of overflowing.
    patient = [
        [_p(data.patient_name, s["patient"])],
        [_p(f"MRN {data.mrn}  ·  Date of birth {data.date_of_birth}  ·  Preparation {data.prep_id}", s["bold"])],
    ]
    story.append(_table(patient, [width], header=False, extra=[("BOX", (0, 0), (-1, -1), 1.2, colors.black)], grid=False))
    story.append(Spacer(1, 4))

    alerts = [f"HARD STOP: {h}" for h in data.hard_stops] + [f"Warning: {w}" for w in data.warnings]
    if alerts:
        story.append(_table([[_p(a, s["alert"])] for a in alerts], [width], header=False, extra=[("BOX", (0, 0), (-1, -1), 1.5, ALERT)]))
        story.append(Spacer(1, 4))

    # The order, with the dose large beside it.
    dose_width = 45 * mm
    order = _label_value_table(data.order, width - dose_width - 4, s, label_share=0.24)
    dose = _table(
        [
            [_p("Dose", s["bold"])],
            [_p(data.dose, s["dose"])],
            [_p(f"{data.vehicle_line}; {data.final_concentration}", s["small"])],
            [_p(data.route_rate, s["small"])],
        ],
        [dose_width - 4],
        header=False,
        extra=[("BOX", (0, 0), (-1, -1), 1.2, colors.black)],
        grid=False,
    )
    side_by_side = Table([[order, dose]], colWidths=[width - dose_width, dose_width])
    side_by_side.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), REGULAR),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
                ("LEFTPADDING", (1, 0), (1, 0), 4),
            ]
        )
    )
    story.append(_section("The order", [side_by_side], s))
    if data.pending_verification:
        pending = "; ".join(p.split(":", 1)[0] for p in data.pending_verification)
        story.append(_p(f"Values pending pharmacist review against the current label: {pending}", s["small"]))

    if data.course:
        story.append(_section("Treatment course", [_label_value_table(data.course, width, s)], s))

    if data.policy is not None:
        policy_rows = [[_p("Decision", s["bold"]), _p(data.policy.decision, s["bold"])]]
        policy_rows += [[_p(r.label, s["body"]), _p(r.value, s["body"])] for r in data.policy.criteria]
        if not data.policy.meets_criteria:
            # When every criterion is met the reasons only restate them; otherwise they say what is missing.
            policy_rows += [[_p("Reason", s["body"]), _p(r, s["body"])] for r in data.policy.reasons]
        title = "Payer policy" + (f" ({data.policy.source})" if data.policy.source else "")
        story.append(_section(title, [_table(policy_rows, [0.16 * width, 0.84 * width], header=False)], s))
    else:
        story.append(_section("Payer policy", [_p("No payer-policy check is recorded with this preparation.", s["body"])], s))

    premed_rows = [[_p(h, s["cell_head"]) for h in ("Class", "Due", "Drug", "Dose", "Given at", "Initials")]]
    premed_rows += [
        [
            _p(r.drug_class, s["body"]),
            _p(r.due, s["body"]),
            _p(r.drug, s["body"]) if r.drug else _writing_space(),
            _p(r.dose, s["body"]),
            _p(r.time, s["body"]),
            _p(r.initials, s["body"]),
        ]
        for r in data.premedication
    ]
    premed_widths = [0.15 * width, 0.21 * width, 0.25 * width, 0.11 * width, 0.18 * width, 0.1 * width]
    story.append(_section("Premedication (before every dose)", [_table(premed_rows, premed_widths)], s))

    vial_rows = [[_p(h, s["cell_head"]) for h in ("#", "Lot", "Expiry", "NDC", "Serial")]]
    vial_rows += [
        [_p(str(v.number), s["body"]), _p(v.lot, s["body"]), _p(v.expiry, s["body"]), _p(v.ndc, s["body"]), _p(v.serial, s["body"])] for v in data.vials
    ]
    # Blank lines to fill in by hand for vials not yet recorded.
    for number in range(len(data.vials) + 1, data.vials_needed + 1):
        vial_rows.append([_p(str(number), s["body"]), _writing_space(), "", "", ""])
    # The expiry holds a date and a local time with its zone (AI 7003) on one line: '2026-12-03 10:00 CEST'.
    vial_widths = [0.06 * width, 0.22 * width, 0.24 * width, 0.2 * width, 0.28 * width]
    vials_note = _p(f"Vials needed: {data.vials_needed}; vials recorded: {len(data.vials)}", s["small"])
    story.append(_section("Vials", [_table(vial_rows, vial_widths), vials_note], s))

    for title, steps in (("Reconstitution", data.reconstitution_steps), ("Dilution and check", data.dilution_steps)):
        rows = [[_p(h, s["cell_head"]) for h in ("", "Step", "Done (time, initials)")]]
        rows += [[_p(CHECKED if st.done else CHECKBOX, s["checkbox"]), _p(st.text, s["body"]), _p(st.done, s["body"])] for st in steps]
        story.append(_section(title, [_table(rows, [0.06 * width, 0.66 * width, 0.28 * width], extra=[("VALIGN", (0, 1), (0, -1), "MIDDLE")])], s))

    admin_rows = [[_p(h, s["cell_head"]) for h in ("At the chair", "Date and time (24-hour)", "Initials")]]
    admin_rows += [
        [
            [_p(r.step, s["body"]), _p(r.detail, s["small"])] if r.detail else _p(r.step, s["body"]),
            _p(r.at, s["body"]) if r.at else _writing_space(16),
            _p(r.initials, s["body"]),
        ]
        for r in data.administration
    ]
    story.append(_section("Administration", [_table(admin_rows, [0.5 * width, 0.34 * width, 0.16 * width])], s))

    timeline_rows = [[_p(h, s["cell_head"]) for h in ("Deadline", "Date and time (24-hour)", "How it is set", "When printed")]]
    timeline_rows += [[_p(r.label, s["bold"]), _p(r.at, s["bold"]), _p(r.rule, s["small"]), _p(r.state, s["body"])] for r in data.timeline]
    story.append(_section("Timeline", [_table(timeline_rows, [0.19 * width, 0.26 * width, 0.41 * width, 0.14 * width])], s))

    handling = [_p(f"• {note}", s["body"]) for note in data.handling_notes]
    story.append(_section("Handling", handling, s))

    boxed = [[_p("WARNING (boxed warning)", s["boxed"])]] + [[_p(w, s["boxed"])] for w in data.boxed_warning]
    story.append(Spacer(1, 5))
    # Kept in one piece: split at a page end, its heading stood alone in an open box at the foot of a page.
    story.append(KeepTogether([_table(boxed, [width], header=False, extra=[("BOX", (0, 0), (-1, -1), 2, colors.black)], grid=False)]))
    if data.other_warnings:
        # The label's other warnings, below the boxed one and never inside its box.
        lines = [_p(f"• {w}", s["body"]) for w in data.other_warnings]
        lines.append(_p(f"Source: {data.other_warnings_source}", s["small"]))
        story.append(_section("Warnings and precautions", lines, s))

    if data.overrides:
        rows = [[_p(note, s["body"])] for note in data.overrides]
        story.append(_section("Overrides and notes", [_table(rows, [width], header=False, extra=[("BOX", (0, 0), (-1, -1), 1.2, ALERT)])], s))

    story.append(_section("Billing", [_label_value_table(data.billing, width, s, label_share=0.22)], s))

    story.append(_p(f"Numbers from {data.label_revision}.", s["small"]))
    sign_rows = [[_p(h, s["cell_head"]) for h in ("", "Name", "Signature", "Date and time")]]
    sign_rows += [[_p(sig.role, s["bold"]), _p(sig.name, s["body"]), _writing_space(20), _p(sig.at, s["body"])] for sig in data.signatures]
    story.append(_section("Signatures", [_table(sign_rows, [0.17 * width, 0.3 * width, 0.3 * width, 0.23 * width])], s))
    return story


# -- header, footer and page numbers ------------------------------------------------------------


def _sources_line(label_revision: str, room: float, min_size: float = 6) -> str:
    """The footer's sources: their first part whole when it fits, else where they stand in full. Never
    cut: 'Numbers from US prescribing information as reproduced by ... Pfizer medica…' named a source
    half, on every page of the sheet of a drug whose sources are long."""
    first = label_revision.split(" (")[0]
    candidates = [f"Numbers from {first}" + (" (in full above the signatures)" if " (" in label_revision else ""), f"Numbers from {first}"]
    if " (" not in label_revision:
        candidates = candidates[1:]
    for text in candidates:
        if text_width(text, REGULAR, min_size) <= room:
            return text
    return "Numbers from the sources given in full above the signatures"


def _fit_text(text: str, font: str, size: float, width: float, min_size: float = 6) -> tuple[str, float]:
    """Shrink to fit `width`; below `min_size`, cut with an ellipsis."""
    if text_width(text, font, size) <= width:
        return text, size
    size = max(min_size, size * width / text_width(text, font, size))
    while text and text_width(text + "…", font, size) > width:
        text = text[:-1]
    return (text + "…" if text_width(text, font, size) > 0 else text), size


SAMPLE_MARK = "SAMPLE: NOT FOR PATIENT USE"


def draw_sample_mark(canvas: Canvas, width: float, height: float) -> None:
    """A faint diagonal mark across a demo page, so that a sample never passes for a real order."""
    canvas.saveState()
    canvas.setFillColor(ALERT)
    canvas.setFillAlpha(0.16)
    canvas.translate(width / 2, height / 2)
    canvas.rotate(math.degrees(math.atan2(height, width)))
    diagonal = math.hypot(width, height)
    size = 0.7 * diagonal / (text_width(SAMPLE_MARK, BOLD, 1) or 1)
    canvas.setFont(BOLD, size)
    canvas.drawCentredString(0, -size * 0.35, SAMPLE_MARK)
    canvas.restoreState()


DISCARDED_MARK = "DISCARDED"


def draw_discarded_mark(canvas: Canvas, width: float, height: float) -> None:
    """A diagonal DISCARDED across the page: the record of a dose that must never be given."""
    canvas.saveState()
    canvas.setFillColor(ALERT)
    canvas.setFillAlpha(0.22)
    canvas.translate(width / 2, height / 2)
    canvas.rotate(math.degrees(math.atan2(height, width)))
    size = 0.6 * math.hypot(width, height) / (text_width(DISCARDED_MARK, BOLD, 1) or 1)
    canvas.setFont(BOLD, size)
    canvas.drawCentredString(0, -size * 0.35, DISCARDED_MARK)
    canvas.restoreState()


BANNER_HEIGHT = 5 * mm


def _draw_banner(canvas: Canvas, text: str, page_width: float, top: float) -> None:
    """A white-on-black line under the header, in the body's top margin kept free for it."""
    inner = page_width - 2 * MARGIN
    fitted, size = _fit_text(text, BOLD, 9, inner - 6, min_size=6)
    canvas.saveState()
    canvas.setFillColor(colors.black)
    canvas.rect(MARGIN, top - BANNER_HEIGHT, inner, BANNER_HEIGHT, stroke=0, fill=1)
    canvas.setFillColor(colors.white)
    canvas.setFont(BOLD, size)
    canvas.drawString(MARGIN + 3, top - BANNER_HEIGHT + (BANNER_HEIGHT - size * 0.7) / 2, fitted)
    canvas.restoreState()


def _draw_page_frame(canvas: Canvas, data: SheetData, page: int, pages: int, page_width: float) -> None:
    inner = page_width - 2 * MARGIN
    top = canvas._pagesize[1] - MARGIN
    if data.sample:
        draw_sample_mark(canvas, page_width, canvas._pagesize[1])
    if data.discarded:
        draw_discarded_mark(canvas, page_width, canvas._pagesize[1])
        _draw_banner(canvas, f"DISCARDED {data.discard_reason}", page_width, top - HEADER_HEIGHT - 1)
    elif data.reprint_at:
        _draw_banner(canvas, f"REPRINT {data.reprint_at}", page_width, top - HEADER_HEIGHT - 1)

    # Header: who this page belongs to, on every page (pages get separated).
    canvas.setFont(BOLD, 8)
    right = f"{data.prep_id}  ·  MRN {data.mrn}"
    right_width = text_width(right, BOLD, 8)
    name, size = _fit_text(data.patient_name, BOLD, 8, inner - right_width - 12)
    draw_text(canvas, MARGIN, top - 8, name, BOLD, size)
    canvas.setFont(BOLD, 8)
    canvas.drawRightString(page_width - MARGIN, top - 8, right)
    canvas.setStrokeColor(GRID)
    canvas.setLineWidth(0.5)
    canvas.line(MARGIN, top - HEADER_HEIGHT + 4, page_width - MARGIN, top - HEADER_HEIGHT + 4)

    # Footer: the id as a barcode (a scanner opens the preparation), page X of Y, provenance.
    bottom = MARGIN - 4 * mm
    canvas.line(MARGIN, bottom + FOOTER_HEIGHT - 2, page_width - MARGIN, bottom + FOOTER_HEIGHT - 2)
    # Modules of 1.45 pt are 2.2 pixels at 110 dpi: a fax-quality or low-resolution scan still decodes.
    barcode = Code128(data.prep_id, barHeight=9 * mm, barWidth=FOOTER_BAR_WIDTH, humanReadable=False, quiet=True)
    max_barcode = inner * 0.5
    if barcode.width > max_barcode:
        barcode = Code128(data.prep_id, barHeight=9 * mm, barWidth=FOOTER_BAR_WIDTH * max_barcode / barcode.width, humanReadable=False, quiet=True)
    barcode.drawOn(canvas, MARGIN - barcode.lquiet, bottom + 4.5 * mm)
    canvas.setFont(REGULAR, 7)
    canvas.drawString(MARGIN, bottom + 1.5 * mm, data.prep_id)
    canvas.setFont(BOLD, 9)
    canvas.drawRightString(page_width - MARGIN, bottom + 10 * mm, f"Page {page} of {pages}")
    # Three short lines beside the (wide, low-resolution-proof) barcode instead of one long one.
    room = inner - barcode.width - 8
    for text, height in (
        (f"Printed {data.printed_at}" + (f"  ·  {data.audit_anchor}" if data.audit_anchor else ""), 6.9),
        (f"infusion-prep {data.program_version}  ·  monograph revision {data.monograph_revision}", 4.1),
        (_sources_line(data.label_revision, room), 1.3),
    ):
        fitted, size = _fit_text(text, REGULAR, 6.5, room, min_size=6)
        canvas.setFont(REGULAR, size)
        canvas.drawRightString(page_width - MARGIN, bottom + height * mm, fitted)


class _NumberedCanvas(Canvas):
    """Defers each page's header and footer until the page count is known ("page X of Y")."""

    def __init__(self, *args, draw_frame: Callable[[Canvas, int, int], None], **kwargs):
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []
        self._draw_frame = draw_frame

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._draw_frame(self, number, total)
            super().showPage()
        super().save()


def render_prep_sheet(data: SheetData, out: str | Path | BinaryIO, page_size: str = "letter") -> None:
    """Write the prep sheet as a PDF to a path or a binary file object."""
    size = paper_size(page_size)
    register_fonts()
    width, height = size
    target = str(out) if isinstance(out, Path) else out
    doc = BaseDocTemplate(
        target,
        pagesize=size,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        # Room under the header for the DISCARDED or REPRINT banner on every page.
        topMargin=MARGIN + HEADER_HEIGHT + (BANNER_HEIGHT + 2 if data.discarded or data.reprint_at else 0),
        bottomMargin=MARGIN - 4 * mm + FOOTER_HEIGHT,
        title=f"Prep sheet {data.prep_id}",
        author=f"infusion-prep {data.program_version}",
        subject=f"{data.generic_name} {data.dose}",
        creator="infusion-prep",
        # DejaVu from the first operator on, or reportlab puts an unembedded Helvetica on every page.
        initialFontName=REGULAR,
        initialFontSize=8.5,
    )
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="sheet", frames=[frame])])
    draw = lambda canvas, page, pages: _draw_page_frame(canvas, data, page, pages, width)  # noqa: E731
    doc.build(_story(data, doc.width), canvasmaker=partial(_NumberedCanvas, draw_frame=draw))
