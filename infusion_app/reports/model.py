"""What a prep sheet and a bag label show, as ready-to-print text.

Built once from the domain records; the renderers only place these strings on paper. Every
dose, volume, concentration and instant goes through infusion_app.domain.formatting here, so
the sheet, the label, the screen and the CLI can never disagree on how a number reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from ..domain.formatting import (
    format_amount,
    format_bsa,
    format_concentration,
    format_dose,
    format_instant,
    format_number,
    format_vial_expiry,
    format_volume,
)
from ..domain.course import transplant_plan_decides
from ..domain.dosing import CourseCheck
from ..domain.limits import SitePolicy, site_defaults
from ..domain.monograph import Monograph
from ..domain.preparation import (
    VIAL_EXPIRY_MARK,
    effective_deadlines,
    first_expiring_vial,
    premedication_given,
    premedication_missing,
    premedication_timing,
    product_expires_at,
)
from ..domain.records import DiluteStorage, Event, EventType, Preparation

if TYPE_CHECKING:
    from ..domain.dosing import DoseCalculation, DoseOrder

NOT_YET_RECONSTITUTED = "starts at reconstitution"

# The four deadlines every sheet shows, in the order they fall; keys as in the deadlines engine
# and the `infusion-prep deadlines --json` contract.
TIMELINE_KEYS = ("dilute_by", "start_infusion_by", "end_infusion_by", "observe_until")
TIMELINE_LABELS = {
    "dilute_by": "Dilute by",
    "start_infusion_by": "Do not start after (discard)",
    "end_infusion_by": "Infusion must end by",
    "observe_until": "Observe until",
}

# What a deadline's hard-stop code ("<key>_passed") means in words, for the override notes.
DEADLINE_WORDS = {
    "dilute_by": "dilution deadline",
    "start_infusion_by": "latest infusion start",
    "end_infusion_by": "end-of-infusion limit",
    "observe_until": "observation period",
    "bag_from_fridge_by": "out-of-refrigerator deadline",
    "reconstituted_fridge_until": "refrigerated hold of the reconstituted vials",
    "warm_until": "bag warm-up",
}

POLICY_DECISIONS = {
    "meets_criteria": "Meets the payer's criteria",
    "criteria_not_met": "Criteria NOT met",
    "experimental": "Experimental and investigational for this indication (not covered)",
    "incomplete": "Incomplete: facts missing (listed below)",
}


@dataclass(frozen=True)
class Row:
    label: str
    value: str


@dataclass(frozen=True)
class PremedicationRow:
    drug_class: str
    drug: str = ""
    # When the class is due relative to the start (the monograph's timing, else the site's window),
    # on the class's first row.
    due: str = ""
    dose: str = ""
    time: str = ""
    initials: str = ""


@dataclass(frozen=True)
class VialLine:
    number: int
    lot: str
    expiry: str
    ndc: str = ""
    serial: str = ""


@dataclass(frozen=True)
class Step:
    text: str
    done: str = ""  # "2026-11-27 10:05 CET, AB" once the event is recorded, else empty


@dataclass(frozen=True)
class TimelineRow:
    label: str
    at: str  # date and 24-hour time, or why there is none yet
    rule: str  # how it is computed, from the monograph
    state: str = ""


@dataclass(frozen=True)
class AdministrationRow:
    """One administration step at the chair: filled from the record, or blank to write in."""

    step: str
    at: str = ""
    initials: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Signature:
    role: str
    name: str = ""
    at: str = ""


@dataclass(frozen=True)
class PolicyBlock:
    decision: str
    criteria: list[Row] = field(default_factory=list)  # label = met / not met / unknown
    reasons: list[str] = field(default_factory=list)
    source: str = ""  # which payer's which policy
    meets_criteria: bool = False


def _has(monograph: Any, path: str) -> bool:
    node: Any = monograph.raw
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@dataclass(frozen=True)
class SheetData:
    """Everything printed on a prep sheet and a bag label for one preparation."""

    prep_id: str
    patient_name: str
    mrn: str
    date_of_birth: str
    generic_name: str
    brand_name: str
    dose: str
    order: list[Row]
    course: list[Row]
    policy: PolicyBlock | None
    premedication: list[PremedicationRow]
    vials_needed: int
    vials: list[VialLine]
    reconstitution_steps: list[Step]
    dilution_steps: list[Step]
    timeline: list[TimelineRow]
    handling_notes: list[str]
    boxed_warning: list[str]
    signatures: list[Signature]
    billing: list[Row]
    overrides: list[str]
    warnings: list[str]
    hard_stops: list[str]
    pending_verification: list[str]
    # the label's own lines
    vehicle_line: str  # "in <vehicle>, total <final volume>"
    final_concentration: str
    route_rate: str  # "IV over <duration> at <rate>"
    prepared: str  # "2026-11-27 10:20 CET by Name", or "" before dilution
    checked_by: str
    do_not_start_after: str  # the latest start; a bag not started by then is discarded
    must_end_by: str  # the infusion's end limit
    out_of_fridge_by: str  # "" unless the bag is (or was) refrigerated
    storage: list[str]  # "Protect from light", "Do not shake", "Room temperature" ...
    hazard: str
    # footer
    printed_at: str
    program_version: str
    monograph_revision: str
    label_revision: str
    sample: bool = False  # the --demo preparation: marked on every page so it never reaches a bag
    discarded: bool = False  # a DISCARDED event is recorded: no label may be printed for it
    discard_reason: str = ""  # "2026-03-10 10:05 EDT by Name: reason", printed on every page
    administration: list[AdministrationRow] = field(default_factory=list)
    reprint_at: str = ""  # set when printed again after labelling: "REPRINT <time>" on every page
    audit_anchor: str = ""  # "audit 123 · 9f86d081884c7d65": the log's head when printed, so paper anchors it
    # The label's other warnings and precautions (monograph [warnings].other), with where they come from.
    other_warnings: list[str] = field(default_factory=list)
    other_warnings_source: str = ""
    # On the bag itself when the monograph requires an in-line filter: the nurse hangs it, not the sheet.
    label_filter: str = ""
    # On the bag when the dose was drawn in several syringes ("Dose drawn in 2 syringes: 10 mL + 0.5 mL = 10.5 mL"):
    # the checker matches the syringes to it. "" for one syringe.
    draw_line: str = ""

    @classmethod
    def from_preparation(
        cls,
        prep: Preparation,
        monograph: Monograph,
        deadlines: Iterable[Any],
        printed_at: datetime,
        program_version: str,
        course_info: Any = None,
        policy_decision: Any = None,
        tz: tzinfo | None = None,
        site_policy: SitePolicy | None = None,
    ) -> SheetData:
        """`deadlines` are the deadlines engine's results (objects with key, label, at, state);
        `site_policy`: the site's settings (its premedication window; the defaults when not given)."""
        return _build(prep, monograph, list(deadlines), printed_at, program_version, course_info, policy_decision, tz, site_policy or site_defaults())


