"""No domain function has a default drug: its caller passes the monograph of the preparation or
course it judges (found by the registry from the stored monograph_id), so a MYLOTARG dose is never
judged by BESPONSA's rules because an argument was left out (issue 17)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "infusion_app"
# The desktop screens shown before any preparation is open (About, an empty chair) are the GUI's.
CHECKED = ("domain", "service", "cli", "reports", "storage")


def _functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_no_domain_function_defaults_its_monograph():
    found = []
    for path in sorted((ROOT / "domain").rglob("*.py")):
        for node in _functions(path):
            args = node.args
            positional = args.posonlyargs + args.args
            defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
            defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
            if "monograph" in defaults:
                found.append(f"{path.name}:{node.lineno} {node.name}(monograph=...)")
    # current_step may look the preparation's own monograph up itself: that is its drug, not a default one.
    assert [f for f in found if "current_step" not in f] == []


def test_nothing_but_the_gui_falls_back_to_the_default_drug():
    found = []
    for layer in CHECKED:
        for path in sorted((ROOT / layer).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if "default_monograph()" in line and "def default_monograph" not in line:
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
