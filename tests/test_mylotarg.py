"""Issue 17: the drug is a parameter. MYLOTARG (gemtuzumab ozogamicin) from its monograph alone,
through the command line, beside BESPONSA whose output does not change."""

from __future__ import annotations

import dataclasses

import pytest

from infusion_app.domain.errors import ValidationError
from infusion_app.domain.monograph import installed_monographs, load_monograph, resolve_drug
from infusion_app.service.ids import new_preparation_id, normalize_preparation_id
from tests.cli_helpers import assert_clean_invalid, run_cli

MYL = ("--drug", "gemtuzumab-ozogamicin")


def calc(*args: str):
    return run_cli("calc", *MYL, "--cycle", "1", "--json", *args)


def test_drugs_lists_every_monograph_with_id_names_and_revision():
    result = run_cli("drugs", "--json")
    assert result.code == 0, result.stderr
    drugs = {d["id"]: d for d in result.json()["drugs"]}
    assert set(drugs) == {"inotuzumab-ozogamicin", "gemtuzumab-ozogamicin"}
    assert drugs["gemtuzumab-ozogamicin"]["brand_name"] == "MYLOTARG"
    assert drugs["gemtuzumab-ozogamicin"]["regimens"] == ["fractionated", "single-agent"]
    assert drugs["inotuzumab-ozogamicin"]["monograph_revision"] == load_monograph("inotuzumab-ozogamicin").revision
    assert "MYLOTARG" in run_cli("drugs").stdout


def test_fractionated_dose_is_capped_at_one_vial_drawn_whole():
    # 170 cm, 70 kg: BSA 1.82 m² x 3 mg/m² = 5.46 mg, over the 4.5 mg cap.
    result = calc("--regimen", "fractionated", "--day", "4", "--height", "170 cm", "--weight", "70 kg")
    assert result.code == 0, result.stderr
    c = result.json()
    assert (c["calculated_dose_mg"], c["dose_mg"], c["dose_cap_mg"], c["regimen"]) == (5.46, 4.5, 4.5, "fractionated")
    assert (c["vials"], c["vial_mg"], c["reconstitution_ml_per_vial"], c["withdraw_ml"]) == (1, 4.5, 5.0, 4.5)
    assert (c["container"], c["final_volume_ml"], c["nacl_ml"], c["final_concentration_mg_per_ml"]) == (
        "bag",
        54.5,
        50.0,
        0.0826,
    )  # issue 16: the whole 50 mL bag plus 4.5 mL
    assert (c["hcpcs"], c["billing_units_administered"], c["billing_units_discarded"], c["billing_modifier"]) == ("J9203", 45, 0, "JZ")
    assert (c["infusion_duration_hours"], c["infusion_rate_ml_per_hour"]) == (2.0, 27.3)  # issue 16: 54.5 mL measured over 2 hours
    assert c["monograph_id"] == "gemtuzumab-ozogamicin"


def test_single_agent_day_1_is_not_capped_and_a_large_dose_takes_a_larger_bag():
    # 190 cm, 110 kg: BSA 2.41 m² x 6 mg/m² = 14.46 mg: the whole 50 mL bag plus 14.46 mL is 0.2243 mg/mL,
    # within 0.234 (before the bag was chosen on what is made, 14.46 / 50 sent it to 100 mL, 0.1263 mg/mL).
    c = calc("--regimen", "single-agent", "--day", "1", "--height", "190 cm", "--weight", "110 kg").json()
    assert c["calculated_dose_mg"] == 14.46 and "dose_cap_mg" not in c
    assert c["vials"] == 4 and c["container"] == "bag" and c["final_volume_ml"] == 64.46
    assert c["final_concentration_mg_per_ml"] == 0.2243
    # 200 cm, 120 kg: BSA 2.58 m² x 6 = 15.48 mg: 15.48 / 65.48 = 0.2364, over 0.234, so the whole 100 mL bag.
    c = calc("--regimen", "single-agent", "--day", "1", "--height", "200 cm", "--weight", "120 kg").json()
    assert c["calculated_dose_mg"] == 15.48 and c["final_volume_ml"] == 115.48  # issue 16: the whole 100 mL bag plus 15.48 mL
    assert 0.075 <= c["final_concentration_mg_per_ml"] <= 0.234
    day8 = calc("--regimen", "single-agent", "--day", "8", "--height", "190 cm", "--weight", "110 kg").json()
    assert day8["standard_mg_per_m2"] == 3.0


