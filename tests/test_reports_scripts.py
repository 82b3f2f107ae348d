"""Every name prints: Latin, Greek, Cyrillic, CJK, Arabic and Hebrew names in embedded fonts, Arabic
joined, right-to-left names in right-to-left order; a character no font has is named, not boxed."""

from __future__ import annotations

import dataclasses
import io
import subprocess

import pytest
from pypdf import PdfReader

from tests.drugs import BESPONSA
from infusion_app.reports import parse_label_size, render_bag_label, render_prep_sheet
from infusion_app.reports.demo import demo_sheet_data
from infusion_app.reports.fonts import ARABIC_BOLD, BOLD, CJK, HEBREW_BOLD, describe_unprintable, runs, unprintable

NAMES = {
    "latin": ("Marie-Hélène Dubois-Lefèvre", "DejaVuSans-Bold"),
    "greek": ("Παπαδοπούλου, Ελένη", "DejaVuSans-Bold"),
    "cyrillic": ("Иванова, Анна Сергеевна", "DejaVuSans-Bold"),
    "cjk": ("王秀英", "DroidSansFallback"),
    "arabic": ("محمد بن عبد الله", "NotoSansArabic-Bold"),
    "hebrew": ("כהן, שרה", "NotoSansHebrew-Bold"),
}


def fonts_used(pdf: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            names.add(str(font.get_object()["/BaseFont"]).split("+")[-1])
    return names


def extracted(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("script", sorted(NAMES))
@pytest.mark.parametrize("kind", ["label-4x2in", "label-4x6in", "sheet-letter", "sheet-a4"])
def test_a_name_in_every_script_is_embedded_in_its_own_font(script, kind, tmp_path):
    name, face = NAMES[script]
    assert unprintable(name, bold=True) == []
    data = dataclasses.replace(demo_sheet_data(monograph=BESPONSA), patient_name=name)
    out = io.BytesIO()
    what, stock = kind.split("-")
    if what == "label":
        render_bag_label(data, out, size=parse_label_size(stock))
    else:
        render_prep_sheet(data, out, page_size=stock)
    assert face in fonts_used(out.getvalue())
    text = extracted(out.getvalue(), tmp_path)
    if script not in ("arabic", "hebrew"):  # a shaped right-to-left run is extracted in glyph order
        flat = " ".join(text.split())
        assert all(word in flat for word in name.split()), (name, flat[:200])


def test_right_to_left_names_read_right_to_left_and_keep_latin_parts_in_place():
    hebrew = runs("כהן, שרה", bold=True)
    # The first word typed (the family name) is drawn rightmost.
    assert [r.text for r in hebrew] == ["שרה", " ,", "כהן"] and all(r.rtl for r in hebrew)
    mixed = runs("Sarah כהן (MRN 12)", bold=True)
    assert [r.text for r in mixed][0] == "Sarah " and mixed[1].text == "כהן" and mixed[1].font == HEBREW_BOLD
    assert mixed[-1].text == "(MRN 12)" and mixed[-1].font == BOLD


def test_arabic_is_shaped_into_joined_forms():
    import uharfbuzz
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import ShapedStr, shapeStr

    [run] = runs("سعيد", bold=True)
    assert run.font == ARABIC_BOLD and run.rtl
    font = pdfmetrics.getFont(ARABIC_BOLD)
    assert font.shapable, "uharfbuzz is installed and the face is shaped"
    assert isinstance(shapeStr(run.text, run.font, 10, force=True), ShapedStr)
    buffer = uharfbuzz.Buffer()
    buffer.add_str(run.text)
    buffer.guess_segment_properties()
    hb_font = font.hbFont(10)
    uharfbuzz.shape(hb_font, buffer, {"kern": True, "liga": True})
    shaped = [info.codepoint for info in buffer.glyph_infos]
    nominal = [hb_font.get_nominal_glyph(ord(ch)) for ch in reversed(run.text)]
    assert shaped != nominal, "the shaper picks joined (initial, medial, final) forms, not the isolated letters"


def test_cjk_comes_from_the_droid_fallback_face():
    assert {r.font for r in runs("王秀英")} == {CJK}


def test_a_character_no_font_has_is_named_before_printing():
    assert unprintable("Zoë 𓀀") == ["𓀀"]
    message = describe_unprintable("Zoë 𓀀")
    assert "U+13000" in message and "cannot be printed" in message
    assert describe_unprintable("王秀英 Παπαδοπούλου محمد כהן") == ""


def test_a_name_prints_as_typed_without_discretionary_ligatures():
    from infusion_app.reports.fonts import _shaped

    # "Muhammad" has a decorated ligature (with vowel marks) that discretionary ligatures would pick.
    [run] = runs("محمد", bold=True)
    assert len(_shaped(run, 10).__shapeData__) == 4, "one glyph per typed letter"
