"""The headless contract: `user add`, `prep new|record|show|list`, exit codes 0 / 1 / 2."""

from __future__ import annotations

from tests.drugs import BESPONSA

import json
from datetime import datetime, timedelta, timezone

import pytest

from infusion_app.cli import main
from tests.lab_helpers import ORDER_LAB_CLI
from tests.cli_helpers import with_drug

NAME, DOB = "Doe, Jane", "1970-05-17"
PATIENT = ["--patient-name", NAME, "--mrn", "MRN-1", "--dob", DOB]
ORDER = ["--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "1"]


# paul, the first pharmacist, and the users he added (test_user_add_then_list adds one by `user add`).
USERS = (("paul", "pharmacist", "222222"), ("tina", "technician", "111111"), ("petra", "pharmacist", "333333"), ("nora", "nurse", "444444"))


@pytest.fixture
def data(tmp_path, monkeypatch, database_templates):
    monkeypatch.delenv("INFUSION_PREP_OVERRIDE_PIN", raising=False)
    monkeypatch.delenv("INFUSION_PREP_NEW_PIN", raising=False)
    monkeypatch.setenv("INFUSION_PREP_PIN", "222222")
    # A copy of a database migrated with USERS once per session (tests/conftest.py).
    return database_templates.copy(tmp_path / "data", USERS)


def test_the_first_user_needs_no_sign_in_and_later_users_are_added_by_a_pharmacist(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.delenv("INFUSION_PREP_NEW_PIN", raising=False)
    monkeypatch.setenv("INFUSION_PREP_PIN", "222222")
    assert main(["user", "add", "paul", "--role", "pharmacist", "--data-dir", str(folder)]) == 0
    monkeypatch.setenv("INFUSION_PREP_NEW_PIN", "444444")
    assert main(["user", "add", "nora", "--role", "nurse", "--user", "paul", "--data-dir", str(folder)]) == 0
    assert main(["user", "add", "olga", "--role", "nurse", "--data-dir", str(folder)]) != 0  # no pharmacist named


def run(capsys, monkeypatch, pin, *argv):
    if pin is None:
        monkeypatch.delenv("INFUSION_PREP_PIN", raising=False)
    else:
        monkeypatch.setenv("INFUSION_PREP_PIN", pin)
    capsys.readouterr()
    try:
        code = main(with_drug(argv))
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


# The two in-date vials ORDER's dose needs (1.45 mg from 0.9 mg vials): without them nothing is reconstituted.
VIALS = ["--vial", "LOT-A:2099-12-31", "--vial", "LOT-B:2099-12-31", "--product-confirmed"]


def new_prep(capsys, monkeypatch, data, vials: bool = True) -> str:
    code, out, err = run(capsys, monkeypatch, "111111", "prep", "new", *PATIENT, *ORDER, *(VIALS if vials else []), "--user", "tina", "--data-dir", str(data))
    assert code == 0, err
    return out.strip()


def test_user_add_then_list(data, capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, None, "user", "list", "--json", "--data-dir", str(data))
    assert code == 0
    assert {u["name"]: u["role"] for u in json.loads(out)["users"]} == {"nora": "nurse", "paul": "pharmacist", "petra": "pharmacist", "tina": "technician"}


@pytest.mark.parametrize(
    "argv, pin, field",
    [
        (["user", "add", "x", "--role", "doctor"], "123412", "--role"),
        (["user", "add", "x", "--role", "nurse"], "12", "pin"),
        (["user", "add", "tina", "--role", "nurse"], "123412", "name"),
    ],
)
def test_user_add_refuses_bad_input_with_one_line(data, capsys, monkeypatch, argv, pin, field):
    monkeypatch.setenv("INFUSION_PREP_NEW_PIN", pin)
    code, _, err = run(capsys, monkeypatch, "222222", *argv, "--user", "paul", "--data-dir", str(data))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and field in err and "Traceback" not in err


def test_without_a_pin_or_a_terminal_nothing_is_added(data, capsys, monkeypatch, request):
    devnull = open("/dev/null")
    request.addfinalizer(devnull.close)  # an unclosed file is a ResourceWarning, and warnings are errors
    monkeypatch.setattr("sys.stdin", devnull)
    code, _, err = run(capsys, monkeypatch, None, "user", "add", "newbie", "--role", "nurse", "--user", "paul", "--data-dir", str(data))
    assert code == 2 and "INFUSION_PREP_PIN" in err


def test_prep_new_prints_the_id_and_json_gives_the_calculation(data, capsys, monkeypatch):
    prep_id = new_prep(capsys, monkeypatch, data)
    assert prep_id.startswith("BSP-") and "\n" not in prep_id
    code, out, _ = run(
        capsys,
        monkeypatch,
        "111111",
        "prep",
        "new",
        *PATIENT,
        *ORDER,
        "--vial",
        "LOT-7:2030-01-31",
        "--product-confirmed",
        "--user",
        "tina",
        "--json",
        "--data-dir",
        str(data),
    )
    payload = json.loads(out)
    assert code == 0 and payload["id"].startswith("BSP-") and payload["id"] != prep_id
    from infusion_app.domain.dosing import DoseOrder, calculate_dose
    from infusion_app.domain.monograph import load_monograph

    calculation = dict(payload["calculation"])
    assert isinstance(calculation.pop("age_years"), int)  # from the date of birth, at today's date
    expected = calculate_dose(DoseOrder("170 cm", "70 kg", 1, 1), load_monograph("inotuzumab-ozogamicin")).to_dict()
    expected.pop("age_years")
    assert calculation == expected
    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", payload["id"], "--json", "--data-dir", str(data))
    assert json.loads(out)["vials"][0]["lot"] == "LOT-7"


def test_prep_new_with_a_calculation_hard_stop_exits_1_and_stores_nothing(data, capsys, monkeypatch):
    from datetime import date, timedelta

    infant = ["--patient-name", "Doe, Baby", "--mrn", "MRN-2", "--dob", (date.today() - timedelta(days=200)).isoformat()]
    code, out, err = run(
        capsys,
        monkeypatch,
        "111111",
        "prep",
        "new",
        *infant,
        "--height",
        "60 cm",
        "--weight",
        "5 kg",
        "--cycle",
        "1",
        "--day",
        "1",
        "--user",
        "tina",
        "--json",
        "--data-dir",
        str(data),
    )
    assert code == 1
    payload = json.loads(out)
    assert payload["id"] is None and payload["stored"] is False and payload["hard_stops"]
    assert "not stored" in err
    code, out, _ = run(capsys, monkeypatch, None, "prep", "list", "--json", "--data-dir", str(data))
    assert json.loads(out)["preparations"] == []


@pytest.mark.parametrize(
    "change, field",
    [
        (["--dob", "1970-02-30"], "dob"),
        (["--dob", "2999-01-01"], "dob"),
        (["--height", "170"], "height"),
        (["--cycle", "7"], "cycle"),
        (["--mrn", ""], "mrn"),
    ],
)
def test_prep_new_invalid_input_exits_2_with_the_field(data, capsys, monkeypatch, change, field):
    argv = PATIENT + ORDER
    index = argv.index(change[0])
    argv = argv[:index] + change + argv[index + 2 :]
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "new", *argv, "--user", "tina", "--data-dir", str(data))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and field in err


def test_a_wrong_pin_is_refused(data, capsys, monkeypatch):
    code, _, err = run(capsys, monkeypatch, "999999", "prep", "new", *PATIENT, *ORDER, "--user", "tina", "--data-dir", str(data))
    assert code == 2 and "PIN" in err


def test_record_show_and_list_through_a_whole_preparation(data, capsys, monkeypatch):
    prep_id = new_prep(capsys, monkeypatch, data)
    d = ["--data-dir", str(data)]

    def record(pin, user, *args):
        code, out, err = run(capsys, monkeypatch, pin, "prep", "record", prep_id, *args, "--user", user, "--json", *d)
        assert code == 0, err
        return json.loads(out)

    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "reconstituted", "--user", "tina", *d)
    assert code == 1 and "[order_not_verified]" in err
    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", prep_id, "--json", *d)
    assert "order-verified" in json.loads(out)["allowed_events"]
    record("222222", "paul", "order-verified", "--labs-taken", datetime.now(timezone.utc).isoformat(), *ORDER_LAB_CLI)
    record("111111", "tina", "reconstituted")
    record("111111", "tina", "diluted", "--storage", "room")
    checks = [
        "--check-mrn",
        "MRN-1",
        "--check-height",
        "170 cm",
        "--check-weight",
        "70 kg",
        "--check-dose-mg",
        str(json.loads(out)["calculation"]["dose_mg"]),
        "--check-volume-ml",
        str(json.loads(out)["calculation"]["withdraw_ml"]),
    ]
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "verified", "--user", "tina", *checks, *d)
    assert code == 1 and "pharmacist" in err  # a technician does not verify
    code, _, err = run(capsys, monkeypatch, "333333", "prep", "record", prep_id, "verified", "--user", "petra", *d)
    assert code == 1 and "[double_check_incomplete]" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, monkeypatch, "333333", "prep", "record", prep_id, "verified", "--user", "petra", *checks[:-2], *d)
    assert code == 1 and "[double_check_incomplete]" in err and "--check-volume-ml" in err
    wrong_weight = [*checks[:5], "80 kg", *checks[6:]]
    code, _, err = run(capsys, monkeypatch, "333333", "prep", "record", prep_id, "verified", "--user", "petra", *wrong_weight, *d)
    assert code == 1 and "[verification_mismatch]" in err and "weight" in err
    record("333333", "petra", "verified", *checks)
    record("111111", "tina", "labelled")
    record("111111", "tina", "dispensed")
    for drug_class, drug, dose in [
        ("corticosteroid", "methylprednisolone", "100 mg"),
        ("antipyretic", "acetaminophen", "650 mg"),
        ("antihistamine", "diphenhydramine", "25 mg"),
    ]:
        record("444444", "nora", "premedication", "--drug-class", drug_class, "--drug", drug, "--dose", dose)
    code, _, err = run(capsys, monkeypatch, "444444", "prep", "record", prep_id, "infusion-started", "--user", "nora", *d)
    assert code == 1 and "two identifiers" in err
    code, _, err = run(
        capsys,
        monkeypatch,
        "444444",
        "prep",
        "record",
        prep_id,
        "patient-confirmed",
        "--confirm-name",
        "Someone Else",
        "--confirm-dob",
        DOB,
        "--user",
        "nora",
        *d,
    )
    assert code == 1 and "full name does not match" in err
    record("444444", "nora", "patient-confirmed", "--confirm-name", NAME, "--confirm-dob", DOB)
    shown = record("444444", "nora", "infusion-started")
    assert shown["current_step"] == "infusing"

    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", prep_id, "--json", *d)
    payload = json.loads(out)
    assert code == 0
    assert [e["type"] for e in payload["events"]][:4] == ["order-verified", "reconstituted", "diluted", "verified"]
    assert {"patient", "order", "calculation", "vials", "events", "deadlines", "current_step", "allowed_events"} <= payload.keys()
    assert all(d["state"] for d in payload["deadlines"])
    # An infusion ended minutes after its start is refused as an end (the monograph's 1 h minimum).
    assert "infusion-ended" not in payload["allowed_events"]
    code, _, err = run(capsys, monkeypatch, "444444", "prep", "record", prep_id, "infusion-ended", "--user", "nora", *d)
    assert code == 1 and "[infusion_too_fast]" in err and "--deviation-reason" in err

    code, out, _ = run(capsys, monkeypatch, None, "prep", "list", "--active", "--json", *d)
    listed = json.loads(out)["preparations"]
    assert [p["id"] for p in listed] == [prep_id] and listed[0]["current_step"] == "infusing"
    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", prep_id, *d)
    assert prep_id in out and "Doe, Jane" in out


