"""BESPONSA wording where the drug is MYLOTARG (issue 17 minors): the cycle choices, the schedule's
next cycle, the sample sheet's payer policy, the command-line help (tests/test_drug_wording.py covers cli/)."""

from __future__ import annotations

import pytest

from infusion_app.domain.course import plan_cycle
from infusion_app.domain.course import parse_date
from infusion_app.domain.dosing import DoseOrder, calculate_dose
from infusion_app.domain.errors import ValidationError
from tests.drugs import BESPONSA, MYLOTARG


@pytest.mark.parametrize("regimen", ["fractionated", "single-agent"])
def test_a_one_cycle_regimen_is_never_must_be_1_to_1(regimen):
    drug = MYLOTARG.with_regimen(regimen)
    with pytest.raises(ValidationError) as refused:
        calculate_dose(DoseOrder("170 cm", "70 kg", 2, 1), drug)
    assert "1 to 1" not in refused.value.message and f"the {regimen} regimen has one cycle" in refused.value.message
    with pytest.raises(ValidationError) as planned:
        plan_cycle(2, parse_date("start", "2027-01-04"), monograph=drug)
    assert "1 to 1" not in planned.value.message
    with pytest.raises(ValidationError) as besponsa:
        calculate_dose(DoseOrder("170 cm", "70 kg", 7, 1), BESPONSA)
    assert "must be 1 to 6" in besponsa.value.message


def test_the_schedule_of_a_one_cycle_regimen_names_no_next_cycle():
    summary = plan_cycle(1, parse_date("start", "2027-01-04"), monograph=MYLOTARG.with_regimen("fractionated")).summary_lines(MYLOTARG)[0]
    assert "next cycle" not in summary and "the last cycle of MYLOTARG's fractionated regimen" in summary
    assert "next cycle from" in plan_cycle(1, parse_date("start", "2027-01-04"), monograph=BESPONSA).summary_lines(BESPONSA)[0]


def test_the_sample_sheet_shows_a_payer_policy_for_its_own_drug_only():
    from infusion_app.reports.demo import demo_sheet_data

    assert demo_sheet_data(monograph=MYLOTARG.with_regimen("fractionated")).policy is None
    assert demo_sheet_data(monograph=BESPONSA).policy is not None
