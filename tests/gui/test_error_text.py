"""Issue 12 item 12: every screen says what is wrong with the label the user sees, never a data
name ("Dob:", "Icd10:", "Cd22_percent:"), through one function (gui/errors.error_text).

Fails on the code before this change: there was no shared function, and the bench wizard showed
"Dob: ..." and "Icd10: ..." for the service's field names.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWizard

from infusion_app.domain.errors import ValidationError
from infusion_app.domain.preparation import StepRefused
from infusion_app.gui.errors import error_text, field_labels

ROOT = Path(__file__).resolve().parents[2] / "infusion_app"
RAISED = re.compile(r'ValidationError\(\s*"([^"]+)"')


def fields_the_service_names() -> set[str]:
    found: set[str] = set()
    for layer in ("domain", "service"):
        for path in (ROOT / layer).rglob("*.py"):
            found.update(RAISED.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_field_the_domain_or_service_names_has_a_label():
    missing = sorted(fields_the_service_names() - set(field_labels()))
    assert missing == [], f"give these fields a label in infusion_app/gui/errors.py: {missing}"


@pytest.mark.parametrize(
    "field, shown",
    [
        ("dob", "Date of birth: "),
        ("icd10", "Diagnosis (ICD-10): "),
        ("cd22_percent", "CD22-positive blasts: "),
        ("mrn", "MRN: "),
        ("given_at", "Given at: "),
        ("deviation reason", "Reason for the deviation: "),
    ],
)
def test_a_field_is_named_by_its_label(field, shown):
    assert error_text(ValidationError(field, "must not be empty")) == shown + "must not be empty"


def test_a_form_may_call_a_field_its_own_way_and_refusals_read_as_sentences():
    assert error_text(ValidationError("mrn", "x"), {"mrn": "Patient MRN"}) == "Patient MRN: x"
    assert error_text(StepRefused("role", "the dilution is recorded by a pharmacist or technician")).startswith("The dilution")


def test_no_gui_module_builds_its_own_field_prefix():
    # The class, not the instance: a page formatting exc.field itself would bring "Dob:" back.
    offenders = [
        f"{path.name}:{number}"
        for path in sorted((ROOT / "gui").glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"exc\.field\.(capitalize|upper|title)\(|\{exc\.field[^}]*\}", line)
    ]
    assert offenders == []


def test_the_bench_wizard_names_the_date_of_birth_field_as_it_is_labelled(qtbot, service, technician):
    from infusion_app.gui.bench_wizard import BenchWizard

    wizard = BenchWizard(service, technician)
    qtbot.addWidget(wizard)
    wizard.resize(1280, 800)
    wizard.show()
    page = wizard.currentPage()
    qtbot.keyClicks(page.mrn, "MRN7777")
    qtbot.keyClick(page.mrn, Qt.Key.Key_Return)
    qtbot.keyClicks(page.name, "Doe, Jane")
    qtbot.keyClicks(page.dob, "2999-01-01")
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.NextButton), Qt.MouseButton.LeftButton)
    texts = [label.text() for label in page.findChildren(QLabel) if label.isVisible()]
    shown = " | ".join(t for t in texts if "birth" in t.lower() or "dob" in t.lower())
    assert "Dob:" not in shown and "dob:" not in shown
    assert any(t.startswith("Date of birth") and ("future" in t or "2999" in t) for t in texts), shown


def test_no_domain_or_service_message_names_a_command_line_option():
    """A message a screen shows never tells a nurse to type '--regimen' (the CLI adds its own hints)."""
    quoted_option = re.compile(r"""(["'])[^"'\n]*\s--[a-z][a-z-]+[^"'\n]*\1""")
    offenders = []
    for layer in ("domain", "service"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                code = line.split("#", 1)[0]
                if ("Error(" in code or "Refused(" in code or "raise" in code or 'f"' in code) and quoted_option.search(code):
                    offenders.append(f"{layer}/{path.name}:{number}")
    assert offenders == []
