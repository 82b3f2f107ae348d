"""Every time shown to a person is local time with the date, through domain.formatting: an f-string
(a message, a refusal, a note) never holds utc_iso() (JSON only) or an instant's isoformat()."""

from __future__ import annotations

import ast
from pathlib import Path

import infusion_app

ROOT = Path(infusion_app.__file__).parent


def _instant_iso(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name) and func.id == "utc_iso":
        return True
    if isinstance(func, ast.Attribute) and func.attr == "isoformat":
        target = func.value
        # `x.taken_at.astimezone().isoformat()` is the same raw instant, on another offset
        while isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute) and target.func.attr == "astimezone":
            target = target.func.value
        name = target.attr if isinstance(target, ast.Attribute) else target.id if isinstance(target, ast.Name) else ""
        return name in {"at", "now", "instant"} or name.endswith("_at")  # instants by this code's naming
    return False


def test_no_message_gives_a_raw_iso_instant():
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                for value in node.values:
                    if isinstance(value, ast.FormattedValue) and any(_instant_iso(n) for n in ast.walk(value.value)):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"raw ISO instants in shown text (use formatting.format_instant): {found}"
