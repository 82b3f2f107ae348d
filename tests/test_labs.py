"""Labs and checks before every dose (issue 16): what is missing blocks the dose, the values drive the advice."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from infusion_app.domain import labs
from infusion_app.domain.course import CourseBlocked, new_course, order_from_course, record_blasts, record_dose, start_cycle
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.limits import site_defaults
from infusion_app.domain.preparation import StepRefused
from infusion_app.service import open_service
from infusion_app.service.course import CourseService
from tests.cli_helpers import assert_clean_invalid, run_cli
from tests.course_helpers import course_services
from tests.lab_helpers import CHECKLIST, CLI, NORMAL, cli_checklist, cli_normal_labs, complete_checklist, record_normal_labs
from tests.test_cli_course import course, make_users
from tests.drugs import BESPONSA

NOON = datetime(2026, 12, 20, 12, 0, tzinfo=timezone.utc)
D = date.fromisoformat


def _started(first_day: date = D("2026-12-20")):
    c = new_course("MRN1", False, monograph=BESPONSA)
    record_blasts(c, 100, first_day, first_day)
    start_cycle(c, first_day, first_day, monograph=BESPONSA)
    return c


# -- what is needed before a dose -----------------------------------------------------------------


def test_the_first_dose_needs_a_cbc_liver_tests_and_a_baseline_ecg_and_electrolytes():
    c = _started()
    needed = labs.labs_needed(c, NOON, 1, 1, monograph=BESPONSA)
    assert [n.split(" (")[0].split(" taken")[0] for n in needed] == ["CBC", "liver tests", "baseline ECG", "baseline electrolytes"]
    with pytest.raises(CourseBlocked, match="labs needed: CBC"):
        order_from_course(c, NOON.date(), now=NOON, monograph=BESPONSA)
    record_normal_labs(c, NOON - timedelta(hours=1))
    assert labs.labs_needed(c, NOON, 1, 1, monograph=BESPONSA) == []
    complete_checklist(c, NOON)
    assert order_from_course(c, NOON.date(), now=NOON, monograph=BESPONSA).day == 1


def test_a_result_older_than_the_site_window_does_not_count():
    c = _started()
    record_normal_labs(c, NOON - timedelta(hours=71))
    assert labs.labs_needed(c, NOON, 1, 1, monograph=BESPONSA) == []
    later = NOON + timedelta(hours=2)  # now 73 hours old; the baseline ECG and electrolytes keep
    assert labs.labs_needed(c, later, 1, 1, monograph=BESPONSA) == [
        "CBC (ANC, platelets) taken within 72 h",
        "liver tests (total bilirubin, AST/ALT) taken within 72 h",
    ]
    import dataclasses

    wider = dataclasses.replace(site_defaults(), lab_max_age_hours=96)
    assert labs.labs_needed(c, later, 1, 1, wider, monograph=BESPONSA) == []


def test_a_platelet_count_that_is_not_transfusion_independent_does_not_clear_the_dose():
    c = _started()
    record_normal_labs(c, NOON, kinds=("liver", "ecg", "electrolytes"))
    values = labs.cbc_values("2", "150", "no")
    labs.record_lab(c, "cbc", values, NOON, NOON, "ana")
    [needed] = labs.labs_needed(c, NOON, 1, 1, monograph=BESPONSA)
    assert needed.startswith("CBC") and "not transfusion-independent" in needed


def test_after_the_first_dose_the_vod_signs_are_asked_and_liver_tests_after_the_dose_are_flagged():
    c = _started(D("2026-12-13"))
    record_normal_labs(c, datetime(2026, 12, 13, 8, tzinfo=timezone.utc))
    record_dose(c, 1, 1, D("2026-12-13"), D("2026-12-20"), monograph=BESPONSA)
    assert labs.liver_after_due(c) == ["liver tests after cycle 1 Day 1 (given 2026-12-13) are not recorded yet"]
    record_normal_labs(c, NOON - timedelta(hours=3), kinds=("cbc", "liver"))
    assert labs.liver_after_due(c) == []
    [needed] = labs.labs_needed(c, NOON, 1, 8, monograph=BESPONSA)
    assert needed.startswith("VOD/SOS signs") and "after the last dose (2026-12-13)" in needed
    record_normal_labs(c, NOON - timedelta(hours=1), kinds=("vod-signs",))
    assert labs.labs_needed(c, NOON, 1, 8, monograph=BESPONSA) == []


def test_ecg_and_electrolytes_are_asked_again_when_the_site_sets_a_period():
    import dataclasses

    c = _started(D("2026-11-13"))
    record_normal_labs(c, datetime(2026, 11, 13, 8, tzinfo=timezone.utc))
    record_dose(c, 1, 1, D("2026-11-13"), D("2026-12-20"), monograph=BESPONSA)
    record_normal_labs(c, NOON - timedelta(hours=2), kinds=("cbc", "liver", "vod-signs"))
    assert labs.labs_needed(c, NOON, 1, 8, monograph=BESPONSA) == []  # default: at baseline only
    monthly = dataclasses.replace(site_defaults(), ecg_every_days=30)
    assert labs.labs_needed(c, NOON, 1, 8, monthly, monograph=BESPONSA) == [
        "ECG (QTc) repeated every 30 days (site policy)",
        "electrolytes (potassium, magnesium) repeated every 30 days (site policy)",
    ]
    record_normal_labs(c, NOON, kinds=("ecg", "electrolytes"))
    assert labs.labs_needed(c, NOON, 1, 8, monthly, monograph=BESPONSA) == []


# -- values ------------------------------------------------------------------------------------------


def test_liver_tests_as_values_with_the_labs_uln():
    values = labs.liver_values(bilirubin="34 umol/L", bilirubin_uln="21 umol/L", ast="50 U/L", ast_uln="40 U/L", alt="135 U/L", alt_uln="45 U/L")
    assert round(values["bilirubin_x_uln"], 2) == 1.62 and values["ast_alt_x_uln"] == pytest.approx(3.0)
    assert labs.liver_values(bilirubin="1.5 mg/dL", bilirubin_uln="1.2 mg/dL", ast_alt_x_uln="1")["bilirubin_x_uln"] == pytest.approx(1.25)
    with pytest.raises(ValidationError) as info:
        labs.liver_values(bilirubin="34 umol/L", bilirubin_uln="40 U/L", ast_alt_x_uln="1")
    assert info.value.field == "bilirubin" and "same unit" in info.value.message
    with pytest.raises(ValidationError) as info:
        labs.liver_values(bilirubin="34 umol/L", ast_alt_x_uln="1")
    assert info.value.field == "bilirubin-uln"
    with pytest.raises(ValidationError) as info:
        labs.liver_values(bilirubin_x_uln="1")
    assert info.value.field == "ast-alt-x-uln"


def test_the_lowest_electrolytes_a_living_patient_has_are_accepted_and_the_message_names_the_floor():
    # The floors (validation.toml [electrolytes.*].lowest) are below the lowest values reported in
    # survived hypokalaemia (about 1 mmol/L) and hypomagnesaemia (about 0.1 mmol/L).
    assert labs.electrolyte_values("1.0", "0.1") == {"potassium": 1.0, "magnesium": 0.1}
    assert labs.electrolyte_values("0.5", "0.05 mmol/L") == {"potassium": 0.5, "magnesium": 0.05}
    with pytest.raises(ValidationError) as info:
        labs.electrolyte_values("0", "0.85")
    assert info.value.field == "potassium" and "must be 0.5 to 20 mmol/L, e.g. 4.1" in info.value.message
    with pytest.raises(ValidationError) as info:
        labs.electrolyte_values("4.1", "0")
    assert info.value.field == "magnesium" and "must be 0.05 to 20 mmol/L, e.g. 0.85" in info.value.message


def _with_stored_zero_potassium(course, at):
    """Normal results at `at`, but the electrolytes as 1da08df's floors refuse and the code before it stored."""
    record_normal_labs(course, at, kinds=("cbc", "liver", "ecg", "vod-signs"))
    labs.record_lab(course, "electrolytes", {"potassium": 0.0, "magnesium": 0.85}, at, at, "test")