# ------------------------------------------------------------------------------------------------


def hard_stop_words(code: str) -> str:
    """'dilute_by_passed+end_infusion_by_passed' -> 'dilution deadline passed; end-of-infusion limit passed'."""
    words = []
    for part in filter(None, str(code).split("+")):
        for suffix, tail in (("_passed", "passed"), ("_not_reached", "not yet reached")):
            if part.endswith(suffix):
                key = part[: -len(suffix)]
                words.append(f"{DEADLINE_WORDS.get(key, key.replace('_', ' '))} {tail}")
                break
        else:
            words.append(part.replace("_", " "))
    return "; ".join(words)


def fact_words(path: str) -> str:
    """A monograph path in words: 'dilution.concentration_min' -> 'minimum concentration (dilution)'."""
    section, _, name = str(path).rpartition(".")
    words = name.replace("_", " ")
    bound = re.match(r"(.*) (min|max)$", words)
    if bound:
        words = {"min": "minimum", "max": "maximum"}[bound.group(2)] + " " + bound.group(1)
    return f"{words} ({section.replace('_', ' ').replace('.', ', ')})" if section else words


def _pending_text(item: str) -> str:
    """'dilution.concentration_min: USPI 2017, 2.4' -> 'minimum concentration (dilution): USPI 2017, 2.4'."""
    path, _, citation = str(item).partition(":")
    return f"{fact_words(path.strip())}: {citation.strip()}" if citation else fact_words(path.strip())


_RANGE = re.compile(r"(?<![\d.\-–])(\d+(?:\.\d+)?)\s?-\s?(\d+(?:\.\d+)?)(?=\s?(?:°|%|mg|mL|h\b|hours?\b|minutes?\b|days?\b))")


def en_dash_ranges(text: str) -> str:
    """'20-25 °C' -> '20–25 °C' (a range takes an en dash; dates and NDCs are left alone)."""
    return _RANGE.sub(lambda m: f"{m.group(1)}–{m.group(2)}", str(text))


def printed_brand(brand: str) -> str:
    """The brand in mixed case beside the generic name, as ISMP shows it: BRAND -> Brand."""
    return brand.capitalize() if brand.isupper() else brand


def initials(name: str) -> str:
    parts = [p for p in name.replace("-", " ").split() if p[:1].isalpha()]
    return "".join(p[0].upper() for p in parts)[:4]


def _when(event: Event | None, tz: tzinfo | None) -> str:
    """When a signed step happened, and at which workstation it was recorded (issue 14)."""
    if event is None:
        return ""
    station = getattr(event, "station", "")
    return format_instant(event.at, tz) + (f", station {station}" if station else "")


def _done(event: Event | None, tz: tzinfo | None) -> str:
    return f"{format_instant(event.at, tz)}, {initials(event.user)}" if event else ""


def _hours(monograph: Monograph, path: str) -> str:
    return format_amount(monograph.magnitude(path, "hour"), "h")


def _hours_words(monograph: Monograph, path: str) -> str:
    """'1 hour', '1.5 hours': the route-and-rate line reads as words on the bag."""
    hours = monograph.magnitude(path, "hour")
    text = format_number(hours)
    return f"{text} hour" if text == "1" else f"{text} hours"


def _response_text(response: str | None, monograph: Monograph) -> str:
    if not response:
        return "not needed for this cycle"
    return monograph.response_words(response)


