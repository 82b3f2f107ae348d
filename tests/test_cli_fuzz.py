"""Fuzzed arguments to the headless commands: whatever is typed, the command answers with an exit
code it documents (0, 1 or 2), never a traceback, and an invalid input is one line on stderr.

The values mix what a person or a script really passes (numbers with units, dates, flags with the
wrong value) with hostile text (control characters, Unicode digits, huge numbers, empty strings).
"""

from __future__ import annotations

from tests.drugs import BESPONSA

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infusion_app.cli.prep import RECORDABLE
from tests.cli_helpers import run_cli

NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e308", "-0", "0x10", "1_0", "٣", "１７０", "nan", "inf", "", " ", "1/0", "½"]),
)
UNITS = st.sampled_from(["", " cm", " in", " kg", " lb", " m", " ft 7 in", " st", " mg", " mL", "cm", " meters", " K"])
MEASURES = st.one_of(st.builds(lambda n, u: n + u, NUMBERS, UNITS), st.text(max_size=30))
INSTANTS = st.one_of(
    st.sampled_from(
        [
            "2026-11-27T09:00+01:00",
            "2026-11-27T09:00",
            "2026-W48-5T09:00Z",
            "2026-331T09:00Z",
            "20261127T0900+0100",
            "2026-02-30T09:00Z",
            "2026-11-27T09:00+25:00",
            "9999-12-31T23:59Z",
            "0001-01-01T00:00Z",
            "yesterday",
            "",
            "2026-11-27T24:00Z",
        ]
    ),
    st.datetimes().map(lambda d: d.isoformat()),
    st.text(max_size=25),
)
DATES = st.one_of(st.dates().map(str), st.sampled_from(["2026-02-29", "2026-13-01", "0000-01-01", "today", ""]), st.text(max_size=12))
SMALL = st.one_of(st.integers(-5, 40).map(str), NUMBERS)
CHOICES = st.one_of(
    st.sampled_from(
        [
            "cr",
            "cri",
            "pr",
            "none",
            "dupont",
            "mosteller",
            "fractionated",
            "single-agent",
            "room",
            "fridge",
            "relapsed",
            "refractory",
            "positive",
            "negative",
            "yes",
            "no",
            "inotuzumab-ozogamicin",
            "gemtuzumab-ozogamicin",
            "BESPONSA",
        ]
    ),
    st.text(max_size=15),
)

OPTIONS = {
    "calc": {
        "--drug": CHOICES,
        "--regimen": CHOICES,
        "--height": MEASURES,
        "--weight": MEASURES,
        "--cycle": SMALL,
        "--day": SMALL,
        "--response": CHOICES,
        "--formula": CHOICES,
        "--reduce-pct": SMALL,
        "--dob": DATES,
        "--dose-date": DATES,
    },
    "coverage": {
        "--age": SMALL,
        "--icd10": st.one_of(st.sampled_from(["C91.00", "Z51.11,C91.00", "C91.0", "c9100", ",,"]), st.text(max_size=20)),
        "--disease-status": CHOICES,
        "--cd22-percent": SMALL,
        "--ph": CHOICES,
        "--tki-failed": CHOICES,
        "--chemo-failed": CHOICES,
    },
    "deadlines": {
        "--reconstituted": INSTANTS,
        "--diluted": INSTANTS,
        "--diluted-storage": CHOICES,
        "--bag-from-fridge": INSTANTS,
        "--infusion-minutes": SMALL,
        "--drug": CHOICES,
        "--now": INSTANTS,
    },
    "schedule": {"--drug": CHOICES, "--regimen": CHOICES, "--cycle": SMALL, "--start": DATES, "--response": CHOICES, "--given": SMALL},
}
FLAGS = {"calc": ["--json"], "coverage": ["--json"], "deadlines": ["--json"], "schedule": ["--json", "--extend-to-28"]}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    names = draw(st.lists(st.sampled_from(sorted(OPTIONS[command])), unique=True, max_size=len(OPTIONS[command])))
    args = [command]
    for name in names:
        value = draw(OPTIONS[command][name])
        # "--x=VALUE" keeps a value that starts with "-" a value, as scripts pass it.
        args.append(f"{name}={value}" if draw(st.booleans()) else name)
        if not args[-1].startswith(f"{name}="):
            args.append(value)
    args += draw(st.lists(st.sampled_from(FLAGS[command]), unique=True))
    return args


