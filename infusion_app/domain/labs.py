"""Labs and checks before every dose: what is recorded, what is missing, and the advice the values drive.

The label asks for a CBC before each dose, liver tests before and after each dose, and an ECG and
electrolytes at baseline (monograph [warnings].monitoring). This module keeps those results with the
course, says which are missing for the next dose ("labs needed: ..."), and turns each result into
the label's dose-modification advice at once (dose_modification.py): the liver rule and the
hematologic rule against the patient's baseline counts. Nothing here is a number of the drug's: the
limits are the monograph's and the window (how old a result may be) is the site's
(site-defaults.toml [labs]).

Pure Python: instants are aware datetimes passed in by the caller (the service's clock).

API
    LabResult(kind, taken_at, values, recorded_by, id=None)       kind in LAB_KINDS
    LabOverride(cycle, day, pharmacist, reason, at, missing)     a pharmacist's override of missing labs
    cbc_values(anc, platelets, transfusion_independent) -> dict
    liver_values(bilirubin_x_uln=None, ast_alt_x_uln=None, bilirubin=None, bilirubin_uln=None,
                 ast=None, ast_uln=None, alt=None, alt_uln=None, cause=None) -> dict
    ecg_values(qtc_ms) -> dict;  electrolyte_values(potassium, magnesium) -> dict
    vod_sign_values(weight_gain, hepatomegaly, ascites, bilirubin_rising) -> dict
    record_lab(course, kind, values, taken_at, now, recorded_by) -> LabResult
    labs_needed(course, at, cycle, day, policy, monograph) -> list[str]   (empty: nothing missing)
    liver_after_due(course) -> list[str]       doses given with no liver tests after them yet
    lab_advice(course, result, next_dose, monograph) -> list[Advice]
    low_counts_since(course, at, monograph) / low_counts_days(...) / low_counts_flag(...)
        the run of low CBCs (below the label's thresholds, or platelets not transfusion-independent)
        that the latest CBC belongs to, from the first dose: longer than the label's days it advises
        discontinuation (Table 2), decided by a pharmacist (drug-related or not)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .dose_modification import (
    max_x_uln,
    Action,
    Advice,
    Counts,
    RuleSource,
    hematologic_advice,
    liver_advice,
    low_counts_advice,
    vod_sos_advice,
)
from .errors import ValidationError
from .formatting import format_number
from .limits import COUNT_UNIT, SitePolicy, count_limits, electrolytes, plausible, site_defaults
from .monograph import Monograph
from .numbers import read_number
from .quantities import Quantity

LAB_KINDS = ("cbc", "liver", "ecg", "electrolytes", "vod-signs")
LAB_TITLES = {
    "cbc": "CBC (ANC, platelets)",
    "liver": "liver tests (total bilirubin, AST/ALT)",
    "ecg": "ECG (QTc)",
    "electrolytes": "electrolytes (potassium, magnesium)",
    "vod-signs": "VOD/SOS signs (weight gain, painful hepatomegaly, ascites, rising bilirubin)",
}
VOD_SIGNS = (
    ("weight_gain", "rapid weight gain"),
    ("hepatomegaly", "painful hepatomegaly"),
    ("ascites", "ascites"),
    ("bilirubin_rising", "rising bilirubin"),
)
# Physiological bounds that catch a typo (a value in the wrong unit), not clinical limits, all in
# validation.toml: [counts] and [plausibility.x_uln] are shared with a course's findings, and
# [plausibility.qtc] and [plausibility.electrolytes] are the labs' own.


@dataclass(frozen=True)
class LabResult:
    kind: str
    taken_at: datetime  # aware (UTC when stored)
    values: dict[str, Any]
    recorded_by: str
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "taken_at": self.taken_at.isoformat(),
            "values": dict(self.values),
            "recorded_by": self.recorded_by,
            "summary": lab_summary(self),
        }


@dataclass(frozen=True)
class LabOverride:
    cycle: int
    day: int
    pharmacist: str
    reason: str
    at: datetime
    missing: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "day": self.day,
            "pharmacist": self.pharmacist,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "missing": list(self.missing),
        }


# -- reading values -------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(field_name: str, value: Any, low: float, high: float, example: str) -> float:
    number = read_number(field_name, value, example)
    if number != number or not low <= number <= high:
        raise ValidationError(field_name, f"'{value}' is not accepted; must be {format_number(low)} to {format_number(high)}, {example}")
    return number


def _yes_no(field_name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if _blank(value):
        raise ValidationError(field_name, "is required; answer yes or no")
    text = str(value).strip().lower()
    if text in ("yes", "y", "true"):
        return True
    if text in ("no", "n", "false"):
        return False
    raise ValidationError(field_name, f"'{value}' is not accepted; answer yes or no")


def cbc_values(anc: Any, platelets: Any, transfusion_independent: Any) -> dict[str, Any]:
    """ANC and platelets in 10⁹/L (or typed with their unit, "500/uL"), each within its own bound
    (validation.toml [counts]); the label doses on a transfusion-independent platelet count, so the entry asks."""
    for name, value in (("anc", anc), ("platelets", platelets)):
        if _blank(value):
            raise ValidationError(name, f"is required: a count in 10⁹/L, e.g. {count_limits()[name].example}")
    counts: Any = Counts.of(anc, platelets)
    return {
        "anc": float(counts.anc.magnitude),
        "platelets": float(counts.platelets.magnitude),
        "transfusion_independent": _yes_no("transfusion-independent", transfusion_independent),
    }


def _ratio_of(field_name: str, value: Any, uln: Any) -> float:
    """A result over the lab's upper limit of normal; both in the same unit (or both bare numbers)."""
    try:
        measured = Quantity(str(value).strip()) if isinstance(value, str) else Quantity(value)
        limit = Quantity(str(uln).strip()) if isinstance(uln, str) else Quantity(uln)
        ratio = float((measured / limit).to("dimensionless").magnitude)
    except Exception:
        raise ValidationError(
            field_name, f"'{value}' with ULN '{uln}' is not accepted; give the value and the lab's ULN in the same unit, e.g. 34 umol/L and 21 umol/L"
        ) from None
    if ratio != ratio or not 0 <= ratio <= max_x_uln(field_name) or float(limit.magnitude) <= 0:
        raise ValidationError(field_name, f"'{value}' over ULN '{uln}' is not accepted; must be 0 to {max_x_uln(field_name):g} × ULN with a ULN above 0")
    return ratio


