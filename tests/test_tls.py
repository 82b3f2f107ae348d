"""TLS to the shared server (issue 14): a throwaway cluster with a self-signed CA and a server
certificate made here with openssl, listening on localhost only with hostssl and a password; the
station connects through the site file with sslmode=verify-full, the password from a 0600
PGPASSFILE (never a command line). A CA that does not match is a one-line exit 3."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from infusion_app.cli import main
from infusion_app.domain.records import Role
from infusion_app.service import open_service

from tests.postgres_server import NoPostgres, ThrowawayCluster, execute_autocommit, with_database

PASSWORD = "tls-test-secret-7"


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=folder)
    return folder / f"{name}.crt", folder / f"{name}.key"


def make_server_cert(folder: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n", encoding="ascii")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr", cwd=folder)
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        str(ca[0]),
        "-CAkey",
        str(ca[1]),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
        cwd=folder,
    )
    return folder / "server.crt", folder / "server.key"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def tls_server(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("the TLS test needs openssl (Debian's openssl package)", pytrace=False)
    try:
        cluster = ThrowawayCluster()
    except NoPostgres as exc:
        pytest.fail(f"PostgreSQL tests cannot run: {exc}", pytrace=False)
    certs = cluster.root / "certs"
    certs.mkdir()
    ca = make_ca(certs, "site-ca")
    cert, key = make_server_cert(certs, ca)
    owner = cluster.root.stat()
    for path in [certs, *certs.iterdir()]:
        os.chown(path, owner.st_uid, owner.st_gid)  # the server's account reads them (the key: it alone)
    key.chmod(0o600)
    port = _free_port()
    try:
        admin = cluster.start(f"-c listen_addresses=localhost -c port={port} -c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}")
    except NoPostgres as exc:
        cluster.stop()
        pytest.fail(f"PostgreSQL tests cannot run: {exc}", pytrace=False)
    try:
        from infusion_app.storage.database import application_role_sql, upgrade_database

        admin = f"{admin}&port={port}"
        execute_autocommit(admin, "CREATE DATABASE infusion", f"CREATE ROLE infusion_app LOGIN PASSWORD '{PASSWORD}'")
        owner_url = with_database(admin, "infusion")
        upgrade_database(tmp_path / "upgrade", owner_url)
        execute_autocommit(owner_url, *application_role_sql("infusion_app"))
        # Over TCP: TLS and a password only (the Unix socket stays the test's own, trusted).
        hba = cluster.data / "pg_hba.conf"
        hba.write_text("local all all trust\nhostssl infusion infusion_app localhost scram-sha-256\n", encoding="ascii")
        os.chown(hba, owner.st_uid, owner.st_gid)
        execute_autocommit(admin, "SELECT pg_reload_conf()")
        yield port, ca[0], certs
    finally:
        cluster.stop()


def site_file(tmp_path: Path, port: int, root_cert: Path) -> Path:
    site = tmp_path / "site.toml"
    site.write_text(
        f'database = "postgresql+psycopg://infusion_app@localhost:{port}/infusion?sslmode=verify-full&sslrootcert={root_cert}"\nstation = "bench-tls"\n',
        encoding="utf-8",
    )
    return site


def test_a_station_connects_with_verify_full_through_the_site_file_and_a_pgpass_file(tmp_path, tls_server, monkeypatch, capsys):
    port, ca_cert, _certs = tls_server
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"localhost:{port}:infusion:infusion_app:{PASSWORD}\n", encoding="ascii")
    passfile.chmod(0o600)  # libpq ignores a password file others can read
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.setenv("INFUSION_PREP_SITE_CONFIG", str(site_file(tmp_path, port, ca_cert)))
    monkeypatch.setenv("INFUSION_PREP_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    monkeypatch.setenv("INFUSION_PREP_AUDIT_ANCHOR_FILE", str(tmp_path / "audit-anchor.log"))
    monkeypatch.delenv("INFUSION_PREP_STATION", raising=False)
    with open_service() as service:  # no folder, no URL, no password anywhere but the pgpass file
        pharmacist = service.add_user("Paul Pharm", Role.PHARMACIST, "222222")
        service.add_user("Tina Tech", Role.TECHNICIAN, "111111", actor=pharmacist)
        with service.engine.connect() as connection:
            from sqlalchemy import text

            encrypted = connection.execute(text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).one()
        assert encrypted[0] is True and encrypted[1].startswith("TLS"), encrypted
        assert service.station == "bench-tls" and service.verify_audit().intact
    capsys.readouterr()
    assert main(["db", "status"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_a_server_certificate_from_another_ca_is_refused_in_one_line_exit_3(tmp_path, tls_server, monkeypatch, capsys):
    port, _ca_cert, certs = tls_server
    other_ca = make_ca(tmp_path, "somebody-elses-ca")[0]
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"localhost:{port}:infusion:infusion_app:{PASSWORD}\n", encoding="ascii")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    monkeypatch.setenv("INFUSION_PREP_SITE_CONFIG", str(site_file(tmp_path, port, other_ca)))
    monkeypatch.setenv("INFUSION_PREP_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    monkeypatch.setenv("INFUSION_PREP_AUDIT_ANCHOR_FILE", str(tmp_path / "audit-anchor.log"))
    for command in (["prep", "list"], ["db", "status"]):
        capsys.readouterr()
        assert main(command) == 3, command
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "is not signed by the CA this station trusts" in err and "Traceback" not in err, err
        assert "sslrootcert" in err and "ask IT" in err and PASSWORD not in err