def test_a_stored_potassium_of_0_is_shown_but_counts_for_nothing_and_is_not_copied():
    """Review of 1da08df: a K of 0 stored before the floor still counted as the baseline electrolytes,
    and copied into another drug's order verification it refused the whole verification."""
    noon = datetime(2026, 12, 20, 12, 0, tzinfo=timezone.utc)
    c = new_course("MRN1", False, monograph=BESPONSA)
    record_blasts(c, 100, noon.date(), noon.date())
    start_cycle(c, noon.date(), noon.date(), monograph=BESPONSA)
    _with_stored_zero_potassium(c, noon - timedelta(hours=1))
    stored = labs.latest(c, "electrolytes", noon)
    assert labs.stored_result_doubt(stored) == "the stored potassium 0 mmol/L is below the 0.5 accepted: not a patient's value; record it again"
    needed = labs.labs_needed(c, noon, 1, 1, monograph=BESPONSA)
    assert [n for n in needed if "electrolytes" in n] == [f"baseline {labs.LAB_TITLES['electrolytes']} ({labs.stored_result_doubt(stored)})"]
    assert set(labs.recorded_verification_labs(c, noon)) == {"cbc", "liver", "ecg", "vod-signs"}


def test_a_stored_potassium_of_0_in_another_drugs_course_does_not_block_an_order_verification(tmp_path, database_templates, monkeypatch):
    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import EventType, Patient, Role
    from tests.drugs import MYLOTARG

    with course_services(tmp_path, database_templates) as (service, courses, clock):
        courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
        for kind in ("cbc", "liver"):
            courses.record_lab("MRN001", kind, NORMAL[kind], clock.now() - timedelta(hours=5), "Nina Nurse")
        with monkeypatch.context() as before_the_floor:  # stored as the code before 1da08df stored it
            before_the_floor.setattr(labs, "electrolyte_values", lambda potassium, magnesium: {"potassium": 0.0, "magnesium": 0.85})
            courses.record_lab("MRN001", "electrolytes", {"potassium": "0", "magnesium": "0.85"}, clock.now() - timedelta(days=20), "Nina Nurse")
        made = service.create_preparation(
            Patient("Doe, Jane", "MRN001", date(1970, 1, 1)),
            DoseOrder("170 cm", "70 kg", 1, 1),
            service.user("Tom Tech"),
            monograph=MYLOTARG.with_regimen("fractionated"),
        )
        verifier = service.add_user("Vic Verify", Role.PHARMACIST, "864208", actor=service.user("Pat Pharmacist"))
        status = service.record_event(made.id, EventType.ORDER_VERIFIED, verifier)
        assert set(status.prep.last(EventType.ORDER_VERIFIED).details["labs"]) == {"cbc", "liver"}