@pytest.mark.parametrize(
    "argv, field",
    [
        (["boiled"], "event"),
        (["diluted"], "storage"),
        (["reconstituted", "--storage", "room"], "--storage"),
        (["reconstituted", "--at", "2026-01-01T09:00"], "--at"),
        (["reconstituted", "--override-by", "paul"], "--override-reason"),
    ],
)
def test_record_invalid_input_exits_2(data, capsys, monkeypatch, argv, field):
    prep_id = new_prep(capsys, monkeypatch, data)
    if argv[0] == "diluted":
        run(
            capsys,
            monkeypatch,
            "222222",
            "prep",
            "record",
            prep_id,
            "order-verified",
            "--labs-taken",
            datetime.now(timezone.utc).isoformat(),
            *ORDER_LAB_CLI,
            "--user",
            "paul",
            "--data-dir",
            str(data),
        )
        run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "reconstituted", "--user", "tina", "--data-dir", str(data))
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, *argv, "--user", "tina", "--data-dir", str(data))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and field in err


def test_record_on_an_unknown_or_malformed_id_exits_2(data, capsys, monkeypatch):
    from infusion_app.service.ids import new_preparation_id

    for prep_id in (new_preparation_id(BESPONSA.id_prefix), "BSP-0O1I0"):
        code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "reconstituted", "--user", "tina", "--data-dir", str(data))
        assert code == 2 and "preparation id" in err


