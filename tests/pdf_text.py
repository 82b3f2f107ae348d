"""Reading back what a generated PDF says, and where: shared by the sheet and label tests."""

from __future__ import annotations

import re

from reportlab.pdfbase.pdfmetrics import stringWidth

from infusion_app.reports.fonts import register_fonts


def flat(text: str) -> str:
    """Paragraphs wrap anywhere: compare text with line breaks taken out."""
    return re.sub(r"\s+", " ", text)


def text_runs(page) -> list[tuple[str, float, float, float, float]]:
    """(text, x, y, width, font size) of every text run on the page, in page coordinates."""
    register_fonts()
    runs = []

    def visit(text, cm, tm, font, size):
        if not text.strip() or not font:
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        scale = (tm[0] * cm[0]) or 1
        face = str(font["/BaseFont"]).split("+")[-1]
        for line in text.splitlines():
            if line.strip():
                runs.append((line, x, y, stringWidth(line, face, size * scale), size))

    page.extract_text(visitor_text=visit)
    return runs
