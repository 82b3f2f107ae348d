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
