"""What is typed on the command line is used or refused, never ignored; no output failure prints a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infusion_app.cli import main
from tests.cli_helpers import with_drug

from .cli_helpers import run_cli

CALC = ["calc", "--drug", "inotuzumab-ozogamicin", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"]


def test_data_dir_before_the_subcommand_is_used(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("INFUSION_PREP_PIN", "222222")
    folder = tmp_path / "site"
    assert main(["--data-dir", str(folder), "user", "add", "paul", "--role", "pharmacist"]) == 0
    assert (folder / "infusion-prep.sqlite3").is_file()
    capsys.readouterr()
    assert main(["user", "list", "--data-dir", str(folder)]) == 0
    assert "paul" in capsys.readouterr().out
    assert main(["--data-dir", str(folder), "user", "list"]) == 0
    assert "paul" in capsys.readouterr().out
    assert main(["--database", f"sqlite:///{folder / 'infusion-prep.sqlite3'}", "user", "list"]) == 0
    assert "paul" in capsys.readouterr().out
    assert main(["user", "--data-dir", str(folder), "list"]) == 0  # between the command and its action
    assert "paul" in capsys.readouterr().out
    assert main(["prep", "--data-dir", str(folder), "list", "--json"]) == 0
    assert main(["--data-dir", str(folder), "course", "list"]) == 0


def test_a_global_option_twice_with_different_values_is_refused(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path / "a"), "user", "list", "--data-dir", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and "twice" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "command",
    [
        CALC,
        ["coverage", "--age", "40", "--icd10", "C91.00"],
        ["deadlines", "--reconstituted", "2026-11-27T08:00Z"],
        ["schedule", "--cycle", "1", "--start", "2026-12-20"],
    ],
)
@pytest.mark.parametrize("flag", ["--data-dir", "--database"])
def test_a_storage_option_before_a_command_that_stores_nothing_is_refused(command, flag, tmp_path, capsys):
    assert main([flag, str(tmp_path), *command]) == 2
    err = capsys.readouterr().err
    assert flag in err and "does not apply" in err


def _with_closed_stdout(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the command with stdout a pipe whose reader is already gone (`| head` that has quit)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "infusion_app", *with_drug(args)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={**os.environ, **(env or {})},
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ["deadlines", "--reconstituted", "2026-11-27T08:00Z", "--json"],
        ["deadlines", "--reconstituted", "2026-11-27T08:00Z"],
        [*CALC, "--json"],
        CALC,
        ["coverage", "--age", "40", "--icd10", "C91.00", "--cd22-percent", "80", "--ph", "negative", "--json"],
        ["schedule", "--cycle", "1", "--start", "2026-12-20", "--json"],
        ["--version"],
        ["--help"],
        ["course", "--help"],
    ],
)
def test_a_closed_pipe_never_prints_a_traceback(args):
    done = _with_closed_stdout(args)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.returncode in (0, 141), (done.returncode, done.stderr)


def test_a_closed_pipe_with_stored_data_never_prints_a_traceback(tmp_path):
    env = {"INFUSION_PREP_PIN": "222222"}
    assert run_cli("user", "add", "paul", "--role", "pharmacist", "--data-dir", str(tmp_path), env=env).code == 0
    for args in (["user", "list"], ["audit", "verify"], ["audit", "export"]):
        done = _with_closed_stdout([*args, "--data-dir", str(tmp_path)], env)
        assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, (args, done.stderr)


def test_a_full_disk_on_stdout_is_one_line():
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "infusion_app", *CALC, "--json"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "cannot write the output" in done.stderr


def test_instant_warnings_reach_stderr_and_the_command_still_runs():
    result = run_cli("deadlines", "--reconstituted", "2026-07-15T09:00-05:00", "--json", env={"TZ": "America/New_York"})
    assert result.code == 0 and result.json()["reconstituted"] == "2026-07-15T14:00:00+00:00"
    assert "warning" in result.stderr and "--reconstituted" in result.stderr and "10:00 EDT" in result.stderr
    gap = run_cli("deadlines", "--reconstituted", "2026-03-08T02:30-05:00", env={"TZ": "America/New_York"})
    assert gap.code == 0 and "did not exist" in gap.stderr
    clean = run_cli("deadlines", "--reconstituted", "2026-07-15T09:00-04:00", env={"TZ": "America/New_York"})
    assert clean.code == 0 and clean.stderr == ""


def test_a_non_iso_separator_is_refused_on_the_command_line():
    result = run_cli("deadlines", "--reconstituted", "2026-11-27x09:00+01:00")
    assert result.code == 2 and "--reconstituted" in result.stderr and "Traceback" not in result.stderr
    ok = run_cli("deadlines", "--reconstituted", "2026-11-27t08:00z", "--json")
    assert ok.code == 0 and ok.json()["reconstituted"] == "2026-11-27T08:00:00+00:00"


BLANK_TAKES_NO_DEFAULT = [
    # Hostile test: an option typed with an empty value silently became its default (`--drug ''`
    # prepared the site's default drug; `--formula ''` the site's formula): a value given is used
    # or refused, never replaced.
    CALC + ["--drug", ""],
    CALC + ["--drug", "   "],
    CALC + ["--regimen", ""],
    CALC + ["--drug", "mylotarg", "--regimen", " "],
    ["schedule", "--drug", "", "--cycle", "1", "--start", "2026-12-01"],
    ["deadlines", "--drug", "", "--reconstituted", "2026-12-03T09:00+00:00"],
    ["coverage", "--drug", "", "--age", "45", "--icd10", "C91.00"],
    [
        "prep",
        "new",
        "--drug",
        "",
        "--patient-name",
        "Doe, Jane",
        "--mrn",
        "M1",
        "--dob",
        "1970-01-01",
        "--height",
        "170 cm",
        "--weight",
        "70 kg",
        "--cycle",
        "1",
        "--day",
        "1",
        "--user",
        "tina",
    ],
    [
        "prep",
        "new",
        "--formula",
        "",
        "--patient-name",
        "Doe, Jane",
        "--mrn",
        "M1",
        "--dob",
        "1970-01-01",
        "--height",
        "170 cm",
        "--weight",
        "70 kg",
        "--cycle",
        "1",
        "--day",
        "1",
        "--user",
        "tina",
    ],
    ["course", "new", "M1", "--user", "paul", "--drug", " "],
    ["print", "label", "BSP-7K3QX", "--queue", ""],
    ["downtime", "--out", "x.pdf", "--formula", ""],
    # `course lab --taken ''` recorded the lab as taken now, `prep record --at ''` the step as done now;
    # an empty date of birth checked no age (calc) or opened a course without it (course new).
    ["course", "lab", "M1", "--kind", "ecg", "--qtc", "420", "--taken", "", "--user", "paul"],
    ["course", "lab", "M1", "--kind", "ecg", "--qtc", "420", "--taken", " ", "--user", "paul"],
    ["course", "new", "M1", "--hsct", "no", "--dob", "", "--user", "paul"],
    ["prep", "record", "BSP-7K3QX", "reconstituted", "--at", "", "--user", "tina"],
    ["prep", "record", "BSP-7K3QX", "order-verified", "--labs-taken", "2026-12-03T08:00+00:00", "--baseline-taken", "", "--user", "paul"],
    CALC + ["--dob", ""],
    CALC + ["--dob", "1970-01-01", "--dose-date", ""],
]


@pytest.mark.parametrize("args", BLANK_TAKES_NO_DEFAULT)
def test_an_option_given_an_empty_value_is_refused_not_replaced_by_its_default(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = run_cli(*args, "--data-dir", str(tmp_path / "d")) if args[0] in ("prep", "course", "print") else run_cli(*args)
    blank = next(args[i] for i in range(len(args) - 1) if args[i].startswith("--") and not args[i + 1].strip())
    assert done.code == 2, (done.stdout, done.stderr)
    assert blank.lstrip("-") in done.stderr and "e.g." in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not done.stdout.strip()
    assert not (tmp_path / "x.pdf").exists()