def _order_rows(calc: DoseCalculation, order: DoseOrder, monograph: Monograph) -> list[Row]:
    standard = format_amount(calc.standard_mg_per_m2, "mg/m²")
    mg_per_m2 = format_amount(calc.dose_mg_per_m2, "mg/m²")
    if calc.reduce_pct:
        mg_per_m2 += f" (reduced {format_number(calc.reduce_pct, 1)}% from {standard})"
    product = f"{format_amount(calc.dose_mg_per_m2, 'mg/m²')} × {format_amount(calc.bsa_m2, 'm²')}"
    if calc.dose_mg_per_kg is not None:  # a small child dosed by weight instead of BSA
        product = f"{format_amount(calc.dose_mg_per_kg, 'mg/kg')} × {format_amount(calc.weight_kg, 'kg')}"
        mg_per_m2 = f"{format_amount(calc.dose_mg_per_kg, 'mg/kg')} (by weight: BSA below the regimen's threshold)"
    rounding = calc.dose_rounding_pct
    if rounding:
        calculated = calc.calculated_dose_mg
        sign = "+" if rounding > 0 else ""
        dose = f"{product} = {format_dose(calculated)}, rounded to {format_dose(calc.dose_mg)} by site policy ({sign}{format_number(rounding, 1)}%)"
    else:
        dose = f"{product} = {format_dose(calc.dose_mg)}"
    cap = calc.dose_cap_mg
    if cap is not None and calc.calculated_dose_mg > cap:
        # The regimen's most per dose: the sheet shows BSA x mg/m² and the cap that replaced it.
        dose = f"{product} = {format_dose(calc.calculated_dose_mg)}, capped at {format_dose(cap)} per dose"
    before_draw = calc.dose_before_draw_mg
    if before_draw and calc.draw_syringe_ml and abs(before_draw - calc.dose_mg) > 1e-12:
        # The calculated dose beside the drawn one: the syringe's marks decide the dose given.
        from ..domain.dosing import syringe_words  # here: the dose engine (pint) stays out of a sheet-less start

        if not rounding:
            dose = f"{product} = {format_dose(before_draw)}"
        how = f"in {calc.draw_words()}" if calc.split_draw else f"on {syringe_words(calc.draw_syringe_ml, calc.draw_graduation_ml)}"
        dose += f"; drawn {format_volume(calc.withdraw_ml)} {how} = {format_amount(calc.dose_mg, 'mg', 3)}, the dose given"
    height = format_amount(calc.height_cm, "cm")
    weight = format_amount(calc.weight_kg, "kg")
    height_typed = calc.height_text or order.height
    weight_typed = calc.weight_text or order.weight
    if height_typed and height_typed.replace(" ", "") != height.replace(" ", ""):
        height += f" (entered as {height_typed})"
    if weight_typed and weight_typed.replace(" ", "") != weight.replace(" ", ""):
        weight += f" (entered as {weight_typed})"
    return [
        Row("Cycle / Day", f"Cycle {calc.cycle}, Day {calc.day}"),
        (Row("Regimen", monograph.regimen_name(calc.regimen)) if calc.regimen else Row("Response", _response_text(calc.response, monograph))),
        Row("Height", height),
        Row("Weight", weight),
        Row("BSA", f"{format_bsa(calc.bsa_m2, calc.bsa_formula_name)}: {calc.bsa_equation}"),
        Row("Dose per m²", mg_per_m2),
        Row("Dose", dose),
    ]


def _course_status_rows(status: Any) -> list[Row]:
    """Rows from the course engine's CourseStatus (infusion_app.domain.course), read by attribute."""
    rows: list[Row] = []
    limit = getattr(status, "limit", None)
    cycle = getattr(status, "current_cycle", None)
    if cycle is not None:
        text = f"Cycle {cycle}"
        if limit is not None:
            text += f" of at most {limit.max_cycles}"
        rows.append(Row("Course", text + (f" ({limit.why})" if limit is not None and limit.why else "")))
    drug = getattr(status, "monograph", None)
    if drug is None or transplant_plan_decides(drug):  # a drug whose limit no transplant plan changes shows none
        rows.append(Row("HSCT", "planned" if getattr(status, "hsct_planned", False) else "not planned"))
    plan = getattr(status, "plan", None)
    if plan is not None:
        rows.append(Row("This cycle", f"started {_date_text(plan.start)}, {plan.length_days} days; next cycle from {_date_text(plan.next_cycle_start)}"))
    if getattr(status, "is_last_cycle", False):
        rows.append(Row("Last cycle", str(getattr(status, "why_last", "") or "yes")))
    weight = getattr(status, "weight", None)
    if weight is not None and getattr(weight, "needs_recheck", False):
        rows.append(Row("Weight", "re-check BSA: " + "; ".join(weight.reasons)))
    blocks = list(getattr(status, "blocks", ()) or ())
    if blocks:
        rows.append(Row("Blocked", "; ".join(blocks)))
    return rows


