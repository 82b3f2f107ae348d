"""The sheet's view model: what is printed, built from the domain records, numbers via the ISMP formatter."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from infusion_app.domain.deadlines import compute_deadlines
from infusion_app.domain.formatting import format_instant
from infusion_app.domain.limits import site_defaults
from infusion_app.domain.monograph import load_monograph
from infusion_app.domain.records import Event, EventType
from infusion_app.reports.demo import RECONSTITUTED_AT, demo_policy_decision, demo_preparation
from infusion_app.reports.model import NOT_YET_RECONSTITUTED, SheetData

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def monograph():
    return load_monograph("inotuzumab-ozogamicin")


def build(prep, monograph, now=None, tz=NEW_YORK, **kwargs):
    now = now or RECONSTITUTED_AT + timedelta(minutes=40)
    deadlines = compute_deadlines(prep.events, monograph, now, site_defaults().warning_lead_time)
    return SheetData.from_preparation(prep, monograph, deadlines, printed_at=now, program_version="9.9", tz=tz, **kwargs)


def row(rows, label):
    return next(r.value for r in rows if r.label == label)


def test_order_rows_carry_units_formula_and_the_dose_worked_by_hand(monograph):
    data = build(demo_preparation(monograph), monograph)
    # 5 ft 6 in = 167.64 cm, 143 lb = 64.864 kg; Mosteller sqrt(167.64 × 64.864 / 3600) = 1.738 -> 1.74 m²;
    # 0.8 mg/m² × 1.74 m² = 1.392 -> 1.39 mg; 1.39 / 0.25 = 5.56 mL; 50 - 5.56 = 44.44 mL; 1.39 / 50 = 0.028 mg/mL.
    assert row(data.order, "Cycle / Day") == "Cycle 1, Day 1"
    assert row(data.order, "Height") == "167.6 cm (entered as 5 ft 6 in)"
    assert row(data.order, "Weight") == "64.86 kg (entered as 143 lb)"
    assert row(data.order, "BSA").startswith("1.74 m² (Mosteller)")
    assert row(data.order, "Dose per m²") == "0.8 mg/m²"
    # 1.39 mg = 5.56 mL, read on the 10 mL syringe's 0.2 mL marks as 5.6 mL = 1.4 mg: both shown
    assert row(data.order, "Dose") == ("0.8 mg/m² × 1.74 m² = 1.39 mg; drawn 5.6 mL on the 10 mL syringe (0.2 mL marks) = 1.4 mg, the dose given")
    assert data.dose == "1.4 mg"
    assert data.final_concentration == "0.028 mg/mL"
    assert data.vehicle_line == "in 0.9% Sodium Chloride, total 50 mL"
    assert data.route_rate == "IV over 1 hour at 50 mL/h"
    steps = " ".join(s.text for s in data.dilution_steps)
    assert "Withdraw 5.6 mL (1.4 mg)" in steps
    assert "Add it to 0.9% Sodium Chloride Injection 44.4 mL measured in 3 syringes" in steps
    assert "for a total of 50 mL: 0.028 mg/mL" in steps
    recon = data.reconstitution_steps[0].text
    assert "each of 2 vials (0.9 mg) with 4 mL Sterile Water for Injection: 0.25 mg/mL" in recon
    assert any("Do not shake" in s.text for s in data.reconstitution_steps)
    assert any(s.text == "Gently invert the bag to mix. Do not shake." for s in data.dilution_steps)


def test_deadlines_are_local_dates_with_24_hour_times_across_a_dst_change(monograph):
    # 2026-03-10 is two days after the US switch to daylight time: 09:00 UTC is 05:00 EDT.
    data = build(demo_preparation(monograph), monograph)
    timeline = {r.label: r.at for r in data.timeline}
    assert timeline["Dilute by"] == "2026-03-10 09:00 EDT"  # reconstituted 05:00 + 4 h
    assert timeline["Infusion must end by"] == "2026-03-10 13:00 EDT"  # reconstituted + 8 h
    assert timeline["Do not start after (discard)"] == "2026-03-10 09:20 EDT"  # diluted 05:20 + 4 h at room temperature
    assert timeline["Observe until"] == "starts at the end of the infusion"
    assert data.do_not_start_after == "2026-03-10 09:20 EDT"
    assert data.must_end_by == "2026-03-10 13:00 EDT"
    assert data.printed_at == "2026-03-10 05:40 EDT"


def test_before_reconstitution_every_deadline_says_it_starts_at_reconstitution(monograph):
    prep = demo_preparation(monograph)
    prep.events = [e for e in prep.events if e.type == EventType.PREMEDICATION]
    data = build(prep, monograph, now=RECONSTITUTED_AT - timedelta(minutes=5))
    assert [r.at for r in data.timeline[:4]] == [NOT_YET_RECONSTITUTED] * 4
    assert data.do_not_start_after == data.must_end_by == NOT_YET_RECONSTITUTED
    assert data.prepared == "" and data.checked_by == ""
    assert all(s.done == "" for s in data.reconstitution_steps + data.dilution_steps)


def test_premedication_is_filled_from_events_and_blank_for_classes_not_given(monograph):
    prep = demo_preparation(monograph)
    prep.events = [e for e in prep.events if e.details.get("drug_class") != "antihistamine"]
    data = build(prep, monograph)
    by_class = {r.drug_class: r for r in data.premedication}
    assert list(by_class) == ["Corticosteroid", "Antipyretic", "Antihistamine"]
    assert by_class["Antipyretic"].drug == "acetaminophen PO"
    assert by_class["Antipyretic"].dose == "650 mg"
    assert by_class["Antipyretic"].initials == "GO"
    assert by_class["Antipyretic"].time == "2026-03-10 04:20 EDT"
    assert by_class["Antihistamine"] == dataclasses.replace(by_class["Antihistamine"], drug="", dose="", time="", initials="")


def test_the_all_classes_row_has_a_time_only_when_every_class_was_given(monograph):
    """Reviewer finding: with one class given, 'Premedication given (all classes)' printed that one's time."""
    prep = demo_preparation(monograph)
    complete = next(r for r in build(prep, monograph).administration if r.step.startswith("Premedication given"))
    assert complete.at and complete.initials and not complete.detail
    prep.events = [e for e in prep.events if e.details.get("drug_class") not in ("antihistamine", "antipyretic")]
    partial = next(r for r in build(prep, monograph).administration if r.step.startswith("Premedication given"))
    assert (partial.at, partial.initials) == ("", "")
    assert partial.detail == "not recorded yet: antipyretic, antihistamine"


