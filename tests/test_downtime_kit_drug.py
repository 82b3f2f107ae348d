"""Issue 17: the downtime kit is the chosen drug's (--drug, picked as calc picks it), laid out from its
monograph: its containers (one bag, or the bags it lists, and a syringe path), infusion time, filter
and premedication timing. It rendered only the site's default drug, and MYLOTARG failed."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from pypdf import PdfReader

from infusion_app.domain.formatting import format_value
from infusion_app.domain.monograph import load_monograph
from tests.cli_helpers import run_cli

AT = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def _text(path) -> str:
    return " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(str(path)).pages)


def _kit(tmp_path, *args: str, implicit_drug: bool = True) -> tuple[int, str, str]:
    out = tmp_path / "kit.pdf"
    done = run_cli("downtime", "--out", str(out), *args, implicit_drug=implicit_drug)
    return done.code, (_text(out) if out.exists() else ""), done.stderr


def test_the_mylotarg_kit_is_laid_out_from_its_monograph(tmp_path):
    code, text, stderr = _kit(tmp_path, "--drug", "gemtuzumab-ozogamicin")
    assert code == 0, stderr
    monograph = load_monograph("gemtuzumab-ozogamicin")
    assert "MYLOTARG" in text and "BESPONSA" not in text and "Latest response" not in text
    # Both regimens, each with its cap, for the pharmacist to pick on paper.
    for regimen in monograph.regimens:
        assert regimen.name.split(":")[0] in text
    assert "Regimen (fractionated / single-agent)" in text and "not capped" in text
    # Its containers: the bags it lists, the syringe under its dose threshold, no single bag volume.
    sizes = ", ".join(format_value(v) for v in monograph.items("dilution.bag_volumes"))
    assert f"smallest bag of {sizes} mL" in text
    # the bag as the program makes it (issue 17, reviewer): the whole bag plus the dose, or made up to its
    # volume when that is below the window (the kit said "dose ÷ bag volume", which the program never made)
    flat = " ".join(text.split())
    assert "dose ÷ (bag volume + dose volume): the whole bag as supplied" in flat, flat
    assert "first withdraw and discard saline equal to the dose volume" in flat
    assert f"a dose under {format_value(monograph.fact('syringe.dose_below').value)}" in text
    assert "final volume of" not in text
    # A 2-hour infusion with no label rate, the required filter, the label's premedication timing.
    assert f"infuse over {format_value(monograph.fact('infusion.duration').value)}" in text
    assert "rate = final volume ÷ infusion time" in text
    assert "GIVE THROUGH AN IN-LINE FILTER: 0.2 micron polyethersulfone (PES)" in text and "IN-LINE FILTER" in text
    assert "corticosteroid within 30 minutes before the start" in text
    assert "including the infusion" in text  # its 6 h diluted hold counts the infusion


def test_the_besponsa_kit_keeps_its_one_bag_and_response_table(tmp_path):
    for args in (["--drug", "inotuzumab-ozogamicin"], ["--drug", "BESPONSA"]):
        code, text, stderr = _kit(tmp_path, *args, "--force")
        assert code == 0, stderr
        monograph = load_monograph("inotuzumab-ozogamicin")
        assert "BESPONSA" in text and "MYLOTARG" not in text and "Latest response (cycles from 2)" in text
        assert f"final volume of {format_value(monograph.fact('dilution.final_volume').value)}" in text
        assert f"at {format_value(monograph.fact('infusion.rate').value)}" in text
        assert "An in-line filter is not required" in text and "Never nylon" in text
        assert "corticosteroid within" in text and "(site policy)" in text  # the label gives no timing


def test_several_drugs_and_none_named_the_kit_is_refused_as_ambiguous(tmp_path):
    code, _text_, stderr = _kit(tmp_path, implicit_drug=False)
    assert code == 2 and "several drugs are installed" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "kit.pdf").exists()


def test_an_unknown_drug_and_a_snapshot_with_a_drug_are_refused(tmp_path):
    code, _text_, stderr = _kit(tmp_path, "--drug", "aspirin")
    assert code == 2 and "drug" in stderr and "Traceback" not in stderr
    done = run_cli("downtime", "snapshot", "--drug", "gemtuzumab-ozogamicin", "--out", str(tmp_path / "s.pdf"))
    assert done.code == 2 and "snapshot" in done.stderr


@pytest.mark.parametrize("drug", ["inotuzumab-ozogamicin", "gemtuzumab-ozogamicin"])
def test_every_drug_renders_on_both_papers(drug):
    from infusion_app.reports.downtime import render_downtime_kit

    for paper in ("letter", "a4"):
        buffer = io.BytesIO()
        render_downtime_kit(load_monograph(drug), buffer, AT, "mosteller", paper)
        assert len(PdfReader(buffer).pages) >= 4


@pytest.mark.parametrize("drug", ["inotuzumab-ozogamicin", "gemtuzumab-ozogamicin"])
def test_the_kit_gives_the_draw_rule_the_bench_applies(tmp_path, drug):
    # Pharmacist review: a hand-drawn dose on paper must not be read to a coarse syringe's marks either.
    code, text, stderr = _kit(tmp_path, "--drug", drug)
    assert code == 0, stderr
    assert "read on the smallest syringe that holds it (1 mL by 0.01 mL, 3 mL by 0.1 mL, 10 mL by 0.2 mL, 20 mL by 1 mL)" in text
    assert "within 1% of the dose, split the draw: syringes drawn full, the rest on the smallest syringe that holds it" in text
    assert "The dose given and billed is the volume drawn × the concentration" in text
