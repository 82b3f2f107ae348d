"""Hostile input to the real command: one clean line and exit 2 (or 3 for storage), never a traceback.

Each case here once crashed, passed silently, or printed a wall of text.
"""

from __future__ import annotations

import concurrent.futures
import os
import stat

import pytest

from infusion_app.cli.common import MAX_ERROR_CHARS, one_line
from infusion_app.domain.formatting import format_number
from tests.cli_helpers import assert_clean_invalid, run_cli, run_cli_subprocess

PIN = {"INFUSION_PREP_PIN": "482913"}


def assert_no_traceback(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 1, result.stderr


@pytest.mark.parametrize(
    "args, field",
    [
        (["calc", "--height", "170 cm", "--weight", "1e308 kg", "--cycle", "1", "--day", "1"], "weight"),
        (["coverage", "--age", "1e308", "--icd10", "C91.00"], "age"),
        (["coverage", "--age", "40", "--icd10", "C91.00", "--cd22-percent", "1e308"], "cd22"),
        (["deadlines", "--reconstituted", "9999-12-31T23:59+00:00"], "reconstituted"),
        (["deadlines", "--reconstituted", "2026-11-27T09:00+01:00", "--diluted", "9999-12-31T23:59+00:00", "--diluted-storage", "room"], "diluted"),
        (["deadlines", "--reconstituted", "0001-01-01T00:00-14:00"], "reconstituted"),
        (["schedule", "--cycle", "1", "--start", "9999-12-31"], "start"),
        (["schedule", "--cycle", "1", "--start", "0001-01-01"], "start"),
        (["schedule", "--cycle", "1", "--start", "2026-11-27", "--given", "8=9999-12-31"], "given"),
    ],
)
def test_extreme_numbers_and_dates_are_refused_naming_the_field(args, field):
    result = run_cli(*args)
    assert_clean_invalid(result, field)
    assert "out of range" in result.stderr or "outside" in result.stderr, result.stderr


def test_a_huge_value_in_an_error_keeps_the_accepted_range_and_stays_short():
    result = run_cli("calc", "--height", "170 cm", "--weight", "1e308 kg", "--cycle", "1", "--day", "1")
    assert_clean_invalid(result, "weight")
    assert "0.5 to 650 kg" in result.stderr or "accepted range" in result.stderr
    assert len(result.stderr.strip()) < MAX_ERROR_CHARS + 100


@pytest.mark.parametrize(
    "args, field",
    [
        (["coverage", "--age", "40", "--icd10", "x" * 100_000], "icd10"),
        (["coverage", "--age", "40", "--icd10", "a\nb"], "icd10"),
        (["calc", "--height", "170 cm", "--weight", "70 kg", "--cycle", "x" * 100_000, "--day", "1"], "cycle"),
    ],
)
def test_long_or_multiline_input_gives_one_short_line(args, field):
    result = run_cli(*args)
    assert_clean_invalid(result, field)
    assert len(result.stderr.strip()) < MAX_ERROR_CHARS + 100


def test_one_line_escapes_control_characters_and_cuts_the_middle():
    assert one_line("bad 'a\nb\x00c'") == "bad 'a\\nb\\x00c'"
    cut = one_line("start " + "x" * 10_000 + " must be 1 to 6")
    assert cut.startswith("start ") and cut.endswith("must be 1 to 6")
    assert len(cut) < MAX_ERROR_CHARS + 60


def test_format_number_prints_any_finite_value():
    assert format_number(1e308, 0).startswith("100,000,000")
    assert format_number(10**40, 2) == f"{10**40:,}"


@pytest.fixture()
def course_folder(tmp_path):
    folder = str(tmp_path / "data")
    assert run_cli("user", "add", "Pat Pharm", "--role", "pharmacist", "--data-dir", folder, env=PIN).code == 0
    assert run_cli("course", "new", "MRN001", "--hsct", "no", "--user", "Pat Pharm", "--data-dir", folder, env=PIN).code == 0
    return folder


@pytest.mark.parametrize("count", ["1e308", "2000000", "inf", "nan", "-1"])
def test_an_impossible_blast_count_is_refused_and_never_stored(course_folder, count):
    result = run_cli("course", "blasts", "MRN001", "--count", count, "--date", "2026-11-20", "--user", "Pat Pharm", "--data-dir", course_folder, env=PIN)
    assert_clean_invalid(result, "blasts")
    assert "1,000,000" in result.stderr
    # A stored 1e308 once made every later `course show` crash while formatting it.
    shown = run_cli("course", "show", "MRN001", "--json", "--data-dir", course_folder)
    assert shown.code in (0, 1), shown.stderr
    assert "Traceback" not in shown.stderr
    assert shown.json()["blasts_per_mm3"] is None


@pytest.mark.parametrize("date_text", ["9999-12-31", "0001-01-01"])
def test_course_dates_outside_the_calendar_span_are_refused(course_folder, date_text):
    result = run_cli("course", "blasts", "MRN001", "--count", "100", "--date", date_text, "--user", "Pat Pharm", "--data-dir", course_folder, env=PIN)
    assert_clean_invalid(result, "date")
    assert "1900 to 2199" in result.stderr


def test_a_huge_list_limit_is_refused(tmp_path):
    result = run_cli("prep", "list", "--limit", "1" + "0" * 400, "--data-dir", str(tmp_path / "d"))
    assert_clean_invalid(result, "--limit")


@pytest.mark.parametrize("command", ["sheet", "label"])
def test_an_output_in_an_unwritable_folder_is_one_line(command):
    result = run_cli(command, "--demo", "--out", "/proc/robustness-test.pdf")
    assert_clean_invalid(result, "out")


@pytest.mark.parametrize("command", ["sheet", "label"])
def test_a_pipe_or_device_is_never_replaced_by_the_pdf(command, tmp_path):
    # A pipe stands in for /dev/null: run as root, the atomic rename replaced the device node.
    pipe = tmp_path / "pipe.pdf"
    os.mkfifo(pipe)
    result = run_cli(command, "--demo", "--out", str(pipe))
    assert_clean_invalid(result, "out")
    assert "not a regular file" in result.stderr
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


def test_programs_creating_one_new_database_at_once_never_crash(tmp_path):
    # Real processes: the race is between programs, each with its own engine and migration.
    folder = str(tmp_path / "fresh")
    commands = [["prep", "list"], ["audit", "verify"], ["user", "list"], ["course", "list"]]
    with concurrent.futures.ThreadPoolExecutor(len(commands)) as pool:
        results = list(pool.map(lambda c: run_cli_subprocess(*c, "--data-dir", folder), commands))
    for result in results:
        assert "Traceback" not in result.stderr, result.stderr
        assert result.code in (0, 3), (result.code, result.stderr)
    assert run_cli("audit", "verify", "--data-dir", folder).code == 0


def test_a_small_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    # SQLite takes a file shorter than its header for an empty database and builds one over it.
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    result = run_cli("prep", "list", "--database", f"sqlite:///{notes}")
    assert result.code == 3, (result.code, result.stderr)
    assert "not a readable SQLite database" in result.stderr
    assert_no_traceback(result)
    assert notes.read_text() == "x"


@pytest.mark.parametrize("flag", ["--data-dir", "--database"])
@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_storage_option_never_falls_back_to_the_user_data_folder(flag, value):
    result = run_cli("prep", "list", flag, value)
    assert_clean_invalid(result, flag)


def test_an_absurd_interruption_length_is_refused(course_folder):
    result = run_cli(
        "course", "assess", "MRN001", "--kind", "interruption", "--days", "1" + "0" * 30, "--user", "Pat Pharm", "--data-dir", course_folder, env=PIN
    )
    assert_clean_invalid(result, "interruption-days")
    assert "1 to 3,650" in result.stderr
