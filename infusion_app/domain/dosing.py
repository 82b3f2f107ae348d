"""The dose calculation: BSA → mg/m² for the cycle and day → dose, vials, volumes, billing.

Arithmetic on doses and volumes is done in Decimal so that a dose shown as 1.46 mg is exactly
5.84 mL at 0.25 mg/mL and exactly 15 billing units, with no binary rounding surprises. The dose
is computed from the BSA as shown (2 decimals), so a second person can re-check it by hand
from the numbers on the sheet.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, get_type_hints

from .bsa import get_formula
from .errors import ValidationError, whole_number
from .formatting import format_age, format_amount, format_concentration, format_dose, format_number
from .identity import completed_years
from .limits import DrawSyringe, SitePolicy, input_limits, site_defaults
from .measurements import Measurement, parse_height, parse_weight
from .monograph import Monograph, validate_response
from .quantities import Quantity

if TYPE_CHECKING:
    from .coverage import CoverageDecision  # read only by a stored order (from_dict): the coverage rules stay out of `calc`


def _same_drug(monograph_id: str, monograph: Monograph) -> None:
    """A result is written in the words of its own drug only (an empty id: stored before the drug was kept)."""
    if monograph_id and monograph_id != monograph.id:
        raise ValueError(f"the calculation is of {monograph_id}, not of {monograph.id}")


def _dec(value: float | int | str | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _quantize(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    return (value / step).quantize(Decimal(1), rounding=rounding) * step


def _round_to_whole_vials(dose: Decimal, vial_mg: Decimal, policy: SitePolicy) -> tuple[Decimal, float]:
    """HOPA dose rounding, off unless the site turns it on: to the nearest whole vial when that is
    within the site's percentage of the calculated dose. Returns the dose and the change in percent."""
    if not policy.dose_rounding_enabled or dose <= 0:
        return dose, 0.0
    nearest = (dose / vial_mg).to_integral_value(rounding=ROUND_HALF_UP) * vial_mg
    if nearest <= 0 or nearest == dose:
        return dose, 0.0
    change = (nearest - dose) / dose * 100
    if abs(change) > _dec(policy.dose_rounding_max_percent):
        return dose, 0.0
    return nearest, float(change.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@functools.cache
def _field_kinds(cls: type) -> dict[str, tuple[str, frozenset[str]]]:
    """Each field's type as text ("list[str] | None") and its names ("list[str]", "None"). Kept per class: get_type_hints evaluates
    every annotation again at each call, and a stored preparation is read field by field at every
    load (a third of reading one back)."""
    kinds: dict[str, tuple[str, frozenset[str]]] = {}
    for name, hint in get_type_hints(cls).items():
        text = str(hint).replace("typing.", "")
        kinds[name] = (text, frozenset(part.strip() for part in text.replace("<class '", "").replace("'>", "").split("|")))
    return kinds


def _typed_fields(cls: type, found: dict[str, Any], what: str, as_typed: bool = False) -> dict[str, Any]:
    """The stored values checked against the dataclass's field types: a stored value of another type
    (a dose edited to text) is refused here, naming the key, rather than failing where it is used.
    Whole numbers stand for floats (JSON keeps 2.0 as 2 in some writers); a bool is no number.
    `as_typed`: the order keeps numbers as they were typed ("1", or null when not typed), so text and
    null are accepted too (the calculation holds what was made of them)."""
    kinds_of = _field_kinds(cls)
    checked: dict[str, Any] = {}
    for name, value in found.items():
        if as_typed and (value is None or isinstance(value, str)):
            checked[name] = value
            continue
        hint, kinds = kinds_of.get(name, ("", frozenset({""})))
        if value is None:
            if "None" not in kinds and "NoneType" not in kinds:
                raise ValueError(f"the {what}'s {name} is empty")
            checked[name] = value
            continue
        if "float" in kinds:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"the {what}'s {name} is {str(value)[:40]!r}, not a number")
        elif "int" in kinds:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"the {what}'s {name} is {str(value)[:40]!r}, not a whole number")
        elif "str" in kinds:
            if not isinstance(value, str):
                raise ValueError(f"the {what}'s {name} is {str(value)[:40]!r}, not text")
        elif hint.startswith("list"):
            if not isinstance(value, list):
                raise ValueError(f"the {what}'s {name} is {str(value)[:40]!r}, not a list")
        checked[name] = value
    return checked


@dataclass(frozen=True)
class DoseOrder:
    """What the prescriber ordered and the patient's measurements, as typed."""

    height: str
    weight: str
    cycle: int | str | None  # as typed; None when a course on file gives it
    day: int | str | None
    response: str | None = None
    formula: str | None = None
    reduce_pct: float | str | None = 0.0  # None: not typed (a course on file gives its reduction)


