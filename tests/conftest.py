"""Test setup shared by every test."""

from __future__ import annotations

import gc
import os
import sys
import tempfile

# Qt must never need a display in tests; set before anything imports PySide6.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
# Keep tests away from the real user data folder, whatever a test forgets to pass.
os.environ.setdefault("INFUSION_PREP_TESTING", "1")
# pint's parsed unit definitions (domain/quantities.py) cached outside the user's home, kept
# between runs so that every test process and CLI subprocess starts with a cached registry.
os.environ.setdefault("INFUSION_PREP_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"infusion-prep-test-cache-{os.getuid()}"))

import pytest  # noqa: E402  (after the environment above)
from hypothesis import HealthCheck, settings  # noqa: E402

# Property tests: a fast default for every run, a thorough profile for the nightly run
# (INFUSION_PREP_HYPOTHESIS=thorough). No deadline: a loaded CI machine makes timings noise.
settings.register_profile("fast", max_examples=50, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("INFUSION_PREP_HYPOTHESIS", "fast"))

# The collector at a test run's pace. A test process makes thousands of short-lived objects per
# test (services, ORM rows, Qt wrappers) over a heap of a few hundred MB; at CPython's default (a
# young collection every 700 net allocations) GC was 23-33 s of each worker's CPU in a full run.
# Measured, one process, test_independent_crosscheck + test_integrity + gui/test_bench_wizard:
# GC 4.1 s -> 2.3 s, CPU 48.2 s -> 44.2 s, peak RSS 373 -> 387 MB at (200000, 100, 100); a
# million was slower again (cache misses). Cycles are still collected, less often; the program
# itself keeps CPython's defaults.
gc.set_threshold(200_000, 100, 100)

# The PIN key derivation at a test cost. At the program's cost (scrypt n=2**14, 60-110 ms of CPU
# per PIN on the loaded 2-core machine) the suite's thousand-odd sign-ins and PIN checks were about
# a fifth of its CPU time, and no test but the KDF's own measures the cost: the stored text names
# its parameters (security.verify_pin reads them back), so a PIN hashed here is checked through the
# same code at n=2**4. Only this process is changed: a program started as a subprocess hashes a new
# PIN at the program's cost. The test of the KDF itself takes `production_pin_cost`.
from infusion_app.domain import security  # noqa: E402

PRODUCTION_SCRYPT_N = security.SCRYPT_N
TEST_SCRYPT_N = 2**4
security.SCRYPT_N = TEST_SCRYPT_N


# The test modules as rewritten for their asserts are kept (tests/rewrite_cache.py says why).
sys.dont_write_bytecode = False


def pytest_configure(config):
    from tests import rewrite_cache

    rewrite_cache.prepare(config, Path(__file__).parent)


def pytest_addoption(parser):
    # A virtual environment made before pytest-timeout joined the test extras still runs the
    # suite (without the per-test limit) instead of stopping at --strict-config's "unknown
    # option timeout"; packaging/bootstrap.sh --test installs it.
    try:
        import pytest_timeout  # noqa: F401
    except ImportError:
        parser.addini("timeout", "per-test timeout (needs pytest-timeout)")


class _Watchdog:
    """pytest-timeout's thread method with one thread for the whole process instead of one per test.

    Its own method starts a threading.Timer for every test and joins it afterwards: two thread
    hand-overs per test, about 3 ms each on the loaded 2-core machine, 40 % of a short test and
    some 20 s of the suite. This thread sleeps until the deadline of the test running now; a new
    test moves the deadline and wakes it only when that comes sooner. At the deadline it does what
    pytest-timeout does: its own timeout_timer prints the captured output and every thread's stack
    and ends the process (os._exit), which also ends a hang inside Qt that never returns to Python.
    """

    def __init__(self) -> None:
        import threading

        self._changed = threading.Condition()
        self._armed: tuple[float, object, object] | None = None  # (deadline, item, settings)
        self._thread: threading.Thread | None = None
        self._pid = 0

    def arm(self, item, settings) -> None:
        import threading
        import time

        deadline = time.monotonic() + settings.timeout
        with self._changed:
            if self._thread is None or self._pid != os.getpid():  # a forked child has no watchdog thread
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._watch, name="pytest-timeout watchdog", daemon=True)
                self._thread.start()
            sooner = self._armed is None or deadline < self._armed[0]
            self._armed = (deadline, item, settings)
            if sooner:
                self._changed.notify()

    def disarm(self) -> None:
        with self._changed:
            self._armed = None  # the thread wakes at the old deadline, if ever, and finds nothing due

    def _watch(self) -> None:
        import time

        import pytest_timeout

        with self._changed:
            while True:
                if self._armed is None:
                    self._changed.wait()
                    continue
                deadline, item, settings = self._armed
                left = deadline - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                break
        pytest_timeout.timeout_timer(item, settings)  # never returns: os._exit(1)


_WATCHDOG = _Watchdog()


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # without pytest-timeout: no such hook, no timeout
def pytest_timeout_set_timer(item, settings):
    if settings.method != "thread":
        return None  # pytest-timeout's own (the signal method)
    _WATCHDOG.arm(item, settings)
    item.cancel_timeout = _WATCHDOG.disarm  # what pytest-timeout's own cancel hook calls
    return True


