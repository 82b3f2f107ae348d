"""Issue 15 item 21 (and 1 of its follow-up): every command that asks for a PIN reads it from a
file descriptor (`--pin-fd N`; `--override-pin-fd N` for an overriding pharmacist), so a script
never has to put a PIN in the environment; the README's examples prefer that or the prompt."""

from __future__ import annotations

import argparse
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli

from infusion_app.cli import build_parser

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
PAUL, TINA = "246813", "135790"
ROOT = Path(__file__).resolve().parents[1]


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _leaves(child, (*path, name))


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def test_every_command_that_names_a_signing_user_offers_a_pin_descriptor():
    leaves = list(_leaves(build_parser()))
    signing = [(path, p) for path, p in leaves if "--user" in _options(p)]
    assert len(signing) >= 15  # prep new/record/vial, every course writer, user management, ...
    missing = [" ".join(path) for path, p in signing if "--pin-fd" not in _options(p)]
    assert not missing, f"commands taking --user without --pin-fd: {missing}"
    overriding = [(path, p) for path, p in leaves if "--override-by" in _options(p)]
    assert {" ".join(path) for path, _ in overriding} >= {"prep record", "course given"}
    missing = [" ".join(path) for path, p in overriding if "--override-pin-fd" not in _options(p)]
    assert not missing, f"commands taking --override-by without --override-pin-fd: {missing}"


@pytest.fixture
def data(tmp_path, database_templates):
    # A copy of a database migrated with these users once per session (tests/conftest.py).
    return database_templates.copy(tmp_path / "data", (("Paul Pharm", "pharmacist", PAUL), ("Tina Tech", "technician", TINA)))


@contextmanager
def pin_pipe(*lines: str):
    """A descriptor holding the PINs, one a line, as `3<pin.txt` would give the command."""
    read_end, write_end = os.pipe()
    os.write(write_end, "".join(f"{line}\n" for line in lines).encode())
    os.close(write_end)
    try:
        yield str(read_end)
    finally:
        os.close(read_end)


PIN_VARIABLES = ("INFUSION_PREP_PIN", "INFUSION_PREP_OVERRIDE_PIN", "INFUSION_PREP_NEW_PIN")


def _cli(*args: str):
    # The environment holds no PIN: a PIN can only have come from the descriptor.
    saved = {k: os.environ.pop(k) for k in PIN_VARIABLES if k in os.environ}
    try:
        return run_cli(*args)
    finally:
        os.environ.update(saved)


def test_prep_new_and_record_read_the_pin_from_the_descriptor(data):
    with pin_pipe(TINA) as fd:
        made = _cli(
            "prep",
            "new",
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
            "--user",
            "Tina Tech",
            "--pin-fd",
            fd,
            "--data-dir",
            str(data),
        )
    assert made.code == 0, made.stderr
    prep_id = made.stdout.strip().splitlines()[0]
    with pin_pipe(TINA) as fd:
        vial = _cli(
            "prep",
            "vial",
            prep_id,
            "--lot",
            "A1",
            "--expiry",
            "2027-01-31",
            "--product-confirmed",
            "--user",
            "Tina Tech",
            "--pin-fd",
            fd,
            "--data-dir",
            str(data),
        )
    assert vial.code == 0, vial.stderr
    with pin_pipe("000000") as fd:  # the wrong PIN on the descriptor is the PIN that was tried
        wrong = _cli("prep", "record", prep_id, "order-verified", "--user", "Paul Pharm", "--pin-fd", fd, "--data-dir", str(data))
    assert wrong.code == 2 and "not recognised" in wrong.stderr, wrong.stderr
    with pin_pipe(PAUL) as fd:
        right = _cli("prep", "record", prep_id, "discarded", "--reason", "test", "--user", "Paul Pharm", "--pin-fd", fd, "--data-dir", str(data))
    assert right.code == 0, right.stderr


