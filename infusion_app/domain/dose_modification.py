"""Dose modifications: the label's hold, interruption and reduction rules, as advice.

The engine ADVISES; it never decides. Each function takes what the clinician observed and returns
a list of `Advice`, each naming the rule it applied, the action the label gives, and the monograph
facts it comes from (dotted path and citation, with their `verify` mark). The clinician's answer
is a `Decision` (accepted or not, decided by whom, recorded by which pharmacist, why); course.py
keeps advice and decisions together and applies accepted ones to the course.

Every threshold comes from resources/monographs/<drug>.toml, sections [dose_modification.*] and
[cycles]; nothing clinical is written in this file.

API (all pure; `monograph` defaults to the shipped one):
    Counts(anc, platelets)                       counts as pint quantities (or numbers in 10⁹/L)
    hematologic_advice(baseline, current, *, within_cycle, prior_cycle_baseline=None,
                       disease_stable_or_improved=False, decrease_disease_related=False,
                       low_counts_days=None, drug_related=True) -> list[Advice]
    liver_advice(bilirubin_x_uln, ast_alt_x_uln, *, cause=None, vod_sos=False,
                 no_recovery=False) -> list[Advice]
    vod_sos_advice() -> list[Advice]
    non_hematologic_advice(grade, pretreatment_grade=0) -> list[Advice]
    infusion_reaction_advice(grade) -> list[Advice]
    interruption_advice(days, reduction_level) -> list[Advice]
    reduction_for_level(level) -> DoseReduction      (0 none, 1 -25 %, 2 -25 % and 2 doses/cycle)
    check_no_re_escalation(previous: DoseReduction, proposed: DoseReduction)  raises ValidationError
    Decision.make(advice_code, accepted, decided_by, recorded_by, reason, at)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from .errors import ValidationError, whole_number
from .formatting import format_number
from .limits import COUNT_UNIT, count_limits, plausible
from .monograph import Fact, Monograph
from .quantities import Quantity

# CTCAE grades run from 1 (mild) to 5 (death); 0 means no toxicity. A scale, not drug data.
CTCAE_MAX_GRADE = 5


class Action(str, Enum):
    CONTINUE = "continue"
    HOLD_NEXT_CYCLE = "hold-next-cycle"
    HOLD_DOSE = "hold-dose"
    INTERRUPT_INFUSION = "interrupt-infusion"
    DELAY_NEXT_DOSE = "delay-next-dose"
    OMIT_NEXT_DOSE = "omit-next-dose"
    REDUCE_NEXT_CYCLE = "reduce-next-cycle"
    TWO_DOSES_PER_CYCLE = "two-doses-per-cycle"
    CONSIDER_DISCONTINUATION = "consider-discontinuation"
    DISCONTINUE = "discontinue"
    RECHECK_BSA = "recheck-bsa"
    CHECK_VOD_SOS = "check-vod-sos"
    STOP_COURSE = "stop-course"
    BLOCK_FIRST_DOSE = "block-first-dose"


# Advice that stops the next dose (or cycle) until recovery is recorded or a pharmacist declines it.
HOLD_ACTIONS = frozenset({Action.HOLD_DOSE, Action.HOLD_NEXT_CYCLE})
PERMANENT_ACTIONS = frozenset({Action.DISCONTINUE, Action.STOP_COURSE})
BLOCKING_ACTIONS = HOLD_ACTIONS | PERMANENT_ACTIONS
# Which recorded assessment clears which hold: values meeting the label's criteria for that rule.
RECOVERY_CLEARS = {
    "liver-ok": ("liver-hold", "liver-grade-2-hold"),
    "liver-exempt": ("liver-hold", "liver-grade-2-hold"),
    "non-hematologic-ok": ("non-hematologic-hold",),
    "hematologic-ok": ("hematologic-hold-next-cycle",),
    "qtc-ok": ("qtc-hold",),
}


@dataclass(frozen=True)
class RuleSource:
    path: str
    citation: str
    verify: bool

    @classmethod
    def of(cls, fact: Fact) -> RuleSource:
        return cls(path=fact.path, citation=fact.citation, verify=fact.verify)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Advice:
    """What the label says to do, and why. `code` is stable: decisions refer to it."""

    code: str
    action: Action
    message: str
    sources: tuple[RuleSource, ...] = ()
    cycle: int | None = None
    day: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def permanent(self) -> bool:
        return self.action in PERMANENT_ACTIONS

    @property
    def blocks_dosing(self) -> bool:
        """A hold or a permanent discontinuation: no dose is prepared while it stands."""
        return self.action in BLOCKING_ACTIONS

    @property
    def needs_decision(self) -> bool:
        return self.action is not Action.CONTINUE

    @property
    def pending_verification(self) -> bool:
        return any(s.verify for s in self.sources)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "action": self.action.value,
            "message": self.message,
            "cycle": self.cycle,
            "day": self.day,
            "permanent": self.permanent,
            "sources": [s.to_dict() for s in self.sources],
            "pending_verification": self.pending_verification,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Advice:
        return cls(
            code=data["code"],
            action=Action(data["action"]),
            message=data["message"],
            sources=tuple(RuleSource(**s) for s in data.get("sources", [])),
            cycle=data.get("cycle"),
            day=data.get("day"),
            details=dict(data.get("details") or {}),
        )


@dataclass(frozen=True)
class Decision:
    """A clinician's answer to one advice. Recorded, never edited."""

    advice_code: str
    accepted: bool
    decided_by: str  # the clinician who decided (a prescriber, by name)
    recorded_by: str  # the signed-in pharmacist who recorded it
    reason: str
    at: datetime  # UTC instant

    @classmethod
    def make(cls, advice_code: str, accepted: bool, decided_by: str, recorded_by: str, reason: str, at: datetime) -> Decision:
        if not str(decided_by or "").strip():
            raise ValidationError("by", "name the clinician who decided")
        if not str(recorded_by or "").strip():
            raise ValidationError("user", "name the pharmacist recording the decision")
        if not str(reason or "").strip():
            raise ValidationError("reason", "give the reason for the decision (accepted or not)")
        if at.tzinfo is None:
            raise ValidationError("at", "must be an instant with its time zone")
        return cls(advice_code, bool(accepted), decided_by.strip(), recorded_by.strip(), reason.strip(), at)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


