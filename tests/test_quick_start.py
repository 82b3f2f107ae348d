"""The headless commands start without pint, SQLAlchemy or reportlab (issue 19), and what stands
in for pint until it is needed answers exactly as pint does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.cli_helpers import with_drug
from hypothesis import given
from hypothesis import strategies as st

from infusion_app.domain import quantities
from infusion_app.domain.quantities import Quantity, has_dimension, registry, same_dimension

COMMANDS = {
    "calc": ["calc", "--height", "5 ft 7 in", "--weight", "154 lb", "--cycle", "2", "--day", "8", "--response", "cr"],
    "coverage": ["coverage", "--age", "45", "--icd10", "C91.00", "--cd22-percent", "80", "--ph", "negative"],
    "deadlines": ["deadlines", "--reconstituted", "2026-11-27T09:00Z", "--diluted", "2026-11-27T11:30Z", "--diluted-storage", "fridge"],
    "schedule": ["schedule", "--cycle", "1", "--start", "2026-12-20"],
}
HEAVY = ("pint", "sqlalchemy", "alembic", "reportlab", "PySide6", "tomllib")

PROBE = """
import json, sys, io, contextlib
from infusion_app.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "out": out.getvalue(), "loaded": [m for m in json.loads(sys.argv[2]) if m in sys.modules]}))
"""


def _probe(argv: list[str], cache: str) -> dict:
    env = {**os.environ, "INFUSION_PREP_CACHE_DIR": cache}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(with_drug(argv)), json.dumps(HEAVY)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_headless_command_imports_no_pint_database_or_pdf_library_once_its_units_are_known(command, tmp_path):
    first = _probe(COMMANDS[command], str(tmp_path))  # a first run asks pint and keeps its answers
    again = _probe(COMMANDS[command], str(tmp_path))
    assert again["loaded"] == []
    assert (again["code"], again["out"]) == (first["code"], first["out"])


def test_version_builds_no_subcommand(tmp_path):
    env = {**os.environ, "INFUSION_PREP_CACHE_DIR": str(tmp_path)}
    code = "import sys; from infusion_app.cli import main; main(['--version']); print(sorted(m for m in sys.modules if m.startswith('infusion_app.cli.')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.splitlines()[-1] == "['infusion_app.cli.common']", done.stdout + done.stderr


# -- the stand-in for pint's quantity -----------------------------------------------------------

UNITS = [
    "mg",
    "g",
    "mcg",
    "kg",
    "lb",
    "oz",
    "cm",
    "m",
    "inch",
    "foot",
    "mL",
    "L",
    "hour",
    "minute",
    "second",
    "day",
    "week",
    "year",
    "percent",
    "",
    "mg/m**2",
    "mg/mL",
    "mL/hour",
    "mg/kg",
    "m**2",
    "1/mm**3",
    "degC",
    "kelvin",
    "centimeter",
    "milligram",
]
MAGNITUDES = st.one_of(st.integers(min_value=-(10**6), max_value=10**6), st.floats(allow_nan=False, allow_infinity=False, width=64))


def _fresh_known(monkeypatch, tmp_path, keep_file: bool) -> None:
    """A stand-in that forgets what it learnt (keep_file: reads it back from its file)."""
    monkeypatch.setenv(quantities.CACHE_DIR_ENV, str(tmp_path))
    if keep_file:
        quantities._known.save()
    monkeypatch.setattr(quantities, "_known", quantities._Known())


def _pint_answer(call):
    try:
        return ("ok", call())
    except Exception as exc:  # noqa: BLE001 - the same error as pint's is the answer expected
        return ("error", type(exc).__name__, str(exc))


def _same(mine, theirs) -> None:
    if theirs[0] == "error":
        assert mine[:2] == theirs[:2], (mine, theirs)
        return
    assert mine[0] == "ok", mine
    value, expected = mine[1], theirs[1]
    if isinstance(expected, bool) or not hasattr(expected, "magnitude"):
        assert value == expected and type(value) is type(expected), (value, expected)
        return
    assert isinstance(value, Quantity) and type(value.magnitude) is type(expected.magnitude), (value, expected)
    assert value.magnitude == expected.magnitude or (value.magnitude != value.magnitude and expected.magnitude != expected.magnitude)
    assert str(value.units) == str(expected.units)


@given(magnitude=MAGNITUDES, other=MAGNITUDES, source=st.sampled_from(UNITS), target=st.sampled_from(UNITS))
def test_conversions_comparisons_and_sums_are_pints_to_the_last_bit(magnitude, other, source, target):
    pint_q = registry().Quantity

    def make(m, u):
        return pint_q(m, u) if u else pint_q(m)

    for _round in range(2):  # the first learns from pint, the second answers from what it learnt
        _same(_pint_answer(lambda: Quantity(magnitude, source).to(target)), _pint_answer(lambda: make(magnitude, source).to(target)))
        _same(_pint_answer(lambda: Quantity(magnitude, source).to(target).to(source)), _pint_answer(lambda: make(magnitude, source).to(target).to(source)))
        for op in ("__lt__", "__le__", "__gt__", "__ge__"):
            _same(
                _pint_answer(lambda: getattr(Quantity(magnitude, source), op)(Quantity(other, target))),
                _pint_answer(lambda: getattr(make(magnitude, source), op)(make(other, target))),
            )
        _same(_pint_answer(lambda: Quantity(magnitude, source) + Quantity(other, source)), _pint_answer(lambda: make(magnitude, source) + make(other, source)))
        assert same_dimension(source, target) == (registry().parse_units(source).dimensionality == registry().parse_units(target).dimensionality)
        assert has_dimension(Quantity(magnitude, source), target) == same_dimension(source, target)


def test_a_unit_text_is_read_once_for_every_later_conversion_of_a_built_quantity(monkeypatch):
    """pint keeps its reading of a bare unit name only: `.to("mg/m**2")` parsed the text at every
    call (a twentieth of a test run). Read once, the answer is still pint's to the last bit."""
    ureg = registry()
    reads = []
    parse = ureg.parse_units_as_container
    monkeypatch.setattr(ureg, "parse_units_as_container", lambda text, *a, **k: reads.append(text) or parse(text, *a, **k))
    text = "microgram / (meter ** 2 * hour)"
    built = Quantity(7.3, "mg") / Quantity(1.9, "m**2") / Quantity(2, "minute")  # arithmetic: pint's own quantity
    answers = [built.to(text) for _ in range(3)]
    assert reads.count(text) == 1, reads
    expected = (ureg.Quantity(7.3, "mg") / ureg.Quantity(1.9, "m**2") / ureg.Quantity(2, "minute")).to(text)
    assert all(a.magnitude == expected.magnitude and str(a.units) == str(expected.units) for a in answers)