def test_an_expired_product_is_refused_and_no_override_gives_it(data, capsys, monkeypatch):
    prep_id = new_prep(capsys, monkeypatch, data)
    d = ["--data-dir", str(data)]
    from datetime import datetime, timedelta, timezone

    # Entered late from paper: the order check first, then the reconstitution after it.
    five_h_10_ago = (datetime.now(timezone.utc) - timedelta(hours=5, minutes=10)).isoformat()
    code, _, err = run(
        capsys,
        monkeypatch,
        "222222",
        "prep",
        "record",
        prep_id,
        "order-verified",
        "--at",
        five_h_10_ago,
        "--labs-taken",
        five_h_10_ago,
        *ORDER_LAB_CLI,
        "--user",
        "paul",
        *d,
    )
    assert code == 0, err
    five_hours_ago = (datetime.now(timezone.utc) - timedelta(hours=5)).isoformat()
    # A reconstitution entered after the dilute-by it starts has passed: the product is expired.
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "reconstituted", "--at", five_hours_ago, "--user", "tina", *d)
    assert code == 1 and "[late_entry]" in err and "which this step starts" in err and "discard and prepare again" in err
    assert "--override-by" not in err
    monkeypatch.setenv("INFUSION_PREP_OVERRIDE_PIN", "333333")
    code, _, err = run(
        capsys,
        monkeypatch,
        "111111",
        "prep",
        "record",
        prep_id,
        "reconstituted",
        "--at",
        five_hours_ago,
        "--override-by",
        "petra",
        "--override-reason",
        "prescriber informed, dose needed",
        "--user",
        "tina",
        *d,
    )
    assert code == 1 and "[late_entry]" in err and len(err.strip().splitlines()) == 1
    # A step dated in time but entered after its limit passed is judged at its entry.
    three_h_50_ago = (datetime.now(timezone.utc) - timedelta(hours=3, minutes=50)).isoformat()
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "reconstituted", "--at", three_h_50_ago, "--user", "tina", *d)
    assert code == 0, err
    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", prep_id, "--json", *d)
    assert [e["type"] for e in json.loads(out)["events"]] == ["order-verified", "reconstituted"]
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "discarded", "--reason", "dilute-by passed", "--user", "tina", *d)
    assert code == 0, err


