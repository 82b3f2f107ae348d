"""No domain function has a default drug: its caller passes the monograph of the preparation or
course it judges (found by the registry from the stored monograph_id), so a MYLOTARG dose is never
judged by BESPONSA's rules because an argument was left out (issue 17)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "infusion_app"
CHECKED = ("domain", "service", "cli", "reports", "storage", "gui")


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
            defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults) :], args.defaults))
            defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
            if "monograph" in defaults:
                found.append(f"{path.name}:{node.lineno} {node.name}(monograph=...)")
    # current_step may look the preparation's own monograph up itself: that is its drug, not a default one.
    assert [f for f in found if "current_step" not in f] == []


def test_nothing_falls_back_to_a_default_drug():
    # A screen or document with no preparation asks the service for the site's drug (resolve_drug
    # with the site's default_drug, said where it is used): the domain has no default monograph.
    from infusion_app.domain import monograph

    assert not hasattr(monograph, "default_monograph")
    found = []
    for layer in CHECKED:
        for path in sorted((ROOT / layer).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if "default_monograph()" in line and "def default_monograph" not in line:
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_there_is_no_default_payer_policy_in_the_domain():
    """A drug's payer policy is found by its billing code; a policy left out is an error, never
    BESPONSA's criteria by default (a MYLOTARG check judged by CD22 and Ph would be a forged answer)."""
    import inspect

    from infusion_app.domain import coverage
    from tests.drugs import BESPONSA, BESPONSA_POLICY, MYLOTARG

    for function, name in ((coverage.check_coverage, "policy"), (coverage.load_policy, "source")):
        assert inspect.signature(function).parameters[name].default is inspect.Parameter.empty, function.__name__
    # No module of the program names a policy file: the registry (resources/policies/) is read whole.
    named = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.search(r"policies/[\w.-]+\.toml", node.value):
                named.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert named == []
    assert coverage.policy_for_billing_code(BESPONSA.text("billing.hcpcs")) == BESPONSA_POLICY
    assert coverage.policy_for_billing_code(MYLOTARG.text("billing.hcpcs")) is None
    # With no policy named, a screen's labels are every installed policy's, not one drug's by default.
    labels = coverage.fact_labels(None)
    assert set(labels) == {f.id for p in coverage.installed_policies() for f in p.facts if f.name or f.label}


def _policy_fact_ids() -> set[str]:
    from infusion_app.domain.coverage import installed_policies

    return {f.id for policy in installed_policies() for f in policy.facts}


def test_no_coverage_fact_is_named_in_the_program():
    """The facts are each policy file's ([[facts]]): no module names one as a string (a field of an
    error, a key read) or passes one to CoverageFacts; a policy of another drug declares its own."""
    facts = _policy_fact_ids()
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in facts:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: '{node.value}'")
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "CoverageFacts":
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: CoverageFacts({k.arg}=...)" for k in node.keywords if k.arg in facts]
    assert found == []
