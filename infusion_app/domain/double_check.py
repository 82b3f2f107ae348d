"""The independent double check (ASCO/ONS): the verifying pharmacist re-enters key values
without being shown the preparer's, and the domain compares them.

Values are compared as the one ISMP formatter shows them, so "1.460" typed for 1.46 mg
matches, and "1.5" does not. Messages say which value differs, never what it should be.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .bsa import body_surface_area
from .dosing import draw_tolerance_mg
from .errors import ValidationError
from .formatting import format_dose, format_number, format_volume
from .measurements import Measurement, parse_height, parse_weight
from .records import Preparation

# What the checker re-enters, blind, from every client, and what a message calls each.
ENTERED_FIELDS = ("mrn", "height", "weight", "dose_mg", "volume_ml")
FIELD_WORDS = {
    "mrn": "MRN",
    "height": "height",
    "weight": "weight",
    "dose_mg": "dose in mg",
    "volume_ml": "volume in mL",
}


class IncompleteCheck(Exception):
    """Re-entered values are missing: the check is not independent and complete."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(", ".join(missing))


def missing_fields(entered: dict[str, Any] | None) -> list[str]:
    entered = entered or {}
    return [f for f in ENTERED_FIELDS if not str(entered.get(f) or "").strip()]


def _measured(parse: Callable[[str], Measurement], text: str, bare_unit: str) -> Any:  # a pint Quantity
    """'170 cm', '5 ft 7 in', or a bare '170' read in the unit the sheet prints (cm, kg)."""
    cleaned = str(text).strip()
    try:
        float(cleaned)  # a bare number; "1,70" is not one (the parser answers with the decimal point)
        cleaned = f"{cleaned} {bare_unit}"
    except ValueError:
        pass
    return parse(cleaned).quantity


def recomputed(prep: Preparation, entered: dict[str, Any], bsa_decimals: int = 2) -> dict[str, float]:
    """BSA (with the order's formula) and mg/m² from the checker's own height, weight and dose."""
    calc = prep.order.calculation
    height_cm = float(_measured(parse_height, entered["height"], "cm").to("cm").magnitude)
    weight_kg = float(_measured(parse_weight, entered["weight"], "kg").to("kg").magnitude)
    bsa = round(body_surface_area(height_cm, weight_kg, calc.bsa_formula or "mosteller"), bsa_decimals)
    dose = typed_number("dose", entered["dose_mg"], "mg")
    return {
        "height_cm": height_cm,
        "weight_kg": weight_kg,
        "bsa_m2": bsa,
        "mg_per_m2": dose / bsa if bsa > 0 else math.inf,
    }


def typed_number(field_name: str, text: str, unit: str) -> float:
    """'1.46', '1.46 mg' -> 1.46: what the syringe or the bag says, with or without its unit."""
    from .numbers import read_number

    cleaned = str(text).strip()
    if cleaned.lower().endswith(unit.lower()):
        cleaned = cleaned[: -len(unit)].strip()
    # The one reader of typed numbers (float() took Arabic-Indic digits and '1_45' = 145).
    value = read_number(field_name, cleaned, f"a number of {unit}, e.g. 1.45")
    if value < 0:
        raise ValidationError(field_name, f"'{text}' is not a number of {unit}")
    return value


def verification_mismatches(prep: Preparation, entered: dict[str, Any], bsa_decimals: int = 2, dose_precision_mg: float = 1 / 100) -> list[str]:
    """Which re-entered values differ from the stored preparation (IncompleteCheck when some are missing).

    The program recomputes BSA from the checker's height and weight, and mg/m² from the checker's
    dose, and compares them with the order: a wrong height or weight shows as a different BSA.
    """
    missing = missing_fields(entered)
    if missing:
        raise IncompleteCheck(missing)
    calc = prep.order.calculation
    wrong: list[str] = []
    again = recomputed(prep, entered, bsa_decimals)
    # Compared as the formatter shows them (height and weight to one decimal, BSA to the site's decimals).
    if format_number(again["height_cm"], 1) != format_number(calc.height_cm, 1):
        wrong.append("the height differs")
    if format_number(again["weight_kg"], 1) != format_number(calc.weight_kg, 1):
        wrong.append("the weight differs")
    if round(again["bsa_m2"], bsa_decimals) != round(calc.bsa_m2, bsa_decimals):
        wrong.append("the BSA recomputed from the height and weight differs")
    wanted_per_m2 = calc.dose_mg_per_m2
    expected_dose = wanted_per_m2 * again["bsa_m2"]
    if calc.dose_mg_per_kg is not None:  # a small child dosed by weight: mg/kg x the re-entered weight
        expected_dose = calc.dose_mg_per_kg * again["weight_kg"]
    cap = calc.dose_cap_mg
    if cap is not None:
        expected_dose = min(expected_dose, float(cap))  # the regimen's most per dose (MYLOTARG: one vial)
    # The dose is rounded to the syringe's precision, and a site's dose rounding may move it by up
    # to its percentage; beyond that the re-entered dose does not give the order's mg/m².
    rounding = abs(calc.dose_rounding_pct) / 100 * expected_dose
    # and the draw syringe reads the volume to its marks.
    draw = draw_tolerance_mg(calc)
    typed = typed_number("dose", entered["dose_mg"], "mg")
    if wanted_per_m2 > 0 and abs(typed - expected_dose) > max(rounding, dose_precision_mg) + draw + expected_dose * 1e-9:
        wrong.append("the dose per m² recomputed from the dose and BSA differs from the order")
    if str(entered["mrn"]).strip().casefold() != prep.patient.mrn.casefold():
        wrong.append("the MRN differs")
    if format_dose(typed_number("dose", entered["dose_mg"], "mg")) != format_dose(calc.dose_mg):
        wrong.append("the dose differs")
    if format_volume(typed_number("volume", entered["volume_ml"], "mL")) != format_volume(calc.withdraw_ml):
        wrong.append("the volume differs")
    return wrong
