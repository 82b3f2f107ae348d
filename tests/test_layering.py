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
    offenders = {str(path.relative_to(PACKAGE)): sorted(imported_modules(path) & FORBIDDEN[layer]) for path in folder.rglob("*.py")}
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


# The project's own layers: which may import which (issue 17). The domain imports no other layer;
# storage and reports build on the domain; the service on the domain, storage and reports; the GUI on
# the service, the domain's types and the reports it previews; the command line is the composition root.
OWN_LAYERS = ("domain", "storage", "reports", "service", "gui", "cli")
MAY_IMPORT = {
    "domain": set(),
    "storage": {"domain"},
    "reports": {"domain"},
    "service": {"domain", "storage", "reports"},
    "gui": {"domain", "service", "reports"},
    "cli": {"domain", "storage", "reports", "service", "gui"},
}


def own_layers_imported(path: Path) -> set[str]:
    """The project layers a module imports, relative (from ..service import x) or absolute."""
    parts = path.relative_to(PACKAGE).parts
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = list(parts[:-1])[: len(parts) - node.level] if node.level > 1 else list(parts[:-1])
            module = [m for m in (node.module or "").split(".") if m]
            targets = [base + module] if module else [base + [a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("infusion_app."):
            targets = [node.module.split(".")[1:]]
        elif isinstance(node, ast.Import):
            targets = [a.name.split(".")[1:] for a in node.names if a.name.startswith("infusion_app.")]
        found.update(t[0] for t in targets if t and t[0] in OWN_LAYERS)
    return found - {parts[0]}


@pytest.mark.parametrize("layer", OWN_LAYERS)
def test_layer_imports_only_the_project_layers_it_may(layer):
    offenders = {str(path.relative_to(PACKAGE)): sorted(own_layers_imported(path) - MAY_IMPORT[layer]) for path in (PACKAGE / layer).rglob("*.py")}
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}, f"{layer} imports project layers it must not: {offenders}"


def test_the_own_layer_rule_sees_a_forbidden_import(tmp_path):
    """The rule can fail: a domain module importing the service is caught."""
    bad = PACKAGE / "domain" / "_layering_probe.py"
    bad.write_text("from ..service import ids\nfrom infusion_app.storage import models\n", encoding="utf-8")
    try:
        assert own_layers_imported(bad) == {"service", "storage"}
    finally:
        bad.unlink()
