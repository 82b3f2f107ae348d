"""Issue 12 item 11: premedication off the monograph's list only as "other" with its dose checked,
and a premedication corrected by the nurse who recorded it, audited, before the infusion starts.

Each test here fails on the code before this change: a drug off the list was refused with no way
to record it, and a mistyped premedication could only be recorded again (a double entry) or
left wrong on the sheet.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from infusion_app.domain.errors import ValidationError
from infusion_app.domain.preparation import numbered_premedications, premedication_given
from infusion_app.domain.records import EventType, Role, User
from tests.test_preparation_rules import CLASSES, NINA, PAUL, PREMED_DETAILS, R, Ward

NORA = User(6, "nora", Role.NURSE)


def test_a_drug_off_the_list_is_refused_unless_recorded_as_other_with_its_dose_checked():
    ward = Ward()
    plain = ward.refused(EventType.PREMEDICATION, NINA, drug_class="antihistamine", drug="clemastine", dose="2 mg")
    assert plain.code == "premedication_drug_not_in_class" and "other" in plain.message
    unchecked = ward.refused(EventType.PREMEDICATION, NINA, drug_class="antihistamine", drug="clemastine", dose="2 mg", other=True)
    assert unchecked.code == "premedication_other_unchecked" and "check the dose against the order" in unchecked.message
    ward.record(EventType.PREMEDICATION, NINA, drug_class="antihistamine", drug="clemastine", dose="2 mg", other=True, dose_checked=True)
    assert [e.details["drug"] for e in premedication_given(ward.prep)] == ["clemastine"]


def test_other_never_launders_a_listed_drug_of_another_class_or_a_dose_that_is_not_a_mass():
    ward = Ward()
    wrong_class = ward.refused(EventType.PREMEDICATION, NINA, drug_class="corticosteroid", drug="diphenhydramine", dose="25 mg", other=True, dose_checked=True)
    assert wrong_class.code == "premedication_drug_not_in_class" and "is a antihistamine" in wrong_class.message
    by_volume = ward.invalid(EventType.PREMEDICATION, NINA, drug_class="antihistamine", drug="clemastine", dose="2 mL", other=True, dose_checked=True)
    assert by_volume.field == "dose"
    flag = ward.invalid(EventType.PREMEDICATION, NINA, drug_class="antihistamine", drug="clemastine", dose="2 mg", other="yes", dose_checked=True)
    assert flag.field == "other"


def test_the_recording_nurse_corrects_drug_dose_and_time_and_the_original_is_kept():
    ward = Ward()
    ward.dispense()
    ward.premedicate(R + timedelta(minutes=52))
    number = 1 + next(i for i, e in enumerate(ward.prep.events) if e.type == EventType.PREMEDICATION and e.details["drug_class"] == "corticosteroid")
    ward.record(
        EventType.PREMEDICATION_CORRECTED,
        NINA,
        R + timedelta(minutes=50),
        corrects=number,
        drug="methylprednisolone",
        dose="40 mg",
        reason="typed the wrong steroid",
    )
    given = {e.details["drug_class"]: e for e in premedication_given(ward.prep)}
    steroid = given["corticosteroid"]
    assert (steroid.details["drug"], steroid.details["dose"], steroid.at) == ("methylprednisolone", "40 mg", R + timedelta(minutes=50))
    assert steroid.details["corrected_by"] == "nina" and steroid.details["correction_reason"] == "typed the wrong steroid"
    assert steroid.details["original"]["drug"] == PREMED_DETAILS["corticosteroid"]["drug"]
    assert steroid.user == "nina"
    # The stored events still hold what was first entered.
    assert ward.prep.events[number - 1].details["drug"] == PREMED_DETAILS["corticosteroid"]["drug"]
    assert len(premedication_given(ward.prep)) == len(CLASSES)
    ward.record(EventType.INFUSION_STARTED, NINA, R + timedelta(minutes=60))


def test_only_the_recorder_corrects_before_the_start_with_a_reason_and_a_checked_dose():
    ward = Ward()
    ward.dispense()
    ward.premedicate(R + timedelta(minutes=52))
    number = 1 + next(i for i, e in enumerate(ward.prep.events) if e.type == EventType.PREMEDICATION)
    drug_class = ward.prep.events[number - 1].details["drug_class"]
    other_nurse = ward.refused(EventType.PREMEDICATION_CORRECTED, NORA, corrects=number, dose="8 mg", reason="wrong dose")
    assert other_nurse.code == "premedication_correction_not_recorder" and "nina" in other_nurse.message
    pharmacist = ward.refused(EventType.PREMEDICATION_CORRECTED, PAUL, corrects=number, dose="8 mg", reason="wrong dose")
    assert pharmacist.code == "role"
    assert ward.invalid(EventType.PREMEDICATION_CORRECTED, NINA, corrects=number, dose="8 mg").field == "correction reason"
    assert ward.invalid(EventType.PREMEDICATION_CORRECTED, NINA, corrects=999, dose="8 mg", reason="wrong dose").field == "corrects"
    assert ward.invalid(EventType.PREMEDICATION_CORRECTED, NINA, corrects="x", dose="8 mg", reason="wrong dose").field == "corrects"
    not_premed = ward.invalid(EventType.PREMEDICATION_CORRECTED, NINA, corrects=1, dose="8 mg", reason="wrong dose")
    assert not_premed.field == "corrects" and "not a premedication" in not_premed.message
    implausible = ward.refused(
        EventType.PREMEDICATION_CORRECTED, NINA, corrects=number, drug=PREMED_DETAILS[drug_class]["drug"], dose="5000 mg", reason="wrong dose"
    )
    assert implausible.code == "premedication_dose_implausible"
    other_class = ward.invalid(EventType.PREMEDICATION_CORRECTED, NINA, corrects=number, drug_class="antipyretic", dose="8 mg", reason="wrong class")
    assert other_class.field == "drug_class"
    ward.record(EventType.PATIENT_CONFIRMED, NINA, R + timedelta(minutes=58))
    ward.record(EventType.INFUSION_STARTED, NINA, R + timedelta(minutes=60))
    late = ward.refused(EventType.PREMEDICATION_CORRECTED, NINA, corrects=number, dose="8 mg", reason="wrong dose")
    assert late.code == "out_of_order" and "infusion has started" in late.message


def test_a_correction_that_moves_the_time_out_of_the_window_blocks_the_start():
    ward = Ward()
    ward.dispense()
    ward.premedicate(R + timedelta(minutes=52))
    ward.clock.set(R + timedelta(hours=2, minutes=30))
    number = 1 + next(i for i, e in enumerate(ward.prep.events) if e.type == EventType.PREMEDICATION)
    ward.record(EventType.PREMEDICATION_CORRECTED, NINA, R + timedelta(minutes=31), corrects=number, reason="given earlier than entered")
    # Ten minutes on, the corrected time is more than the window before a start now; the time first
    # entered (R + 52 min) would still have counted.
    ward.clock.set(R + timedelta(hours=2, minutes=40))
    ward.record(EventType.PATIENT_CONFIRMED, NINA)
    stale = ward.refused(EventType.INFUSION_STARTED, NINA)
    assert stale.code == "premedication_window"


def test_a_correction_is_no_chain_step_and_keeps_no_double_entry_with_itself():
    ward = Ward()
    ward.record(EventType.PREMEDICATION, NINA, R, drug_class="antipyretic", drug="acetaminophen", dose="650 mg")
    # The same drug and dose at a time a few minutes off: a correction of itself, not a double entry.
    ward.record(EventType.PREMEDICATION_CORRECTED, NINA, R - timedelta(minutes=3), corrects=1, reason="time was earlier")
    with pytest.raises(ValidationError):
        ward.check(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=1, reason="")
    again = ward.refused(EventType.PREMEDICATION, NINA, R, drug_class="antipyretic", drug="acetaminophen", dose="650 mg")
    assert again.code == "premedication_duplicate"


# --- the same through the command line -----------------------------------------------------------


def test_the_cli_records_other_and_a_correction_keeping_the_time_given(tmp_path, capsys, monkeypatch):
    from tests.test_cli_prep import new_prep, run

    folder = _cli_data(tmp_path, monkeypatch)
    prep_id = new_prep(capsys, monkeypatch, folder)
    where = ["--data-dir", str(folder)]
    code, out, err = run(
        capsys,
        monkeypatch,
        "444444",
        "prep",
        "record",
        prep_id,
        "premedication",
        "--drug-class",
        "antihistamine",
        "--drug",
        "clemastine",
        "--dose",
        "2 mg",
        "--other",
        "--user",
        "nora",
        *where,
    )
    assert code == 1 and "check the dose against the order" in err and "Traceback" not in err
    code, out, err = run(
        capsys,
        monkeypatch,
        "444444",
        "prep",
        "record",
        prep_id,
        "premedication",
        "--drug-class",
        "antihistamine",
        "--drug",
        "clemastine",
        "--dose",
        "2 mg",
        "--other",
        "--dose-checked",
        "--user",
        "nora",
        *where,
    )
    assert code == 0, err
    code, out, err = run(
        capsys,
        monkeypatch,
        "444444",
        "prep",
        "record",
        prep_id,
        "premedication",
        "--drug-class",
        "antipyretic",
        "--drug",
        "acetaminophen",
        "--dose",
        "500 mg",
        "--user",
        "nora",
        *where,
    )
    assert code == 0, err
    code, shown, err = run(capsys, monkeypatch, None, "prep", "show", prep_id, "--json", *where)
    events = json.loads(shown)["events"]
    number = next(e["seq"] for e in events if e["details"].get("drug") == "acetaminophen")
    given_at = next(e["at"] for e in events if e["seq"] == number)
    code, out, err = run(capsys, monkeypatch, None, "prep", "show", prep_id, *where)
    assert f"[{number}: acetaminophen 500 mg]" in out
    code, out, err = run(
        capsys,
        monkeypatch,
        "444444",
        "prep",
        "record",
        prep_id,
        "premedication-corrected",
        "--corrects",
        str(number),
        "--dose",
        "650 mg",
        "--user",
        "nora",
        *where,
    )
    assert code == 2 and "correction reason" in err and "Traceback" not in err
    code, out, err = run(
        capsys,
        monkeypatch,
        "222222",
        "prep",
        "record",
        prep_id,
        "premedication-corrected",
        "--corrects",
        str(number),
        "--dose",
        "650 mg",
        "--reason",
        "wrong dose typed",
        "--user",
        "paul",
        *where,
    )
    assert code == 1 and "nurse" in err
    code, out, err = run(
        capsys,
        monkeypatch,
        "444444",
        "prep",
        "record",
        prep_id,
        "premedication-corrected",
        "--corrects",
        str(number),
        "--dose",
        "650 mg",
        "--reason",
        "wrong dose typed",
        "--user",
        "nora",
        "--json",
        *where,
    )
    assert code == 0, err
    stored = json.loads(out)["events"]
    correction = stored[-1]
    assert correction["type"] == "premedication-corrected" and correction["at"] == given_at
    assert correction["details"] == {"corrects": str(number), "dose": "650 mg", "reason": "wrong dose typed"}
    # prep show gives what was given as corrected, not only the events as first entered (reviewer finding).
    effective = {e["seq"]: e for e in json.loads(out)["premedication_given"]}
    assert effective[number]["details"]["dose"] == "650 mg" and effective[number]["details"]["corrected_by"] == "nora"
    code, out, err = run(capsys, monkeypatch, None, "prep", "show", prep_id, *where)
    assert f"[{number}] antipyretic: acetaminophen 650 mg at " in out
    assert "corrected by nora (wrong dose typed), first entered acetaminophen 500 mg" in out
    assert f"[corrects {number}: wrong dose typed]" in out
    code, out, err = run(
        capsys,
        monkeypatch,
        "444444",
        "prep",
        "record",
        prep_id,
        "premedication-corrected",
        "--corrects",
        "x",
        "--dose",
        "650 mg",
        "--reason",
        "wrong dose typed",
        "--user",
        "nora",
        *where,
    )
    assert code == 2 and "corrects" in err and "e.g. 3" in err


def _cli_data(tmp_path, monkeypatch):
    from infusion_app.cli import main

    monkeypatch.delenv("INFUSION_PREP_OVERRIDE_PIN", raising=False)
    monkeypatch.delenv("INFUSION_PREP_NEW_PIN", raising=False)
    folder = tmp_path / "data"
    monkeypatch.setenv("INFUSION_PREP_PIN", "222222")
    assert main(["user", "add", "paul", "--role", "pharmacist", "--data-dir", str(folder)]) == 0
    for name, role, pin in [("tina", "technician", "111111"), ("nora", "nurse", "444444")]:
        monkeypatch.setenv("INFUSION_PREP_NEW_PIN", pin)
        assert main(["user", "add", name, "--role", role, "--user", "paul", "--data-dir", str(folder)]) == 0
    monkeypatch.delenv("INFUSION_PREP_NEW_PIN")
    return folder


def test_the_sheet_prints_the_corrected_entry_with_who_why_and_what_was_first_entered():
    from datetime import timezone

    from infusion_app.domain.deadlines import compute_deadlines
    from infusion_app.domain.limits import site_defaults
    from infusion_app.reports.model import SheetData

    ward = Ward()
    ward.dispense()
    ward.premedicate(R + timedelta(minutes=52))
    ward.record(
        EventType.PREMEDICATION, NINA, R + timedelta(minutes=53), drug_class="antihistamine", drug="clemastine", dose="2 mg", other=True, dose_checked=True
    )
    number = 1 + next(i for i, e in enumerate(ward.prep.events) if e.type == EventType.PREMEDICATION and e.details["drug_class"] == "antipyretic")
    ward.record(EventType.PREMEDICATION_CORRECTED, NINA, R + timedelta(minutes=50), corrects=number, dose="500 mg", reason="wrong dose typed")
    now = ward.clock.now()
    data = SheetData.from_preparation(
        ward.prep,
        ward.mono,
        compute_deadlines(ward.prep.events, ward.mono, now, site_defaults().warning_lead_time),
        printed_at=now,
        program_version="9.9",
        tz=timezone.utc,
    )
    rows = {(r.drug_class, r.drug.split(" ")[0]): r for r in data.premedication}
    fixed = rows[("Antipyretic", "acetaminophen;")]
    assert fixed.dose == "500 mg" and fixed.time.endswith("08:50 UTC")
    assert "corrected by" in fixed.drug and "(first entered acetaminophen 650 mg): wrong dose typed" in fixed.drug
    assert rows[("Antihistamine", "clemastine")].drug == "clemastine (other; dose checked against the order)"


def _child_ward(weight_kg, born):
    import dataclasses

    from infusion_app.domain.records import Patient
    from tests.test_preparation_rules import ORDER

    ward = Ward(order=dataclasses.replace(ORDER, calculation=dataclasses.replace(ORDER.calculation, weight_kg=weight_kg)))
    ward.prep = dataclasses.replace(ward.prep, patient=Patient("Kid, Ann", "MRN0002", born))
    return ward


def test_a_childs_methylprednisolone_is_refused_above_1_mg_per_kg_and_above_50_mg():
    from datetime import date

    small = _child_ward(22, date(2018, 5, 1))
    over = small.refused(EventType.PREMEDICATION, NINA, drug_class="corticosteroid", drug="methylprednisolone", dose="40 mg")
    assert over.code == "premedication_dose_above_child_limit"
    assert "1 mg/kg × 22 kg = 22 mg, at most 50 mg (pending pharmacist review)" in over.message
    small.record(EventType.PREMEDICATION, NINA, drug_class="corticosteroid", drug="methylprednisolone", dose="22 mg")
    big = _child_ward(64, date(2011, 5, 1))
    capped = big.refused(EventType.PREMEDICATION, NINA, drug_class="corticosteroid", drug="methylprednisolone", dose="60 mg")
    assert capped.code == "premedication_dose_above_child_limit" and "= 64 mg, at most 50 mg" in capped.message
    big.record(EventType.PREMEDICATION, NINA, drug_class="corticosteroid", drug="methylprednisolone", dose="50 mg")
    adult = _child_ward(64, date(1990, 5, 1))  # the adult range only
    adult.record(EventType.PREMEDICATION, NINA, drug_class="corticosteroid", drug="methylprednisolone", dose="80 mg")


def test_a_second_correction_builds_on_the_first_and_stores_exactly_what_was_checked():
    """Hostile review B2: a second correction was checked against the corrected entry but applied
    to the original, so 'acetaminophen 5000 mg' came out of two accepted corrections."""
    ward = Ward()
    ward.record(EventType.PREMEDICATION, NINA, R, drug_class="antipyretic", drug="acetaminophen", dose="650 mg")
    ward.record(
        EventType.PREMEDICATION_CORRECTED,
        NINA,
        R,
        corrects=1,
        drug="clemastine-like antipyretic X",
        other=True,
        dose_checked=True,
        reason="another drug was given",
    )
    ward.record(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=1, dose="5000 mg", other=True, dose_checked=True, reason="dose was 5000")
    [(number, entry)] = numbered_premedications(ward.prep)
    assert (entry.details["drug"], entry.details["dose"], entry.details["other"]) == ("clemastine-like antipyretic X", "5000 mg", True)
    assert entry.details["original"]["drug"] == "acetaminophen"
    # Back to a listed drug: its range holds again, and "other" is not inherited.
    implausible = ward.refused(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=1, drug="acetaminophen", reason="it was acetaminophen")
    assert implausible.code == "premedication_dose_implausible"
    ward.record(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=1, drug="acetaminophen", dose="1000 mg", reason="it was acetaminophen")
    ward.record(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=1, dose="650 mg", reason="dose was 650")
    [(_, entry)] = numbered_premedications(ward.prep)
    assert (entry.details["drug"], entry.details["dose"], entry.details.get("other")) == ("acetaminophen", "650 mg", None)


@pytest.mark.parametrize("typed", ["acetaminophen PO", "Tylenol", "Solu-Medrol", "methylprednisolone sodium succinate"])
def test_a_listed_drug_under_another_name_cannot_escape_its_range_as_other(typed):
    """Hostile review M1: 'acetaminophen PO' 6500 mg as other was accepted, its range skipped."""
    ward = Ward()
    drug_class = "antipyretic" if typed in ("acetaminophen PO", "Tylenol") else "corticosteroid"
    refusal = ward.refused(EventType.PREMEDICATION, NINA, drug_class=drug_class, drug=typed, dose="6500 mg", other=True, dose_checked=True)
    assert refusal.code in ("premedication_other_is_listed", "premedication_dose_implausible")
    assert ward.prep.events == []


def test_a_premedication_written_down_after_the_start_is_recorded_as_a_deviation():
    """Hostile review: a premedication given before the start but entered after it could not be
    recorded at all; a fact that happened is always recordable, as a deviation."""
    ward = Ward()
    ward.start()  # with acetaminophen 650 mg: a second entry of 300 mg keeps the total within 1,000 mg
    refusal = ward.refused(EventType.PREMEDICATION, NINA, R + timedelta(minutes=58), drug_class="antipyretic", drug="acetaminophen", dose="300 mg")
    assert refusal.deviation_allowed and refusal.code == "premedication_after_start" and "before the infusion started" in refusal.message
    implausible = ward.refused(EventType.PREMEDICATION, NINA, R + timedelta(minutes=58), drug_class="antipyretic", drug="acetaminophen", dose="5000 mg")
    assert implausible.code == "premedication_dose_implausible"  # the drug and dose checks still hold
    ward.deviation_reason = "given on the ward, sheet found after the start"
    ward.record(EventType.PREMEDICATION, NINA, R + timedelta(minutes=58), drug_class="antipyretic", drug="acetaminophen", dose="300 mg")
    assert ward.prep.events[-1].type == EventType.DEVIATION
    assert ward.prep.events[-1].details["rules"] == ["premedication_after_start"]


def test_a_childs_acetaminophen_is_capped_per_kg_every_premedication_of_both_drugs_has_a_child_cap():
    """Review M3: acetaminophen 1000 mg for a 14 kg child was accepted (only methylprednisolone was capped)."""
    from datetime import date

    from tests.drugs import BESPONSA, MYLOTARG

    child = _child_ward(14, date(2022, 5, 1))
    over = child.refused(EventType.PREMEDICATION, NINA, drug_class="antipyretic", drug="acetaminophen", dose="1000 mg")
    assert over.code == "premedication_dose_above_child_limit"
    assert "15 mg/kg × 14 kg = 210 mg, at most 650 mg (pending pharmacist review)" in over.message
    child.record(EventType.PREMEDICATION, NINA, drug_class="antipyretic", drug="acetaminophen", dose="210 mg")
    antihistamine = child.refused(EventType.PREMEDICATION, NINA, drug_class="antihistamine", drug="diphenhydramine", dose="25 mg")
    assert antihistamine.code == "premedication_dose_above_child_limit" and "1 mg/kg × 14 kg = 14 mg" in antihistamine.message
    for mono in (BESPONSA, MYLOTARG):
        for drug in mono.premedication_drugs():
            assert drug.child_per_kg is not None and drug.child_max is not None, (mono.id, drug.name)
            assert drug.child_per_kg.citation and drug.child_max.citation, (mono.id, drug.name)


def test_the_same_drug_under_a_brand_is_added_up_against_the_childs_cap():
    """Review: Tylenol 200 mg and acetaminophen 200 mg for a 14 kg child are 400 mg of one drug (cap 210 mg)."""
    from datetime import date

    child = _child_ward(14, date(2022, 5, 1))
    child.record(EventType.PREMEDICATION, NINA, R, drug_class="antipyretic", drug="Tylenol", dose="200 mg")
    total = child.refused(EventType.PREMEDICATION, NINA, R + timedelta(minutes=20), drug_class="antipyretic", drug="acetaminophen", dose="200 mg")
    assert total.code == "premedication_total_above_limit"
    assert "makes 400 mg, more than a child's 15 mg/kg × 14 kg = 210 mg" in total.message and "Tylenol 200 mg" in total.message
    # Outside the premedication window the earlier entry no longer counts for this dose.
    child.record(EventType.PREMEDICATION, NINA, R + timedelta(hours=2, minutes=30), drug_class="antipyretic", drug="paracetamol", dose="200 mg")


def test_an_adults_total_of_one_drug_is_held_to_the_most_of_one_dose():
    ward = Ward()
    ward.record(EventType.PREMEDICATION, NINA, R, drug_class="antipyretic", drug="acetaminophen", dose="650 mg")
    total = ward.refused(EventType.PREMEDICATION, NINA, R + timedelta(minutes=30), drug_class="antipyretic", drug="Tylenol", dose="500 mg")
    assert total.code == "premedication_total_above_limit" and "makes 1,150 mg, more than the most of one dose, 1,000 mg" in total.message


def test_a_correction_that_changes_nothing_is_refused_naming_what_the_entry_reads():
    """Reviewer finding: a 'correction' to the same drug, amount and time was recorded, a second signature on nothing."""
    ward = Ward()
    ward.record(EventType.PREMEDICATION, NINA, R, drug_class="antipyretic", drug="acetaminophen", dose="650 mg")
    for same_dose in ("650 mg", "650mg", "0.65 g", " 650 mg "):
        unchanged = ward.invalid(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=1, drug="Acetaminophen", dose=same_dose, reason="checking")
        assert unchanged.field == "corrects" and "already reads acetaminophen 650 mg" in unchanged.message
    assert ward.invalid(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=1, reason="checking").field == "corrects"
    ward.record(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=1, dose="500 mg", reason="typed 650, gave 500")
    # Back to what it first read is a change from what it reads now.
    ward.record(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=1, dose="650 mg", reason="500 was the wrong fix")


def test_a_correction_cannot_be_corrected_in_turn_and_says_which_entry_to_correct():
    ward = Ward()
    ward.record(EventType.PREMEDICATION, NINA, R, drug_class="antipyretic", drug="acetaminophen", dose="650 mg")
    ward.record(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=1, dose="500 mg", reason="typed 650, gave 500")
    correction_number = len(ward.prep.events)
    refused = ward.invalid(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=correction_number, dose="600 mg", reason="again")
    assert refused.field == "corrects" and "correction of premedication 1" in refused.message
    assert "give 1 as the entry to correct" in refused.message


@pytest.mark.parametrize("look_alike", ["dexamethas\u043ene", "dexa\u200bmethasone"])
def test_a_look_alike_drug_name_is_refused_naming_what_is_wrong(look_alike):
    """Re-walk of items 16/19: a Cyrillic о or a zero-width space made 'dexamethasone' another drug
    ('other'), around the duplicate guard; the sheet printed four identical entries."""
    ward = Ward()
    refused = ward.invalid(EventType.PREMEDICATION, NINA, R, drug_class="corticosteroid", drug=look_alike, dose="10 mg", other=True, dose_checked=True)
    assert refused.field == "drug" and ("alphabets" in refused.message or "invisible" in refused.message)


def test_a_full_width_drug_name_is_the_listed_drug_and_a_double_entry_of_it():
    ward = Ward()
    ward.record(EventType.PREMEDICATION, NINA, R, drug_class="corticosteroid", drug="dexamethasone", dose="10 mg")
    listed = ward.refused(
        EventType.PREMEDICATION, NINA, R, drug_class="corticosteroid", drug="ｄｅｘａｍｅｔｈａｓｏｎｅ", dose="10 mg", other=True, dose_checked=True
    )
    assert listed.code in ("premedication_other_is_listed", "premedication_duplicate")
    double = ward.refused(EventType.PREMEDICATION, NINA, R, drug_class="corticosteroid", drug="ＤＥＸＡＭＥＴＨＡＳＯＮＥ", dose="10 mg")
    assert double.code == "premedication_duplicate"


@pytest.mark.parametrize("number", ["８", "٨", "8.0", True])
def test_a_correction_names_its_entry_in_ascii_digits(number):
    ward = Ward()
    ward.record(EventType.PREMEDICATION, NINA, R, drug_class="antipyretic", drug="acetaminophen", dose="650 mg")
    refused = ward.invalid(EventType.PREMEDICATION_CORRECTED, NINA, R, corrects=number, dose="500 mg", reason="typed 650")
    assert refused.field == "corrects"


def test_a_small_childs_dose_under_the_adults_smallest_is_recordable_up_to_the_childs_most():
    """A 15 kg child's hydroxyzine is at most 0.5 mg/kg = 7.5 mg, below the adults' smallest plausible 10 mg:
    with the per-kg caps no dose at all could be recorded. Half the child's most stays the floor."""
    from datetime import date

    child = _child_ward(15, date(2022, 5, 1))
    child.record(EventType.PREMEDICATION, NINA, drug_class="antihistamine", drug="hydroxyzine", dose="7.5 mg")
    slip = _child_ward(15, date(2022, 5, 1)).refused(EventType.PREMEDICATION, NINA, drug_class="antihistamine", drug="hydroxyzine", dose="0.75 mg")
    assert slip.code == "premedication_dose_implausible" and "3.75 mg to 50 mg" in slip.message


