"""No domain function has a default drug: its caller passes the monograph of the preparation or
course it judges (found by the registry from the stored monograph_id), so a MYLOTARG dose is never
judged by BESPONSA's rules because an argument was left out (issue 17)."""

from __future__ import annotations

import ast
import re

import pytest
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


# -- issue 17 contract: "default: the only drug, or refused as ambiguous when several are installed" --

INSTALLED = "gemtuzumab-ozogamicin, inotuzumab-ozogamicin"
NEW_ORDER_COMMANDS = {
    "calc": ("calc", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"),
    "schedule": ("schedule", "--cycle", "1", "--start", "2027-01-04"),
    "prep new": (
        "prep", "new", "--patient-name", "Doe, Jane", "--mrn", "MRN001", "--dob", "1970-05-17", "--height", "170 cm", "--weight", "70 kg",
        "--cycle", "1", "--day", "1", "--user", "Tina Tech",
    ),
    "course new": ("course", "new", "MRN001", "--hsct", "no", "--user", "Pat Pharmacist"),
    "sheet --demo": ("sheet", "--demo", "--out", "sample.pdf"),
    # The same rule for every command that works on a drug with no preparation of its own.
    "label --demo": ("label", "--demo", "--out", "sample.pdf"),
    "print label --demo": ("print", "label", "--demo", "--queue", "no-such-queue"),
    "deadlines": ("deadlines", "--reconstituted", "2026-11-27T09:00+01:00"),
    "coverage": ("coverage", "--age", "40"),
    "downtime": ("downtime", "--out", "sample.pdf"),
}  # fmt: skip


@pytest.mark.parametrize("command", list(NEW_ORDER_COMMANDS))
def test_several_drugs_installed_and_none_named_is_refused_naming_drug(command, tmp_path, monkeypatch):
    # BESPONSA and MYLOTARG look and sound alike: a command naming no drug is refused (exit 2), never
    # given a site's default drug. Refused before any sign-in or storage (no users exist here).
    from tests.cli_helpers import assert_clean_invalid, run_cli

    monkeypatch.chdir(tmp_path)
    done = (
        run_cli(*NEW_ORDER_COMMANDS[command], "--data-dir", str(tmp_path / "data"), implicit_drug=False)
        if command in ("prep new", "course new")
        else run_cli(*NEW_ORDER_COMMANDS[command], implicit_drug=False)
    )
    assert_clean_invalid(done, "--drug")
    assert f"several drugs are installed ({INSTALLED}); name one, e.g. --drug " in done.stderr
    assert not (tmp_path / "sample.pdf").exists()


@pytest.mark.parametrize("command", ["calc", "schedule", "sheet --demo"])
def test_with_one_drug_installed_it_is_taken(command, tmp_path, monkeypatch):
    from infusion_app.domain import monograph as monograph_module
    from tests.cli_helpers import run_cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(monograph_module, "installed_monograph_ids", lambda: ["inotuzumab-ozogamicin"])
    done = run_cli(*NEW_ORDER_COMMANDS[command], *(() if command == "sheet --demo" else ("--json",)), implicit_drug=False)
    assert done.code == 0, done.stderr
    if command != "sheet --demo":
        assert done.json()["monograph_id"] == "inotuzumab-ozogamicin"


def test_no_site_setting_names_a_default_drug():
    from infusion_app.domain.limits import SitePolicy, site_defaults
    from infusion_app.domain.resources import load_toml

    assert "drugs" not in load_toml("site-defaults.toml")
    assert not hasattr(SitePolicy, "default_drug") and not hasattr(site_defaults(), "default_drug")


def test_drugs_lists_no_default_while_several_are_installed(monkeypatch):
    from infusion_app.cli import drugs as drugs_command
    from tests.cli_helpers import run_cli

    listed = run_cli("drugs", "--json").json()
    assert listed["default"] is None and not any(d["default"] for d in listed["drugs"])
    monkeypatch.setattr("infusion_app.domain.resources.installed_monograph_ids", lambda: ["gemtuzumab-ozogamicin"])
    assert drugs_command  # the command reads the registry when it runs
    one = run_cli("drugs", "--json").json()
    assert one["default"] == "gemtuzumab-ozogamicin" and [d["default"] for d in one["drugs"]] == [True]


def test_a_stored_preparation_is_printed_with_its_own_drug_not_a_named_one():
    from tests.cli_helpers import run_cli

    done = run_cli("sheet", "BSP-7K3QX", "--drug", "gemtuzumab-ozogamicin", "--out", "x.pdf")
    assert done.code == 2 and "--drug" in done.stderr and "--demo" in done.stderr


def test_a_new_course_names_its_drug_through_the_service(tmp_path, database_templates):
    # The course forms ask the service which drug a new course is for (picked, else the only one
    # installed); with several installed and none picked the answer is a refusal naming the field, and
    # the forms show no drug's words until one is picked (tests/gui/test_course_drug.py).
    from infusion_app.domain.errors import ValidationError
    from tests.course_helpers import course_services
    from tests.drugs import BESPONSA, MYLOTARG

    with course_services(tmp_path, database_templates) as (_service, courses, _clock):
        assert courses.default_course_drug() is None
        with pytest.raises(ValidationError) as ambiguous:
            courses.new_course_drug()
        assert ambiguous.value.field == "drug" and f"several drugs are installed ({INSTALLED})" in ambiguous.value.message
        assert courses.new_course_drug(MYLOTARG.id).id == MYLOTARG.id
        assert courses.new_course_drug(BESPONSA.id).id == BESPONSA.id
        with pytest.raises(ValidationError) as unknown:
            courses.new_course_drug("aspirin")
        assert unknown.value.field == "drug" and "not an installed drug" in unknown.value.message


def test_with_one_drug_installed_a_new_course_is_for_it(tmp_path, database_templates, monkeypatch):
    from infusion_app.domain import monograph as monograph_module
    from tests.course_helpers import course_services

    monkeypatch.setattr(monograph_module, "installed_monograph_ids", lambda: ["inotuzumab-ozogamicin"])
    with course_services(tmp_path, database_templates) as (_service, courses, _clock):
        assert courses.default_course_drug().id == "inotuzumab-ozogamicin"
        assert courses.new_course_drug().id == "inotuzumab-ozogamicin"