def test_the_answers_kept_in_the_file_are_the_ones_pint_gave(monkeypatch, tmp_path):
    _fresh_known(monkeypatch, tmp_path, keep_file=False)
    learnt = [Quantity(1.7, "m").to("cm").magnitude, Quantity(154, "lb").to("kg").magnitude, Quantity(90, "minute").to("hour").magnitude]
    _fresh_known(monkeypatch, tmp_path, keep_file=True)
    assert not quantities._known.loaded and "m\x00cm" in json.loads(quantities.known_path(quantities._pint_stamp()).read_text())["factors"]
    kept = [Quantity(1.7, "m").to("cm").magnitude, Quantity(154, "lb").to("kg").magnitude, Quantity(90, "minute").to("hour").magnitude]
    assert quantities._known.factors  # read back from the file
    pint_q = registry().Quantity
    assert kept == learnt == [pint_q(1.7, "m").to("cm").magnitude, pint_q(154, "lb").to("kg").magnitude, pint_q(90, "minute").to("hour").magnitude]


def test_a_damaged_or_foreign_answers_file_is_not_used(monkeypatch, tmp_path):
    _fresh_known(monkeypatch, tmp_path, keep_file=False)
    path = quantities.known_path(quantities._pint_stamp())
    path.parent.mkdir(parents=True)
    for content in ("{not json", json.dumps({"stamp": ["another pint"], "factors": {"m\x00cm": 1000.0}, "units": {}})):
        path.write_text(content)
        monkeypatch.setattr(quantities, "_known", quantities._Known())
        assert Quantity(1.7, "m").to("cm").magnitude == registry().Quantity(1.7, "m").to("cm").magnitude


def test_two_pint_installs_sharing_a_cache_folder_keep_their_answers_apart(monkeypatch, tmp_path):
    """Issue 19: one answers file for every install meant that two checkouts (or an upgrade beside the
    old install) sharing ~/.cache replaced each other's answers at every start, and each start then
    built pint's registry (about 250 ms) again."""
    monkeypatch.setenv(quantities.CACHE_DIR_ENV, str(tmp_path))
    for install in ("install A", "install B"):
        monkeypatch.setattr(quantities, "_pint_stamp", lambda install=install: [install])
        monkeypatch.setattr(quantities, "_known", quantities._Known())
        Quantity(1.7, "m").to("cm")
        quantities._known.save()
    for install in ("install A", "install B"):
        monkeypatch.setattr(quantities, "_pint_stamp", lambda install=install: [install])
        monkeypatch.setattr(quantities, "_known", quantities._Known())
        assert quantities._known.factor("m", "cm") is not None, install  # still kept: no pint needed
    assert quantities.known_path(["install A"]) != quantities.known_path(["install B"])


