"""Test setup shared by every test."""

from __future__ import annotations

import os

# Qt must never need a display in tests; set before anything imports PySide6.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
# Keep tests away from the real user data folder, whatever a test forgets to pass.
os.environ.setdefault("INFUSION_PREP_TESTING", "1")
