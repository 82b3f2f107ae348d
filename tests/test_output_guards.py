"""Issue 15 re-walk: every file the program writes goes through the one safe writer, and the
audit key, the anchor log, the site configuration and the password files are protected like the
database (a --force output over the key made every later command refuse to start)."""

from __future__ import annotations

import pytest

from tests.test_integrity import DB_FILENAME, cli, data  # noqa: F401 - the fixture

from infusion_app.storage.audit_seal import ANCHOR_FILENAME, KEY_FILENAME


def _demo(command: str) -> list[str]:
    return {"sheet": ["sheet", "--demo"], "label": ["label", "--demo"], "downtime": ["downtime"], "audit": ["audit", "export"]}[command]


@pytest.mark.parametrize("with_dir", [True, False])
def test_downtime_never_overwrites_the_database(data, capsys, with_dir):  # noqa: F811
    before = (data / DB_FILENAME).read_bytes()
    extra = ["--data-dir", str(data)] if with_dir else []
    code, _, err = cli(capsys, "downtime", "--out", str(data / DB_FILENAME), "--force", *extra)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (data / DB_FILENAME).read_bytes() == before


@pytest.mark.parametrize("command", ["sheet", "label", "downtime", "audit"])
@pytest.mark.parametrize("name", [KEY_FILENAME, ANCHOR_FILENAME])
def test_no_output_replaces_the_audit_key_or_the_anchor_log(data, capsys, command, name):  # noqa: F811
    target = data / name
    before = target.read_bytes() if target.exists() else None
    code, _, err = cli(capsys, *_demo(command), "--out", str(target), "--force", "--data-dir", str(data))
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (target.read_bytes() if target.exists() else None) == before
    assert cli(capsys, "audit", "verify", "--data-dir", str(data))[0] == 0


def test_the_key_and_anchor_files_named_by_the_environment_and_the_site_config_are_protected(data, tmp_path, capsys, monkeypatch):  # noqa: F811
    for variable, name in (
        ("INFUSION_PREP_AUDIT_KEY_FILE", "site.key"),
        ("INFUSION_PREP_AUDIT_ANCHOR_FILE", "anchors.txt"),
        ("INFUSION_PREP_SITE_CONFIG", "site.toml"),
        ("PGPASSFILE", "pgpass"),
    ):
        guarded = tmp_path / name
        guarded.write_text("keep me")
        monkeypatch.setenv(variable, str(guarded))
        code, _, err = cli(capsys, "label", "--demo", "--out", str(guarded), "--force")
        assert code == 2, (variable, err)
        assert guarded.read_text() == "keep me"
        monkeypatch.delenv(variable)


@pytest.mark.parametrize("name", ["a" * 300 + ".pdf", "m\x1b[31m.pdf", ""])
def test_downtime_refuses_unusable_names_in_one_line(tmp_path, capsys, name):
    code, _, err = cli(capsys, "downtime", "--out", str(tmp_path / name) if name else name)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "\x1b" not in err
    assert list(tmp_path.iterdir()) == []


def test_the_service_writer_used_by_the_gui_refuses_the_database_and_the_key(data):  # noqa: F811
    from infusion_app.service import open_service

    before = (data / DB_FILENAME).read_bytes()
    with open_service(data_dir=data) as service:
        for name in (DB_FILENAME, KEY_FILENAME):
            with pytest.raises(ValueError):
                service.write_file(data / name, b"%PDF-1.4", force=True)
    assert (data / DB_FILENAME).read_bytes()[:16] == before[:16]


# -- SQLite URI URLs named a device, a FIFO or memory past every check ---------------------------


@pytest.mark.parametrize("kind", ["device", "fifo", "memory", "file"])
def test_sqlite_uri_urls_are_refused_before_anything_is_opened(tmp_path, capsys, kind):
    import os
    import stat

    target = tmp_path / "x"
    if kind == "device":
        if os.geteuid() != 0:
            pytest.skip("mknod of a character device needs root")
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    elif kind == "fifo":
        os.mkfifo(target, 0o644)
    url = {"memory": "sqlite:///file::memory:?uri=true", "file": f"sqlite:///file:{tmp_path / 'db.sqlite3'}"}.get(kind, f"sqlite:///file:{target}?uri=true")
    for argv in (["prep", "list"], ["user", "list"]):
        code, _, err = cli(capsys, *argv, "--database", url)
        assert code == 3, err
        assert "SQLite URI" in err and "sqlite:////" in err and len(err.strip().splitlines()) == 1
    if kind in ("device", "fifo"):
        info = os.stat(target)
        assert (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)) and stat.S_IMODE(info.st_mode) in (0o666, 0o644)
    assert not (tmp_path / "db.sqlite3").exists()


