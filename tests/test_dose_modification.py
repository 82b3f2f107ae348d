"""Dose modification advice: hematologic, liver, other toxicity, infusion reactions, interruptions, reductions."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from infusion_app.domain.dose_modification import (
    Action,
    Counts,
    Decision,
    check_no_re_escalation,
    exempt_liver_causes,
    hematologic_advice,
    infusion_reaction_advice,
    interruption_advice,
    liver_advice,
    non_hematologic_advice,
    reduction_for_level,
)
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.monograph import load_monograph, parse_monograph
from infusion_app.domain.quantities import Quantity
from tests.drugs import BESPONSA


def actions(advice):
    return [a.action for a in advice]


def codes(advice):
    return [a.code for a in advice]


# -- hematologic -----------------------------------------------------------------------------------

GOOD = Counts.of(2.0, 150)


def test_counts_within_a_cycle_never_hold_the_dose():
    advice = hematologic_advice(GOOD, Counts.of(0.2, 10), within_cycle=True, monograph=BESPONSA)
    assert actions(advice) == [Action.CONTINUE]
    assert advice[0].sources[0].path == "dose_modification.hematologic.not_held_within_cycle"


def test_adequate_baseline_low_anc_holds_the_next_cycle():
    advice = hematologic_advice(GOOD, Counts.of(0.9, 150), within_cycle=False, monograph=BESPONSA)
    assert actions(advice) == [Action.HOLD_NEXT_CYCLE]
    assert "ANC" in advice[0].message and "platelets are below" not in advice[0].message


def test_adequate_baseline_low_platelets_holds_the_next_cycle():
    advice = hematologic_advice(GOOD, Counts.of(1.5, 49), within_cycle=False, monograph=BESPONSA)
    assert actions(advice) == [Action.HOLD_NEXT_CYCLE]
    assert "platelets" in advice[0].message


def test_adequate_baseline_recovered_counts_allow_the_next_cycle_at_the_threshold():
    assert actions(hematologic_advice(GOOD, Counts.of(1.0, 50), within_cycle=False, monograph=BESPONSA)) == [Action.CONTINUE]


def test_counts_take_pint_units():
    # 1,000 per microlitre is 1 × 10⁹/L: exactly at the ANC threshold.
    current = Counts(Quantity(1000, "1/uL"), Quantity(60000, "1/uL"))
    assert actions(hematologic_advice(GOOD, current, within_cycle=False, monograph=BESPONSA)) == [Action.CONTINUE]


LOW_BASELINE = Counts.of(0.5, 30)


def test_low_baseline_hold_until_one_recovery_route():
    advice = hematologic_advice(LOW_BASELINE, Counts.of(0.4, 20), within_cycle=False, monograph=BESPONSA)
    assert actions(advice) == [Action.HOLD_NEXT_CYCLE]


def test_low_baseline_back_to_prior_cycle_baseline_allows():
    prior = Counts.of(0.6, 25)
    advice = hematologic_advice(LOW_BASELINE, Counts.of(0.6, 26), within_cycle=False, prior_cycle_baseline=prior, monograph=BESPONSA)
    assert actions(advice) == [Action.CONTINUE]
    assert "prior cycle" in advice[0].message


def test_low_baseline_counts_above_thresholds_allow():
    # Below the prior cycle's baseline ANC is impossible here, so only the thresholds route can apply.
    prior = Counts.of(1.2, 80)
    advice = hematologic_advice(LOW_BASELINE, Counts.of(1.0, 50), within_cycle=False, prior_cycle_baseline=prior, monograph=BESPONSA)
    assert actions(advice) == [Action.CONTINUE]
    assert "ANC ≥" in advice[0].message


def test_low_baseline_disease_related_fall_with_stable_marrow_allows():
    held = hematologic_advice(LOW_BASELINE, Counts.of(0.3, 10), within_cycle=False, disease_stable_or_improved=True, monograph=BESPONSA)
    assert actions(held) == [Action.HOLD_NEXT_CYCLE]  # stable disease alone is not enough
    advice = hematologic_advice(
        LOW_BASELINE, Counts.of(0.3, 10), within_cycle=False, disease_stable_or_improved=True, decrease_disease_related=True, monograph=BESPONSA
    )
    assert actions(advice) == [Action.CONTINUE]


def test_low_counts_longer_than_28_days_and_drug_related_discontinue():
    assert Action.DISCONTINUE in actions(hematologic_advice(GOOD, Counts.of(0.5, 20), within_cycle=False, low_counts_days=29, monograph=BESPONSA))
    assert Action.DISCONTINUE not in actions(hematologic_advice(GOOD, Counts.of(0.5, 20), within_cycle=False, low_counts_days=28, monograph=BESPONSA))
    assert Action.DISCONTINUE not in actions(
        hematologic_advice(GOOD, Counts.of(0.5, 20), within_cycle=False, low_counts_days=40, drug_related=False, monograph=BESPONSA)
    )
    # The discontinuation rule applies within a cycle too.
    assert Action.DISCONTINUE in actions(hematologic_advice(GOOD, Counts.of(0.5, 20), within_cycle=True, low_counts_days=29, monograph=BESPONSA))


@pytest.mark.parametrize("bad", ["abc", -1, float("nan")])
def test_bad_counts_name_the_field(bad):
    with pytest.raises(ValidationError) as info:
        Counts.of(bad, 100)
    assert info.value.field == "anc"


# -- liver -------------------------------------------------------------------------------------------


def test_liver_hold_with_both_bilirubin_and_transaminases_above():
    assert actions(liver_advice(1.6, 2.6, monograph=BESPONSA)) == [Action.HOLD_DOSE]
    assert liver_advice(1.6, 2.6, monograph=BESPONSA)[0].code == "liver-hold"
    assert actions(liver_advice(1.5, 2.5, monograph=BESPONSA)) == [Action.CONTINUE]
    assert liver_advice(1.5, 2.5, monograph=BESPONSA)[0].code == "liver-ok"
    advice = liver_advice(2, 3, monograph=BESPONSA)
    assert {s.path for s in advice[0].sources} == {"dose_modification.liver.bilirubin_uln_multiple", "dose_modification.liver.ast_alt_uln_multiple"}


@pytest.mark.parametrize("bilirubin, ast_alt", [(3, 1), (1.6, 2.5), (1.5, 3.0), (1, 6)])
def test_one_liver_test_alone_above_its_limit_is_grade_2_and_holds(bilirubin, ast_alt):
    # Old code: "within the label's limits (or only one raised)": an isolated bilirubin of 3 × ULN was dosed.
    advice = liver_advice(bilirubin, ast_alt, monograph=BESPONSA)
    assert actions(advice) == [Action.HOLD_DOSE]
    assert advice[0].code == "liver-grade-2-hold"
    assert "grade ≥2" in advice[0].message and "within the label's limits" in advice[0].message
    assert "dose_modification.other.non_hematologic_hold_grade" in {s.path for s in advice[0].sources}
    assert advice[0].blocks_dosing


def test_rising_bilirubin_prompts_a_vod_sos_check():
    advice = liver_advice(2, 1, previous_bilirubin_x_uln=1.2, monograph=BESPONSA)
    codes = [a.code for a in advice]
    assert codes == ["liver-grade-2-hold", "vod-sos-check"]
    check = advice[1]
    assert check.action is Action.CHECK_VOD_SOS
    assert all(sign in check.message for sign in ("weight gain", "hepatomegaly", "ascites"))
    assert [a.code for a in liver_advice(1.2, 1, previous_bilirubin_x_uln=1.4, monograph=BESPONSA)] == ["liver-ok"]  # falling
    assert [a.code for a in liver_advice(0.9, 1, previous_bilirubin_x_uln=0.5, monograph=BESPONSA)] == ["liver-ok"]  # within normal


@pytest.mark.parametrize("cause", ["gilbert", "Gilbert's syndrome", "hemolysis"])
def test_liver_rule_does_not_apply_for_gilbert_or_hemolysis(cause):
    advice = liver_advice(3, 4, cause=cause, monograph=BESPONSA)
    assert actions(advice) == [Action.CONTINUE]
    assert advice[0].code == "liver-exempt"


def test_exempt_causes_come_from_the_monograph():
    assert set(exempt_liver_causes(monograph=BESPONSA)) == {"gilbert", "hemolysis"}


def test_unknown_liver_cause_is_refused():
    with pytest.raises(ValidationError) as info:
        liver_advice(3, 4, cause="alcohol", monograph=BESPONSA)
    assert info.value.field == "cause"


def test_liver_no_recovery_discontinues_and_vod_always_discontinues():
    assert actions(liver_advice(3, 4, no_recovery=True, monograph=BESPONSA)) == [Action.DISCONTINUE]
    advice = liver_advice(0.5, 0.5, vod_sos=True, monograph=BESPONSA)
    assert actions(advice) == [Action.DISCONTINUE] and advice[0].permanent
    assert advice[0].sources[0].path == "dose_modification.other.vod_sos"


# -- other toxicity and infusion reactions -------------------------------------------------------


def test_non_hematologic_grade_2_holds_grade_1_does_not():
    assert actions(non_hematologic_advice(2, monograph=BESPONSA)) == [Action.HOLD_DOSE]
    assert actions(non_hematologic_advice(1, monograph=BESPONSA)) == [Action.CONTINUE]


def test_non_hematologic_pretreatment_grade_is_the_recovery_target():
    assert actions(non_hematologic_advice(2, pretreatment_grade=2, monograph=BESPONSA)) == [Action.CONTINUE]
    advice = non_hematologic_advice(3, pretreatment_grade=2, monograph=BESPONSA)
    assert actions(advice) == [Action.HOLD_DOSE]
    assert "grade 2 or less" in advice[0].message


@pytest.mark.parametrize("bad", [6, -1, "two", 2.5])
def test_bad_grade_is_refused(bad):
    with pytest.raises(ValidationError) as info:
        non_hematologic_advice(bad, monograph=BESPONSA)
    assert info.value.field == "grade"


def test_infusion_reaction_interrupts_and_severe_discontinues():
    assert actions(infusion_reaction_advice(2, monograph=BESPONSA)) == [Action.INTERRUPT_INFUSION]
    assert actions(infusion_reaction_advice(3, monograph=BESPONSA)) == [Action.INTERRUPT_INFUSION, Action.DISCONTINUE]
    assert actions(infusion_reaction_advice(4, monograph=BESPONSA)) == [Action.INTERRUPT_INFUSION, Action.DISCONTINUE]


# -- interruptions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "days, level, expected",
    [
        (1, 0, ["interruption-delay"]),
        (6, 0, ["interruption-delay"]),
        (7, 0, ["interruption-omit"]),
        (13, 0, ["interruption-omit"]),
        (14, 0, ["interruption-omit", "interruption-reduce"]),
        (14, 1, ["interruption-omit", "interruption-two-doses"]),
        (14, 2, ["interruption-omit", "interruption-discontinue"]),
        (28, 0, ["interruption-omit", "interruption-reduce"]),
        (29, 0, ["interruption-omit", "interruption-reduce", "interruption-consider-stop"]),
    ],
)
def test_interruption_rules_by_length(days, level, expected):
    advice = interruption_advice(days, level, monograph=BESPONSA)
    assert codes(advice) == expected
    # Table 5 is from the 2017 label as recalled: every interruption advice is pending verification.
    assert all(a.pending_verification for a in advice)


@pytest.mark.parametrize("bad", [0, -3, "x", 1.5])
def test_bad_interruption_length_is_refused(bad):
    with pytest.raises(ValidationError) as info:
        interruption_advice(bad, monograph=BESPONSA)
    assert info.value.field == "interruption-days"


def test_interruption_thresholds_come_from_the_monograph():
    raw = copy.deepcopy(load_monograph("inotuzumab-ozogamicin").raw)
    raw["dose_modification"]["interruption"]["delay_below"]["value"] = 5
    raw["dose_modification"]["interruption"]["omit_next_dose_from"]["value"] = 5
    changed = parse_monograph(raw)
    assert codes(interruption_advice(6, monograph=BESPONSA)) == ["interruption-delay"]
    assert codes(interruption_advice(6, monograph=changed)) == ["interruption-omit"]


# -- reductions ------------------------------------------------------------------------------------


def test_reduction_levels_from_the_monograph():
    m = load_monograph("inotuzumab-ozogamicin")
    assert reduction_for_level(0, monograph=BESPONSA).reduce_pct == 0 and reduction_for_level(0, monograph=BESPONSA).doses_per_cycle is None
    one = reduction_for_level(1, monograph=BESPONSA)
    assert one.reduce_pct == m.magnitude("cycles.toxicity_cycle_dose_reduction", "percent") == 25
    assert one.doses_per_cycle is None
    two = reduction_for_level(2, monograph=BESPONSA)
    assert two.reduce_pct == 25 and two.doses_per_cycle == 2
    with pytest.raises(ValidationError):
        reduction_for_level(3, monograph=BESPONSA)


def test_a_reduced_dose_is_never_re_escalated():
    check_no_re_escalation(reduction_for_level(1, monograph=BESPONSA), reduction_for_level(1, monograph=BESPONSA), monograph=BESPONSA)
    check_no_re_escalation(reduction_for_level(1, monograph=BESPONSA), reduction_for_level(2, monograph=BESPONSA), monograph=BESPONSA)
    for previous, proposed in ((1, 0), (2, 1), (2, 0)):
        with pytest.raises(ValidationError) as info:
            check_no_re_escalation(reduction_for_level(previous, monograph=BESPONSA), reduction_for_level(proposed, monograph=BESPONSA), monograph=BESPONSA)
        assert "never re-escalated" in info.value.message


# -- decisions -------------------------------------------------------------------------------------

AT = datetime(2026, 12, 30, 10, 0, tzinfo=timezone.utc)


def test_a_decision_names_who_decided_who_recorded_and_why():
    d = Decision.make("liver-hold", True, "Dr A. Prescriber", "Pat Pharmacist", "per label", AT)
    assert d.to_dict()["at"] == "2026-12-30T10:00:00+00:00"
    for kwargs, field in (
        (dict(decided_by=" "), "by"),
        (dict(recorded_by=""), "user"),
        (dict(reason=""), "reason"),
    ):
        args = dict(advice_code="liver-hold", accepted=False, decided_by="Dr A", recorded_by="P", reason="r", at=AT)
        args.update(kwargs)
        with pytest.raises(ValidationError) as info:
            Decision.make(**args)
        assert info.value.field == field


@pytest.mark.parametrize("typed, says", [("1,5", "use a decimal point: 1.5"), ("1_5", "not a number"), ("x", "not a number")])
def test_a_typed_ratio_is_read_as_written_or_refused(typed, says):
    from infusion_app.domain.dose_modification import _ratio

    with pytest.raises(ValidationError) as raised:
        _ratio(typed, "bilirubin")
    assert raised.value.field == "bilirubin" and says in raised.value.message
    assert _ratio("1.5", "bilirubin") == 1.5 and _ratio("２", "bilirubin") == 2.0


@pytest.mark.parametrize("finding", ["hematologic", "liver", "vod", "non-hematologic", "infusion-reaction"])
def test_no_dose_modification_rule_of_another_drug_is_applied_to_mylotarg(finding):
    from infusion_app.domain import dose_modification as dm
    from infusion_app.domain.errors import ValidationError
    from tests.drugs import BESPONSA, MYLOTARG

    assert dm.has_rule(BESPONSA, finding) and not dm.has_rule(MYLOTARG, finding)
    call = {
        "hematologic": lambda m: dm.hematologic_advice(dm.Counts.of(2, 150), dm.Counts.of(0.2, 10), within_cycle=False, monograph=m),
        "liver": lambda m: dm.liver_advice("3.1", "1", monograph=m),
        "vod": dm.vod_sos_advice,
        "non-hematologic": lambda m: dm.non_hematologic_advice("3", monograph=m),
        "infusion-reaction": lambda m: dm.infusion_reaction_advice("3", m),
    }[finding]
    assert call(BESPONSA)
    with pytest.raises(ValidationError) as refused:
        call(MYLOTARG)
    assert refused.value.field == "kind" and "no dose-modification rule" in refused.value.message


@pytest.mark.parametrize(
    "call",
    [
        lambda dm, m: dm.hematologic_advice(dm.Counts.of("2", "150", "baseline-"), dm.Counts.of("1.5", "20000"), within_cycle=False, monograph=m),
        lambda dm, m: dm.hematologic_advice(dm.Counts.of("2", "150", "baseline-"), dm.Counts.of("1e9", "150"), within_cycle=False, monograph=m),
        lambda dm, m: dm.liver_advice("1e9", "1", monograph=m),
        lambda dm, m: dm.liver_advice("1", "2500", monograph=m),
    ],
)
def test_a_findings_count_or_ratio_in_the_wrong_unit_is_refused_as_the_labs_refuse_it(call):
    """The labs refused a count above its bound (validation.toml [counts]) or its × ULN bound (a value per µL, a typo); the same values
    typed as a finding to apply a dose-modification rule were read and advised on (platelets 20,000 ×
    10⁹/L, bilirubin 1,000,000,000 × ULN)."""
    from infusion_app.domain import dose_modification as dm
    from infusion_app.domain.errors import ValidationError
    from tests.drugs import BESPONSA

    with pytest.raises(ValidationError) as refused:
        call(dm, BESPONSA)
    assert "is not accepted; must be 0 to" in refused.value.message and "e.g." in refused.value.message