def test_a_premedication_given_before_the_window_is_recorded_as_a_deviation_not_refused():
    """Pharmacist review: acetaminophen given 3 h ago could not be recorded ('Give it again'); given
    again, the patient had twice the dose the program knew of. A fact is recorded, with a reason."""
    ward = Ward()
    ward.dispense()
    ward.clock.set(R + timedelta(hours=4))
    given = R + timedelta(hours=1)  # 3 h before now, outside the site's 2 h window
    refused = ward.refused(EventType.PREMEDICATION, NINA, given, drug_class="antipyretic", drug="acetaminophen", dose="650 mg")
    assert refused.code == "premedication_window" and refused.deviation_allowed
    ward.deviation_reason = "given on the ward before transfer, charted late"
    ward.record(EventType.PREMEDICATION, NINA, given, drug_class="antipyretic", drug="acetaminophen", dose="650 mg")
    assert ward.prep.events[-1].type == EventType.DEVIATION
    assert ward.prep.events[-1].details["rules"] == ["premedication_window"]
    ward.deviation_reason = None
    # It does not count for the start: the class is still missing for a start now.
    for drug_class in ("corticosteroid", "antihistamine"):
        ward.record(EventType.PREMEDICATION, NINA, R + timedelta(hours=3, minutes=50), drug_class=drug_class, **PREMED_DETAILS[drug_class])
    ward.record(EventType.PATIENT_CONFIRMED, NINA, R + timedelta(hours=3, minutes=55))
    assert ward.refused(EventType.INFUSION_STARTED, NINA).code == "premedication_window"