def test_a_dose_under_3_9_mg_is_given_by_syringe():
    # 120 cm, 25 kg: BSA 0.91 m² x 3 = 2.73 mg = 2.73 mL; the 3 mL syringe's 2.7 mL would be -1.1%, beyond the
    # draw tolerance: 2.7 mL on the 3 mL syringe + 0.03 mL on the 1 mL syringe; 2.73 / 0.234 -> 12 mL.
    c = calc("--regimen", "fractionated", "--day", "1", "--height", "120 cm", "--weight", "25 kg").json()
    assert (c["container"], c["dose_mg"], c["final_volume_ml"]) == ("syringe", 2.73, 12.0)
    assert sum(part["volume_ml"] for part in c["draw_parts"]) == pytest.approx(2.73)
    assert c["concentration_min_mg_per_ml"] == 0.075 and c["concentration_max_mg_per_ml"] == 0.234
    assert any("under 3.9 mg is given by syringe" in w for w in c["warnings"])


@pytest.mark.parametrize(
    "args, field",
    [
        (("--day", "1"), "--regimen"),  # no regimen
        (("--regimen", "weekly", "--day", "1"), "--regimen"),
        (("--regimen", "fractionated", "--day", "8"), "day"),  # not a fractionated dose day
        (("--regimen", "fractionated", "--day", "1", "--response", "cr"), "--response"),
        (("--regimen", "fractionated", "--day", "1", "--reduce-pct", "25"), "reduce-pct"),
    ],
)
def test_mylotarg_refuses_what_does_not_apply_to_it(args, field):
    result = calc("--height", "170 cm", "--weight", "70 kg", *args)
    assert result.code == 2 and f"invalid {field}:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("calc", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"),
        ("schedule", "--cycle", "1", "--start", "2026-12-01"),
        ("sheet", "--demo", "--out", "{out}/sheet.pdf"),
        ("label", "--demo", "--out", "{out}/label.pdf"),
        ("course", "new", "MRN-9", "--hsct", "no", "--user", "paul", "--data-dir", "{out}/data"),
        (
            "prep",
            "new",
            "--patient-name",
            "Doe, Jane",
            "--mrn",
            "M1",
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
            "tina",
            "--data-dir",
            "{out}/data",
        ),
    ],
)
def test_every_command_names_the_regimen_option_and_an_example(command, tmp_path):
    """Reviewer: `sheet --demo --drug gemtuzumab-ozogamicin` without --regimen said "invalid regimen:"
    while the other options' errors name the option ("invalid --drug:", "invalid --response:"); so did
    calc, schedule, label --demo, course new and prep new. Each names --regimen and gives an example."""
    argv = [a.replace("{out}", str(tmp_path)) for a in command]
    missing = run_cli(*argv, *MYL)
    assert missing.code == 2 and "Traceback" not in missing.stderr
    assert "invalid --regimen: MYLOTARG is dosed by regimen: give one of fractionated, single-agent (e.g. --regimen fractionated)" in missing.stderr
    wrong = run_cli(*argv, *MYL, "--regimen", "weekly")
    assert wrong.code == 2 and "invalid --regimen: 'weekly' is not a regimen of MYLOTARG" in wrong.stderr and "(e.g. --regimen fractionated)" in wrong.stderr
    besponsa = run_cli(*argv, "--drug", "inotuzumab-ozogamicin", "--regimen", "fractionated")
    assert besponsa.code == 2 and "invalid --regimen: BESPONSA has no regimens" in besponsa.stderr and "leave --regimen out" in besponsa.stderr
    unknown = run_cli(*argv, "--drug", "nope")
    assert unknown.code == 2 and "invalid --drug: 'nope' is not an installed drug" in unknown.stderr and "(e.g. --drug gemtuzumab-ozogamicin)" in unknown.stderr
    assert not list(tmp_path.glob("*.pdf"))