def test_overrides_and_discard_are_printed_with_who_when_and_why(monograph):
    prep = demo_preparation(monograph)
    at = RECONSTITUTED_AT + timedelta(hours=5)
    prep.events.append(
        Event(EventType.OVERRIDE, at, at, "Priya Raman", {"hard_stop": "start infusion after start-by", "reason": "pump failure; new bag not possible"})
    )
    data = build(prep, monograph)
    assert data.overrides == ["Override by Priya Raman, 2026-03-10 10:00 EDT: start infusion after start-by. Reason: pump failure; new bag not possible"]


def test_refrigerated_bag_says_refrigerate_and_warm_up(monograph):
    prep = demo_preparation(monograph)
    prep.events = [dataclasses.replace(e, details={"storage": "fridge"}) if e.type == EventType.DILUTED else e for e in prep.events]
    data = build(prep, monograph)
    assert data.storage[:2] == ["Protect from light", "Do not shake"]
    assert data.storage[2].startswith("Refrigerate; allow 1 hour to reach room temperature")


def test_policy_decision_and_course_rows(monograph):
    data = build(demo_preparation(monograph), monograph, policy_decision=demo_policy_decision(monograph), course_info={"Course": "Cycle 2 of 6"})
    assert data.policy is not None and data.policy.meets_criteria
    assert data.policy.decision == "Meets the payer's criteria"
    assert all(r.label == "met" for r in data.policy.criteria) and len(data.policy.criteria) >= 4
    assert data.course[0].value == "Cycle 2 of 6"
    assert build(demo_preparation(monograph), monograph).policy is None


def test_billing_block(monograph):
    data = build(demo_preparation(monograph), monograph)
    # 1.4 mg drawn -> 14 units of 0.1 mg; 2 vials × 0.9 mg = 18 units, 4 discarded -> JW.
    assert row(data.billing, "Units administered") == "14 units (1.4 mg)"
    assert row(data.billing, "Units discarded") == "4 units (0.4 mg)"
    assert row(data.billing, "Modifier") == "JW"
    assert row(data.billing, "HCPCS").startswith("J9229")


def test_signatures_name_the_people_who_recorded_each_step(monograph):
    data = build(demo_preparation(monograph), monograph)
    assert [(s.role, s.name) for s in data.signatures] == [
        ("Prepared by", "Tomás Ortega"),
        ("Verified by", "Priya Raman"),
        ("Administered by", ""),
    ]


