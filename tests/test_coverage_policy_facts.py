"""Issue 17: the coverage facts are each payer policy's own ([[facts]] in its file), not fields in code.

The check reads a fact by the id its policy declares, the command's options are the installed
policies' facts, and a drug with no installed policy is said to have none, never judged by another
drug's policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infusion_app.domain.coverage import CoverageFacts, check_coverage, load_policy
from infusion_app.domain.errors import DataFileError, ValidationError
from infusion_app.domain.resources import resource_path
from tests.cli_helpers import run_cli
from tests.drugs import BESPONSA_POLICY

POLICY = "policies/aetna-inotuzumab-ozogamicin.toml"


def _policy_text() -> str:
    return resource_path(POLICY).read_text(encoding="utf-8")


def _written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_policy_that_declares_another_fact_is_checked_by_it(tmp_path):
    # A policy judging CD33 (as MYLOTARG's would) instead of CD22: no code names either fact.
    text = _policy_text().replace("cd22_percent", "cd33_percent")
    policy = load_policy(_written(tmp_path, text))
    assert policy.fact("cd33_percent") is not None and policy.fact("cd22_percent") is None
    facts = dict(age_years=45, icd10="C91.00", ph="negative", disease_status="relapsed")
    assert check_coverage(CoverageFacts(**facts, cd33_percent=80), policy).decision == "meets_criteria"
    assert check_coverage(CoverageFacts(**facts, cd33_percent=2), policy).decision == "criteria_not_met"
    missing = check_coverage(CoverageFacts(**facts), policy)
    assert (missing.decision, missing.missing_facts) == ("incomplete", ("cd33_percent",))
    with pytest.raises(ValidationError) as raised:
        check_coverage(CoverageFacts(**facts, cd22_percent=80), policy)
    assert raised.value.field == "cd22_percent"


def test_every_fact_quotes_the_policy_text_it_comes_from():
    policy = BESPONSA_POLICY
    source = (Path(__file__).resolve().parents[1] / ".." / policy.source_file).resolve()
    reference = source.read_text(encoding="utf-8") if source.exists() else None
    for fact in policy.facts:
        assert fact.text and fact.where, fact.id
        if reference is not None:  # the shared reference is beside the clone, when it is there
            assert " ".join(fact.text.split()[:8]) in " ".join(reference.split()), fact.id


def test_a_fact_without_its_policy_text_is_a_data_file_error(tmp_path):
    text = _policy_text()
    start = text.index('[[facts]]\nid = "ph"')
    block_end = text.index("[[facts]]", start + 1)
    block = text[start:block_end]
    stripped = "\n".join(line for line in block.splitlines() if not line.startswith("text = ")) + "\n"
    with pytest.raises(DataFileError, match="ph"):
        load_policy(_written(tmp_path, text.replace(block, stripped)))


def test_the_command_options_are_the_installed_policies_facts():
    from infusion_app.cli.coverage import installed_facts

    facts = installed_facts()
    assert {f.id for f in facts.values()} == {f.id for f in BESPONSA_POLICY.facts}
    assert facts["age"].id == "age_years" and facts["age"].required
    assert facts["tki-failed"].accepted == ("yes", "no")


def test_a_drug_with_no_installed_policy_is_said_to_have_none_exit_1():
    done = run_cli("coverage", "--drug", "gemtuzumab-ozogamicin")
    assert done.code == 1, (done.stdout, done.stderr)
    assert "no payer policy is installed" in done.stderr and "MYLOTARG" in done.stderr
    assert "Besponsa" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    # Facts typed for it are not judged by BESPONSA's policy either.
    done = run_cli("coverage", "--drug", "gemtuzumab-ozogamicin", "--age", "45", "--icd10", "C92.00", "--json")
    assert done.code == 1
    data = json.loads(done.stdout)
    assert data["policy"] is None and data["decision"] is None and data["drug"] == "gemtuzumab-ozogamicin"


def test_besponsa_named_or_by_default_is_judged_by_its_policy():
    args = ["--age", "45", "--icd10", "C91.00", "--cd22-percent", "80", "--ph", "negative", "--disease-status", "relapsed", "--json"]
    for drug in ([], ["--drug", "inotuzumab-ozogamicin"], ["--drug", "BESPONSA"]):
        done = run_cli("coverage", *drug, *args)
        assert done.code == 0, done.stderr
        assert json.loads(done.stdout)["policy"]["id"] == "aetna-inotuzumab-ozogamicin"


def test_the_age_is_read_from_the_date_of_birth_as_the_policy_file_says(tmp_path):
    """The screen types no age: the policy declares its age fact derived from the patient's record
    (`derived = "age_in_years"`), and the service reads it from the date of birth on the day."""
    from datetime import date, datetime, timezone

    from infusion_app.domain.clock import FakeClock
    from infusion_app.service import open_service
    from tests.drugs import BESPONSA, MYLOTARG

    assert BESPONSA_POLICY.fact("age_years").derived == "age_in_years"
    typed = {k: v for k, v in BESPONSA_POLICY.example.items() if k != "age_years"}
    with open_service(data_dir=tmp_path, clock=FakeClock(datetime(2026, 12, 3, 12, tzinfo=timezone.utc))) as service:
        adult = service.check_coverage(BESPONSA, CoverageFacts(**typed), date(2008, 12, 3))
        child = service.check_coverage(BESPONSA, CoverageFacts(**typed), date(2008, 12, 4))
        assert (adult.decision, adult.facts["age_years"]) == ("meets_criteria", 18)
        assert (child.decision, child.facts["age_years"]) == ("criteria_not_met", 17)
        assert "children 1 year and older" in child.criterion("adult").reason  # the file's note, by its key
        assert service.check_coverage(MYLOTARG, CoverageFacts(), date(2008, 12, 3)) is None


def test_a_criterion_note_and_the_example_must_name_what_the_file_has(tmp_path):
    text = _policy_text()
    with pytest.raises(DataFileError, match="note"):
        load_policy(_written(tmp_path, text.replace('note_if_not_met = "label_age"', 'note_if_not_met = "label_agee"')))
    with pytest.raises(DataFileError, match="example"):
        load_policy(_written(tmp_path, text.replace("cd22_percent = 92", "cd23_percent = 92")))
