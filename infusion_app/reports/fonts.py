"""The fonts embedded in every PDF: DejaVu Sans, shipped in resources/fonts/.

The standard PDF fonts (Helvetica) have no glyph for ≤, and a printer substitutes whatever it
has for accented or non-Latin names; an embedded TrueType font prints the same everywhere.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"

_FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}


@cache
def register_fonts() -> tuple[str, str]:
    """Register the two faces once per process; returns (regular, bold) font names."""
    fonts_dir = resources.files("infusion_app.resources").joinpath("fonts")
    for name, filename in _FILES.items():
        with resources.as_file(fonts_dir.joinpath(filename)) as path:
            pdfmetrics.registerFont(TTFont(name, str(path)))
    # So that <b> inside a Paragraph picks the bold face instead of a fake bold.
    addMapping(REGULAR, 0, 0, REGULAR)
    addMapping(REGULAR, 1, 0, BOLD)
    addMapping(REGULAR, 0, 1, REGULAR)
    addMapping(REGULAR, 1, 1, BOLD)
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD)
    return REGULAR, BOLD


def text_width(text: str, font: str, size: float) -> float:
    register_fonts()
    return pdfmetrics.stringWidth(text, font, size)