def liver_values(
    bilirubin_x_uln: Any = None,
    ast_alt_x_uln: Any = None,
    bilirubin: Any = None,
    bilirubin_uln: Any = None,
    ast: Any = None,
    ast_uln: Any = None,
    alt: Any = None,
    alt_uln: Any = None,
    cause: Any = None,
) -> dict[str, Any]:
    """Total bilirubin and the higher of AST/ALT as multiples of ULN: typed so, or computed from values with the lab's ULN."""
    values: dict[str, Any] = {}
    if not _blank(bilirubin_x_uln):
        if not _blank(bilirubin):
            raise ValidationError("bilirubin", "give the bilirubin as × ULN or as a value with its ULN, not both")
        values["bilirubin_x_uln"] = _number("bilirubin-x-uln", bilirubin_x_uln, 0, max_x_uln(), "a multiple of ULN, e.g. 1.2")
    elif not _blank(bilirubin):
        if _blank(bilirubin_uln):
            raise ValidationError("bilirubin-uln", "give the lab's upper limit of normal with the bilirubin, e.g. 21 umol/L")
        values["bilirubin_x_uln"] = _ratio_of("bilirubin", bilirubin, bilirubin_uln)
        values["bilirubin"], values["bilirubin_uln"] = str(bilirubin).strip(), str(bilirubin_uln).strip()
    else:
        raise ValidationError("bilirubin-x-uln", "is required: total bilirubin as × ULN (e.g. 1.2), or the bilirubin value with the lab's ULN")
    if not _blank(ast_alt_x_uln):
        if not (_blank(ast) and _blank(alt)):
            raise ValidationError("ast-alt-x-uln", "give AST/ALT as × ULN or as values with their ULN, not both")
        values["ast_alt_x_uln"] = _number("ast-alt-x-uln", ast_alt_x_uln, 0, max_x_uln("ast-alt-x-uln"), "a multiple of ULN, e.g. 1.5")
    else:
        ratios = []
        for name, value, uln in (("ast", ast, ast_uln), ("alt", alt, alt_uln)):
            if _blank(value):
                continue
            if _blank(uln):
                raise ValidationError(f"{name}-uln", f"give the lab's upper limit of normal with the {name.upper()}, e.g. 40 U/L")
            ratios.append(_ratio_of(name, value, uln))
            values[name], values[f"{name}_uln"] = str(value).strip(), str(uln).strip()
        if not ratios:
            raise ValidationError("ast-alt-x-uln", "is required: the higher of AST/ALT as × ULN (e.g. 1.5), or AST and/or ALT values with the lab's ULN")
        values["ast_alt_x_uln"] = max(ratios)
    if not _blank(cause):
        values["cause"] = str(cause).strip()
    return values


def ecg_values(qtc_ms: Any) -> dict[str, Any]:
    qtc = plausible("qtc")
    low, high = qtc.low, qtc.high
    if isinstance(qtc_ms, str):  # "430 ms", as the ECG prints it: the field's own unit
        qtc_ms = re.sub(r"\s*ms\s*$", "", qtc_ms.strip(), flags=re.IGNORECASE) or qtc_ms
    return {"qtc_ms": _number("qtc", qtc_ms, low, high, "the QTc in ms, e.g. 430")}


def electrolyte_values(potassium: Any, magnesium: Any) -> dict[str, Any]:
    """Potassium and magnesium in mmol/L: typed with their unit (mmol/L, mEq/L, mg/dL) or bare in
    mmol/L below the value where mg/dL could be meant (validation.toml [electrolytes])."""
    return {"potassium": _electrolyte("potassium", potassium, "4.1"), "magnesium": _electrolyte("magnesium", magnesium, "0.85")}


_ELECTROLYTE_UNIT = re.compile(r"(?P<number>.*?)\s*(?P<unit>mmol/l|meq/l|mg/dl)", re.IGNORECASE)