def test_an_answers_file_others_can_write_is_not_used(monkeypatch, tmp_path):
    """The kept factors feed dose arithmetic: a file (or folder) another user could have edited is ignored."""
    _fresh_known(monkeypatch, tmp_path, keep_file=False)
    Quantity(1.7, "m").to("cm")
    quantities._known.save()
    path = quantities.known_path(quantities._pint_stamp())
    data = json.loads(path.read_text())
    data["factors"]["m\x00cm"] = 1000.0  # a forged factor, with the right stamp
    path.write_text(json.dumps(data))
    for item, mode in ((path, 0o666), (path.parent, 0o777)):
        item.chmod(mode)
        monkeypatch.setattr(quantities, "_known", quantities._Known())
        assert Quantity(1.7, "m").to("cm").magnitude == registry().Quantity(1.7, "m").to("cm").magnitude
        item.chmod(0o600 if item == path else 0o700)


def test_a_bad_unit_is_refused_when_the_quantity_is_made_as_pint_refuses_it():
    with pytest.raises(Exception) as refused:
        Quantity(5, "milligramz")
    assert type(refused.value).__module__.startswith("pint")


def test_what_pint_computes_comes_back_as_the_programs_quantity():
    dose = Quantity(650, "mg")
    for result in (dose * 2, dose / Quantity(2, "mL"), Quantity("650 mg"), dose.to_base_units(), -dose, abs(dose)):
        assert type(result) is type(dose) and isinstance(result, Quantity)
    assert isinstance(registry().Quantity(1, "mg"), Quantity)  # pint's own still counts as one


# -- a data file's reading kept with its bytes ----------------------------------------------------


def test_an_edited_data_file_is_read_again_and_a_damaged_kept_reading_ignored(monkeypatch, tmp_path):
    from infusion_app.domain.resources import load_toml

    monkeypatch.setenv(quantities.CACHE_DIR_ENV, str(tmp_path / "cache"))
    data = tmp_path / "x.toml"
    data.write_text('value = 1\n[a]\nb = "c"\n')
    assert load_toml(data) == {"value": 1, "a": {"b": "c"}}
    assert load_toml(data) == {"value": 1, "a": {"b": "c"}}  # from the kept reading
    data.write_text('value = 2\n[a]\nb = "c"\n')  # same length, same date for a coarse clock
    assert load_toml(data) == {"value": 2, "a": {"b": "c"}}
    for kept in (tmp_path / "cache" / "toml").iterdir():
        kept.write_bytes(b"\x00garbage")
    assert load_toml(data) == {"value": 2, "a": {"b": "c"}}
    data.write_text("when = 2026-12-02\n")  # a TOML date: not kept, read each time
    assert str(load_toml(data)["when"]) == "2026-12-02"


def _subcommand_helps(parser) -> dict[str, str]:
    """Each subcommand's (and each of its actions') help text, by name."""
    import argparse

    found = {}
    todo = [("", parser)]
    while todo:
        prefix, current = todo.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found[f"{prefix}{name}"] = sub.format_help()
                    todo.append((f"{prefix}{name} ", sub))
    return found


def test_a_command_started_by_its_name_alone_parses_and_helps_as_in_the_whole_parser():
    # Start-up (issue 19): `infusion-prep NAME ...` builds NAME's module's parser only; that is the
    # same program only when the module registers NAME and nothing else, as the whole parser has it.
    from infusion_app.cli import ONE_COMMAND_MODULES, SUBCOMMAND_MODULES, build_parser

    whole = _subcommand_helps(build_parser(SUBCOMMAND_MODULES))
    assert ONE_COMMAND_MODULES <= set(SUBCOMMAND_MODULES)
    for name in sorted(ONE_COMMAND_MODULES):
        alone = _subcommand_helps(build_parser((name,)))
        assert {key.split()[0] for key in alone} == {name}, name
        assert alone == {key: text for key, text in whole.items() if key.split()[0] == name}, name