# -- helpers ------------------------------------------------------------------------------------


def _sources(monograph: Monograph, *paths: str) -> tuple[RuleSource, ...]:
    return tuple(RuleSource.of(monograph.fact(p)) for p in paths)


def _plain(monograph: Monograph, path: str) -> float:
    return monograph.magnitude(path, "")


# An episode (an interruption, days of low counts) longer than ten years is a typo; an unbounded
# count would be stored with the advice and overflow the database's 64-bit integers.
MAX_EPISODE_DAYS = 3650


def _days(monograph: Monograph, path: str) -> int:
    return int(round(monograph.magnitude(path, "day")))


def max_x_uln(field_name: str = "bilirubin") -> float:
    """A physiological bound that catches a typo (a value in the wrong unit), not a clinical limit:
    validation.toml [plausibility.aminotransferase_x_uln] for an AST/ALT field, [plausibility.x_uln]
    (total bilirubin) for the others, as the counts' are each count's own in [counts]."""
    return plausible("aminotransferase_x_uln" if field_name.startswith(("ast", "alt")) else "x_uln").high


# A count typed with its unit: 10⁹/L spelled out (or thousands per µL, "K/µL", the same), or per µL (a
# mm³ is a µL). Matched after NFKC, which makes the micro sign a Greek mu and ⁹ and ³ plain digits.
# Also as US reports print them: LabCorp's "x10E3/uL" (the E only after an x: "2.10e3/uL" is a number
# per µL), UCUM's "10*3/uL" and "10*9/L", "/mcL", "cells/uL".
_TEN_TO = r"(?:(?:[x×*]\s*)?10\s*[\^*]?|[x×]\s*10\s*e)\s*"
_PER_NL = re.compile(
    rf"(?P<number>.*?)\s*(?:{_TEN_TO}9\s*/\s*l|(?:k|{_TEN_TO}3)\s*/\s*(?:μl|ul|mcl|mm3)|/\s*nl|g/l)",
    re.IGNORECASE,
)
_PER_UL = re.compile(r"(?P<number>.*?)\s*(?:cells\s*)?(?:/|per\s+)\s*(?:μl|ul|mcl|mm3|cumm)", re.IGNORECASE)


def split_count_unit(text: str) -> tuple[str, str] | None:
    """A count typed with its unit, as (its number as typed, its pint unit: "1/nL" or "1/uL"); None
    when the text names no count unit (a bare number, or anything else)."""
    flat = unicodedata.normalize("NFKC", text).strip()
    for pattern, unit in ((_PER_NL, COUNT_UNIT), (_PER_UL, "1/uL")):
        found = pattern.fullmatch(flat)
        if found:
            return found.group("number"), unit
    return None


