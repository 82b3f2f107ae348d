"""What the paper says: deadlines in words a nurse cannot misread, a discarded dose marked on every
page and billed as waste, the chair's record, override signatures, no internal codes."""

from __future__ import annotations

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from tests.drugs import BESPONSA
from infusion_app.domain.records import Event, EventType
from infusion_app.domain.preparation import StepRefused
from infusion_app.reports import render_bag_label, render_prep_sheet
from infusion_app.reports.demo import NURSE, PHARMACIST, RECONSTITUTED_AT, demo_preparation, demo_sheet_data
from infusion_app.reports.model import en_dash_ranges, fact_words, hard_stop_words
from tests.pdf_text import flat

NEW_YORK = ZoneInfo("America/New_York")


def sheet_pages(data, paper="letter") -> list[str]:
    out = io.BytesIO()
    render_prep_sheet(data, out, page_size=paper)
    return [flat(page.extract_text()) for page in PdfReader(io.BytesIO(out.getvalue())).pages]


def label_text(data) -> str:
    out = io.BytesIO()
    render_bag_label(data, out)
    return flat(PdfReader(io.BytesIO(out.getvalue())).pages[0].extract_text())


def with_events(*events: Event):
    prep = demo_preparation(BESPONSA)
    prep.events = sorted([*prep.events, *events], key=lambda e: e.at)
    return demo_sheet_data(tz=NEW_YORK, prep=prep)


def event(kind: EventType, minutes: int, user: str, **details) -> Event:
    at = RECONSTITUTED_AT + timedelta(minutes=minutes)
    return Event(type=kind, at=at, recorded_at=at, user=user, details=details)


def test_the_label_names_the_latest_start_as_the_discard_point_and_the_end_limit_apart():
    text = label_text(demo_sheet_data(tz=NEW_YORK, monograph=BESPONSA))
    assert "DO NOT START AFTER 2026-03-10 09:20 EDT (discard)" in text
    assert "INFUSION MUST END BY 2026-03-10 13:00 EDT" in text
    assert "DISCARD AFTER" not in text and "OUT OF FRIDGE" not in text


def test_a_refrigerated_bag_says_when_it_must_leave_the_fridge():
    prep = demo_preparation(BESPONSA)
    for e in prep.events:
        if e.type == EventType.DILUTED:
            e.details["storage"] = "fridge"
    data = demo_sheet_data(tz=NEW_YORK, prep=prep)
    assert data.out_of_fridge_by, "a refrigerated bag has an out-of-fridge deadline"
    text = label_text(data)
    assert f"OUT OF FRIDGE BY {data.out_of_fridge_by}" in text
    assert data.out_of_fridge_by[:10] == "2026-03-10"  # with its date


def test_a_discarded_preparation_is_marked_on_every_page_and_bills_nothing_as_administered():
    data = with_events(event(EventType.DISCARDED, 50, PHARMACIST, reason="bag punctured"))
    pages = sheet_pages(data)
    assert len(pages) >= 2
    for page in pages:
        assert "DISCARDED" in page and "bag punctured" in page
    whole = " ".join(pages)
    assert "0 units: nothing administered (DISCARDED)" in whole
    assert "Units administered 14 units" not in whole
    with pytest.raises(StepRefused):
        label_text(data)


def test_the_sheet_records_the_administration_with_time_and_initials():
    data = with_events(
        event(EventType.PATIENT_CONFIRMED, 60, NURSE),
        event(EventType.INFUSION_STARTED, 65, NURSE),
    )
    whole = " ".join(sheet_pages(data))
    assert "Administration" in whole
    assert "Patient identity confirmed (two identifiers) 2026-03-10 06:00 EDT GO" in whole
    assert "Infusion started 2026-03-10 06:05 EDT GO" in whole
    assert "Infusion ended" in whole and "Observation ended" in whole


def test_an_override_is_in_words_with_a_signature_line_for_its_pharmacist():
    data = with_events(event(EventType.OVERRIDE, 25, PHARMACIST, hard_stop="dilute_by_passed", reason="pump fault"))
    whole = " ".join(sheet_pages(data))
    assert "dilute_by_passed" not in whole and "dilution deadline passed" in whole
    assert f"Override authorised by (pharmacist) {PHARMACIST}" in whole


def test_no_monograph_key_or_internal_code_reaches_paper():
    whole = " ".join(sheet_pages(demo_sheet_data(tz=NEW_YORK, monograph=BESPONSA)))
    assert "concentration_min" not in whole and "time_limits." not in whole and "_passed" not in whole


def test_words_for_codes_and_ranges():
    assert fact_words("dilution.concentration_min") == "minimum concentration (dilution)"
    assert hard_stop_words("dilute_by_passed+end_infusion_by_passed") == "dilution deadline passed; end-of-infusion limit passed"
    assert en_dash_ranges("Infuse at room temperature (20-25 °C).") == "Infuse at room temperature (20–25 °C)."
    assert en_dash_ranges("NDC 0008-0100-01, 2026-03-10") == "NDC 0008-0100-01, 2026-03-10"


def test_the_brand_is_in_mixed_case_beside_the_generic_name():
    data = demo_sheet_data(tz=NEW_YORK, monograph=BESPONSA)
    assert "inotuzumab ozogamicin (Besponsa)" in label_text(data)
    assert "inotuzumab ozogamicin (Besponsa)" in sheet_pages(data)[0]


def test_a_handwriting_blank_on_the_label_holds_a_date_and_a_24_hour_time():
    from infusion_app.reports.fonts import BOLD, REGULAR, text_width
    from infusion_app.reports.label import TIME_BLANK

    for font in (REGULAR, BOLD):
        assert text_width(TIME_BLANK, font, 8) >= text_width("2026-03-10 09:20 EDT", font, 8)
