"""The bag label: exact page size, the ISMP elements, and nothing outside the label, whatever the name."""

from __future__ import annotations

import dataclasses
import io
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from reportlab.lib.units import inch, mm

from tests.drugs import BESPONSA
from infusion_app.domain.errors import ValidationError
from tests.pdf_text import flat, text_runs
from infusion_app.domain.records import Patient
from infusion_app.reports import layout_bag_label, parse_label_size, render_bag_label
from infusion_app.reports.demo import demo_preparation, demo_sheet_data
from infusion_app.reports.fonts import BOLD
from infusion_app.reports.label import label_lines, line_extent

NEW_YORK = ZoneInfo("America/New_York")
LONG_NAME = "Anne-Éléonore-Françoise-Bénédicte-Maëlle-Séverine-Ægidia-Zoë-Øyvind-Ðorđe-Łucja-Şebnem-Żaneta-Ångström-Dubois-Lefèvre-Großmann"
UNBREAKABLE_NAME = "Wolfeschlegelsteinhausenbergerdorffwelchevoralternwarengewissenhaftschaferswessenschafewarenwohlgepflegeundsorgfaltigkeitbeschutzen"


def render(data, size=None) -> PdfReader:
    out = io.BytesIO()
    if size is None:
        render_bag_label(data, out)
    else:
        render_bag_label(data, out, size=size)
    return PdfReader(io.BytesIO(out.getvalue()))


def with_name(data, name):
    return dataclasses.replace(data, patient_name=name)


@pytest.fixture(scope="module")
def demo():
    return demo_sheet_data(program_version="9.9.9", tz=NEW_YORK, monograph=BESPONSA)


def test_default_page_is_exactly_4_by_2_in(demo):
    page = render(demo).pages[0]
    assert len(render(demo).pages) == 1
    assert float(page.mediabox.left) == 0 and float(page.mediabox.bottom) == 0
    assert float(page.mediabox.width) == pytest.approx(4 * inch, abs=0.01)
    assert float(page.mediabox.height) == pytest.approx(2 * inch, abs=0.01)


def test_the_label_carries_every_ismp_element(demo):
    text = flat(render(demo).pages[0].extract_text())
    for expected in [
        "Marie-Hélène Dubois-Lefèvre",
        "MRN 00412873",
        "DOB 1968-04-12",
        "inotuzumab ozogamicin (Besponsa)",
        "1.4 mg",
        "in 0.9% Sodium Chloride, total 50 mL",
        "Final concentration 0.028 mg/mL",
        "IV over 1 hour at 50 mL/h",
        "Prepared 2026-03-10 05:20 EDT by Tomás Ortega",
        "Checked by Priya Raman",
        "DO NOT START AFTER 2026-03-10 09:20 EDT (discard)",
        "INFUSION MUST END BY 2026-03-10 13:00 EDT",
        "Protect from light",
        "Do not shake",
        "Keep at room temperature",
        "HAZARDOUS DRUG: handle and dispose of per policy",
        "DEMO-0001",
    ]:
        assert expected in text, expected
    # Generic name first, in lower case, brand after it.
    assert text.index("inotuzumab ozogamicin") < text.index("Besponsa")


def test_the_dose_is_bold_and_the_largest_text(demo):
    layout = layout_bag_label(demo)
    dose = next(t for t in layout.texts if t.text == "1.4 mg")
    assert dose.font == BOLD
    assert dose.size == max(t.size for t in layout.texts)


def test_fonts_are_embedded(demo):
    page = render(demo).pages[0]
    for font in page["/Resources"]["/Font"].values():
        font = font.get_object()
        assert "DejaVuSans" in str(font["/BaseFont"])
        assert "/FontFile2" in font["/FontDescriptor"].get_object()


def assert_everything_inside(reader: PdfReader):
    page = reader.pages[0]
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    runs = text_runs(page)
    assert runs
    for text, x, y, run_width, size in runs:
        assert x >= 0 and x + run_width <= width + 0.3, f"'{text}' runs off the side: {x:.1f} + {run_width:.1f} > {width:.1f}"
        assert y - 0.25 * size >= 0 and y + size <= height + 0.3, f"'{text}' runs off the top or bottom (y={y:.1f})"
    return runs