def _typed_count(value: Any, field_name: str, example: str) -> tuple[Quantity, bool, Decimal | None]:
    """The count as typed, whether it came with its unit, and (typed, not a Quantity) the number of
    cells per µL it says, exactly in decimal."""
    from .numbers import read_number

    if isinstance(value, Quantity):
        return value, True, None
    accepted = f"a count in 10⁹/L, e.g. {example}"
    unit = COUNT_UNIT
    typed: Any = value
    with_unit = split_count_unit(value) if isinstance(value, str) else None
    if with_unit is not None:
        accepted = f"a count in 10⁹/L, e.g. {example}, or per µL, e.g. 1500/uL"
        typed, unit = with_unit
    number = read_number(field_name, typed, accepted)
    # Read in decimal as typed (read_number has checked its spelling): pint's float factor made 1001/uL
    # 1.0010000000000001, and a float cannot say whether '1.5/uL' was a fraction of a cell.
    if isinstance(typed, str):
        exact = Decimal(unicodedata.normalize("NFKC", typed).strip().replace("\u2212", "-").replace(",", ""))
    else:
        exact = Decimal(repr(number))
    per_ul = exact * 1000 if unit == COUNT_UNIT else exact
    return Quantity(float(per_ul / 1000), COUNT_UNIT), with_unit is not None, per_ul


def _refuse_a_fraction_of_a_cell(value: Any, field_name: str, per_ul: Decimal, example: str, high: float) -> None:
    """A count is a whole number of cells per µL: '1.5 /uL' was kept as 0.0015 × 10⁹/L and shown and
    judged as ANC 0, and '0.0004' (0.4 per µL) the same; a count in 10⁹/L has at most three decimals."""
    if per_ul == per_ul.to_integral_value():
        return
    typed = str(value).strip()
    accepted = f"give the count in 10⁹/L with at most 3 decimals, e.g. {example}, or a whole number per µL, e.g. 1500/uL"
    if per_ul < 1:
        raise ValidationError(field_name, f"'{typed}' is less than one cell per µL and would be kept as 0; {accepted} (no cells: 0)")
    shown = f"{per_ul.normalize():,f}"
    with_unit = split_count_unit(value) if isinstance(value, str) else None
    hint = ""
    if with_unit is not None and with_unit[1] != COUNT_UNIT and per_ul <= Decimal(repr(high)):
        # '1.5/uL' is most likely 1.5 thousand per µL, as a report's 'x10^3/uL' column gives it
        hint = f" ({shown} thousand per µL is {shown} x10^3/uL)"
    raise ValidationError(field_name, f"'{typed}' is {shown} cells per µL, not a whole count; {accepted}{hint}")


def _count(value: Any, field_name: str, kind: str) -> Quantity:
    """A blood count (`kind`: a name of validation.toml [counts]) as a pint quantity in 10⁹/L; a bare
    number is read in 10⁹/L, and one above the count's bound is refused as a count per µL."""
    limit = count_limits()[kind]
    quantity, explicit, per_ul = _typed_count(value, field_name, limit.example)
    try:
        magnitude = float(quantity.to(COUNT_UNIT).magnitude)
    except Exception:
        raise ValidationError(field_name, f"'{value}' is not a blood count (a number per volume, e.g. 10⁹/L)") from None
    if magnitude != magnitude or magnitude < 0 or magnitude == float("inf"):
        raise ValidationError(field_name, f"'{value}' is not accepted; must be a count of 0 or more (10⁹/L)")
    if not limit.low <= magnitude <= limit.high:
        accepted = f"must be {format_number(limit.low)} to {format_number(limit.high)} × 10⁹/L, e.g. {limit.example}"
        typed = str(value).strip() if isinstance(value, str) else format_number(magnitude)
        per_ul_bare = magnitude / 1000  # 10⁹/L per (1/µL)
        if explicit or not limit.low <= per_ul_bare <= limit.high:
            raise ValidationError(field_name, f"'{typed}' is not accepted; {accepted}")
        shown = format_number(magnitude, 3)
        raise ValidationError(
            field_name,
            f"'{typed}' is not accepted; {accepted}: {limit.label} {shown} looks like a count per µL, and {shown} per µL is "
            f"{format_number(per_ul_bare, 3)} × 10⁹/L (type {format_number(per_ul_bare, 3)}, or {shown}/µL)",
        )
    if per_ul is not None:
        _refuse_a_fraction_of_a_cell(value, field_name, per_ul, limit.example, limit.high)
    elif 0 < magnitude < 0.001:
        raise ValidationError(field_name, f"'{value}' is less than one cell per µL and would be kept as 0; give the count in 10⁹/L, e.g. {limit.example}")
    return quantity.to(COUNT_UNIT)


def _fmt_count(q: Quantity) -> str:
    return f"{format_number(float(q.to(COUNT_UNIT).magnitude), 3)} × 10⁹/L"  # whole cells per µL


def _grade(value: Any, field_name: str, low: int = 0) -> int:
    return whole_number(field_name, value, range(low, CTCAE_MAX_GRADE + 1), f"a CTCAE grade {low} to {CTCAE_MAX_GRADE}")


