"""Input limits (resources/validation.toml) and site policy defaults (resources/site-defaults.toml)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from .errors import DataFileError
from .quantities import Quantity
from .resources import load_toml


@dataclass(frozen=True)
class Range:
    low: Quantity
    high: Quantity
    why: str

    def contains(self, quantity: Quantity) -> bool:
        return bool(self.low <= quantity <= self.high)

    def describe(self, unit: str, formatter: Callable[[float], str]) -> str:
        """'30 to 275 cm', formatted with the ISMP number formatter passed in."""
        return f"{formatter(self.low.to(unit).magnitude)} to {formatter(self.high.to(unit).magnitude)} {unit}"


def _range(node: dict[str, Any]) -> Range:
    unit = node["unit"]
    return Range(Quantity(node["min"], unit), Quantity(node["max"], unit), node.get("why", ""))


@dataclass(frozen=True)
class InputLimits:
    height_accepted: Range
    height_plausible: Range
    weight_accepted: Range
    weight_plausible: Range
    bsa_plausible: Range
    reduction_accepted: Range


@cache
def input_limits() -> InputLimits:
    raw = load_toml("validation.toml")
    try:
        return InputLimits(
            height_accepted=_range(raw["height"]["accepted"]),
            height_plausible=_range(raw["height"]["plausible"]),
            weight_accepted=_range(raw["weight"]["accepted"]),
            weight_plausible=_range(raw["weight"]["plausible"]),
            bsa_plausible=_range(raw["bsa"]["plausible"]),
            reduction_accepted=_range(raw["reduction"]["accepted"]),
        )
    except KeyError as exc:
        raise DataFileError(f"validation.toml is missing {exc}") from exc


COUNT_UNIT = "1/nL"  # 10⁹/L, the unit a CBC report gives counts in


@dataclass(frozen=True)
class CountLimit:
    """The accepted range of one blood count, in 10⁹/L (validation.toml [counts.<name>]), with its source."""

    name: str
    label: str  # as the message names it: "ANC", "platelets"
    example: str  # an accepted value, for the message
    low: float
    high: float
    source: str
    verify: bool


@cache
def count_limits() -> dict[str, CountLimit]:
    """Each blood count's own accepted range: a count per µL typed in 10⁹/L reads 1,000 times too high,
    and one bound for every count (1,000 × 10⁹/L) let an ANC of 500 per µL pass as recovered."""
    raw = load_toml("validation.toml")
    try:
        found = {}
        for name, node in raw["counts"].items():
            accepted = node["accepted"]
            low = float(Quantity(accepted["min"], accepted["unit"]).to(COUNT_UNIT).magnitude)
            high = float(Quantity(accepted["max"], accepted["unit"]).to(COUNT_UNIT).magnitude)
            if not 0 <= low < high:
                raise DataFileError(f"validation.toml [counts.{name}] accepted: min must be 0 or more and below max")
            found[name] = CountLimit(name, str(node["label"]), str(node["example"]), low, high, str(accepted["source"]), bool(accepted.get("verify", False)))
    except KeyError as exc:
        raise DataFileError(f"validation.toml is missing {exc}") from exc
    for name in ("anc", "platelets"):
        if name not in found:
            raise DataFileError(f"validation.toml is missing [counts.{name}]")
    return found


@contextmanager
def _reading(section: str) -> Iterator[None]:
    """A section of validation.toml read inside: a missing key or a value that cannot be read is a
    DataFileError naming the section (one that names its own fault passes as it is)."""
    try:
        yield
    except KeyError as exc:
        raise DataFileError(f"validation.toml is missing {exc} in [{section}]") from exc
    except DataFileError:
        raise
    except Exception as exc:
        raise DataFileError(f"validation.toml [{section}]: {exc}") from exc


@dataclass(frozen=True)
class Electrolyte:
    """How one electrolyte may be typed (validation.toml [electrolytes.<name>]): bare in mmol/L below
    `bare_max_mmol_per_l`, or with its unit, converted by its molar mass and charge."""

    name: str
    molar_mass_g_per_mol: float
    charge: int
    bare_max_mmol_per_l: float
    source: str
    verify: bool
    lowest_mmol_per_l: float  # below it refused whatever the unit: not a value of a living patient


@cache
def electrolytes() -> dict[str, Electrolyte]:
    raw = load_toml("validation.toml")
    found = {}
    with _reading("electrolytes"):
        for name in ("potassium", "magnesium"):
            node = raw["electrolytes"][name]
            mass, bare, lowest = node["molar_mass"], node["bare_max"], node["lowest"]
            found[name] = Electrolyte(
                name,
                float(Quantity(mass["value"], mass["unit"]).to("g/mol").magnitude),
                int(node["charge"]),
                float(Quantity(bare["value"], bare["unit"]).to("mmol/L").magnitude),
                str(bare["source"]),
                bool(bare.get("verify", False)),
                float(Quantity(lowest["value"], lowest["unit"]).to("mmol/L").magnitude),
            )
            if found[name].molar_mass_g_per_mol <= 0 or found[name].charge < 1 or found[name].bare_max_mmol_per_l <= 0:
                raise DataFileError(f"validation.toml [electrolytes.{name}]: molar mass, charge and bare_max must be above 0")
            if not 0 < found[name].lowest_mmol_per_l < found[name].bare_max_mmol_per_l:
                raise DataFileError(f"validation.toml [electrolytes.{name}]: lowest must be above 0 and below bare_max")
    return found


@dataclass(frozen=True)
class Bound:
    """A plausibility bound of a typed result (validation.toml [plausibility.<name>]), in `unit`, with its source."""

    name: str
    label: str
    low: float
    high: float
    unit: str
    source: str
    verify: bool


# The unit each bound is kept in: the one the code compares the typed value in.
_BOUND_UNITS = {"blasts": "1/mm**3", "qtc": "ms", "electrolytes": "mmol/L", "x_uln": "dimensionless", "aminotransferase_x_uln": "dimensionless"}


@cache
def plausibility_bounds() -> dict[str, Bound]:
    """The bounds that catch a typo in blasts, QTc, electrolytes and × ULN ratios; read when first asked,
    not at import (a headless start never needs them)."""
    raw = load_toml("validation.toml")
    found = {}
    with _reading("plausibility"):
        for name, unit in _BOUND_UNITS.items():
            node = raw["plausibility"][name]
            accepted = node["accepted"]
            low = float(Quantity(accepted["min"], accepted["unit"]).to(unit).magnitude)
            high = float(Quantity(accepted["max"], accepted["unit"]).to(unit).magnitude)
            if not 0 <= low < high:
                raise DataFileError(f"validation.toml [plausibility.{name}] accepted: min must be 0 or more and below max")
            found[name] = Bound(name, str(node["label"]), low, high, unit, str(accepted["source"]), bool(accepted.get("verify", False)))
    return found


def plausible(name: str) -> Bound:
    return plausibility_bounds()[name]


@dataclass(frozen=True)
class DrawSyringe:
    """A syringe on the bench that draws the dose from the vials: how much it holds, how finely it reads."""

    capacity_ml: float
    graduation_ml: float


@dataclass(frozen=True)
class SitePolicy:
    """Site settings with their defaults. The storage layer may hold a site's own values."""

    warning_lead_time: timedelta
    weight_change_percent_adult: float
    weight_change_percent_child: float
    weight_max_age: timedelta
    adult_from_age_years: int
    dose_rounding_enabled: bool
    dose_rounding_max_percent: float
    dose_precision_mg: float
    volume_precision_ml: float
    bsa_decimals: int
    default_bsa_formula: str
    blast_count_max_age_hours: int  # an older count does not clear the first-dose cytoreduction gate
    syringe_volume_step_ml: float
    # Issue 11: the reconstituted solution is used at once or refrigerated.
    reconstituted_room_allowance: timedelta = timedelta(minutes=15)
    premedication_window: timedelta = timedelta(hours=2)
    premedication_duplicate_window: timedelta = timedelta(minutes=15)
    infusion_minimum_tolerance: timedelta = timedelta(minutes=5)
    override_reason_min_chars: int = 10
    # Smallest first. Empty: the volume is only rounded to volume_precision_ml.
    draw_syringes: tuple[DrawSyringe, ...] = ()
    # How far the drawn volume (so the dose given) may sit from the calculated one, in percent: beyond
    # it the draw is split across syringes. Never less than half a mark of the smallest syringe.
    draw_tolerance_percent: float = 1.0
    draw_tolerance_verify: bool = False  # the default awaits a pharmacist's review; a site's own value does not
    # Issue 16: the oldest CBC, liver tests and VOD/SOS check that count for the next dose.
    lab_max_age_hours: int = 72
    ecg_every_days: int = 0  # 0: ECG and electrolytes at baseline only
    # The step an infusion pump's rate is set in (mL/hour): the rate shown is one the pump can be set to.
    pump_rate_step_ml_per_hour: float = 1.0  # site-defaults.toml sets the step (0.1); a bare policy reads whole mL/hour