def test_a_stored_data_command_imports_only_its_own_command_module(tmp_path):
    # One process for all of them: each command's --help may add its own module and no other.
    code = (
        "import sys, io, contextlib, json\n"
        "from infusion_app.cli import main\n"
        "added = {}\n"
        "for command in ('prep', 'user', 'audit', 'course', 'downtime', 'db'):\n"
        "    before = set(sys.modules)\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n            main([command, '--help'])\n        except SystemExit:\n            pass\n"
        "    added[command] = sorted(m for m in set(sys.modules) - before if m.startswith('infusion_app.cli.') and m != 'infusion_app.cli.service_access')\n"
        "print(json.dumps(added))\n"
    )
    env = {**os.environ, "INFUSION_PREP_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    added = json.loads(done.stdout)
    assert added == {command: [f"infusion_app.cli.{command}"] for command in added}, added


# -- the stored-data commands: what an order with no course on file does not load ----------------

# The course rules and the course models (mapping them is SQLAlchemy work of its own): only for a
# patient whose course is on file. Most orders have none, and `prep new` spent about a fifth of its
# time loading them to learn that (issue 19).
COURSE_MODULES = (
    "infusion_app.domain.course",
    "infusion_app.domain.cycle_plan",
    "infusion_app.domain.checklist",
    "infusion_app.storage.course_models",
    "infusion_app.storage.course_repository",
    "infusion_app.domain.coverage",  # the payer rules: for a coverage check or an order stored with its decision
    "tomllib",  # with the data files' readings kept (a first run keeps them) and no site file
)
STORED_PROBE = """
import json, sys, io, contextlib
from infusion_app.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "out": out.getvalue(), "loaded": [m for m in json.loads(sys.argv[2]) if m in sys.modules]}))
"""


def _stored_probe(argv: list[str], pin: str, cache: str) -> dict:
    env = {**os.environ, "INFUSION_PREP_CACHE_DIR": cache, "INFUSION_PREP_PIN": pin}
    done = subprocess.run(
        [sys.executable, "-c", STORED_PROBE, json.dumps(argv), json.dumps(COURSE_MODULES)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_order_with_no_course_on_file_loads_no_course_rules_or_models(tmp_path, staffed_data_dir):
    data = str(staffed_data_dir)
    order = ["--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"]
    new = with_drug(["prep", "new", "--patient-name", "Doe, Jane", "--mrn", "MRN-1", "--dob", "1970-05-17", *order, "--user", "Tina Tech", "--data-dir", data])
    _stored_probe(new, "111111", str(tmp_path))  # a first run keeps the data files' readings
    made = _stored_probe(new, "111111", str(tmp_path))
    assert (made["code"], made["loaded"]) == (0, [])
    prep_id = made["out"].strip()
    verified = _stored_probe(
        ["prep", "record", prep_id, "order-verified", "--labs-override-reason", "labs checked on paper", "--user", "Paul Pharm", "--data-dir", data],
        "222222",
        str(tmp_path),
    )
    assert (verified["code"], verified["loaded"]) == (0, [])
    listed = _stored_probe(["prep", "list", "--data-dir", data], "222222", str(tmp_path))
    assert (listed["code"], listed["loaded"]) == (0, [])
    assert prep_id in listed["out"]


def test_the_course_look_up_reads_the_table_the_course_models_map():
    from infusion_app.storage.course_models import CourseRow
    from infusion_app.storage.repository import _COURSES

    assert _COURSES.name == CourseRow.__tablename__ and set(_COURSES.c.keys()) <= set(CourseRow.__table__.c.keys())
    assert CourseRow.__table__.c.mrn.unique


@pytest.mark.parametrize("columns", [None, "", "abc", "0", "-5", "40", "100", "250"])
def test_the_help_is_wrapped_to_the_width_argparse_itself_takes(columns, monkeypatch):
    """The command's parsers take the terminal's width without shutil (issue 19): the same help,
    wrapped the same, as argparse's own formatter gives for every COLUMNS value."""
    import argparse
    import shutil

    from infusion_app.cli import build_parser
    from infusion_app.cli.common import OneLineArgumentParser, terminal_columns

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert terminal_columns() == shutil.get_terminal_size().columns
    parser = build_parser()
    for command in ("calc", "coverage", "prep"):
        sub = parser._subparsers._group_actions[0].choices[command]
        assert sub._get_formatter()._width == sub.formatter_class(prog=sub.prog)._width
        ours = sub.format_help()
        with monkeypatch.context() as stock:
            stock.setattr(OneLineArgumentParser, "_get_formatter", argparse.ArgumentParser._get_formatter)
            assert ours == sub.format_help()


def test_argparse_words_are_looked_up_once_not_on_disk_at_every_parser(monkeypatch):
    """gettext searched the locale folders for argparse's words at every parser and argument made:
    half of building the `course` command's parser."""
    import gettext

    from infusion_app.cli import build_parser, modules_for

    build_parser(modules_for(["course", "show", "X"]))
    searches = []
    find = gettext.find
    monkeypatch.setattr(gettext, "find", lambda *a, **k: searches.append(a) or find(*a, **k))
    parser = build_parser(modules_for(["course", "show", "X"]))
    assert searches == []
    assert "show this help message and exit" in parser.format_help()