def _ratio(value: Any, field_name: str) -> float:
    from .numbers import read_number

    ratio = read_number(field_name, value, "a multiple of the upper limit of normal, e.g. 1.5")
    if ratio != ratio or not 0 <= ratio <= max_x_uln(field_name):
        raise ValidationError(field_name, f"'{value}' is not accepted; must be 0 to {max_x_uln(field_name):g} × ULN, e.g. 1.5")
    return ratio


# -- which findings a drug's data gives a rule for ------------------------------------------------

# A finding (as the course's assess names it) -> the monograph fact its rule rests on, and its words.
# MYLOTARG's data file holds only the interruption rule: its label's other tables are not in the
# program, and another drug's table is never applied to it.
FINDING_RULES: dict[str, tuple[str, str]] = {
    "hematologic": ("dose_modification.hematologic.anc_baseline_threshold", "blood counts"),
    "liver": ("dose_modification.liver.bilirubin_uln_multiple", "liver tests"),
    "vod": ("dose_modification.other.vod_sos", "VOD/SOS"),
    "non-hematologic": ("dose_modification.other.non_hematologic_hold_grade", "other (non-hematologic) toxicity"),
    "infusion-reaction": ("dose_modification.other.infusion_reaction", "an infusion reaction"),
    "interruption": ("dose_modification.interruption.delay_below", "a dose interruption"),
}


def has_rule(monograph: Monograph, finding: str) -> bool:
    """Whether the drug's monograph holds the dose-modification rule for this finding."""
    return FINDING_RULES[finding][0] in monograph.facts


def require_rule(monograph: Monograph, finding: str) -> None:
    """ValidationError('kind', ...) naming the findings the drug has rules for, when it has none for this one."""
    if has_rule(monograph, finding):
        return
    held = [words for key, (_path, words) in FINDING_RULES.items() if has_rule(monograph, key)]
    raise ValidationError(
        "kind",
        f"{monograph.brand_name}'s data holds no dose-modification rule for {FINDING_RULES[finding][1]}, so no advice is made: "
        f"decide from the label; the rules held for {monograph.brand_name}: {', '.join(held) or 'none'}",
    )


# -- hematologic ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    anc: Quantity
    platelets: Quantity

    @classmethod
    def of(cls, anc: Any, platelets: Any, prefix: str = "") -> Counts:
        return cls(_count(anc, f"{prefix}anc", "anc"), _count(platelets, f"{prefix}platelets", "platelets"))


def low_counts_advice(low_counts_days: int, *, monograph: Monograph, since: str = "", counts: str = "") -> list[Advice]:
    """Label Table 2: low counts lasting longer than the label's days, if drug-related, discontinue.

    `since` and `counts` (the first low result's date, the latest counts) come with a run found in the
    course's labs; the pharmacist who answers the advice records whether the counts are drug-related."""
    m = monograph
    path = "dose_modification.hematologic.discontinue_if_low_counts_longer_than"
    limit = _days(m, path)
    if low_counts_days <= limit:
        return []
    found = f" since {since}" if since else ""
    latest = f" ({counts})" if counts else ""
    return [
        Advice(
            "hematologic-discontinue",
            Action.DISCONTINUE,
            f"low counts for {low_counts_days} days{found}{latest}, more than {limit}: discontinue permanently if they are "
            "drug-related (the decision on this advice records whether they are)",
            _sources(m, path),
            details={"low_counts_days": low_counts_days, "since": since},
        )
    ]