def test_without_a_descriptor_or_terminal_the_refusal_names_the_descriptor_option(data):
    result = _cli("course", "new", "123456", "--hsct", "no", "--user", "Paul Pharm", "--data-dir", str(data))
    assert result.code == 2 and "--pin-fd" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_course_writers_read_the_pin_from_the_descriptor(data):
    with pin_pipe(PAUL) as fd:
        result = _cli("course", "new", "123456", "--hsct", "no", "--user", "Paul Pharm", "--pin-fd", fd, "--data-dir", str(data))
    assert result.code == 0, result.stderr
    with pin_pipe(PAUL) as fd:
        result = _cli("course", "hsct", "123456", "--hsct", "yes", "--user", "Paul Pharm", "--pin-fd", fd, "--data-dir", str(data))
    assert result.code == 0, result.stderr


def test_the_overriding_pharmacists_pin_comes_from_its_own_descriptor(data):
    with pin_pipe(PAUL) as fd:
        assert _cli("course", "new", "123456", "--hsct", "no", "--user", "Paul Pharm", "--pin-fd", fd, "--data-dir", str(data)).code == 0
    # A dose with no cycle started: the override's PIN is read (and checked) from its descriptor
    # before the hard stop is judged; a wrong one there is a failed sign-in for the pharmacist.
    with pin_pipe(TINA) as user_fd, pin_pipe("999999") as override_fd:
        result = _cli(
            "course",
            "given",
            "123456",
            "--cycle",
            "1",
            "--day",
            "1",
            "--date",
            "2026-03-10",
            "--override-by",
            "Paul Pharm",
            "--override-reason",
            "documented on paper",
            "--user",
            "Tina Tech",
            "--pin-fd",
            user_fd,
            "--override-pin-fd",
            override_fd,
            "--data-dir",
            str(data),
        )
    assert result.code == 2 and "not recognised" in result.stderr, result.stderr


def test_a_closed_override_descriptor_is_named_in_one_line(data):
    with pin_pipe(PAUL) as fd:
        assert _cli("course", "new", "123456", "--hsct", "no", "--user", "Paul Pharm", "--pin-fd", fd, "--data-dir", str(data)).code == 0
    with pin_pipe(TINA) as user_fd:
        result = _cli(
            "course",
            "given",
            "123456",
            "--cycle",
            "1",
            "--day",
            "1",
            "--date",
            "2026-03-10",
            "--override-by",
            "Paul Pharm",
            "--override-reason",
            "documented on paper",
            "--user",
            "Tina Tech",
            "--pin-fd",
            user_fd,
            "--override-pin-fd",
            "987",
            "--data-dir",
            str(data),
        )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == 2 and len(lines) == 1 and "--override-pin-fd" in lines[0], result.stderr


def test_the_readme_examples_prefer_a_prompt_or_descriptor_over_the_environment():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    examples = [line for line in readme.splitlines() if line.startswith("    ") and "infusion-prep" in line]
    assert not [line for line in examples if re.search(r"INFUSION_PREP_(OVERRIDE_|NEW_)?PIN=", line)]
    assert any("--pin-fd" in line and ("prep " in line or "course " in line) for line in examples)
    assert "where the commands offer it" not in readme  # every PIN-taking command offers it now
    assert re.search(r"\b3 the database or a data file cannot be used", readme)


def test_a_course_constraint_other_than_the_mrn_is_not_reported_as_a_taken_mrn(data):
    """Item 21's sibling: an IntegrityError while opening a course says what failed."""
    import sqlite3

    from infusion_app.storage.database import DB_FILENAME

    connection = sqlite3.connect(data / DB_FILENAME)
    with connection:  # a trigger stands in for any other constraint of a future schema
        connection.execute("CREATE TRIGGER refuse BEFORE INSERT ON courses BEGIN SELECT RAISE(ABORT, 'constraint failed: CHECK'); END")
    connection.close()
    with pin_pipe(PAUL) as fd:
        result = _cli("course", "new", "123456", "--hsct", "no", "--user", "Paul Pharm", "--pin-fd", fd, "--data-dir", str(data))
    assert result.code == 3, (result.code, result.stderr)
    assert "already exists" not in result.stderr and "could not be stored" in result.stderr and "Traceback" not in result.stderr
