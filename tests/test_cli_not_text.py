"""Issue 15 item 13's class: what a shell hands over that is not usable text or cannot be a
path never ends in a traceback, a misleading "stored value is malformed" (exit 3) or a stored
row: undecodable bytes in ANY option (Python gives them as lone surrogates), and a folder or
database path with a component longer than the file system allows, are refused as input (exit
2, one line naming the option)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.records import Role
from infusion_app.service import open_service
from tests.cli_helpers import run_cli

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
PAUL = "246813"
NOT_TEXT = "bad\udcff"  # b"bad\xff" from a Latin-1 terminal, as os.fsdecode gives it
LONG = "a" * 300


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        service.add_user("Paul Pharm", Role.PHARMACIST, PAUL)
        patient_args = (
            "--patient-name",
            "Doe, Jane",
            "--mrn",
            "123456",
            "--dob",
            "1970-05-17",
            "--height",
            "170 cm",
            "--weight",
            "70 kg",
            "--cycle",
            "1",
            "--day",
            "1",
        )
    made = run_cli("prep", "new", *patient_args, "--user", "Paul Pharm", "--data-dir", str(folder), env={"INFUSION_PREP_PIN": PAUL})
    assert made.code == 0, made.stderr
    return folder, made.stdout.strip().splitlines()[0]


def _one_clean_line(result, option: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == 2, (result.code, result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr and option in lines[0], result.stderr
    assert "\udcff" not in result.stderr and "malformed" not in result.stderr


@pytest.mark.parametrize("option", ["--reason", "--user"])
def test_bytes_that_are_not_text_in_a_step_are_refused_and_nothing_is_stored(data, option):
    folder, prep_id = data
    values = {"--reason": "label torn", "--user": "Paul Pharm"}
    values[option] = NOT_TEXT
    result = run_cli(
        "prep",
        "record",
        prep_id,
        "discarded",
        "--reason",
        values["--reason"],
        "--user",
        values["--user"],
        "--data-dir",
        str(folder),
        env={"INFUSION_PREP_PIN": PAUL},
    )
    _one_clean_line(result, option)
    shown = run_cli("prep", "show", prep_id, "--json", "--data-dir", str(folder))
    assert shown.code == 0 and json.loads(shown.stdout)["active"] is True, shown.stdout
    assert run_cli("audit", "verify", "--data-dir", str(folder)).code == 0


def test_bytes_that_are_not_text_in_a_new_preparations_identifiers_are_refused(data):
    folder, _ = data
    result = run_cli(
        "prep",
        "new",
        "--patient-name",
        "Doe, Jane",
        "--mrn",
        "12" + NOT_TEXT,
        "--dob",
        "1970-05-17",
        "--height",
        "170 cm",
        "--weight",
        "70 kg",
        "--cycle",
        "1",
        "--day",
        "1",
        "--user",
        "Paul Pharm",
        "--data-dir",
        str(folder),
        env={"INFUSION_PREP_PIN": PAUL},
    )
    _one_clean_line(result, "MRN")


def test_a_calculation_input_that_is_not_text_is_refused():
    _one_clean_line(run_cli("calc", "--height", "17" + NOT_TEXT + " cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"), "--height")


def test_the_service_refuses_a_sign_in_name_that_is_not_text(data):
    """The same rule for every client: the GUI and any future interface sign in through it."""
    from infusion_app.domain.errors import ValidationError

    folder, _ = data
    with open_service(data_dir=folder, clock=FakeClock(T0)) as service:
        with pytest.raises(ValidationError, match="not text"):
            service.authenticate("Paul\udcffPharm", PAUL)
        assert service.audit_entries()[-1].action != "sign_in.failed"  # refused as input, not a PIN guess


@pytest.mark.parametrize("location", ["data-dir", "database"])
def test_a_path_component_longer_than_the_file_system_allows_is_input_not_a_crash(tmp_path, location):
    target = ["--data-dir", str(tmp_path / LONG)] if location == "data-dir" else ["--database", f"sqlite:///{tmp_path / LONG}.sqlite3"]
    result = run_cli("prep", "list", *target)
    _one_clean_line(result, "255")
    assert not any(tmp_path.iterdir())


def test_a_data_dir_with_control_characters_is_refused_before_a_folder_is_made(tmp_path):
    result = run_cli("prep", "list", "--data-dir", str(tmp_path / "a\x1b[31mb"))
    _one_clean_line(result, "data dir")
    assert not any(tmp_path.iterdir())
