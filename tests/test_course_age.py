"""The weight re-check threshold follows the age from the date of birth; the child flag only overrides it, with a reason."""

from __future__ import annotations

from datetime import date

import pytest

from infusion_app.domain.course import CourseBlocked, child_rules, new_course, record_weight, weight_recheck
from infusion_app.domain.errors import ValidationError
from tests.cli_helpers import assert_clean_invalid, run_cli
from tests.test_cli_course import course, make_users, show
from tests.drugs import BESPONSA, MYLOTARG

D = date.fromisoformat
TODAY = D("2026-12-20")


def _weighed(c, new_kg):
    record_weight(c, 20, D("2026-12-10"), TODAY)
    record_weight(c, new_kg, D("2026-12-19"), TODAY)
    return weight_recheck(c, TODAY)


def test_a_child_by_age_gets_the_childrens_threshold_and_turns_adult_at_18():
    child = new_course("M1", False, date_of_birth=D("2019-03-01"), monograph=BESPONSA)
    check = _weighed(child, 21.2)  # +6 %
    assert check.threshold_percent == 5 and check.needs_recheck
    assert "7 years old (born 2019-03-01; adults from 18)" in check.reasons[0]
    adult = new_course("M2", False, date_of_birth=D("2008-12-20"), monograph=BESPONSA)  # 18 today
    assert child_rules(adult, TODAY) == (False, "18 years old (born 2008-12-20; adults from 18)")
    assert not _weighed(adult, 21.2).needs_recheck
    assert child_rules(new_course("M3", False, date_of_birth=D("2008-12-21"), monograph=BESPONSA), TODAY)[0]  # 17 until tomorrow


def test_the_child_flag_only_overrides_and_always_with_a_reason():
    with pytest.raises(ValidationError) as info:
        new_course("M4", False, is_child=True, monograph=BESPONSA)
    assert info.value.field == "child-reason"
    with pytest.raises(ValidationError):
        new_course("M4", False, child_reason="no flag", monograph=BESPONSA)
    small = new_course("M4", False, is_child=True, date_of_birth=D("1990-01-01"), child_reason="31 kg adult on the paediatric protocol", monograph=BESPONSA)
    assert child_rules(small, TODAY) == (True, "child flag: 31 kg adult on the paediatric protocol")
    assert _weighed(small, 21.2).threshold_percent == 5


def test_course_new_takes_the_date_of_birth_or_the_patients_stored_one(tmp_path):
    folder = make_users(str(tmp_path / "data"))
    assert_clean_invalid(course(folder, "new", "MRN001", "--hsct", "no", "--child"), "--child-reason")
    done = course(folder, "new", "MRN001", "--hsct", "no", "--dob", "2018-05-01")
    assert done.code == 0, done.stderr
    data = show(folder)
    assert data["is_child"] is True and data["date_of_birth"] == "2018-05-01" and data["weight"]["threshold_percent"] == 5
    flagged = course(folder, "new", "MRN002", "--hsct", "no", "--dob", "1990-01-01", "--child", "--child-reason", "small adult, paediatric protocol")
    assert flagged.code == 0, flagged.stderr
    shown = run_cli("course", "show", "MRN002", "--data-dir", folder)
    assert "Weight re-check threshold: 5% (children: child flag: small adult, paediatric protocol)" in shown.stdout


def test_without_a_date_of_birth_the_course_takes_the_one_stored_with_the_patients_preparation(tmp_path):
    folder = make_users(str(tmp_path / "data"))
    made = run_cli(
        "prep",
        "new",
        "--patient-name",
        "Kid, Ann",
        "--mrn",
        "K1",
        "--dob",
        "2016-02-02",
        "--height",
        "120 cm",
        "--weight",
        "22 kg",
        "--cycle",
        "1",
        "--day",
        "1",
        "--user",
        "Pat Pharmacist",
        "--data-dir",
        folder,
        env={"INFUSION_PREP_PIN": "246824"},
    )
    assert made.code == 0, made.stderr
    assert course(folder, "new", "K1", "--hsct", "no").code == 0
    data = show(folder, "K1")
    assert data["date_of_birth"] == "2016-02-02" and data["is_child"] is True and data["weight"]["threshold_percent"] == 5


def test_no_course_is_opened_for_a_patient_under_the_drugs_minimum_age():
    """Hostile tester: `course new` opened a BESPONSA course for a 6-month-old (exit 0); each dose was
    hard-stopped later, by the calculation. The label's minimum age (monograph patients.minimum_age:
    BESPONSA 1 year, MYLOTARG 1 month) refuses the course too, naming the day it can be opened."""
    with pytest.raises(CourseBlocked) as info:
        new_course("M5", False, date_of_birth=D("2026-06-20"), today=TODAY, monograph=BESPONSA)
    reason = info.value.reasons[0]
    assert "6 months old today" in reason and "under 1 year" in reason and "not overridden" in reason
    assert "opened from 2027-06-20" in reason
    assert new_course("M6", False, date_of_birth=D("2025-12-20"), today=TODAY, monograph=BESPONSA).date_of_birth  # 1 today
    with pytest.raises(CourseBlocked) as info:
        new_course("M7", False, date_of_birth=D("2026-12-01"), today=TODAY, monograph=MYLOTARG, regimen="fractionated")
    assert "under 1 month" in info.value.reasons[0] and "opened from 2027-01-01" in info.value.reasons[0]
    assert new_course("M8", False, date_of_birth=D("2026-11-20"), today=TODAY, monograph=MYLOTARG, regimen="fractionated")


def test_course_new_refuses_an_infant_with_exit_1_and_stores_nothing(tmp_path):
    from datetime import timedelta

    folder = make_users(str(tmp_path / "data"))
    infant = (date.today() - timedelta(days=183)).isoformat()
    done = course(folder, "new", "MRN001", "--hsct", "no", "--dob", infant)
    assert done.code == 1 and "under 1 year" in done.stderr and "Traceback" not in done.stderr
    assert done.json()["stored"] is False
    assert run_cli("course", "show", "MRN001", "--data-dir", folder, "--json").code != 0
