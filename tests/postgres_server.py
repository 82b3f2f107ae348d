"""A PostgreSQL server for the tests: the one named by INFUSION_PREP_TEST_POSTGRES, or a
throwaway cluster started here (Debian's `postgresql`, installed by packaging/bootstrap.sh --test).

The throwaway cluster lives in a temporary folder, listens on a Unix socket there only (no TCP
port to collide with another run) and is stopped and removed at the end. initdb refuses to run
as root, so as root it runs as the `postgres` account, in a folder handed to that account.
No server is a failure naming the reason, never a skip: the PostgreSQL half of the storage
tests must not vanish from a run unnoticed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

ENV = "INFUSION_PREP_TEST_POSTGRES"


class NoPostgres(RuntimeError):
    """No server could be found or started; the message says why and what to do."""


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise NoPostgres(
        f"no PostgreSQL server programs (initdb) on this machine and {ENV} is not set: "
        "run `bash packaging/bootstrap.sh --test` (installs Debian's postgresql) or set "
        f"{ENV}=postgresql+psycopg://user@host/dbname"
    )


class ThrowawayCluster:
    def __init__(self, root: Path | None = None) -> None:
        self.bin = _bin_dir()
        self.root = root or Path(tempfile.mkdtemp(prefix="infusion-prep-pg-"))
        self.data = self.root / "data"
        self.socket = self.root
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise NoPostgres(
                    "running as root and there is no `postgres` account to run initdb as "
                    "(initdb refuses root): install Debian's postgresql (packaging/bootstrap.sh --test)"
                ) from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
            os.chmod(self.root, 0o700)
            runner = shutil.which("runuser") or shutil.which("su")
            if runner is None:
                raise NoPostgres("running as root without runuser or su to start PostgreSQL as `postgres`")
            self._as = [runner, "-u", "postgres", "--"] if runner.endswith("runuser") else [runner, "postgres", "-s", "/bin/sh", "-c"]
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    @classmethod
    def at(cls, root: Path) -> "ThrowawayCluster":
        """The cluster another process started in `root` (to stop it when that process has gone)."""
        return cls(root)

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if self._as and self._as[-1] == "-c":  # su: one shell command line
            import shlex

            command = [*self._as, " ".join(shlex.quote(a) for a in argv)]
        elif self._as:
            command = [*self._as, *argv]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            raise NoPostgres(f"{Path(argv[0]).name} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")

    def start(self, extra_options: str = "") -> str:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync", "-E", "UTF8", "--locale=C")
        # Durability is not under test here (the crash tests kill clients, not the server).
        self._options = (
            f"-k {self.socket} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 {extra_options}"
        )
        self.resume()
        return f"postgresql+psycopg://{self.user}@/postgres?host={self.socket}"

    def pause(self) -> None:
        """Stop the server (the data kept): every station loses it at once. Fast, not immediate:
        with synchronous_commit off, an immediate stop would lose the last commits."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", self._options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (NoPostgres, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def admin_url() -> tuple[str, ThrowawayCluster | None]:
    """(a URL of a database the tests may create databases from, the cluster to stop or None)."""
    given = os.environ.get(ENV)
    if given:
        return given, None
    cluster = ThrowawayCluster()
    try:
        return cluster.start(), cluster
    except BaseException:
        cluster.stop()
        raise


def with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def execute_autocommit(url: str, *statements: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()