@pytest.mark.parametrize(
    "kind,given,field",
    [
        ("cbc", {"anc": "1.5", "platelets": "120"}, "transfusion-independent"),
        ("cbc", {"anc": "1500", "platelets": "120", "transfusion_independent": "yes"}, "anc"),
        ("ecg", {"qtc_ms": "43"}, "qtc"),
        ("electrolytes", {"potassium": "41", "magnesium": "0.8"}, "potassium"),
        # none of these is a value of a living patient: an empty field typed as 0, or a typo
        ("electrolytes", {"potassium": "0", "magnesium": "0.8"}, "potassium"),
        ("electrolytes", {"potassium": "0 mmol/L", "magnesium": "0.8"}, "potassium"),
        ("electrolytes", {"potassium": "0.4", "magnesium": "0.8"}, "potassium"),
        ("electrolytes", {"potassium": "-4.1", "magnesium": "0.8"}, "potassium"),
        ("electrolytes", {"potassium": "4.1", "magnesium": "0"}, "magnesium"),
        ("electrolytes", {"potassium": "4.1", "magnesium": "0 mg/dL"}, "magnesium"),
        ("electrolytes", {"potassium": "4.1", "magnesium": "0.1 mg/dL"}, "magnesium"),
        ("electrolytes", {"potassium": "4.1", "magnesium": "0 mEq/L"}, "magnesium"),
        ("vod-signs", {"weight_gain": "maybe", "hepatomegaly": "no", "ascites": "no", "bilirubin_rising": "no"}, "weight-gain"),
    ],
)
def test_implausible_or_missing_values_are_refused_naming_the_field(kind, given, field):
    with pytest.raises(ValidationError) as info:
        labs.lab_values(kind, **given)
    assert info.value.field == field


# -- the service: advice from the values, override, audit --------------------------------------------


@pytest.fixture
def services(tmp_path, database_templates):
    # A copy of the session's migrated database with the course tests' users (the clock: NOON).
    with course_services(tmp_path, database_templates) as (service, courses, clock):
        assert clock.now() == NOON
        courses.new_course("MRN001", False, "Pat Pharmacist", monograph=BESPONSA)
        courses.record_blasts("MRN001", 100, "2026-12-20", "Nina Nurse")
        courses.start_cycle("MRN001", "2026-12-20", "Pat Pharmacist")
        courses.complete_checklist("MRN001", CHECKLIST, "Pat Pharmacist")
        yield service, courses, clock


def _lab(courses, kind, user="Nina Nurse", **changes):
    return courses.record_lab("MRN001", kind, {**NORMAL[kind], **changes}, None, user)


def test_liver_values_hold_the_dose_at_once_and_recovery_values_lift_the_hold(services):
    _service, courses, clock = services
    for kind in ("cbc", "ecg", "electrolytes"):
        _lab(courses, kind)
    held = _lab(courses, "liver", bilirubin_x_uln=2, ast_alt_x_uln=3)
    assert [a.code for a in held.advice] == ["liver-hold"] and held.records[0].id is not None
    status = courses.status("MRN001")
    assert any("liver-hold" in b for b in status.next_dose.blocked_by) and status.labs_needed == ()
    clock.advance(hours=24)
    recovered = _lab(courses, "liver", bilirubin_x_uln=1.2, ast_alt_x_uln=1)
    assert [a.code for a in recovered.advice] == ["liver-ok"]
    assert courses.status("MRN001").next_dose.blocked_by == ()


