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
import itertools
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


# -- a copy of a template database, emptied and refilled between tests (issue 19) ----------------
# CREATE DATABASE ... TEMPLATE writes every page of the copy, system catalogs included, through the
# WAL: about 0.4 s of server CPU on the 2-core machine, some 250 times a run, and the drop after it
# more. A copy is instead kept per worker and template and put back between tests: every table
# truncated and refilled from the rows the template held, every sequence set back. A test that
# changed anything else (a table, column, trigger, function, index, grant, the database's own
# settings) or ended with the copy gone gets a new copy: its schema fingerprint is compared when the
# copy is taken again.

_FINGERPRINT = """
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
)
SELECT md5(coalesce(string_agg(item, E'\\n' ORDER BY item), '')) FROM (
    SELECT 'ns ' || n.nspname || ' ' || pg_get_userbyid(n.nspowner) || ' ' || coalesce(n.nspacl::text, '') AS item FROM pg_namespace n JOIN ns USING (oid)
    UNION ALL
    SELECT 'rel ' || ns.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' || pg_get_userbyid(c.relowner) || ' ' || coalesce(c.relacl::text, '')
        || ' ' || c.relrowsecurity || ' ' || coalesce(c.reloptions::text, '')
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT 'col ' || a.attrelid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text
        || ' ' || a.attnum::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' ' || coalesce(a.attacl::text, '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN ns ON ns.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'trg ' || t.tgrelid::regclass::text || ' ' || t.tgname || ' ' || t.tgenabled::text || ' ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON ns.oid = c.relnamespace WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'con ' || co.conrelid::regclass::text || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
    FROM pg_constraint co JOIN ns ON ns.oid = co.connamespace
    UNION ALL
    SELECT 'idx ' || i.indexrelid::regclass::text || ' ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN ns ON ns.oid = c.relnamespace
    UNION ALL
    SELECT 'fn ' || ns.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc)
        || ' ' || pg_get_userbyid(p.proowner) || ' ' || coalesce(p.proacl::text, '') || ' ' || p.prosecdef::text
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
    UNION ALL
    SELECT 'pol ' || po.polrelid::regclass::text || ' ' || po.polname FROM pg_policy po
    UNION ALL
    SELECT 'ext ' || extname || ' ' || extversion FROM pg_extension
    UNION ALL
    SELECT 'db ' || d.datallowconn::text || ' ' || d.datconnlimit::text || ' ' || coalesce(d.datacl::text, '') || ' ' || pg_get_userbyid(d.datdba)
    FROM pg_database d WHERE d.datname = current_database()
    UNION ALL
    SELECT 'set ' || coalesce(s.setrole::text, '') || ' ' || coalesce(s.setconfig::text, '')
    FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()
) items
"""

_TABLES = """
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
ORDER BY 1
"""

_SEQUENCES = """
SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences
WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1
"""


def _connect(url: str, database: str, **options):
    import psycopg
    from sqlalchemy.engine import make_url

    parts = make_url(url)
    return psycopg.connect(
        host=parts.query.get("host") or parts.host, port=parts.port, user=parts.username, password=parts.password, dbname=database, **options
    )


class _Snapshot:
    """What a template database holds: its schema fingerprint, each table's rows (binary COPY)
    and each sequence's position."""

    def __init__(self, connection) -> None:
        with connection.cursor() as cursor:
            self.fingerprint = cursor.execute(_FINGERPRINT).fetchone()[0]
            self.tables = [row[0] for row in cursor.execute(_TABLES).fetchall()]
            self.rows: dict[str, bytes] = {}
            for table in self.tables:
                with cursor.copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
                    data = b"".join(bytes(block) for block in copy)
                if cursor.execute(f"SELECT EXISTS (SELECT FROM {table})").fetchone()[0]:
                    self.rows[table] = data
            self.sequences = [
                (name, *cursor.execute(f"SELECT last_value, is_called FROM {name}").fetchone()) for (name,) in cursor.execute(_SEQUENCES).fetchall()
            ]


_copy_numbers = itertools.count(1)  # one series per process, whatever instance names a copy


class ReusedCopies:
    """Copies of template databases for one test process: `take(template)` gives a database
    holding exactly what `template` holds, `give_back(name)` after the test."""

    def __init__(self, admin_url: str) -> None:
        self._admin = admin_url
        self._snapshots: dict[str, _Snapshot] = {}
        self._free: dict[str, list[str]] = {}
        self._template_of: dict[str, str] = {}  # every copy made and not dropped, free or taken

    def take(self, template: str) -> str:
        free = self._free.setdefault(template, [])
        while free:
            name = free.pop()
            try:
                self._put_back(name, self._snapshots[template])
                return name
            except Exception:
                self._drop(name)
        name = f"infusion_copy_{os.getpid()}_{next(_copy_numbers)}"
        execute_autocommit(self._admin, f"CREATE DATABASE {name} TEMPLATE {template}")
        if template not in self._snapshots:
            with _connect(self._admin, name) as connection:
                self._snapshots[template] = _Snapshot(connection)
        self._template_of[name] = template
        return name

    def give_back(self, name: str) -> None:
        """The test is over: the copy is put back (or, its schema changed, dropped) at its next take."""
        self._free[self._template_of[name]].append(name)

    def forget(self, template: str) -> None:
        """`template` is about to be dropped: its copies and snapshot go with it. A template made
        again under the same name (a module's fixture set up again when the module's tests were
        split between workers) was otherwise restored from the first one's snapshot, audit entries
        sealed with another data folder's key."""
        for name in self._free.pop(template, []):
            self._drop(name)
        self._snapshots.pop(template, None)

    def drop_all(self) -> None:
        for name in list(self._template_of):
            self._drop(name)
        self._free.clear()

    def _drop(self, name: str) -> None:
        self._template_of.pop(name, None)
        execute_autocommit(self._admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _put_back(self, name: str, snapshot: _Snapshot) -> None:
        with _connect(self._admin, name) as connection, connection.cursor() as cursor:
            # Connections the last test left open would hold locks the TRUNCATE waits for.
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            if cursor.execute(_FINGERPRINT).fetchone()[0] != snapshot.fingerprint:
                raise RuntimeError(f"{name} no longer has its template's schema")
            # Triggers (the audit chain's refusals, foreign keys) are the schema's, not under test here.
            cursor.execute("SET LOCAL session_replication_role = replica")
            # DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE gave every table and index
            # a new file (take and put back 88 -> 33 ms). The sequences are set back below. The lock
            # is the one TRUNCATE took: it waits out a writer the last test killed, whose server
            # process may still be committing, so that no row of it escapes the DELETE.
            if snapshot.tables:
                cursor.execute(f"LOCK TABLE {', '.join(snapshot.tables)} IN ACCESS EXCLUSIVE MODE")
            for table in snapshot.tables:
                cursor.execute(f"DELETE FROM {table}")
            for table, data in snapshot.rows.items():
                with cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                    copy.write(data)
            for sequence, last_value, is_called in snapshot.sequences:
                cursor.execute("SELECT setval(%s, %s, %s)", (sequence, last_value, is_called))
            connection.commit()
