"""Refuse to run on a Qt binding that corrupts Python's reference count of None.

PySide6 6.12.0 on Python 3.11 drops one reference to None on every call of a Qt method that
returns nothing (repaint(), setRowHeight(), ...). A board left open repaints every second, so
None's count runs out and the interpreter aborts with "none_dealloc: deallocating None" after
about 20 minutes (2 minutes with 1,000 rows). No project code can work around it; the only
safe answer is to stop at start with a message that names the fix.

Two checks, because a release list alone misses a broken release nobody has reported yet and
a probe alone cannot tell IT which release to install:
- the releases known to be broken on this Python (below), and
- a probe: a few hundred calls of a void Qt method must leave None's count where it was.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import PySide6

# (PySide6 release, first Python that is NOT affected). Tested 2026-12-01 with
# sys.getrefcount(None) over 1,000 QWidget.repaint() calls, offscreen: 6.12.0 on 3.11.7 lost
# 1,000; 6.11.3 on 3.11.7 and 6.12.0 on 3.12.1 lost none (immortal None since 3.12).
KNOWN_BROKEN_RELEASES: tuple[tuple[str, tuple[int, int]], ...] = (("6.12.0", (3, 12)),)

PROBE_CALLS = 500
# A few references may come and go through the interpreter's own caches while the probe runs;
# a broken binding loses exactly one per call, so anything near PROBE_CALLS is the defect.
PROBE_TOLERANCE = PROBE_CALLS // 10

FIX = (
    "Install a PySide6 release without the defect (on Python 3.11: pip install 'pyside6>=6.6,<6.12'), "
    "or run the program on Python 3.12 or newer. packaging/bootstrap.sh does this for you."
)


class BindingDefect(NamedTuple):  # not a dataclass: see theme.Level
    pyside_version: str
    python_version: str
    none_references_lost: int
    known_release: bool

    def message(self) -> str:
        found = (
            f"PySide6 {self.pyside_version} on Python {self.python_version} is a release known to lose a reference to None on every Qt call"
            if self.known_release
            else f"PySide6 {self.pyside_version} on Python {self.python_version} lost {self.none_references_lost} references to None in {PROBE_CALLS} Qt calls"
        )
        return f"This program cannot run safely: {found}, and would abort after minutes on the board.\n{FIX}"


def _known_broken(pyside_version: str, python: tuple[int, int]) -> bool:
    return any(pyside_version == release and python < fixed_from for release, fixed_from in KNOWN_BROKEN_RELEASES)


def none_references_lost(calls: int = PROBE_CALLS) -> int:
    """How many references to None `calls` void Qt calls lose (0 on a sound binding)."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("probe")  # returns nothing: the call class that leaks
    return before - sys.getrefcount(None)


def binding_defect(pyside_version: str | None = None, python: tuple[int, int] | None = None) -> BindingDefect | None:
    """The defect of the running Qt binding, or None when it is sound."""
    pyside_version = pyside_version or PySide6.__version__
    python = python or (sys.version_info.major, sys.version_info.minor)
    known = _known_broken(pyside_version, python)
    lost = 0 if known else none_references_lost()
    if not known and lost <= PROBE_TOLERANCE:
        return None
    return BindingDefect(pyside_version, f"{python[0]}.{python[1]}", lost, known)
