"""The `infusion-prep` command: the GUI with no subcommand, the headless engine with one."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from .common import MAX_ERROR_CHARS, MAX_REFUSAL_CHARS, CliError, Exit, OneLineArgumentParser, keep_argparse_messages, one_line

# Each module defines register(subparsers); a subcommand's heavy imports (SQLAlchemy,
# reportlab, Qt) happen inside its handler so that `calc` starts fast.
SUBCOMMAND_MODULES = (
    "drugs",
    "calc",
    "coverage",
    "deadlines",
    "user",
    "prep",
    "audit",
    "schedule",
    "course",
    "reports",
    "export",
    "downtime",
    "db",
)


# Commands whose module registers that command alone: started as `infusion-prep NAME ...`, only
# NAME's parser is built, and for `--version` alone none (every module's arguments were about a
# third of a headless start; importing them all, about a sixth of `prep new`). reports and export
# register several commands each and are always built. tests/test_quick_start.py checks that
# each module here registers its own name only, with the same help as in the whole parser.
ONE_COMMAND_MODULES = frozenset({"drugs", "calc", "coverage", "deadlines", "schedule", "user", "prep", "audit", "course", "downtime", "db"})


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The subcommand modules whose parsers `argv` can reach: what it parses, its help and its
    errors are the same as with all of them."""
    if list(argv) == ["--version"] or opens_the_desktop_program(argv):
        return ()
    if argv and argv[0] in ONE_COMMAND_MODULES:
        return (argv[0],)
    return SUBCOMMAND_MODULES


GUI_OPTIONS = ("--data-dir", "--database")


def opens_the_desktop_program(argv: Sequence[str]) -> bool:
    """True when `argv` names no subcommand: nothing, or only --data-dir/--database with a value
    (as typed in full; an abbreviation or anything else takes the whole parser). The desktop entry
    starts `infusion-prep` so: building every command's parser was about 0.1 s before the first
    window, a third of a bare Qt window's whole start (issue 19)."""
    rest = list(argv)
    while rest:
        option = rest.pop(0)
        if any(option.startswith(name + "=") for name in GUI_OPTIONS):
            continue
        if option not in GUI_OPTIONS or not rest or rest[0].startswith("-"):
            return False
        rest.pop(0)
    return True


