"""The command as a real process: what in-process runs (tests/cli_helpers.run_cli) cannot show.

The exit status the operating system reports, stderr free of any traceback from start-up to
exit, and output through a pipe into another program.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli_helpers import assert_clean_invalid, run_cli, run_cli_subprocess

ORDER = ["--drug", "inotuzumab-ozogamicin", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"]


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


def test_the_program_stores_a_new_pin_at_its_own_scrypt_cost(staffed_data_dir):
    """The suite hashes PINs at a test cost in its own process (tests/conftest.py); the program
    itself never does: a PIN added by the real command is stored at the production cost."""
    import sqlite3

    from infusion_app.storage.database import DB_FILENAME
    from tests.conftest import PRODUCTION_SCRYPT_N, TEST_SCRYPT_N

    done = run_cli_subprocess(
        "user", "add", "Nia Newhire", "--role", "nurse", "--user", "Paul Pharm", "--data-dir", str(staffed_data_dir),
        env={"INFUSION_PREP_PIN": "222222", "INFUSION_PREP_NEW_PIN": "135791"},
    )  # fmt: skip
    assert done.code == 0, done.stderr
    connection = sqlite3.connect(staffed_data_dir / DB_FILENAME)
    try:
        stored = dict(connection.execute("SELECT name, pin_hash FROM users").fetchall())
    finally:
        connection.close()
    assert int(stored["Nia Newhire"].split("$")[1]) == PRODUCTION_SCRYPT_N >= 2**14
    assert int(stored["Paul Pharm"].split("$")[1]) == TEST_SCRYPT_N  # the template's, made in this process
