"""Issue 16: the prep sheet's premedication table says when each class is due relative to the start of
the infusion, from the monograph (MYLOTARG's methylprednisolone within 30 minutes, the label's) or
else the site's premedication window; before, it listed the classes with no timing at all."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta

from pypdf import PdfReader

from infusion_app.domain.limits import site_defaults
from infusion_app.reports import render_prep_sheet
from infusion_app.reports.demo import demo_preparation, demo_sheet_data
from infusion_app.reports.model import SheetData
from tests.drugs import BESPONSA, MYLOTARG
from tests.pdf_text import flat


def _due(data) -> dict[str, str]:
    return {r.drug_class: r.due for r in data.premedication if r.due}


def test_each_class_is_due_by_the_labels_timing_else_the_sites_window():
    assert _due(demo_sheet_data(program_version="9.9.9", monograph=MYLOTARG.with_regimen("fractionated"))) == {
        "Antipyretic": "within 1 hour before the start (label)",
        "Antihistamine": "within 1 hour before the start (label)",
        "Corticosteroid": "within 30 minutes before the start (label)",
    }
    assert set(_due(demo_sheet_data(program_version="9.9.9", monograph=BESPONSA)).values()) == {"within 2 hours before the start (site policy)"}


def test_the_sites_own_window_is_the_one_printed():
    prep = demo_preparation(BESPONSA)
    first = next(e for e in prep.events if e.details.get("drug_class") == "corticosteroid")
    prep.events.insert(prep.events.index(first) + 1, dataclasses.replace(first, at=first.at + timedelta(minutes=5)))
    site = dataclasses.replace(site_defaults(), premedication_window=timedelta(minutes=90))
    data = SheetData.from_preparation(prep, BESPONSA, [], prep.created_at, "9.9.9", site_policy=site)
    assert set(_due(data).values()) == {"within 90 minutes before the start (site policy)"}
    # A class given twice is due once: its first row says when.
    rows = [(r.drug_class, r.due) for r in data.premedication]
    assert rows.count(("Corticosteroid", "within 90 minutes before the start (site policy)")) == 1
    assert ("Corticosteroid", "") in rows and len(rows) == 4


def test_the_printed_table_has_the_due_column():
    out = io.BytesIO()
    render_prep_sheet(demo_sheet_data(program_version="9.9.9", monograph=MYLOTARG.with_regimen("fractionated")), out)
    text = flat("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(out.getvalue())).pages))
    assert "Due" in text and "within 30 minutes before the start (label)" in text
