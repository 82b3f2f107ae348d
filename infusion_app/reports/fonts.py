"""The fonts embedded in every PDF, and how a line of any script is set in them.

DejaVu Sans (Latin, Greek, Cyrillic and the symbols the sheets use), Noto Sans Arabic and Noto Sans
Hebrew are shipped in resources/fonts/ (about 2 MB together). CJK names use Droid Sans Fallback from
the Debian package fonts-droid-fallback (4 MB, read from the system rather than shipped again);
without it CJK characters are reported as unprintable, never drawn as empty boxes.

A line is split into runs, one per font and direction: the order of the runs on the line comes
from the Unicode bidirectional algorithm (python-bidi), and each run is shaped by HarfBuzz
(uharfbuzz, through reportlab's shaping support), so Arabic letters join and right-to-left names
read right to left. `unprintable(text)` names the characters no embedded font has, so that the
program can say so at entry and before printing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
ARABIC, ARABIC_BOLD = "NotoSansArabic", "NotoSansArabic-Bold"
HEBREW, HEBREW_BOLD = "NotoSansHebrew", "NotoSansHebrew-Bold"
CJK = "DroidSansFallback"

_SHIPPED = {
    REGULAR: "DejaVuSans.ttf",
    BOLD: "DejaVuSans-Bold.ttf",
    ARABIC: "NotoSansArabic-Regular.ttf",
    ARABIC_BOLD: "NotoSansArabic-Bold.ttf",
    HEBREW: "NotoSansHebrew-Regular.ttf",
    HEBREW_BOLD: "NotoSansHebrew-Bold.ttf",
}
# Debian's fonts-droid-fallback (the bold face is the same file: CJK has no bold in this family).
SYSTEM_CJK = (Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),)


@cache
def register_fonts() -> tuple[str, str]:
    """Register every face once per process; returns (regular, bold) font names."""
    fonts_dir = resources.files("infusion_app.resources").joinpath("fonts")
    for name, filename in _SHIPPED.items():
        with resources.as_file(fonts_dir.joinpath(filename)) as path:
            pdfmetrics.registerFont(TTFont(name, str(path)))
    for path in SYSTEM_CJK:
        if path.exists():
            pdfmetrics.registerFont(TTFont(CJK, str(path)))
            break
    # So that <b> inside a Paragraph picks the bold face instead of a fake bold.
    addMapping(REGULAR, 0, 0, REGULAR)
    addMapping(REGULAR, 1, 0, BOLD)
    addMapping(REGULAR, 0, 1, REGULAR)
    addMapping(REGULAR, 1, 1, BOLD)
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD)
    return REGULAR, BOLD


@cache
def _cmap(name: str) -> frozenset[int]:
    register_fonts()
    try:
        font = pdfmetrics.getFont(name)
    except KeyError:
        return frozenset()
    return frozenset(font.face.charToGlyph)


def _candidates(bold: bool) -> list[str]:
    """The faces tried for a character, in order: the script's own face before DejaVu's."""
    return [ARABIC_BOLD if bold else ARABIC, HEBREW_BOLD if bold else HEBREW, BOLD if bold else REGULAR, CJK]


def _script_face(ch: str, bold: bool) -> str | None:
    code = ord(ch)
    if 0x0600 <= code <= 0x08FF or 0xFB50 <= code <= 0xFDFF or 0xFE70 <= code <= 0xFEFF:
        return ARABIC_BOLD if bold else ARABIC
    if 0x0590 <= code <= 0x05FF or 0xFB1D <= code <= 0xFB4F:
        return HEBREW_BOLD if bold else HEBREW
    return None


def face_for(ch: str, bold: bool = False) -> str | None:
    """The embedded face that has a glyph for `ch`, or None."""
    preferred = _script_face(ch, bold)
    if preferred and ord(ch) in _cmap(preferred):
        return preferred
    base = BOLD if bold else REGULAR
    if ord(ch) in _cmap(base):
        return base
    for name in _candidates(bold):
        if ord(ch) in _cmap(name):
            return name
    return None


def _ignorable(ch: str) -> bool:
    # Joiners, marks of direction and the like print nothing and need no glyph.
    return unicodedata.category(ch) in ("Cf", "Cc") or ch in " \u00a0"


def unprintable(text: str, bold: bool = False) -> list[str]:
    """The distinct characters of `text` that no embedded font can print, in order of appearance."""
    register_fonts()
    missing: list[str] = []
    for ch in text:
        if not _ignorable(ch) and face_for(ch, bold) is None and ch not in missing:
            missing.append(ch)
    return missing


def describe_unprintable(text: str) -> str:
    """'' when every character prints; else a sentence naming them, for the screen."""
    missing = unprintable(text) or unprintable(text, bold=True)
    if not missing:
        return ""
    names = ", ".join(f"'{ch}' (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')})" for ch in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return f"cannot be printed on the label or sheet (no font here has them): {names}{more}"


# -- runs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    text: str  # in logical order; shaped when drawn
    font: str
    rtl: bool


def _levels(text: str) -> list[tuple[int, int]]:
    """(logical index, embedding level) of each character, in visual order (UAX #9 via python-bidi)."""
    from bidi import algorithm

    storage = algorithm.get_empty_storage()
    base = algorithm.get_base_level(text)
    storage["base_level"] = base
    storage["base_dir"] = ("L", "R")[base]
    algorithm.get_embedding_levels(text, storage)
    for index, char in enumerate(storage["chars"]):
        char["index"] = index
    algorithm.explicit_embed_and_overrides(storage, False)
    algorithm.resolve_weak_types(storage, False)
    algorithm.resolve_neutral_types(storage, False)
    algorithm.resolve_implicit_levels(storage, False)
    algorithm.reorder_resolved_levels(storage, False)
    return [(char["index"], char["level"]) for char in storage["chars"]]


def _has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL", "RLE", "RLO", "RLI") for ch in text)


def runs(text: str, bold: bool = False) -> list[Run]:
    """The runs of `text` in visual order (left to right on the page), each in one face and direction."""
    register_fonts()
    base = BOLD if bold else REGULAR
    faces: list[str] = []
    for ch in text:
        face = None if _ignorable(ch) else face_for(ch, bold)
        faces.append(face or (faces[-1] if faces else base))
    if not _has_rtl(text):
        order = [(i, 0) for i in range(len(text))]
    else:
        order = _levels(text)
    result: list[Run] = []
    start = 0
    while start < len(order):
        index, level = order[start]
        rtl = level % 2 == 1
        end = start + 1
        step = -1 if rtl else 1
        while end < len(order):
            next_index, next_level = order[end]
            if next_level % 2 != level % 2 or next_index != order[end - 1][0] + step or faces[next_index] != faces[index]:
                break
            end += 1
        indices = [i for i, _ in order[start:end]]
        low, high = min(indices), max(indices)
        piece = text[low : high + 1]
        if rtl and not _has_rtl(piece):
            # Neutrals inside right-to-left text (", " between two Hebrew names): HarfBuzz would set
            # them left to right, so they are given in visual order, brackets mirrored.
            from bidi.mirror import MIRRORED

            piece = "".join(MIRRORED.get(ch, ch) for ch in reversed(piece))
        result.append(Run(piece, faces[index], rtl))
        start = end
    return result


# Kerning and the required ligatures only: discretionary ligatures ('dlig', on in reportlab's
# default) turn a typed "محمد" into the decorated Muhammad ligature with vowel marks nobody typed.
NAME_FEATURES = {"kern": True, "liga": True, "dlig": False}


def _shaped(run: Run, size: float):
    from reportlab.lib.abag import ABag
    from reportlab.pdfbase.ttfonts import shapeFragWord

    word = [pdfmetrics.stringWidth(run.text, run.font, size), (ABag(fontName=run.font, fontSize=size), run.text)]
    return shapeFragWord(word, features=NAME_FEATURES, force=True)[1][1]


def _run_width(run: Run, size: float) -> float:
    shaped = _shaped(run, size)
    data = getattr(shaped, "__shapeData__", None)
    if data:
        return sum(g.x_advance for g in data) * size / 1000
    return pdfmetrics.stringWidth(run.text, run.font, size)


def is_plain(text: str, font: str) -> bool:
    """One face, left to right: reportlab draws it as it is."""
    if font not in (REGULAR, BOLD):
        return True
    cmap = _cmap(font)
    return not _has_rtl(text) and all(ord(ch) in cmap or _ignorable(ch) for ch in text)


def text_width(text: str, font: str, size: float) -> float:
    """The printed width of `text` in the face family of `font` (BOLD or REGULAR) at `size`."""
    register_fonts()
    if is_plain(text, font):
        return pdfmetrics.stringWidth(text, font, size)
    return sum(_run_width(run, size) for run in runs(text, bold=font == BOLD))


def draw_text(canvas, x: float, y: float, text: str, font: str, size: float) -> float:
    """Draw `text` with its left edge at x; every script in its face, shaped, in visual order. Returns the width."""
    register_fonts()
    if is_plain(text, font):
        canvas.setFont(font, size)
        canvas.drawString(x, y, text)
        return pdfmetrics.stringWidth(text, font, size)
    start = x
    for run in runs(text, bold=font == BOLD):
        canvas.setFont(run.font, size)
        shaped = _shaped(run, size)
        canvas.drawString(x, y, shaped)
        x += _run_width(run, size)
    return x - start


def draw_right_text(canvas, x: float, y: float, text: str, font: str, size: float) -> None:
    draw_text(canvas, x - text_width(text, font, size), y, text, font, size)