def hematologic_advice(
    baseline: Counts,
    current: Counts,
    *,
    within_cycle: bool,
    prior_cycle_baseline: Counts | None = None,
    disease_stable_or_improved: bool = False,
    decrease_disease_related: bool = False,
    low_counts_days: int | None = None,
    drug_related: bool = True,
    monograph: Monograph,
) -> list[Advice]:
    """Label Table 2: low counts hold the NEXT CYCLE (baseline-dependent); doses within a cycle are not held."""
    m = monograph
    require_rule(m, "hematologic")
    section = "dose_modification.hematologic"
    anc_min = m.quantity(f"{section}.anc_baseline_threshold", COUNT_UNIT)
    plt_min = m.quantity(f"{section}.platelet_baseline_threshold", COUNT_UNIT)
    advice: list[Advice] = []

    if low_counts_days is not None:
        if isinstance(low_counts_days, bool) or int(low_counts_days) != low_counts_days or not 0 <= low_counts_days <= MAX_EPISODE_DAYS:
            raise ValidationError(
                "low-counts-days",
                f"'{low_counts_days}' is not accepted; must be a whole number of days, 0 to {MAX_EPISODE_DAYS:,}",
            )
        if drug_related:
            advice += low_counts_advice(low_counts_days, monograph=m)

    if within_cycle:
        advice.append(
            Advice(
                "hematologic-within-cycle",
                Action.CONTINUE,
                "doses within a cycle are not held for neutropenia or thrombocytopenia; count thresholds apply to the next cycle",
                _sources(m, f"{section}.not_held_within_cycle"),
            )
        )
        return advice

    baseline_adequate = baseline.anc >= anc_min and baseline.platelets >= plt_min
    details = {
        "anc": float(current.anc.magnitude),
        "platelets": float(current.platelets.magnitude),
        "baseline_anc": float(baseline.anc.magnitude),
        "baseline_platelets": float(baseline.platelets.magnitude),
    }
    if baseline_adequate:
        missing = []
        if current.anc < anc_min:
            missing.append(f"ANC {_fmt_count(current.anc)} is below {_fmt_count(anc_min)}")
        if current.platelets < plt_min:
            missing.append(f"platelets {_fmt_count(current.platelets)} are below {_fmt_count(plt_min)}")
        sources = _sources(m, f"{section}.anc_baseline_threshold", f"{section}.platelet_baseline_threshold")
        if missing:
            advice.append(
                Advice(
                    "hematologic-hold-next-cycle",
                    Action.HOLD_NEXT_CYCLE,
                    "hold the next cycle: " + "; ".join(missing) + f" (baseline was at or above {_fmt_count(anc_min)} ANC and "
                    f"{_fmt_count(plt_min)} platelets); start it once ANC ≥ {_fmt_count(anc_min)} and platelets ≥ {_fmt_count(plt_min)}",
                    sources,
                    details=details,
                )
            )
        else:
            advice.append(
                Advice(
                    "hematologic-ok",
                    Action.CONTINUE,
                    "counts allow the next cycle (at or above the thresholds for a patient with adequate baseline counts)",
                    sources,
                    details=details,
                )
            )
        return advice

    # Baseline ANC and/or platelets were already low: any one of three recoveries allows the next cycle.
    reference = prior_cycle_baseline or baseline
    back_to_prior = current.anc >= reference.anc and current.platelets >= reference.platelets
    above_thresholds = current.anc >= anc_min and current.platelets >= plt_min
    disease_related = disease_stable_or_improved and decrease_disease_related
    sources = _sources(m, f"{section}.anc_baseline_threshold", f"{section}.platelet_baseline_threshold")
    met = [
        text
        for ok, text in (
            (back_to_prior, "counts back to at least the prior cycle's baseline"),
            (above_thresholds, f"ANC ≥ {_fmt_count(anc_min)} and platelets ≥ {_fmt_count(plt_min)}"),
            (disease_related, "stable or improved disease on the latest marrow, fall judged disease-related"),
        )
        if ok
    ]
    if met:
        advice.append(
            Advice(
                "hematologic-ok",
                Action.CONTINUE,
                f"counts allow the next cycle (low baseline counts; met: {met[0]})",
                sources,
                details=details,
            )
        )
    else:
        advice.append(
            Advice(
                "hematologic-hold-next-cycle",
                Action.HOLD_NEXT_CYCLE,
                f"hold the next cycle (baseline ANC and/or platelets were low; now ANC {_fmt_count(current.anc)}, platelets "
                f"{_fmt_count(current.platelets)}) until one of: counts back to at least the prior cycle's baseline "
                f"(ANC {_fmt_count(reference.anc)}, platelets {_fmt_count(reference.platelets)}); ANC ≥ {_fmt_count(anc_min)} and "
                f"platelets ≥ {_fmt_count(plt_min)}; stable or improved disease with the fall judged disease-related",
                sources,
                details=details,
            )
        )
    return advice


# -- liver and other non-hematologic -------------------------------------------------------------


def exempt_liver_causes(monograph: Monograph) -> dict[str, str]:
    """Short keys ('gilbert', 'hemolysis') to the label's wording of the causes that exempt a liver hold;
    none for a drug whose data names none (MYLOTARG's has no liver hold table)."""
    m = monograph
    keys: dict[str, str] = {}
    if "dose_modification.liver.exempt_causes" not in m.facts:
        return keys
    for item in m.items("dose_modification.liver.exempt_causes"):
        first = str(item).split()[0].lower()
        keys[first.removesuffix("'s").replace("'", "")] = str(item)
    return keys


def vod_sos_advice(monograph: Monograph) -> list[Advice]:
    m = monograph
    require_rule(m, "vod")
    return [
        Advice(
            "vod-sos-discontinue",
            Action.DISCONTINUE,
            m.text("dose_modification.other.vod_sos"),
            _sources(m, "dose_modification.other.vod_sos"),
        )
    ]


