"""The project files agree with each other: README, CI script and package list."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Start here", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ")]


def test_readme_gives_exactly_two_commands_start_and_test():
    commands = readme_commands()
    assert len(commands) == 2, commands
    assert commands[0].endswith("infusion-prep")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_word_for_word():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "infusion_app").rglob("__init__.py") if "__pycache__" not in path.parts}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_no_drug_number_in_the_domain_code():
    """The label's numbers live in resources/: a numeric literal from the label in domain code is a leak.

    Docstrings and comments may quote them; code may not. The BSA formula coefficients are the
    published equations, not drug data, and live in bsa.py by design.
    """
    label_numbers = {0.9, 0.25, 0.8, 0.5, 0.01, 0.1, 3.6, 50.0, 21.0, 28.0, 10000.0}
    label_strings = ("J9229", "0.9%", "JW", "JZ", "0008-0100")
    offenders = []
    for path in (ROOT / "infusion_app" / "domain").rglob("*.py"):
        if path.name == "bsa.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or id(node) in docstrings:
                continue
            if isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and float(node.value) in label_numbers:
                offenders.append(f"{path.name}:{node.lineno}: {node.value!r}")
            if isinstance(node.value, str) and any(s in node.value for s in label_strings):
                offenders.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert offenders == []


def test_the_program_version_is_the_one_in_pyproject():
    # infusion_app/__init__.py spells the version out (importlib.metadata cost 30 ms per start).
    import infusion_app

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert infusion_app.__version__ == project["version"]