def test_user_add_on_an_in_memory_uri_is_refused(capsys, monkeypatch):
    monkeypatch.setenv("INFUSION_PREP_PIN", "111111")
    code, _, err = cli(capsys, "user", "add", "Ana Silva", "--role", "pharmacist", "--database", "sqlite:///file::memory:?uri=true")
    assert code == 3 and "SQLite URI" in err


# -- a deleted audit key is never silently replaced -----------------------------------------------


@pytest.mark.parametrize("also_anchor", [False, True])
def test_a_deleted_audit_key_on_sqlite_is_refused_not_replaced(data, capsys, also_anchor):  # noqa: F811
    from infusion_app.storage.audit_seal import ANCHOR_FILENAME, KEY_FILENAME

    assert cli(capsys, "audit", "verify", "--data-dir", str(data))[0] == 0
    (data / KEY_FILENAME).unlink()
    if also_anchor:
        (data / ANCHOR_FILENAME).unlink()
    for argv in (["audit", "verify"], ["user", "list"]):
        code, _, err = cli(capsys, *argv, "--data-dir", str(data))
        assert code == 3, err
        assert "audit key" in err and "missing" in err and len(err.strip().splitlines()) == 1
    assert not (data / KEY_FILENAME).exists()


# -- station names go into every event, audit entry and the audit CSV -----------------------------


@pytest.mark.parametrize("name", ['=HYPERLINK("x")\x1b[2J', "bench\n2", "x" * 5000])
def test_an_unusable_station_name_is_refused_before_anything_is_written(data, capsys, monkeypatch, name):  # noqa: F811
    import sqlite3

    def audit_count() -> int:
        connection = sqlite3.connect(data / DB_FILENAME)
        try:
            return connection.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        finally:
            connection.close()

    before = audit_count()
    monkeypatch.setenv("INFUSION_PREP_STATION", name)
    monkeypatch.setenv("INFUSION_PREP_PIN", "246813")
    monkeypatch.setenv("INFUSION_PREP_NEW_PIN", "333333")
    code, _, err = cli(capsys, "user", "add", "Tina Tech", "--role", "technician", "--user", "Paul Pharm", "--data-dir", str(data))
    assert code == 2, err
    assert "INFUSION_PREP_STATION" in err and "bench-1" in err and len(err.strip().splitlines()) == 1 and "\x1b" not in err
    assert audit_count() == before


@pytest.mark.parametrize("toml_text", ["bad\\u001b[2J", "x" * 5000])
def test_an_unusable_station_in_the_site_file_is_one_line(data, tmp_path, capsys, monkeypatch, toml_text):  # noqa: F811
    site = tmp_path / "site.toml"
    site.write_text(f'station = "{toml_text}"\n')
    monkeypatch.setenv("INFUSION_PREP_SITE_CONFIG", str(site))
    monkeypatch.delenv("INFUSION_PREP_STATION", raising=False)
    code, _, err = cli(capsys, "user", "list", "--data-dir", str(data))
    assert code == 3, err
    assert "'station'" in err and str(site) in err and len(err.strip().splitlines()) == 1 and "\x1b" not in err


def test_a_plain_station_name_is_recorded(data, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setenv("INFUSION_PREP_STATION", "  bench   1 ")
    monkeypatch.setenv("INFUSION_PREP_PIN", "246813")
    monkeypatch.setenv("INFUSION_PREP_NEW_PIN", "333333")
    assert cli(capsys, "user", "add", "Tina Tech", "--role", "technician", "--user", "Paul Pharm", "--data-dir", str(data))[0] == 0
    import sqlite3

    connection = sqlite3.connect(data / DB_FILENAME)
    try:
        assert connection.execute("SELECT station FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()[0] == "bench 1"
    finally:
        connection.close()


# -- the site configuration file -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "binary", "folder"])
def test_an_unusable_site_configuration_is_one_line_exit_3(data, tmp_path, capsys, monkeypatch, kind):  # noqa: F811
    import os

    site = tmp_path / "site.toml"
    if kind == "fifo":
        os.mkfifo(site)  # opening it for reading would block for ever
    elif kind == "folder":
        site.mkdir()
    else:
        site.write_bytes(b"\xff\xfe")
    monkeypatch.setenv("INFUSION_PREP_SITE_CONFIG", str(site))
    code, _, err = cli(capsys, "prep", "list", "--data-dir", str(data))
    assert code == 3, err
    assert str(site) in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