def test_no_reconstitution_before_the_vials_are_recorded_not_even_a_late_entry(data, capsys, monkeypatch):
    """Hostile tester: `prep new` without `prep vial`, then `prep record ... reconstituted` exited 0: a
    dose with no lot, no product check and no expiry check. Refused (exit 1) naming what is needed,
    a downtime entry too; once each vial is recorded the step (and the late entry) proceeds."""
    prep_id = new_prep(capsys, monkeypatch, data, vials=False)
    d = ["--data-dir", str(data)]
    verified = (datetime.now(timezone.utc) - timedelta(minutes=30)).isoformat()
    code, _, err = run(
        capsys,
        monkeypatch,
        "222222",
        "prep",
        "record",
        prep_id,
        "order-verified",
        "--at",
        verified,
        "--labs-taken",
        verified,
        *ORDER_LAB_CLI,
        "--user",
        "paul",
        *d,
    )
    assert code == 0, err
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "reconstituted", "--user", "tina", *d)
    assert code == 1 and "[vials_not_recorded]" in err and "vials needed: 0 recorded of 2" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, _, err = run(
        capsys, monkeypatch, "111111", "prep", "vial", prep_id, "--lot", "LOT-A", "--expiry", "2099-12-31", "--product-confirmed", "--user", "tina", *d
    )
    assert code == 0, err
    earlier = (datetime.now(timezone.utc) - timedelta(minutes=20)).isoformat()
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "reconstituted", "--at", earlier, "--downtime", "--user", "tina", *d)
    assert code == 1 and "vials needed: 1 recorded of 2" in err
    code, _, err = run(
        capsys, monkeypatch, "111111", "prep", "vial", prep_id, "--lot", "LOT-B", "--expiry", "2099-12-31", "--product-confirmed", "--user", "tina", *d
    )
    assert code == 0, err
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "reconstituted", "--at", earlier, "--downtime", "--user", "tina", *d)
    assert code == 0, err


def test_user_deactivate_keeps_the_record_and_blocks_the_user(data, capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, "222222", "user", "deactivate", "tina", "--user", "paul", "--data-dir", str(data))
    assert code == 0 and "deactivated" in out
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "new", *PATIENT, *ORDER, "--user", "tina", "--data-dir", str(data))
    assert code == 2 and "deactivated" in err
    code, out, _ = run(capsys, monkeypatch, None, "user", "list", "--all", "--json", "--data-dir", str(data))
    assert {"name": "tina", "role": "technician", "active": False} in json.loads(out)["users"]