def test_a_second_recovery_lifts_a_hold_raised_after_the_first(services):
    # The first normal result is stored as 'liver-ok'; a later identical one must be stored too, or
    # it is taken for a duplicate of the first and the hold raised between them never lifts.
    _service, courses, clock = services
    for kind in ("cbc", "ecg", "electrolytes", "liver"):
        _lab(courses, kind)
    _lab(courses, "liver", bilirubin_x_uln=3, ast_alt_x_uln=1)
    assert courses.status("MRN001").next_dose.blocked_by
    clock.advance(hours=1)
    _lab(courses, "liver")
    assert courses.status("MRN001").next_dose.blocked_by == ()


def test_counts_before_the_next_cycle_hold_it_against_the_baseline_and_recovery_starts_it(services):
    service, courses, clock = services
    for kind in ("cbc", "liver", "ecg", "electrolytes"):
        _lab(courses, kind)  # baseline ANC 2, platelets 150: adequate
    courses.record_dose("MRN001", 1, 1, "2026-12-20", "Nina Nurse")
    for day in (8, 15):
        clock.set(NOON + timedelta(days=day - 1))
        within = _lab(courses, "cbc", anc=0.4)  # within a cycle low counts hold nothing
        assert [a.code for a in within.advice] == ["hematologic-within-cycle"] and within.records == []
        for kind in ("cbc", "liver", "vod-signs"):
            _lab(courses, kind)
        courses.record_dose("MRN001", 1, day, (NOON + timedelta(days=day - 1)).date(), "Nina Nurse")
    clock.set(NOON + timedelta(days=21))
    courses.record_response("MRN001", clock.now().date(), "cr", None, "Pat Pharmacist")
    low = _lab(courses, "cbc", anc=0.5)
    assert [a.code for a in low.advice] == ["hematologic-hold-next-cycle"] and low.records
    with pytest.raises(CourseBlocked, match="hematologic-hold-next-cycle"):
        courses.start_cycle("MRN001", clock.now().date(), "Pat Pharmacist")
    clock.advance(days=3)
    ok = _lab(courses, "cbc", anc=1.2)
    assert [a.code for a in ok.advice] == ["hematologic-ok"]
    courses.start_cycle("MRN001", clock.now().date(), "Pat Pharmacist")
    actions = [e.action for e in service.audit_entries() if e.action == "course.lab_recorded"]
    assert len(actions) == 14
    assert service.verify_audit().intact


def test_a_vod_sign_goes_to_the_vod_rule_at_once(services):
    _service, courses, _clock = services
    done = _lab(courses, "vod-signs", ascites=True)
    assert [a.code for a in done.advice] == ["vod-sos-discontinue"] and "ascites" in done.advice[0].message
    blocked = courses.status("MRN001").next_dose.blocked_by
    assert any("to discontinue permanently (vod-sos-discontinue" in b for b in blocked)


def test_only_a_pharmacist_overrides_missing_labs_with_a_reason_kept_and_audited(services):
    service, courses, _clock = services
    with pytest.raises(StepRefused):
        courses.override_labs("MRN001", "lab system down, results by phone", "Nina Nurse")
    with pytest.raises(ValidationError) as info:
        courses.override_labs("MRN001", "down", "Pat Pharmacist")
    assert info.value.field == "reason"
    status = courses.override_labs("MRN001", "lab system down, results by phone", "Pat Pharmacist")
    assert status.labs_needed == () and status.next_dose.blocked_by == ()
    [override] = status.course.lab_overrides
    assert (override.cycle, override.day, override.pharmacist) == (1, 1, "Pat Pharmacist")
    assert override.missing[0].startswith("CBC")
    entry = [e for e in service.audit_entries() if e.action == "course.labs_overridden"][-1]
    assert entry.actor == "Pat Pharmacist"
    with pytest.raises(ValidationError, match="nothing to override"):
        courses.override_labs("MRN001", "again, for the same dose", "Pat Pharmacist")


def test_labs_survive_reopening(services, tmp_path):
    service, courses, clock = services
    _lab(courses, "liver", bilirubin_x_uln=1.1)
    service.close()
    again = open_service(data_dir=tmp_path, clock=clock)
    try:
        [result] = CourseService(again).status("MRN001").course.labs
        assert (result.kind, result.values["bilirubin_x_uln"], result.taken_at, result.id) == ("liver", 1.1, NOON, 1)
    finally:
        again.close()


# -- the command line ------------------------------------------------------------------------------

PIN = {"INFUSION_PREP_PIN": "246824"}


