"""`infusion-prep course` for MYLOTARG (issue 17): --drug and --regimen, the regimen's dose days, no BESPONSA wording."""

from __future__ import annotations

import pytest

from tests.test_cli_course import course, make_users, show
from tests.cli_helpers import run_cli

DRUG = ("--drug", "gemtuzumab-ozogamicin")
NURSE = {"user": "Nina Nurse", "pin": "135713"}


@pytest.fixture
def data(tmp_path):
    return make_users(str(tmp_path / "data"))


def test_a_fractionated_course_from_the_command_line(data):
    opened = course(data, "new", "MRN001", *DRUG, "--regimen", "fractionated")
    assert opened.code == 0, opened.stderr
    assert opened.json()["drug"] == "gemtuzumab-ozogamicin" and opened.json()["regimen"] == "fractionated"
    assert course(data, "start", "MRN001", "--date", "2025-12-20").code == 0
    status = show(data)
    assert [(d["day"], d["planned"], d["mg_per_m2"]) for d in status["cycles"][0]["doses"]] == [
        (1, "2025-12-20", 3.0),
        (4, "2025-12-23", 3.0),
        (7, "2025-12-26", 3.0),
    ]
    assert status["limit"]["max_cycles"] == 1 and status["responses"] == []
    text = run_cli("course", "show", "MRN001", "--data-dir", data)
    assert text.code == 0, text.stderr
    assert "Day 4: planned 2025-12-23" in text.stdout and "Day 7: planned 2025-12-26" in text.stdout
    assert "fractionated" in text.stdout
    for word in ("BESPONSA", "inotuzumab", "CR/CRi", "CRi", "HSCT"):
        assert word not in text.stdout, (word, text.stdout)

    day8 = course(data, "given", "MRN001", "--cycle", "1", "--day", "8", "--date", "2025-12-27", **NURSE)
    assert day8.code == 2 and "Day 8 is not a dose day" in day8.stderr and "1, 4, 7" in day8.stderr
    assert "Traceback" not in day8.stderr
    assert course(data, "blasts", "MRN001", "--count", "100", "--date", "2025-12-19", **NURSE).code == 0
    day1 = course(data, "given", "MRN001", "--cycle", "1", "--day", "1", "--date", "2025-12-20", **NURSE)
    # Given weeks ago without the labs on file: recorded only as a pharmacist's deviation (exit 1 without it).
    assert day1.code == 1 and "labs" in day1.stderr
    second = course(data, "start", "MRN001", "--date", "2026-02-20")
    assert second.code == 1 and "cycle 2 is beyond the limit" in second.stderr and "fractionated" in second.stderr
    response = course(data, "response", "MRN001", "--response", "cr", "--date", "2025-12-20", **NURSE)
    assert response.code == 2 and "regimen" in response.stderr
    assert show(data)["responses"] == [] and len(show(data)["cycles"]) == 1


def test_a_single_agent_course_and_its_days(data):
    assert course(data, "new", "MRN001", *DRUG, "--regimen", "single-agent").code == 0
    assert course(data, "start", "MRN001", "--date", "2025-12-20").code == 0
    doses = show(data)["cycles"][0]["doses"]
    assert [(d["day"], d["planned"], d["mg_per_m2"]) for d in doses] == [(1, "2025-12-20", 6.0), (8, "2025-12-27", 3.0)]
    day4 = course(data, "given", "MRN001", "--cycle", "1", "--day", "4", "--date", "2025-12-23", **NURSE)
    assert day4.code == 2 and "Day 4 is not a dose day" in day4.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (DRUG, ["regimen", "fractionated", "single-agent"]),  # a regimen drug without its regimen
        ((*DRUG, "--regimen", "weekly"), ["weekly", "single-agent"]),
        (("--drug", "inotuzumab-ozogamicin", "--regimen", "fractionated", "--hsct", "no"), ["regimen"]),
        (("--drug", "inotuzumab-ozogamicin"), ["--hsct"]),  # BESPONSA's cycles still need the HSCT plan
    ],
)
def test_course_new_refuses_a_missing_or_wrong_regimen(data, args, words):
    done = course(data, "new", "MRN001", *args)
    assert done.code == 2 and "Traceback" not in done.stderr, done.stderr
    assert all(w in done.stderr for w in words), done.stderr
    assert run_cli("course", "list", "--data-dir", data, "--json").json()["courses"] == []


