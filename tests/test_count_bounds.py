"""Each blood count has its own accepted range (resources/validation.toml [counts]): a count typed per µL
in a 10⁹/L field is refused, naming the count and its conversion, wherever counts enter.

One bound of 1,000 × 10⁹/L for every count let an ANC of 500 (per µL: 0.5 × 10⁹/L) pass as 500 × 10⁹/L,
above the label's 1 × 10⁹/L, so a neutropenic patient read as recovered and the next cycle went ahead."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from infusion_app.domain import dose_modification as dm
from infusion_app.domain import labs
from infusion_app.domain.errors import ValidationError
from infusion_app.domain.limits import count_limits
from infusion_app.domain.resources import load_toml
from tests.drugs import BESPONSA
from tests.cli_helpers import run_cli
from tests.test_cli_course import course, show

GOOD = dm.Counts.of(2.0, 150, "baseline-")


def test_each_count_has_its_own_bound_from_the_data_file_with_its_source_awaiting_verification():
    raw = load_toml("validation.toml")["counts"]
    limits = count_limits()
    assert (limits["anc"].low, limits["anc"].high) == (raw["anc"]["accepted"]["min"], raw["anc"]["accepted"]["max"]) == (0, 100)
    assert (limits["platelets"].low, limits["platelets"].high) == (0, 2000)
    for limit in limits.values():
        assert limit.source.startswith("program design") and limit.verify


@pytest.mark.parametrize(
    "anc, platelets, field, words",
    [
        ("500", "150", "anc", "ANC 500 looks like a count per µL, and 500 per µL is 0.5 × 10⁹/L (type 0.5, or 500/µL)"),
        ("2", "50000", "platelets", "platelets 50,000 looks like a count per µL, and 50,000 per µL is 50 × 10⁹/L"),
        ("2", "50,000", "platelets", "50,000 per µL is 50 × 10⁹/L"),
        (1500, 150, "anc", "1,500 per µL is 1.5 × 10⁹/L"),
        ("101", "150", "anc", "must be 0 to 100 × 10⁹/L, e.g. 1.5"),
    ],
)
def test_a_count_per_ul_typed_as_10_9_per_l_is_refused_naming_the_count_and_its_conversion(anc, platelets, field, words):
    with pytest.raises(ValidationError) as refused:
        dm.Counts.of(anc, platelets)
    assert refused.value.field == field and words in refused.value.message
    assert "is not accepted; must be 0 to" in refused.value.message


def test_an_anc_of_500_per_ul_no_longer_reads_as_recovered_and_typed_with_its_unit_it_holds_the_cycle():
    with pytest.raises(ValidationError):
        dm.hematologic_advice(GOOD, dm.Counts.of("500", "150"), within_cycle=False, monograph=BESPONSA)
    for anc in ("500/uL", "500 /µL", "500 per mm³", "0.5", "0.5 x10^9/L", "0.5 K/uL"):
        counts = dm.Counts.of(anc, "150,000/µL")
        assert float(counts.anc.magnitude) == pytest.approx(0.5) and float(counts.platelets.magnitude) == pytest.approx(150), anc
        advice = dm.hematologic_advice(GOOD, counts, within_cycle=False, monograph=BESPONSA)
        assert dm.Action.HOLD_NEXT_CYCLE in [a.action for a in advice], anc


def test_a_count_typed_with_its_unit_is_held_to_the_same_bound_without_the_per_ul_guess():
    with pytest.raises(ValidationError) as refused:
        dm.Counts.of("500000/uL", "150")
    assert refused.value.field == "anc" and refused.value.message == "'500000/uL' is not accepted; must be 0 to 100 × 10⁹/L, e.g. 1.5"
    with pytest.raises(ValidationError) as refused:
        dm.Counts.of("2", "150 cells")
    assert refused.value.field == "platelets" and "e.g. 150" in refused.value.message


def test_the_findings_prefix_names_the_baseline_and_prior_counts():
    for prefix in ("baseline-", "prior-"):
        with pytest.raises(ValidationError) as refused:
            dm.Counts.of("2", "60000", prefix)
        assert refused.value.field == f"{prefix}platelets" and "60,000 per µL is 60 × 10⁹/L" in refused.value.message


def test_a_course_lab_and_an_order_verification_refuse_the_count_as_the_findings_do():
    with pytest.raises(ValidationError) as refused:
        labs.lab_values("cbc", anc="500", platelets="150", transfusion_independent="yes")
    assert refused.value.field == "anc" and "500 per µL is 0.5" in refused.value.message
    taken = datetime(2026, 12, 20, 9, tzinfo=timezone.utc)
    with pytest.raises(ValidationError) as refused:
        labs.verification_labs(taken, anc="2", platelets="80000", transfusion_independent="yes")
    assert refused.value.field == "platelets" and "80,000 per µL is 80" in refused.value.message
    assert labs.lab_values("cbc", anc="500/uL", platelets="150", transfusion_independent="yes")["anc"] == pytest.approx(0.5)


def test_a_stored_count_above_its_bound_is_read_back_but_clears_nothing():
    """A result stored before 176a086 (an ANC of 500, accepted under the old bound of 1,000) is the data as
    recorded, not a malformed row: it is read back as stored, but it does not end a run of low counts, it
    drives no hematologic advice and it does not satisfy the CBC a dose needs. What is structurally wrong
    is still refused; a verification's stated labs are held to the input bound."""
    stored = {"anc": 500.0, "platelets": 150.0, "transfusion_independent": True}
    assert labs.check_stored_values("cbc", dict(stored)) == stored
    for bad, words in ((-1.0, "not a count of 0 or more"), (float("inf"), "not a count of 0 or more"), ("x", "not a number"), (True, "not a number")):
        with pytest.raises(ValueError, match=words):
            labs.check_stored_values("cbc", {**stored, "anc": bad})
    result = labs.LabResult("cbc", datetime(2026, 12, 20, 9, tzinfo=timezone.utc), stored, "Nina Nurse", 1)
    assert "stored ANC 500 × 10⁹/L is above the 100 accepted: probably typed per µL (0.5 × 10⁹/L); record it again" in labs.stored_count_doubt(result)
    assert labs._low_counts(result, BESPONSA)  # not taken as recovered
    assert labs.stored_count_doubt(labs.LabResult("cbc", result.taken_at, {**stored, "anc": 100.0}, "Nina Nurse", 2)) is None
    entry = {**stored, "taken_at": "2026-12-20T09:00+00:00"}
    at = datetime(2026, 12, 20, 10, tzinfo=timezone.utc)
    with pytest.raises(ValidationError) as refused:
        labs.no_course_labs_needed({"cbc": entry}, at, 1, 1, BESPONSA)
    assert refused.value.field == "labs" and "500 per µL is 0.5" in refused.value.message