def liver_advice(
    bilirubin_x_uln: Any,
    ast_alt_x_uln: Any,
    *,
    cause: str | None = None,
    vod_sos: bool = False,
    no_recovery: bool = False,
    previous_bilirubin_x_uln: Any = None,
    monograph: Monograph,
) -> list[Advice]:
    """Label Table 3: bilirubin > 1.5×ULN with AST/ALT > 2.5×ULN holds each dose (not for Gilbert's/hemolysis).

    Either one alone above its limit is never "within the label's limits": it is a non-hematologic
    toxicity of grade 2 at least and is held under the grade ≥2 rule. A bilirubin above the ULN that
    rose since `previous_bilirubin_x_uln` adds a prompt to check for VOD/SOS."""
    m = monograph
    require_rule(m, "liver")
    if vod_sos:
        return vod_sos_advice(m)
    bilirubin = _ratio(bilirubin_x_uln, "bilirubin-x-uln")
    ast_alt = _ratio(ast_alt_x_uln, "ast-alt-x-uln")
    section = "dose_modification.liver"
    bili_limit = _plain(m, f"{section}.bilirubin_uln_multiple")
    transaminase_limit = _plain(m, f"{section}.ast_alt_uln_multiple")
    sources = _sources(m, f"{section}.bilirubin_uln_multiple", f"{section}.ast_alt_uln_multiple")
    details = {"bilirubin_x_uln": bilirubin, "ast_alt_x_uln": ast_alt, "cause": cause}
    exempt = exempt_liver_causes(m)
    if cause is not None and cause.strip():
        key = cause.strip().lower().split()[0].removesuffix("'s").replace("'", "")
        if key not in exempt:
            raise ValidationError("cause", f"'{cause}' is not accepted; must be one of {', '.join(exempt)} (or none)")
        cause = exempt[key]
    else:
        cause = None
    limits_text = f"bilirubin ≤ {format_number(bili_limit)} × ULN and AST/ALT ≤ {format_number(transaminase_limit)} × ULN"
    vod_check = _vod_check(bilirubin, previous_bilirubin_x_uln, details, m)
    return _liver_rule(bilirubin, ast_alt, bili_limit, transaminase_limit, limits_text, cause, no_recovery, sources, details, m) + vod_check


def _vod_check(bilirubin: float, previous: Any, details: dict[str, Any], m: Monograph) -> list[Advice]:
    if previous is None or (isinstance(previous, str) and not previous.strip()):
        return []
    before = _ratio(previous, "previous-bilirubin-x-uln")
    above = _plain(m, "dose_modification.other.vod_check_bilirubin_above_uln")
    if not (bilirubin > before and bilirubin > above):
        return []
    signs = ", ".join(str(x) for x in m.items("dose_modification.other.vod_signs"))
    return [
        Advice(
            "vod-sos-check",
            Action.CHECK_VOD_SOS,
            f"bilirubin rising ({format_number(before)} → {format_number(bilirubin)} × ULN): check for VOD/SOS ({signs}); "
            "if VOD/SOS is found, record it: the label says discontinue permanently",
            _sources(m, "dose_modification.other.vod_check_bilirubin_above_uln", "dose_modification.other.vod_signs"),
            details={**details, "previous_bilirubin_x_uln": before},
        )
    ]


def _liver_rule(
    bilirubin: float,
    ast_alt: float,
    bili_limit: float,
    transaminase_limit: float,
    limits_text: str,
    cause: str | None,
    no_recovery: bool,
    sources: tuple[RuleSource, ...],
    details: dict[str, Any],
    m: Monograph,
) -> list[Advice]:
    section = "dose_modification.liver"
    if (bilirubin > bili_limit) != (ast_alt > transaminase_limit) and not cause:
        grade = int(_plain(m, "dose_modification.other.liver_single_abnormal_is_grade"))
        raised = (
            f"bilirubin {format_number(bilirubin)} × ULN (above {format_number(bili_limit)} × ULN)"
            if bilirubin > bili_limit
            else f"AST/ALT {format_number(ast_alt)} × ULN (above {format_number(transaminase_limit)} × ULN)"
        )
        if no_recovery:
            return [
                Advice(
                    "liver-discontinue",
                    Action.DISCONTINUE,
                    f"{raised} did not recover to {limits_text}: discontinue permanently",
                    sources,
                    details=details,
                )
            ]
        return [
            Advice(
                "liver-grade-2-hold",
                Action.HOLD_DOSE,
                f"{raised} alone is not within the label's limits: a non-hematologic toxicity of grade {grade} or more "
                f"(grade ≥{grade} rule): hold until {limits_text} before each dose",
                sources + _sources(m, "dose_modification.other.liver_single_abnormal_is_grade", "dose_modification.other.non_hematologic_hold_grade"),
                details={**details, "grade_at_least": grade},
            )
        ]
    if bilirubin > bili_limit and ast_alt > transaminase_limit:
        if cause:
            return [
                Advice(
                    "liver-exempt",
                    Action.CONTINUE,
                    f"bilirubin {format_number(bilirubin)} × ULN with AST/ALT {format_number(ast_alt)} × ULN is attributed to "
                    f"{cause}: the liver hold rule does not apply",
                    sources + _sources(m, f"{section}.exempt_causes"),
                    details=details,
                )
            ]
        if no_recovery:
            return [
                Advice(
                    "liver-discontinue",
                    Action.DISCONTINUE,
                    f"bilirubin and AST/ALT did not recover to {limits_text}: discontinue permanently",
                    sources,
                    details=details,
                )
            ]
        return [
            Advice(
                "liver-hold",
                Action.HOLD_DOSE,
                f"bilirubin {format_number(bilirubin)} × ULN with AST/ALT {format_number(ast_alt)} × ULN: hold until "
                f"{limits_text} before each dose; discontinue if they do not recover",
                sources,
                details=details,
            )
        ]
    if bilirubin > bili_limit or ast_alt > transaminase_limit:
        return [
            Advice(
                "liver-exempt",
                Action.CONTINUE,
                f"the raised liver test is attributed to {cause}: the liver hold rule does not apply",
                sources + _sources(m, f"{section}.exempt_causes"),
                details=details,
            )
        ]
    return [Advice("liver-ok", Action.CONTINUE, f"liver tests within the label's limits for dosing ({limits_text})", sources, details=details)]


