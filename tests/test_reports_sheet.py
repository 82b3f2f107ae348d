"""The prep sheet PDF: its text, its page size, its footer on every page, embedded fonts, no overflow."""

from __future__ import annotations

import dataclasses
import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4, letter

from tests.drugs import BESPONSA, MYLOTARG
from infusion_app.domain.errors import ValidationError
from tests.pdf_text import flat, text_runs
from infusion_app.domain.records import Event, EventType, Patient, VialRecord
from infusion_app.reports import render_prep_sheet
from infusion_app.reports.demo import RECONSTITUTED_AT, demo_preparation, demo_sheet_data

NEW_YORK = ZoneInfo("America/New_York")
LONG_NAME = "Anne-Éléonore-Françoise-Bénédicte-Maëlle-Séverine-Ægidia-Zoë-Øyvind-Ðorđe-Łucja-Şebnem-Żaneta-Ångström-Dubois-Lefèvre-Großmann"


def render(data, paper="letter") -> PdfReader:
    out = io.BytesIO()
    render_prep_sheet(data, out, page_size=paper)
    return PdfReader(io.BytesIO(out.getvalue()))


def all_text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def assert_inside(reader: PdfReader):
    for number, page in enumerate(reader.pages, start=1):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        runs = text_runs(page)
        assert runs, f"page {number} has no text"
        for text, x, y, run_width, _size in runs:
            assert 0 <= x and x + run_width <= width + 0.5, f"page {number}: '{text}' runs off the side ({x:.1f} + {run_width:.1f} > {width:.1f})"
            assert 0 <= y <= height, f"page {number}: '{text}' is off the page (y={y:.1f})"


@pytest.fixture(scope="module")
def demo():
    return demo_sheet_data(program_version="9.9.9", tz=NEW_YORK, monograph=BESPONSA)


@pytest.mark.parametrize("paper, size", [("letter", letter), ("a4", A4), ("A4", A4)])
def test_paper_sizes(demo, paper, size):
    reader = render(demo, paper)
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(size, abs=0.01)


def test_unknown_paper_is_refused_naming_the_field(demo):
    with pytest.raises(ValidationError) as error:
        render(demo, "legal")
    assert error.value.field == "paper"


def test_sheet_text_holds_patient_order_volumes_deadlines_and_billing(demo):
    text = flat(all_text(render(demo)))
    for expected in [
        "Marie-Hélène Dubois-Lefèvre",
        "MRN 00412873",
        "Date of birth 1968-04-12",
        "inotuzumab ozogamicin (Besponsa)",
        "Cycle 1, Day 1",
        "167.6 cm",
        "64.86 kg",
        "1.74 m² (Mosteller)",
        "0.8 mg/m² × 1.74 m² = 1.39 mg",
        "4 mL Sterile Water for Injection",
        "Withdraw 5.6 mL (1.4 mg)",
        "0.9% Sodium Chloride Injection 44.4 mL measured in 3 syringes",
        "0.028 mg/mL",
        "Swirl gently to dissolve. Do not shake.",
        "Gently invert the bag to mix. Do not shake.",
        # reconstituted 05:00 EDT: dilute by 09:00, end by 13:00; diluted 05:20 at room temperature: start by 09:20
        "Dilute by 2026-03-10 09:00 EDT",
        "Do not start after (discard) 2026-03-10 09:20 EDT",
        "Infusion must end by 2026-03-10 13:00 EDT",
        "Observe until",
        "HAZARDOUS DRUG: handle and dispose of per policy",
        "Protect the reconstituted and diluted solution from light.",
        "veno-occlusive disease",
        "Prepared by",
        "Verified by",
        "Administered by",
        "J9229",
        "14 units (1.4 mg)",
        "4 units (0.4 mg)",
        "JW",
        "Corticosteroid",
        "methylprednisolone IV",
        "FX4821",
        "2027-08-31",
        "Meets the payer's criteria",
    ]:
        assert expected in text, expected


def test_every_page_has_the_footer_with_page_x_of_y_and_provenance(demo):
    reader = render(demo)
    pages = len(reader.pages)
    for number, page in enumerate(reader.pages, start=1):
        text = flat(page.extract_text())
        assert f"Page {number} of {pages}" in text
        assert "DEMO-0001" in text and "MRN 00412873" in text
        assert "Printed 2026-03-10 05:36 EDT" in text
        assert "infusion-prep 9.9.9" in text
        assert "monograph revision" in text and demo.monograph_revision in text


def test_the_dejavu_font_is_embedded_and_no_standard_font_is_used(demo):
    reader = render(demo)
    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts[str(font["/BaseFont"])] = font
    assert any("DejaVuSans-Bold" in name for name in fonts) and any(name.endswith("+DejaVuSans") for name in fonts)
    for name, font in fonts.items():
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, f"{name} is not embedded"


def long_case():
    prep = demo_preparation(BESPONSA)
    prep.patient = Patient(name=LONG_NAME, mrn="00412873", date_of_birth=date(1968, 4, 12))
    prep.vials = [VialRecord(lot=f"LOT-{n:02d}-ABCDEFGHIJ", expiry=date(2027, 8, 31), ndc="0008-0100-01", serial=f"SN{n:012d}") for n in range(8)]
    at = RECONSTITUTED_AT + timedelta(hours=5)
    reason = " ".join(["The pharmacist documented that the infusion pump failed at the chair and a replacement was obtained;"] * 12)
    prep.events.append(Event(EventType.OVERRIDE, at, at, "Priya Raman", {"hard_stop": "infusion started after start-by", "reason": reason}))
    return demo_sheet_data(program_version="9.9.9", tz=NEW_YORK, prep=prep), reason