def _electrolyte(name: str, value: Any, example: str) -> float:
    element = electrolytes()[name]
    bound = plausible("electrolytes")
    accepted = f"in mmol/L, e.g. {example}, or with its unit, e.g. {example} mmol/L or 2.0 mg/dL"
    typed = _ELECTROLYTE_UNIT.fullmatch(unicodedata.normalize("NFKC", value).strip()) if isinstance(value, str) else None
    if typed is not None:
        number = read_number(name, typed.group("number"), accepted)
        unit = typed.group("unit").lower()
        # mg/dL is 10 mg/L, over the element's mg per mmol; an equivalent is a mmol over the charge.
        mmol = number if unit == "mmol/l" else number / element.charge if unit == "meq/l" else number * 10 / element.molar_mass_g_per_mol
    else:
        mmol = read_number(name, value, accepted)
        if mmol >= element.bare_max_mmol_per_l:
            as_mg = mmol * 10 / element.molar_mass_g_per_mol
            raise ValidationError(
                name,
                f"'{value}' is not accepted without its unit: {name} {format_number(mmol, 3)} may be mmol/L or mg/dL "
                f"({format_number(as_mg, 2)} mmol/L); type it with its unit, e.g. {format_number(mmol, 3)} mmol/L or {format_number(mmol, 3)} mg/dL",
            )
    low = max(bound.low, element.lowest_mmol_per_l)
    if mmol != mmol or not low <= mmol <= bound.high:
        raise ValidationError(name, f"'{value}' is not accepted; must be {format_number(low)} to {format_number(bound.high)} mmol/L, e.g. {example}")
    return mmol


def vod_sign_values(weight_gain: Any, hepatomegaly: Any, ascites: Any, bilirubin_rising: Any) -> dict[str, Any]:
    given = {"weight_gain": weight_gain, "hepatomegaly": hepatomegaly, "ascites": ascites, "bilirubin_rising": bilirubin_rising}
    return {name: _yes_no(name.replace("_", "-"), given[name]) for name, _label in VOD_SIGNS}


# What each stored value must be, for reading a stored result back (storage's course_labs).
NUMBER_VALUES = ("anc", "platelets", "bilirubin_x_uln", "ast_alt_x_uln", "qtc_ms", "potassium", "magnesium")
YES_NO_VALUES = ("transfusion_independent", "weight_gain", "hepatomegaly", "ascites", "bilirubin_rising")


def check_stored_values(kind: str, values: Any) -> dict[str, Any]:
    """A stored result's values as written by lab_values; ValueError naming the first that is not
    (a count edited to text would otherwise fail where the checks compare it). A count above its
    present bound (validation.toml [counts]) is not malformed: the code before 176a086 accepted up to
    1,000 × 10⁹/L, so such a row is the data as recorded, and refusing it made the course unreadable
    and the audit replay call it altered. It is read, shown as stored, and counts for nothing
    (stored_count_doubt)."""
    if kind not in LAB_KINDS:
        raise ValueError(f"its kind {str(kind)[:40]!r} is not one of {', '.join(LAB_KINDS)}")
    if not isinstance(values, dict):
        raise ValueError("its values are not a mapping")
    for name, value in values.items():
        if name in NUMBER_VALUES and (isinstance(value, bool) or not isinstance(value, (int, float)) or value != value):
            raise ValueError(f"its {name} is {str(value)[:40]!r}, not a number")
        if kind == "cbc" and name in count_limits() and not 0 <= value < float("inf"):
            raise ValueError(f"its {name} is {str(value)[:40]!r}, not a count of 0 or more")
        if name in YES_NO_VALUES and not isinstance(value, bool):
            raise ValueError(f"its {name} is {str(value)[:40]!r}, not true or false")
    return values


def lab_values(kind: str, **given: Any) -> dict[str, Any]:
    """The values of one result of `kind` from the named entries (the CLI's and the forms' fields)."""
    if kind == "cbc":
        return cbc_values(given.get("anc"), given.get("platelets"), given.get("transfusion_independent"))
    if kind == "liver":
        names = ("bilirubin_x_uln", "ast_alt_x_uln", "bilirubin", "bilirubin_uln", "ast", "ast_uln", "alt", "alt_uln", "cause")
        return liver_values(**{n: given.get(n) for n in names})
    if kind == "ecg":
        return ecg_values(given.get("qtc_ms"))
    if kind == "electrolytes":
        return electrolyte_values(given.get("potassium"), given.get("magnesium"))
    if kind == "vod-signs":
        return vod_sign_values(given.get("weight_gain"), given.get("hepatomegaly"), given.get("ascites"), given.get("bilirubin_rising"))
    raise ValidationError("kind", f"'{kind}' is not accepted; must be one of {', '.join(LAB_KINDS)}")


def lab_summary(result: LabResult) -> str:
    v = result.values
    if result.kind == "cbc":
        ti = "" if v.get("transfusion_independent") else " (NOT transfusion-independent)"
        # three decimals: a count is whole cells per µL, and at two an ANC of 4 per µL read 'ANC 0'
        return f"ANC {format_number(v['anc'], 3)} × 10⁹/L, platelets {format_number(v['platelets'], 3)} × 10⁹/L{ti}"
    if result.kind == "liver":
        cause = f", attributed to {v['cause']}" if v.get("cause") else ""
        return f"total bilirubin {format_number(v['bilirubin_x_uln'], 2)} × ULN, AST/ALT {format_number(v['ast_alt_x_uln'], 2)} × ULN{cause}"
    if result.kind == "ecg":
        return f"QTc {format_number(v['qtc_ms'], 0)} ms"
    if result.kind == "electrolytes":
        return f"potassium {format_number(v['potassium'], 2)} mmol/L, magnesium {format_number(v['magnesium'], 2)} mmol/L"
    found = [label for name, label in VOD_SIGNS if v.get(name)]
    return "VOD/SOS signs: " + (", ".join(found) if found else "none")


