"""The one pint unit registry every layer shares (pint quantities from two registries cannot mix)."""

from __future__ import annotations

import pint

ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
Quantity = ureg.Quantity

__all__ = ["ureg", "Quantity"]
