"""`infusion-prep coverage`: the contract other tools depend on (in-process; one real process)."""

from __future__ import annotations

import json

import pytest

from tests.cli_helpers import Completed, run_cli, run_cli_subprocess

ADULT_PH_NEGATIVE = ["--age", "45", "--icd10", "C91.00", "--cd22-percent", "80", "--ph", "negative", "--disease-status", "relapsed"]


def run(*args: str) -> Completed:
    return run_cli("coverage", *args)


def run_json(*args: str) -> tuple[int, dict]:
    done = run(*args, "--json")
    assert "Traceback" not in done.stderr
    return done.code, json.loads(done.stdout)


def test_meets_criteria_exits_0_with_the_contract_json():
    code, data = run_json(*ADULT_PH_NEGATIVE)
    assert code == 0
    assert data["decision"] == "meets_criteria"
    assert [c["id"] for c in data["criteria"]] == ["adult", "relapsed_or_refractory", "covered_diagnosis", "cd22_positive", "philadelphia", "not_experimental"]
    assert all(c["met"] is True and c["text"] for c in data["criteria"])
    assert isinstance(data["reasons"], list) and data["reasons"]


def test_ph_positive_needs_tki_and_chemo_failed():
    base = ["--age", "30", "--icd10", "c9102", "--cd22-percent", "90", "--ph", "positive", "--disease-status", "relapsed"]
    assert run_json(*base, "--tki-failed", "yes", "--chemo-failed", "yes")[1]["decision"] == "meets_criteria"
    code, data = run_json(*base, "--tki-failed", "yes", "--chemo-failed", "no")
    assert (code, data["decision"]) == (1, "criteria_not_met")
    code, data = run_json(*base, "--tki-failed", "yes")
    assert (code, data["decision"], data["missing_facts"]) == (1, "incomplete", ["chemo_failed"])


def test_under_18_is_criteria_not_met_exit_1_and_says_dosing_is_a_separate_question():
    code, data = run_json("--age", "12", "--icd10", "C91.00")
    assert (code, data["decision"]) == (1, "criteria_not_met")
    adult = next(c for c in data["criteria"] if c["id"] == "adult")
    assert adult["met"] is False
    assert any("separate questions" in reason for reason in data["reasons"])


@pytest.mark.parametrize("code", ["C82.00", "C82.99", "C83.10", "C83.19", "C83.30", "C83.39", "C83.70", "C83.79", "C85.80", "C85.99"])
def test_listed_nhl_codes_are_experimental_exit_1(code):
    exit_code, data = run_json("--age", "50", "--icd10", code)
    assert (exit_code, data["decision"]) == (1, "experimental")
    assert data["listed_not_covered"] is not None


@pytest.mark.parametrize("code", ["C81.99", "C83.20", "C85.79", "C86.00"])
def test_codes_beside_the_listed_ranges_are_other_indications(code):
    exit_code, data = run_json("--age", "50", "--icd10", code)
    assert (exit_code, data["decision"], data["listed_not_covered"]) == (1, "experimental", None)


def test_incomplete_lists_the_missing_facts_exit_1():
    code, data = run_json("--age", "45", "--icd10", "C91.00")
    assert (code, data["decision"]) == (1, "incomplete")
    assert data["missing_facts"] == ["disease_status", "cd22_percent", "ph"]
    assert [c["met"] for c in data["criteria"] if c["id"] in ("cd22_positive", "philadelphia")] == [None, None]


def test_readable_summary_without_json():
    done = run("--age", "45", "--icd10", "C91.00")
    assert done.code == 1
    assert "Decision: INCOMPLETE" in done.stdout
    assert "--cd22-percent" in done.stdout and "--ph" in done.stdout
    assert not done.stdout.lstrip().startswith("{")


def test_help_documents_the_exit_codes():
    done = run("--help")
    assert done.code == 0
    assert "1 = not covered as given" in done.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--age", "abc", "--icd10", "C91.00"], "age"),
        (["--age", "-1", "--icd10", "C91.00"], "age"),
        (["--age", "131", "--icd10", "C91.00"], "age"),
        (["--age", "nan", "--icd10", "C91.00"], "age"),
        (["--age", "", "--icd10", "C91.00"], "age"),
        (["--age", "45", "--icd10", "XYZ"], "icd10"),
        (["--age", "45", "--icd10", "C91-00"], "icd10"),
        (["--age", "45", "--icd10", "C91.0"], "icd10"),
        (["--age", "45", "--icd10", ""], "icd10"),
        (["--age", "45", "--icd10", "C91.00", "--cd22-percent", "101"], "cd22-percent"),
        (["--age", "45", "--icd10", "C91.00", "--cd22-percent", "lots"], "cd22-percent"),
        (["--age", "45", "--icd10", "C91.00", "--ph", "maybe"], "--ph"),
        (["--age", "45", "--icd10", "C91.00", "--tki-failed", "perhaps"], "--tki-failed"),
        (["--age", "45"], "--icd10"),
        (["--icd10", "C91.00"], "--age"),
    ],
)
def test_invalid_input_exits_2_with_one_line_naming_the_field(args, field):
    done = run(*args, "--json")
    assert done.code == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert field in lines[0]
    assert done.stdout == ""


def test_a_real_process_reports_not_covered_with_status_1_and_json_on_stdout():
    done = run_cli_subprocess("coverage", "--age", "12", "--icd10", "C91.00", "--json")
    assert done.code == 1, done.stderr
    assert json.loads(done.stdout)["decision"] != "meets_criteria"
    assert "Traceback" not in done.stderr


def test_newly_diagnosed_is_not_covered_exit_1_naming_the_criterion():
    code, data = run_json(*ADULT_PH_NEGATIVE[:-1], "newly-diagnosed")
    assert (code, data["decision"]) == (1, "criteria_not_met")
    done = run(*ADULT_PH_NEGATIVE[:-1], "newly-diagnosed")
    assert done.code == 1 and "relapsed_or_refractory" in done.stdout


def test_several_codes_and_an_invalid_code_on_the_command_line():
    assert run_json(*ADULT_PH_NEGATIVE, "--icd10", "Z51.11")[0] == 0  # C91.00 and Z51.11
    assert (
        run_json("--age", "45", "--icd10", "Z51.11,C91.00", "--cd22-percent", "80", "--ph", "negative", "--disease-status", "refractory")[1]["decision"]
        == "meets_criteria"
    )
    done = run("--age", "45", "--icd10", "C91.000")
    assert done.code == 2 and "icd10" in done.stderr and "Traceback" not in done.stderr