def test_a_database_url_works_like_a_data_dir(tmp_path, capsys, monkeypatch):
    url = f"sqlite:///{tmp_path / 'site.sqlite3'}"
    code, _, err = run(capsys, monkeypatch, "222222", "user", "add", "paul", "--role", "pharmacist", "--database", url)
    assert code == 0, err
    code, out, _ = run(capsys, monkeypatch, "222222", "prep", "new", *PATIENT, *ORDER, "--user", "paul", "--database", url)
    assert code == 0 and out.startswith("BSP-")
    assert (tmp_path / "site.sqlite3").exists()


def test_prep_list_limit(data, capsys, monkeypatch):
    first, second = new_prep(capsys, monkeypatch, data), new_prep(capsys, monkeypatch, data)
    code, out, _ = run(capsys, monkeypatch, None, "prep", "list", "--json", "--data-dir", str(data))
    assert code == 0 and {p["id"] for p in json.loads(out)["preparations"]} == {first, second}
    code, out, _ = run(capsys, monkeypatch, None, "prep", "list", "--limit", "1", "--json", "--data-dir", str(data))
    assert code == 0 and len(json.loads(out)["preparations"]) == 1
    code, _, err = run(capsys, monkeypatch, None, "prep", "list", "--limit", "0", "--data-dir", str(data))
    assert code == 2 and "--limit" in err


class FakeTerminal:
    def isatty(self) -> bool:
        return True


def test_user_add_asks_for_the_pin_twice_at_a_terminal(data, capsys, monkeypatch):
    import getpass

    monkeypatch.setattr("sys.stdin", FakeTerminal())
    typed = iter(["222222", "258025", "258025", "222222", "135713", "753175"])
    prompts = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: prompts.append(prompt) or next(typed))
    code, out, err = run(capsys, monkeypatch, None, "user", "add", "Zoe", "--role", "nurse", "--user", "paul", "--data-dir", str(data))
    assert code == 0, err
    assert prompts == ["PIN for paul: ", "PIN for new user Zoe: ", "PIN for new user Zoe again: "]
    code, _, err = run(capsys, monkeypatch, None, "user", "add", "Yan", "--role", "nurse", "--user", "paul", "--data-dir", str(data))
    assert code == 2 and "differ" in err
    from infusion_app.service import open_service

    with open_service(data_dir=data) as service:
        assert service.authenticate("zoe", "258025").name == "Zoe"
        assert service.user("Yan") is None


def test_a_storage_failure_during_a_command_is_one_line_and_exit_3(data, capsys, monkeypatch):
    from infusion_app.service import PreparationService
    from infusion_app.storage import StorageError

    prep_id = new_prep(capsys, monkeypatch, data)

    def failing(*args, **kwargs):
        raise StorageError("the database could not be written (disk I/O error); nothing of this change was stored")

    monkeypatch.setattr(PreparationService, "record_event", failing)
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "reconstituted", "--user", "tina", "--data-dir", str(data))
    assert code == 3
    assert len(err.strip().splitlines()) == 1 and "nothing of this change was stored" in err and "Traceback" not in err


def test_prep_new_prints_only_the_id_on_stdout_and_warnings_on_stderr(data, capsys, monkeypatch):
    code, out, err = run(
        capsys,
        monkeypatch,
        "111111",
        "prep",
        "new",
        *PATIENT,
        "--height",
        "250 cm",
        "--weight",
        "200 kg",
        "--cycle",
        "1",
        "--day",
        "1",
        "--user",
        "tina",
        "--data-dir",
        str(data),
    )
    assert code == 0
    assert out.strip().startswith("BSP-") and len(out.strip().splitlines()) == 1
    assert "warning: " in err and "BSA" in err


def test_prep_new_for_mylotarg_stores_its_drug_regimen_and_prefix(data, capsys, monkeypatch):
    # Issue 17: the drug and regimen are picked at order entry; the stored preparation names them.
    argv = [
        "prep",
        "new",
        *PATIENT,
        "--height",
        "170 cm",
        "--weight",
        "70 kg",
        "--cycle",
        "1",
        "--day",
        "4",
        "--drug",
        "gemtuzumab-ozogamicin",
        "--regimen",
        "fractionated",
        "--user",
        "tina",
        "--json",
        "--data-dir",
        str(data),
    ]
    code, out, err = run(capsys, monkeypatch, "111111", *argv)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["id"].startswith("MYL-")
    assert payload["calculation"]["dose_mg"] == 4.5 and payload["calculation"]["hcpcs"] == "J9203"
    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", payload["id"], "--json", "--data-dir", str(data))
    shown = json.loads(out)
    assert code == 0 and shown["monograph"]["id"] == "gemtuzumab-ozogamicin"
    code, _, err = run(capsys, monkeypatch, "111111", *[a for a in argv if a not in ("--regimen", "fractionated")])
    assert code == 2 and "invalid --regimen:" in err