def non_hematologic_advice(grade: Any, pretreatment_grade: Any = 0, *, monograph: Monograph) -> list[Advice]:
    """Any other non-hematologic toxicity of grade 2 or more: hold until grade 1 or the pretreatment grade."""
    m = monograph
    require_rule(m, "non-hematologic")
    now = _grade(grade, "grade")
    before = _grade(pretreatment_grade, "pretreatment-grade")
    hold_from = int(_plain(m, "dose_modification.other.non_hematologic_hold_grade"))
    sources = _sources(m, "dose_modification.other.non_hematologic_hold_grade")
    target = max(hold_from - 1, before)
    if now >= hold_from and now > before:
        return [
            Advice(
                "non-hematologic-hold",
                Action.HOLD_DOSE,
                f"grade {now} non-hematologic toxicity: hold until grade {target} or less (grade {hold_from - 1} or the pretreatment grade {before}) before each dose",
                sources,
                details={"grade": now, "pretreatment_grade": before},
            )
        ]
    return [
        Advice(
            "non-hematologic-ok",
            Action.CONTINUE,
            f"grade {now} does not hold the dose (the rule holds from grade {hold_from}, above the pretreatment grade {before})",
            sources,
            details={"grade": now, "pretreatment_grade": before},
        )
    ]


def infusion_reaction_advice(grade: Any, monograph: Monograph) -> list[Advice]:
    m = monograph
    require_rule(m, "infusion-reaction")
    level = _grade(grade, "grade", low=1)
    severe_from = int(_plain(m, "dose_modification.other.infusion_reaction_discontinue_grade"))
    sources = _sources(m, "dose_modification.other.infusion_reaction", "dose_modification.other.infusion_reaction_discontinue_grade")
    advice = [
        Advice(
            "infusion-reaction-interrupt",
            Action.INTERRUPT_INFUSION,
            m.text("dose_modification.other.infusion_reaction"),
            sources,
            details={"grade": level},
        )
    ]
    if level >= severe_from:
        advice.append(
            Advice(
                "infusion-reaction-discontinue",
                Action.DISCONTINUE,
                f"grade {level} infusion reaction (severe or life-threatening): discontinue permanently",
                sources,
                details={"grade": level},
            )
        )
    return advice


# -- interruption, reduction, re-escalation ---------------------------------------------------------


@dataclass(frozen=True)
class DoseReduction:
    """The toxicity reduction in force. Levels only ever go up (never re-escalated)."""

    level: int
    reduce_pct: float
    doses_per_cycle: int | None  # None: every dose day

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MAX_REDUCTION_LEVEL = 2  # 1: cycle total −25 %; 2: that and 2 doses per cycle; beyond: discontinue


def reduction_for_level(level: int, monograph: Monograph) -> DoseReduction:
    m = monograph
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= MAX_REDUCTION_LEVEL:
        raise ValidationError("reduction-level", f"'{level}' is not accepted; must be 0 to {MAX_REDUCTION_LEVEL}")
    if level == 0:
        return DoseReduction(0, 0.0, None)
    pct = m.magnitude("cycles.toxicity_cycle_dose_reduction", "percent")
    doses = int(_plain(m, "dose_modification.interruption.reduced_doses_per_cycle")) if level >= 2 else None
    return DoseReduction(level, pct, doses)