def _course_flags(stored: CourseCheck | None, monograph: Monograph, prep: Preparation | None = None) -> list[str]:
    """What the course check stored with the order and every sheet must say: no course, a declined
    discontinuation. Once the order is verified its labs are no longer 'needed': _verification_labs says
    what was checked (the sheet of a verified dose still warned that labs were needed)."""
    from ..domain.labs import LABS_NEEDED_FLAG

    flags = stored.sheet_flags(monograph) if stored is not None else []
    if prep is not None and prep.last(EventType.ORDER_VERIFIED) is not None:
        flags = [f for f in flags if not f.startswith(LABS_NEEDED_FLAG)]
    return flags


def _verification_labs(prep: Preparation, tz: tzinfo | None) -> list[Row]:
    """The labs the pharmacist checked at the order verification of a dose with no course on file
    (when each was taken), or the override of the missing ones with its reason."""
    from ..domain.labs import LAB_TITLES

    verified = prep.last(EventType.ORDER_VERIFIED)
    if verified is None:
        return []
    rows = []
    labs = verified.details.get("labs")
    if isinstance(labs, dict) and labs:
        parts = []
        for kind, entry in labs.items():
            taken = entry.get("taken_at") if isinstance(entry, dict) else None
            try:
                when = format_instant(datetime.fromisoformat(str(taken)), tz)
            except (TypeError, ValueError):
                when = str(taken)
            parts.append(f"{LAB_TITLES.get(kind, kind)} {'asked' if kind == 'vod-signs' else 'taken'} {when}")  # signs are asked, not sampled
        rows.append(Row("Labs checked", f"at the order verification by {verified.user}, {format_instant(verified.at, tz)}: " + "; ".join(parts)))
    if verified.details.get("labs_override"):
        rows.append(Row("Missing labs overridden", f"by {verified.user}, {format_instant(verified.at, tz)}: {verified.details['labs_override']}"))
    return rows


def _course_rows(course_info: Any) -> list[Row]:
    if course_info is None:
        return []
    if hasattr(course_info, "current_cycle"):
        return _course_status_rows(course_info)
    if isinstance(course_info, Mapping):
        return [Row(str(k), str(v)) for k, v in course_info.items()]
    return [Row(str(k), str(v)) for k, v in course_info]


def _policy_block(decision: Any) -> PolicyBlock | None:
    if decision is None:
        return None
    if hasattr(decision, "to_dict"):
        decision = decision.to_dict()
    if not isinstance(decision, Mapping):
        decision = vars(decision)
    key = str(decision.get("decision", ""))
    if hasattr(decision.get("decision"), "value"):
        key = decision["decision"].value
    met_words = {True: "met", False: "NOT MET", None: "unknown"}
    policy = decision.get("policy") or {}
    criteria = []
    for criterion in decision.get("criteria", []) or []:
        if not isinstance(criterion, Mapping):
            criterion = criterion.to_dict() if hasattr(criterion, "to_dict") else vars(criterion)
        # The one-line summary reads better on paper than the policy sentence word for word.
        text = criterion.get("summary") or criterion.get("text") or criterion.get("id", "")
        criteria.append(Row(met_words.get(criterion.get("met"), str(criterion.get("met"))), str(text)))
    return PolicyBlock(
        decision=POLICY_DECISIONS.get(key, key or "not checked"),
        criteria=criteria,
        reasons=[str(r) for r in decision.get("reasons", []) or []],
        source=", ".join(str(policy[k]) for k in ("payer", "name", "revision") if policy.get(k)),
        meets_criteria=key == "meets_criteria",
    )


def _premedication(prep: Preparation, monograph: Monograph, tz: tzinfo | None, site_policy: SitePolicy) -> list[PremedicationRow]:
    given = premedication_given(prep)
    rows: list[PremedicationRow] = []
    for drug_class in monograph.premedication_classes():
        matching = [e for e in given if str(e.details.get("drug_class", "")).lower() == drug_class.lower()]
        due = premedication_timing(drug_class, monograph, site_policy, short=True)
        if not matching:
            rows.append(PremedicationRow(drug_class.capitalize(), due=due))
            continue
        for index, event in enumerate(matching):
            rows.append(
                PremedicationRow(
                    drug_class=drug_class.capitalize(),
                    due=due if index == 0 else "",
                    drug=_premedication_drug_text(event, tz),
                    dose=str(event.details.get("dose", "")),
                    time=format_instant(event.at, tz),
                    initials=initials(event.user),
                )
            )
    return rows


def _premedication_drug_text(event: Event, tz: tzinfo | None) -> str:
    """The drug, marked when it was off the list or corrected (the sheet keeps what was first entered)."""
    text = str(event.details.get("drug", ""))
    if event.details.get("other"):
        text += " (other; dose checked against the order)"
    original = event.details.get("original")
    if isinstance(original, dict):
        text += (
            f"; corrected by {initials(str(event.details.get('corrected_by', '')))} at "
            f"{format_instant(event.details['corrected_at'], tz)} "
            f"(first entered {original.get('drug', '')} {original.get('dose', '')}): {event.details.get('correction_reason', '')}"
        )
    return text