def test_prep_new_is_judged_by_the_mylotarg_course_and_gives_day_4(data):
    from datetime import date, timedelta

    today = date.today()  # the command line's clock is the real one
    start = (today - timedelta(days=3)).isoformat()
    assert course(data, "new", "MRN001", *DRUG, "--regimen", "fractionated").code == 0
    assert course(data, "blasts", "MRN001", "--count", "100", "--date", start).code == 0
    assert course(data, "start", "MRN001", "--date", start).code == 0
    from tests.lab_helpers import cli_normal_labs

    cli_normal_labs(course, data)
    added = run_cli(
        "user",
        "add",
        "Ann Other",
        "--role",
        "pharmacist",
        "--user",
        "Pat Pharmacist",
        "--data-dir",
        data,
        env={"INFUSION_PREP_PIN": "246824", "INFUSION_PREP_NEW_PIN": "246825"},
    )
    assert added.code == 0, added.stderr
    given = run_cli(
        "course",
        "given",
        "MRN001",
        "--cycle",
        "1",
        "--day",
        "1",
        "--date",
        start,
        "--override-reason",
        "given on the ward, labs on paper",
        "--override-by",
        "Ann Other",
        "--user",
        "Pat Pharmacist",
        "--data-dir",
        data,
        "--json",
        env={"INFUSION_PREP_PIN": "246824", "INFUSION_PREP_OVERRIDE_PIN": "246825"},
    )
    assert given.code == 0, given.stderr
    order = (
        "prep",
        "new",
        *DRUG,
        "--patient-name",
        "Doe, Jane",
        "--mrn",
        "MRN001",
        "--dob",
        "1970-01-01",
        "--height",
        "170 cm",
        "--weight",
        "70 kg",
        "--user",
        "Pat Pharmacist",
        "--data-dir",
        data,
        "--json",
    )
    other = run_cli(*order, "--regimen", "single-agent", env={"INFUSION_PREP_PIN": "246824"})
    assert other.code == 2 and "fractionated regimen" in other.stderr and "Traceback" not in other.stderr
    made = run_cli(*order, "--regimen", "fractionated", env={"INFUSION_PREP_PIN": "246824"})
    assert made.code == 0, made.stderr
    shown = run_cli("prep", "show", made.json()["id"], "--data-dir", data, "--json").json()
    stored = shown.get("order", shown)
    assert (stored["cycle"], stored["day"], stored["regimen"]) == (1, 4, "fractionated")
    assert stored["course"]["on_file"] is True


def test_prep_new_with_another_regimen_than_the_courses_names_the_option_and_the_courses_regimen(data):
    """An order's --regimen that is not its course's was "invalid regimen:" too: named as the option,
    with the course's regimen as the example."""
    assert course(data, "new", "MRN001", *DRUG, "--regimen", "fractionated").code == 0
    order = ("--patient-name", "Doe, Jane", "--mrn", "MRN001", "--dob", "1970-05-17", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1")
    made = run_cli(
        "prep", "new", *DRUG, "--regimen", "single-agent", *order, "--user", "Pat Pharmacist", "--data-dir", data, env={"INFUSION_PREP_PIN": "246824"}
    )
    assert made.code == 2 and "Traceback" not in made.stderr and len(made.stderr.strip().splitlines()) == 1
    assert "invalid --regimen: the course for MRN MRN001 is MYLOTARG's fractionated regimen, not its single-agent regimen" in made.stderr
    assert "(e.g. --regimen fractionated)" in made.stderr