def _prep_new(folder):
    return run_cli(
        "prep",
        "new",
        "--patient-name",
        "Doe, Jane",
        "--mrn",
        "MRN001",
        "--dob",
        "1970-05-17",
        "--height",
        "170 cm",
        "--weight",
        "70 kg",
        "--user",
        "Pat Pharmacist",
        "--data-dir",
        folder,
        env=PIN,
    )


@pytest.fixture
def folder(tmp_path):
    folder = make_users(str(tmp_path / "data"))
    today = date.today().isoformat()
    assert course(folder, "new", "MRN001", "--hsct", "no").code == 0
    assert course(folder, "blasts", "MRN001", "--count", "5000", "--date", today).code == 0
    assert course(folder, "start", "MRN001", "--date", today).code == 0
    cli_checklist(course, folder)
    return folder


def test_prep_new_is_refused_until_the_labs_are_recorded(folder):
    refused = _prep_new(folder)
    assert refused.code == 1 and "labs needed: CBC (ANC, platelets) taken within 72 h" in refused.stderr
    assert "baseline ECG (QTc)" in refused.stderr
    cli_normal_labs(course, folder, kinds=("cbc", "liver", "ecg"))
    still = _prep_new(folder)
    assert still.code == 1 and "labs needed: baseline electrolytes" in still.stderr and "CBC" not in still.stderr
    cli_normal_labs(course, folder, kinds=("electrolytes",))
    done = _prep_new(folder)
    assert done.code == 0, done.stderr


def test_course_lab_override_lets_the_dose_be_prepared(folder):
    nurse = course(folder, "lab-override", "MRN001", "--reason", "results phoned through by the lab", user="Nina Nurse", pin="135713")
    assert nurse.code == 1 and "pharmacist" in nurse.stderr
    done = course(folder, "lab-override", "MRN001", "--reason", "results phoned through by the lab")
    assert done.code == 0, done.stderr
    assert done.json()["lab_overrides"][0]["missing"][0].startswith("CBC")
    made = _prep_new(folder)
    assert made.code == 0, made.stderr
    shown = run_cli("course", "show", "MRN001", "--data-dir", folder)
    assert "LABS OVERRIDDEN for cycle 1 Day 1 by Pat Pharmacist: results phoned through by the lab" in shown.stdout


def test_course_lab_liver_values_with_their_uln_hold_with_exit_1(folder):
    done = course(
        folder, "lab", "MRN001", "--kind", "liver", "--bilirubin", "40 umol/L", "--bilirubin-uln", "20 umol/L", "--ast", "120 U/L", "--ast-uln", "40 U/L"
    )
    assert done.code == 1 and "liver-hold" in done.stderr
    data = done.json()
    assert data["lab"]["values"]["bilirubin_x_uln"] == 2 and data["lab"]["values"]["ast_alt_x_uln"] == 3
    assert data["advice"][0]["id"] == 1


@pytest.mark.parametrize(
    "args,field",
    [
        (("--kind", "cbc", "--anc", "1.5", "--platelets", "120"), "transfusion-independent"),
        (("--kind", "cbc", *CLI["cbc"], "--qtc", "420"), "--qtc"),
        (("--kind", "ecg", "--qtc", "4200"), "qtc"),
        (("--kind", "liver", "--bilirubin", "34 umol/L", "--ast-alt-x-uln", "1"), "bilirubin-uln"),
        (("--kind", "ecg", "--qtc", "420", "--taken", "2026-12-01 09:00"), "--taken"),
    ],
)
def test_course_lab_bad_input_is_one_line_naming_the_option(folder, args, field):
    assert_clean_invalid(course(folder, "lab", "MRN001", *args), field)


def test_a_missing_count_or_a_future_time_is_named(folder):
    assert_clean_invalid(course(folder, "lab", "MRN001", "--kind", "cbc", "--platelets", "100", "--transfusion-independent", "yes"), "anc")
    future = course(folder, "lab", "MRN001", "--kind", "ecg", "--qtc", "430", "--taken", "2099-01-01T09:00Z")
    assert_clean_invalid(future, "taken")
    assert "is in the future" in future.stderr and "T09:00:00" not in future.stderr


def test_an_override_waives_only_what_it_named_and_only_for_the_lab_window():
    """Hostile review M7: an override for a missing ECG waived every lab of that dose, for ever."""
    c = _started()
    record_normal_labs(c, NOON - timedelta(hours=1))
    ecg = [r for r in c.labs if r.kind == "ecg"]
    for result in ecg:
        c.labs.remove(result)
    assert labs.labs_needed(c, NOON, 1, 1, monograph=BESPONSA) == ["baseline ECG (QTc)"]
    c.lab_overrides.append(labs.LabOverride(1, 1, "Pat Pharmacist", "ECG machine broken, cardiology aware", NOON, ("baseline ECG (QTc)",)))
    assert labs.labs_needed(c, NOON, 1, 1, monograph=BESPONSA) == []
    days_later = NOON + timedelta(hours=80)  # the CBC and liver tests went stale meanwhile
    assert labs.labs_needed(c, days_later, 1, 1, monograph=BESPONSA) == [
        "CBC (ANC, platelets) taken within 72 h",
        "liver tests (total bilirubin, AST/ALT) taken within 72 h",
        "baseline ECG (QTc)",
    ]