def test_an_unknown_drug_and_a_regimen_for_besponsa_are_refused():
    unknown = run_cli("calc", "--drug", "nope", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1")
    assert unknown.code == 2 and "invalid --drug:" in unknown.stderr and "gemtuzumab-ozogamicin" in unknown.stderr
    besponsa = run_cli(
        "calc", "--drug", "inotuzumab-ozogamicin", "--regimen", "fractionated", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"
    )
    assert besponsa.code == 2 and "invalid --regimen:" in besponsa.stderr and "leave --regimen out" in besponsa.stderr


def test_besponsa_named_is_unchanged():
    named = run_cli("calc", "--drug", "inotuzumab-ozogamicin", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1", "--json")
    assert named.code == 0
    c = named.json()
    assert c["dose_mg"] == 1.45 and c["hcpcs"] == "J9229" and "regimen" not in c and "dose_cap_mg" not in c


def test_several_drugs_installed_and_none_named_is_ambiguous():
    # No default drug, not even a site's (issue 17 contract): BESPONSA and MYLOTARG look and sound alike.
    result = run_cli("calc", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1", implicit_drug=False)
    assert_clean_invalid(result, "--drug")
    assert "several drugs are installed (gemtuzumab-ozogamicin, inotuzumab-ozogamicin); name one, e.g. --drug " in result.stderr
    with pytest.raises(ValidationError):
        resolve_drug(None)
    assert resolve_drug("MYLOTARG") == "gemtuzumab-ozogamicin"


def test_no_monograph_is_loaded_by_default():
    with pytest.raises(TypeError):
        load_monograph()  # type: ignore[call-arg]
    assert {m.id for m in installed_monographs()} == {"inotuzumab-ozogamicin", "gemtuzumab-ozogamicin"}


def test_mylotarg_deadlines_count_the_infusion_in_the_diluted_room_limit():
    # Reconstituted 09:00, diluted 10:00 at room temperature: 6 h including the 2 h infusion.
    result = run_cli("deadlines", *MYL, "--reconstituted", "2026-12-01T09:00Z", "--diluted", "2026-12-01T10:00Z", "--diluted-storage", "room", "--json")
    assert result.code == 0, result.stderr
    by_key = {d["key"]: d for d in result.json()["deadlines"]}
    assert by_key["dilute_by"]["at"] == "2026-12-01T12:00:00+00:00"  # 3 h
    assert by_key["start_infusion_by"]["at"] == "2026-12-01T14:00:00+00:00"  # 10:00 + 6 h - 2 h
    assert by_key["end_infusion_by"]["at"] == "2026-12-01T16:00:00+00:00"  # 10:00 + 6 h
    assert by_key["end_infusion_by"]["pending_review"] is True
    besponsa = run_cli("deadlines", "--reconstituted", "2026-12-01T09:00Z", "--diluted", "2026-12-01T10:00Z", "--diluted-storage", "room", "--json").json()
    assert {d["key"]: d["at"] for d in besponsa["deadlines"]}["end_infusion_by"] == "2026-12-01T17:00:00+00:00"


def test_preparation_ids_carry_the_drugs_prefix_with_the_same_check_character():
    mylotarg = new_preparation_id(load_monograph("gemtuzumab-ozogamicin").id_prefix)
    assert mylotarg.startswith("MYL-") and normalize_preparation_id(mylotarg.lower().replace("-", "")) == mylotarg
    besponsa = new_preparation_id(load_monograph("inotuzumab-ozogamicin").id_prefix)
    assert besponsa.startswith("BSP-") and normalize_preparation_id(besponsa.replace("-", "")) == besponsa
    with pytest.raises(ValidationError):
        normalize_preparation_id(mylotarg[:-1] + ("2" if mylotarg[-1] != "2" else "3"))


def test_schedule_plans_the_regimens_dose_days():
    fractionated = run_cli("schedule", *MYL, "--regimen", "fractionated", "--cycle", "1", "--start", "2027-01-04", "--json")
    assert fractionated.code == 0, fractionated.stderr
    doses = fractionated.json()["doses"]
    assert [(d["day"], d["planned"], d["mg_per_m2"]) for d in doses] == [(1, "2027-01-04", 3.0), (4, "2027-01-07", 3.0), (7, "2027-01-10", 3.0)]
    single = run_cli("schedule", *MYL, "--regimen", "single-agent", "--cycle", "1", "--start", "2027-01-04", "--given", "8=2027-01-12", "--json")
    assert single.code == 1 and [d["mg_per_m2"] for d in single.json()["doses"]] == [6.0, 3.0]
    assert run_cli("schedule", *MYL, "--cycle", "1", "--start", "2027-01-04").code == 2


def test_what_a_deadline_governs_is_read_from_the_monograph(tmp_path):
    from infusion_app.domain.deadlines import met_by
    from infusion_app.domain.errors import DataFileError
    from infusion_app.domain.preparation import EVERYONE, PREPARERS, alarm_acknowledgers
    from infusion_app.domain.records import EventType
    from infusion_app.domain.resources import resource_path

    shipped = load_monograph("inotuzumab-ozogamicin")
    assert alarm_acknowledgers("end_infusion_by", shipped, dispensed=True) == EVERYONE
    assert alarm_acknowledgers("dilute_by", shipped, dispensed=True) == PREPARERS
    assert met_by("bag_from_fridge_by", shipped) == {EventType.BAG_FROM_FRIDGE, EventType.INFUSION_STARTED}
    text = resource_path("monographs", "inotuzumab-ozogamicin.toml").read_text(encoding="utf-8")
    changed = tmp_path / "changed.toml"
    changed.write_text(
        text.replace(
            'end_infusion_by = { met_by = ["infusion-ended"], blocks_until = "infusion-ended" }',
            'end_infusion_by = { met_by = ["infusion-ended"], blocks_until = "dispensed" }',
        ),
        encoding="utf-8",
    )
    assert alarm_acknowledgers("end_infusion_by", load_monograph(str(changed)), dispensed=True) == PREPARERS
    missing = tmp_path / "missing.toml"
    missing.write_text(text.replace('observe_until = { holds = "observation-ended" }\n', ""), encoding="utf-8")
    with pytest.raises(DataFileError, match="observe_until"):
        load_monograph(str(missing)).deadline_rule("observe_until")


def test_course_new_takes_the_drug_and_a_regimen_drug_needs_its_regimen(tmp_path):
    # A MYLOTARG course is kept (tests/test_cli_course_mylotarg.py); without its regimen it is refused.
    result = run_cli("course", "new", "MRN-9", "--hsct", "no", *MYL, "--user", "paul", "--data-dir", str(tmp_path))
    assert result.code == 2 and "invalid --regimen: MYLOTARG is dosed by regimen" in result.stderr
    unknown = run_cli("course", "new", "MRN-9", "--hsct", "no", "--drug", "x", "--user", "paul", "--data-dir", str(tmp_path))
    assert unknown.code == 2 and "invalid --drug:" in unknown.stderr


def test_the_sheet_and_label_of_a_mylotarg_preparation_name_its_regimen_and_cap_and_no_other_drug():
    import io

    from infusion_app.reports import demo
    from infusion_app.reports.label import render_bag_label
    from infusion_app.reports.model import SheetData
    from infusion_app.reports.sheet import render_prep_sheet

    drug = load_monograph("gemtuzumab-ozogamicin").with_regimen("fractionated")
    prep = demo.demo_preparation(drug)
    data = SheetData.from_preparation(
        prep,
        load_monograph(prep.monograph_id),
        demo.deadlines_for(prep, drug, demo.PRINTED_AT),
        printed_at=demo.PRINTED_AT,
        program_version="x",
        course_info={},
        policy_decision=None,
    )
    rows = {row.label: row.value for row in data.order}
    assert rows["Regimen"].startswith("fractionated") and "Response" not in rows
    assert rows["Dose"].endswith("capped at 4.5 mg per dose")
    assert (data.brand_name, data.route_rate) == ("Mylotarg", "IV over 2 hours at 27.3 mL/h")  # issue 16: 54.5 mL over 2 hours
    text = repr(dataclasses.asdict(data))
    assert not [w for w in ("BESPONSA", "Besponsa", "inotuzumab", "J9229", "CR/CRi", "(not required)") if w in text]
    assert "In-line filter (required)" in text
    render_prep_sheet(data, io.BytesIO())
    render_bag_label(data, io.BytesIO())
    # The bag says it too: the nurse hangs the bag, not the sheet (hostile review M11).
    from infusion_app.reports.label import label_lines

    assert any("IN-LINE FILTER" in line.text and "polyethersulfone" in line.text for line in label_lines(data))
    besponsa = demo.demo_preparation(load_monograph("inotuzumab-ozogamicin"))
    plain = SheetData.from_preparation(
        besponsa,
        load_monograph(besponsa.monograph_id),
        demo.deadlines_for(besponsa, load_monograph(besponsa.monograph_id), demo.PRINTED_AT),
        printed_at=demo.PRINTED_AT,
        program_version="x",
        course_info={},
        policy_decision=None,
    )
    assert not any("IN-LINE FILTER" in line.text for line in label_lines(plain))
