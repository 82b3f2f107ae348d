"""The desktop program's launch through the `infusion-prep` command (issue 19): the desktop entry
runs it with no subcommand, so nothing of the headless commands is built before the first window."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infusion_app.cli import SUBCOMMAND_MODULES, build_parser, modules_for, opens_the_desktop_program

GUI_LAUNCHES = [
    [],
    ["--data-dir", "/srv/infusion"],
    ["--data-dir=/srv/infusion"],
    ["--database", "sqlite:////srv/infusion/prep.db"],
    ["--data-dir", "prep", "--database=sqlite:///x.db"],
]
NOT_GUI_LAUNCHES = [
    ["prep", "list"],
    ["--data-dir", "/srv/infusion", "prep", "list"],
    ["--data-dir"],
    ["--data-dir", "-x"],
    ["--data", "/srv/infusion"],  # an abbreviation: argparse's to judge (it is ambiguous here)
    ["--help"],
    ["--version", "--data-dir", "x"],
    ["--bogus"],
]


@pytest.mark.parametrize("argv", GUI_LAUNCHES, ids=repr)
def test_a_launch_of_the_desktop_program_parses_the_same_without_any_subcommand_parser(argv):
    assert opens_the_desktop_program(argv) and modules_for(argv) == ()
    assert build_parser(()).parse_args(argv) == build_parser(SUBCOMMAND_MODULES).parse_args(argv)


@pytest.mark.parametrize("argv", NOT_GUI_LAUNCHES, ids=repr)
def test_anything_else_keeps_the_parsers_it_can_reach(argv):
    assert not opens_the_desktop_program(argv)
    assert modules_for(argv) != ()


def test_the_desktop_launch_imports_no_command_module_before_the_window(tmp_path):
    code = (
        "import sys; import infusion_app.cli as cli; cli.run_gui = lambda argv, data_dir=None, database=None: "
        "print(data_dir, sorted(m for m in sys.modules if m.startswith('infusion_app.cli.'))) or 0; "
        f"sys.exit(cli.main(['--data-dir', {str(tmp_path)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "INFUSION_PREP_CACHE_DIR": str(tmp_path)}, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"{tmp_path} ['infusion_app.cli.common']", done.stdout