# -- low counts lasting longer than the label's days, found in the lab history ---------------------


def _low_history(days_low, recovered_on=None):
    """A course given Day 1 on 2026-12-20 (normal baseline), then a CBC with ANC 0.4 every few days."""
    c = _started()
    record_normal_labs(c, NOON - timedelta(hours=2))
    complete_checklist(c, NOON)
    record_dose(c, 1, 1, D("2026-12-20"), D("2026-12-20"), monograph=BESPONSA)
    results = []
    for day in days_low:
        at = NOON + timedelta(days=day)
        values = NORMAL["cbc"] if day == recovered_on else {**NORMAL["cbc"], "anc": 0.4}
        result = labs.record_lab(c, "cbc", labs.lab_values("cbc", **values), at, at, "test")
        results.append(labs.lab_advice(c, result, (1, 8), BESPONSA))
    return c, results


def test_low_counts_lasting_more_than_28_days_in_the_stored_labs_advise_discontinuation():
    """Review: the label's '>28 days of low counts' was only a number typed by the user; the engine
    now finds the run in the course's CBCs, from the first low count after the first dose."""
    c, results = _low_history([2, 9, 16, 23, 30, 31])
    codes = [[a.code for a in advice] for advice in results]
    assert all("hematologic-discontinue" not in found for found in codes[:5])  # 2 -> 30: 28 days, not more
    [stop] = [a for a in results[5] if a.code == "hematologic-discontinue"]
    assert stop.permanent and "low counts for 29 days since 2026-12-22" in stop.message and "more than 28" in stop.message
    assert stop.sources[0].path == "dose_modification.hematologic.discontinue_if_low_counts_longer_than"
    at = NOON + timedelta(days=31)
    assert labs.low_counts_days(c, at, BESPONSA) == 29


def test_a_recovered_count_ends_the_run_and_a_transfused_platelet_count_is_a_low_one():
    _c, results = _low_history([2, 9, 16, 20, 23, 30, 40], recovered_on=20)
    assert not any(a.code == "hematologic-discontinue" for advice in results for a in advice)  # 23 -> 40: 17 days
    c = _started()
    record_normal_labs(c, NOON - timedelta(hours=2))
    record_dose(c, 1, 1, D("2026-12-20"), D("2026-12-20"), monograph=BESPONSA)
    for day in (1, 15, 30):
        at = NOON + timedelta(days=day)
        labs.record_lab(c, "cbc", labs.lab_values("cbc", anc=2, platelets=60, transfusion_independent=False), at, at, "test")
    assert labs.low_counts_days(c, NOON + timedelta(days=30), BESPONSA) == 29


def test_the_run_of_low_counts_is_shown_on_the_checks_before_the_next_dose():
    from infusion_app.domain.course import course_status

    c, _results = _low_history([2, 9])
    status = course_status(c, D("2026-12-29"), BESPONSA, now=NOON + timedelta(days=9))
    assert any("low counts since 2026-12-22 (7 days; the label discontinues after 28 days if they are drug-related)" in f for f in status.next_dose.flags)


# -- a dose recorded as given is checked as prep new checks it (issue 16 review) -----------------------


def test_a_dose_recorded_as_given_without_its_labs_is_refused_unless_recorded_as_a_deviation(services):
    from infusion_app.domain.preparation import Override

    _service, courses, _clock = services
    with pytest.raises(CourseBlocked, match="labs needed: CBC"):
        courses.record_dose("MRN001", 1, 1, NOON.date(), "Nina Nurse")
    assert courses.course("MRN001").doses == []
    # It was given: a pharmacist records it with the reason, kept with the dose.
    courses.record_dose("MRN001", 1, 1, NOON.date(), "Nina Nurse", override=Override("Pat Pharmacist", "given on the ward before the labs were entered", ""))
    [dose] = courses.course("MRN001").doses
    assert dose.override_reason == "given on the ward before the labs were entered (override by Pat Pharmacist)"


def test_a_dose_recorded_as_given_is_held_by_the_values_of_its_labs(services):
    _service, courses, clock = services
    for kind in ("cbc", "liver", "ecg", "electrolytes"):
        _lab(courses, kind)
    courses.record_dose("MRN001", 1, 1, NOON.date(), "Nina Nurse")
    clock.set(NOON + timedelta(days=7))
    for kind in ("cbc", "vod-signs"):
        _lab(courses, kind)
    _lab(courses, "liver", bilirubin_x_uln=2, ast_alt_x_uln=3)  # the liver hold
    with pytest.raises(CourseBlocked, match="liver-hold"):
        courses.record_dose("MRN001", 1, 8, clock.now().date(), "Nina Nurse")
    clock.advance(hours=2)
    _lab(courses, "liver")
    courses.record_dose("MRN001", 1, 8, clock.now().date(), "Nina Nurse")


