"""The independent double check (ASCO/ONS): the verifying pharmacist re-enters key values
without being shown the preparer's, and the domain compares them.

Values are compared as the one ISMP formatter shows them, so "1.460" typed for 1.46 mg
matches, and "1.5" does not. Messages say which value differs, never what it should be.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ValidationError
from .formatting import format_dose, format_volume
from .records import Preparation

ENTERED_FIELDS = ("mrn", "dose_mg", "volume_ml")


def typed_number(field_name: str, text: str, unit: str) -> float:
    """'1.46', '1.46 mg' -> 1.46: what the syringe or the bag says, with or without its unit."""
    cleaned = str(text).strip()
    if cleaned.lower().endswith(unit.lower()):
        cleaned = cleaned[: -len(unit)].strip()
    try:
        value = float(cleaned.replace(",", ""))
    except ValueError:
        raise ValidationError(field_name, f"'{text}' is not a number of {unit}") from None
    if not math.isfinite(value) or value < 0:
        raise ValidationError(field_name, f"'{text}' is not a number of {unit}")
    return value


def verification_mismatches(prep: Preparation, entered: dict[str, Any]) -> list[str]:
    """Which re-entered values (mrn, dose_mg, volume_ml) differ from the stored preparation."""
    missing = [f for f in ENTERED_FIELDS if not str(entered.get(f) or "").strip()]
    if missing:
        raise ValidationError(missing[0], "re-enter it from the patient's record, the syringe and the bag")
    calc = prep.order["calculation"]
    wrong: list[str] = []
    if str(entered["mrn"]).strip().casefold() != prep.patient.mrn.casefold():
        wrong.append("the MRN differs")
    if format_dose(typed_number("dose", entered["dose_mg"], "mg")) != format_dose(calc["dose_mg"]):
        wrong.append("the dose differs")
    if format_volume(typed_number("volume", entered["volume_ml"], "mL")) != format_volume(calc["withdraw_ml"]):
        wrong.append("the volume differs")
    return wrong
