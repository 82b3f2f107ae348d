"""Issue 15 item 4's follow-up: a legitimate restore from a backup rewinds the audit head for good.
A pharmacist acknowledges it (`audit anchor --acknowledge-restore --reason ... --user ...`): the
gap is recorded (anchor log, signed with the site key, and an audit entry), `audit verify` is
intact again and stays so as work goes on, and anything that is not an older copy (an edit, a
rewritten entry) is still refused and still reported."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone

import pytest

from tests.cli_helpers import run_cli

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.records import Role
from infusion_app.service import open_service
from infusion_app.storage.database import DB_FILENAME

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)
PAUL, TINA = "246813", "135790"
REASON = "disk failure; restored the 02:00 backup"


def _service(folder):
    return open_service(data_dir=folder, clock=FakeClock(T0))


def _backup(folder, target):
    copy = sqlite3.connect(target)
    source = sqlite3.connect(folder / DB_FILENAME)
    source.backup(copy)
    source.close()
    copy.close()


def _put_back(folder, copy):
    for name in (f"{DB_FILENAME}-wal", f"{DB_FILENAME}-shm"):
        (folder / name).unlink(missing_ok=True)
    os.replace(copy, folder / DB_FILENAME)


@pytest.fixture
def restored(tmp_path):
    """A folder whose database was put back from a backup taken before two more changes."""
    folder = tmp_path / "data"
    with _service(folder) as service:
        paul = service.add_user("Paul Pharm", Role.PHARMACIST, PAUL)
        service.add_user("Tina Tech", Role.TECHNICIAN, TINA, actor=paul)
    _backup(folder, tmp_path / "backup.sqlite3")
    with _service(folder) as service:
        paul = service.user("Paul Pharm")
        service.set_setting("paper_size", "a4", paul)
        service.set_setting("warning_lead_minutes", 40, paul)
    _put_back(folder, tmp_path / "backup.sqlite3")
    return folder


def _ack(folder, *extra, pin=PAUL, user="Paul Pharm"):
    return run_cli(
        "audit", "anchor", "--acknowledge-restore", "--reason", REASON, "--user", user, *extra, "--data-dir", str(folder), env={"INFUSION_PREP_PIN": pin}
    )


def test_a_restore_is_reported_until_a_pharmacist_acknowledges_it_then_stays_intact(restored):
    before = run_cli("audit", "verify", "--data-dir", str(restored))
    assert before.code == 1 and "anchor" in before.stdout
    done = _ack(restored)
    assert done.code == 0, done.stderr
    assert "from 4 to 2 entries" in done.stdout and "2 anchored entries" in done.stdout
    after = run_cli("audit", "verify", "--data-dir", str(restored), "--json")
    assert after.code == 0, after.stdout
    report = after.json()
    assert report["intact"] and report["entries"] == 3
    [restore] = report["restores"]
    assert (restore["from_count"], restore["to_count"], restore["by"], restore["reason"]) == (4, 2, "Paul Pharm", REASON)
    with _service(restored) as service:
        entry = service.audit_entries()[-1]
        assert entry.action == "audit.restore_acknowledged" and entry.actor == "Paul Pharm"
        assert json.loads(entry.after)["lost_entries"] == 2 and "os_user" in json.loads(entry.after)
        # Work goes on: the seqs 3 and 4 are used again, and the old anchors of 3 and 4 no longer count.
        service.set_setting("paper_size", "letter", service.user("Paul Pharm"))
        service.set_setting("warning_lead_minutes", 20, service.user("Paul Pharm"))
        assert service.verify_audit().intact
    text = run_cli("audit", "verify", "--data-dir", str(restored))
    assert text.code == 0 and "restored from a backup, acknowledged by Paul Pharm" in text.stdout


def test_the_acknowledgement_needs_a_pharmacist_and_their_pin(restored):
    technician = _ack(restored, user="Tina Tech", pin=TINA)
    assert technician.code == 1 and "pharmacist" in technician.stderr
    wrong = _ack(restored, pin="000000")
    assert wrong.code == 2 and "not recognised" in wrong.stderr
    no_user = run_cli("audit", "anchor", "--acknowledge-restore", "--reason", REASON, "--data-dir", str(restored))
    assert no_user.code == 2 and "--user" in no_user.stderr
    short = _ack(restored, "--reason", "x")
    assert short.code == 2 and "reason" in short.stderr
    assert run_cli("audit", "verify", "--data-dir", str(restored)).code == 1  # nothing acknowledged


def test_an_intact_log_has_nothing_to_acknowledge(tmp_path):
    folder = tmp_path / "data"
    with _service(folder) as service:
        service.add_user("Paul Pharm", Role.PHARMACIST, PAUL)
    result = _ack(folder)
    assert result.code == 1 and "nothing-to-acknowledge" in result.stderr


def test_an_edited_copy_is_not_acknowledged_as_a_restore(restored):
    connection = sqlite3.connect(restored / DB_FILENAME)
    with connection:  # the restored copy, with a role raised behind the log's back
        connection.execute("UPDATE users SET role = 'pharmacist' WHERE name = 'Tina Tech'")
    connection.close()
    result = _ack(restored)
    assert result.code == 1 and "not-a-restore" in result.stderr
    assert run_cli("audit", "verify", "--data-dir", str(restored)).code == 1


def test_a_copy_whose_anchored_entry_differs_is_not_a_restore(tmp_path):
    """A copy of the right length whose anchored head differs is a rewrite, not an older copy."""
    folder = tmp_path / "data"
    with _service(folder) as service:
        paul = service.add_user("Paul Pharm", Role.PHARMACIST, PAUL)
        service.add_user("Tina Tech", Role.TECHNICIAN, TINA, actor=paul)
        service.set_setting("paper_size", "a4", paul)
    anchor_log = folder / "audit-anchor.log"
    lines = anchor_log.read_text().splitlines()
    forged = [json.loads(line) for line in lines]
    for value in forged:
        if value.get("count") == 2:
            value["head"] = "f" * 64
    forged.append({"count": 9, "head": "e" * 64})
    anchor_log.write_text("".join(json.dumps(v) + "\n" for v in forged))
    result = _ack(folder)
    assert result.code == 1 and "not-a-restore" in result.stderr


def test_a_restore_line_forged_without_the_site_key_is_reported(restored):
    anchor_log = restored / "audit-anchor.log"
    with _service(restored) as service:
        head = service.audit_entries()[-1].hash
    forged = {"restore": {"from_count": 4, "from_head": "0" * 64, "to_count": 2, "to_head": head, "by": "Paul Pharm", "reason": REASON}, "mac": "0" * 64}
    with open(anchor_log, "a") as stream:
        stream.write(json.dumps(forged) + "\n")
    result = run_cli("audit", "verify", "--data-dir", str(restored))
    assert result.code == 1 and "not signed with the site key" in result.stdout


def test_the_acknowledgement_options_alone_are_refused(restored):
    result = run_cli("audit", "anchor", "--reason", REASON, "--data-dir", str(restored))
    assert result.code == 2 and "--acknowledge-restore" in result.stderr
