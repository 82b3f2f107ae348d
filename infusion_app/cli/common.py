"""What every subcommand shares: exit codes, one-line errors, JSON output, storage options."""

from __future__ import annotations

import argparse
import json
import sys
from enum import IntEnum
from typing import Any, NoReturn


class Exit(IntEnum):
    OK = 0
    HARD_STOP = 1  # valid input, but a clinical hard stop blocks the step (JSON still printed)
    INVALID = 2  # invalid input: one line on stderr naming the field, never a traceback


class CliError(Exception):
    """Raised by a subcommand to end with a one-line message and an exit code."""

    def __init__(self, message: str, code: Exit = Exit.INVALID):
        super().__init__(message)
        self.code = code


# An error echoes what was typed; a pasted page or a stray newline must not become a wall of text.
MAX_ERROR_CHARS = 300


def one_line(message: str) -> str:
    """The message on one line (control characters escaped), cut to about MAX_ERROR_CHARS.

    The middle is cut, not the end: the end says what is accepted.
    """
    flat = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(message))
    if len(flat) > MAX_ERROR_CHARS:
        half = MAX_ERROR_CHARS // 2
        flat = f"{flat[:half]} …[{len(flat) - 2 * half:,} characters cut]… {flat[-half:]}"
    return flat


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a usage error as a single line (and exit 2), naming the argument."""

    def error(self, message: str) -> NoReturn:
        self.exit(Exit.INVALID, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def emit_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """--data-dir and --database, for every subcommand that reads or writes stored data."""
    parser.add_argument("--data-dir", metavar="DIR", help="folder for the database and backups (default: the user data folder)")
    parser.add_argument("--database", metavar="URL", help="SQLAlchemy database URL (default: SQLite file in the data folder)")
