"""`infusion-prep calc`: the contract other tools depend on (in-process; tests/test_cli_process.py runs real processes)."""

from __future__ import annotations

import pytest

from tests.cli_helpers import assert_clean_invalid, run_cli

REQUIRED_KEYS = {
    "bsa_m2",
    "bsa_formula",
    "dose_mg_per_m2",
    "dose_mg",
    "vials",
    "withdraw_ml",
    "final_volume_ml",
    "nacl_ml",
    "final_concentration_mg_per_ml",
    "discarded_mg",
    "hcpcs",
    "billing_units_administered",
    "billing_units_discarded",
    "billing_modifier",
    "warnings",
    "hard_stops",
}


def test_json_holds_the_contract_fields():
    result = run_cli("calc", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert REQUIRED_KEYS <= set(data)
    assert (data["bsa_m2"], data["bsa_formula"], data["dose_mg"], data["vials"], data["withdraw_ml"]) == (1.82, "mosteller", 1.45, 2, 5.8)
    assert (data["billing_units_administered"], data["billing_units_discarded"], data["billing_modifier"]) == (15, 3, "JW")
    assert data["hard_stops"] == [] and isinstance(data["warnings"], list)


def test_us_units_formula_and_reduction():
    result = run_cli(
        "calc",
        "--height",
        "5 ft 7 in",
        "--weight",
        "154 lb",
        "--cycle",
        "2",
        "--day",
        "1",
        "--response",
        "none",
        "--formula",
        "dubois",
        "--reduce-pct",
        "25",
        "--json",
    )
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["bsa_formula"] == "dubois" and data["dose_mg_per_m2"] == 0.6


def test_readable_summary_without_json():
    result = run_cli("calc", "--height", "180 cm", "--weight", "80 kg", "--cycle", "1", "--day", "8")
    assert result.code == 0
    assert "BSA 2 m² (Mosteller" in result.stdout and "Dose 0.5 mg/m² × 2 m² = 1 mg" in result.stdout


def test_hard_stop_exits_1_and_still_prints_the_json():
    # Under 1 year at the dose: the label's age limit.
    result = run_cli(
        "calc", "--height", "70 cm", "--weight", "8 kg", "--cycle", "1", "--day", "8", "--dob", "2026-03-01", "--dose-date", "2026-12-01", "--json"
    )
    assert result.code == 1
    data = result.json()
    assert data["hard_stops"] and "not established" in data["hard_stops"][0] and data["age_years"] == 0


def test_a_childs_syringe_dose_through_the_command():
    result = run_cli(
        "calc", "--height", "90 cm", "--weight", "12 kg", "--cycle", "1", "--day", "8", "--dob", "2022-05-01", "--dose-date", "2026-12-01", "--json"
    )
    assert result.code == 0, result.stderr
    data = result.json()
    assert (data["container"], data["final_volume_ml"], data["infusion_rate_ml_per_hour"], data["age_years"]) == ("syringe", 3.0, 3.0, 4)
    text = run_cli("calc", "--height", "90 cm", "--weight", "12 kg", "--cycle", "1", "--day", "8")
    assert "to the 3 mL mark (about 1.9 mL), by syringe pump at 3 mL/hour" in text.stdout


def test_a_bad_date_of_birth_is_invalid_input():
    result = run_cli("calc", "--height", "90 cm", "--weight", "12 kg", "--cycle", "1", "--day", "8", "--dob", "2022-13-01")
    assert result.code == 2 and "dob" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--height", "170", "--weight", "70 kg", "--cycle", "1", "--day", "1"], "height"),
        (["--height", "170 cm", "--weight", "70 cm", "--cycle", "1", "--day", "1"], "weight"),
        (["--height", "170 cm", "--weight", "-70 kg", "--cycle", "1", "--day", "1"], "weight"),
        (["--height", "nan cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"], "height"),
        (["--height", "170 cm", "--weight", "70 kg", "--cycle", "9", "--day", "1"], "cycle"),
        (["--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "3"], "day"),
        (["--height", "170 cm", "--weight", "70 kg", "--cycle", "2", "--day", "1"], "response"),
        (["--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1", "--response", "pr"], "--response"),
        (["--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1", "--formula", "x"], "--formula"),
        (["--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1", "--reduce-pct", "abc"], "reduce-pct"),
        (["--weight", "70 kg", "--cycle", "1", "--day", "1"], "--height"),
    ],
)
def test_invalid_input_exits_2_with_one_line_naming_the_field(args, field):
    assert_clean_invalid(run_cli("calc", *args, "--json"), field)


def test_version_names_the_monograph_revision():
    result = run_cli("--version")
    assert result.code == 0 and "monograph inotuzumab-ozogamicin revision" in result.stdout


def test_a_calculation_without_typed_dates_loads_no_course_rules():
    # Start-up cost (issue 19): the course rules are imported only to read a --dob or --dose-date.
    import subprocess
    import sys

    code = (
        "import sys, io, contextlib\n"
        "from infusion_app.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['calc', '--drug', 'inotuzumab-ozogamicin', '--height', '170 cm', '--weight', '70 kg', '--cycle', '1', '--day', '1'])\n"
        "print('infusion_app.domain.course' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


# What a calculation has no use for (issue 19: `calc` at most 4x `python -c pass`): the coverage rules
# (a stored order's decision only), the records (their enums and dataclasses, for a patient's
# identifiers), importlib.resources (zipfile, tempfile, threading: the data folder is a plain folder)
# and shutil (argparse asked it the terminal's width for every argument added).
NOT_FOR_A_CALCULATION = ("infusion_app.domain.coverage", "infusion_app.domain.records", "importlib.resources", "zipfile", "tempfile", "shutil")


def test_a_calculation_loads_no_coverage_rules_records_or_resource_readers():
    import subprocess
    import sys

    code = (
        "import sys, io, contextlib\n"
        "from infusion_app.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['calc', '--drug', 'inotuzumab-ozogamicin', '--height', '170 cm', '--weight', '70 kg', '--cycle', '1', '--day', '1']) == 0\n"
        f"print(sorted(m for m in {NOT_FOR_A_CALCULATION!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_data_folder_is_the_one_importlib_resources_gives():
    from importlib import resources

    from infusion_app.domain.resources import resource_path

    assert resource_path("monographs") == resources.files("infusion_app.resources").joinpath("monographs")
    assert type(resource_path("site-defaults.toml")) is type(resources.files("infusion_app.resources").joinpath("site-defaults.toml"))


def test_version_reads_each_monographs_meta_table_as_the_whole_file_gives_it():
    from infusion_app.cli import meta_table
    from infusion_app.domain.resources import installed_monograph_ids, load_toml, resource_path

    for monograph_id in installed_monograph_ids():
        path = resource_path("monographs", f"{monograph_id}.toml")
        assert meta_table(path) == load_toml(path)["meta"]


def test_the_syringe_paths_saline_is_shown_to_the_marks_of_the_syringe_it_is_read_on():
    # 80 cm, 10 kg, Day 8: 0.96 mL drawn, 2.5 mL in all; the saline is 1.54 mL, which no syringe on the
    # bench reads: it is added to the 2.5 mL mark of the 3 mL syringe (0.1 mL marks), about 1.5 mL.
    data = run_cli("calc", "--height", "80 cm", "--weight", "10 kg", "--cycle", "1", "--day", "8", "--json").json()
    assert (data["withdraw_ml"], data["final_volume_ml"], data["nacl_ml"], data["nacl_about_ml"]) == (0.96, 2.5, 1.54, 1.5)
    text = run_cli("calc", "--height", "80 cm", "--weight", "10 kg", "--cycle", "1", "--day", "8").stdout
    assert "to the 2.5 mL mark (about 1.5 mL)" in text and "1.54" not in text
    bag = run_cli("calc", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1", "--json").json()
    assert "nacl_about_ml" not in bag
    # Day 1: 1.5 mL drawn to the 4 mL mark: 2.5 mL of saline, which the 3 mL syringe reads exactly (not 2.6 mL).
    day1 = run_cli("calc", "--height", "80 cm", "--weight", "10 kg", "--cycle", "1", "--day", "1")
    assert "to the 4 mL mark (about 2.5 mL)" in day1.stdout


def test_text_output_names_the_drug_its_id_and_the_regimen():
    """Reviewer: the text output named neither the drug nor the regimen (the JSON has 'regimen'): a
    dose read off the screen could be taken for the other conjugate's."""
    mylotarg = run_cli(
        "calc", "--drug", "gemtuzumab-ozogamicin", "--regimen", "fractionated", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"
    )
    assert mylotarg.code == 0, mylotarg.stderr
    first, second = mylotarg.stdout.splitlines()[:2]
    assert first == "Drug MYLOTARG (gemtuzumab ozogamicin); id gemtuzumab-ozogamicin", first
    assert second.startswith("Regimen fractionated, with chemotherapy: 3 mg/m²") and second.endswith("; id fractionated"), second
    besponsa = run_cli("calc", "--drug", "inotuzumab-ozogamicin", "--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1")
    assert besponsa.code == 0, besponsa.stderr
    lines = besponsa.stdout.splitlines()
    assert lines[0] == "Drug BESPONSA (inotuzumab ozogamicin); id inotuzumab-ozogamicin" and not any(line.startswith("Regimen") for line in lines)