def pytest_collection_modifyitems(config, items):
    # The tests marked slow (tens of seconds each on the loaded 2-core CI machine) run first, in
    # their collected order, and the short ones after them: with `--dist worksteal` each worker
    # starts on its share of the list in order and steals from the others when it runs out, so
    # short tests fill in around the long ones instead of one long test starting last and
    # keeping the run going alone.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# -- PostgreSQL beside SQLite (issue 14) --------------------------------------------------------
# The storage, service, audit and crash tests take the `database` fixture: each runs once on an
# SQLite file in tmp_path (database None) and once on its own PostgreSQL database (a URL), created
# from one migrated template per session. The server: INFUSION_PREP_TEST_POSTGRES, or a throwaway
# cluster (tests/postgres_server.py). No server fails those tests with the reason; never a skip.


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory):
    """One server for the whole run: with pytest-xdist its workers share one throwaway cluster
    (started by the first that needs it, stopped by the last that used it, under a file lock in
    the run's shared temporary folder); each worker makes its own databases (names carry its pid)."""
    import fcntl
    import json

    from tests.postgres_server import NoPostgres, admin_url

    shared = tmp_path_factory.getbasetemp().parent if os.environ.get("PYTEST_XDIST_WORKER") else tmp_path_factory.getbasetemp()
    lock_path, state_path = shared / "postgres.lock", shared / "postgres.json"

    def locked(change):
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = json.loads(state_path.read_text()) if state_path.exists() else {"url": None, "users": 0}
                state = change(state)
                state_path.write_text(json.dumps(state))
                return state
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    cluster = None

    def join(state):
        nonlocal cluster
        if state["url"] is None:
            url, cluster = admin_url()  # NoPostgres: nothing recorded, the next worker tries again
            state = {"url": url, "users": 0, "root": str(cluster.root) if cluster is not None else None}
        return {**state, "users": state["users"] + 1}

    try:
        url = locked(join)["url"]
    except NoPostgres as exc:
        pytest.fail(f"PostgreSQL tests cannot run: {exc}", pytrace=False)
    yield url

    def leave(state):
        users = state["users"] - 1
        if users == 0:
            from tests.postgres_server import ThrowawayCluster

            owner = cluster
            if owner is None and state.get("root"):  # started by another worker, which has finished
                owner = ThrowawayCluster.at(Path(state["root"]))
            if owner is not None:
                owner.stop()
            return {"url": None, "users": 0}
        return {**state, "users": users}

    locked(leave)


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url, tmp_path_factory):
    """A database migrated by `db upgrade` once; each test gets a copy (CREATE DATABASE ... TEMPLATE)."""
    from tests.postgres_server import execute_autocommit, with_database

    from infusion_app.storage.database import upgrade_database

    name = f"infusion_template_{os.getpid()}"
    execute_autocommit(postgres_admin_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    upgrade_database(tmp_path_factory.mktemp("pg-template"), with_database(postgres_admin_url, name))
    yield name
    execute_autocommit(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_staffed(postgres_admin_url, postgres_template, tmp_path_factory):
    """(data folder, database name): the migrated template with STAFF added, made once per test
    process, for a test that copies both (the folder holds the audit seal of the database's
    entries; a copy of the database without it is refused)."""
    from tests.postgres_server import execute_autocommit, with_database

    from infusion_app.domain.clock import FakeClock
    from infusion_app.service import open_service

    name = f"infusion_staffed_{os.getpid()}"
    folder = tmp_path_factory.mktemp("pg-staffed")
    execute_autocommit(postgres_admin_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name} TEMPLATE {postgres_template}")
    with open_service(data_dir=folder, database=with_database(postgres_admin_url, name), clock=FakeClock(TEMPLATE_INSTANT)) as service:
        add_staff(service)
    yield folder, name
    execute_autocommit(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def postgres_staffed_url(postgres_admin_url, postgres_staffed, reused_copies, tmp_path):
    """A PostgreSQL database of this test's own holding STAFF (a copy of postgres_staffed), with
    its audit seal copied into tmp_path (pass tmp_path as the data folder)."""
    from tests.postgres_server import with_database

    folder, template = postgres_staffed
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    name = reused_copies.take(template)
    yield with_database(postgres_admin_url, name)
    reused_copies.give_back(name)


@pytest.fixture
def postgres_url(postgres_admin_url, postgres_template, reused_copies):
    """A migrated PostgreSQL database of this test's own, holding what a new one holds."""
    from tests.postgres_server import with_database

    name = reused_copies.take(postgres_template)
    yield with_database(postgres_admin_url, name)
    reused_copies.give_back(name)


@pytest.fixture(scope="session")
def reused_copies(postgres_admin_url):
    """Copies of template databases, put back to their template's rows between tests instead of
    made anew (tests/postgres_server.py, ReusedCopies)."""
    from tests.postgres_server import ReusedCopies

    copies = ReusedCopies(postgres_admin_url)
    yield copies
    copies.drop_all()


@pytest.fixture
def own_server(tmp_path):
    """A server this test may stop (the session's shared one serves every other test)."""
    from tests.postgres_server import NoPostgres, ThrowawayCluster, execute_autocommit, with_database

    from infusion_app.storage.database import upgrade_database

    cluster = ThrowawayCluster()
    try:
        admin = cluster.start()
    except NoPostgres as exc:
        cluster.stop()
        pytest.fail(f"PostgreSQL tests cannot run: {exc}", pytrace=False)
    try:
        execute_autocommit(admin, "CREATE DATABASE infusion")
        url = with_database(admin, "infusion")
        upgrade_database(tmp_path / "upgrade", url)
        yield cluster, url
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    """None (the SQLite file in the data folder) or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_url")


# -- shared fixtures: a migrated database with staff, made once per session and copied per test --
import shutil  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

# Before every test's own clock: a copied database's instants must never be ahead of a test's
# FakeClock (the service would adopt them as its clock's floor).
TEMPLATE_INSTANT = datetime(2025, 1, 1, 8, 0, tzinfo=timezone.utc)

# key -> (name, role, PIN); the first is the pharmacist who adds the others.
STAFF = {
    "pharm": ("Paul Pharm", "pharmacist", "222222"),
    "tech": ("Tina Tech", "technician", "111111"),
    "pharm2": ("Petra Pharm", "pharmacist", "333333"),
    "nurse": ("Nora Nurse", "nurse", "444444"),
}


def add_staff(service, users=None) -> None:
    """Add these users (default STAFF) to an empty database: the first, a pharmacist, adds the others."""
    actor = None
    for name, role, pin in users if users is not None else STAFF.values():
        added = service.add_user(name, role, pin, actor=actor)
        actor = actor or added


class DatabaseTemplates:
    """Migrated data folders, one per list of users, built at the first request and copied for
    each test: Alembic's migrations and each user's PIN key derivation (scrypt) run once per
    session instead of once per test."""

    def __init__(self, root: Path):
        self.root = root
        self._made: dict[tuple, Path] = {}

    def folder(self, users: tuple[tuple[str, str, str], ...] = ()) -> Path:
        if users not in self._made:
            from infusion_app.domain.clock import FakeClock
            from infusion_app.service import open_service

            folder = self.root / f"template-{len(self._made)}" / "data"
            with open_service(data_dir=folder, clock=FakeClock(TEMPLATE_INSTANT)) as service:
                add_staff(service, users)
            self._made[users] = folder
        return self._made[users]

    def copy(self, target: Path, users: tuple[tuple[str, str, str], ...] = ()) -> Path:
        shutil.copytree(self.folder(users), target, dirs_exist_ok=True)
        return target


@pytest.fixture(scope="session")
def database_templates(tmp_path_factory) -> DatabaseTemplates:
    return DatabaseTemplates(tmp_path_factory.mktemp("database-templates"))


@pytest.fixture
def staffed_data_dir(tmp_path, database_templates) -> Path:
    """A data folder (tmp_path / "data") holding a migrated database with STAFF."""
    return database_templates.copy(tmp_path / "data", tuple(STAFF.values()))


@pytest.fixture
def staff(staffed_data_dir):
    """STAFF as stored User records, by key (pharm, tech, pharm2, nurse)."""
    from infusion_app.domain.records import Role, User

    return {key: User(id=i, name=name, role=Role(role), active=True) for i, (key, (name, role, _pin)) in enumerate(STAFF.items(), start=1)}


@pytest.fixture
def production_pin_cost(monkeypatch):
    """PINs hashed at the program's own scrypt cost (the suite's other tests hash at TEST_SCRYPT_N)."""
    monkeypatch.setattr(security, "SCRYPT_N", PRODUCTION_SCRYPT_N)
    return PRODUCTION_SCRYPT_N


# -- one dialect and one statement cache per kind of database for the whole test process --------
def _share_compiled_statements() -> None:
    """SQLAlchemy keeps the SQL it compiled per engine, keyed by the engine's dialect object. The
    program opens one engine per process, so each statement is compiled once and then found; a test
    process opens some 1,500 (a database per test), and compiling the same statements again was
    about 6 % of its CPU. Here every engine of one kind (SQLite; PostgreSQL per server) takes the
    first one's dialect and statement cache: the compiled SQL of a statement is a function of the
    dialect alone, and these dialects are made with the same arguments, for the same SQLite library
    or server. Pools, connections and event listeners stay the engine's own."""
    from sqlalchemy.util import LRUCache

    from infusion_app.storage import database

    made = database.make_engine
    shared: dict[tuple, tuple] = {}

    def make_engine(location):
        engine = made(location)
        url = engine.url
        kind = (url.get_backend_name(), url.get_driver_name(), url.host, url.port, url.query.get("host"))
        if kind not in shared:
            shared[kind] = (engine.dialect, LRUCache(5000))
        engine.dialect, engine._compiled_cache = shared[kind]
        engine.pool._dialect = engine.dialect
        return engine

    database.make_engine = make_engine


_share_compiled_statements()
