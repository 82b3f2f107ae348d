"""The one pint unit registry every layer shares (pint quantities from two registries cannot mix).

Building the registry from pint's definition text took about 240-500 ms at every start, most of
`infusion-prep calc`. pint's own cache (flexcache: the parsed definitions pickled in the user's
cache folder, keyed by the definition files' content) brings that to about 30-50 ms after the
first run. A cache that cannot be read or written (a read-only home, a half-written file from
two programs starting at once) falls back to the full build: slower, never wrong.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pint

APP_NAME = "infusion-prep"
# Tests and scripts may point the cache elsewhere (tests/conftest.py does).
CACHE_DIR_ENV = "INFUSION_PREP_CACHE_DIR"


def _cache_folder() -> Path | None:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured) / "pint"
    # The XDG rule platformdirs applies on Linux, the one platform this program is packaged for,
    # spelled out because the domain imports nothing but pint (tests/test_layering.py).
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no home folder: no cache
            return None
    return Path(base) / APP_NAME / "pint"


def _build_registry() -> "pint.UnitRegistry[Any]":
    folder = _cache_folder()
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            return pint.UnitRegistry(autoconvert_offset_to_baseunit=True, cache_folder=folder)
        except Exception:
            pass
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


ureg = _build_registry()
Quantity = ureg.Quantity

__all__ = ["ureg", "Quantity"]