def test_course_given_checks_the_labs_with_exit_1_and_records_a_pharmacists_deviation(folder):
    today = date.today().isoformat()
    blocked = course(folder, "given", "MRN001", "--cycle", "1", "--day", "1", "--date", today, user="Nina Nurse", pin="135713")
    assert blocked.code == 1 and "labs needed: CBC (ANC, platelets) taken within 72 h" in blocked.stderr
    assert blocked.json()["stored"] is False
    done = run_cli(
        "course",
        "given",
        "MRN001",
        "--cycle",
        "1",
        "--day",
        "1",
        "--date",
        today,
        "--override-by",
        "Pat Pharmacist",
        "--override-reason",
        "given in clinic, labs on paper",
        "--user",
        "Nina Nurse",
        "--data-dir",
        folder,
        "--json",
        env={"INFUSION_PREP_PIN": "135713", "INFUSION_PREP_OVERRIDE_PIN": "246824"},
    )
    assert done.code == 0, done.stderr
    assert show_dose(folder)["override_reason"] == "given in clinic, labs on paper (override by Pat Pharmacist)"


def show_dose(folder):
    done = run_cli("course", "show", "MRN001", "--data-dir", folder, "--json")
    return done.json()["doses_given"][0]


# -- QTc and electrolytes drive a warning or a hold (label 5.5; thresholds from the monograph) -----------


def test_a_qtc_above_the_hold_threshold_holds_the_dose_until_a_repeat_ecg_is_below_it(services):
    _service, courses, clock = services
    for kind in ("cbc", "liver", "electrolytes"):
        _lab(courses, kind)
    held = _lab(courses, "ecg", qtc_ms=512)
    assert [a.code for a in held.advice] == ["qtc-hold"] and held.records
    assert "QTc 512 ms is above 500 ms" in held.advice[0].message
    assert {s.path for s in held.advice[0].sources} >= {"monitoring.qt.qtc_hold_above"} and held.advice[0].pending_verification
    status = courses.status("MRN001")
    assert any("qtc-hold" in b for b in status.next_dose.blocked_by)
    assert any(f.startswith("QT (QTc 512 ms") and "pending pharmacist review" in f for f in status.next_dose.flags)
    clock.advance(hours=3)
    repeat = _lab(courses, "ecg", qtc_ms=486)
    assert [a.code for a in repeat.advice] == ["qtc-warning", "qtc-ok"]
    status = courses.status("MRN001")
    assert status.next_dose.blocked_by == ()
    assert any("QTc 486 ms is above 480 ms: Use with caution" in f for f in status.next_dose.flags)


def test_a_qtc_risen_more_than_60_ms_from_baseline_holds_and_low_electrolytes_warn():
    c = _started()
    record_normal_labs(c, NOON - timedelta(hours=2))  # baseline QTc 420 ms
    complete_checklist(c, NOON)
    record_dose(c, 1, 1, D("2026-12-20"), D("2026-12-20"), monograph=BESPONSA)
    at = NOON + timedelta(days=6)
    risen = labs.record_lab(c, "ecg", labs.lab_values("ecg", qtc_ms=482), at, at, "test")
    [hold] = [a for a in labs.lab_advice(c, risen, (1, 8), BESPONSA) if a.code == "qtc-hold"]
    assert "QTc rose 62 ms from the baseline 420 ms (more than 60 ms)" in hold.message
    low = labs.record_lab(c, "electrolytes", labs.lab_values("electrolytes", potassium=3.1, magnesium=0.9), at, at, "test")
    [warning] = labs.lab_advice(c, low, (1, 8), BESPONSA)
    assert warning.code == "electrolytes-low" and "potassium 3.1 mmol/L is below 3.5 mmol/L" in warning.message
    assert not warning.blocks_dosing
    shown = labs.qt_warnings(c, at, BESPONSA)
    assert any("potassium 3.1 mmol/L is below 3.5 mmol/L" in line for line in shown)


def test_the_qt_thresholds_are_monograph_data_with_their_source_and_verify_marks():
    for name in ("qtc_warn_above", "qtc_hold_above", "qtc_increase_hold_above", "potassium_min", "magnesium_min"):
        fact = BESPONSA.fact(f"monitoring.qt.{name}")
        assert fact.verify and "5.5" in fact.citation, name


# -- which labs: monograph data; the baseline ECG for children too; a preparation with no course ---------


