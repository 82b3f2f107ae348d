"""Test setup shared by every test."""

from __future__ import annotations

import os
import tempfile

# Qt must never need a display in tests; set before anything imports PySide6.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
# Keep tests away from the real user data folder, whatever a test forgets to pass.
os.environ.setdefault("INFUSION_PREP_TESTING", "1")
# pint's parsed unit definitions (domain/quantities.py) cached outside the user's home, kept
# between runs so that every test process and CLI subprocess starts with a cached registry.
os.environ.setdefault("INFUSION_PREP_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"infusion-prep-test-cache-{os.getuid()}"))

from hypothesis import HealthCheck, settings  # noqa: E402  (after the environment above)

# Property tests: a fast default for every run, a thorough profile for the nightly run
# (INFUSION_PREP_HYPOTHESIS=thorough). No deadline: a loaded CI machine makes timings noise.
settings.register_profile("fast", max_examples=50, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("INFUSION_PREP_HYPOTHESIS", "fast"))


def pytest_addoption(parser):
    # A virtual environment made before pytest-timeout joined the test extras still runs the
    # suite (without the per-test limit) instead of stopping at --strict-config's "unknown
    # option timeout"; packaging/bootstrap.sh --test installs it.
    try:
        import pytest_timeout  # noqa: F401
    except ImportError:
        parser.addini("timeout", "per-test timeout (needs pytest-timeout)")


# -- PostgreSQL beside SQLite (issue 14) --------------------------------------------------------
# The storage, service, audit and crash tests take the `database` fixture: each runs once on an
# SQLite file in tmp_path (database None) and once on its own PostgreSQL database (a URL), created
# from one migrated template per session. The server: INFUSION_PREP_TEST_POSTGRES, or a throwaway
# cluster (tests/postgres_server.py). No server fails those tests with the reason; never a skip.

import itertools  # noqa: E402

import pytest  # noqa: E402

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_admin_url():
    from tests.postgres_server import NoPostgres, admin_url

    try:
        url, cluster = admin_url()
    except NoPostgres as exc:
        pytest.fail(f"PostgreSQL tests cannot run: {exc}", pytrace=False)
    yield url
    if cluster is not None:
        cluster.stop()


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


@pytest.fixture
def postgres_url(postgres_admin_url, postgres_template):
    """A fresh, migrated PostgreSQL database of this test's own, dropped afterwards."""
    from tests.postgres_server import execute_autocommit, with_database

    name = f"infusion_test_{os.getpid()}_{next(_database_numbers)}"
    execute_autocommit(postgres_admin_url, f"CREATE DATABASE {name} TEMPLATE {postgres_template}")
    yield with_database(postgres_admin_url, name)
    execute_autocommit(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    """None (the SQLite file in the data folder) or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_url")
