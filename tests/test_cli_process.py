"""The command as a real process: what in-process runs (tests/cli_helpers.run_cli) cannot show.

The exit status the operating system reports, stderr free of any traceback from start-up to
exit, and output through a pipe into another program.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli_helpers import assert_clean_invalid, run_cli, run_cli_subprocess

ORDER = ["--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"]


def test_exit_status_0_for_a_dose_that_can_be_prepared():
    done = run_cli_subprocess("calc", *ORDER, "--json")
    assert done.code == 0 and done.stderr == "", done.stderr
    assert done.json()["dose_mg"] == 1.45  # 1.46 mg calculated, drawn as 5.8 mL


def test_exit_status_1_for_a_hard_stop_with_the_result_still_printed():
    # An infant under the label's 1 year at the dose date: a hard stop.
    small_child = [
        "calc",
        "--height",
        "66 cm",
        "--weight",
        "7.5 kg",
        "--cycle",
        "1",
        "--day",
        "8",
        "--dob",
        "2026-06-01",
        "--dose-date",
        "2026-12-01",
        "--json",
    ]
    done, in_process = run_cli_subprocess(*small_child), run_cli(*small_child)
    assert (done.code, done.stdout) == (in_process.code, in_process.stdout)
    assert done.code == 1 and "Traceback" not in done.stderr


def test_exit_status_2_and_one_line_for_invalid_input_in_a_real_process():
    assert_clean_invalid(run_cli_subprocess("calc", "--height", "tall", "--weight", "70 kg", "--cycle", "1", "--day", "1"), "height")
    assert_clean_invalid(run_cli_subprocess("prep", "list", "--limit", "many", "--data-dir", "/nonexistent-never-created"), "--limit")


def test_a_storage_failure_exits_3_without_a_traceback(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    done = run_cli_subprocess("prep", "list", "--database", f"sqlite:///{notes}")
    assert done.code == 3 and "Traceback" not in done.stderr, done.stderr
    assert notes.read_text() == "not a database\n"


def test_json_goes_through_a_pipe_into_another_program():
    producer = subprocess.Popen([sys.executable, "-m", "infusion_app", "calc", *ORDER, "--json"], stdout=subprocess.PIPE)
    consumer = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.load(sys.stdin)['vials'])"],
        stdin=producer.stdout,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert producer.stdout is not None
    producer.stdout.close()
    assert producer.wait(timeout=60) == 0
    assert (consumer.returncode, consumer.stdout.strip()) == (0, "2")
    assert json.loads(run_cli("calc", *ORDER, "--json").stdout)["vials"] == 2