def test_prep_new_for_mylotarg_without_a_course_flags_its_regimen_not_a_response(data, capsys, monkeypatch):
    """The no-course flag said "cycle, day and response as typed" for MYLOTARG, whose regimen decides the dose."""
    order = ["--height", "170 cm", "--weight", "70 kg", "--cycle", "1", "--day", "4", "--drug", "gemtuzumab-ozogamicin", "--regimen", "fractionated"]
    code, out, err = run(capsys, monkeypatch, "111111", "prep", "new", *PATIENT, *order, "--user", "tina", "--data-dir", str(data))
    assert code == 0, err
    [flag] = [line for line in err.splitlines() if line.startswith("flag: no course on file:")]
    assert flag == "flag: no course on file: cycle, day and regimen as typed (no course to check them against)"
    assert "response" not in err
    code, out, err = run(capsys, monkeypatch, "111111", "prep", "new", *PATIENT, *ORDER, *VIALS, "--user", "tina", "--data-dir", str(data))
    assert code == 0 and "flag: no course on file: cycle, day and response as typed" in err  # BESPONSA's response decides


def test_prep_new_json_gives_a_split_draw_and_bills_the_dose_drawn(data, capsys, monkeypatch):
    # Pharmacist review: 10.5 mg of MYLOTARG (1 mg/mL) was drawn as 11 mL on the 20 mL syringe's 1 mL marks
    # (+4.8%) and billed 110 units; it is the 10 mL syringe full + 0.5 mL on the 1 mL syringe, 105 units.
    argv = [
        "prep",
        "new",
        *PATIENT,
        "--height",
        "175 cm",
        "--weight",
        "63 kg",
        "--cycle",
        "1",
        "--day",
        "1",
        "--drug",
        "gemtuzumab-ozogamicin",
        "--regimen",
        "single-agent",
        "--user",
        "tina",
        "--json",
        "--data-dir",
        str(data),
    ]
    code, out, err = run(capsys, monkeypatch, "111111", *argv)
    assert code == 0, err
    calculation = json.loads(out)["calculation"]
    assert (calculation["dose_mg"], calculation["withdraw_ml"], calculation["billing_units_administered"]) == (10.5, 10.5, 105)
    assert (calculation["draw_syringe_ml"], calculation["draw_graduation_ml"]) == (10.0, 0.2)  # the first syringe
    assert calculation["draw_parts"] == [
        {"volume_ml": 10.0, "syringe_ml": 10.0, "graduation_ml": 0.2},
        {"volume_ml": 0.5, "syringe_ml": 1.0, "graduation_ml": 0.01},
    ]
    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", json.loads(out)["id"], "--json", "--data-dir", str(data))
    assert code == 0 and "draw_parts" in out


def test_a_refusal_with_json_prints_one_json_object_naming_it(data, capsys, monkeypatch):
    """Hostile test: `prep record ... --json` refused (exit 1) printed nothing on stdout, where calc,
    schedule and prep new's hard stops print their JSON: a script reading stdout got no object."""
    prep_id = new_prep(capsys, monkeypatch, data)
    cases = [
        ("111111", ["prep", "record", prep_id, "reconstituted", "--user", "tina"], "order_not_verified"),
        ("111111", ["prep", "record", prep_id, "order-verified", "--user", "tina"], "role"),
        ("111111", ["course", "new", "MRN-9", "--hsct", "no", "--user", "tina"], "role"),
        ("111111", ["prep", "new", "--patient-name", NAME, "--mrn", "MRN-1", "--dob", "1971-01-01", *ORDER, "--user", "tina"], "patient_dob_differs"),
    ]
    for pin, argv, refusal in cases:
        code, out, err = run(capsys, monkeypatch, pin, *argv, "--json", "--data-dir", str(data))
        assert code == 1, (argv, err)
        payload = json.loads(out)
        assert payload["refused"]["code"] == refusal and payload["refused"]["message"], (argv, payload)
        assert refusal in err and "Traceback" not in err
    # Without --json, stdout stays empty; a command that printed its own JSON prints no second one.
    code, out, _ = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "reconstituted", "--user", "tina", "--data-dir", str(data))
    assert code == 1 and out == ""
    code, out, _ = run(
        capsys,
        monkeypatch,
        "111111",
        "prep",
        "new",
        *PATIENT,
        "--height",
        "70 cm",
        "--weight",
        "8 kg",
        "--cycle",
        "1",
        "--day",
        "1",
        "--dob",
        "2026-06-01",
        "--mrn",
        "MRN-BABY",
        "--user",
        "tina",
        "--json",
        "--data-dir",
        str(data),
    )
    assert code == 1 and isinstance(json.loads(out), dict)