def _value(node: dict[str, Any], unit: str) -> float:
    return float(Quantity(node["value"], node["unit"]).to(unit).magnitude)


@cache
def site_defaults() -> SitePolicy:
    raw = load_toml("site-defaults.toml")
    try:
        return SitePolicy(
            warning_lead_time=timedelta(minutes=_value(raw["alarms"]["warning_lead_time"], "minute")),
            weight_change_percent_adult=_value(raw["weight_recheck"]["adult_change_percent"], "percent"),
            weight_change_percent_child=_value(raw["weight_recheck"]["child_change_percent"], "percent"),
            weight_max_age=timedelta(days=_value(raw["weight_recheck"]["max_age"], "day")),
            adult_from_age_years=int(_value(raw["weight_recheck"]["adult_from_age_years"], "year")),
            dose_rounding_enabled=bool(raw["dose_rounding"]["enabled"]["flag"]),
            dose_rounding_max_percent=_value(raw["dose_rounding"]["max_percent"], "percent"),
            dose_precision_mg=_value(raw["precision"]["dose"], "mg"),
            volume_precision_ml=_value(raw["precision"]["volume"], "mL"),
            bsa_decimals=int(raw["precision"]["bsa_decimals"]["value"]),
            default_bsa_formula=str(raw["bsa"]["default_formula"]["text"]),
            blast_count_max_age_hours=int(_value(raw["course"]["blast_count_max_age"], "hour")),
            syringe_volume_step_ml=_value(raw["syringe_administration"]["volume_step"], "mL"),
            reconstituted_room_allowance=timedelta(minutes=_value(raw["preparation"]["reconstituted_room_allowance"], "minute")),
            premedication_window=timedelta(minutes=_value(raw["administration"]["premedication_window"], "minute")),
            premedication_duplicate_window=timedelta(minutes=_value(raw["administration"]["premedication_duplicate_window"], "minute")),
            infusion_minimum_tolerance=timedelta(minutes=_value(raw["administration"]["infusion_minimum_tolerance"], "minute")),
            override_reason_min_chars=int(raw["overrides"]["reason_min_chars"]["value"]),
            draw_syringes=_draw_syringes(raw.get("draw_syringes", [])),
            draw_tolerance_percent=_value(raw["draw"]["tolerance"], "percent"),
            draw_tolerance_verify=bool(raw["draw"]["tolerance"].get("verify", False)),
            lab_max_age_hours=int(_value(raw["labs"]["max_age"], "hour")),
            ecg_every_days=int(_value(raw["labs"]["ecg_every"], "day")),
            pump_rate_step_ml_per_hour=_value(raw["pump"]["rate_step"], "mL/hour"),
        )
    except KeyError as exc:
        raise DataFileError(f"site-defaults.toml is missing {exc}") from exc


def _draw_syringes(rows: list[dict[str, Any]]) -> tuple[DrawSyringe, ...]:
    syringes = []
    for number, row in enumerate(rows, start=1):
        syringe = DrawSyringe(_value(row["capacity"], "mL"), _value(row["graduation"], "mL"))
        # A graduation that does not divide the capacity would round a full syringe past its top mark.
        marks = syringe.capacity_ml / syringe.graduation_ml if syringe.graduation_ml > 0 else 0
        if syringe.graduation_ml <= 0 or syringe.capacity_ml <= 0 or abs(marks - round(marks)) > 1e-9:
            raise DataFileError(
                f"site-defaults.toml [[draw_syringes]] #{number}: capacity {syringe.capacity_ml:g} mL must be a whole "
                f"number of {syringe.graduation_ml:g} mL marks, both above zero"
            )
        syringes.append(syringe)
    return tuple(sorted(syringes, key=lambda s: s.capacity_ml))
