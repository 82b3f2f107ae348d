"""The course-start checklist (issue 16): what the label asks before a course, kept with it, gating the first dose."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from infusion_app.domain import checklist
from infusion_app.domain.course import CourseBlocked, new_course, order_from_course, record_blasts, record_dose, start_cycle
from infusion_app.domain.errors import ValidationError
from tests.cli_helpers import assert_clean_invalid, run_cli
from tests.lab_helpers import cli_normal_labs, record_normal_labs
from tests.test_cli_course import course, make_users
from tests.drugs import BESPONSA

AT = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
TODAY = AT.date()
FEMALE = {
    "sex": "female",
    "reproductive_potential": "yes",
    "pregnancy_test": "negative",
    "pregnancy_test_on": "2026-11-30",
    "contraception_counselled": "yes",
    "breastfeeding_counselled": "yes",
}


def _course(hsct=False):
    c = new_course("MRN1", hsct, monograph=BESPONSA)
    record_blasts(c, 100, TODAY, TODAY)
    start_cycle(c, TODAY, TODAY, monograph=BESPONSA)
    record_normal_labs(c, AT)
    return c


@pytest.mark.parametrize(
    "drop,field",
    [
        ("pregnancy_test", "pregnancy-test"),
        ("pregnancy_test_on", "pregnancy-test-on"),
        ("contraception_counselled", "contraception-counselled"),
        ("breastfeeding_counselled", "breastfeeding-counselled"),
        ("reproductive_potential", "reproductive-potential"),
        ("sex", "sex"),
    ],
)
def test_a_female_of_reproductive_potential_needs_every_answer(drop, field):
    answers = {k: v for k, v in FEMALE.items() if k != drop}
    with pytest.raises(ValidationError) as info:
        checklist.complete(_course(), answers, "ana", AT, TODAY, monograph=BESPONSA)
    assert info.value.field == field


def test_counselling_answered_no_or_a_future_test_date_is_refused():
    with pytest.raises(ValidationError, match="at least 8 months after the last dose") as info:
        checklist.complete(_course(), {**FEMALE, "contraception_counselled": "no"}, "ana", AT, TODAY, monograph=BESPONSA)
    assert info.value.field == "contraception-counselled"
    with pytest.raises(ValidationError, match="in the future"):
        checklist.complete(_course(), {**FEMALE, "pregnancy_test_on": "2026-12-02"}, "ana", AT, TODAY, monograph=BESPONSA)
    with pytest.raises(ValidationError, match="at least 5 months after the last dose"):
        checklist.complete(_course(), {"sex": "male", "reproductive_potential": "yes", "contraception_counselled": "no"}, "ana", AT, TODAY, monograph=BESPONSA)


def test_the_first_dose_waits_for_the_checklist_and_hsct_needs_its_precautions():
    c = _course(hsct=True)
    with pytest.raises(CourseBlocked, match="course-start checklist not completed"):
        order_from_course(c, TODAY, now=AT, monograph=BESPONSA)
    with pytest.raises(ValidationError) as info:
        checklist.complete(c, {"sex": "male", "reproductive_potential": "no"}, "ana", AT, TODAY, monograph=BESPONSA)
    assert info.value.field == "hsct-precautions"
    checklist.complete(c, {"sex": "male", "reproductive_potential": "no", "hsct_precautions": "yes"}, "ana", AT, TODAY, monograph=BESPONSA)
    assert order_from_course(c, TODAY, now=AT, monograph=BESPONSA).day == 1
    plain = _course(hsct=False)
    checklist.complete(plain, {"sex": "male", "reproductive_potential": "no"}, "ana", AT, TODAY, monograph=BESPONSA)
    plain.hsct_planned = True  # planned later: the precautions must be recorded before the first dose
    with pytest.raises(CourseBlocked, match="HSCT is now planned"):
        order_from_course(plain, TODAY, now=AT, monograph=BESPONSA)


def test_the_course_shows_the_dates_the_precautions_run_to_after_the_last_dose():
    c = _course()
    checklist.complete(c, FEMALE, "ana", AT, TODAY, monograph=BESPONSA)
    assert checklist.lines(c, monograph=BESPONSA)[2] == "contraception: 8 months after the last dose"
    record_dose(c, 1, 1, TODAY, TODAY, monograph=BESPONSA)
    shown = checklist.lines(c, monograph=BESPONSA)
    assert shown[1] == "pregnancy test negative on 2026-11-30"
    assert shown[2] == "contraception: until 2027-08-01 (8 months after the last dose, 2026-12-01)"
    assert shown[3] == "no breastfeeding: until 2027-02-01 (2 months after the last dose, 2026-12-01)"
    male = _course()
    checklist.complete(male, {"sex": "male", "reproductive_potential": "yes", "contraception_counselled": "yes"}, "ana", AT, TODAY, monograph=BESPONSA)
    record_dose(male, 1, 1, TODAY, TODAY, monograph=BESPONSA)
    assert checklist.lines(male, monograph=BESPONSA)[1].endswith("until 2027-05-01 (5 months after the last dose, 2026-12-01)")
    positive = _course()
    checklist.complete(positive, {**FEMALE, "pregnancy_test": "positive"}, "ana", AT, TODAY, monograph=BESPONSA)
    assert "POSITIVE: embryo-fetal toxicity" in checklist.lines(positive, monograph=BESPONSA)[1]


def test_months_run_to_the_last_day_of_a_shorter_month():
    assert checklist.add_months(date(2026, 6, 30), 8) == date(2027, 2, 28)
    assert checklist.add_months(date(2027, 12, 31), 2) == date(2028, 2, 29)


def test_the_monograph_gives_the_months_with_their_sources():
    m = BESPONSA
    assert [m.magnitude(f"course_start.{k}", "month") for k in ("contraception_female", "contraception_male", "no_breastfeeding")] == [8, 5, 2]
    assert "8.2 Lactation" in m.fact("course_start.no_breastfeeding").citation


def test_course_checklist_on_the_command_line(tmp_path):
    folder = make_users(str(tmp_path / "data"))
    today = date.today().isoformat()
    assert course(folder, "new", "MRN001", "--hsct", "no").code == 0
    assert course(folder, "blasts", "MRN001", "--count", "100", "--date", today).code == 0
    assert course(folder, "start", "MRN001", "--date", today).code == 0
    cli_normal_labs(course, folder, kinds=("cbc", "liver", "ecg", "electrolytes"))
    shown = run_cli("course", "show", "MRN001", "--data-dir", folder)
    assert "BLOCKED: course-start checklist not completed" in shown.stdout
    assert_clean_invalid(
        course(
            folder,
            "checklist",
            "MRN001",
            "--sex",
            "female",
            "--reproductive-potential",
            "yes",
            "--contraception-counselled",
            "yes",
            "--breastfeeding-counselled",
            "yes",
        ),
        "pregnancy-test",
    )
    nurse = course(folder, "checklist", "MRN001", "--sex", "male", "--reproductive-potential", "no", user="Nina Nurse", pin="135713")
    assert nurse.code == 1 and "pharmacist" in nurse.stderr
    done = course(
        folder,
        "checklist",
        "MRN001",
        "--sex",
        "female",
        "--reproductive-potential",
        "yes",
        "--pregnancy-test",
        "negative",
        "--pregnancy-test-date",
        today,
        "--contraception-counselled",
        "yes",
        "--breastfeeding-counselled",
        "yes",
    )
    assert done.code == 0, done.stderr
    assert done.json()["checklist"]["completed_by"] == "Pat Pharmacist"
    shown = run_cli("course", "show", "MRN001", "--data-dir", folder)
    assert "CHECKLIST: contraception: 8 months after the last dose" in shown.stdout and "checklist not completed" not in shown.stdout
    assert "Warnings and precautions: Myelosuppression; Infusion-related reactions; QT interval prolongation" in shown.stdout
    import json

    from infusion_app.service import open_service

    with open_service(data_dir=folder) as service:
        entry = [e for e in service.audit_entries() if e.action == "course.checklist_completed"][-1]
    assert entry.actor == "Pat Pharmacist" and json.loads(entry.after)["checklist"]["answers"]["pregnancy_test"] == "negative"