@dataclass(frozen=True)
class DoseCalculation:
    # inputs, normalised
    height_text: str
    weight_text: str
    height_cm: float
    weight_kg: float
    cycle: int
    day: int
    response: str | None
    # BSA
    bsa_m2: float
    bsa_m2_unrounded: float
    bsa_formula: str
    bsa_formula_name: str
    bsa_equation: str
    # dose
    standard_mg_per_m2: float
    reduce_pct: float
    dose_mg_per_m2: float
    calculated_dose_mg: float  # BSA × mg/m², before any site dose rounding
    dose_rounding_pct: float  # 0 unless the site's dose-rounding policy changed the dose
    dose_mg: float
    # preparation
    vials: int
    vial_mg: float
    reconstitution_ml_per_vial: float
    reconstituted_mg_per_ml: float
    withdraw_ml: float
    final_volume_ml: float
    nacl_ml: float
    final_concentration_mg_per_ml: float
    concentration_min_mg_per_ml: float
    concentration_max_mg_per_ml: float
    discarded_mg: float
    # billing
    hcpcs: str
    billing_unit_mg: float
    billing_units_administered: int
    billing_units_discarded: int
    billing_modifier: str
    vehicle: str
    # checks
    warnings: list[str] = field(default_factory=list)
    hard_stops: list[str] = field(default_factory=list)
    pending_verification: list[str] = field(default_factory=list)
    monograph_id: str = ""
    monograph_revision: str = ""
    # the final container: "bag" or "syringe", as the drug's monograph lays them out
    container: str = "bag"
    infusion_rate_ml_per_hour: float = 0.0
    infusion_duration_hours: float = 0.0
    age_years: int | None = None
    # The draw: the dose before the syringe's rounding, the syringe that draws it (0: no syringe table)
    # and its marks, and the change the rounding made to the dose (dose_mg is the drawn dose).
    dose_before_draw_mg: float = 0.0
    draw_syringe_ml: float = 0.0
    draw_graduation_ml: float = 0.0
    draw_change_pct: float = 0.0
    # The draw split across syringes when one cannot read it within the site's draw tolerance: each part
    # {"volume_ml", "syringe_ml", "graduation_ml"}, largest first (one part: one syringe; empty: no
    # syringe table, or whole vials withdrawn entire), and the tolerance in percent (0: before it existed).
    draw_parts: list[dict[str, float]] = field(default_factory=list)
    draw_tolerance_pct: float = 0.0
    # A drug dosed by regimen: the regimen chosen and its cap per dose (None for a drug without them;
    # such keys are left out of to_dict, so a drug's output names only what applies to it).
    regimen: str | None = None
    dose_cap_mg: float | None = None
    # The syringe path fills the pump syringe to the total's mark: the NaCl is only about this much,
    # read to that syringe's marks (nacl_ml stays exact: total minus the drawn dose).
    nacl_about_ml: float | None = None
    # A child below the regimen's BSA threshold is dosed by weight (MYLOTARG: 0.1 mg/kg under 0.6 m²):
    # the mg/kg used, the dose being mg/kg x weight instead of BSA x mg/m2 (None: dosed by BSA).
    dose_mg_per_kg: float | None = None
    # The bag's saline as the bench measures it (issue 16): the volume added, read on the syringes of
    # nacl_parts (as draw_parts), or the whole bag as supplied (nacl_parts None). nacl_ml stays exact.
    nacl_measured_ml: float | None = None
    nacl_parts: list[dict[str, float]] | None = None
    # A bag as supplied made up to its labelled volume (MYLOTARG's [dilution] make_up_to_bag_volume): the
    # saline withdrawn from it and discarded before the dose is added, read on nacl_removed_parts (as
    # draw_parts); nacl_measured_ml is then what is left in the bag. None: nothing withdrawn.
    nacl_removed_ml: float | None = None
    nacl_removed_parts: list[dict[str, float]] | None = None

    _OPTIONAL_KEYS = ("regimen", "dose_cap_mg", "nacl_about_ml", "dose_mg_per_kg", "nacl_measured_ml", "nacl_parts", "nacl_removed_ml", "nacl_removed_parts")

    @property
    def can_prepare(self) -> bool:
        return not self.hard_stops

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        for key in self._OPTIONAL_KEYS:
            if found.get(key) is None:
                found.pop(key, None)
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DoseCalculation:
        """The calculation as stored (to_dict), from any version since 0.1: a key added since gets
        the value it had before the feature existed (no site rounding, no draw syringe, a bag);
        a key no longer known is dropped. ValueError names a key a calculation cannot be without."""
        if not isinstance(data, Mapping):
            raise ValueError("the calculation is not a mapping")
        found = {f.name: data[f.name] for f in fields(cls) if not f.name.startswith("_") and f.name in data}
        dose = found.get("dose_mg")
        # Before site rounding (0.1) the dose was BSA x mg/m2 itself; before the draw syringe it was drawn exactly.
        found.setdefault("calculated_dose_mg", dose)
        found.setdefault("dose_rounding_pct", 0.0)
        found.setdefault("dose_before_draw_mg", dose if dose is not None else 0.0)
        missing = [f.name for f in fields(cls) if f.name not in found and not f.name.startswith("_") and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            raise ValueError(f"the calculation has no {', '.join(missing)}")
        found = _typed_fields(cls, found, "calculation")
        for key in ("warnings", "hard_stops", "pending_verification"):
            if key in found:
                found[key] = [str(item) for item in found[key] or []]
        parts = found.get("draw_parts")
        if parts is None and found.get("draw_syringe_ml"):
            # Drawn on one syringe before draws were split: that syringe is its part, filled as often as the
            # volume needed (21 mL was 2 fills of the 20 mL syringe: 20 mL full and 1 mL).
            parts = _one_syringe_parts(found.get("withdraw_ml", 0.0), found["draw_syringe_ml"], found.get("draw_graduation_ml", 0.0))
        if parts is not None:
            if not isinstance(parts, list) or not all(
                isinstance(p, Mapping)
                and all(isinstance(p.get(k), (int, float)) and not isinstance(p.get(k), bool) for k in ("volume_ml", "syringe_ml", "graduation_ml"))
                for p in parts
            ):
                raise ValueError(f"the calculation's draw_parts is {str(parts)[:40]!r}, not a list of syringe volumes")
            found["draw_parts"] = [{k: float(p[k]) for k in ("volume_ml", "syringe_ml", "graduation_ml")} for p in parts]
        if found.get("container") == "syringe" and found.get("nacl_about_ml") is None and "nacl_ml" in found:
            # A syringe dose stored before the saline was read to a syringe's marks showed it to 0.01 mL
            # (1.54 mL), which no bench syringe measures: read it on the site's default syringe table.
            nacl = _dec(found["nacl_ml"])
            found["nacl_about_ml"] = float(_about_to_mark(nacl, _dec(found.get("final_volume_ml", 0)), site_defaults()))
        if found.get("container", "bag") == "bag" and found.get("nacl_measured_ml") is None and found.get("nacl_ml", 0) > 0:
            # A bag stored before the saline was measured showed it to 0.01 mL (39.44 mL): shown now as the
            # site's default syringes read it (the stored final volume and concentration are kept).
            saline = _draw(_dec(found["nacl_ml"]), replace(site_defaults(), draw_tolerance_percent=0.0))
            found["nacl_measured_ml"] = float(saline.volume_ml)
            found["nacl_parts"] = [part.to_dict() for part in saline.parts]
        return cls(**found)

    def nacl_words(self) -> str:
        """The bag's saline as measured: "44 mL (3 syringes: ...)" or "(the whole 50 mL bag as supplied)";
        the one wording for screen, sheet, label and CLI."""
        if self.nacl_measured_ml is None:
            return format_amount(self.nacl_ml, "mL")
        if self.nacl_removed_ml is not None:
            removed = format_amount(self.nacl_removed_ml, "mL")
            return (
                f"(the {format_amount(self.nacl_measured_ml + self.nacl_removed_ml, 'mL')} bag made up to volume: "
                f"first withdraw and discard {removed} of its saline{_measured_on(self.nacl_removed_parts)})"
            )
        if self.nacl_parts is None:
            # In brackets: it follows the vehicle's name ("add to 0.9% Sodium Chloride Injection the whole
            # 50 mL bag as supplied for a total of ..." read as one run-on name).
            return f"(the whole {format_amount(self.nacl_measured_ml, 'mL')} bag as supplied)"
        if self.nacl_parts:
            return f"{format_amount(self.nacl_measured_ml, 'mL')} measured{_measured_on(self.nacl_parts)}"
        return format_amount(self.nacl_measured_ml, "mL")

    @property
    def split_draw(self) -> bool:
        """The dose is drawn in more than one syringe."""
        return len(self.draw_parts) > 1

    def draw_words(self) -> str:
        """How the dose volume is drawn: "the 10 mL syringe (0.2 mL marks)", or the split across syringes
        ("2 syringes: 10 mL (the 10 mL syringe, drawn full) + 0.5 mL (the 1 mL syringe, 0.01 mL marks)");
        "" without a syringe table. The one wording for screen, sheet, label and CLI."""
        if self.split_draw:
            return parts_words(self.draw_parts)
        return syringe_words(self.draw_syringe_ml, self.draw_graduation_ml) if self.draw_syringe_ml else ""

    def _draw_text(self) -> str:
        if self.split_draw:
            return f" in {self.draw_words()}"
        return f" with {self.draw_words()}" if self.draw_syringe_ml else ""

    def _dose_text(self) -> str:
        if self.dose_cap_mg is not None and self.calculated_dose_mg > self.dose_cap_mg:
            capped = f"{format_dose(self.calculated_dose_mg)}, capped at {format_dose(self.dose_cap_mg)}"
            return capped + (f", drawn as {format_amount(self.dose_mg, 'mg', 3)}" if self.dose_mg != self.dose_cap_mg else "")
        if self.draw_syringe_ml and self.dose_before_draw_mg != self.dose_mg:
            return f"{format_dose(self.dose_before_draw_mg)}, drawn as {format_amount(self.dose_mg, 'mg', 3)}"
        return format_dose(self.dose_mg)

    def summary_lines(self, monograph: Monograph) -> list[str]:
        """A readable summary, every number through the ISMP formatter; the response in the words of
        the calculation's drug (`monograph`, its own: "CRi")."""
        _same_drug(self.monograph_id, monograph)
        words = monograph.response_words(self.response)
        response = f", response {words}" if self.response else ""
        reduction = f" (reduced {format_number(self.reduce_pct, 1)}% from {format_amount(self.standard_mg_per_m2, 'mg/m²')})" if self.reduce_pct else ""
        # The drug (and its regimen) first: a dose read without them could be taken for the other
        # conjugate's, whose mg/m² and vials differ (reviewer: calc named neither).
        lines = [f"Drug {monograph.brand_name} ({monograph.generic_name}); id {monograph.id}"]
        if self.regimen:
            lines.append(f"Regimen {monograph.regimen_name(self.regimen)}; id {self.regimen}")
        lines += [
            f"Cycle {self.cycle}, Day {self.day}{response}",
            f"Height {format_amount(self.height_cm, 'cm')}, weight {format_amount(self.weight_kg, 'kg')}",
            f"BSA {format_amount(self.bsa_m2, 'm²')} ({self.bsa_formula_name}: {self.bsa_equation})",
            (
                f"Dose {format_amount(self.dose_mg_per_kg, 'mg/kg')} × {format_amount(self.weight_kg, 'kg')} (by weight) = "
                if self.dose_mg_per_kg is not None
                else f"Dose {format_amount(self.dose_mg_per_m2, 'mg/m²')}{reduction} × {format_amount(self.bsa_m2, 'm²')} = "
            )
            + self._dose_text(),
            f"Vials: {self.vials} × {format_dose(self.vial_mg)}; reconstitute each with {format_amount(self.reconstitution_ml_per_vial, 'mL')} → {format_concentration(self.reconstituted_mg_per_ml)}",
            (
                f"Withdraw {format_amount(self.withdraw_ml, 'mL')}{self._draw_text()} into the pump syringe; fill it with "
                f"{self.vehicle} to the {format_amount(self.final_volume_ml, 'mL')} mark (about "
                f"{format_amount(self.nacl_about_ml if self.nacl_about_ml is not None else self.nacl_ml, 'mL')}), by syringe pump at "
                f"{format_amount(self.infusion_rate_ml_per_hour, 'mL/hour')} over {format_amount(self.infusion_duration_hours, 'hour')}"
                if self.container == "syringe"
                else f"Withdraw {format_amount(self.withdraw_ml, 'mL')}{self._draw_text()}; add to {self.vehicle} {self.nacl_words()} "
                f"for a total of {format_amount(self.final_volume_ml, 'mL')}, at {format_amount(self.infusion_rate_ml_per_hour, 'mL/hour')}"
            ),
            f"Final concentration {format_concentration(self.final_concentration_mg_per_ml)} (allowed {format_concentration(self.concentration_min_mg_per_ml)} to {format_concentration(self.concentration_max_mg_per_ml)})",
            f"Discarded {format_dose(self.discarded_mg)}",
            f"Billing {self.hcpcs}: {format_amount(self.billing_units_administered, 'units')} administered, "
            f"{format_amount(self.billing_units_discarded, 'units')} discarded, modifier {self.billing_modifier}",
        ]
        lines += [f"WARNING: {w}" for w in self.warnings]
        lines += [f"HARD STOP: {s}" for s in self.hard_stops]
        return lines


def _one_syringe_parts(volume: Any, capacity: Any, graduation: Any) -> list[dict[str, Any]]:
    """A draw stored before splits, on one syringe: its fills, each at most the syringe's capacity."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v == v for v in (volume, capacity, graduation)) or capacity <= 0:
        return [{"volume_ml": volume, "syringe_ml": capacity, "graduation_ml": graduation}]
    left, size, parts = _dec(volume), _dec(capacity), []
    while left > size:
        parts.append({"volume_ml": float(size), "syringe_ml": float(capacity), "graduation_ml": float(graduation)})
        left -= size
    parts.append({"volume_ml": float(left), "syringe_ml": float(capacity), "graduation_ml": float(graduation)})
    return parts


@dataclass(frozen=True)
class CourseCheck:
    """What the course check stored with the order (PreparationOrder.course): with a course on file
    (on_file), the cycle, day, response and reduction it decided and its dose window; without one,
    why (flag: "no course on file", or the course on file is another drug's). Either may carry flags
    every sheet shows (the labs the pharmacist checks, the values' warnings) and the discontinuation
    advice the course's pharmacist declined. Read and written only by to_dict/from_dict here."""

    on_file: bool
    flag: str = ""  # no course on file: why
    mrn: str | None = None
    cycle: int | None = None
    day: int | None = None
    response: str | None = None
    reduce_pct: float | None = None
    mg_per_m2: float | None = None
    window: tuple[str, str] | None = None  # the dose's earliest and latest dates (ISO), as the course gave them
    declined_discontinuations: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    def sheet_flags(self, monograph: Monograph) -> list[str]:
        """What every sheet and prep new say of it: no course (naming what the order gave that a course
        of `monograph`'s drug would have checked), a declined discontinuation, the flags."""
        found = []
        if not self.on_file:
            found.append(f"{self.flag or 'no course on file'}: {monograph.order_choices_words} as entered, not checked against a course")
        found += [f"Discontinuation advice not followed: {text}" for text in self.declined_discontinuations]
        found += list(self.flags)
        return found

    def to_dict(self) -> dict[str, Any]:
        """As stored since 0.1 (the course status's to_dict, or the no-course flag)."""
        if not self.on_file:
            found: dict[str, Any] = {"on_file": False, "flag": self.flag}
            if self.declined_discontinuations:
                found["declined_discontinuations"] = list(self.declined_discontinuations)
            found["flags"] = list(self.flags)
            return found
        return {
            "on_file": True,
            "mrn": self.mrn,
            "cycle": self.cycle,
            "day": self.day,
            "response": self.response,
            "reduce_pct": self.reduce_pct,
            "mg_per_m2": self.mg_per_m2,
            "window": list(self.window) if self.window is not None else None,
            "declined_discontinuations": list(self.declined_discontinuations),
            "flags": list(self.flags),
        }

    @classmethod
    def from_dict(cls, data: Any) -> CourseCheck:
        """The stored course check of any version; a key an older version lacked takes its default.
        ValueError naming the key for a value of the wrong type."""
        if isinstance(data, CourseCheck):
            return data
        if not isinstance(data, Mapping):
            raise ValueError("the order's course is not a mapping")
        on_file = data.get("on_file", "mrn" in data)
        if not isinstance(on_file, bool):
            raise ValueError(f"the order's course on_file is {str(on_file)[:40]!r}, not true or false")

        def texts(key: str) -> tuple[str, ...]:
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"the order's course {key} is {str(value)[:40]!r}, not a list of texts")
            return tuple(value)

        window = data.get("window")
        if window is not None and (not isinstance(window, (list, tuple)) or len(window) != 2 or not all(isinstance(w, str) for w in window)):
            raise ValueError(f"the order's course window is {str(window)[:40]!r}, not two dates")
        scalars = _typed_fields(cls, {k: data.get(k) for k in ("mrn", "cycle", "day", "response", "reduce_pct", "mg_per_m2")}, "order's course")
        flag = data.get("flag") or ""
        if not isinstance(flag, str):
            raise ValueError(f"the order's course flag is {str(flag)[:40]!r}, not text")
        return cls(
            on_file=on_file,
            flag=flag,
            window=(window[0], window[1]) if window is not None else None,
            declined_discontinuations=texts("declined_discontinuations"),
            flags=texts("flags"),
            **scalars,
        )


@dataclass(frozen=True)
class PreparationOrder:
    """What a preparation was made for: the order as typed, the calculation it was prepared from, what
    the course check stored (None: made before courses were kept), the regimen (a drug dosed by one)
    and the coverage decision shown to the pharmacist (None: not checked).

    to_dict/from_dict are the one conversion to and from the stored order (storage's order_json, the
    CLI's --json): no other code reads the stored order or its calculation by key."""

    dose: DoseOrder
    calculation: DoseCalculation
    course: CourseCheck | None = None
    regimen: str | None = None
    coverage: CoverageDecision | None = None

    def __post_init__(self) -> None:
        # The service hands over the course check as the course module writes it: typed here, once.
        if self.course is not None and not isinstance(self.course, CourseCheck):
            object.__setattr__(self, "course", CourseCheck.from_dict(self.course))

    @property
    def cycle(self) -> int:
        return self.calculation.cycle

    @property
    def day(self) -> int:
        return self.calculation.day

    def order_dict(self) -> dict[str, Any]:
        """The order without its calculation, as stored (the CLI's 'order' object)."""
        found: dict[str, Any] = asdict(self.dose)
        if self.course is not None:
            found["course"] = self.course.to_dict()
        if self.regimen is not None:
            found["regimen"] = self.regimen
        if self.coverage is not None:
            found["coverage"] = self.coverage.to_dict()
        return found

    def to_dict(self) -> dict[str, Any]:
        return {**self.order_dict(), "calculation": self.calculation.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreparationOrder:
        """The stored order of any version since 0.1. ValueError when it cannot be an order."""
        if not isinstance(data, Mapping):
            raise ValueError("the order is not a mapping")
        calculation = DoseCalculation.from_dict(data.get("calculation") or {})
        typed = {f.name: data[f.name] for f in fields(DoseOrder) if f.name in data}
        # 0.1 stored the order as typed with its calculation; a key it lacks is what the calculation used.
        typed.setdefault("height", calculation.height_text)
        typed.setdefault("weight", calculation.weight_text)
        typed.setdefault("cycle", calculation.cycle)
        typed.setdefault("day", calculation.day)
        typed = _typed_fields(DoseOrder, typed, "order", as_typed=True)
        course = data.get("course")
        coverage = data.get("coverage")
        if coverage is not None and not isinstance(coverage, Mapping):
            raise ValueError("the order's coverage is not a mapping")
        regimen = data.get("regimen") or calculation.regimen
        decision = None
        if isinstance(coverage, Mapping):
            from .coverage import CoverageDecision  # only for an order stored with its decision

            decision = CoverageDecision.from_dict(dict(coverage))
        return cls(
            dose=DoseOrder(**typed),
            calculation=calculation,
            course=CourseCheck.from_dict(course) if course is not None else None,
            regimen=str(regimen) if regimen else None,
            coverage=decision,
        )


def calculate_dose(
    order: DoseOrder,
    monograph: Monograph,
    policy: SitePolicy | None = None,
    *,
    date_of_birth: date | None = None,
    dose_date: date | None = None,
) -> DoseCalculation:
    """Validate the order and compute everything the bench needs. Raises ValidationError on bad input.

    With the date of birth (and the dose date, the day of preparation), the label's minimum age
    is a hard stop; without it nothing about age is decided here.
    """
    policy = policy or site_defaults()
    limits = input_limits()
    if monograph.needs_regimen:
        monograph.dose_days  # raises the ValidationError naming --regimen and the choices

    max_cycles = int(monograph.magnitude("cycles.max_cycles_without_hsct", ""))
    cycle = whole_number("cycle", order.cycle, range(1, max_cycles + 1), monograph.cycle_choices())
    days = monograph.dose_days
    day = whole_number("day", order.day, days, "one of " + ", ".join(str(d) for d in days))
    response = validate_response(cycle, day, order.response, monograph)
    formula = get_formula(order.formula or policy.default_bsa_formula)

    try:
        reduce_pct = float(order.reduce_pct or 0)
    except (TypeError, ValueError):
        raise ValidationError("reduce-pct", f"'{order.reduce_pct}' is not a number; must be 0 to under 100") from None
    low = float(limits.reduction_accepted.low.to("percent").magnitude)
    high = float(limits.reduction_accepted.high.to("percent").magnitude)
    if not (low <= reduce_pct < high) or reduce_pct != reduce_pct:
        raise ValidationError("reduce-pct", f"{order.reduce_pct} is not accepted; must be {format_number(low)} to under {format_number(high)} percent")

    height: Measurement = parse_height(order.height)
    weight: Measurement = parse_weight(order.weight)
    height_cm = height.magnitude("cm")
    weight_kg = weight.magnitude("kg")
    warnings: list[str] = [*height.warnings, *weight.warnings]
    hard_stops: list[str] = []

    bsa_unrounded = formula.compute(height_cm, weight_kg)
    bsa = _quantize(_dec(bsa_unrounded), Decimal(1).scaleb(-policy.bsa_decimals))
    if not limits.bsa_plausible.contains(Quantity(float(bsa), "m**2")):
        warnings.append(
            f"BSA {format_amount(bsa, 'm²')} ({formula.name}) is outside the usual "
            f"{format_number(limits.bsa_plausible.low.magnitude)} to {format_number(limits.bsa_plausible.high.magnitude)} m²; "
            "check height, weight and their units"
        )

    dose_fact = monograph.mg_per_m2(cycle, day, response)
    standard = _dec(dose_fact.value.to("mg/m**2").magnitude)
    if reduce_pct and "cycles.toxicity_cycle_dose_reduction" not in monograph.facts:
        raise ValidationError("reduce-pct", f"{monograph.brand_name}'s monograph has no cycle dose reduction; give 0")
    label_reduction = monograph.magnitude("cycles.toxicity_cycle_dose_reduction", "percent") if reduce_pct else 0.0
    if reduce_pct and reduce_pct != label_reduction:
        warnings.append(
            f"a {format_number(reduce_pct, 1)}% reduction differs from the label's {format_number(label_reduction, 1)}% reduction of the cycle's total dose"
        )
    if reduce_pct and cycle < int(monograph.raw["dosing"]["later_cycles_from"]):
        # The label reduces the cycle AFTER an interruption of 14 days or more: cycle 1 has no earlier cycle.
        reduce_fact = monograph.fact("dose_modification.interruption.reduce_next_cycle_from")
        hard_stops.append(
            f"no-reduction-in-cycle-1: a {format_number(reduce_pct, 1)}% reduction is refused in cycle {cycle}; the label's "
            f"reduction is for the cycle after an interruption of {format_number(reduce_fact.value.magnitude)} days or more "
            f"({reduce_fact.citation})"
        )
    # The reduction applies to the cycle's total dose; spread in proportion, it scales each day alike.
    mg_per_m2 = standard * (Decimal(1) - _dec(reduce_pct) / Decimal(100))
    calculated_dose = _quantize(bsa * mg_per_m2, _dec(policy.dose_precision_mg))
    per_kg_fact = _by_weight(monograph, bsa)
    if per_kg_fact is not None:
        per_kg = _dec(per_kg_fact.value.to("mg/kg").magnitude)
        below = monograph.fact("children.by_weight_below_bsa")
        calculated_dose = _quantize(_dec(weight_kg) * per_kg, _dec(policy.dose_precision_mg))
        warnings.append(
            f"BSA {format_amount(bsa, 'm²')} is under {format_amount(below.value.to('m**2').magnitude, 'm²')}: dosed by weight, "
            f"{format_amount(per_kg, 'mg/kg')} × {format_amount(round(weight_kg, 3), 'kg')} = {format_dose(calculated_dose)} "
            f"({per_kg_fact.where})"
        )
    vial_mg = _dec(monograph.magnitude("product.vial_deliverable", "mg"))
    cap_fact = monograph.dose_cap
    cap = _dec(cap_fact.value.to("mg").magnitude) if cap_fact is not None else None
    capped_dose = calculated_dose
    if cap is not None and calculated_dose > cap:
        assert cap_fact is not None
        warnings.append(f"BSA × dose {format_dose(calculated_dose)} is above the regimen's cap: the dose is {format_dose(cap)} ({cap_fact.where})")
        capped_dose = cap
    dose, rounding_pct = _round_to_whole_vials(capped_dose, vial_mg, policy)
    if cap is not None and dose > cap:
        dose, rounding_pct = capped_dose, 0.0  # whole-vial rounding never goes past the label's cap
    if rounding_pct:
        warnings.append(
            f"dose rounded to whole vials by site policy: {format_dose(calculated_dose)} → {format_dose(dose)} "
            f"({'+' if rounding_pct > 0 else ''}{format_number(rounding_pct, 1)}%)"
        )
    reconstituted = _dec(monograph.magnitude("reconstitution.concentration", "mg/mL"))
    unit_mg = _dec(monograph.magnitude("billing.unit_size", "mg"))

    if dose <= 0:
        hard_stops.append(f"the dose rounds to {format_dose(dose)}; nothing can be prepared")
    # The volume is what the syringe that draws it can measure; the dose is then what that volume holds,
    # and it is that dose which is diluted, given and billed.
    dose_before_draw = dose
    # A capped dose is never drawn above its cap: the syringe's mark below, not the nearest. A dose at
    # the cap of whole vials (MYLOTARG: one 4.5 mg vial) is the vials' whole deliverable volume,
    # withdrawn entire, not read off a syringe's marks.
    whole_vials = cap is not None and dose == cap and (cap / vial_mg) == (cap / vial_mg).to_integral_value()
    draw = _draw(dose / reconstituted, policy, cap / reconstituted if cap is not None else None, whole_vials)
    withdraw = draw.volume_ml
    dose = withdraw * reconstituted
    draw_change_pct = 0.0
    if dose != dose_before_draw and dose_before_draw > 0:
        draw_change_pct = float(((dose - dose_before_draw) / dose_before_draw * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
        warnings.append(
            f"calculated dose {format_dose(dose_before_draw)}; drawn {format_amount(withdraw, 'mL')} "
            # to the 0.001 mg a 0.1 mL mark holds (0.025 mg), so that the note never disagrees with its volume
            f"{'' if draw.fills > 1 else draw.describe() + ' '}= {format_amount(dose, 'mg', 3)} "
            f"({'+' if draw_change_pct > 0 else ''}{format_number(draw_change_pct, 1)}%), the dose given and billed"
        )
    if draw.fills > 1:
        warnings.append(
            f"drawn {draw.describe()}: one syringe cannot read "
            f"{format_amount(dose_before_draw / reconstituted, 'mL')} within the site's draw tolerance "
            f"({format_number(policy.draw_tolerance_percent, 2)}%)"
        )
    if not draw.within_tolerance:
        hard_stops.append(
            f"draw-tolerance: {format_amount(dose_before_draw / reconstituted, 'mL')} cannot be drawn within the site's draw "
            f"tolerance ({format_number(policy.draw_tolerance_percent, 2)}%) with its syringes; the closest is "
            f"{format_amount(withdraw, 'mL')} {draw.describe()}. Add a finer syringe to the site's table or refer to the pharmacist."
        )
    vials = int((dose / vial_mg).to_integral_value(rounding=ROUND_CEILING)) if dose > 0 else 0

    container = _container(dose, withdraw, monograph, policy)
    final_volume, conc_min, conc_max = container.final_volume_ml, container.concentration_min, container.concentration_max
    nacl = final_volume - withdraw
    nacl_measured: Decimal | None = None
    nacl_draw: Draw | None = None
    nacl_removed: Decimal | None = None
    nacl_removed_parts: tuple[DrawPart, ...] = ()
    rate = container.rate_ml_per_hour
    if container.kind == "bag" and dose > 0:
        # Issue 16: the saline is what the bench measures, and the final volume, concentration and rate
        # follow from the volumes measured. A bag used as supplied (the label gives no total) is its
        # labelled volume plus the dose; a bag made up to a total gets saline read on the site's syringes.
        if container.made_up:
            # Made up to the bag's labelled volume: saline equal to the dose volume is withdrawn and discarded
            # first, read exactly on the site's syringes as the dose is (the total is then the bag's volume).
            removal = _draw(withdraw, replace(policy, draw_tolerance_percent=0.0))
            nacl_removed = removal.volume_ml
            nacl_removed_parts = removal.parts
            nacl = final_volume - nacl_removed
            nacl_measured = nacl
        elif bag_as_supplied(monograph):
            nacl = final_volume
            nacl_measured = final_volume
        elif nacl > 0:
            # Read exactly (no tolerance beyond half the finest mark), so the total is the label's 50 mL and
            # not 50.04 mL: more syringes of saline rather than a total the label does not give.
            nacl_draw = _draw(nacl, replace(policy, draw_tolerance_percent=0.0))
            nacl_measured = nacl_draw.volume_ml
        if nacl_measured is not None:
            final_volume = withdraw + nacl_measured
        rate = _quantize(final_volume / container.duration_hours, _dec(policy.pump_rate_step_ml_per_hour))
    elif container.kind == "syringe":
        rate = _quantize(final_volume / container.duration_hours, _dec(policy.pump_rate_step_ml_per_hour))
    concentration = dose / final_volume if final_volume > 0 else Decimal(0)
    if container.kind == "syringe" and dose > 0 and "syringe.dose_below" in monograph.facts:
        below = monograph.fact("syringe.dose_below")
        warnings.append(
            f"a dose under {format_dose(below.value.to('mg').magnitude)} is given by syringe ({below.where}): "
            f"{format_amount(final_volume, 'mL')} by syringe pump"
        )
    elif container.kind == "syringe" and dose > 0:
        warnings.append(
            f"the dose is too small for the {format_amount(container.bag_volume_ml, 'mL')} bag's window "
            f"({format_concentration(container.bag_min)} to {format_concentration(container.bag_max)}): "
            f"syringe administration, {format_amount(final_volume, 'mL')} by syringe pump "
            f"({monograph.fact('syringe.concentration_min').citation})"
        )
    if nacl < 0:
        hard_stops.append(f"the dose volume {format_amount(withdraw, 'mL')} exceeds the {format_amount(final_volume, 'mL')} final volume")
    if not (_dec(conc_min) <= concentration <= _dec(conc_max)) and dose > 0:
        side = "below the minimum" if concentration < _dec(conc_min) else "above the maximum"
        dose_low = _dec(container.bag_min) * _dec(container.bag_volume_ml)
        dose_high = _dec(container.bag_max) * _dec(container.bag_volume_ml)
        if bag_as_supplied(monograph):
            hard_stops.append(_refusal_as_supplied(concentration, side, dose, container, monograph))
        else:
            hard_stops.append(
                f"final concentration {format_concentration(concentration)} is {side}: the label allows "
                f"{format_concentration(container.bag_min)} to {format_concentration(container.bag_max)} in the "
                f"{format_amount(container.bag_volume_ml, 'mL')} bag (doses of {format_dose(dose_low)} to {format_dose(dose_high)})"
                + (
                    f" and {format_concentration(container.syringe_min)} to {format_concentration(container.syringe_max)} by syringe"
                    if container.syringe_min is not None and container.syringe_max is not None
                    else ""
                )
                + f"; {format_dose(dose)} cannot be prepared "
                + ("in either" if container.syringe_min is not None else "as labelled")
                + ". Refer to the pharmacist and prescriber."
            )
    age_years = _age_check(date_of_birth, dose_date, monograph, hard_stops)
    _children_check(age_years, monograph, policy, hard_stops, day)
    discarded = vials * vial_mg - dose
    units_administered = int((dose / unit_mg).to_integral_value(rounding=ROUND_CEILING))
    units_in_vials = int((vials * vial_mg / unit_mg).to_integral_value(rounding=ROUND_HALF_UP))
    units_discarded = max(units_in_vials - units_administered, 0)
    modifier_key = "billing.modifier_discarded" if units_discarded > 0 else "billing.modifier_nothing_discarded"

    used = [
        dose_fact,
        monograph.fact("product.vial_deliverable"),
        monograph.fact("reconstitution.concentration"),
        *(monograph.fact(path) for path in container.sources),
    ]
    if reduce_pct:
        used.append(monograph.fact("cycles.toxicity_cycle_dose_reduction"))
    if cap_fact is not None:
        used.append(cap_fact)
    if per_kg_fact is not None:
        used += [per_kg_fact, monograph.fact("children.by_weight_below_bsa")]
    if "children.allowed" in monograph.facts and age_years is not None and age_years < policy.adult_from_age_years:
        used.append(monograph.fact("children.allowed"))
    pending = [f"{f.path}: {f.citation}" for f in used if f.verify]
    if draw.parts and policy.draw_tolerance_verify:
        pending.append(
            f"site.draw_tolerance: the site's default draw tolerance, {format_number(policy.draw_tolerance_percent, 2)}% "
            "(site-defaults.toml [draw] tolerance, program design)"
        )

    return DoseCalculation(
        height_text=height.text,
        weight_text=weight.text,
        height_cm=round(height_cm, 2),
        weight_kg=round(weight_kg, 3),
        cycle=cycle,
        day=day,
        response=response,
        bsa_m2=float(bsa),
        bsa_m2_unrounded=bsa_unrounded,
        bsa_formula=formula.key,
        bsa_formula_name=formula.name,
        bsa_equation=formula.equation,
        standard_mg_per_m2=float(standard),
        reduce_pct=reduce_pct,
        dose_mg_per_m2=float(mg_per_m2),
        calculated_dose_mg=float(calculated_dose),
        dose_rounding_pct=rounding_pct,
        dose_mg=float(dose),
        dose_before_draw_mg=float(dose_before_draw),
        draw_syringe_ml=draw.capacity_ml,
        draw_graduation_ml=draw.graduation_ml,
        draw_change_pct=draw_change_pct,
        draw_parts=[part.to_dict() for part in draw.parts],
        draw_tolerance_pct=policy.draw_tolerance_percent if draw.parts else 0.0,
        vials=vials,
        vial_mg=float(vial_mg),
        reconstitution_ml_per_vial=monograph.magnitude("reconstitution.diluent_volume_per_vial", "mL"),
        reconstituted_mg_per_ml=float(reconstituted),
        withdraw_ml=float(withdraw),
        final_volume_ml=float(final_volume),
        nacl_ml=float(nacl),
        nacl_about_ml=float(_about_to_mark(nacl, final_volume, policy)) if container.kind == "syringe" else None,
        nacl_measured_ml=float(nacl_measured) if nacl_measured is not None else None,
        nacl_parts=[part.to_dict() for part in nacl_draw.parts] if nacl_draw is not None else None,
        nacl_removed_ml=float(nacl_removed) if nacl_removed is not None else None,
        nacl_removed_parts=[part.to_dict() for part in nacl_removed_parts] if nacl_removed is not None else None,
        final_concentration_mg_per_ml=float(_quantize(concentration, Decimal("0.0001"))),
        concentration_min_mg_per_ml=float(conc_min),
        concentration_max_mg_per_ml=float(conc_max),
        discarded_mg=float(discarded),
        vehicle=monograph.text(container.vehicle_path),
        hcpcs=monograph.text("billing.hcpcs"),
        billing_unit_mg=float(unit_mg),
        billing_units_administered=units_administered,
        billing_units_discarded=units_discarded,
        billing_modifier=monograph.text(modifier_key),
        warnings=warnings,
        hard_stops=hard_stops,
        pending_verification=pending,
        monograph_id=monograph.id,
        monograph_revision=monograph.revision,
        container=container.kind,
        infusion_rate_ml_per_hour=float(rate),
        infusion_duration_hours=float(container.duration_hours),
        age_years=age_years,
        regimen=monograph.regimen.id if monograph.regimen is not None else None,
        dose_cap_mg=float(cap) if cap is not None else None,
        dose_mg_per_kg=float(per_kg_fact.value.to("mg/kg").magnitude) if per_kg_fact is not None else None,
    )


@dataclass(frozen=True)
class DrawPart:
    """One syringe of a draw: the volume read on it, and the syringe (its capacity and marks)."""

    volume_ml: Decimal
    capacity_ml: float
    graduation_ml: float

    @property
    def full(self) -> bool:
        return self.volume_ml == _dec(self.capacity_ml)

    def to_dict(self) -> dict[str, float]:
        return {"volume_ml": float(self.volume_ml), "syringe_ml": self.capacity_ml, "graduation_ml": self.graduation_ml}


@dataclass(frozen=True)
class Draw:
    volume_ml: Decimal
    capacity_ml: float  # the first (largest) syringe's; 0 when the site has no syringe table
    graduation_ml: float
    fills: int  # how many syringes
    parts: tuple[DrawPart, ...] = ()
    within_tolerance: bool = True

    def describe(self) -> str:
        if len(self.parts) > 1:
            return "in " + parts_words([p.to_dict() for p in self.parts])
        return f"on {syringe_words(self.capacity_ml, self.graduation_ml)}" if self.capacity_ml else ""


def syringe_words(capacity_ml: float, graduation_ml: float) -> str:
    """ "the 10 mL syringe (0.2 mL marks)": the one wording of a draw syringe, on screen, sheet and CLI."""
    return f"the {format_amount(capacity_ml, 'mL')} syringe ({format_amount(graduation_ml, 'mL')} marks)"


def _measured_on(parts: list[dict[str, float]] | None) -> str:
    """ " with the 50 mL syringe (1 mL marks)" or " in 2 syringes: ...": the syringes a saline volume is
    measured on (the bag's saline, or the saline withdrawn to make it up); "" with none."""
    if not parts:
        return ""
    if len(parts) > 1:
        return f" in {parts_words(parts)}"
    return f" with {syringe_words(parts[0]['syringe_ml'], parts[0]['graduation_ml'])}"


def parts_words(parts: list[dict[str, float]]) -> str:
    """ "2 syringes: 10 mL (the 10 mL syringe, full) + 0.5 mL (the 1 mL syringe, 0.01 mL marks)": the one
    wording of a draw split across syringes, on screen, sheet, label and CLI."""
    words = []
    for part in parts:
        full = part["volume_ml"] == part["syringe_ml"]
        words.append(
            f"{format_amount(part['volume_ml'], 'mL')} (the {format_amount(part['syringe_ml'], 'mL')} syringe, "
            + ("drawn full" if full else f"{format_amount(part['graduation_ml'], 'mL')} marks")
            + ")"
        )
    return f"{len(parts)} syringes: " + " + ".join(words)


def draw_tolerance_mg(calculation: DoseCalculation) -> float:
    """How far a drawn dose may sit from BSA × mg/m² because of the draw syringes alone: the site's draw
    tolerance (or the change the draw made, when larger: the finest syringe's half mark for a tiny
    volume). A calculation from before the tolerance (draw_tolerance_pct 0) allowed half a mark of its
    one syringe. Every check that recomputes the dose from the order (the blind double check, the
    course) allows it."""
    if calculation.draw_tolerance_pct:
        return max(abs(calculation.dose_mg - calculation.dose_before_draw_mg), calculation.draw_tolerance_pct / 100 * calculation.dose_before_draw_mg)
    return calculation.draw_graduation_ml / 2 * calculation.reconstituted_mg_per_ml


def _about_to_mark(nacl_ml: Decimal, final_ml: Decimal, policy: SitePolicy) -> Decimal:
    """The NaCl added up to the total's mark, as the draw syringe table reads that volume: the smallest
    bench syringe holding the saline, at its nearest mark. It is only 'about': the pump syringe is
    filled to the total's mark, so no split is needed for it (the drug's dose is not in it). Unlike
    the bag's saline (measured on the bench syringes, nacl_words: a bag has no marks to read), what
    is measured here is the total, on the pump syringe's own mark (_pump_mark puts it on one): the
    concentration and the pump rate follow the total, and measuring the saline apart as well would add
    a second reading's error to the draw's instead of absorbing the draw's in the mark.
    Read on the syringe holding the total instead, 2.5 mL of saline became 'about 2.6 mL' on 0.2 mL
    marks while the 3 mL syringe that draws it reads 2.5 mL exactly."""
    if nacl_ml <= 0:
        return nacl_ml
    syringes = policy.draw_syringes
    if not syringes:
        return _quantize(nacl_ml, _dec(policy.volume_precision_ml))
    syringe = next((s for s in syringes if _dec(s.capacity_ml) >= nacl_ml), syringes[-1])
    return _quantize(nacl_ml, _dec(syringe.graduation_ml))


def _on_marks(volume: Decimal, graduation: Decimal, most: Decimal | None) -> Decimal:
    """The volume at the nearest of a syringe's marks `graduation` apart (half a mark up), never above `most`."""
    marked = _quantize(volume, graduation)
    if most is not None and marked > most:
        marked = _quantize(most, graduation, ROUND_FLOOR)
    return marked


# A syringe with its capacity and marks as Decimals, converted once per draw: the search below
# visits each syringe thousands of times for a large dose.
_Syringe = tuple[DrawSyringe, Decimal, Decimal]


def _lead_parts(syringes: tuple[_Syringe, ...], count: int, exact: Decimal) -> Iterator[tuple[tuple[DrawPart, ...], Decimal]]:
    """Every choice of `count` syringes, largest first (repeats allowed), each drawn full or to its last mark
    below what is left, holding less than `exact` together: the parts before the remainder."""
    ordered = tuple(sorted(syringes, key=lambda s: -s[0].capacity_ml))

    def extend(start: int, left: int, total: Decimal, chosen: tuple[DrawPart, ...]) -> Iterator[tuple[tuple[DrawPart, ...], Decimal]]:
        if left == 0:
            yield chosen, total
            return
        for index in range(start, len(ordered)):
            syringe, capacity, graduation = ordered[index]
            below = _quantize(exact - total, graduation, ROUND_FLOOR)
            for volume in sorted({capacity, below}, reverse=True):
                if 0 < volume <= capacity and total + volume < exact:
                    part = DrawPart(volume, syringe.capacity_ml, syringe.graduation_ml)
                    yield from extend(index, left - 1, total + volume, (*chosen, part))

    yield from extend(0, count, Decimal(0), ())


def _draw(exact_ml: Decimal, policy: SitePolicy, most_ml: Decimal | None = None, whole_vials: bool = False) -> Draw:
    """The fewest syringes that draw the volume within the site's draw tolerance, each read to its own
    marks: one syringe (the smallest that holds it, at its nearest mark, half a mark up) when that is
    close enough; else syringes drawn full (largest first) and the remainder on the smallest syringe
    that holds it. Among draws of as many syringes, the one closest to the volume. A 10.5 mL draw was
    read to the 20 mL syringe's 1 mL marks as 11 mL (+4.8% of the dose, pharmacist review); it is now
    the 10 mL syringe drawn full and 0.5 mL on the 1 mL syringe.

    The tolerance is the site's percentage of the volume, or half a mark of the smallest syringe when
    that is more (nothing on the bench reads a tiny volume closer). A capped dose is never drawn above
    `most_ml`. Without a syringe table only the site's volume precision applies."""
    syringes = policy.draw_syringes
    if not syringes or exact_ml <= 0:
        return Draw(_quantize(exact_ml, _dec(policy.volume_precision_ml)), 0.0, 0.0, 1)
    if whole_vials:
        return Draw(exact_ml, 0.0, 0.0, 1)
    tolerance = max(exact_ml * _dec(policy.draw_tolerance_percent) / 100, _dec(syringes[0].graduation_ml) / 2)
    smallest = _dec(syringes[0].capacity_ml)
    # Enough syringes for the smallest one, drawn full, to bring any remainder within its marks.
    most_syringes = int((exact_ml / smallest).to_integral_value(rounding=ROUND_CEILING)) + 1
    measured = tuple((s, _dec(s.capacity_ml), _dec(s.graduation_ml)) for s in syringes)
    best: tuple[tuple[Decimal, int, Decimal], tuple[DrawPart, ...]] | None = None
    for count in range(1, most_syringes + 1):
        found: tuple[tuple[Decimal, int, Decimal], tuple[DrawPart, ...]] | None = None
        for lead, total in _lead_parts(measured, count - 1, exact_ml):
            remainder = exact_ml - total
            # The smallest syringe that holds the rest, or the largest to its top mark (20.04 mL is 20 mL, -0.2%).
            holder, capacity, graduation = next((s for s in measured if s[1] >= remainder), measured[-1])
            most = capacity if most_ml is None else min(capacity, most_ml - total)
            marked = _on_marks(remainder, graduation, most)
            if marked <= 0:
                continue  # the remainder is below the holder's first mark: a draw of fewer syringes
            parts = (*lead, DrawPart(marked, holder.capacity_ml, holder.graduation_ml))
            error = abs(total + marked - exact_ml)
            # As close as can be; then syringes drawn full (read at their top mark, the simplest), and
            # the most volume in the first syringes.
            key = (error, sum(not p.full for p in lead), -total)
            if found is None or key < found[0]:
                found = (key, parts)
        if found is not None and found[0][0] <= tolerance:
            best = found
            break
        if found is not None and (best is None or found[0][0] < best[0][0]):
            best = found
    assert best is not None  # the smallest syringe alone always draws something
    error, parts = best[0][0], tuple(_finest(part, syringes) for part in best[1])
    volume = sum((p.volume_ml for p in parts), Decimal(0))
    return Draw(volume, parts[0].capacity_ml, parts[0].graduation_ml, len(parts), parts, error <= tolerance)


def _finest(part: DrawPart, syringes: tuple[DrawSyringe, ...]) -> DrawPart:
    """The part on the smallest syringe that holds its volume and reads it on one of its marks, no coarser
    than the one chosen: the search takes the largest syringe first, so a tie put 4 mL of a 4.08 mL
    MYLOTARG draw on the 20 mL syringe's 1 mL marks (half a mark is 12% of 4 mL) where the 10 mL
    syringe reads 4 mL on its 0.2 mL marks, and 10 mL of 10.08 mL on the 20 mL syringe rather than the
    10 mL syringe drawn full (reviewer, issue 17). The volume, and so the dose, is unchanged."""
    for syringe in syringes:
        capacity, graduation = _dec(syringe.capacity_ml), _dec(syringe.graduation_ml)
        if capacity >= part.volume_ml and part.volume_ml % graduation == 0 and syringe.graduation_ml <= part.graduation_ml:
            return DrawPart(part.volume_ml, syringe.capacity_ml, syringe.graduation_ml)
    return part


@dataclass(frozen=True)
class Container:
    kind: str  # "bag" or "syringe"
    final_volume_ml: Decimal
    concentration_min: float
    concentration_max: float
    rate_ml_per_hour: Decimal
    duration_hours: Decimal
    vehicle_path: str
    sources: tuple[str, ...]
    bag_volume_ml: float
    bag_min: float
    bag_max: float
    syringe_min: float | None
    syringe_max: float | None
    # the bag as supplied is made up to its labelled volume (saline equal to the dose volume withdrawn first)
    made_up: bool = False


def bag_as_supplied(monograph: Monograph) -> bool:
    """The dose is added to a whole bag as supplied (the label gives no total): the final volume is the
    bag's labelled volume plus the dose volume."""
    return "dilution.bag_as_supplied" in monograph.facts and monograph.flag("dilution.bag_as_supplied")


def makes_up_to_bag_volume(monograph: Monograph) -> bool:
    """A bag as supplied that the dose would leave below the window is made up to its labelled volume:
    saline equal to the dose volume is first withdrawn and discarded."""
    return bag_as_supplied(monograph) and "dilution.make_up_to_bag_volume" in monograph.facts and monograph.flag("dilution.make_up_to_bag_volume")


def _bag_choice(dose: Decimal, withdraw: Decimal, monograph: Monograph) -> tuple[Decimal, bool]:
    """The label's one bag volume, or (a monograph listing several bags) the smallest bag whose final
    concentration AS MADE is within the window, and whether it is made up to its labelled volume.
    As made: the whole bag as supplied plus the dose volume, or, when that is below the window and the
    monograph makes bags up to volume, the bag's labelled volume. The concentration stated on the sheet
    and label is the one the bag was chosen on (reviewer, issue 17: the bag was chosen on dose ÷ bag and
    judged on dose ÷ (bag + dose volume), so 3.9 mg was refused and 11.76 mg sent to 100 mL). When none
    is, the concentration check refuses the dose."""
    if "dilution.final_volume" in monograph.facts:
        return _dec(monograph.magnitude("dilution.final_volume", "mL")), False
    bags = sorted(_dec(v) for v in monograph.items("dilution.bag_volumes"))
    least = _dec(monograph.magnitude("dilution.concentration_min", "mg/mL"))
    most = _dec(monograph.magnitude("dilution.concentration_max", "mg/mL"))
    supplied, makes_up = bag_as_supplied(monograph), makes_up_to_bag_volume(monograph)
    for bag in bags:
        if least <= dose / (bag + withdraw if supplied else bag) <= most:
            return bag, False
        if makes_up and withdraw < bag and least <= dose / bag <= most:
            return bag, True
    # None is: the smallest bag not above the maximum (the dose is too small for any), else the largest
    return next((b for b in bags if dose / (b + withdraw if supplied else b) <= most), bags[-1]), False


def _bag_dose_range(bag: Decimal, monograph: Monograph) -> tuple[Decimal, Decimal]:
    """The doses (mg) a bag holds within the window, as the bag is made, to the 0.01 mg shown (the least
    rounded up, the most down, so that every dose stated is one that can be made)."""
    least = _dec(monograph.magnitude("dilution.concentration_min", "mg/mL"))
    most = _dec(monograph.magnitude("dilution.concentration_max", "mg/mL"))
    if bag_as_supplied(monograph):
        # dose / (bag + dose / reconstituted) = concentration  <=>  dose = concentration × bag / (1 - concentration / reconstituted)
        reconstituted = _dec(monograph.magnitude("reconstitution.concentration", "mg/mL"))
        low = least * bag if makes_up_to_bag_volume(monograph) else least * bag / (1 - least / reconstituted)
        high = most * bag / (1 - most / reconstituted)
    else:
        low, high = least * bag, most * bag
    step = Decimal("0.01")
    return low.quantize(step, rounding=ROUND_CEILING), high.quantize(step, rounding=ROUND_FLOOR)


def _refusal_as_supplied(concentration: Decimal, side: str, dose: Decimal, container: Container, monograph: Monograph) -> str:
    """The refusal of a dose no bag holds within the window as bags are made (whole as supplied plus the
    dose, or made up to volume), with the doses each bag does hold: the bag's volume alone misstated them
    (the 50 mL bag as supplied holds 4.06 mg to 15.27 mg, not 3.75 mg to 11.7 mg)."""
    bags = sorted(_dec(v) for v in monograph.items("dilution.bag_volumes"))
    below = _dec(monograph.magnitude("syringe.dose_below", "mg")) if "syringe.dose_below" in monograph.facts else None
    ranges = []
    for bag in bags:
        low, high = _bag_dose_range(bag, monograph)
        low = max(low, below) if below is not None else low
        ranges.append(f"{format_dose(low)} to {format_dose(high)} in the {format_amount(bag, 'mL')} bag")
    how = "the whole bag as supplied plus the dose volume" + (
        ", made up to the bag's volume when that is below the minimum" if makes_up_to_bag_volume(monograph) else ""
    )
    syringe = ""
    if container.syringe_min is not None and container.syringe_max is not None:
        under = f" (doses under {format_dose(below)})" if below is not None else ""
        syringe = f"; {format_concentration(container.syringe_min)} to {format_concentration(container.syringe_max)} by syringe{under}"
    return (
        f"final concentration {format_concentration(concentration)} is {side}: the label allows "
        f"{format_concentration(container.bag_min)} to {format_concentration(container.bag_max)} in a bag ({how}): doses of "
        + ", ".join(ranges)
        + syringe
        + f"; {format_dose(dose)} cannot be prepared in any. Refer to the pharmacist and prescriber."
    )


def _container(dose: Decimal, withdraw: Decimal, monograph: Monograph, policy: SitePolicy) -> Container:
    """The label's infusion bag when the dose reaches its concentration window (or, where the monograph
    names a dose below which a syringe is used, from that dose on); otherwise the syringe path
    (2.4 Syringe Administration) when the monograph has one."""
    bag_volume, made_up = _bag_choice(dose, withdraw, monograph)
    bag_min = monograph.magnitude("dilution.concentration_min", "mg/mL")
    bag_max = monograph.magnitude("dilution.concentration_max", "mg/mL")
    bag_hours = _dec(monograph.magnitude("infusion.duration", "hour"))
    has_syringe = "syringe" in monograph.raw
    syringe_min = monograph.magnitude("syringe.concentration_min", "mg/mL") if has_syringe else None
    syringe_max = monograph.magnitude("syringe.concentration_max", "mg/mL") if has_syringe else None
    volume_path = "dilution.final_volume" if "dilution.final_volume" in monograph.facts else "dilution.bag_volumes"
    bag_rate = (
        _dec(monograph.magnitude("infusion.rate", "mL/hour")) if "infusion.rate" in monograph.facts else _quantize(bag_volume / bag_hours, Decimal("0.1"))
    )
    bag = Container(
        "bag",
        bag_volume,
        bag_min,
        bag_max,
        bag_rate,
        bag_hours,
        "dilution.vehicle_short",
        (volume_path, "dilution.concentration_min", "dilution.concentration_max") + (("dilution.make_up_to_bag_volume",) if made_up else ()),
        float(bag_volume),
        bag_min,
        bag_max,
        syringe_min,
        syringe_max,
        made_up,
    )
    if not has_syringe or dose <= 0:
        return bag
    syringe_below = "syringe.dose_below" in monograph.facts
    if syringe_below:
        if dose >= _dec(monograph.magnitude("syringe.dose_below", "mg")):
            return bag
    elif dose / bag_volume >= _dec(bag_min):
        return bag
    assert syringe_min is not None and syringe_max is not None
    # The smallest volume on the site's step that brings the dose down to the window's maximum:
    # the least fluid for a small child, still measurable on the pump syringe.
    step = _dec(policy.syringe_volume_step_ml)
    volume = max(_quantize(dose / _dec(syringe_max), step, ROUND_CEILING), _quantize(withdraw, step, ROUND_CEILING), step)
    volume = _pump_mark(volume, step, policy)
    hours = _dec(monograph.magnitude("syringe.infusion_duration", "hour"))
    rate = _quantize(volume / hours, Decimal("0.1"))
    return Container(
        "syringe",
        volume,
        syringe_min,
        syringe_max,
        rate,
        hours,
        "syringe.vehicle_short",
        ("syringe.concentration_min", "syringe.concentration_max", "syringe.infusion_duration") + (("syringe.dose_below",) if syringe_below else ()),
        float(bag_volume),
        bag_min,
        bag_max,
        syringe_min,
        syringe_max,
    )


def _pump_mark(volume: Decimal, step: Decimal, policy: SitePolicy) -> Decimal:
    """The least volume from `volume` on, on the site's step, that the syringe holding it can be filled to:
    a mark of the smallest syringe of the site's table that holds it. A half-mL step put 4.5 mL on the
    10 mL syringe's 0.2 mL marks and 16.5 mL on the 20 mL syringe's 1 mL marks, where no line is."""
    syringes = policy.draw_syringes
    if not syringes or volume > _dec(syringes[-1].capacity_ml):
        return volume
    candidate = volume
    while candidate <= _dec(syringes[-1].capacity_ml):
        holder = next(s for s in syringes if _dec(s.capacity_ml) >= candidate)
        if candidate % _dec(holder.graduation_ml) == 0:
            return candidate
        candidate += step
    return volume


def _age_check(date_of_birth: date | None, dose_date: date | None, monograph: Monograph, hard_stops: list[str]) -> int | None:
    if date_of_birth is None:
        return None
    if dose_date is None:
        raise ValidationError("dose-date", "is needed with the date of birth to tell the age at the dose (e.g. 2026-12-01)")
    if date_of_birth > dose_date:
        raise ValidationError("dob", f"{date_of_birth.isoformat()} is after the dose date {dose_date.isoformat()}")
    years = completed_years(date_of_birth, dose_date)
    refusal = under_minimum_age(date_of_birth, dose_date, monograph, "at the dose", f"dose {dose_date.isoformat()}")
    if refusal is not None:
        hard_stops.append(refusal)
    return years


def _months_old(date_of_birth: date, on: date) -> int:
    return (on.year - date_of_birth.year) * 12 + on.month - date_of_birth.month - (on.day < date_of_birth.day)


def minimum_age_reached_on(date_of_birth: date, monograph: Monograph) -> date | None:
    """The first day the patient is old enough for the drug ([patients] minimum_age), or None without one."""
    if "patients.minimum_age" not in monograph.facts:
        return None
    minimum = int(round(monograph.magnitude("patients.minimum_age", "month"), 6))
    day = date_of_birth
    while _months_old(date_of_birth, day) < minimum:
        day += timedelta(days=1)
    return day


def under_minimum_age(date_of_birth: date, on: date, monograph: Monograph, when: str = "today", on_words: str | None = None) -> str | None:
    """Why a patient born `date_of_birth` is too young for the drug on `on` (a label limit: the
    monograph's patients.minimum_age), or None. Shared by the dose calculation and the course."""
    if "patients.minimum_age" not in monograph.facts:
        return None
    # In whole months, so that a minimum of 1 month (MYLOTARG) and of 1 year (BESPONSA) read alike.
    months = _months_old(date_of_birth, on)
    minimum = round(monograph.magnitude("patients.minimum_age", "month"), 6)
    if months >= minimum:
        return None
    years = completed_years(date_of_birth, on)
    fact = monograph.fact("patients.minimum_age")
    age = format_age(years, months)
    least = format_amount(minimum / 12, "year") if minimum % 12 == 0 else format_amount(minimum, "month")
    return (
        f"the patient is {age} {when} (born {date_of_birth.isoformat()}, {on_words or on.isoformat()}): "
        f"safety and efficacy under {least} are not established (label {fact.where})"
    )


def _by_weight(monograph: Monograph, bsa: Decimal) -> Any:
    """The regimen's children's mg/kg when the BSA is below its threshold (a Fact), else None."""
    if "children.mg_per_kg" not in monograph.facts:
        return None
    below = _dec(monograph.magnitude("children.by_weight_below_bsa", "m**2"))
    return monograph.fact("children.mg_per_kg") if bsa < below else None


def _children_check(age_years: int | None, monograph: Monograph, policy: SitePolicy, hard_stops: list[str], day: int | None = None) -> None:
    """A regimen the data give no children's dose for is refused a child (MYLOTARG single agent); a
    regimen whose data give a child fewer dose days refuses the others."""
    if age_years is not None and day is not None and day in monograph.dose_days:
        days = monograph.dose_days_at_age(age_years, policy.adult_from_age_years)
        if day not in days:
            fact = monograph.fact("children.dose_days")
            hard_stops.append(
                f"children-day: the patient is {format_age(age_years)}: a child is given {monograph.brand_name} on Day "
                f"{', '.join(str(d) for d in days)} only ({fact.where}{'; pending pharmacist review' if fact.verify else ''}); "
                "refer to the prescriber"
            )
    if age_years is None or "children.allowed" not in monograph.facts or monograph.flag("children.allowed"):
        return
    if age_years < policy.adult_from_age_years:
        fact = monograph.fact("children.allowed")
        name = f"{monograph.regimen.id} regimen" if monograph.regimen is not None else "dosing"
        hard_stops.append(
            f"children-regimen: the patient is {format_age(age_years)}: {monograph.brand_name}'s {name} is for adults "
            f"(from {format_amount(policy.adult_from_age_years, 'year')}; {fact.where}); refer to the prescriber"
        )