def assert_no_overlap(layout):
    """No two placed lines share vertical space unless they sit side by side without touching."""
    boxes = []
    for t in layout.texts:
        ascent, descent = line_extent(t.font, t.size)
        boxes.append((t.x, t.baseline + descent, t.x + t.width, t.baseline + ascent, t.text))
    code_x, code_y, side = layout.code_box
    for index, (x0, y0, x1, y1, text) in enumerate(boxes):
        assert x1 <= layout.width and x0 >= 0 and y0 >= 0 and y1 <= layout.height, text
        if text != layout.texts[0].text:  # every line except the id stays clear of the code
            assert x1 <= code_x or y1 <= code_y, f"'{text}' runs into the 2D code"
        for other in boxes[index + 1 :]:
            separate = x1 <= other[0] or other[2] <= x0 or y1 <= other[1] + 0.01 or other[3] <= y0 + 0.01
            assert separate, f"'{text}' overlaps '{other[4]}'"


STOCKS = ["102x51mm", "4x2in", "3x2in", "4x3in", "4x6in", "6x4in", "100x50mm"]


@pytest.mark.parametrize("size_text", STOCKS)
@pytest.mark.parametrize("name", ["Marie-Hélène Dubois-Lefèvre", LONG_NAME, UNBREAKABLE_NAME])
def test_any_name_on_any_stock_stays_inside_and_keeps_the_mrn_whole(demo, size_text, name):
    size = parse_label_size(size_text)
    data = with_name(demo, name)
    reader = render(data, size)
    page = reader.pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(size, abs=0.01)
    assert_everything_inside(reader)
    layout = layout_bag_label(data, size)
    assert_no_overlap(layout)
    text = flat(page.extract_text())
    assert "MRN 00412873" in text
    assert "DO NOT START AFTER 2026-03-10 09:20 EDT (discard)" in text and "INFUSION MUST END BY 2026-03-10 13:00 EDT" in text
    assert "HAZARDOUS DRUG: handle and dispose of per policy" in text
    assert min(t.size for t in layout.texts) >= 6, "no text below 6 pt on any stock"


@pytest.mark.parametrize("size_text", ["70x38mm", "3x1.5in"])
def test_a_stock_that_cannot_hold_the_label_at_6_pt_is_refused_not_shrunk(demo, size_text):
    with pytest.raises(ValidationError) as error:
        render(demo, parse_label_size(size_text))
    assert error.value.field == "label-size" and "cannot hold this label" in error.value.message and "6 pt" in error.value.message


def test_the_4_by_6_in_label_uses_its_page_with_large_identifiers(demo):
    layout = layout_bag_label(demo, parse_label_size("4x6in"))
    default = layout_bag_label(demo)
    mrn_index = next(i for i, t in enumerate(layout.texts) if flat(t.text).startswith("MRN "))
    name_parts, mrn = layout.texts[1:mrn_index], layout.texts[mrn_index]
    assert "".join(t.text for t in name_parts).replace(" ", "") == demo.patient_name.replace(" ", "")
    assert min(t.size for t in name_parts) >= 1.8 * default.texts[1].size and mrn.size >= 1.5 * default.texts[2].size
    lowest = min(t.baseline for t in layout.texts)
    assert lowest < 0.25 * layout.height, "the text reaches down the page instead of crowding its top"


def test_a_long_hyphenated_name_wraps_in_full_on_the_default_label(demo):
    layout = layout_bag_label(with_name(demo, LONG_NAME))
    name_lines = [t.text for t in layout.texts[1:4]]
    assert "".join(name_lines) == LONG_NAME  # wrapped after hyphens, nothing cut
    assert all(t.size >= 6 for t in layout.texts[1:4])


def test_only_an_unbreakable_name_too_long_for_the_label_is_cut_with_an_ellipsis(demo):
    layout = layout_bag_label(with_name(demo, UNBREAKABLE_NAME))
    printed = "".join(t.text for t in layout.texts if t.text.startswith("Wolfe") or UNBREAKABLE_NAME[:5] in t.text)
    assert printed.endswith("…")
    assert UNBREAKABLE_NAME.startswith(printed.rstrip("…"))


