"""Issue 17: the responses that decide a dose, and which of them is a remission, are the monograph's
([dosing] responses and remission), not the program's. A drug whose file names other responses is
dosed, planned, refused and counted by them; the command line takes --response as a free string and
checks it against the drug named, after parsing."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from infusion_app.domain import monograph as monograph_module
from infusion_app.domain.course import cycle_limit, new_course, plan_for, record_blasts, record_dose, record_response, start_cycle
from infusion_app.domain.errors import DataFileError, ValidationError
from infusion_app.domain.monograph import parse_monograph, validate_response
from tests.cli_helpers import assert_clean_invalid, run_cli
from tests.drugs import BESPONSA, MYLOTARG

D = date.fromisoformat
FAR = D("2030-01-01")


def other_responses(remission=("cr",)):
    """BESPONSA's file as a site could write it: a partial response "pr" that is no remission, and
    (by default) CRi no longer among the responses."""
    raw = copy.deepcopy(BESPONSA.raw)
    raw["dosing"]["responses"] = {"none": "none", "pr": "PR", "cr": "CR"}
    raw["dosing"]["remission"] = {**raw["dosing"]["remission"], "items": list(remission)}
    return parse_monograph(raw)


def test_the_monograph_names_the_responses_and_the_remission():
    assert [key for key, _ in BESPONSA.response_choices()] == ["none", "cr", "cri"]
    assert [r for r in ("none", "cr", "cri") if BESPONSA.in_remission(r)] == ["cr", "cri"]
    assert BESPONSA.remission_words() == "CR/CRi" and BESPONSA.remission_words(" or ") == "CR or CRi"
    assert MYLOTARG.response_choices() == [] and not MYLOTARG.in_remission("cr")


def test_a_response_the_file_names_doses_by_its_row():
    m = other_responses()
    assert validate_response(2, 1, "PR", m) == "pr"
    # pr is no remission: the later cycles' "not in remission" row (0.8 mg/m² on Day 1), cr the other (0.5)
    assert m.mg_per_m2(2, 1, "pr").value.magnitude == 0.8 and m.mg_per_m2(2, 1, "cr").value.magnitude == 0.5
    with pytest.raises(ValidationError) as refused:
        validate_response(2, 1, "cri", m)
    assert refused.value.field == "response" and "none, pr, cr" in refused.value.message
    with pytest.raises(ValidationError) as missing:
        validate_response(2, 1, None, m)
    assert "none, pr, cr" in missing.value.message


def test_the_course_counts_the_remission_the_file_names():
    # Three cycles with CRi as the only response: a remission by BESPONSA's file, none by a file whose
    # remission is CR alone (then the label's "no remission within 3 cycles" stop applies).
    def course_after_three_cycles(m):
        course = new_course("MRN001", hsct_planned=False, monograph=m)
        record_blasts(course, 5000, D("2026-12-18"), FAR)
        start = D("2026-12-20")
        for _ in range(3):
            record = start_cycle(course, start, FAR, monograph=m)
            for dose in plan_for(course, record.number, m).doses:
                record_dose(course, record.number, dose.day, max(dose.planned, dose.earliest), FAR, monograph=m)
            plan = plan_for(course, record.number, m)
            record_response(course, plan.end, "cri", None, FAR, monograph=m)
            start = plan.next_cycle_start
        return course

    assert cycle_limit(course_after_three_cycles(BESPONSA), BESPONSA).rule == "no-hsct"
    raw = copy.deepcopy(BESPONSA.raw)
    raw["dosing"]["remission"] = {**raw["dosing"]["remission"], "items": ["cr"]}
    cr_only = parse_monograph(raw)
    limit = cycle_limit(course_after_three_cycles(cr_only), cr_only)
    assert limit.rule == "no-response" and "no CR within 3 cycles" in limit.why and "CRi" not in limit.why


def test_a_course_records_only_its_drugs_responses():
    course = new_course("MRN001", hsct_planned=False, monograph=BESPONSA)
    with pytest.raises(ValidationError) as refused:
        record_response(course, D("2026-12-18"), "pr", None, FAR, monograph=BESPONSA)
    assert "none, cr, cri" in refused.value.message
    m = other_responses()
    assert record_response(course, D("2026-12-18"), "PR", None, FAR, monograph=m).response == "pr"


def test_a_file_that_doses_by_response_names_its_remission():
    raw = copy.deepcopy(BESPONSA.raw)
    del raw["dosing"]["remission"]
    with pytest.raises(DataFileError, match="remission"):
        parse_monograph(raw)
    raw = copy.deepcopy(BESPONSA.raw)
    raw["dosing"]["remission"] = {**raw["dosing"]["remission"], "items": ["cr", "vgpr"]}
    with pytest.raises(DataFileError, match="vgpr"):
        parse_monograph(raw)


CALC = ("calc", "--drug", "inotuzumab-ozogamicin", "--height", "170 cm", "--weight", "70 kg", "--cycle", "2", "--day", "1")


def test_the_command_line_takes_the_responses_of_the_drug_named(monkeypatch):
    m = other_responses()
    monkeypatch.setattr(monograph_module, "load_monograph", lambda source: m if source == m.id else MYLOTARG)
    given = run_cli(*CALC, "--response", "pr", "--json")
    assert given.code == 0, given.stderr
    assert given.json()["response"] == "pr" and given.json()["dose_mg_per_m2"] == 0.8
    refused = run_cli(*CALC, "--response", "cri")
    assert_clean_invalid(refused, "--response")
    assert "none, pr, cr" in refused.stderr


@pytest.mark.parametrize("command", ["calc", "schedule"])
def test_a_response_not_the_drugs_is_refused_naming_its_values(command):
    args = CALC[1:] if command == "calc" else ("--drug", "inotuzumab-ozogamicin", "--cycle", "2", "--start", "2027-01-04")
    refused = run_cli(command, *args, "--response", "partial")
    assert_clean_invalid(refused, "--response")
    assert "none, cr, cri" in refused.stderr and "'partial'" in refused.stderr


@pytest.mark.parametrize("command", ["calc", "schedule"])
def test_a_response_for_a_drug_dosed_by_regimen_is_refused_not_ignored(command):
    drug = ("--drug", "gemtuzumab-ozogamicin", "--regimen", "fractionated")
    args = ("--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1") if command == "calc" else ("--cycle", "1", "--start", "2027-01-04")
    refused = run_cli(command, *drug, *args, "--response", "cr")
    assert_clean_invalid(refused, "--response")
    assert "regimen" in refused.stderr


def test_course_response_is_checked_against_the_courses_drug_before_the_pin(tmp_path):
    from tests.test_cli_course import course, make_users

    folder = make_users(str(tmp_path / "data"))
    assert course(folder, "new", "MRN001", "--hsct", "no", "--drug", "inotuzumab-ozogamicin").code == 0
    # No PIN at hand: the value is refused before one is asked for, with the drug's own responses.
    refused = run_cli("course", "response", "MRN001", "--response", "partial", "--date", "2025-12-19", "--user", "Pat Pharmacist", "--data-dir", folder)
    assert_clean_invalid(refused, "--response")
    assert "none, cr, cri" in refused.stderr
    assert course(folder, "response", "MRN001", "--response", "CRi", "--date", "2025-12-19").json()["responses"][0]["response"] == "cri"