def test_a_course_with_an_anc_of_500_stored_by_the_old_code_opens_verifies_and_takes_a_corrected_count(tmp_path, monkeypatch):
    """The review's case: `course lab --anc 500` accepted before 176a086. The course opens, audit verify
    passes (the row is what the log says was written), ANC 500 is never recovered, and a corrected count
    can be recorded, after which the CBC counts again."""
    from infusion_app.domain.clock import FakeClock
    from infusion_app.service import open_service
    from infusion_app.service import course as course_service
    from infusion_app.service.course import CourseService
    from tests.test_cli_course import make_users, show

    folder = make_users(str(tmp_path / "data"))
    assert course(folder, "new", "MRN001", "--hsct", "no").code == 0
    assert course(folder, "start", "MRN001", "--date", "2025-12-20").code == 0
    now = datetime.now(timezone.utc)
    old_input = course_service.labs.lab_values
    with open_service(data_dir=folder, clock=FakeClock(now)) as service:
        # the old code's input check, which let 500 through as 500 × 10⁹/L
        monkeypatch.setattr(course_service.labs, "lab_values", lambda kind, **values: dict(values))
        recorded = CourseService(service).record_lab(
            "MRN001", "cbc", {"anc": 500.0, "platelets": 150.0, "transfusion_independent": True}, now, service.user("Nina Nurse")
        )
        monkeypatch.setattr(course_service.labs, "lab_values", old_input)
        assert recorded.result.values["anc"] == 500.0
    shown = show(folder)
    assert [lab["values"]["anc"] for lab in shown["labs"] if lab["kind"] == "cbc"] == [500.0]
    verified = run_cli("audit", "verify", "--data-dir", folder)
    assert verified.code == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr
    with open_service(data_dir=folder, clock=FakeClock(now)) as service:
        stored = CourseService(service).course("MRN001")
        needed = labs.labs_needed(stored, now, 1, 1, monograph=BESPONSA)
        assert any("probably typed per µL" in item and item.startswith("CBC") for item in needed), needed
    again = course(folder, "lab", "MRN001", "--kind", "cbc", "--anc", "500/uL", "--platelets", "150", "--transfusion-independent", "yes")
    assert again.code == 0, again.stderr
    assert again.json()["lab"]["values"]["anc"] == pytest.approx(0.5)
    with open_service(data_dir=folder, clock=FakeClock(datetime.now(timezone.utc))) as service:
        stored = CourseService(service).course("MRN001")
        needed = labs.labs_needed(stored, datetime.now(timezone.utc), 1, 1, monograph=BESPONSA)
        assert not any("probably typed per µL" in item for item in needed), needed
    assert run_cli("audit", "verify", "--data-dir", folder).code == 0


