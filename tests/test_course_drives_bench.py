"""Issue 11: the bench dose comes from the course; holds and open discontinuations stop `prep new`."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import pytest

from infusion_app.domain.course import (
    CourseBlocked,
    new_course,
    order_from_course,
    record_blasts,
    record_dose,
    record_response,
    start_cycle,
)
from tests.cli_helpers import run_cli
from tests.lab_helpers import CLI, cli_checklist, cli_normal_labs, complete_checklist, record_normal_labs
from tests.test_cli_course import course, make_users
from tests.drugs import BESPONSA

PIN = {"INFUSION_PREP_PIN": "246824"}
TODAY = date.today()  # the command line runs on the real clock


def prep_new(folder, *extra, mrn="MRN001"):
    return run_cli(
        "prep",
        "new",
        "--patient-name",
        "Doe, Jane",
        "--mrn",
        mrn,
        "--dob",
        "1970-05-17",
        "--height",
        "170 cm",
        "--weight",
        "70 kg",
        *extra,
        "--user",
        "Pat Pharmacist",
        "--data-dir",
        folder,
        env=PIN,
    )


def stored_count(folder):
    done = run_cli("prep", "list", "--data-dir", folder, "--json")
    assert done.code == 0, done.stderr
    data = done.json()
    return len(data["preparations"] if isinstance(data, dict) else data)


@pytest.fixture(scope="module")
def started_template(tmp_path_factory):
    """Users, a course with cycle 1 started, the labs and the checklist: built once per module
    (about 2 s of commands and PIN derivations) and copied for each test, which may change it."""
    folder = make_users(str(tmp_path_factory.mktemp("course-drives-bench") / "data"))
    assert course(folder, "new", "MRN001", "--hsct", "no").code == 0
    assert course(folder, "blasts", "MRN001", "--count", "5000", "--date", TODAY.isoformat()).code == 0
    assert course(folder, "start", "MRN001", "--date", TODAY.isoformat()).code == 0
    cli_normal_labs(course, folder)
    cli_checklist(course, folder)
    return folder


@pytest.fixture
def started(tmp_path, started_template):
    folder = tmp_path / "data"
    shutil.copytree(started_template, folder)
    return str(folder)


def test_prep_new_takes_cycle_and_day_from_the_course(started):
    done = prep_new(started, "--json")
    assert done.code == 0, done.stderr
    data = done.json()
    assert data["course"]["on_file"] is True and (data["course"]["cycle"], data["course"]["day"]) == (1, 1)
    assert data["calculation"]["dose_mg_per_m2"] == 0.8


def test_a_typed_value_that_disagrees_with_the_course_is_refused_and_nothing_stored(started):
    before = stored_count(started)
    wrong_day = prep_new(started, "--cycle", "1", "--day", "8")
    assert wrong_day.code == 1 and "dose-not-due" in wrong_day.stderr
    reduced = prep_new(started, "--reduce-pct", "25")
    assert reduced.code == 1 and "25%" in reduced.stderr and "0%" in reduced.stderr
    assert stored_count(started) == before


def test_open_vod_advice_blocks_preparation_at_once(started):
    vod = course(started, "assess", "MRN001", "--kind", "vod")
    assert vod.code == 1 and "vod-sos-discontinue" in vod.stderr
    before = stored_count(started)
    done = prep_new(started)
    assert done.code == 1 and "discontinue permanently" in done.stderr and "vod-sos-discontinue" in done.stderr
    assert stored_count(started) == before


def test_an_isolated_bilirubin_of_3_uln_is_flagged_and_holds_the_bench(started):
    liver = course(started, "assess", "MRN001", "--kind", "liver", "--bilirubin-x-uln", "3", "--ast-alt-x-uln", "1")
    assert liver.code == 1 and "liver-grade-2-hold" in liver.stderr and "grade ≥2" in liver.stderr
    held = prep_new(started)
    assert held.code == 1 and "liver-grade-2-hold" in held.stderr
    recovered = course(started, "assess", "MRN001", "--kind", "liver", "--bilirubin-x-uln", "1.2", "--ast-alt-x-uln", "1")
    assert recovered.code == 0, recovered.stderr
    again = prep_new(started)
    assert again.code == 0, again.stderr


def test_without_a_course_the_preparation_is_flagged(started):
    done = prep_new(started, "--cycle", "1", "--day", "1", mrn="MRN999")
    assert done.code == 0, done.stderr
    assert "no course on file" in done.stderr
    shown = run_cli("prep", "show", done.stdout.strip(), "--data-dir", started, "--json")
    assert "no course on file" in shown.stdout
    missing = prep_new(started, mrn="MRN998")
    assert missing.code == 2 and "no course on file" in missing.stderr


def test_a_25_percent_reduction_in_cycle_1_is_refused_without_a_course(started):
    done = prep_new(started, "--cycle", "1", "--day", "1", "--reduce-pct", "25", mrn="MRN997")
    assert done.code == 1 and "no-reduction-in-cycle-1" in done.stderr


def _reduced_course():
    c = new_course("MRN5", False, monograph=BESPONSA)
    record_blasts(c, 100, TODAY - timedelta(days=60), TODAY)
    start_cycle(c, TODAY - timedelta(days=60), TODAY, monograph=BESPONSA)
    for day in (1, 8, 15):
        record_dose(c, 1, day, TODAY - timedelta(days=60 - day + 1), TODAY, monograph=BESPONSA)
    record_response(c, TODAY - timedelta(days=31), "cr", True, TODAY, monograph=BESPONSA)
    c.reduction_level = 1  # an accepted interruption advice: the next cycle's total dose -25 %
    start_cycle(c, TODAY, TODAY, monograph=BESPONSA)
    record_normal_labs(c)
    complete_checklist(c)
    return c


def test_a_full_dose_after_a_recorded_reduction_is_refused_with_both_values():
    c = _reduced_course()
    with pytest.raises(CourseBlocked) as info:
        order_from_course(c, TODAY, 2, 1, reduce_pct=0, monograph=BESPONSA)
    assert "0%" in str(info.value) and "25%" in str(info.value) and "re-escalated" in str(info.value)
    found = order_from_course(c, TODAY, monograph=BESPONSA)
    assert found.reduce_pct == 25 and found.response == "cr"
    with pytest.raises(CourseBlocked, match="course-response"):
        order_from_course(c, TODAY, response="none", monograph=BESPONSA)  # 0.8 mg/m² when the course records CR


def test_an_omitted_day_a_discontinued_course_and_a_dose_outside_its_window_are_not_due():
    c = _reduced_course()
    c.cycles[-1].omitted_days = (8,)
    with pytest.raises(CourseBlocked, match="dose-not-due|dose-omitted"):
        order_from_course(c, TODAY + timedelta(days=7), 2, 8, monograph=BESPONSA)
    with pytest.raises(CourseBlocked, match="dose-not-due"):
        order_from_course(c, TODAY + timedelta(days=3), 2, 15, monograph=BESPONSA)
    c.discontinued_on, c.discontinued_reason = TODAY, "VOD/SOS"
    with pytest.raises(CourseBlocked, match="course-discontinued"):
        order_from_course(c, TODAY, 2, 1, monograph=BESPONSA)


def test_course_given_checks_the_linked_preparations_dose_against_the_course(tmp_path):
    folder = make_users(str(tmp_path / "data"))
    # Made before the course was opened, as typed: cycle 2 at the no-response dose (0.8 mg/m²).
    made = prep_new(folder, "--cycle", "2", "--day", "1", "--response", "none")
    assert made.code == 0, made.stderr
    prep_id = made.stdout.strip()
    start = TODAY - timedelta(days=40)
    assert course(folder, "new", "MRN001", "--hsct", "no").code == 0
    assert course(folder, "blasts", "MRN001", "--count", "100", "--date", start.isoformat()).code == 0
    assert course(folder, "start", "MRN001", "--date", start.isoformat()).code == 0
    cli_checklist(course, folder)
    for day in (1, 8, 15):
        on = (start + timedelta(days=day - 1)).isoformat()
        # The labs each dose needed, taken that morning (a dose recorded as given is checked as prep new checks it).
        for kind in ("cbc", "liver", "ecg", "electrolytes") if day == 1 else ("cbc", "liver", "vod-signs"):
            taken = course(folder, "lab", "MRN001", "--kind", kind, *CLI[kind], "--taken", f"{on}T08:00+00:00")
            assert taken.code == 0, taken.stderr
        given = course(folder, "given", "MRN001", "--cycle", "1", "--day", str(day), "--date", on)
        assert given.code == 0, given.stderr
    assert course(folder, "response", "MRN001", "--response", "cr", "--date", (start + timedelta(days=20)).isoformat()).code == 0
    assert course(folder, "start", "MRN001", "--date", TODAY.isoformat()).code == 0
    wrong = course(folder, "given", "MRN001", "--cycle", "2", "--day", "1", "--date", TODAY.isoformat(), "--prep", prep_id)
    assert wrong.code == 1 and "course-dose" in wrong.stderr and "0.8 mg/m²" in wrong.stderr and "0.5 mg/m²" in wrong.stderr
    # At the bench the course decides: the same typed response is refused with both values.
    again = prep_new(folder, "--response", "none")
    assert again.code == 1 and "course-response" in again.stderr and "CR" in again.stderr


def test_the_sheet_says_no_course_on_file(tmp_path):
    from pypdf import PdfReader

    folder = make_users(str(tmp_path / "data"))
    made = prep_new(folder, "--cycle", "1", "--day", "1")
    assert made.code == 0, made.stderr
    out = tmp_path / "sheet.pdf"
    assert run_cli("sheet", made.stdout.strip(), "--out", str(out), "--data-dir", folder).code == 0
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(str(out)).pages)
    assert "no course on file" in text


def test_monograph_cites_label_tables_2_3_4_and_its_label_revision_names_every_label_it_carries():
    import re

    from infusion_app.domain.monograph import load_monograph

    m = load_monograph("inotuzumab-ozogamicin")
    tables = {
        "dose_modification.hematologic.anc_baseline_threshold": "Table 2",
        "dose_modification.liver.bilirubin_uln_multiple": "Table 3",
        "dose_modification.other.non_hematologic_hold_grade": "Table 3",
        "dose_modification.interruption.reduce_next_cycle_from": "Table 4",
    }
    for path, table in tables.items():
        assert table in m.fact(path).citation, path
    used = {fact.source for fact in m.facts.values()}
    for key in used & {"uspi_2024", "uspi_2017"}:
        revision = re.search(r"revision (\d\d/\d{4})", m.raw["sources"][key]).group(1)
        assert revision in m.label_revision, (key, revision)


def test_a_held_next_cycle_names_the_hold_when_its_day_1_is_asked_for():
    from datetime import datetime, timezone

    from infusion_app.domain.course import decide, raise_advice
    from infusion_app.domain.dose_modification import Counts, Decision, hematologic_advice

    c = new_course("MRN6", False, monograph=BESPONSA)
    start = TODAY - timedelta(days=30)
    record_blasts(c, 100, start, TODAY)
    start_cycle(c, start, TODAY, monograph=BESPONSA)
    for day in (1, 8, 15):
        record_dose(c, 1, day, start + timedelta(days=day - 1), TODAY, monograph=BESPONSA)
    record_response(c, start + timedelta(days=20), "cri", None, TODAY, monograph=BESPONSA)
    [hold] = raise_advice(c, hematologic_advice(Counts.of(2, 150), Counts.of(0.5, 150), within_cycle=False, monograph=BESPONSA), TODAY)
    decide(c, hold, Decision.make(hold.advice.code, True, "Dr Rao", "ana", "ANC 0.5", datetime.now(timezone.utc)), monograph=BESPONSA)
    with pytest.raises(CourseBlocked, match="hematologic-hold-next-cycle"):
        order_from_course(c, TODAY, 2, 1, monograph=BESPONSA)
    with pytest.raises(CourseBlocked, match="hematologic-hold-next-cycle"):
        start_cycle(c, TODAY, TODAY, monograph=BESPONSA)
