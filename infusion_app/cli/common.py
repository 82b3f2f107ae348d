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
# A refusal (exit 1) is the rule's own words: which limit, its basis (the lot, the times) and what to
# do. Cut at 300, the middle it lost was the limit's time and the vial's lot and expiry; it is still
# bounded, for the refusals that quote a stored value.
MAX_REFUSAL_CHARS = 1200


def one_line(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """The message on one line (control characters escaped), cut to about `limit` characters.

    The middle is cut, not the end: the end says what is accepted.
    """
    flat = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(message))
    if len(flat) > limit:
        half = limit // 2
        flat = f"{flat[:half]} …[{len(flat) - 2 * half:,} characters cut]… {flat[-half:]}"
    return flat


def terminal_columns() -> int:
    """shutil.get_terminal_size().columns (COLUMNS, else the terminal's, else 80), without shutil."""
    import os

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return columns


def keep_argparse_messages() -> None:
    """argparse looks up each of its own words ("options", "show this help message and exit") through
    gettext at every parser and argument it makes. With no catalogue installed for them (the usual
    case) gettext searches the locale folders on disk again at each lookup, about 50 us: half of
    building the `course` command's parser (12.6 -> 5.8 ms). One command's answers cannot change
    while it runs, so they are kept for the process."""
    import functools
    import gettext

    if getattr(argparse, "_", None) is gettext.gettext:  # as argparse imports it; never wrapped twice
        argparse._ = functools.cache(gettext.gettext)  # type: ignore[attr-defined]


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a usage error as a single line (and exit 2), naming the argument."""

    def error(self, message: str) -> NoReturn:
        self.exit(Exit.INVALID, f"{self.prog}: error: {one_line(message)} (see --help)\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every argument added (to check its metavar), and each asks
        # the terminal's width of shutil, whose import (zlib, bz2, lzma) was a few ms of every
        # command; the width is the one argparse would take (terminal_columns, less 2).
        return self.formatter_class(prog=self.prog, width=terminal_columns() - 2)


# Warnings about the input wait until every input is read: invalid input ends in one line only.
PENDING_WARNINGS: list[str] = []


def warn(message: str) -> None:
    """A warning on stderr, one line, once the input is known to be valid: the command still runs."""
    PENDING_WARNINGS.append(one_line(f"infusion-prep: warning: {message}"))


def flush_warnings(show: bool = True) -> None:
    if show:
        for line in PENDING_WARNINGS:
            print(line, file=sys.stderr)
    PENDING_WARNINGS.clear()


def instant_option(text: str, flag: str):
    """An instant option: strict ISO 8601 with its offset, in UTC; a time the site's clock never
    showed (a spring-forward gap, an offset the zone does not use then) is warned about."""
    from datetime import timezone

    from ..domain.deadlines import check_calendar_year
    from ..domain.instants import parse_iso_instant, site_clock_warnings

    typed = check_calendar_year(flag, parse_iso_instant(text, flag))
    for message in site_clock_warnings(typed, flag, in_utc=text.strip()[-1:] in ("Z", "z")):
        warn(message)
    return typed.astimezone(timezone.utc)


# Whether this run has printed its JSON object: a refusal then adds none (see refusal_json).
JSON_PRINTED: list[bool] = []


def emit_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
    JSON_PRINTED.append(True)


def refusal_json(message: str) -> None:
    """With --json, a refusal (exit 1) that printed no object of its own prints one, so that a
    script reading stdout always gets one object: {"refused": {"code", "message"}}; the one line
    on stderr is unchanged."""
    if JSON_PRINTED:
        return
    import re

    found = re.search(r"refused \[([^\]]+)\]: (.*)", message, flags=re.S)
    code, words = (found.group(1), found.group(2)) if found else (None, message)
    emit_json({"refused": {"code": code, "message": one_line(words, MAX_REFUSAL_CHARS)}})


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    """--data-dir and --database, for every subcommand that reads or writes stored data."""
    parser.add_argument("--data-dir", metavar="DIR", help="folder for the database and backups (default: the user data folder)")
    parser.add_argument("--database", metavar="URL", help="SQLAlchemy database URL (default: SQLite file in the data folder)")


def add_output_options(parser: argparse.ArgumentParser, example: str) -> None:
    """--out and --force, for every subcommand that writes a file."""
    parser.add_argument("--out", required=True, metavar=example, help="the file to write (never a database, a link or a device)")
    parser.add_argument("--force", action="store_true", help="replace the --out file when it already exists")


def protected_paths(args: argparse.Namespace) -> list:
    """The database files the command line could be pointing at, never to be written over."""
    from pathlib import Path

    from ..storage.database import DB_FILENAME, resolve_location

    paths = []
    data_dir, database = getattr(args, "data_dir", None), getattr(args, "database", None)
    try:
        location = resolve_location(data_dir, database)
        if location.path is not None:
            paths.append(location.path)
        if location.data_dir is not None:
            paths.append(location.data_dir / DB_FILENAME)
    except Exception:  # no user data folder (tests), a bad URL: reported when the database is opened
        pass
    return [Path(p) for p in paths]


def write_output_file(args: argparse.Namespace, render, what: str = "out"):
    """Write `render(stream)` to args.out through the one safe writer (storage/safe_files.py).

    A refused path is invalid input (exit 2); a disk that cannot take the file, too.
    """
    from ..storage.safe_files import OutputRefused, write_output

    try:
        return write_output(args.out, render, force=bool(getattr(args, "force", False)), protected=protected_paths(args))
    except OutputRefused as exc:
        raise CliError(f"invalid {what}: {exc}", Exit.INVALID) from None
    except OSError as exc:
        raise CliError(f"invalid {what}: cannot write '{args.out}': {exc.strerror or exc}", Exit.INVALID) from None


def check_output_file(args: argparse.Namespace, what: str = "out") -> None:
    """The same refusals as write_output_file, before any work (opening the database, rendering)."""
    import os

    from ..storage.safe_files import OutputRefused, check_output_name, refuse_protected

    try:
        path = check_output_name(args.out)
        refuse_protected(path, protected_paths(args))
        if not getattr(args, "force", False) and os.path.lexists(path):
            raise OutputRefused(f"'{path}' already exists; add --force to replace it, or choose another name")
    except OutputRefused as exc:
        raise CliError(f"invalid {what}: {exc}", Exit.INVALID) from None


def not_blank(example: str):
    """An argparse `type` for an option whose absence means a default: typed empty, it is refused
    (exit 2) instead of quietly becoming that default (`--drug ''` prepared the site's drug)."""

    def given(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"is empty; give e.g. {example}, or leave the option out for the default")
        return text

    return given


# -- the drug a command works on -------------------------------------------------------------------


def add_drug_options(parser: argparse.ArgumentParser, regimen: bool = True) -> None:
    """--drug ID (see `infusion-prep drugs`) and, for a drug dosed by regimen, --regimen."""
    parser.add_argument(
        "--drug",
        metavar="ID",
        default=None,
        type=not_blank("--drug ID, one of the ids `infusion-prep drugs` lists"),
        help="the drug's monograph id (infusion-prep drugs); required when several drugs are installed (default: the only one)",
    )
    if regimen:
        parser.add_argument(
            "--regimen",
            metavar="NAME",
            default=None,
            type=not_blank("--regimen fractionated"),
            help="for a drug dosed by regimen: one of its regimens' ids (its monograph's [[dosing.regimens]])",
        )


def add_response_option(parser: argparse.ArgumentParser, help_text: str, required: bool = False) -> None:
    """--response: a free string, checked after parsing against the drug's own responses
    (chosen_response): its monograph is not read while the parser is built, which keeps start-up fast."""
    parser.add_argument(
        "--response",
        metavar="RESPONSE",
        required=required,
        default=None,
        type=not_blank("--response, one of the drug's responses (its monograph's [dosing] responses)"),
        help=help_text,
    )


def chosen_response(args: argparse.Namespace, monograph) -> str | None:
    """--response as stored (lower case), or None when not given; exit 2 naming --response and listing
    the drug's accepted responses, or refusing one given for a drug whose dose a regimen decides."""
    from ..domain.errors import ValidationError

    try:
        return monograph.response_given(getattr(args, "response", None))
    except ValidationError as exc:
        raise ValidationError("--response", exc.message) from None


def chosen_monograph(args: argparse.Namespace, with_regimen: bool = True):
    """The monograph of --drug (not given: the only drug installed; several are refused as ambiguous,
    exit 2 naming --drug), as dosed by --regimen when it has regimens."""
    from ..domain.errors import ValidationError
    from ..domain.monograph import load_monograph, resolve_drug
    from ..domain.resources import installed_monograph_ids

    given = getattr(args, "drug", None)
    try:
        drug = resolve_drug(given)
    except ValidationError as exc:
        if "e.g. " in exc.message:
            raise ValidationError("--drug", exc.message.replace("e.g. ", "e.g. --drug ")) from None
        ids = installed_monograph_ids()
        raise ValidationError("--drug", f"{exc.message} (e.g. --drug {ids[0]})" if ids else exc.message) from None
    monograph = load_monograph(drug)
    return chosen_regimen(args, monograph) if with_regimen else monograph


def chosen_regimen(args: argparse.Namespace, monograph):
    """`monograph` as dosed by --regimen (Monograph.with_regimen): a missing or unknown regimen, or one
    given for a drug without regimens, exits 2 naming --regimen as the other options' errors do
    (the domain names its field 'regimen', as the screens show it), with an accepted example."""
    from ..domain.errors import ValidationError

    try:
        return monograph.with_regimen(getattr(args, "regimen", None))
    except ValidationError as exc:
        raise as_regimen_option(exc, monograph) from None


def as_regimen_option(exc, monograph):
    """A domain ValidationError on the field 'regimen' as the command line names it: '--regimen', with
    an accepted example (the domain's own, else the drug's first regimen); any other error as it is."""
    from ..domain.errors import ValidationError

    if exc.field != "regimen":
        return exc
    ids = [r.id for r in monograph.regimens]
    if not ids:
        return ValidationError("--regimen", exc.message.replace("give no regimen", "leave --regimen out"))
    words = exc.message.replace("e.g. ", "e.g. --regimen ") if "e.g. " in exc.message else f"{exc.message} (e.g. --regimen {ids[0]})"
    return ValidationError("--regimen", words)