# -- the command line -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    from tests.test_cli_course import make_users

    folder = make_users(str(tmp_path_factory.mktemp("counts") / "data"))
    assert course(folder, "new", "MRN001", "--hsct", "no").code == 0
    assert course(folder, "start", "MRN001", "--date", "2025-12-20").code == 0
    return folder


@pytest.mark.parametrize(
    "args, words",
    [
        (("lab", "MRN001", "--kind", "cbc", "--anc", "500", "--platelets", "150", "--transfusion-independent", "yes"), "anc: '500' is not accepted"),
        (
            ("assess", "MRN001", "--kind", "hematologic", "--anc", "500", "--platelets", "150", "--baseline-anc", "2", "--baseline-platelets", "150"),
            "500 per µL is 0.5 × 10⁹/L",
        ),
        (
            ("assess", "MRN001", "--kind", "hematologic", "--anc", "2", "--platelets", "150", "--baseline-anc", "2", "--baseline-platelets", "150000"),
            "baseline-platelets",
        ),
    ],
)
def test_the_command_line_refuses_a_count_per_ul_with_exit_2_naming_it(started, args, words):
    done = course(started, *args)
    assert done.code == 2 and "Traceback" not in done.stderr and words in done.stderr, done.stderr
    assert "looks like a count per µL" in done.stderr


def test_the_command_line_takes_a_count_per_ul_typed_with_its_unit(started):
    done = course(started, "lab", "MRN001", "--kind", "cbc", "--anc", "1800/uL", "--platelets", "140 x10^9/L", "--transfusion-independent", "yes")
    assert done.code == 0, done.stderr
    values = done.json()["lab"]["values"]
    assert values["anc"] == pytest.approx(1.8) and values["platelets"] == pytest.approx(140)


@pytest.mark.parametrize(
    "typed",
    ["1.5 x10E3/uL", "1.5 10*3/uL", "1.5 10*9/L", "1500 cells/uL", "1500/mcL", "1.5 K/mcL", "1500 cells per uL"],
)
def test_a_count_as_a_us_report_prints_it_is_converted(typed):
    """LabCorp's x10E3/uL, UCUM's 10*3/uL, /mcL and cells/uL were refused as not a number (review)."""
    assert dm.Counts.of(typed, "150").anc.magnitude == pytest.approx(1.5)


def test_an_e_after_a_number_is_its_exponent_not_a_power_of_ten_unit():
    """Only "x10E3" names the unit: "2.10e3/uL" is 2,100 per µL, not 2 × 10³/µL."""
    assert dm.Counts.of("2.10e3/uL", "150").anc.magnitude == pytest.approx(2.1)


def test_a_qtc_typed_with_its_ms_is_read():
    assert labs.ecg_values("430 ms") == {"qtc_ms": 430}
    with pytest.raises(ValidationError):
        labs.ecg_values("0.43 s")


# -- a count too small to be one, or read in floating point (review) ---------------------------------