def _steps(prep: Preparation, monograph: Monograph, calc: DoseCalculation, tz: tzinfo | None) -> tuple[list[Step], list[Step]]:
    reconstituted = prep.last(EventType.RECONSTITUTED)
    diluted = prep.last(EventType.DILUTED)
    verified = prep.last(EventType.VERIFIED)
    labelled = prep.last(EventType.LABELLED)
    vials = calc.vials
    per_vial = format_volume(calc.reconstitution_ml_per_vial)
    deliverable = format_volume(monograph.magnitude("reconstitution.deliverable_volume_per_vial", "mL"))
    reconstitution = [
        Step(
            ("Reconstitute the vial" if vials == 1 else f"Reconstitute each of {vials} vials") + f" ({format_dose(calc.vial_mg)}) with "
            f"{per_vial} {monograph.text('reconstitution.diluent')}: {format_concentration(calc.reconstituted_mg_per_ml)}, "
            f"{deliverable} deliverable per vial. This starts the clocks.",
            _done(reconstituted, tz),
        ),
        Step(en_dash_ranges(monograph.text("reconstitution.mixing"))),
        Step(en_dash_ranges(f"Inspect: {monograph.text('reconstitution.appearance')}.")),
        Step(en_dash_ranges(monograph.text("reconstitution.light"))),
    ]
    # A bag made up to its volume: the saline comes out before the dose goes in (a step of its own, so that
    # it is not done after the dose, which would discard drug).
    removal = (
        [
            Step(
                f"Before adding the dose: from the {format_volume(calc.nacl_measured_ml + calc.nacl_removed_ml)} bag of "
                f"{monograph.text('dilution.vehicle')}, withdraw and discard {format_volume(calc.nacl_removed_ml)} of saline "
                f"(the dose volume), so that the dose makes it up to {format_volume(calc.final_volume_ml)}."
            )
        ]
        if calc.container == "bag" and calc.nacl_removed_ml is not None and calc.nacl_measured_ml is not None
        else []
    )
    dilution = removal + [
        Step(
            f"Withdraw {format_volume(calc.withdraw_ml)} ({format_dose(calc.dose_mg)}) of the reconstituted solution"
            + (f" in {calc.draw_words()}." if calc.split_draw else f" with {calc.draw_words()}." if calc.draw_words() else "."),
            _done(diluted, tz),
        ),
        Step(
            (
                f"Draw {monograph.text('syringe.vehicle_short')} into the syringe with it up to the "
                f"{format_volume(calc.final_volume_ml)} mark (about {format_volume(calc.nacl_about_ml if calc.nacl_about_ml is not None else calc.nacl_ml)}): "
                f"{format_concentration(calc.final_concentration_mg_per_ml)} (syringe administration)."
            )
            if calc.container == "syringe"
            else f"Add it to {monograph.text('dilution.vehicle')} {calc.nacl_words()} for a total of "
            f"{format_volume(calc.final_volume_ml)}: {format_concentration(calc.final_concentration_mg_per_ml)}.",
            _done(diluted, tz),  # the dilution itself, ticked with its time and initials
        ),
        Step(monograph.text("syringe.mixing" if calc.container == "syringe" else "dilution.mixing")),
        Step(monograph.text("reconstitution.discard_rest")),
        Step("Independent double check by a pharmacist (not the preparer).", _done(verified, tz)),
        Step(f"Label the {'syringe' if calc.container == 'syringe' else 'bag'}; protect it from light.", _done(labelled, tz)),
    ]
    return reconstitution, dilution


def _deadline_map(deadlines: list[Any]) -> dict[str, Any]:
    return {str(getattr(d, "key", "")): d for d in deadlines}


def _state_text(deadline: Any) -> str:
    state = getattr(deadline, "state", "")
    text = str(getattr(state, "value", state) or "")
    # A step dated in time but entered after the limit passed says so, with who and when.
    late = getattr(deadline, "entered_late", None)
    return f"{text} ({late})" if late else text


def _review_mark(deadline: Any) -> str:
    """Issue 11: a deadline resting on a value awaiting pharmacist verification says so on paper too."""
    return " (pending pharmacist review)" if getattr(deadline, "pending_review", False) else ""