# -- the course's results -------------------------------------------------------------------------


def record_lab(course: Any, kind: str, values: dict[str, Any], taken_at: datetime, now: datetime, recorded_by: str) -> LabResult:
    if kind not in LAB_KINDS:
        raise ValidationError("kind", f"'{kind}' is not accepted; must be one of {', '.join(LAB_KINDS)}")
    if taken_at.tzinfo is None:
        raise ValidationError("taken", "must be an instant with its UTC offset, e.g. 2026-11-27T09:00+01:00")
    if taken_at > now:
        from .formatting import format_instant

        raise ValidationError("taken", f"{format_instant(taken_at)} is in the future (now is {format_instant(now)})")
    number = max((r.id or 0 for r in course.labs), default=0) + 1
    result = LabResult(kind, taken_at, dict(values), str(recorded_by).strip(), number)
    course.labs.append(result)
    course.labs.sort(key=lambda r: r.taken_at)
    return result


def _local_end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59).astimezone()


def latest(course: Any, kind: str, before: datetime | None = None, counted: bool = True) -> LabResult | None:
    found = [r for r in course.labs if r.kind == kind and (before is None or r.taken_at <= before)]
    if counted and kind == "cbc":
        found = [r for r in found if r.values.get("transfusion_independent")]
    return found[-1] if found else None


def _window_hours(policy: SitePolicy) -> int:
    return int(policy.lab_max_age_hours)


