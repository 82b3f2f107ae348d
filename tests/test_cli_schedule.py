"""`infusion-prep schedule`: the contract other tools depend on."""

from __future__ import annotations

import pytest

from tests.cli_helpers import assert_clean_invalid, run_cli


def schedule(*args: str):
    return run_cli("schedule", *args)


def test_json_contract_for_a_first_cycle_across_the_year_end():
    result = schedule("--cycle", "1", "--start", "2026-12-20", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert (data["cycle"], data["cycle_length_days"], data["next_cycle_start"]) == (1, 21, "2027-01-10")
    assert [set(d) >= {"day", "planned", "earliest", "latest", "mg_per_m2", "given"} for d in data["doses"]] == [True] * 3
    assert [(d["day"], d["planned"], d["earliest"], d["latest"], d["mg_per_m2"], d["given"]) for d in data["doses"]] == [
        (1, "2026-12-20", "2026-12-20", "2026-12-20", 0.8, None),
        (8, "2026-12-27", "2026-12-26", "2026-12-29", 0.5, None),
        (15, "2027-01-03", "2027-01-01", "2027-01-05", 0.5, None),
    ]
    assert data["hard_stops"] == []


def test_extension_to_28_days():
    data = schedule("--cycle", "1", "--start", "2026-12-20", "--extend-to-28", "--json").json()
    assert (data["cycle_length_days"], data["next_cycle_start"]) == (28, "2027-01-17")


def test_later_cycle_follows_the_response():
    cr = schedule("--cycle", "2", "--start", "2027-01-31", "--response", "cr", "--json")
    none = schedule("--cycle", "2", "--start", "2027-01-31", "--response", "none", "--json")
    assert cr.code == none.code == 0
    assert cr.json()["doses"][0]["mg_per_m2"] == 0.5 and none.json()["doses"][0]["mg_per_m2"] == 0.8
    assert cr.json()["cycle_length_days"] == 28 and cr.json()["next_cycle_start"] == "2027-02-28"


def test_a_late_day_8_pushes_day_15_and_given_dates_are_echoed():
    result = schedule("--cycle", "1", "--start", "2027-01-28", "--given", "1=2027-01-28", "--given", "8=2027-02-06", "--json")
    assert result.code == 0, result.stderr
    doses = {d["day"]: d for d in result.json()["doses"]}
    assert doses[8]["given"] == "2027-02-06"
    assert (doses[15]["earliest"], doses[15]["latest"]) == ("2027-02-12", "2027-02-13")


def test_a_given_date_outside_its_window_is_a_hard_stop_with_json_still_printed():
    result = schedule("--cycle", "1", "--start", "2026-12-20", "--given", "1=2026-12-20", "--given", "8=2026-12-31", "--json")
    assert result.code == 1
    data = result.json()
    assert len(data["hard_stops"]) == 1 and "Day 8 given on 2026-12-31" in data["hard_stops"][0]
    assert data["doses"][1]["given"] == "2026-12-31"


def test_day_15_under_6_days_after_day_8_is_a_hard_stop():
    result = schedule("--cycle", "1", "--start", "2027-01-28", "--given", "1=2027-01-28", "--given", "8=2027-02-06", "--given", "15=2027-02-11", "--json")
    assert result.code == 1
    assert "6 days after Day 8" in result.json()["hard_stops"][0]


def test_text_output_uses_the_ismp_formatter():
    result = schedule("--cycle", "1", "--start", "2026-12-20")
    assert result.code == 0
    assert "0.8 mg/m²" in result.stdout and "0.5 mg/m²" in result.stdout and "0.50" not in result.stdout


@pytest.mark.parametrize(
    "args, field",
    [
        (("--cycle", "1", "--start", "2026-12-20", "--given", "4=2026-12-23"), "given"),
        (("--cycle", "1", "--start", "2026-12-20", "--given", "eight=2026-12-27"), "given"),
        (("--cycle", "1", "--start", "2026-12-20", "--given", "8"), "given"),
        (("--cycle", "1", "--start", "2026-12-20", "--given", "8=2026-13-01"), "given"),
        (("--cycle", "1", "--start", "2026-12-20", "--given", "8=2026-12-27", "--given", "8=2026-12-28"), "given"),
        (("--cycle", "1", "--start", "2026-02-30"), "start"),
        (("--cycle", "7", "--start", "2026-12-20"), "cycle"),
        (("--cycle", "0", "--start", "2026-12-20"), "cycle"),
        (("--cycle", "x", "--start", "2026-12-20"), "cycle"),
        (("--cycle", "2", "--start", "2026-12-20"), "response"),
        (("--cycle", "2", "--start", "2026-12-20", "--response", "cr", "--extend-to-28"), "extend-to-28"),
        (("--cycle", "1", "--start", "2026-12-20", "--response", "pr"), "--response"),
        (("--start", "2026-12-20"), "--cycle"),
    ],
)
def test_invalid_input_exits_2_with_one_line_naming_the_field(args, field):
    assert_clean_invalid(schedule(*args, "--json"), field)


def test_planning_a_cycle_loads_neither_the_dose_engine_nor_the_course_record():
    # Start-up cost (issue 19): `schedule` needs one cycle's plan (domain/cycle_plan.py), not the
    # course record with its labs, checklists and advice, nor the dose engine (coverage, BSA,
    # measurements) that validate_response was once imported from.
    import subprocess
    import sys

    code = (
        "import sys, io, contextlib\n"
        "from infusion_app.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['schedule', '--drug', 'inotuzumab-ozogamicin', '--cycle', '2', '--start', '2026-12-20', '--response', 'cr']) == 0\n"
        "print(sorted(m for m in ('infusion_app.domain.course', 'infusion_app.domain.dosing', 'infusion_app.domain.labs',\n"
        "                         'infusion_app.domain.checklist', 'infusion_app.domain.coverage') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("regimen", ["fractionated", "single-agent"])
def test_a_regimen_without_an_extended_cycle_1_is_not_planned_extended(regimen):
    """Hostile test: a course refused --extend-to-28 for MYLOTARG (no extended length in its data),
    but `schedule` planned the same cycle 1 as '28 days (extended)' with exit 0."""
    done = schedule("--drug", "gemtuzumab-ozogamicin", "--regimen", regimen, "--cycle", "1", "--start", "2026-12-20", "--extend-to-28", "--json")
    assert_clean_invalid(done, "extend-to-28")
    assert "no extended length" in done.stderr and not done.stdout.strip()
