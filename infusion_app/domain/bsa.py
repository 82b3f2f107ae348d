"""Body surface area formulas. H in cm, W in kg, BSA in m² (besponsa-label.md, BSA table).

The coefficients are the published formulas themselves, not drug data, so they live here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .errors import ValidationError


@dataclass(frozen=True)
class BsaFormula:
    key: str
    name: str
    equation: str
    reference: str
    compute: Callable[[float, float], float]


def _mosteller(height_cm: float, weight_kg: float) -> float:
    return math.sqrt(height_cm * weight_kg / 3600)


def _dubois(height_cm: float, weight_kg: float) -> float:
    return float(0.007184 * height_cm**0.725 * weight_kg**0.425)


def _haycock(height_cm: float, weight_kg: float) -> float:
    return float(0.024265 * height_cm**0.3964 * weight_kg**0.5378)


def _gehan_george(height_cm: float, weight_kg: float) -> float:
    return float(0.0235 * height_cm**0.42246 * weight_kg**0.51456)


def _boyd(height_cm: float, weight_kg: float) -> float:
    grams = weight_kg * 1000
    return float(0.0003207 * height_cm**0.3 * grams ** (0.7285 - 0.0188 * math.log10(grams)))


FORMULAS: dict[str, BsaFormula] = {
    f.key: f
    for f in (
        BsaFormula("mosteller", "Mosteller", "√(H × W / 3600)", "Mosteller RD. N Engl J Med 1987;317:1098", _mosteller),
        BsaFormula("dubois", "DuBois & DuBois", "0.007184 × H^0.725 × W^0.425", "DuBois D, DuBois EF. Arch Intern Med 1916;17:863", _dubois),
        BsaFormula("haycock", "Haycock", "0.024265 × H^0.3964 × W^0.5378", "Haycock GB et al. J Pediatr 1978;93:62", _haycock),
        BsaFormula("gehan-george", "Gehan & George", "0.0235 × H^0.42246 × W^0.51456", "Gehan EA, George SL. Cancer Chemother Rep 1970;54:225", _gehan_george),
        BsaFormula(
            "boyd",
            "Boyd",
            "0.0003207 × H^0.3 × Wg^(0.7285 − 0.0188 × log10 Wg), Wg in grams",
            "Boyd E. The growth of the surface area of the human body, 1935",
            _boyd,
        ),
    )
}


def get_formula(key: str) -> BsaFormula:
    try:
        return FORMULAS[key.strip().lower().replace("_", "-")]
    except KeyError:
        raise ValidationError("formula", f"unknown BSA formula '{key}'; choose one of {', '.join(FORMULAS)}") from None


def body_surface_area(height_cm: float, weight_kg: float, formula: str = "mosteller") -> float:
    """BSA in m², unrounded."""
    return get_formula(formula).compute(height_cm, weight_kg)