def test_the_labs_a_dose_needs_are_the_monographs_and_a_child_needs_the_baseline_ecg_too():
    """Review: the labs were a list in the code; the label (5.5, 8.4) names no age limit on the
    baseline ECG and electrolytes, so a 3-year-old's first dose needs them as an adult's does."""
    from infusion_app.domain.course import new_course as open_course
    from tests.drugs import MYLOTARG

    assert labs.monitored_labs(BESPONSA) == (("cbc", "liver"), ("ecg", "electrolytes"))
    assert labs.monitored_labs(BESPONSA, 3) == (("cbc", "liver"), ("ecg", "electrolytes"))
    assert BESPONSA.fact("monitoring.baseline").citation.startswith("BESPONSA US prescribing information")
    child = open_course("MRN3", False, date_of_birth=D("2023-06-01"), today=NOON.date(), monograph=BESPONSA)
    record_blasts(child, 100, NOON.date(), NOON.date())
    start_cycle(child, NOON.date(), NOON.date(), monograph=BESPONSA)
    record_normal_labs(child, NOON - timedelta(hours=1), kinds=("cbc", "liver"))
    assert labs.labs_needed(child, NOON, 1, 1, monograph=BESPONSA) == ["baseline ECG (QTc)", "baseline electrolytes (potassium, magnesium)"]
    # MYLOTARG's monograph asks for no baseline ECG: the same course's labs are judged by its data.
    assert labs.monitored_labs(MYLOTARG) == (("cbc", "liver"), ())
    assert labs.labs_needed(child, NOON, 1, 1, monograph=MYLOTARG) == []


def test_a_preparation_with_no_course_names_the_labs_the_verifying_pharmacist_checks(tmp_path):
    """Review: no lab check at all when there was no course; the preparation now carries them, on the
    sheet and at order entry, for the pharmacist verifying the order (no course holds the results)."""
    folder = make_users(str(tmp_path / "data"))
    made = run_cli(
        "prep",
        "new",
        "--patient-name",
        "Doe, Jane",
        "--mrn",
        "MRN404",
        "--dob",
        "1970-05-17",
        "--height",
        "170 cm",
        "--weight",
        "70 kg",
        "--cycle",
        "1",
        "--day",
        "1",
        "--user",
        "Pat Pharmacist",
        "--data-dir",
        folder,
        env=PIN,
    )
    assert made.code == 0, made.stderr
    assert (
        "flag: labs needed at order verification (no course on file): the pharmacist verifying the order records "
        "CBC (ANC, platelets) taken within 72 h; liver tests (total bilirubin, AST/ALT) taken within 72 h; "
        "baseline ECG (QTc) before the first dose"
    ) in made.stderr
    shown = run_cli("prep", "show", made.stdout.strip(), "--data-dir", folder, "--json")
    assert "the pharmacist verifying the order records CBC" in shown.stdout


def test_a_stored_anc_of_500_is_not_a_recovery_it_ends_no_run_of_low_counts_and_drives_no_advice():
    """A CBC stored before 176a086 with ANC 500 (per µL, 0.5 × 10⁹/L; the old bound of 1,000 let it in) is
    read back as stored, but, like a stored fractional blast count (6019b5f), it clears nothing."""
    c, _results = _low_history([2, 9, 16])
    for day in (20, 31):  # stored by the old code: record_lab takes the values as stored
        at = NOON + timedelta(days=day)
        result = labs.record_lab(c, "cbc", {**NORMAL["cbc"], "anc": 500.0}, at, at, "old code")
        advice = labs.lab_advice(c, result, (2, 1), BESPONSA)
        assert not any(a.code in ("hematologic-ok", "hematologic-within-cycle") for a in advice), advice
    # the run from day 2 is not ended by the ANC 500 of day 20: 29 days, the label's discontinuation
    assert labs.low_counts_days(c, NOON + timedelta(days=31), BESPONSA) == 29
    assert [a.code for a in advice if a.code == "hematologic-discontinue"] == ["hematologic-discontinue"]
    assert labs.recorded_verification_labs(c, NOON + timedelta(days=31)).get("cbc") is None
    # as a baseline it cannot tell a drop from the patient's own counts either
    c = _started()
    labs.record_lab(c, "cbc", {**NORMAL["cbc"], "anc": 500.0}, NOON - timedelta(hours=2), NOON, "old code")
    record_dose(c, 1, 1, D("2026-12-20"), D("2026-12-20"), monograph=BESPONSA)
    at = NOON + timedelta(days=21)
    later = labs.record_lab(c, "cbc", labs.lab_values("cbc", **NORMAL["cbc"]), at, at, "test")
    assert not any(a.code == "hematologic-ok" for a in labs.lab_advice(c, later, (2, 1), BESPONSA))