def _timeline(prep: Preparation, monograph: Monograph, deadlines: list[Any], tz: tzinfo | None, printed_at: datetime | None = None) -> list[TimelineRow]:
    by_key = _deadline_map(deadlines)
    rules = {
        "dilute_by": f"reconstitution + {_hours(monograph, 'time_limits.reconstitution_to_dilution')}",
        "start_infusion_by": (
            f"earliest of end-by − {_hours(monograph, 'infusion.duration')}, the diluted-storage limit "
            f"({_hours(monograph, 'time_limits.diluted_room_max')} room, "
            f"{_hours(monograph, 'time_limits.diluted_refrigerated_max')} refrigerated) and a refrigerated bag's "
            f"{_hours(monograph, 'time_limits.refrigerated_bag_warm_up')} warm-up"
        ),
        "end_infusion_by": f"reconstitution + {_hours(monograph, 'time_limits.reconstitution_to_end_of_infusion')}",
        "observe_until": f"end of infusion + {_hours(monograph, 'time_limits.observation_after_infusion')}",
    }
    reconstituted = prep.last(EventType.RECONSTITUTED) is not None
    vials_end = product_expires_at(prep.vials)
    rows = []
    for key in TIMELINE_KEYS:
        deadline = by_key.get(key)
        at = getattr(deadline, "at", None) if deadline is not None else None
        if at is not None and getattr(deadline, "vial_expiry", False):
            # The domain moved it to the vial's expiry (effective_deadlines), as the bag label gives it.
            rule = f"{rules[key]}; here a vial's expiry, earlier (see Vials expire)"
            rows.append(TimelineRow(TIMELINE_LABELS[key], f"{format_instant(at, tz)} ({VIAL_EXPIRY_MARK})", rule, _state_text(deadline)))
            continue
        if at is not None:
            text = format_instant(at, tz)
        elif not reconstituted:
            text = NOT_YET_RECONSTITUTED
        elif key == "observe_until":
            text = "starts at the end of the infusion"
        else:
            text = "not computed"
        rows.append(TimelineRow(TIMELINE_LABELS[key], text, rules[key] + _review_mark(deadline), _state_text(deadline) if at else ""))
    # Deadlines beyond the four (a refrigerated bag's warm-up, for instance) are shown too.
    for key, deadline in by_key.items():
        if key in TIMELINE_KEYS or getattr(deadline, "at", None) is None:
            continue
        rows.append(TimelineRow(str(getattr(deadline, "label", key)), format_instant(deadline.at, tz), _review_mark(deadline).strip(), _state_text(deadline)))
    end_by = getattr(by_key.get("end_infusion_by"), "at", None)
    first = first_expiring_vial(prep.vials)
    if first is not None and vials_end is not None and (end_by is None or vials_end < end_by):
        rows.append(
            TimelineRow(
                "Vials expire",
                format_instant(vials_end, tz),
                f"the first vial's expiry (lot {first.lot}): no step using the product from then, not even the start; an infusion running goes on",
                "passed" if printed_at is not None and printed_at >= vials_end else "ok",
            )
        )
    return rows


def _storage(prep: Preparation, monograph: Monograph) -> list[str]:
    diluted = prep.last(EventType.DILUTED)
    storage = str(diluted.details.get("storage", "")) if diluted else ""
    lines = ["Protect from light", "Do not shake"]
    if storage == DiluteStorage.FRIDGE.value:
        lines.append(f"Refrigerate; allow {_hours_words(monograph, 'time_limits.refrigerated_bag_warm_up')} to reach room temperature before infusion")
    elif storage == DiluteStorage.ROOM.value:
        lines.append("Keep at room temperature")
    else:
        lines.append("Refrigerate or room temperature: see dilution record")
    return lines


def _handling_notes(monograph: Monograph, syringe: bool = False) -> list[str]:
    return [en_dash_ranges(note) for note in _monograph_handling(monograph, syringe)]


def _monograph_handling(monograph: Monograph, syringe: bool = False) -> list[str]:
    # A syringe dose is mixed in its syringe, and the bag materials do not concern it.
    notes = [
        monograph.text("product.hazardous_drug"),
        monograph.text("reconstitution.light"),
        f"{monograph.text('reconstitution.mixing')} {monograph.text('syringe.mixing' if syringe else 'dilution.mixing')}",
        monograph.text("infusion.line"),
        monograph.text("infusion.temperature"),
    ]
    if not syringe:
        notes.append("Bags: " + "; ".join(monograph.items("dilution.bag_materials")) + ".")
    notes.append(_filter_note(monograph))
    return notes


def _filter_note(monograph: Monograph) -> str:
    """The in-line filter as the monograph says: required or not, which, and which never."""
    required = monograph.flag("dilution.filter_required")
    note = f"In-line filter ({'required' if required else 'not required'}): " + "; ".join(monograph.items("dilution.filters_allowed"))
    forbidden = monograph.items("dilution.filters_forbidden")
    return note + (". Never " + " or ".join(forbidden) if forbidden else "") + "."


def _overrides(prep: Preparation, tz: tzinfo | None) -> list[str]:
    notes = []
    for event in prep.events_of(EventType.OVERRIDE):
        hard_stop = event.details.get("hard_stop", "")
        reason = event.details.get("reason", "")
        what = hard_stop_words(hard_stop) if hard_stop else ""
        notes.append(f"Override by {event.user}, {format_instant(event.at, tz)}: {what}. Reason: {reason}".replace(": . ", ": "))
    for event in prep.events_of(EventType.DEVIATION):
        # A fact recorded although it broke a limit (domain/preparation.py deviation_event).
        late = " (entered late)" if event.details.get("late_entry") else ""
        broke = "; ".join(str(m) for m in event.details.get("messages", []))
        notes.append(
            f"DEVIATION{late}: {event.details.get('step', '')} recorded by {event.user}, {format_instant(event.recorded_at, tz)}: "
            f"{broke}. Reason: {event.details.get('reason', '')}"
        )
    for event in prep.events_of(EventType.DISCARDED):
        notes.append(f"Discarded by {event.user}, {format_instant(event.at, tz)}. Reason: {event.details.get('reason', '')}")
    return notes