def test_before_dilution_the_label_leaves_lines_to_write_on():
    prep = demo_preparation(BESPONSA)
    prep.events = []
    data = demo_sheet_data(tz=NEW_YORK, prep=prep)
    text = flat(render(data).pages[0].extract_text())
    assert "Prepared __________________________ by ________" in text
    assert "DO NOT START AFTER __________________________ (starts at reconstitution) (discard)" in text
    assert "INFUSION MUST END BY __________________________ (starts at reconstitution)" in text


@pytest.mark.parametrize(
    "text, expected",
    [("102x51mm", (102 * mm, 51 * mm)), ("4x2in", (4 * inch, 2 * inch)), (" 100 × 50 MM ", (100 * mm, 50 * mm)), ("4.0x6in", (4 * inch, 6 * inch))],
)
def test_label_sizes_parse(text, expected):
    assert parse_label_size(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "102x51", "102mm", "4x2cm", "axbmm", "20x10mm", "300x51mm", "102x-51mm", "4x9in"])
def test_bad_label_sizes_are_refused_naming_the_field(text):
    with pytest.raises(ValidationError) as error:
        parse_label_size(text)
    assert error.value.field == "label-size"


def test_a_size_too_small_is_refused_by_the_renderer_too(demo):
    with pytest.raises(ValidationError):
        render(demo, (40 * mm, 20 * mm))


def test_label_lines_start_with_patient_then_drug(demo):
    lines = [flat(line.text) for line in label_lines(demo)]
    assert lines[0] == demo.patient_name
    assert lines[1].startswith("MRN ")
    assert lines[2] == "inotuzumab ozogamicin (Besponsa)"
    assert lines[3] == "1.4 mg"


def test_a_patient_record_with_a_long_mrn_keeps_it_whole():
    prep = demo_preparation(BESPONSA)
    prep.patient = Patient(name="Jo Li", mrn="MRN-1234567890-ABCDEFGHIJ-0000", date_of_birth=date(2001, 1, 2))
    data = demo_sheet_data(tz=NEW_YORK, prep=prep)
    text = flat(render(data, parse_label_size("3x2in")).pages[0].extract_text())
    assert "MRN MRN-1234567890-ABCDEFGHIJ-0000" in text


def test_the_demo_label_is_marked_as_a_sample_and_a_real_one_is_not(demo):
    assert "SAMPLE: NOT FOR PATIENT USE" in flat(render(demo).pages[0].extract_text())
    assert "SAMPLE" not in render(dataclasses.replace(demo, sample=False)).pages[0].extract_text()


def test_a_refrigerated_bag_label_says_when_it_must_leave_the_refrigerator(demo):
    from datetime import datetime, timedelta, timezone

    from infusion_app.domain.deadlines import compute_deadlines
    from infusion_app.domain.monograph import load_monograph
    from infusion_app.domain.records import Event, EventType
    from infusion_app.reports import SheetData

    monograph = load_monograph("inotuzumab-ozogamicin")
    t0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
    prep = demo_preparation(BESPONSA)
    prep = dataclasses.replace(
        prep,
        events=[
            Event(EventType.RECONSTITUTED, t0, t0, "Tess"),
            Event(EventType.DILUTED, t0 + timedelta(minutes=30), t0 + timedelta(minutes=30), "Tess", {"storage": "fridge"}),
        ],
    )
    deadlines = compute_deadlines(prep.events, monograph, t0 + timedelta(hours=1), timedelta(minutes=15))
    data = SheetData.from_preparation(prep, monograph, deadlines, printed_at=t0 + timedelta(hours=1), program_version="x", tz=NEW_YORK)
    [fridge] = [d for d in deadlines if d.key == "bag_from_fridge_by"]
    assert data.out_of_fridge_by and data.out_of_fridge_by in flat(render(data).pages[0].extract_text())
    assert "OUT OF FRIDGE BY" in flat(render(data).pages[0].extract_text())
    assert not demo.out_of_fridge_by  # a room-temperature bag has no such line