def check_no_re_escalation(previous: DoseReduction, proposed: DoseReduction, monograph: Monograph) -> None:
    m = monograph
    fact = m.fact("cycles.no_re_escalation")
    if not fact.value:
        return
    fewer_doses = proposed.doses_per_cycle is None and previous.doses_per_cycle is not None
    more_doses = proposed.doses_per_cycle is not None and previous.doses_per_cycle is not None and proposed.doses_per_cycle > previous.doses_per_cycle
    if proposed.level < previous.level or proposed.reduce_pct < previous.reduce_pct or fewer_doses or more_doses:
        raise ValidationError(
            "reduction",
            f"a dose reduced for toxicity is never re-escalated (reduction level {previous.level}, "
            f"{format_number(previous.reduce_pct, 1)}% cannot become level {proposed.level}, "
            f"{format_number(proposed.reduce_pct, 1)}%; {fact.citation})",
        )


def interruption_advice(days: Any, reduction_level: int = 0, *, monograph: Monograph) -> list[Advice]:
    """Label Table 4 (2017, verify): what an interruption of `days` days means for the next dose and cycle."""
    m = monograph
    require_rule(m, "interruption")
    try:
        length = int(days)
        if isinstance(days, bool) or (isinstance(days, float) and days != length) or (isinstance(days, str) and days.strip() != str(length)):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ValidationError("interruption-days", f"'{days}' is not a whole number of days; must be 1 to {MAX_EPISODE_DAYS:,}") from None
    if not 1 <= length <= MAX_EPISODE_DAYS:
        raise ValidationError("interruption-days", f"{length} is not accepted; must be 1 to {MAX_EPISODE_DAYS:,} days")
    section = "dose_modification.interruption"
    # A rule the drug's monograph does not define is not applied (MYLOTARG's gives only delay_below):
    # no other drug's interruption table is assumed for it.
    never = MAX_EPISODE_DAYS + 1
    delay_below = _days(m, f"{section}.delay_below")
    omit_from = _days(m, f"{section}.omit_next_dose_from") if f"{section}.omit_next_dose_from" in m.facts else never
    reduce_from = _days(m, f"{section}.reduce_next_cycle_from") if f"{section}.reduce_next_cycle_from" in m.facts else never
    consider_above = _days(m, f"{section}.consider_discontinuation_above") if f"{section}.consider_discontinuation_above" in m.facts else never
    gap = _days(m, "cycles.min_days_between_doses")
    details = {"interruption_days": length, "reduction_level": reduction_level}
    advice: list[Advice] = []
    if length < delay_below:
        advice.append(
            Advice(
                "interruption-delay",
                Action.DELAY_NEXT_DOSE,
                f"interruption of {length} days (under {delay_below}): delay the next dose, keeping at least {gap} days between doses",
                _sources(m, f"{section}.delay_below", "cycles.min_days_between_doses"),
                details=details,
            )
        )
    if length >= omit_from:
        advice.append(
            Advice(
                "interruption-omit",
                Action.OMIT_NEXT_DOSE,
                f"interruption of {length} days ({omit_from} or more): omit the next dose within the cycle",
                _sources(m, f"{section}.omit_next_dose_from"),
                details=details,
            )
        )
    if length >= reduce_from:
        sources = _sources(
            m, f"{section}.reduce_next_cycle_from", "cycles.toxicity_cycle_dose_reduction", f"{section}.reduced_doses_per_cycle", "cycles.no_re_escalation"
        )
        if reduction_level <= 0:
            pct = format_number(m.magnitude("cycles.toxicity_cycle_dose_reduction", "percent"), 1)
            advice.append(
                Advice(
                    "interruption-reduce",
                    Action.REDUCE_NEXT_CYCLE,
                    f"interruption of {length} days ({reduce_from} or more): after recovery, reduce the next cycle's total dose by {pct}% (never re-escalated)",
                    sources,
                    details=details,
                )
            )
        elif reduction_level == 1:
            doses = int(_plain(m, f"{section}.reduced_doses_per_cycle"))
            advice.append(
                Advice(
                    "interruption-two-doses",
                    Action.TWO_DOSES_PER_CYCLE,
                    f"interruption of {length} days ({reduce_from} or more) after the dose was already reduced: {doses} doses per cycle from the next cycle on",
                    sources,
                    details=details,
                )
            )
        else:
            advice.append(
                Advice(
                    "interruption-discontinue",
                    Action.DISCONTINUE,
                    f"interruption of {length} days ({reduce_from} or more) after the reduced dose and the reduced number of doses: not tolerated, discontinue permanently",
                    sources,
                    details=details,
                )
            )
    if length > consider_above:
        advice.append(
            Advice(
                "interruption-consider-stop",
                Action.CONSIDER_DISCONTINUATION,
                f"interruption of {length} days (more than {consider_above}): consider permanent discontinuation",
                _sources(m, f"{section}.consider_discontinuation_above"),
                details=details,
            )
        )
    return advice