@pytest.mark.parametrize(
    "anc, words",
    [
        ("1.5 /uL", "'1.5 /uL' is 1.5 cells per µL, not a whole count"),
        ("0.4/uL", "'0.4/uL' is less than one cell per µL and would be kept as 0"),
        ("0.0004", "'0.0004' is less than one cell per µL and would be kept as 0"),
        (0.0004, "less than one cell per µL"),
        ("1e-300 x10^9/L", "less than one cell per µL and would be kept as 0"),
        ("1e-400/uL", "'1e-400' is too small to be held as a number (it would be kept as 0)"),
        ("1e-400", "too small to be held as a number"),
        ("1e-320/uL", "'1e-320' is too small to be held exactly"),
        ("1e400/uL", "is not a finite number"),
        ("1500.0000000000000001/uL", "not a whole count"),
        ("1.2345", "'1.2345' is 1,234.5 cells per µL, not a whole count"),
    ],
)
def test_a_count_that_would_be_kept_as_another_number_is_refused_naming_the_field_and_an_example(anc, words):
    """'1.5 /uL' was kept as ANC 0.0015 × 10⁹/L (shown 'ANC 0'), '1e-400/uL' underflowed to ANC 0."""
    with pytest.raises(ValidationError) as refused:
        dm.Counts.of(anc, "150")
    assert refused.value.field == "anc" and words in refused.value.message, refused.value.message
    assert "e.g. 1.5" in refused.value.message
    with pytest.raises(ValidationError) as refused:
        dm.Counts.of("2", str(anc).replace("1.5", "150.5"), "baseline-")
    assert refused.value.field == "baseline-platelets" and "e.g. 150" in refused.value.message


def test_a_count_per_ul_with_a_point_is_told_how_thousands_per_ul_are_typed():
    with pytest.raises(ValidationError) as refused:
        dm.Counts.of("1.5 /uL", "150")
    assert refused.value.message.endswith("(1.5 thousand per µL is 1.5 x10^3/uL)")
    with pytest.raises(ValidationError) as refused:
        dm.Counts.of("2", "150.5/uL")
    assert "150.5 x10^3/uL" in refused.value.message
    assert dm.Counts.of("1.5 x10^3/uL", "150.5 x10^3/uL").anc.magnitude == 1.5


def test_a_whole_count_per_ul_is_converted_exactly_and_shown_to_the_cell():
    counts = dm.Counts.of("1001/uL", "4/uL")
    assert (counts.anc.magnitude, counts.platelets.magnitude) == (1.001, 0.004)
    assert dm.Counts.of("1/uL", "150").anc.magnitude == 0.001 and dm.Counts.of("0/uL", "0").anc.magnitude == 0
    result = labs.LabResult(
        "cbc",
        datetime(2026, 12, 20, 9, tzinfo=timezone.utc),
        labs.lab_values("cbc", anc="4/uL", platelets="150", transfusion_independent="yes"),
        "Nina Nurse",
        1,
    )
    assert labs.lab_summary(result) == "ANC 0.004 × 10⁹/L, platelets 150 × 10⁹/L"


def test_an_order_verification_and_the_blasts_refuse_such_a_count_too():
    taken = datetime(2026, 12, 20, 9, tzinfo=timezone.utc)
    with pytest.raises(ValidationError) as refused:
        labs.verification_labs(taken, anc="1.5 /uL", platelets="150", transfusion_independent="yes")
    assert refused.value.field == "anc" and "not a whole count" in refused.value.message
    from infusion_app.domain.course import new_course, record_blasts

    for typed in ("1e-400/uL", "1e-400 x10^9/L"):
        with pytest.raises(ValidationError) as refused:
            record_blasts(new_course("MRN001", hsct_planned=False, monograph=BESPONSA), typed, "2026-12-01", taken.date())
        assert refused.value.field == "blasts" and "too small to be held" in refused.value.message


@pytest.mark.parametrize(
    "args",
    [
        ("lab", "MRN001", "--kind", "cbc", "--anc", "1.5 /uL", "--platelets", "150", "--transfusion-independent", "yes"),
        ("lab", "MRN001", "--kind", "cbc", "--anc", "1e-400/uL", "--platelets", "150", "--transfusion-independent", "yes"),
        ("assess", "MRN001", "--kind", "hematologic", "--anc", "1e-400/uL", "--platelets", "150", "--baseline-anc", "2", "--baseline-platelets", "150"),
        ("assess", "MRN001", "--kind", "hematologic", "--anc", "2", "--platelets", "150", "--baseline-anc", "1.5 /uL", "--baseline-platelets", "150"),
    ],
)
def test_the_command_line_refuses_a_count_it_would_keep_as_zero_with_exit_2(started, args):
    before = len(show(started)["labs"])
    done = course(started, *args)
    assert done.code == 2 and "Traceback" not in done.stderr and "anc" in done.stderr and "e.g. 1.5" in done.stderr, done.stderr
    assert len(show(started)["labs"]) == before
