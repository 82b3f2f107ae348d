"""The `infusion-prep` command: the GUI with no subcommand, the headless engine with one."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from .common import CliError, Exit, OneLineArgumentParser, one_line

# Each module defines register(subparsers); a subcommand's heavy imports (SQLAlchemy,
# reportlab, Qt) happen inside its handler so that `calc` starts fast.
SUBCOMMAND_MODULES = (
    "calc",
    "coverage",
    "deadlines",
    "user",
    "prep",
    "audit",
    "schedule",
    "course",
    "reports",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="infusion-prep",
        description="Preparation and administration assistant for inotuzumab ozogamicin (BESPONSA). "
        "With no subcommand, opens the desktop program.",
    )
    parser.add_argument("--version", action="store_true", help="print the program version and monograph revision")
    # Own dests, so that a subcommand's --data-dir/--database (same flags) never clobber these.
    parser.add_argument("--data-dir", dest="gui_data_dir", metavar="DIR", help="desktop program: folder for the database and backups")
    parser.add_argument("--database", dest="gui_database", metavar="URL", help="desktop program: SQLAlchemy database URL")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineArgumentParser)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def version_text() -> str:
    # The monograph file's [meta] table as load_monograph() reads it, without parsing the
    # quantities (which needs pint's registry, most of the start-up time).
    from ..domain.resources import SHIPPED_MONOGRAPH, load_toml, resource_path

    meta = load_toml(resource_path("monographs", f"{SHIPPED_MONOGRAPH}.toml"))["meta"]
    return f"infusion-prep {__version__} (monograph {meta['id']} revision {meta['monograph_revision']}; {meta['label_revision']})"


def run_gui(argv: Sequence[str], data_dir: str | None = None, database: str | None = None) -> int:
    """The desktop program (Qt is imported only here, so the subcommands start fast)."""
    from ..gui.app import run

    return run(sys.argv[:1], data_dir=data_dir, database=database)


def main(argv: Sequence[str] | None = None) -> int:
    from ..domain.errors import DataFileError, ValidationError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(version_text())
        return Exit.OK
    if not getattr(args, "command", None):
        return run_gui(argv, data_dir=args.gui_data_dir, database=args.gui_database)
    try:
        return int(args.func(args))
    except ValidationError as exc:
        print(one_line(f"infusion-prep {args.command}: invalid {exc.field}: {exc.message}"), file=sys.stderr)
        return Exit.INVALID
    except CliError as exc:
        print(one_line(f"infusion-prep {args.command}: {exc}"), file=sys.stderr)
        return int(exc.code)
    except DataFileError as exc:
        print(one_line(f"infusion-prep {args.command}: data file error: {exc}"), file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
