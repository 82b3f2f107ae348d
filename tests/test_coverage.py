"""The payer-policy check (infusion_app.domain.coverage) against the Aetna policy text.

The expected thresholds and codes below are read from the policy document
(shared/reference/000_bc192fd0cffe20df.txt) by hand, so these tests also check that the
policy data file transcribes the document correctly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infusion_app.domain.coverage import (
    DECISIONS,
    CoverageFacts,
    check_coverage,
    load_policy,
    normalise_icd10,
)
from infusion_app.domain.errors import DataFileError, ValidationError
from infusion_app.domain.monograph import load_monograph
from infusion_app.domain.resources import resource_path
from tests.drugs import BESPONSA_POLICY

ROOT = Path(__file__).resolve().parents[1]
POLICY_FILE = ROOT / "resources" / "policies" / "aetna-inotuzumab-ozogamicin.toml"
# shared/ lies beside the clone (CI), or beside the folder of clones (a developer's work tree).
POLICY_TEXT = next(
    (p for p in (base / "shared" / "reference" / "000_bc192fd0cffe20df.txt" for base in (ROOT.parent, ROOT.parent.parent)) if p.exists()),
    ROOT.parent / "shared" / "reference" / "000_bc192fd0cffe20df.txt",
)

ADULT_PH_NEGATIVE = dict(age_years=45, icd10="C91.00", cd22_percent=80, ph="negative", disease_status="relapsed")
ADULT_PH_POSITIVE = dict(age_years=45, icd10="C91.02", cd22_percent=80, ph="positive", tki_failed=True, chemo_failed=True, disease_status="refractory")


def check(**facts):
    return check_coverage(CoverageFacts(**facts), BESPONSA_POLICY)


def met(decision, criterion_id):
    return decision.criterion(criterion_id).met


# -- the policy file ------------------------------------------------------------------------
def test_policy_identity_and_hcpcs_agree_with_the_monograph():
    policy = BESPONSA_POLICY
    assert policy.payer == "Aetna"
    assert policy.hcpcs == "J9229"
    assert policy.hcpcs == load_monograph("inotuzumab-ozogamicin").text("billing.hcpcs")
    assert policy.source_file.endswith("000_bc192fd0cffe20df.txt")
    assert policy.covered_codes() == ("C91.00", "C91.02")


def test_the_policy_file_ships_as_a_resource():
    assert resource_path("policies", "aetna-inotuzumab-ozogamicin.toml").is_file()


def _sentence_pieces(text: str) -> list[str]:
    pieces = re.split(r"; |: ", text)
    return [re.sub(r"^or ", "", piece).strip() for piece in pieces if piece.strip()]


@pytest.mark.skipif(not POLICY_TEXT.exists(), reason="the policy document is kept beside the repository, not in it")
def test_every_quoted_sentence_is_in_the_policy_document_word_for_word():
    document = " ".join(POLICY_TEXT.read_text(encoding="utf-8").split())
    policy = BESPONSA_POLICY
    texts = [c.text for c in policy.criteria] + [case.text for c in policy.criteria for case in c.cases.values()]
    texts.append(policy.experimental_text)
    for text in texts:
        for piece in _sentence_pieces(text):
            assert " ".join(piece.split()) in document, piece


@pytest.mark.skipif(not POLICY_TEXT.exists(), reason="the policy document is kept beside the repository, not in it")
def test_every_not_covered_range_is_in_the_policy_table():
    document = POLICY_TEXT.read_text(encoding="utf-8")
    for code_range in BESPONSA_POLICY.experimental_ranges:
        assert f"{code_range.low} - {code_range.high} {code_range.description}" in document


# -- decisions ------------------------------------------------------------------------------
def test_ph_negative_adult_meets_criteria_without_tki_or_chemo_facts():
    result = check(**ADULT_PH_NEGATIVE)
    assert result.decision == "meets_criteria"
    assert all(c.met is True for c in result.criteria)
    assert result.missing_facts == () and result.not_given == ()


def test_ph_negative_ignores_tki_and_chemo_answers():
    assert check(**ADULT_PH_NEGATIVE, tki_failed=False, chemo_failed=False).decision == "meets_criteria"


def test_ph_positive_meets_criteria_only_when_tki_and_chemo_both_failed():
    assert check(**ADULT_PH_POSITIVE).decision == "meets_criteria"
    for failed_fact in ("tki_failed", "chemo_failed"):
        result = check(**{**ADULT_PH_POSITIVE, failed_fact: False})
        assert result.decision == "criteria_not_met"
        assert met(result, "philadelphia") is False
        assert any("Ph+" in reason for reason in result.reasons)


def test_ph_positive_cites_the_ph_positive_sentence_and_ph_negative_the_ph_negative_one():
    positive = check(**ADULT_PH_POSITIVE).criterion("philadelphia").text
    negative = check(**ADULT_PH_NEGATIVE).criterion("philadelphia").text
    assert "intolerant or refractory to tyrosine kinase inhibitors" in positive
    assert negative == "Member has Philadelphia chromosome-negative (Ph-) disease."


@pytest.mark.parametrize(("age", "expected"), [(18, True), (17.99, False), (17, False), (0, False), (130, True), (64.5, True)])
def test_adult_criterion_is_18_or_older(age, expected):
    result = check(**{**ADULT_PH_NEGATIVE, "age_years": age})
    assert met(result, "adult") is expected
    assert result.decision == ("meets_criteria" if expected else "criteria_not_met")


def test_a_child_is_not_covered_but_the_reason_says_coverage_and_dosing_are_separate():
    result = check(**{**ADULT_PH_NEGATIVE, "age_years": 10})
    assert result.decision == "criteria_not_met"
    reason = result.criterion("adult").reason
    assert "separate questions" in reason and "children" in reason
    assert reason in result.reasons


@pytest.mark.parametrize(("cd22", "expected"), [(5, True), (4.99, False), (0, False), (100, True), (70, True)])
def test_cd22_criterion_is_at_least_5_percent_of_blasts(cd22, expected):
    result = check(**{**ADULT_PH_NEGATIVE, "cd22_percent": cd22})
    assert met(result, "cd22_positive") is expected
    assert result.decision == ("meets_criteria" if expected else "criteria_not_met")


@pytest.mark.parametrize("code", ["C91.00", "C91.02", "c9100", " c91.02 "])
def test_covered_codes(code):
    result = check(**{**ADULT_PH_NEGATIVE, "icd10": code})
    assert result.decision == "meets_criteria"
    assert met(result, "covered_diagnosis") is True and met(result, "not_experimental") is True


# The policy's not-covered table at both ends of each range, and the codes just outside.
NHL_INSIDE = [
    ("C82.00", "C82.00-C82.99 Follicular lymphoma"),
    ("C82.99", "C82.00-C82.99 Follicular lymphoma"),
    ("C83.10", "C83.10-C83.19 Mantle cell lymphoma"),
    ("C83.19", "C83.10-C83.19 Mantle cell lymphoma"),
    ("C83.30", "C83.30-C83.39 Diffuse large B-cell lymphoma"),
    ("C83.39", "C83.30-C83.39 Diffuse large B-cell lymphoma"),
    ("C83.70", "C83.70-C83.79 Burkitt lymphoma"),
    ("C83.79", "C83.70-C83.79 Burkitt lymphoma"),
    ("C85.80", "C85.80-C85.99 Non-Hodgkin lymphoma"),
    ("C85.99", "C85.80-C85.99 Non-Hodgkin lymphoma"),
    ("C85.90", "C85.80-C85.99 Non-Hodgkin lymphoma"),
    ("c8335", "C83.30-C83.39 Diffuse large B-cell lymphoma"),
]
JUST_OUTSIDE = ["C81.99", "C83.09", "C83.20", "C83.29", "C83.40", "C83.69", "C83.80", "C85.79", "C86.00", "C84.00"]


@pytest.mark.parametrize(("code", "listed"), NHL_INSIDE)
def test_listed_nhl_codes_are_experimental_at_the_edges_of_each_range(code, listed):
    result = check(**{**ADULT_PH_NEGATIVE, "icd10": code})
    assert result.decision == "experimental"
    assert result.listed_not_covered == listed
    assert met(result, "not_experimental") is False
    assert "experimental and investigational" in result.reasons[0] and listed in result.reasons[0]


@pytest.mark.parametrize("code", JUST_OUTSIDE + ["C91.01", "C92.00", "C50.911", "Z51.11"])
def test_every_other_indication_is_experimental_but_not_as_a_listed_code(code):
    result = check(**{**ADULT_PH_NEGATIVE, "icd10": code})
    assert result.decision == "experimental"
    assert result.listed_not_covered is None
    assert "all other indications" in result.reasons[0]


def test_experimental_is_decided_by_the_code_even_when_every_other_fact_is_missing():
    result = check(age_years=45, icd10="C83.35")
    assert result.decision == "experimental"
    assert result.missing_facts == ()
    assert set(result.not_given) == {"disease_status", "cd22_percent", "ph"}
    assert any("not needed for this decision" in reason for reason in result.reasons)


def test_experimental_outranks_a_failed_criterion_and_still_names_it():
    result = check(age_years=15, icd10="C82.05", cd22_percent=2)
    assert result.decision == "experimental"
    assert any("separate questions" in reason for reason in result.reasons)
    assert any("cd22_percent" in reason for reason in result.reasons)


def test_a_failed_criterion_decides_even_when_other_facts_are_missing():
    result = check(age_years=15, icd10="C91.00", disease_status="relapsed")
    assert result.decision == "criteria_not_met"
    assert met(result, "cd22_positive") is None and met(result, "philadelphia") is None
    assert result.missing_facts == ()
    assert set(result.not_given) == {"cd22_percent", "ph"}
    assert any("not needed for this decision: cd22_percent, ph" in reason for reason in result.reasons)


# -- incomplete: never a guess ----------------------------------------------------------------
def test_incomplete_lists_every_missing_fact():
    result = check(age_years=45, icd10="C91.00")
    assert result.decision == "incomplete"
    assert result.missing_facts == ("disease_status", "cd22_percent", "ph")
    assert met(result, "adult") is True and met(result, "covered_diagnosis") is True
    assert "cd22_percent" in result.reasons[0] and "ph" in result.reasons[0]


def test_unknown_ph_asks_for_ph_and_says_ph_positive_would_need_more():
    result = check(age_years=45, icd10="C91.00", cd22_percent=80, disease_status="refractory")
    assert result.decision == "incomplete"
    assert result.missing_facts == ("ph",)
    reason = result.criterion("philadelphia").reason
    assert "tki_failed" in reason and "chemo_failed" in reason


@pytest.mark.parametrize(
    ("given", "missing"),
    [({}, ("tki_failed", "chemo_failed")), ({"tki_failed": True}, ("chemo_failed",)), ({"chemo_failed": "yes"}, ("tki_failed",))],
)
def test_ph_positive_without_tki_or_chemo_facts_is_incomplete(given, missing):
    result = check(age_years=45, icd10="C91.00", cd22_percent=80, ph="positive", disease_status="relapsed", **given)
    assert result.decision == "incomplete"
    assert result.missing_facts == missing
    assert met(result, "philadelphia") is None


def test_ph_positive_with_one_failure_known_is_not_met_even_if_the_other_is_missing():
    result = check(age_years=45, icd10="C91.00", cd22_percent=80, ph="positive", tki_failed="no")
    assert result.decision == "criteria_not_met"
    assert "chemo_failed" in result.not_given


def test_nothing_given_at_all_is_incomplete():
    result = check_coverage(CoverageFacts(), BESPONSA_POLICY)
    assert result.decision == "incomplete"
    assert set(result.missing_facts) == {"age_years", "disease_status", "icd10", "cd22_percent", "ph"}
    assert all(c.met is None for c in result.criteria)


def test_every_decision_is_reachable():
    seen = {
        check(**ADULT_PH_NEGATIVE).decision,
        check(**{**ADULT_PH_NEGATIVE, "age_years": 17}).decision,
        check(**{**ADULT_PH_NEGATIVE, "icd10": "C83.30"}).decision,
        check(age_years=45, icd10="C91.00").decision,
    }
    assert seen == set(DECISIONS)


# -- the result as data ---------------------------------------------------------------------
def test_to_dict_is_json_with_the_contract_fields():
    data = json.loads(json.dumps(check(age_years=45, icd10="c9102").to_dict()))
    assert data["decision"] == "incomplete"
    assert [c["id"] for c in data["criteria"]] == ["adult", "relapsed_or_refractory", "covered_diagnosis", "cd22_positive", "philadelphia", "not_experimental"]
    for criterion in data["criteria"]:
        assert set(criterion) >= {"id", "met", "text"} and criterion["met"] in (True, False, None) and criterion["text"]
    assert all(isinstance(reason, str) for reason in data["reasons"]) and data["reasons"]
    assert data["facts"]["icd10"] == "C91.02"
    assert data["policy"]["hcpcs"] == "J9229"


def test_summary_lines_name_the_decision_and_quote_the_policy():
    lines = "\n".join(check(**ADULT_PH_NEGATIVE).summary_lines())
    assert "MEETS CRITERIA" in lines and "18 years of age or older" in lines


# -- input validation -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "expected"),
    [("C91.00", "C91.00"), ("c9100", "C91.00"), (" C91.02 ", "C91.02"), ("c83.35", "C83.35"), ("C85", "C85"), ("s72001a", "S72.001A")],
)
def test_icd10_normalisation(typed, expected):
    assert normalise_icd10(typed, "icd10") == expected


@pytest.mark.parametrize("bad", ["", "9100", "C9", "CC1.00", "C91-00", "C91.00000", "C91..00", "C 91.00", "C91.0#", "91.00C"])
def test_malformed_icd10_is_a_validation_error_naming_the_field(bad):
    with pytest.raises(ValidationError) as caught:
        check(**{**ADULT_PH_NEGATIVE, "icd10": bad}) if bad else normalise_icd10(bad, "icd10")
    assert caught.value.field == "icd10"


@pytest.mark.parametrize("category", ["C91", "C91.0", "c910"])
def test_a_category_that_holds_covered_and_uncovered_codes_is_refused_not_guessed(category):
    with pytest.raises(ValidationError) as caught:
        check(**{**ADULT_PH_NEGATIVE, "icd10": category})
    assert caught.value.field == "icd10" and "C91.00" in caught.value.message


@pytest.mark.parametrize("bad", [-1, 130.5, float("nan"), float("inf"), "abc", True])
def test_age_must_be_a_number_from_0_to_130(bad):
    with pytest.raises(ValidationError) as caught:
        check(**{**ADULT_PH_NEGATIVE, "age_years": bad})
    assert caught.value.field == "age_years"


@pytest.mark.parametrize("bad", [-0.1, 100.1, float("nan"), "five"])
def test_cd22_percent_must_be_0_to_100(bad):
    with pytest.raises(ValidationError) as caught:
        check(**{**ADULT_PH_NEGATIVE, "cd22_percent": bad})
    assert caught.value.field == "cd22_percent"


@pytest.mark.parametrize(("field", "bad"), [("ph", "maybe"), ("tki_failed", "perhaps"), ("chemo_failed", "2")])
def test_categorical_facts_are_validated(field, bad):
    with pytest.raises(ValidationError) as caught:
        check(**{**ADULT_PH_POSITIVE, field: bad})
    assert caught.value.field == field


def test_numbers_typed_as_text_are_read():
    assert check(**{**ADULT_PH_NEGATIVE, "age_years": "18", "cd22_percent": "5"}).decision == "meets_criteria"


# -- the data drives the result -------------------------------------------------------------
def _modified_policy(tmp_path: Path, old: str, new: str) -> Path:
    text = POLICY_FILE.read_text(encoding="utf-8")
    assert old in text
    copy = tmp_path / "policy.toml"
    copy.write_text(text.replace(old, new, 1), encoding="utf-8")
    return copy


def test_a_changed_age_threshold_in_a_copy_of_the_policy_changes_the_result(tmp_path):
    facts = CoverageFacts(**{**ADULT_PH_NEGATIVE, "age_years": 20})
    assert check_coverage(facts, BESPONSA_POLICY).decision == "meets_criteria"
    stricter = _modified_policy(tmp_path, 'fact = "age_years"\nrule = "min"\nvalue = 18', 'fact = "age_years"\nrule = "min"\nvalue = 21')
    result = check_coverage(facts, policy=stricter)
    assert result.decision == "criteria_not_met"
    assert "21" in result.criterion("adult").reason


def test_a_changed_covered_code_list_in_a_copy_of_the_policy_changes_the_result(tmp_path):
    facts = CoverageFacts(**{**ADULT_PH_NEGATIVE, "icd10": "C91.01"})
    assert check_coverage(facts, BESPONSA_POLICY).decision == "experimental"
    wider = _modified_policy(tmp_path, 'values = ["C91.00", "C91.02"]', 'values = ["C91.00", "C91.01", "C91.02"]')
    assert check_coverage(facts, policy=load_policy(wider)).decision == "meets_criteria"


def test_a_changed_not_covered_range_in_a_copy_of_the_policy_changes_the_result(tmp_path):
    facts = CoverageFacts(**{**ADULT_PH_NEGATIVE, "icd10": "C83.38"})
    assert check_coverage(facts, BESPONSA_POLICY).listed_not_covered is not None
    narrower = _modified_policy(tmp_path, 'high = "C83.39"', 'high = "C83.37"')
    result = check_coverage(facts, policy=narrower)
    assert result.decision == "experimental" and result.listed_not_covered is None


def test_a_broken_policy_file_is_a_data_file_error(tmp_path):
    broken = _modified_policy(tmp_path, 'fact = "icd10"\nrule = "one_of"', 'fact = "icd10"\nrule = "sometimes"')
    with pytest.raises(DataFileError):
        load_policy(broken)


# -- issue 11: relapsed or refractory, the bracketed conditions, invalid codes, several codes ---------
def test_newly_diagnosed_disease_does_not_meet_the_policy():
    result = check(**{**ADULT_PH_NEGATIVE, "disease_status": "newly-diagnosed"})
    assert result.decision == "criteria_not_met"
    assert met(result, "relapsed_or_refractory") is False
    assert "relapsed or refractory" in result.criterion("relapsed_or_refractory").text
    assert check(**{**ADULT_PH_NEGATIVE, "disease_status": "refractory"}).decision == "meets_criteria"


@pytest.mark.skipif(not POLICY_TEXT.exists(), reason="the policy document is kept beside the repository, not in it")
def test_the_icd10_criterion_quotes_the_policys_bracketed_conditions_word_for_word():
    policy_text = POLICY_TEXT.read_text(encoding="utf-8")
    text = check(**ADULT_PH_NEGATIVE).criterion("covered_diagnosis").text
    brackets = re.findall(r"\[[^\]]+\]", text)
    assert len(brackets) == 2
    for line in ("C91.00 Acute lymphoblastic leukemia not having achieved remission", "C91.02 Acute lymphoblastic leukemia, in relapse"):
        full = next(row for row in policy_text.splitlines() if row.startswith(line))
        assert full in text


@pytest.mark.parametrize("code", ["C91.000", "C91.021", "c910000"])
def test_a_code_that_extends_a_complete_code_is_refused(code):
    with pytest.raises(ValidationError) as info:
        check(**{**ADULT_PH_NEGATIVE, "icd10": code})
    assert info.value.field == "icd10" and "no subcodes" in info.value.message


def test_a_claim_may_list_several_codes_with_the_encounter_code_first():
    result = check(**{**ADULT_PH_NEGATIVE, "icd10": ["Z51.11", "C91.00"]})
    assert result.decision == "meets_criteria"
    assert result.facts["icd10"] == "C91.00" and result.facts["icd10_codes"] == ["Z51.11", "C91.00"]
    assert check(**{**ADULT_PH_NEGATIVE, "icd10": "Z51.11, C91.02"}).decision == "meets_criteria"
    assert check(**{**ADULT_PH_NEGATIVE, "icd10": "Z51.11"}).decision == "experimental"
