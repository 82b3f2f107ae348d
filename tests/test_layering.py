"""The layering rules: the domain is pure, only the GUI touches Qt, reports touch no Qt or database."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "infusion_app"

FORBIDDEN = {
    "domain": {"PySide6", "shiboken6", "reportlab", "sqlalchemy", "alembic", "sqlite3", "platformdirs"},
    "reports": {"PySide6", "shiboken6", "sqlalchemy", "alembic", "sqlite3"},
    "storage": {"PySide6", "shiboken6", "reportlab"},
    "cli": {"PySide6", "shiboken6"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_domain_package_exists():
    assert (PACKAGE / "domain" / "dosing.py").exists()


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_it_must_not(layer):
    folder = PACKAGE / layer
    assert folder.is_dir(), f"the {layer} layer is missing: the rule for it would check nothing"
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(imported_modules(path) & FORBIDDEN[layer])
        for path in folder.rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}, f"{layer} imports what it must not: {offenders}"


def test_only_the_gui_imports_qt():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "gui" not in path.relative_to(PACKAGE).parts[:1] and imported_modules(path) & {"PySide6", "shiboken6"}
    ]
    assert offenders == []


def test_importing_the_whole_domain_loads_no_forbidden_module():
    """Catches indirect imports too: load every domain module, then look at sys.modules.

    (pint itself loads platformdirs for its cache, so that one is checked by the AST test only.)
    """
    code = (
        "import importlib, pkgutil, sys, infusion_app.domain as d\n"
        "for m in pkgutil.walk_packages(d.__path__, 'infusion_app.domain.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted({{n.split('.')[0] for n in sys.modules}} & {FORBIDDEN['domain'] - {'platformdirs'}!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