def _signatures(prep: Preparation, tz: tzinfo | None) -> list[Signature]:
    prepared = prep.last(EventType.DILUTED) or prep.last(EventType.RECONSTITUTED)
    verified = prep.last(EventType.VERIFIED)
    administered = prep.last(EventType.INFUSION_STARTED)
    signatures = [
        Signature("Prepared by", prepared.user if prepared else "", _when(prepared, tz)),
        Signature("Verified by", verified.user if verified else "", _when(verified, tz)),
        Signature("Administered by", administered.user if administered else "", _when(administered, tz)),
    ]
    # Every override is signed on paper by the pharmacist who authorised it.
    for event in prep.events_of(EventType.OVERRIDE):
        signatures.append(Signature("Override authorised by (pharmacist)", event.user, _when(event, tz)))
    return signatures


def _administration(prep: Preparation, monograph: Monograph, tz: tzinfo | None) -> list[AdministrationRow]:
    """The chair's record: each step with its time and initials, or blank for a hand-written entry."""
    steps = [
        (EventType.PATIENT_CONFIRMED, "Patient identity confirmed (two identifiers)"),
        (EventType.INFUSION_STARTED, "Infusion started"),
        (EventType.INFUSION_ENDED, "Infusion ended"),
        (EventType.OBSERVATION_ENDED, "Observation ended"),
    ]
    rows: list[AdministrationRow] = []
    premedication = premedication_given(prep)
    missing = premedication_missing(prep, monograph)
    if premedication and not missing:
        last = max(premedication, key=lambda e: e.at)
        rows.append(AdministrationRow("Premedication given (all classes, see above)", format_instant(last.at, tz), initials(last.user)))
    elif premedication:
        # A time here would read as "all given then": left to be written in, naming what is missing.
        rows.append(AdministrationRow("Premedication given (all classes, see above)", detail="not recorded yet: " + ", ".join(missing)))
    else:
        rows.append(AdministrationRow("Premedication given (all classes, see above)"))
    if any(e.type in (EventType.BAG_TO_FRIDGE, EventType.BAG_FROM_FRIDGE) for e in prep.events) or _bag_refrigerated(prep):
        steps.insert(0, (EventType.BAG_FROM_FRIDGE, "Bag out of refrigerator (warm-up starts)"))
    for kind, text in steps:
        event = prep.last(kind)
        rows.append(AdministrationRow(text, format_instant(event.at, tz), initials(event.user)) if event else AdministrationRow(text))
    return rows


def _bag_refrigerated(prep: Preparation) -> bool:
    diluted = prep.last(EventType.DILUTED)
    return diluted is not None and str(diluted.details.get("storage", "")) == DiluteStorage.FRIDGE.value


def _billing(calc: DoseCalculation, monograph: Monograph, prep: Preparation | None = None) -> list[Row]:
    if prep is not None and prep.last(EventType.DISCARDED) is not None:
        return _discarded_billing(calc, monograph, prep)
    return [
        Row("HCPCS", f"{calc.hcpcs}: {monograph.text('billing.hcpcs_description')}"),
        Row("Units administered", f"{format_amount(calc.billing_units_administered, 'units')} ({format_dose(calc.dose_mg)})"),
        Row("Units discarded", f"{format_amount(calc.billing_units_discarded, 'units')} ({format_dose(calc.discarded_mg)})"),
        Row("Modifier", calc.billing_modifier),
    ]


def _discarded_billing(calc: DoseCalculation, monograph: Monograph, prep: Preparation) -> list[Row]:
    """A discarded preparation bills nothing as administered; every vial opened is waste."""
    hcpcs = Row("HCPCS", f"{calc.hcpcs}: {monograph.text('billing.hcpcs_description')}")
    if prep.last(EventType.INFUSION_STARTED) is not None:
        # Part of the dose may have run in before the discard: only the pharmacist can say how much.
        return [
            hcpcs,
            Row("Units administered", "DISCARDED after the infusion started: the pharmacist records the amount given"),
            Row("Units discarded", "the remainder, as recorded by the pharmacist"),
        ]
    opened_mg = calc.vials * calc.vial_mg
    unit_mg = calc.billing_unit_mg or None
    # As the dose engine counts the units in the vials: rounded half up to whole units.
    units = format_amount(int(opened_mg / unit_mg + 0.5), "units") if unit_mg else "all"
    return [
        hcpcs,
        Row("Units administered", "0 units: nothing administered (DISCARDED)"),
        Row("Units discarded", f"{units} ({format_dose(opened_mg)}, every vial opened)"),
        Row("Modifier", f"{monograph.text('billing.modifier_discarded')} on the discarded units"),
    ]


def _discard_reason(prep: Preparation, tz: tzinfo | None) -> str:
    event = prep.last(EventType.DISCARDED)
    if event is None:
        return ""
    reason = str(event.details.get("reason", "")).strip() or "no reason recorded"
    return f"{format_instant(event.at, tz)} by {event.user}: {reason}"