def monitored_labs(monograph: Monograph, age_years: int | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The labs the monograph asks before each dose, and at baseline ([monitoring]); a patient younger than
    its baseline_minimum_age has no baseline asked. A monograph without [monitoring]: CBC and liver tests."""
    m = monograph
    if "monitoring.before_each_dose" not in m.facts:
        return ("cbc", "liver"), ()
    each = tuple(str(k) for k in m.items("monitoring.before_each_dose"))
    baseline = tuple(str(k) for k in m.items("monitoring.baseline"))
    for kind in each + baseline:
        if kind not in LAB_KINDS:
            from .errors import DataFileError

            raise DataFileError(f"monograph {m.id}: [monitoring] names '{kind}', not one of {', '.join(LAB_KINDS)}")
    if age_years is not None and "monitoring.baseline_minimum_age" in m.facts:
        if age_years < m.magnitude("monitoring.baseline_minimum_age", "year"):
            baseline = ()
    return each, baseline


def _age_years(course: Any, at: datetime) -> int | None:
    born = getattr(course, "date_of_birth", None)
    if born is None:
        return None
    from .identity import completed_years

    return completed_years(born, at.astimezone().date())


# The flag of an order with no course on file. Here, beside the labs such an order is checked
# against, so that a new order with no course imports none of the course rules.
NO_COURSE_FLAG = "no course on file"
# How the no-course order's flag starts (the service words it): once the order is verified, the sheet
# says what was checked instead (reports.model), not that labs are still needed.
LABS_NEEDED_FLAG = "labs needed at order verification"


def no_course_labs(monograph: Monograph, policy: SitePolicy | None = None) -> list[str]:
    """What a preparation with no course on file is to be checked against: the labs the monograph asks
    before each dose and (for a first dose) at baseline, which no course holds to check them here."""
    hours = _window_hours(policy or site_defaults())
    each, baseline = monitored_labs(monograph)
    lines = [f"{LAB_TITLES[k]} taken within {hours} h" for k in each]
    lines += [f"baseline {LAB_TITLES[k]} before the first dose" for k in baseline]
    return lines


def labs_needed(course: Any, at: datetime, cycle: int, day: int, policy: SitePolicy | None = None, *, monograph: Monograph) -> list[str]:
    """What must be recorded before cycle `cycle` Day `day` is prepared at `at`; empty when nothing is missing."""
    policy = policy or site_defaults()
    hours = _window_hours(policy)
    since = at - timedelta(hours=hours)
    first_dose = not course.doses
    missing: list[str] = []
    each_dose, baseline = monitored_labs(monograph, _age_years(course, at))
    for kind in each_dose:
        result = latest(course, kind, at)
        doubt = stored_result_doubt(result)
        if doubt is not None:
            # like a stored fractional blast count (6019b5f): shown, but it clears nothing
            missing.append(f"{LAB_TITLES[kind]} taken within {hours} h ({doubt})")
        elif result is None or result.taken_at < since:
            note = ""
            if kind == "cbc":
                untransfused = latest(course, "cbc", at, counted=False)
                if untransfused is not None and untransfused.taken_at >= since and not untransfused.values.get("transfusion_independent"):
                    note = " (the count on file is not transfusion-independent)"
            missing.append(f"{LAB_TITLES[kind]} taken within {hours} h{note}")
    if first_dose:
        for kind in baseline:
            result = latest(course, kind, at)
            if result is None:
                missing.append(f"baseline {LAB_TITLES[kind]}")
            elif (doubt := stored_result_doubt(result)) is not None:
                missing.append(f"baseline {LAB_TITLES[kind]} ({doubt})")
    else:
        every = int(getattr(policy, "ecg_every_days", 0) or 0)
        for kind in baseline if every > 0 else ():
            result = latest(course, kind, at)
            if result is None or result.taken_at < at - timedelta(days=every):
                missing.append(f"{LAB_TITLES[kind]} repeated every {every} days (site policy)")
            elif (doubt := stored_result_doubt(result)) is not None:
                missing.append(f"{LAB_TITLES[kind]} repeated every {every} days (site policy) ({doubt})")
        last = max(d.given_on for d in course.doses)
        signs = latest(course, "vod-signs", at)
        if signs is None or signs.taken_at < since or signs.taken_at.astimezone().date() <= last:
            missing.append(f"{LAB_TITLES['vod-signs']} asked within {hours} h, after the last dose ({last.isoformat()})")
    # An override waives what it named when it was given, for the lab window after it: not labs
    # that go missing later, nor the same dose prepared again days on.
    covered: set[str] = set()
    for override in course.lab_overrides:
        if override.cycle == cycle and override.day == day and since <= override.at <= at + timedelta(minutes=5):
            covered.update(override.missing)
    return [item for item in missing if item not in covered]


def labs_block(course: Any, at: datetime, cycle: int, day: int, policy: SitePolicy | None = None, *, monograph: Monograph) -> str | None:
    missing = labs_needed(course, at, cycle, day, policy, monograph=monograph)
    if not missing:
        return None
    return "labs needed: " + "; ".join(missing) + " (record them in the course, or a pharmacist overrides the missing labs with a reason)"


def liver_after_due(course: Any) -> list[str]:
    """The label asks for liver tests after each dose too: the last dose given without a liver result dated after it."""
    if not course.doses:
        return []
    dose = max(course.doses, key=lambda d: d.given_on)
    after = [r for r in course.labs if r.kind == "liver" and r.taken_at.astimezone().date() > dose.given_on]
    if after:
        return []
    return [f"liver tests after cycle {dose.cycle} Day {dose.day} (given {dose.given_on.isoformat()}) are not recorded yet"]


# -- the advice the values drive ---------------------------------------------------------------------


def stored_count_doubt(result: LabResult | None) -> str | None:
    """Why a stored CBC's count cannot be relied on, or None: a count above its present bound, recorded
    before 176a086 refused it (an ANC of 500 is 500 per µL, 0.5 × 10⁹/L). Such a count is shown as stored
    but never taken as recovered or as meeting a threshold; it is to be recorded again."""
    if result is None or result.kind != "cbc":
        return None
    for name, limit in count_limits().items():
        value = result.values.get(name)
        if isinstance(value, (int, float)) and value > limit.high:
            shown = format_number(value, 3)
            return (
                f"the stored {limit.label} {shown} × 10⁹/L is above the {format_number(limit.high)} accepted: probably typed per µL "
                f"({format_number(value / 1000, 3)} × 10⁹/L); record it again"
            )
    return None


def stored_result_doubt(result: LabResult | None) -> str | None:
    """Why a stored result cannot be relied on, or None: a CBC count above its present bound
    (stored_count_doubt), or a potassium or magnesium below its floor, recorded before 1da08df
    refused it (0 was an empty field). Shown as stored; it clears nothing and is not copied."""
    if result is not None and result.kind == "electrolytes":
        for name, element in electrolytes().items():
            value = result.values.get(name)
            if isinstance(value, (int, float)) and value < element.lowest_mmol_per_l:
                return (
                    f"the stored {name} {format_number(value, 3)} mmol/L is below the {format_number(element.lowest_mmol_per_l)} "
                    "accepted: not a patient's value; record it again"
                )
        return None
    return stored_count_doubt(result)


def _counts(result: LabResult) -> Counts:
    # Stored counts are read as stored (no input bound): the callers first set aside a doubtful one
    return Counts(Quantity(float(result.values["anc"]), COUNT_UNIT), Quantity(float(result.values["platelets"]), COUNT_UNIT))


def baseline_cbc(course: Any) -> LabResult | None:
    """The patient's baseline counts: the last transfusion-independent CBC on or before the first dose."""
    if course.doses:
        first = min(d.given_on for d in course.doses)
        return latest(course, "cbc", _local_end_of(first))
    return None


LOW_COUNTS_RULE = "dose_modification.hematologic.discontinue_if_low_counts_longer_than"


def _low_counts(result: LabResult, m: Monograph) -> bool:
    """Below the label's count thresholds; a platelet count kept up by transfusion is a low count."""
    anc_min = m.magnitude("dose_modification.hematologic.anc_baseline_threshold", "1/nL")
    platelets_min = m.magnitude("dose_modification.hematologic.platelet_baseline_threshold", "1/nL")
    v = result.values
    if stored_count_doubt(result) is not None:
        return True  # a count probably typed per µL does not end a run of low counts
    return float(v["anc"]) < anc_min or float(v["platelets"]) < platelets_min or not v.get("transfusion_independent")


def low_counts_since(course: Any, at: datetime, monograph: Monograph) -> datetime | None:
    """When the unbroken run of low CBCs that the latest CBC up to `at` belongs to began, counted from the
    first dose (counts low before treatment are not the drug's); None when that CBC is not low."""
    m = monograph
    if LOW_COUNTS_RULE not in m.facts or not course.doses:
        return None
    first = datetime.combine(min(d.given_on for d in course.doses), datetime.min.time()).astimezone()
    start: datetime | None = None
    latest_low: datetime | None = None
    for result in course.labs:
        if result.kind != "cbc" or result.taken_at > at:
            continue
        if _low_counts(result, m):
            start = start or result.taken_at
            latest_low = result.taken_at
        else:
            start = latest_low = None
    if start is None or latest_low is None or latest_low < first:
        return None
    return max(start, first)


def low_counts_days(course: Any, at: datetime, monograph: Monograph) -> int | None:
    since = low_counts_since(course, at, monograph)
    return None if since is None else (at - since).days


def _low_counts_advice(course: Any, result: LabResult, m: Monograph) -> list[Advice]:
    since = low_counts_since(course, result.taken_at, m)
    if since is None:
        return []
    return low_counts_advice((result.taken_at - since).days, monograph=m, since=since.astimezone().date().isoformat(), counts=lab_summary(result))


def low_counts_flag(course: Any, at: datetime, monograph: Monograph) -> str | None:
    """A line for the checks before a dose while a run of low counts lasts (the engine's count of its days)."""
    since = low_counts_since(course, at, monograph)
    if since is None:
        return None
    limit = int(round(monograph.magnitude(LOW_COUNTS_RULE, "day")))
    return (
        f"low counts since {since.astimezone().date().isoformat()} ({(at - since).days} days; the label discontinues "
        f"after {limit} days if they are drug-related)"
    )


QT = "monitoring.qt"


def baseline_ecg(course: Any) -> LabResult | None:
    """The QTc the increase is measured from: the last ECG on or before the first dose's day."""
    if not course.doses:
        return None
    return latest(course, "ecg", _local_end_of(min(d.given_on for d in course.doses)))


def _qt_sources(m: Monograph, *names: str) -> tuple[RuleSource, ...]:
    return tuple(RuleSource.of(m.fact(f"{QT}.{name}")) for name in names)


def qt_advice(course: Any, result: LabResult, monograph: Monograph) -> list[Advice]:
    """An ECG against the monograph's QTc thresholds (label 5.5, numbers marked for verification):
    above the hold threshold, or risen from baseline by more than the increase threshold, the dose is
    held until a pharmacist decides or an ECG below them is recorded ('qtc-ok'); above the warning
    threshold, a warning; electrolytes below their limits, a warning."""
    m = monograph
    if f"{QT}.qtc_hold_above" not in m.facts:
        return []
    caution = m.text(f"{QT}.caution")
    if result.kind == "electrolytes":
        low = _low_electrolytes(result, m)
        if not low:
            return []
        return [
            Advice(
                "electrolytes-low",
                Action.CONTINUE,
                f"{'; '.join(low)}: {caution}",
                _qt_sources(m, "potassium_min", "magnesium_min", "caution"),
                details=dict(result.values),
            )
        ]
    if result.kind != "ecg":
        return []
    qtc = float(result.values["qtc_ms"])
    hold = m.magnitude(f"{QT}.qtc_hold_above", "ms")
    warn = m.magnitude(f"{QT}.qtc_warn_above", "ms")
    rise_limit = m.magnitude(f"{QT}.qtc_increase_hold_above", "ms")
    base = baseline_ecg(course)
    rise = qtc - float(base.values["qtc_ms"]) if base is not None and base is not result else None
    details = {"qtc_ms": qtc, "baseline_qtc_ms": float(base.values["qtc_ms"]) if base is not None else None}
    reasons = []
    if qtc > hold:
        reasons.append(f"QTc {format_number(qtc, 0)} ms is above {format_number(hold, 0)} ms")
    if rise is not None and rise > rise_limit:
        reasons.append(
            f"QTc rose {format_number(rise, 0)} ms from the baseline {format_number(qtc - rise, 0)} ms (more than {format_number(rise_limit, 0)} ms)"
        )
    sources = _qt_sources(m, "qtc_hold_above", "qtc_increase_hold_above", "caution")
    if reasons:
        return [
            Advice(
                "qtc-hold",
                Action.HOLD_DOSE,
                f"{'; '.join(reasons)}: hold the dose until a repeat ECG is below these limits or a pharmacist decides (QT interval prolongation). {caution}",
                sources,
                details=details,
            )
        ]
    ok = Advice(
        "qtc-ok",
        Action.CONTINUE,
        f"QTc {format_number(qtc, 0)} ms is within the limits for dosing (at most {format_number(hold, 0)} ms, "
        f"at most {format_number(rise_limit, 0)} ms above baseline)",
        sources,
        details=details,
    )
    if qtc > warn:
        return [
            Advice(
                "qtc-warning",
                Action.CONTINUE,
                f"QTc {format_number(qtc, 0)} ms is above {format_number(warn, 0)} ms: {caution}",
                _qt_sources(m, "qtc_warn_above", "caution"),
                details=details,
            ),
            ok,
        ]
    return [ok]


def _low_electrolytes(result: LabResult, m: Monograph) -> list[str]:
    low = []
    for name, label in (("potassium", "potassium"), ("magnesium", "magnesium")):
        limit = m.magnitude(f"{QT}.{name}_min", "mmol/L")
        if float(result.values[name]) < limit:
            low.append(f"{label} {format_number(float(result.values[name]), 2)} mmol/L is below {format_number(limit, 2)} mmol/L")
    return low


def qt_warnings(course: Any, at: datetime, monograph: Monograph) -> list[str]:
    """The QT warnings of the latest ECG and electrolytes up to `at`, for the checks before a dose."""
    m = monograph
    if f"{QT}.qtc_hold_above" not in m.facts:
        return []
    found: list[str] = []
    for kind in ("ecg", "electrolytes"):
        result = latest(course, kind, at)
        if result is None:
            continue
        for advice in qt_advice(course, result, m):
            if advice.code in ("qtc-warning", "electrolytes-low", "qtc-hold"):
                pending = " (thresholds pending pharmacist review)" if advice.pending_verification else ""
                found.append(f"QT ({lab_summary(result)}, {result.taken_at.astimezone().date().isoformat()}): {advice.message}{pending}")
    return found


def lab_advice(course: Any, result: LabResult, next_dose: tuple[int, int] | None, monograph: Monograph) -> list[Advice]:
    """The label's advice from one result, for the next dose (cycle, day) of the course."""
    m = monograph
    if result.kind in ("ecg", "electrolytes"):
        return qt_advice(course, result, m)
    # A drug whose monograph gives no dose modification for a result (MYLOTARG's gives none for counts,
    # liver tests or VOD/SOS) gets no advice from another drug's table: the values are kept and shown.
    section = {"cbc": "dose_modification.hematologic.", "liver": "dose_modification.liver.", "vod-signs": "dose_modification.other.vod_sos"}.get(result.kind)
    if section is not None and not any(path.startswith(section) for path in m.facts):
        return []
    if result.kind == "cbc":
        return _low_counts_advice(course, result, m) + _cbc_advice(course, result, next_dose, m)
    if result.kind == "liver":
        from .course import last_bilirubin_x_uln

        return liver_advice(
            result.values["bilirubin_x_uln"],
            result.values["ast_alt_x_uln"],
            cause=result.values.get("cause"),
            previous_bilirubin_x_uln=last_bilirubin_x_uln(course),
            monograph=m,
        )
    if result.kind == "vod-signs":
        if any(result.values.get(name) for name, _label in VOD_SIGNS):
            found = ", ".join(label for name, label in VOD_SIGNS if result.values.get(name))
            return [Advice(a.code, a.action, f"VOD/SOS signs recorded ({found}): {a.message}", a.sources, details={"signs": found}) for a in vod_sos_advice(m)]
        return []
    return []


def _cbc_advice(course: Any, result: LabResult, next_dose: tuple[int, int] | None, m: Monograph) -> list[Advice]:
    if not result.values.get("transfusion_independent") or next_dose is None or not course.doses:
        return []
    cycle, day = next_dose
    baseline = baseline_cbc(course)
    if baseline is None:
        return []
    # no advice from a count probably typed per µL: read as 10⁹/L it would pass as recovered
    if stored_count_doubt(result) is not None or stored_count_doubt(baseline) is not None:
        return []
    within = day != m.dose_days[0]
    prior = None
    if not within and course.cycles:
        # The counts at the start of the cycle before the one to come: the last CBC on or before its Day 1.
        previous = [c for c in course.cycles if c.number < cycle]
        if previous:
            at_start = latest(course, "cbc", _local_end_of(previous[-1].start))
            if stored_count_doubt(at_start) is not None:
                return []
            prior = _counts(at_start) if at_start is not None else None
    return hematologic_advice(_counts(baseline), _counts(result), within_cycle=within, prior_cycle_baseline=prior, monograph=m)


# -- a preparation with no course on file ------------------------------------------------------------
# No course holds this patient's labs, so the pharmacist verifying the order states them on the
# order verification itself (ORDER_VERIFIED details "labs": kind -> values with "taken_at"), or
# overrides what is missing with a reason ("labs_override"). The rule is the course's: the same
# kinds, the same window, the same wording.


def verification_labs(taken_at: datetime | None, **fields: Any) -> dict[str, dict[str, Any]]:
    """The "labs" detail of an order verification from the entry fields (the CLI's and the bench's):
    each kind any of whose fields is filled in, its values read as a course's result would be, taken
    at `taken_at` (`baseline_taken_at` for the ECG and electrolytes when given)."""
    kinds = {
        "cbc": ("anc", "platelets", "transfusion_independent"),
        "liver": ("bilirubin_x_uln", "ast_alt_x_uln", "bilirubin", "bilirubin_uln", "ast", "ast_uln", "alt", "alt_uln"),
        "ecg": ("qtc_ms",),
        "electrolytes": ("potassium", "magnesium"),
        "vod-signs": ("weight_gain", "hepatomegaly", "ascites", "bilirubin_rising"),
    }
    baseline_at = fields.pop("baseline_taken_at", None) or taken_at
    found: dict[str, dict[str, Any]] = {}
    for kind, names in kinds.items():
        if all(_blank(fields.get(name)) for name in names):
            continue
        when = baseline_at if kind in ("ecg", "electrolytes") else taken_at
        if not isinstance(when, datetime) or when.tzinfo is None:
            raise ValidationError("labs-taken", "give when the labs were taken (the sample's time), e.g. 2026-11-27T09:00+01:00")
        found[kind] = {**lab_values(kind, **fields), "taken_at": when.isoformat()}
    return found


def _checked_at(kind: str, entry: Any) -> datetime:
    if not isinstance(entry, dict):
        raise ValidationError("labs", f'the {kind} must be its values with when taken, e.g. {{"anc": 2.0, ..., "taken_at": "2026-11-27T09:00+01:00"}}')
    text = entry.get("taken_at")
    try:
        taken = datetime.fromisoformat(str(text))
    except ValueError:
        raise ValidationError("labs-taken", f"the {kind}'s time taken {str(text)[:40]!r} is not an ISO 8601 instant, e.g. 2026-11-27T09:00+01:00") from None
    if taken.tzinfo is None:
        raise ValidationError("labs-taken", f"the {kind}'s time taken needs its UTC offset, e.g. 2026-11-27T09:00+01:00")
    values = {k: v for k, v in entry.items() if k not in ("taken_at", "recorded_in")}
    try:
        check_stored_values(kind, values)
        lab_values(kind, **values)  # complete, and inside the bounds a course's result is held to
    except ValueError as exc:
        raise ValidationError("labs", f"the {kind}: {exc}") from None
    return taken


def no_course_labs_needed(
    given: Any, at: datetime, cycle: int, day: int, monograph: Monograph, policy: SitePolicy | None = None, age_years: int | None = None
) -> list[str]:
    """What an order verification at `at` of a preparation with no course on file lacks: the labs the
    monograph asks before each dose taken within the site's window (before `at`), the baseline ones
    for the first dose (cycle 1 Day 1) and, after the first dose, the VOD/SOS signs. ValidationError
    for a malformed entry."""
    policy = policy or site_defaults()
    hours = _window_hours(policy)
    since = at - timedelta(hours=hours)
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise ValidationError("labs", "must be the labs checked, by kind (cbc, liver, ...)")
    stray = sorted(str(k) for k in given if k not in LAB_KINDS)
    if stray:
        raise ValidationError("labs", f"'{stray[0]}' is not a lab; accepted: {', '.join(LAB_KINDS)}")
    taken = {kind: _checked_at(kind, entry) for kind, entry in given.items()}
    for kind, when in taken.items():
        if when > at + timedelta(minutes=5):
            from .formatting import format_instant

            raise ValidationError("labs-taken", f"the {kind} taken {format_instant(when)} is after this verification ({format_instant(at)})")
    each_dose, baseline = monitored_labs(monograph, age_years)
    first_dose = int(cycle) == 1 and int(day) == 1
    missing: list[str] = []
    for kind in each_dose:
        found = taken.get(kind)
        if found is None or found < since:
            note = " (the one given is older)" if found is not None else ""
            missing.append(f"{LAB_TITLES[kind]} taken within {hours} h{note}")
        elif kind == "cbc" and not given[kind].get("transfusion_independent"):
            missing.append(f"{LAB_TITLES[kind]} taken within {hours} h (the count given is not transfusion-independent)")
    if first_dose:
        missing += [f"baseline {LAB_TITLES[kind]}" for kind in baseline if kind not in taken]
    else:
        signs = taken.get("vod-signs")
        if signs is None or signs < since:
            missing.append(f"{LAB_TITLES['vod-signs']} asked within {hours} h")
    return missing + _no_course_advice(given, monograph)


def _no_course_advice(given: dict[str, Any], m: Monograph) -> list[str]:
    """The values drive the label's rules at once, as a course's would: a VOD/SOS sign, or liver
    tests the label holds the dose for. A pharmacist decides (override with a reason)."""
    found: list[Advice] = []
    signs = given.get("vod-signs") or {}
    seen = [label for name, label in VOD_SIGNS if signs.get(name) is True]
    if seen and "dose_modification.other.vod_sos" in m.facts:
        found += vod_sos_advice(m)
    liver = given.get("liver")
    if liver and not seen and "dose_modification.liver.bilirubin_uln_multiple" in m.facts:
        found += [
            a for a in liver_advice(liver["bilirubin_x_uln"], liver["ast_alt_x_uln"], cause=liver.get("cause"), monograph=m) if a.action is not Action.CONTINUE
        ]
    note = f" ({', '.join(seen)})" if seen else ""
    return [f"the values given advise{note}: {a.message} (a pharmacist decides)" for a in found]


def recorded_verification_labs(course: Any, at: datetime) -> dict[str, dict[str, Any]]:
    """The "labs" detail of an order verification from results recorded for the patient in a course of
    another drug (the patient's labs, whichever drug's course keeps them): each kind's latest result
    taken by `at` (the CBC's latest transfusion-independent one), marked as recorded there; the
    verification's rule judges their window as it judges typed ones."""
    found: dict[str, dict[str, Any]] = {}
    for kind in LAB_KINDS:
        result = latest(course, kind, at)
        # a count probably per µL is not copied as 10⁹/L, nor a potassium of 0 as a result
        if result is not None and stored_result_doubt(result) is None:
            found[kind] = {**result.values, "taken_at": result.taken_at.isoformat(), "recorded_in": "course"}
    return found
