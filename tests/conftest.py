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