def _date_text(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _build(
    prep: Preparation,
    monograph: Monograph,
    deadlines: list[Any],
    printed_at: datetime,
    program_version: str,
    course_info: Any,
    policy_decision: Any,
    tz: tzinfo | None,
    site_policy: SitePolicy,
) -> SheetData:
    calc = prep.order.calculation
    if policy_decision is None:
        policy_decision = prep.order.coverage
    # As the service's status gives them (the same again for deadlines it gave): a limit whose steps a
    # vial's expiry stops first is at that expiry, on the label and the sheet as on the board.
    deadlines = effective_deadlines(prep, deadlines, monograph, printed_at, site_policy.warning_lead_time)
    by_key = _deadline_map(deadlines)
    reconstituted = prep.last(EventType.RECONSTITUTED) is not None

    def deadline_text(key: str) -> str:
        deadline = by_key.get(key)
        if deadline is not None and getattr(deadline, "at", None) is not None:
            return format_instant(deadline.at, tz)
        return "—" if reconstituted else NOT_YET_RECONSTITUTED

    # A vial past its expiry stops every step using the product, the start of the infusion included:
    # before, the label's latest start was the label limits' alone, hours after a vial's 10:00 expiry.
    do_not_start_after = deadline_text("start_infusion_by")
    if getattr(by_key.get("start_infusion_by"), "vial_expiry", False):
        do_not_start_after += f" ({VIAL_EXPIRY_MARK})"

    fridge = by_key.get("bag_from_fridge_by")
    out_of_fridge_by = format_instant(fridge.at, tz) if fridge is not None and getattr(fridge, "at", None) else ""
    if out_of_fridge_by and getattr(fridge, "vial_expiry", False):
        out_of_fridge_by += f" ({VIAL_EXPIRY_MARK})"

    diluted = prep.last(EventType.DILUTED)
    verified = prep.last(EventType.VERIFIED)
    reconstitution_steps, dilution_steps = _steps(prep, monograph, calc, tz)
    route = monograph.text("infusion.route")
    syringe = calc.container == "syringe"
    # Bag or syringe, the calculation holds the container's rate (its volume over the infusion time,
    # or the monograph's stated rate for its one bag).
    rate = format_amount(calc.infusion_rate_ml_per_hour, "mL/h")
    return SheetData(
        prep_id=prep.id,
        patient_name=prep.patient.name,
        mrn=prep.patient.mrn,
        date_of_birth=_date_text(prep.patient.date_of_birth),
        generic_name=monograph.generic_name,
        brand_name=printed_brand(monograph.brand_name),
        dose=format_dose(calc.dose_mg),
        order=_order_rows(calc, prep.order.dose, monograph) + _verification_labs(prep, tz),
        course=_course_rows(course_info),
        policy=_policy_block(policy_decision),
        premedication=_premedication(prep, monograph, tz, site_policy),
        vials_needed=calc.vials,
        vials=[VialLine(i, v.lot, format_vial_expiry(v.expiry, v.expires_at, tz), v.ndc or "", v.serial or "") for i, v in enumerate(prep.vials, start=1)],
        reconstitution_steps=reconstitution_steps,
        dilution_steps=dilution_steps,
        timeline=_timeline(prep, monograph, deadlines, tz, printed_at),
        handling_notes=_handling_notes(monograph, syringe),
        boxed_warning=[str(w) for w in monograph.items("warnings.boxed")],
        other_warnings=[str(w) for w in monograph.items("warnings.other")] if _has(monograph, "warnings.other") else [],
        other_warnings_source=monograph.fact("warnings.other").citation if _has(monograph, "warnings.other") else "",
        signatures=_signatures(prep, tz),
        billing=_billing(calc, monograph, prep),
        overrides=_overrides(prep, tz),
        warnings=[str(w) for w in calc.warnings] + _course_flags(prep.order.course, monograph, prep),
        hard_stops=[str(s) for s in calc.hard_stops],
        pending_verification=[_pending_text(p) for p in calc.pending_verification],
        vehicle_line=f"in {calc.vehicle}, total {format_volume(calc.final_volume_ml)}" + (" in a SYRINGE" if syringe else ""),
        draw_line=(
            f"Dose drawn in {len(calc.draw_parts)} syringes: "
            + " + ".join(format_volume(part["volume_ml"]) for part in calc.draw_parts)
            + f" = {format_volume(calc.withdraw_ml)}"
            if calc.split_draw
            else ""
        ),
        final_concentration=format_concentration(calc.final_concentration_mg_per_ml),
        route_rate=f"{route}{' by syringe pump' if syringe else ''} over {_hours_words(monograph, 'infusion.duration')} at {rate}",
        label_filter=(
            "GIVE THROUGH AN IN-LINE FILTER: " + " or ".join(monograph.items("dilution.filters_allowed")) if monograph.flag("dilution.filter_required") else ""
        ),
        prepared=f"{format_instant(diluted.at, tz)} by {diluted.user}" if diluted else "",
        checked_by=f"{verified.user}, {format_instant(verified.at, tz)}" if verified else "",
        do_not_start_after=do_not_start_after,
        must_end_by=deadline_text("end_infusion_by"),
        out_of_fridge_by=out_of_fridge_by,
        storage=[en_dash_ranges(line) for line in _storage(prep, monograph)],
        hazard=monograph.text("product.hazardous_drug"),
        printed_at=format_instant(printed_at, tz),
        program_version=program_version,
        monograph_revision=prep.monograph_revision or monograph.revision,
        label_revision=monograph.label_revision,
        discarded=prep.last(EventType.DISCARDED) is not None,
        discard_reason=_discard_reason(prep, tz),
        administration=_administration(prep, monograph, tz),
    )
