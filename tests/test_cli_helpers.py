"""The in-process runner (tests/cli_helpers.run_cli) is as strict as a real process, or stricter."""

from __future__ import annotations

import os

import pytest

import infusion_app.cli.schedule as schedule_command
from tests.cli_helpers import CliCrashed, run_cli

SCHEDULE = ("schedule", "--cycle", "1", "--start", "2026-12-20")


def test_an_exception_escaping_the_command_fails_the_test_whatever_it_checks(monkeypatch):
    # A process would print a traceback and exit 1: a test that checks only for exit 1 (a refusal)
    # would pass. In process, the run itself fails, with the traceback.
    def crash(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(schedule_command, "run", crash)
    with pytest.raises(CliCrashed) as raised:
        run_cli(*SCHEDULE)
    assert "ZeroDivisionError: a bug" in str(raised.value) and "Traceback" in str(raised.value)


def test_a_command_that_changes_process_wide_state_fails_the_run(monkeypatch, tmp_path):
    monkeypatch.chdir(os.getcwd())  # put back after the test, whatever the run did

    def wander(args):
        os.chdir(tmp_path)
        return 0

    monkeypatch.setattr(schedule_command, "run", wander)
    with pytest.raises(AssertionError, match="cwd"):
        run_cli(*SCHEDULE)


def test_each_run_has_its_own_environment_and_pending_warnings(monkeypatch):
    from infusion_app.cli.common import PENDING_WARNINGS, warn

    def leave_a_warning(args):
        os.environ["INFUSION_PREP_LEAKED"] = "1"
        warn("from an earlier run")
        raise SystemExit(2)  # gone before its warnings were shown, as after a usage error

    monkeypatch.setattr(schedule_command, "run", leave_a_warning)
    run_cli(*SCHEDULE)
    assert "INFUSION_PREP_LEAKED" not in os.environ and PENDING_WARNINGS == []
    monkeypatch.undo()
    assert "from an earlier run" not in run_cli("--version").stderr
