"""`infusion-prep course`: a stored course from opening to a decision."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.cli_helpers import assert_clean_invalid, run_cli

PHARMACIST = {"INFUSION_PREP_PIN": "246824"}


def _add_users(folder):
    done = run_cli("user", "add", "Pat Pharmacist", "--role", "pharmacist", "--data-dir", folder, env=PHARMACIST)
    assert done.code == 0, done.stderr
    done = run_cli(
        "user", "add", "Nina Nurse", "--role", "nurse", "--user", "Pat Pharmacist", "--data-dir", folder, env={**PHARMACIST, "INFUSION_PREP_NEW_PIN": "135713"}
    )
    assert done.code == 0, done.stderr


_USERS_TEMPLATE: list[Path] = []


def make_users(folder):
    """A data folder with Pat Pharmacist and Nina Nurse, added by `user add` once per session
    (a migration and two PIN derivations) and copied for each caller."""
    if not _USERS_TEMPLATE:
        root = Path(tempfile.mkdtemp(prefix="infusion-prep-test-users-"))
        atexit.register(shutil.rmtree, root, True)
        _add_users(str(root / "data"))
        _USERS_TEMPLATE.append(root / "data")
    shutil.copytree(_USERS_TEMPLATE[0], folder)
    return folder


@pytest.fixture
def data(tmp_path):
    return make_users(str(tmp_path / "data"))


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """One course with cycle 1 started, shared by the invalid-input cases (which change nothing)."""
    folder = make_users(str(tmp_path_factory.mktemp("course") / "data"))
    assert course(folder, "new", "MRN001", "--hsct", "no").code == 0
    assert course(folder, "start", "MRN001", "--date", "2025-12-20").code == 0
    return folder


def course(folder, *args, user="Pat Pharmacist", pin="246824"):
    return run_cli("course", *args, "--user", user, "--data-dir", folder, "--json", env={"INFUSION_PREP_PIN": pin})


def show(folder, mrn="MRN001"):
    done = run_cli("course", "show", mrn, "--data-dir", folder, "--json")
    assert done.code == 0, done.stderr
    return done.json()


def test_a_course_from_opening_to_a_decision(data):
    assert course(data, "new", "MRN001", "--hsct", "no").code == 0
    # Dates in the past (relative to the real clock) so that nothing is 'in the future'.
    assert course(data, "start", "MRN001", "--date", "2025-12-20").code == 0
    blocked = course(data, "given", "MRN001", "--cycle", "1", "--day", "1", "--date", "2025-12-20", user="Nina Nurse", pin="135713")
    assert blocked.code == 1 and "circulating blasts" in blocked.stderr
    assert blocked.json()["stored"] is False
    assert course(data, "blasts", "MRN001", "--count", "8000", "--date", "2025-12-19", user="Nina Nurse", pin="135713").code == 0
    assert course(data, "weight", "MRN001", "--weight", "154 lb", "--date", "2025-12-19").code == 0
    from tests.lab_helpers import CLI, cli_checklist

    for kind in ("cbc", "liver", "ecg", "electrolytes"):
        assert course(data, "lab", "MRN001", "--kind", kind, *CLI[kind], "--taken", "2025-12-20T08:00+00:00").code == 0
    cli_checklist(course, data)
    given = course(data, "given", "MRN001", "--cycle", "1", "--day", "1", "--date", "2025-12-20", user="Nina Nurse", pin="135713")
    assert given.code == 0, given.stderr
    status = show(data)
    assert status["cycles"][0]["doses"][0]["given"] == "2025-12-20"
    assert status["cycles"][0]["next_cycle_start"] == "2026-01-10"
    late = course(data, "given", "MRN001", "--cycle", "1", "--day", "8", "--date", "2025-12-31", user="Nina Nurse", pin="135713")
    assert late.code == 1 and "outside its window" in late.stderr

    assessed = course(data, "assess", "MRN001", "--kind", "interruption", "--days", "14")
    assert assessed.code == 0, assessed.stderr
    advice = assessed.json()["advice"]
    assert [a["code"] for a in advice] == ["interruption-omit", "interruption-reduce"]
    assert all(a["id"] for a in advice) and advice[1]["sources"][0]["path"] == "dose_modification.interruption.reduce_next_cycle_from"
    decided = course(data, "decide", "MRN001", str(advice[1]["id"]), "--accept", "--by", "Dr Who", "--reason", "per label")
    assert decided.code == 0, decided.stderr
    status = show(data)
    assert status["reduction"]["level"] == 1
    assert [a["id"] for a in status["open_advice"]] == [advice[0]["id"]]
    history = {a["id"]: a for a in status["advice_history"]}
    assert history[advice[1]["id"]]["decision"]["decided_by"] == "Dr Who"

    # Day 8 (planned 2025-12-27) is long overdue: store today's advice for it and accept the omission.
    overdue = course(data, "assess", "MRN001", "--kind", "overdue")
    assert overdue.code == 0, overdue.stderr
    omit = next(a for a in overdue.json()["advice"] if a["code"] == "interruption-omit")
    assert (omit["cycle"], omit["day"]) == (1, 8)
    assert course(data, "decide", "MRN001", str(omit["id"]), "--accept", "--by", "Dr Who", "--reason", "missed").code == 0
    doses = {d["day"]: d for d in show(data)["cycles"][0]["doses"]}
    assert doses[8]["status"] == "omitted" and doses[15]["status"] == "planned"


def test_text_show_names_the_limit_and_the_next_dose(data):
    course(data, "new", "MRN001", "--hsct", "yes")
    done = run_cli("course", "show", "MRN001", "--data-dir", data)
    assert done.code == 0
    assert "HSCT planned: 2 cycles" in done.stdout and "Next: cycle 1 Day 1" in done.stdout


def test_roles_are_enforced(data):
    refused = course(data, "new", "MRN001", "--hsct", "no", user="Nina Nurse", pin="135713")
    assert refused.code == 1 and "pharmacist" in refused.stderr


@pytest.mark.parametrize(
    "args, field",
    [
        (("start", "MRN001", "--date", "2025-02-30"), "date"),
        (("given", "MRN001", "--cycle", "1", "--day", "4", "--date", "2025-12-20"), "day"),
        (("given", "MRN001", "--cycle", "9", "--day", "1", "--date", "2025-12-20"), "cycle"),
        (("blasts", "MRN001", "--count", "many", "--date", "2025-12-19"), "blasts"),
        (("weight", "MRN001", "--weight", "70", "--date", "2025-12-19"), "weight"),
        (("assess", "MRN001", "--kind", "interruption"), "--days"),
        (("assess", "MRN001", "--kind", "liver", "--bilirubin-x-uln", "2", "--ast-alt-x-uln", "3", "--cause", "wine"), "cause"),
        (("decide", "MRN001", "7", "--accept", "--by", "Dr", "--reason", "x"), "advice"),
        (("response", "MRN001", "--response", "pr", "--date", "2025-12-19"), "--response"),
    ],
)
def test_invalid_input_exits_2_with_one_line(started, args, field):
    assert_clean_invalid(course(started, *args), field)


def test_invalid_input_stores_nothing(started):
    before = show(started)
    assert_clean_invalid(course(started, "given", "MRN001", "--cycle", "1", "--day", "8", "--date", "2025-13-01"), "date")
    assert show(started) == before


def test_a_bare_blast_count_with_a_decimal_point_is_refused_and_one_grouped_with_points_too(data):
    """b50a880 recorded '0.500' as 0.5 per mm³: cells per mm³ are whole, so it was 0.5 × 10⁹/L, 500/mm³,
    under-read a thousandfold (and a bare '12.5', 12,500/mm³, read under the cytoreduction threshold).
    Both are invalid input (exit 2) naming both accepted forms; '12.000' stays refused as grouped thousands."""
    assert course(data, "new", "MRN001", "--hsct", "no").code == 0
    assert_clean_invalid(course(data, "blasts", "MRN001", "--count", "12.000", "--date", "2025-12-19"), "12,000 or 12000")
    assert_clean_invalid(course(data, "blasts", "MRN001", "--count", "0.500", "--date", "2025-12-19"), "type 500, or 0.500 x10^9/L")
    assert_clean_invalid(course(data, "blasts", "MRN001", "--count", "12.5", "--date", "2025-12-19"), "type 12500, or 12.5 x10^9/L")
    assert show(data)["blasts_per_mm3"] is None
    done = course(data, "blasts", "MRN001", "--count", "12.5 x10^9/L", "--date", "2025-12-19")
    assert done.code == 0, done.stderr
    assert show(data)["blasts_per_mm3"] == 12500


def test_unknown_mrn_is_invalid(data):
    assert_clean_invalid(run_cli("course", "show", "NOPE", "--data-dir", data), "mrn")


@pytest.mark.parametrize("action", ["start", "move"])
def test_a_cycle_is_not_started_or_moved_decades_ahead(data, action):
    """Hostile test: `course start --date 2099-01-01` was stored (exit 0): every other course date
    refuses the future, and a start, a plan, may be ahead only by the cycle it begins."""
    from datetime import date, timedelta

    assert course(data, "new", "MRN001", "--hsct", "no").code == 0
    if action == "move":
        assert course(data, "start", "MRN001", "--date", date.today().isoformat()).code == 0
    far = course(data, action, "MRN001", "--date", "2099-01-01")
    assert far.code == 2 and "start" in far.stderr and "e.g." in far.stderr, far.stderr
    assert len(far.stderr.strip().splitlines()) == 1
    soon = course(data, action, "MRN001", "--date", (date.today() + timedelta(days=7)).isoformat())
    assert soon.code == 0, soon.stderr
    assert show(data)["cycles"][0]["start"] == (date.today() + timedelta(days=7)).isoformat()