@given(command_lines())
def test_any_arguments_give_a_documented_exit_code_and_never_a_traceback(args):
    result = run_cli(*args)
    assert result.code in (0, 1, 2), (args, result.code, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, (args, result.stderr[-2000:])
    if result.code == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines, (args, "exit 2 without saying why")
        # argparse's own usage errors print the usage line first; the program's own refusals are one line.
        assert len(lines) == 1 or lines[0].startswith("usage:"), (args, result.stderr)
        assert all(len(line) <= 400 for line in lines), (args, result.stderr)
    if result.code in (0, 1):
        assert result.stdout.strip(), (args, "answered with nothing on stdout")


EVENTS = list(RECORDABLE)
RECORD_OPTIONS = {
    "--at": INSTANTS,
    "--storage": CHOICES,
    "--reason": st.text(max_size=40),
    "--drug-class": CHOICES,
    "--drug": CHOICES,
    "--dose": MEASURES,
    "--corrects": SMALL,
    "--confirm-name": st.text(max_size=30),
    "--confirm-dob": DATES,
    "--confirm-mrn": st.text(max_size=15),
    "--check-mrn": st.text(max_size=15),
    "--check-height": MEASURES,
    "--check-weight": MEASURES,
    "--check-dose-mg": SMALL,
    "--check-volume-ml": SMALL,
    "--deviation-reason": st.text(max_size=40),
    "--override-by": st.sampled_from(["Phil Pharm", "Tess Tech", "Nobody", ""]),
    "--override-reason": st.text(max_size=40),
}
RECORD_FLAGS = ["--downtime", "--other", "--dose-checked", "--json"]


@pytest.fixture(scope="module")
def stored_preparation(tmp_path_factory):
    """A data folder with a technician, two pharmacists, a nurse and one preparation, shared by the examples."""
    from datetime import date

    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import Patient, Role
    from infusion_app.service import open_service

    folder = tmp_path_factory.mktemp("fuzz-stored")
    with open_service(data_dir=folder) as service:
        phil = service.add_user("Phil Pharm", Role.PHARMACIST, "222222")
        service.add_user("Vera Verify", Role.PHARMACIST, "909090", actor=phil)
        tess = service.add_user("Tess Tech", Role.TECHNICIAN, "111111", actor=phil)
        service.add_user("Nora Nurse", Role.NURSE, "444444", actor=phil)
        prep = service.create_preparation(Patient("Ada Lovelace", "MRN1001", date(1970, 3, 4)), DoseOrder("170 cm", "70 kg", 1, 1), tess, monograph=BESPONSA)
    return folder, prep.id


@st.composite
def record_lines(draw):
    args = [draw(st.sampled_from(EVENTS))]
    for name in draw(st.lists(st.sampled_from(sorted(RECORD_OPTIONS)), unique=True, max_size=5)):
        args.append(f"{name}={draw(RECORD_OPTIONS[name])}")
    args += draw(st.lists(st.sampled_from(RECORD_FLAGS), unique=True))
    user, pin = draw(st.sampled_from([("Tess Tech", "111111"), ("Phil Pharm", "222222"), ("Nora Nurse", "444444"), ("Vera Verify", "000000")]))
    return args, user, pin


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record_lines())
def test_any_step_arguments_on_a_stored_preparation_never_crash(stored_preparation, line):
    folder, prep_id = stored_preparation
    args, user, pin = line
    result = run_cli(
        "prep", "record", prep_id, *args, "--user", user, "--data-dir", str(folder), env={"INFUSION_PREP_PIN": pin, "INFUSION_PREP_OVERRIDE_PIN": "909090"}
    )
    assert result.code in (0, 1, 2), (args, user, result.code, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, (args, result.stderr[-2000:])
    if result.code != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines, (args, "refused without saying why")
        assert len(lines) == 1 or lines[0].startswith("usage:"), (args, result.stderr)