def build_parser(modules: Sequence[str] = SUBCOMMAND_MODULES) -> argparse.ArgumentParser:
    keep_argparse_messages()
    parser = OneLineArgumentParser(
        prog="infusion-prep",
        description="Preparation and administration assistant for the drugs of its monographs (infusion-prep drugs). "
        "With no subcommand, opens the desktop program.",
    )
    parser.add_argument("--version", action="store_true", help="print the program version and monograph revision")
    # Own dests, so that a subcommand's --data-dir/--database (same flags) never clobber these.
    parser.add_argument("--data-dir", dest="gui_data_dir", metavar="DIR", help="folder for the database and backups (here or after the subcommand)")
    parser.add_argument("--database", dest="gui_database", metavar="URL", help="SQLAlchemy database URL (here or after the subcommand)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineArgumentParser)
    for name in modules:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    # `prep --data-dir DIR list`: a storage option between a command and its action is used too
    for command in subparsers.choices.values():
        if any(isinstance(action, argparse._SubParsersAction) for action in command._actions):
            command.add_argument("--data-dir", dest="group_data_dir", metavar="DIR", help=argparse.SUPPRESS)
            command.add_argument("--database", dest="group_database", metavar="URL", help=argparse.SUPPRESS)
    return parser


def version_text() -> str:
    # The monograph file's [meta] table as load_monograph() reads it, without parsing the
    # quantities (which needs pint's registry, most of the start-up time).
    from ..domain.resources import installed_monograph_ids, resource_path

    parts = []
    for monograph_id in installed_monograph_ids():
        meta = meta_table(resource_path("monographs", f"{monograph_id}.toml"))
        parts.append(f"monograph {meta['id']} revision {meta['monograph_revision']}; {meta['label_revision']}")
    return f"infusion-prep {__version__} ({'; '.join(parts)})"


META_KEYS = frozenset({"id", "monograph_revision", "label_revision"})


def meta_table(path) -> dict:
    """A monograph file's [meta] table. Only that table's text is parsed (the whole file is
    about 35 ms of TOML per monograph at every --version); the whole file when the table is not
    a plain run of lines up to the next table header."""
    import re
    import tomllib

    from ..domain.resources import load_toml

    text = path.read_text(encoding="utf-8")
    found = re.search(r"^\[meta\][ \t]*(?:#[^\n]*)?\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    if found is not None:
        try:
            meta = tomllib.loads(found.group(1))
        except tomllib.TOMLDecodeError:
            meta = {}
        if META_KEYS <= meta.keys():
            return meta
    return load_toml(path)["meta"]


def run_gui(argv: Sequence[str], data_dir: str | None = None, database: str | None = None) -> int:
    """The desktop program (Qt is imported only here, so the subcommands start fast)."""
    from ..gui.app import run

    return run(sys.argv[:1], data_dir=data_dir, database=database)


# A process whose reader went away (`| head`) ends as if killed by SIGPIPE, as Unix filters do.
BROKEN_PIPE = 141


def _global_storage_options(args: argparse.Namespace) -> None:
    """--data-dir/--database given before the subcommand: used by it, or refused, never ignored."""
    for flag, global_dest, dest in (
        ("--data-dir", "gui_data_dir", "data_dir"),
        ("--database", "gui_database", "database"),
        ("--data-dir", "group_data_dir", "data_dir"),
        ("--database", "group_database", "database"),
    ):
        value = getattr(args, global_dest, None)
        if value is None:
            continue
        if not hasattr(args, dest):
            raise CliError(f"{flag} does not apply to '{args.command}' (it reads and stores no data); leave it out", Exit.INVALID)
        given = getattr(args, dest)
        if given is not None and given != value:
            raise CliError(f"{flag} is given twice with different values ('{value}' and '{given}'); give it once", Exit.INVALID)
        setattr(args, dest, value)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _say(message: str, limit: int = MAX_ERROR_CHARS) -> None:
    try:
        print(one_line(message, limit), file=sys.stderr)
    except (OSError, ValueError):
        pass  # stderr is gone too: the exit code is all that is left


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; whatever happens to its output (a closed pipe, a full disk), no traceback."""
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return BROKEN_PIPE
    except OSError as exc:
        if exc.errno is None or getattr(exc, "filename", None) is not None:
            raise  # not the output stream: the command's own error handling is at fault
        _quiet_stdout()
        _say(f"infusion-prep: cannot write the output: {exc.strerror or exc}")
        return 1


def _first_value_not_text(args) -> str | None:
    """The option (as typed, e.g. --reason) of the first parsed value holding a lone surrogate."""
    from ..domain.errors import holds_undecodable_bytes

    for dest, value in vars(args).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, str) and holds_undecodable_bytes(item):
                return dest.upper() if dest in ("mrn", "id", "name") else "--" + dest.replace("_", "-")
    return None


def _password_on_command_line(args) -> str | None:
    """The --database value that carries a password (never on a command line: `ps` shows it)."""
    for dest in ("database", "gui_database", "group_database"):
        value = getattr(args, dest, None)
        if isinstance(value, str) and value.strip():
            try:
                from sqlalchemy.engine import make_url

                if make_url(value).password:
                    return value
            except Exception:
                continue  # not a URL: the command says so when it opens it
    return None


def _main(argv: Sequence[str] | None = None) -> int:
    from ..domain.errors import DataFileError, ValidationError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(modules_for(argv))
    args = parser.parse_args(argv)
    not_text = _first_value_not_text(args)
    if not_text is not None:
        # A terminal or script in another encoding hands Python undecodable bytes as lone
        # surrogates; stored, they would fail deep in the database as a traceback (or as a
        # "malformed stored value"), so every option is refused here, before anything runs.
        command = getattr(args, "command", None)
        _say(f"infusion-prep{' ' + command if command else ''}: invalid {not_text}: holds bytes that are not UTF-8 text; retype it in a UTF-8 terminal")
        return Exit.INVALID
    if args.version:
        print(version_text())
        return Exit.OK
    password_in = _password_on_command_line(args)
    if password_in is not None:
        command = getattr(args, "command", None)
        _say(
            f"infusion-prep{' ' + command if command else ''}: invalid --database: it holds a password, which every account on this "
            "machine can read from the command line; leave it out of the URL and put it in ~/.pgpass or the file PGPASSFILE names"
        )
        return Exit.INVALID
    if not getattr(args, "command", None):
        return run_gui(argv, data_dir=args.gui_data_dir, database=args.gui_database)
    from .common import JSON_PRINTED, flush_warnings, refusal_json

    flush_warnings(show=False)
    JSON_PRINTED.clear()  # main() runs more than once in one process (tests, the in-process runner)
    try:
        _global_storage_options(args)
        code = int(args.func(args))
        flush_warnings()
        return code
    except ValidationError as exc:
        flush_warnings(show=False)
        _say(f"infusion-prep {args.command}: invalid {exc.field}: {exc.message}")
        return Exit.INVALID
    except CliError as exc:
        flush_warnings(show=exc.code != Exit.INVALID)
        if exc.code == Exit.HARD_STOP and getattr(args, "json", False):
            refusal_json(str(exc))
        _say(f"infusion-prep {args.command}: {exc}", MAX_REFUSAL_CHARS if exc.code == Exit.HARD_STOP else MAX_ERROR_CHARS)
        return int(exc.code)
    except DataFileError as exc:
        _say(f"infusion-prep {args.command}: data file error: {exc}")
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