def test_a_typed_vial_expiry_may_carry_its_time_and_show_prints_it(data, capsys, monkeypatch):
    """`--vial LOT:DATE` and `prep vial --expiry` took a date only: a carton's expiry time could not be
    typed at all. The lot ends at the colon a date follows (a lot may hold a colon itself)."""
    from datetime import datetime as wall

    d = ["--data-dir", str(data)]
    vials = ["--vial", "LOT:A:2099-12-31T10:00", "--vial", "LOT-B:2099-12-31", "--product-confirmed"]
    code, out, err = run(capsys, monkeypatch, "111111", "prep", "new", *PATIENT, *ORDER, *vials, "--user", "tina", *d)
    assert code == 0, err
    prep_id = out.strip()
    code, out, err = run(
        capsys, monkeypatch, "111111", "prep", "vial", prep_id, "--lot", "LOT-C", "--expiry", "2099-12-30 23:15", "--product-confirmed", "--user", "tina", *d
    )
    assert code == 0, err
    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", prep_id, "--json", *d)
    shown = json.loads(out)["vials"]
    ten = wall(2099, 12, 31, 10, 0).astimezone()
    assert [(v["lot"], v["expiry"], v["expires_at"]) for v in shown] == [
        ("LOT:A", "2099-12-31", ten.astimezone(timezone.utc).isoformat()),
        ("LOT-B", "2099-12-31", None),
        ("LOT-C", wall(2099, 12, 30, 23, 15).astimezone().date().isoformat(), wall(2099, 12, 30, 23, 15).astimezone().astimezone(timezone.utc).isoformat()),
    ]
    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", prep_id, *d)
    assert f"vial lot LOT:A, expires 2099-12-31 10:00 {ten.tzname()}" in out and "vial lot LOT-B, expires 2099-12-31\n" in out
    code, _, err = run(
        capsys, monkeypatch, "111111", "prep", "vial", prep_id, "--lot", "LOT-D", "--expiry", "2099-12-31 25:00", "--product-confirmed", "--user", "tina", *d
    )
    assert code == 2 and "--expiry" in err and "Traceback" not in err


def test_prep_record_refuses_the_bag_out_of_the_fridge_after_the_out_by_a_vials_expiry_moved(data, capsys, monkeypatch):
    """`prep show` counted the refrigerated bag's out-by down to one warm-up before a vial's expiry and
    showed it passed, yet `prep record ... bag-from-fridge` exited 0 until the vial's expiry itself.
    Now exit 1 with the countdown's words, and no override gives it."""
    from infusion_app.domain.clock import FakeClock
    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.formatting import format_instant
    from infusion_app.domain.records import EventType, Patient, VialRecord
    from infusion_app.service import StepRefused, open_service
    from tests.prep_helpers import VIAL, verify_order

    now = datetime.now(timezone.utc).replace(microsecond=0)
    expires = now + timedelta(minutes=30)  # the vial is still in date when the CLI records
    out_by = expires - BESPONSA.duration("time_limits.refrigerated_bag_warm_up")  # 30 min ago
    clock = FakeClock(now - timedelta(minutes=45))
    with open_service(data_dir=data, clock=clock) as service:
        tina = service.user("tina")
        timed = VialRecord("LOT-T", expires.astimezone().date(), expires_at=expires)
        order = DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1)
        prep_id = service.create_preparation(
            Patient(NAME, "MRN-1", datetime(1970, 5, 17).date()), order, tina, [timed, VIAL], product_confirmed=True, monograph=BESPONSA
        ).prep.id
        verify_order(service, prep_id)
        clock.set(now - timedelta(minutes=40))
        service.record_event(prep_id, EventType.RECONSTITUTED, tina)
        clock.set(now - timedelta(minutes=35))  # before the moved out-by: into the refrigerator in time
        service.record_event(prep_id, EventType.DILUTED, tina, details={"storage": "fridge"})
    d = ["--data-dir", str(data)]
    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", prep_id, "--json", *d)
    [shown] = [x for x in json.loads(out)["deadlines"] if x["key"] == "bag_from_fridge_by"]
    assert shown["state"] == "expired" and shown["label"] == "Bag out of refrigerator by (vial expiry)"
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "record", prep_id, "bag-from-fridge", "--user", "tina", *d)
    assert code == 1, err
    assert "[bag_from_fridge_by_passed]" in err and "discard and prepare again" in err and len(err.strip().splitlines()) == 1
    assert "bag out of the refrigerator refused: bag out of refrigerator by (vial expiry)" in err and "Traceback" not in err
    # The refusal's whole words, the limit's time and the vial's lot and expiry (cut at 300
    # characters, the middle that held them was lost).
    assert f"{format_instant(out_by)} has passed (vial lot LOT-T expires at {format_instant(expires)}" in err and "characters cut" not in err
    with open_service(data_dir=data) as service:  # the whole words, as the board and the chair give them
        with pytest.raises(StepRefused) as refused:
            service.record_event(prep_id, EventType.BAG_FROM_FRIDGE, service.user("tina"))
    assert (
        f"bag out of refrigerator by (vial expiry) {format_instant(out_by)} has passed (vial lot LOT-T expires at {format_instant(expires)}"
        in refused.value.message
    )
    monkeypatch.setenv("INFUSION_PREP_OVERRIDE_PIN", "333333")
    code, _, err = run(
        capsys,
        monkeypatch,
        "111111",
        "prep",
        "record",
        prep_id,
        "bag-from-fridge",
        "--override-by",
        "petra",
        "--override-reason",
        "needed today",
        "--user",
        "tina",
        *d,
    )
    assert code == 1 and "[bag_from_fridge_by_passed]" in err
    code, out, _ = run(capsys, monkeypatch, None, "prep", "show", prep_id, "--json", *d)
    assert [e["type"] for e in json.loads(out)["events"]] == ["order-verified", "reconstituted", "diluted"]