def test_instants_default_to_the_machine_local_zone(monograph):
    data = build(demo_preparation(monograph), monograph, tz=None)
    assert data.do_not_start_after == format_instant(datetime(2026, 3, 10, 13, 20, tzinfo=timezone.utc))


def printed_strings(value):
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value):
        for item in dataclasses.fields(value):
            yield from printed_strings(getattr(value, item.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from printed_strings(item)


def test_every_character_printed_has_a_glyph_in_the_embedded_fonts(monograph):
    from reportlab.pdfbase import pdfmetrics

    from infusion_app.reports.fonts import BOLD, REGULAR, register_fonts
    from infusion_app.reports.sheet import CHECKBOX, CHECKED

    register_fonts()
    prep = demo_preparation(monograph)
    prep.patient = dataclasses.replace(prep.patient, name="Zoë Ørsted-Łukasiewicz, Ðorđe Şahin Ångström")
    data = build(prep, monograph, policy_decision=demo_policy_decision(monograph), course_info={"Course": "≤ 6 cycles"})
    characters = set("".join(printed_strings(data))) | {CHECKBOX, CHECKED, "…", "·", "•"}
    assert {"²", "≤", "×", "ë", "Ø", "Ł", "Ð", "Ş", "Å"} <= characters
    for face in (REGULAR, BOLD):
        glyphs = pdfmetrics.getFont(face).face.charToGlyph
        missing = sorted(c for c in characters if ord(c) not in glyphs and c not in "\n")
        assert missing == [], f"{face} has no glyph for {missing}"


def test_a_syringe_dose_says_syringe_with_its_volume_and_pump_rate(monograph):
    from infusion_app.domain.dosing import DoseOrder, calculate_dose

    prep = demo_preparation(monograph)
    child = calculate_dose(DoseOrder("90 cm", "12 kg", 1, 8), monograph)  # 0.28 mg in 3 mL by syringe
    prep = dataclasses.replace(prep, order=dataclasses.replace(prep.order, calculation=child))
    sheet = build(prep, monograph)
    assert "SYRINGE" in sheet.vehicle_line and "3 mL" in sheet.vehicle_line
    assert "syringe pump" in sheet.route_rate and "3 mL/h" in sheet.route_rate
    steps = " ".join(step.text for step in sheet.dilution_steps)
    assert "into the syringe" in steps and "Label the syringe" in steps and "Add it to" not in steps
    # Pharmacist review: a syringe was to be mixed by inverting "the bag", and the bag materials were listed.
    assert "invert the bag" not in steps and "invert the syringe" in steps
    assert not any(note.startswith("Bags:") for note in sheet.handling_notes)
    assert not any("invert the bag" in note for note in sheet.handling_notes)


def test_the_dilution_row_is_ticked_with_its_time_and_initials(monograph):
    data = build(demo_preparation(monograph), monograph)
    added = next(s for s in data.dilution_steps if s.text.startswith("Add it to"))
    withdrawn = next(s for s in data.dilution_steps if s.text.startswith("Withdraw"))
    assert added.done and added.done == withdrawn.done  # both are the dilution: its time and initials


def test_the_sheet_reads_the_syringe_saline_on_the_draw_syringes_marks(monograph):
    """Review: the sheet said 'about 2.6 mL' for 80 cm / 10 kg Day 1; the 3 mL syringe reads 2.5 mL."""
    from infusion_app.domain.dosing import DoseOrder, calculate_dose

    prep = demo_preparation(monograph)
    child = calculate_dose(DoseOrder("80 cm", "10 kg", 1, 1), monograph)
    prep = dataclasses.replace(prep, order=dataclasses.replace(prep.order, calculation=child))
    steps = " ".join(step.text for step in build(prep, monograph).dilution_steps)
    assert "4 mL mark (about 2.5 mL)" in steps and "2.6" not in steps


def test_a_sheet_shows_a_transplant_plan_only_for_a_drug_whose_limit_it_changes():
    """A MYLOTARG sheet read 'HSCT: not planned': no MYLOTARG rule asks for one (its monograph gives no
    cycle limit with a transplant); a BESPONSA sheet keeps the row."""
    from infusion_app.domain import course as course_rules
    from infusion_app.reports.demo import demo_sheet_data
    from tests.drugs import BESPONSA, MYLOTARG

    fractionated = MYLOTARG.with_regimen("fractionated")
    assert [r.label for r in demo_sheet_data(monograph=fractionated).course] == ["Course"]
    assert "HSCT" in [r.label for r in demo_sheet_data(monograph=BESPONSA).course]
    kept = course_rules.new_course("MRN7", False, monograph=MYLOTARG, regimen="fractionated")
    course_rules.record_blasts(kept, 100, date(2026, 3, 1), date(2026, 3, 1))
    course_rules.start_cycle(kept, date(2026, 3, 2), date(2026, 3, 2), monograph=MYLOTARG)
    status = course_rules.course_status(kept, date(2026, 3, 2), MYLOTARG)
    data = build(demo_preparation(fractionated), fractionated, course_info=status)
    assert "HSCT" not in [r.label for r in data.course] and data.course


def test_a_vials_expiry_time_is_printed_with_its_date_in_local_time(monograph):
    """The sheet printed a vial's expiry date only: a vial whose code (AI 7003) gave 10:00 read as good all day."""
    from infusion_app.domain.records import VialRecord

    prep = demo_preparation(monograph)
    timed = VialRecord("LT7003", date(2027, 8, 31), expires_at=datetime(2027, 8, 31, 14, 0, tzinfo=timezone.utc))
    prep = dataclasses.replace(prep, vials=[timed, *prep.vials[1:]])
    lines = build(prep, monograph).vials
    assert lines[0].expiry == "2027-08-31 10:00 EDT"  # 14:00 UTC on the New York sheet
    assert all(line.expiry == "2027-08-31" for line in lines[1:])  # a date alone: its last day of use


def test_one_vial_is_reconstituted_as_the_vial_not_each_of_1_vial():
    from tests.drugs import MYLOTARG

    drug = MYLOTARG.with_regimen("fractionated")
    data = build(demo_preparation(drug), drug)
    first = data.reconstitution_steps[0].text
    assert first.startswith("Reconstitute the vial (4.5 mg) with 5 mL") and "each of 1" not in first, first
    two = build(demo_preparation(load_monograph("inotuzumab-ozogamicin")), load_monograph("inotuzumab-ozogamicin")).reconstitution_steps[0].text
    assert two.startswith("Reconstitute each of 2 vials (0.9 mg) with 4 mL"), two


def test_a_vial_expiring_before_the_latest_start_moves_the_start_by_and_is_in_the_timeline(monograph):
    """A vial past its expiry stops the start of the infusion (every step using the product), but
    the sheet and the label gave the label limits' latest start alone, hours after the vial's expiry."""
    from infusion_app.domain.records import VialRecord
    from infusion_app.reports.label import label_lines

    prep = demo_preparation(monograph)  # reconstituted 09:00 UTC: the label limits' latest start is hours later
    early = VialRecord("LT7003", date(2026, 3, 10), expires_at=RECONSTITUTED_AT + timedelta(minutes=90))
    data = build(dataclasses.replace(prep, vials=[early, *prep.vials[1:]]), monograph)
    assert data.do_not_start_after == "2026-03-10 06:30 EDT (vial expiry)"
    [row] = [r for r in data.timeline if r.label == "Vials expire"]
    assert row.at == "2026-03-10 06:30 EDT" and "LT7003" in row.rule and row.state == "ok"
    [start] = [r for r in data.timeline if r.label.startswith("Do not start after")]
    assert start.at == "2026-03-10 06:30 EDT (vial expiry)"  # the sheet and the label agree
    assert any("DO NOT START AFTER 2026-03-10 06:30 EDT (vial expiry)" in line.text.replace("\u00a0", " ") for line in label_lines(data))
    # Vials in date long after the infusion's end change nothing.
    later = build(prep, monograph)
    assert "vial expiry" not in later.do_not_start_after and all(r.label != "Vials expire" for r in later.timeline)


def test_the_whole_bag_as_supplied_is_set_off_from_the_vehicles_name():
    """'Add it to 0.9% Sodium Chloride Injection the whole 50 mL bag as supplied for a total of 54.5 mL'
    read as one run-on name."""
    from tests.drugs import MYLOTARG

    drug = MYLOTARG.with_regimen("fractionated")
    data = build(demo_preparation(drug), drug)
    add = next(step.text for step in data.dilution_steps if step.text.startswith("Add it to"))
    assert "Injection (the whole 50 mL bag as supplied) for a total of 54.5 mL" in add, add
