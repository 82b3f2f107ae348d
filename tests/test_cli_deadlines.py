"""`infusion-prep deadlines`: the contract other tools depend on."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from infusion_app.domain.monograph import load_monograph
from tests.cli_helpers import assert_clean_invalid, run_cli

MONO = load_monograph("inotuzumab-ozogamicin")


def limit(name: str) -> timedelta:
    return MONO.duration(f"time_limits.{name}")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_json_holds_the_contract_fields_with_utc_offsets():
    result = run_cli("deadlines", "--reconstituted", "2026-11-27T09:00+01:00", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert {"dilute_by", "end_infusion_by", "start_infusion_by", "hard_stops"} <= set(data)
    reconstituted = at("2026-11-27T09:00+01:00")
    assert at(data["dilute_by"]) == reconstituted + limit("reconstitution_to_dilution")
    assert at(data["end_infusion_by"]) == reconstituted + limit("reconstitution_to_end_of_infusion")
    assert at(data["start_infusion_by"]) == at(data["end_infusion_by"]) - MONO.duration("infusion.duration")
    assert data["dilute_by"] == "2026-11-27T12:00:00+00:00"  # ISO 8601 with its offset
    assert data["hard_stops"] == [] and data["infusion_minutes"] == 60
    assert {d["key"] for d in data["deadlines"]} == {"dilute_by", "start_infusion_by", "end_infusion_by"}
    assert all(d["state"] == "ok" for d in data["deadlines"])
    assert data["monograph_revision"] == MONO.revision


def test_a_room_temperature_bag():
    result = run_cli(
        "deadlines",
        "--reconstituted",
        "2026-11-27T09:00Z",
        "--diluted",
        "2026-11-27T10:00Z",
        "--diluted-storage",
        "room",
        "--infusion-minutes",
        "90",
        "--json",
    )
    assert result.code == 0, result.stderr
    data = result.json()
    diluted = at("2026-11-27T10:00+00:00")
    end_by = at(data["end_infusion_by"])
    assert at(data["start_infusion_by"]) == min(end_by - timedelta(minutes=90), diluted + limit("diluted_room_max"))
    assert "bag_from_fridge_by" not in data
    assert {d["key"]: d["state"] for d in data["deadlines"]}["dilute_by"] == "met"


def test_a_refrigerated_bag_and_its_warm_up():
    args = ["deadlines", "--reconstituted", "2026-11-27T09:00Z", "--diluted", "2026-11-27T10:00Z", "--diluted-storage", "fridge"]
    data = run_cli(*args, "--json").json()
    start_by = at("2026-11-27T10:00+00:00") + limit("diluted_refrigerated_max")
    assert at(data["start_infusion_by"]) == start_by
    assert at(data["bag_from_fridge_by"]) == start_by - limit("refrigerated_bag_warm_up")
    out = run_cli(*args, "--bag-from-fridge", "2026-11-27T11:00Z", "--json")
    assert out.code == 0, out.stderr
    assert at(out.json()["warm_until"]) == at("2026-11-27T11:00+00:00") + limit("refrigerated_bag_warm_up")
    late = run_cli(*args, "--bag-from-fridge", "2026-11-27T12:30Z", "--json")
    assert late.code == 1
    assert late.json()["hard_stop_codes"] == ["bag_from_fridge_by_passed"]


def test_dilution_after_the_four_hour_limit_is_a_hard_stop():
    on_time = run_cli(
        "deadlines",
        "--reconstituted",
        "2026-11-27T09:00+01:00",
        "--diluted",
        "2026-11-27T13:00+01:00",
        "--diluted-storage",
        "room",
        "--json",
    )
    assert on_time.code == 0 and on_time.json()["hard_stops"] == []
    late = run_cli(
        "deadlines",
        "--reconstituted",
        "2026-11-27T09:00+01:00",
        "--diluted",
        "2026-11-27T13:01+01:00",
        "--diluted-storage",
        "room",
        "--json",
    )
    assert late.code == 1
    data = late.json()
    assert len(data["hard_stops"]) == 1 and data["hard_stops"][0].startswith("Dilute by")
    assert data["hard_stop_codes"] == ["dilute_by_passed"]


def test_now_judges_the_states_at_a_given_instant():
    args = ["deadlines", "--reconstituted", "2026-11-27T09:00Z", "--json"]
    warning = run_cli(*args, "--now", "2026-11-27T12:45Z")
    assert warning.code == 0
    assert {d["key"]: d["state"] for d in warning.json()["deadlines"]}["dilute_by"] == "warning"
    expired = run_cli(*args, "--now", "2026-11-27T13:00:01Z")
    assert expired.code == 1 and expired.json()["hard_stop_codes"] == ["dilute_by_passed"]


def test_readable_output_is_local_time_with_the_date():
    result = run_cli("deadlines", "--reconstituted", "2026-11-27T09:00+01:00", env={"TZ": "Europe/Berlin"})
    assert result.code == 0, result.stderr
    assert "Dilute by" in result.stdout and "2026-11-27 13:00 CET" in result.stdout
    late = run_cli(
        "deadlines",
        "--reconstituted",
        "2026-11-27T09:00+01:00",
        "--diluted",
        "2026-11-27T14:00+01:00",
        "--diluted-storage",
        "room",
        env={"TZ": "America/New_York"},
    )
    assert late.code == 1 and "HARD STOP: Dilute by 2026-11-27 07:00 EST" in late.stdout


def test_an_instant_without_offset_is_refused_with_the_example():
    result = run_cli("deadlines", "--reconstituted", "2026-11-27T09:00")
    assert_clean_invalid(result, "--reconstituted: give the UTC offset, e.g. 2026-11-27T09:00+01:00")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--reconstituted", "2026-11-27T09:00Z", "--diluted", "2026-11-27T08:59Z", "--diluted-storage", "room"], "--diluted"),
        (["--reconstituted", "2026-11-27T09:00Z", "--diluted", "2026-11-27T10:00Z"], "--diluted-storage"),
        (["--reconstituted", "2026-11-27T09:00Z", "--diluted-storage", "room"], "--diluted"),
        (["--reconstituted", "2026-11-27T09:00Z", "--diluted", "2026-11-27T10:00Z", "--diluted-storage", "freezer"], "--diluted-storage"),
        (["--reconstituted", "yesterday"], "--reconstituted"),
        (["--reconstituted", "2026-11-27T09:00Z", "--diluted", "2026-11-27T10:00"], "--diluted"),
        (["--reconstituted", "2026-11-27T09:00Z", "--infusion-minutes", "0"], "--infusion-minutes"),
        (["--reconstituted", "2026-11-27T09:00Z", "--infusion-minutes", "481"], "--infusion-minutes"),
        (["--reconstituted", "2026-11-27T09:00Z", "--infusion-minutes", "sixty"], "--infusion-minutes"),
        (["--reconstituted", "2026-11-27T09:00Z", "--bag-from-fridge", "2026-11-27T10:00Z"], "--bag-from-fridge"),
        (["--reconstituted", "2026-11-27T09:00Z", "--now", "2026-11-27T08:00Z"], "--now"),
        ([], "--reconstituted"),
    ],
)
def test_invalid_input_exits_2_naming_the_field(args, field):
    assert_clean_invalid(run_cli("deadlines", *args), field)


def test_the_whole_window_is_an_accepted_infusion_time():
    whole = int(limit("reconstitution_to_end_of_infusion").total_seconds() // 60)
    result = run_cli("deadlines", "--reconstituted", "2026-11-27T09:00Z", "--infusion-minutes", str(whole), "--json")
    assert result.code == 0
    data = result.json()
    assert data["start_infusion_by"] == data["reconstituted"]


def test_an_instant_before_another_is_refused_in_local_time_with_the_date():
    """The refusal gave both instants as raw UTC ISO ('2026-11-27T07:00:00+00:00 is before ...')."""
    result = run_cli(
        "deadlines",
        "--reconstituted",
        "2026-11-27T09:00+01:00",
        "--diluted",
        "2026-11-27T08:00+01:00",
        "--diluted-storage",
        "room",
        env={"TZ": "Europe/Berlin"},
    )
    assert result.code == 2
    assert "2026-11-27 08:00 CET is before --reconstituted 2026-11-27 09:00 CET" in result.stderr, result.stderr
    assert "T0" not in result.stderr