def test_a_vial_typed_with_its_serial_is_checked_as_its_scan_and_a_refused_scan_cannot_be_typed(data, capsys, monkeypatch):
    """`prep vial --lot --expiry --product-confirmed` walked around a refused scan, and no serial could be
    typed: a vial held by another open preparation went in as a typed vial (exit 1 now, naming why)."""
    d = ["--data-dir", str(data)]
    code_text = "]d2(01)00300080100011(17)280531(10)LOTCLI1(21)SNCLI1"
    first, second = new_prep(capsys, monkeypatch, data, vials=False), new_prep(capsys, monkeypatch, data, vials=False)
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", first, "--code", code_text, "--user", "tina", *d)
    assert code == 0, err
    typed = ["--lot", "LOTCLI1", "--expiry", "2028-05-31", "--product-confirmed", "--user", "tina", *d]
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", second, *typed, "--serial", "SNCLI1")
    assert code == 1 and "[vial_used_elsewhere]" in err and first in err, err
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", second, "--code", code_text, "--user", "tina", *d)
    assert code == 1 and "[vial_used_elsewhere]" in err, err
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", second, *typed)
    assert code == 1 and "[typed_vial_scan_refused]" in err and "scan the vial you use" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    # A serial that is not one, or beside a scanned code: invalid input (exit 2), naming --serial.
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", second, *typed, "--serial", "SN WITH SPACES")
    assert code == 2 and "--serial" in err and "e.g." in err, err
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", second, "--code", code_text, "--serial", "X1", "--user", "tina", *d)
    assert code == 2 and "--serial" in err, err


def test_one_double_scan_does_not_keep_every_typed_vial_of_its_lot_off_the_preparation(data, capsys, monkeypatch):
    """`prep vial G --code X` twice (the second refused, a double scan), then the lot typed: refused
    typed_vial_scan_refused on the old code, even with another --serial; the vial G has is not one to keep out."""
    d = ["--data-dir", str(data)]
    code_text = "]d2(01)00300080100011(17)280531(10)LOTDBL(21)SN9"
    prep = new_prep(capsys, monkeypatch, data, vials=False)
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", prep, "--code", code_text, "--user", "tina", *d)
    assert code == 0, err
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", prep, "--code", code_text, "--user", "tina", *d)
    assert code == 1 and "[vial_already_recorded]" in err, err
    typed = ["--lot", "LOTDBL", "--expiry", "2028-05-31", "--product-confirmed", "--user", "tina", *d]
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", prep, *typed)
    assert code == 0, err
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", prep, *typed, "--serial", "SN10")
    assert code == 0, err
    code, _, err = run(capsys, monkeypatch, "111111", "prep", "vial", prep, *typed, "--serial", "sn9")
    assert code == 1 and "[vial_already_recorded]" in err, err