def test_iv_acetaminophen_brands_add_up_with_acetaminophen():
    """Pharmacist review: Ofirmev 1000 mg after acetaminophen 650 mg was taken as another drug ('other')."""
    ward = Ward()
    ward.record(EventType.PREMEDICATION, NINA, R, drug_class="antipyretic", drug="acetaminophen", dose="650 mg")
    for brand in ("Ofirmev", "Perfalgan", "Panadol"):
        total = ward.refused(
            EventType.PREMEDICATION, NINA, R + timedelta(minutes=5), drug_class="antipyretic", drug=brand, dose="1000 mg", other=True, dose_checked=True
        )
        assert total.code in ("premedication_other_is_listed", "premedication_total_above_limit"), brand


def test_the_premedication_classes_are_read_in_one_place():
    """The classes the drug asks for were read and lower-cased anew at six places of the domain (and
    without lower-casing on the chair): Monograph.premedication_classes() is the one reading."""
    from pathlib import Path

    from tests.drugs import BESPONSA, MYLOTARG

    root = Path(__file__).resolve().parents[1] / "infusion_app"
    readers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if 'items("premedication.classes")' in p.read_text(encoding="utf-8"))
    assert readers == ["domain/monograph.py"]
    for drug in (BESPONSA, MYLOTARG):
        assert drug.premedication_classes() == [str(c).strip().lower() for c in drug.items("premedication.classes")]