@pytest.mark.parametrize("paper", ["letter", "a4"])
def test_long_name_many_vials_and_a_long_override_flow_onto_more_pages_and_stay_inside(paper):
    data, reason = long_case()
    reader = render(data, paper)
    assert len(reader.pages) >= 3
    assert_inside(reader)
    text = flat(all_text(reader)).replace("- ", "-")
    # The long name is printed in full in the patient box (wrapped), never cut.
    assert LONG_NAME in text.replace(" ", "") or LONG_NAME in text
    for n in range(8):
        assert f"LOT-{n:02d}-ABCDEFGHIJ" in text
    assert "pump failed at the chair" in text
    for number, page in enumerate(reader.pages, start=1):
        assert f"Page {number} of {len(reader.pages)}" in page.extract_text()


def test_the_demo_sheet_stays_inside_the_page(demo):
    assert_inside(render(demo))
    assert_inside(render(demo, "a4"))


def test_recorded_vials_short_of_the_needed_count_leave_numbered_blank_lines(demo):
    fewer = dataclasses.replace(demo, vials=demo.vials[:1])
    text = flat(all_text(render(fewer)))
    assert "Vials needed: 2; vials recorded: 1" in text


def test_a_file_path_works_as_well_as_a_stream(demo, tmp_path):
    path = tmp_path / "sheet.pdf"
    render_prep_sheet(demo, path)
    assert PdfReader(path).pages[0].extract_text().startswith("Preparation sheet") or "Preparation sheet" in PdfReader(path).pages[0].extract_text()


def test_the_demo_is_marked_as_a_sample_on_every_page_and_a_real_sheet_is_not(demo):
    reader = render(demo)
    assert all("SAMPLE: NOT FOR PATIENT USE" in flat(page.extract_text()) for page in reader.pages)
    real = render(dataclasses.replace(demo, sample=False))
    assert not any("SAMPLE" in page.extract_text() for page in real.pages)


def test_a_note_longer_than_a_page_continues_on_the_next_pages(demo):
    note = " ".join(f"word{n}" for n in range(6000))
    reader = render(dataclasses.replace(demo, overrides=[note, "second note"]))
    assert len(reader.pages) >= 5
    assert_inside(reader)
    text = flat(all_text(reader))
    assert "word0 " in text and "word5999" in text and "second note" in text
    for number, page in enumerate(reader.pages, start=1):
        assert f"Page {number} of {len(reader.pages)}" in page.extract_text()


def test_the_labels_other_warnings_are_on_the_sheet_with_their_source(demo):
    text = flat(all_text(render(demo)))
    assert "Warnings and precautions" in text
    for warning in (
        "Myelosuppression",
        "Infusion-related reactions",
        "QT interval prolongation",
        "Embryo-fetal toxicity: females use contraception for at least 8 months after the last dose",
    ):
        assert flat(warning) in text
    assert flat("Source: BESPONSA US prescribing information") in text and flat("5 Warnings and precautions") in text
    assert text.index("WARNING (boxed warning)") < text.index("Warnings and precautions")


@pytest.mark.parametrize("drug", [BESPONSA, MYLOTARG.with_regimen("fractionated")], ids=["besponsa", "mylotarg"])
@pytest.mark.parametrize("vials", [1, 2, 7])
def test_the_boxed_warning_is_never_split_and_no_footer_line_is_cut(drug, vials):
    """The boxed warning's heading stood alone in an open box at the foot of page 2 of the sample
    sheet, its text on page 3; MYLOTARG's footer ended 'Pfizer medica…' on every page."""
    data = demo_sheet_data(program_version="9.9.9", tz=NEW_YORK, monograph=drug, prep=demo_preparation(drug, vials=vials))
    pages = [flat(page.extract_text()) for page in render(data).pages]
    [boxed] = [text for text in pages if "WARNING (boxed warning)" in text]
    assert all(flat(w)[:60] in boxed for w in data.boxed_warning), boxed
    assert all("…" not in text for text in pages)
    assert all("Numbers from" in text for text in pages)


def test_a_vials_expiry_time_is_printed_on_one_line_with_its_date():
    timed = VialRecord("LT7003", date(2027, 8, 31), ndc="0008-0100-01", serial="S1", expires_at=datetime(2027, 8, 31, 14, 0, tzinfo=timezone.utc))
    prep = dataclasses.replace(demo_preparation(BESPONSA), vials=[timed])
    reader = render(demo_sheet_data(program_version="9.9.9", tz=NEW_YORK, prep=prep))
    runs = [text for page in reader.pages for text, *_ in text_runs(page)]
    assert "2027-08-31 10:00 EDT" in runs, [r for r in runs if "2027-08-31" in r]


def test_reportlab_runs_on_its_c_accelerators():
    """reportlab[accel] (pyproject.toml): without rl_accel reportlab silently falls back to Python,
    a fifth slower per sheet and label for the same bytes."""
    from reportlab.lib import rl_accel

    assert type(rl_accel.fp_str).__name__ == "builtin_function_or_method", rl_accel.fp_str
    assert type(rl_accel.instanceStringWidthTTF).__name__ == "builtin_function_or_method"
