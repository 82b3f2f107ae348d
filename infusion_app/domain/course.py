"""The treatment course: cycles, dose windows, responses, cycle limits and what is next.

A preparation is one dose; the patient lives through a course of cycles. This module plans each
cycle (Day 1, 8 and 15 with their windows), keeps what was given and assessed, says how many
cycles the label allows and why, and gathers the advice of dose_modification.py. Pure Python:
dates are `datetime.date`; 'today' is always passed in (from the injected Clock by the caller).
Every number comes from the monograph ([cycles], [dosing], [dose_modification.*]) or the site
policy (weight re-check); each rule applied is reported with its monograph path and citation.

API for the CLI, the service layer and the GUI course view
----------------------------------------------------------
plan_cycle(cycle, start, *, response=None, given=None, extend_to_28=False, reduction=None,
           omitted_days=(), delayed_days=(), previous_dose=None, preparations=None,
           monograph=None) -> CyclePlan
    One cycle on its own (what `infusion-prep schedule` prints). Raises ValidationError for bad
    input, including a missing response from cycle 2 (it decides the Day 1 dose), exactly as
    the dose engine does. A given date outside its window is a hard stop in `plan.hard_stops`.
    CyclePlan: cycle, start, length_days, extended_to_28, next_cycle_start, response,
    reduction, doses (PlannedDose: day, planned, earliest, latest, mg_per_m2,
    standard_mg_per_m2, given, status 'planned'|'given'|'omitted', notes), hard_stops,
    warnings, rules; to_dict() (ISO dates), summary_lines().

Course (a mutable record; storage persists it) with CycleRecord, DoseGiven,
ResponseAssessment, WeightRecord, AdviceRecord. Operations (each validates, raises
ValidationError for bad input or CourseBlocked(reasons) for a clinical hard stop):
    new_course(mrn, hsct_planned, is_child=False, date_of_birth=None, child_reason="", today=None)
    child_rules(course, today, policy) -> (children's thresholds apply, why)
    record_blasts(course, per_mm3, measured_on, today)
    record_weight(course, kg, measured_on, today, use_for_dosing=False)
    record_response(course, assessed_on, response, mrd_negative, today)
    start_cycle(course, start, today, extend_to_28=False, extension_reason="")
    move_cycle_start(course, start, today)   (the latest cycle, while none of its doses is given)
    extend_first_cycle(course, reason)
    record_dose(course, cycle, day, given_on, today, preparation_id=None, override_reason=None)
    raise_advice(course, advice_list, raised_on) -> list[AdviceRecord]
    decide(course, record, decision) -> AdviceRecord   (applies accepted advice: reduction level,
                                                       omitted/delayed dose, discontinuation)
Queries:
    plan_for(course, cycle_number) -> CyclePlan
    cycle_limit(course) -> CycleLimit (max_cycles, rule, why, sources)
    weight_recheck(course, today, policy=None) -> WeightCheck
    course_status(course, today) -> CourseStatus with current_cycle, plan, next_dose (NextDose:
        cycle, day, planned, earliest, latest, mg_per_m2, state 'upcoming'|'due'|'overdue',
        blocked_by, flags), is_last_cycle, why_last, limit, advice (computed now + recorded and
        undecided), blocks, weight, reduction, discontinued; to_dict().
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from .dose_modification import (
    HOLD_ACTIONS,
    MAX_EPISODE_DAYS,
    RECOVERY_CLEARS,
    Action,
    Advice,
    Decision,
    DoseReduction,
    RuleSource,
    check_no_re_escalation,
    interruption_advice,
    reduction_for_level,
)
from .errors import ValidationError, whole_number
from .formatting import format_age, format_amount, format_instant, format_number
from . import checklist as start_checklist
from .checklist import Checklist
from .dosing import minimum_age_reached_on, under_minimum_age
from .labs import LabOverride, LabResult, labs_block, labs_needed, liver_after_due, low_counts_flag, qt_warnings
from .limits import COUNT_UNIT, SitePolicy, plausible, site_defaults
from .cycle_plan import (  # noqa: F401  (re-exported: the course API names them)
    DAY,
    CyclePlan,
    PlannedDose,
    _date,
    _days,
    _days_at_age,
    _dose_day,
    _later_from,
    _max_cycles,
    _refuse_no_extension,
    first_cycle_extends,
    _src,
    _whole,
    cycle_length_days,
    parse_date,
    plan_cycle,
)
from .monograph import Monograph, validate_response
from .quantities import Quantity

BLAST_UNIT = "1/mm**3"


class CourseBlocked(Exception):
    """A clinical hard stop blocks the step. `reasons` say why; a pharmacist may override with a reason."""

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))


# -- the course record ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseAssessment:
    assessed_on: date
    response: str  # one of the course's drug's [dosing] responses; which are a remission, its monograph says
    mrd_negative: bool | None = None  # None: not assessed
    id: int | None = None


@dataclass(frozen=True)
class DoseGiven:
    cycle: int
    day: int
    given_on: date
    preparation_id: str | None = None
    mg_per_m2: float | None = None
    override_reason: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class WeightRecord:
    kg: float
    measured_on: date


@dataclass
class CycleRecord:
    number: int
    start: date
    extended_to_28: bool = False
    extension_reason: str = ""
    reduction_level: int = 0
    omitted_days: tuple[int, ...] = ()
    delayed_days: tuple[int, ...] = ()
    id: int | None = None


@dataclass
class AdviceRecord:
    advice: Advice
    raised_on: date
    decision: Decision | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "raised_on": self.raised_on.isoformat(),
            **self.advice.to_dict(),
            "decision": self.decision.to_dict() if self.decision else None,
        }


@dataclass
class Course:
    mrn: str
    monograph_id: str  # the course's drug: its monograph judges every dose of the course
    hsct_planned: bool
    regimen: str = ""  # a drug dosed by regimen (MYLOTARG): the one picked when the course was opened
    is_child: bool = False
    blasts_per_mm3: float | None = None
    blasts_measured_on: date | None = None
    dosing_weight: WeightRecord | None = None
    latest_weight: WeightRecord | None = None
    cycles: list[CycleRecord] = field(default_factory=list)
    doses: list[DoseGiven] = field(default_factory=list)
    responses: list[ResponseAssessment] = field(default_factory=list)
    advice: list[AdviceRecord] = field(default_factory=list)
    labs: list[LabResult] = field(default_factory=list)
    lab_overrides: list[LabOverride] = field(default_factory=list)
    checklist: Checklist | None = None  # the course-start checklist (checklist.py)
    date_of_birth: date | None = None
    child_reason: str = ""  # why the manual 'child' flag overrides the age from the date of birth
    reduction_level: int = 0  # in force from the next cycle started; only ever goes up
    discontinued_on: date | None = None
    discontinued_reason: str = ""
    id: int | None = None
    version: int = 0  # storage's optimistic-concurrency counter

    def cycle(self, number: int) -> CycleRecord:
        for record in self.cycles:
            if record.number == number:
                return record
        raise ValidationError("cycle", f"cycle {number} has not been started for patient {self.mrn}")

    def doses_of(self, number: int) -> list[DoseGiven]:
        return [d for d in self.doses if d.cycle == number]

    @property
    def current_cycle(self) -> CycleRecord | None:
        return self.cycles[-1] if self.cycles else None


def judged_by(course: Course, monograph: Monograph) -> Monograph:
    """The monograph a course is judged by: its own drug's, never another's (a MYLOTARG dose day is
    no BESPONSA dose day), as dosed by the course's regimen when its drug has regimens.
    ValidationError when a caller passes another drug's, or a view of another regimen."""
    if course.monograph_id != monograph.id:
        raise ValidationError(
            "drug",
            f"the course for MRN {course.mrn} is a course of {course.monograph_id}, not of {monograph.brand_name}; it is judged by its own drug's monograph",
        )
    if monograph.decided_by != "regimen":
        return monograph
    if monograph.regimen is not None and monograph.regimen.id != course.regimen:
        raise ValidationError(
            "regimen",
            f"the course for MRN {course.mrn} is {monograph.brand_name}'s {course.regimen or '(no)'} regimen, not its {monograph.regimen.id} regimen"
            + (f": order the course's regimen (e.g. {course.regimen})" if course.regimen else ""),
        )
    return monograph.with_regimen(course.regimen)


def by_regimen(monograph: Monograph) -> bool:
    """A drug whose dose a regimen picked at order entry decides (no response, HSCT or remission rules)."""
    return monograph.decided_by == "regimen"


def transplant_plan_decides(monograph: Monograph) -> bool:
    """Whether a planned transplant (HSCT) changes the drug's cycle limit: its monograph gives a
    limit with one (cycles.max_cycles_with_hsct). Only then is the plan asked for and shown."""
    return "cycles.max_cycles_with_hsct" in monograph.facts


def keeps_course(monograph: Monograph) -> bool:
    """A course is kept for a drug with cycles: decided by the response, or by the regimen picked for the course."""
    return "cycles" in monograph.raw and monograph.decided_by in ("response", "regimen")


def new_course(
    mrn: str,
    hsct_planned: bool,
    is_child: bool = False,
    date_of_birth: date | None = None,
    child_reason: str = "",
    today: date | None = None,
    *,
    monograph: Monograph,
    regimen: str | None = None,
) -> Course:
    """A course of `monograph`'s drug (as dosed by `regimen` for a drug with regimens: required then,
    refused otherwise). With the date of birth the age decides whether the children's rules apply
    (weight re-check); the manual child flag then only overrides it, and always with a reason."""
    if not keeps_course(monograph):
        raise ValidationError("drug", f"a course of {monograph.brand_name} is not kept: its monograph has no cycles")
    chosen = monograph.with_regimen(regimen or (monograph.regimen.id if monograph.regimen is not None else None))
    mrn = str(mrn or "").strip()
    if not mrn:
        raise ValidationError("mrn", "is required (the patient's medical record number)")
    reason = " ".join(str(child_reason or "").split())
    if is_child and not reason:
        raise ValidationError(
            "child-reason", "say why the children's rules apply whatever the age from the date of birth (e.g. 'small adult, paediatric protocol')"
        )
    if reason and not is_child:
        raise ValidationError("child-reason", "only with the child flag")
    if date_of_birth is not None and today is not None and date_of_birth > today:
        raise ValidationError("dob", f"{date_of_birth.isoformat()} is in the future (today is {today.isoformat()})")
    if date_of_birth is not None and today is not None:
        # A label limit: every dose would be hard-stopped, so no course of doses is opened for the
        # patient either. Not overridden; a patient who becomes old enough has the course opened then.
        too_young = under_minimum_age(date_of_birth, today, chosen, "today", f"today is {today.isoformat()}")
        if too_young is not None:
            eligible = minimum_age_reached_on(date_of_birth, chosen)
            raise CourseBlocked(
                [
                    f"no {chosen.brand_name} course: {too_young}. A label limit, not overridden"
                    + (f"; the course can be opened from {eligible.isoformat()}" if eligible is not None else "")
                ]
            )
    return Course(
        mrn=mrn,
        monograph_id=monograph.id,
        hsct_planned=bool(hsct_planned),
        is_child=bool(is_child),
        date_of_birth=date_of_birth,
        child_reason=reason,
        regimen=chosen.regimen.id if chosen.regimen is not None else "",
    )


def child_rules(course: Course, today: date, policy: SitePolicy | None = None) -> tuple[bool, str]:
    """Whether the children's thresholds apply today, and why: the pharmacist's flag with its reason, else the age."""
    policy = policy or site_defaults()
    if course.is_child:
        return True, f"child flag: {course.child_reason}" if course.child_reason else "child flag"
    if course.date_of_birth is None:
        return False, "no date of birth on the course: the adults' threshold applies"
    from .identity import completed_years

    years = completed_years(course.date_of_birth, today)
    adult = policy.adult_from_age_years
    return years < adult, f"{format_age(years)} (born {course.date_of_birth.isoformat()}; adults from {adult})"


def _not_future(field_name: str, value: date, today: date) -> date:
    if value > today:
        raise ValidationError(field_name, f"{value.isoformat()} is in the future (today is {today.isoformat()})")
    return value


def _max_blasts() -> float:
    """validation.toml [plausibility.blasts]: a bigger count is a typo, and once stored it would be shown forever."""
    return plausible("blasts").high


def _refuse_a_fractional_bare_count(per_mm3: Any, typed: str, number: float) -> None:
    """A bare blast count with a decimal point or a fraction is refused: cells per mm³ are a whole
    number, so '12.5' is a count in 10⁹/L (12,500 per mm³, above the cytoreduction threshold) that
    b50a880 stored as 12.5 per mm³, under it; '0.500' read as 0.5 was 500 per mm³ under-read a
    thousandfold. '15.0' is refused too: nobody writes a count per mm³ with a point, a lab in 10⁹/L does."""
    text = typed if isinstance(per_mm3, str) else repr(number)
    fractional = number != int(number) or (isinstance(per_mm3, str) and "." in typed)
    if not fractional:
        return
    shown = text.replace(",", "")
    try:
        as_given = Decimal(shown)
    except ArithmeticError:
        as_given = Decimal(repr(number))
    thousandfold = as_given * 1000
    whole = thousandfold == thousandfold.to_integral_value()
    plain = format_number(thousandfold, 3)
    suggestion = f"type {int(thousandfold)}, or {shown} x10^9/L" if whole else f"type {shown} x10^9/L"
    if thousandfold > Decimal(repr(_max_blasts())):
        suggestion = f"over {format_number(_max_blasts(), 0)} per mm³: check the count"
    raise ValidationError(
        "blasts",
        f"'{text}' is not accepted: the blast count is per mm³, a whole number such as 12500; {shown} × 10⁹/L is {plain} per mm³ ({suggestion})",
    )


def record_blasts(course: Course, per_mm3: Any, measured_on: Any, today: date) -> None:
    """Circulating (peripheral) blasts before the first dose, a pint quantity or a number per mm³."""
    if isinstance(per_mm3, Quantity):
        quantity = per_mm3
    else:
        from .numbers import read_number

        from .dose_modification import split_count_unit

        # "1,500" is 1500; "1,5" was read as 15 when the comma was simply dropped: refused now
        accepted = f"0 to {format_number(_max_blasts(), 0)} circulating blasts per mm³, e.g. 1,000, or with the unit, e.g. 1.5 x10^9/L"
        typed = str(per_mm3).strip()
        # A count with its unit ("12.5 x10^9/L", "12500/uL") is converted: the field is per mm³, and a
        # count in 10⁹/L typed bare (12.5 for 12,500 per mm³) would read under the cytoreduction threshold.
        with_unit = split_count_unit(typed) if isinstance(per_mm3, str) else None
        unit = ""
        if with_unit is not None:
            typed, unit = with_unit[0].strip(), with_unit[1]
        if isinstance(per_mm3, str) and re.fullmatch(r"[1-9]\d{0,2}(?:\.\d{3})+", typed):
            # '12.000' is twelve thousand where the point groups thousands, and was read as 12: under
            # the cytoreduction threshold it is above. ('12.5' is read as typed; so is '0.500': a
            # thousands group never leads with a 0, so the point there can only be a decimal one.)
            grouped = typed.replace(".", ",")
            raise ValidationError(
                "blasts",
                f"'{typed}': a point groups thousands in some places and marks decimals in others; type the count as {grouped} or {typed.replace('.', '')}",
            )
        number = read_number("blasts", typed if with_unit is not None else per_mm3, accepted)
        if with_unit is None:
            _refuse_a_fractional_bare_count(per_mm3, typed, number)
        # a µL is a mm³; 10⁹/L is 1,000 per mm³, multiplied in decimal as typed (pint's float factor
        # made 12.5 x10^9/L 12,499.999999999996)
        quantity = Quantity(float(Decimal(repr(number)) * 1000) if unit == COUNT_UNIT else number, BLAST_UNIT)
    try:
        value = float(quantity.to(BLAST_UNIT).magnitude)
    except Exception:
        raise ValidationError("blasts", f"'{per_mm3}' is not a count per volume; give blasts per mm³") from None
    if value != value or not plausible("blasts").low <= value <= _max_blasts():
        raise ValidationError("blasts", f"'{per_mm3}' is not accepted; must be 0 to {format_number(_max_blasts(), 0)} per mm³")
    if abs(value - round(value)) > 1e-6:
        # with its unit, a fraction of a cell per mm³ ('12.5/uL', '1.2345 x10^9/L'): no count is that, and a
        # stored fraction is what the first-dose gate takes for a bare count typed in 10⁹/L
        raise ValidationError(
            "blasts",
            f"'{per_mm3}' is {format_number(value, 4)} per mm³, not a whole count; give the count per mm³, e.g. 1234, or in 10⁹/L as the lab reports it",
        )
    course.blasts_per_mm3 = float(round(value))
    course.blasts_measured_on = _not_future("date", _date("date", measured_on), today)


def record_weight(course: Course, kg: float, measured_on: Any, today: date, use_for_dosing: bool = False) -> None:
    try:
        value = float(kg)
    except (TypeError, ValueError):
        raise ValidationError("weight", f"'{kg}' is not a number of kg") from None
    if value != value or value <= 0 or value == float("inf"):
        raise ValidationError("weight", f"'{kg}' is not accepted; must be more than 0 kg")
    record = WeightRecord(value, _not_future("date", _date("date", measured_on), today))
    course.latest_weight = record
    if use_for_dosing or course.dosing_weight is None:
        course.dosing_weight = record


def record_response(course: Course, assessed_on: Any, response: str, mrd_negative: bool | None, today: date, *, monograph: Monograph) -> ResponseAssessment:
    """Record a response assessment: one of the course's drug's responses ([dosing] responses)."""
    m = judged_by(course, monograph)
    if course.regimen:
        # A response recorded here would be read as deciding a dose the regimen decides.
        raise ValidationError(
            "response",
            f"the course for MRN {course.mrn} is the {course.regimen} regimen of {course.monograph_id}: "
            "its doses are decided by the regimen, and no response is recorded in it",
        )
    text = m.response_given(response)
    if text is None:
        raise ValidationError("response", f"is required: one of {', '.join(key for key, _ in m.response_choices())}")
    assessment = ResponseAssessment(_not_future("date", _date("date", assessed_on), today), text, None if mrd_negative is None else bool(mrd_negative))
    course.responses.append(assessment)
    course.responses.sort(key=lambda r: r.assessed_on)
    return assessment


def latest_response(course: Course, on_or_before: date | None = None) -> ResponseAssessment | None:
    found = [r for r in course.responses if on_or_before is None or r.assessed_on <= on_or_before]
    return max(found, key=lambda r: r.assessed_on) if found else None


def _last_dose_before(course: Course, number: int) -> date | None:
    earlier = [d.given_on for d in course.doses if d.cycle < number]
    return max(earlier) if earlier else None


def plan_for(course: Course, number: int, monograph: Monograph, policy: SitePolicy | None = None) -> CyclePlan:
    """The stored cycle `number` planned with what was given, assessed and decided (a child's on
    a child's dose days, by the course's date of birth)."""
    m = judged_by(course, monograph)
    record = course.cycle(number)
    assessment = latest_response(course, record.start)
    return plan_cycle(
        number,
        record.start,
        response=assessment.response if assessment else None,
        given={d.day: d.given_on for d in course.doses_of(number)},
        extend_to_28=record.extended_to_28,
        reduction=reduction_for_level(record.reduction_level, m),
        omitted_days=record.omitted_days,
        delayed_days=record.delayed_days,
        previous_dose=_last_dose_before(course, number),
        preparations={d.day: d.preparation_id for d in course.doses_of(number) if d.preparation_id},
        monograph=m,
        date_of_birth=course.date_of_birth,
        policy=policy,
    )


# -- limits -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CycleLimit:
    max_cycles: int
    rule: str  # hsct | hsct-third | no-hsct | no-response | discontinued
    why: str
    sources: tuple[RuleSource, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"max_cycles": self.max_cycles, "rule": self.rule, "why": self.why, "sources": [s.to_dict() for s in self.sources]}


def cycle_limit(course: Course, monograph: Monograph) -> CycleLimit:
    """How many cycles the label allows this patient now, which rule says so and why."""
    m = judged_by(course, monograph)
    started = len(course.cycles)
    if course.discontinued_on is not None:
        return CycleLimit(started, "discontinued", f"the course was discontinued on {course.discontinued_on.isoformat()}: {course.discontinued_reason}", ())
    if by_regimen(m):
        # The regimen's own cycles are its limit: no response, HSCT or remission rule of another drug applies.
        most = _max_cycles(m)
        regimen = m.regimen.id if m.regimen is not None else course.regimen
        return CycleLimit(
            most,
            "regimen",
            f"the {regimen} regimen of {m.brand_name} has {most} cycle{'s' if most != 1 else ''} ({m.fact('cycles.max_cycles_without_hsct').where})",
            _src(m, "cycles.max_cycles_without_hsct"),
        )
    reached_cr = any(m.in_remission(r.response) for r in course.responses)
    reached_mrd_negative = any(m.in_remission(r.response) and r.mrd_negative for r in course.responses)
    remission = m.remission_words()  # "CR/CRi"
    if course.hsct_planned:
        base = int(m.magnitude("cycles.max_cycles_with_hsct", ""))
        third = m.flag("cycles.third_cycle_with_hsct_if_not_cr_mrd_negative")
        if reached_mrd_negative or not third:
            limit = CycleLimit(
                base,
                "hsct",
                f"HSCT planned: {base} cycles" + (f" ({remission} with MRD negativity reached)" if reached_mrd_negative else ""),
                _src(m, "cycles.max_cycles_with_hsct"),
            )
        else:
            limit = CycleLimit(
                base + 1,
                "hsct-third",
                f"HSCT planned: {base} cycles; a {base + 1}rd may be considered because {remission} with MRD negativity has not been reached after {base}"
                if started >= base
                else f"HSCT planned: {base} cycles; a {base + 1}rd only if {remission} with MRD negativity is not reached after {base}",
                _src(m, "cycles.max_cycles_with_hsct", "cycles.third_cycle_with_hsct_if_not_cr_mrd_negative"),
            )
            if started < base:
                limit = CycleLimit(base, "hsct", limit.why, limit.sources)
    else:
        most = _max_cycles(m)
        limit = CycleLimit(most, "no-hsct", f"no HSCT planned: up to {most} cycles", _src(m, "cycles.max_cycles_without_hsct"))
    stop_after = int(m.magnitude("cycles.discontinue_without_cr_after_cycles", ""))
    if not reached_cr and started >= stop_after and limit.max_cycles > stop_after:
        return CycleLimit(
            stop_after,
            "no-response",
            f"no {remission} within {stop_after} cycles: discontinue (record an assessment showing {m.remission_words(' or ')} to continue)",
            _src(m, "cycles.discontinue_without_cr_after_cycles"),
        )
    return limit


# -- weight ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightCheck:
    needs_recheck: bool
    reasons: tuple[str, ...]
    change_percent: float | None
    threshold_percent: float
    age_days: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weight_change_check(
    dosing_kg: float | None,
    dosing_on: date | None,
    new_kg: float | None,
    today: date,
    is_child: bool = False,
    policy: SitePolicy | None = None,
    child_why: str = "",
) -> WeightCheck:
    """BSA re-check when a new weight differs from the dosing weight by the site's threshold, or it is too old."""
    policy = policy or site_defaults()
    threshold = policy.weight_change_percent_child if is_child else policy.weight_change_percent_adult
    reasons: list[str] = []
    if dosing_kg is None or dosing_on is None:
        return WeightCheck(True, ("no dosing weight recorded",), None, threshold, None)
    change = None
    if new_kg is not None:
        change = (new_kg - dosing_kg) / dosing_kg * 100
        # Compared after rounding to the shown precision so that "10%" on screen means the flag is up.
        if round(abs(change), 6) >= threshold:
            reasons.append(
                f"weight {format_amount(new_kg, 'kg')} differs from the dosing weight {format_amount(dosing_kg, 'kg')} by "
                f"{format_number(abs(change), 1)}% (site threshold {format_number(threshold, 1)}% for "
                f"{'children' if is_child else 'adults'}{'; ' + child_why if child_why else ''}): re-check BSA and dose"
            )
    age = (today - dosing_on).days
    max_age = policy.weight_max_age.days
    if age > max_age:
        reasons.append(f"the dosing weight is {format_amount(age, 'day')} old (site limit {format_amount(max_age, 'day')}): weigh the patient and re-check BSA")
    return WeightCheck(bool(reasons), tuple(reasons), change, threshold, age)


def weight_recheck(course: Course, today: date, policy: SitePolicy | None = None) -> WeightCheck:
    dosing = course.dosing_weight
    latest = course.latest_weight
    child, why = child_rules(course, today, policy)
    return weight_change_check(
        dosing.kg if dosing else None,
        dosing.measured_on if dosing else None,
        latest.kg if latest and latest is not dosing else None,
        today,
        child,
        policy,
        why,
    )


# -- holds, discontinuations, responses --------------------------------------------------------------


def active_holds(course: Course) -> list[AdviceRecord]:
    """Holds that stand: accepted (or not yet decided) and not followed by recovery values for that rule."""
    standing: list[AdviceRecord] = []
    for record in course.advice:
        clears = RECOVERY_CLEARS.get(record.advice.code, ())
        if clears:
            standing = [h for h in standing if h.advice.code not in clears]
        held_codes = {code for codes in RECOVERY_CLEARS.values() for code in codes}
        if record.advice.action in HOLD_ACTIONS and record.advice.code in held_codes:
            if record.decision is None or record.decision.accepted:
                standing.append(record)
    return standing


def open_discontinuations(course: Course) -> list[AdviceRecord]:
    """Advice to discontinue permanently that no pharmacist has yet answered: it blocks from the moment it is stored."""
    return [r for r in course.advice if r.advice.permanent and r.decision is None]


def declined_discontinuations(course: Course) -> list[str]:
    """Each decision not to follow advice to discontinue, as it is shown on the course and every later sheet."""
    return [
        f"advice #{r.id or '?'} ({r.advice.code}: {r.advice.message}) NOT followed: decided by {r.decision.decided_by}, "
        f"recorded by pharmacist {r.decision.recorded_by} on {r.decision.at.date().isoformat()}: {r.decision.reason}"
        for r in course.advice
        if r.advice.permanent and r.decision is not None and not r.decision.accepted
    ]


def advice_blocks(course: Course, first_dose_of_cycle: bool) -> list[str]:
    """Why stored advice stops the next dose: an open discontinuation, or a hold without recovery values."""
    blocks = [
        f"advice #{r.id or '?'} to discontinue permanently ({r.advice.code}: {r.advice.message}) is open: no dose until a pharmacist records the decision"
        for r in open_discontinuations(course)
    ]
    for hold in active_holds(course):
        if hold.advice.action is Action.HOLD_NEXT_CYCLE and not first_dose_of_cycle:
            continue
        state = "awaiting a decision" if hold.decision is None else "accepted"
        blocks.append(
            f"hold ({hold.advice.code}, advice #{hold.id or '?'}, {state}): {hold.advice.message}; "
            "record recovery values that meet the label's criteria for this rule (labs, or an assessment)"
        )
    return blocks


def last_bilirubin_x_uln(course: Course) -> float | None:
    """The latest bilirubin (× ULN) stored with liver advice, to see whether it is rising."""
    for record in reversed(course.advice):
        value = record.advice.details.get("bilirubin_x_uln")
        if value is not None:
            return float(value)
    return None


def loss_of_response(course: Course, monograph: Monograph) -> str | None:
    """The latest response is no remission, after a remission (BESPONSA: 'none' after CR/CRi): the
    remission is lost, continuation is to be reassessed. Which responses are a remission, the monograph says."""
    m = judged_by(course, monograph)
    reached = None
    for assessment in course.responses:
        if m.in_remission(assessment.response):
            reached = assessment
        elif reached is not None and assessment is course.responses[-1]:
            return (
                f"loss of response: {m.response_words(assessment.response)} on {assessment.assessed_on.isoformat()} after "
                f"{m.response_words(reached.response)} on {reached.assessed_on.isoformat()}: reassess continuation"
            )
    return None


# -- operations -----------------------------------------------------------------------------------


def first_dose_block(course: Course, monograph: Monograph, on: date | None = None, policy: SitePolicy | None = None) -> str | None:
    """Why the course's first dose may not be given yet (cytoreduction, or a count too old on `on`), or None."""
    m = judged_by(course, monograph)
    fact = m.fact("cycles.cytoreduction_max_peripheral_blasts")
    limit = float(fact.value.to(BLAST_UNIT).magnitude)
    shown = f"{format_number(limit, 0)}/mm³"
    if course.blasts_per_mm3 is None:
        return f"circulating blasts before the first dose are not recorded; they must be at or below {shown} ({fact.citation})"
    stored = course.blasts_per_mm3
    if stored != round(stored) and stored <= limit:
        # Recorded before a bare count with a fraction was refused (b50a880 stored '0.500' as 0.5): it is
        # kept and shown as stored, but it cannot clear the gate: read in 10⁹/L it is a thousand times more.
        return (
            f"the circulating blast count {format_number(stored, 4)}/mm³ is not a whole count: it was probably typed in "
            f"10⁹/L ({format_number(Decimal(repr(stored)) * 1000, 3)}/mm³); record it again per mm³, e.g. 12500, "
            f"or with its unit, e.g. 12.5 x10^9/L, before the first dose (cytoreduction gate)"
        )
    if on is not None and course.blasts_measured_on is not None:
        max_hours = (policy or site_defaults()).blast_count_max_age_hours
        # Only the date is kept: a count from N days ago is taken as N × 24 hours old, the older reading.
        age_hours = (on - course.blasts_measured_on).days * 24
        if age_hours >= max_hours:
            return (
                f"the circulating blast count of {course.blasts_measured_on.isoformat()} is "
                f"{format_amount((on - course.blasts_measured_on).days, 'day')} old (site limit {format_amount(max_hours, 'hour')}): "
                "record a current count before the first dose (cytoreduction gate)"
            )
    if course.blasts_per_mm3 > limit:
        return (
            f"circulating blasts {format_number(course.blasts_per_mm3, 0)}/mm³ are above {shown}: cytoreduce "
            f"(hydroxyurea, steroids and/or vincristine) before the first dose ({fact.citation})"
        )
    return None


def start_cycle(course: Course, start: Any, today: date, extend_to_28: bool = False, extension_reason: str = "", *, monograph: Monograph) -> CycleRecord:
    m = judged_by(course, monograph)
    start = _date("start", start)
    number = len(course.cycles) + 1
    blocks: list[str] = []
    if course.discontinued_on is not None:
        blocks.append(f"the course was discontinued on {course.discontinued_on.isoformat()}: {course.discontinued_reason}")
    blocks += advice_blocks(course, True)
    limit = cycle_limit(course, m)
    if number > limit.max_cycles and course.discontinued_on is None:
        blocks.append(f"cycle {number} is beyond the limit: {limit.why}")
    if course.cycles:
        previous = plan_for(course, course.cycles[-1].number, m)
        if previous.doses and not previous.complete:
            open_days = ", ".join(str(d.day) for d in previous.doses if d.status == "planned")
            blocks.append(f"cycle {previous.cycle} still has Day {open_days} neither given nor omitted")
        if start < previous.next_cycle_start:
            blocks.append(
                f"cycle {number} may start on or after {previous.next_cycle_start.isoformat()} (cycle {previous.cycle} ends {previous.end.isoformat()})"
            )
        for earlier in course.cycles:
            if start <= earlier.start:
                raise ValidationError("start", f"{start.isoformat()} is not after cycle {earlier.number}'s start {earlier.start.isoformat()}")
    if by_regimen(m) and blocks:
        raise CourseBlocked(blocks)  # no response decides a regimen's cycle: its limit is the refusal
    if number >= _later_from(m) and latest_response(course, start) is None:
        raise ValidationError(
            "response",
            f"record a response assessment ({', '.join(key for key, _ in m.response_choices())}) on or before {start.isoformat()}: it decides cycle {number}'s dose per m²",
        )
    if blocks:
        raise CourseBlocked(blocks)
    _refuse_far_ahead(start, today, number, m)
    record = CycleRecord(number=number, start=start, reduction_level=course.reduction_level)
    if extend_to_28:
        _refuse_no_extension(m)
        if number >= _later_from(m):
            raise ValidationError("extend-to-28", f"applies to cycle 1 only; cycle {number} is already {cycle_length_days(number, False, m)} days")
        if not str(extension_reason or "").strip():
            raise ValidationError("reason", f"say why cycle 1 is extended (the label: {m.fact('cycles.first_cycle_extended_length').where})")
        record.extended_to_28, record.extension_reason = True, extension_reason.strip()
    if course.cycles:
        check_no_re_escalation(reduction_for_level(course.cycles[-1].reduction_level, m), reduction_for_level(record.reduction_level, m), m)
    course.cycles.append(record)
    return record


def extend_first_cycle(course: Course, reason: str, monograph: Monograph) -> CycleRecord:
    m = judged_by(course, monograph)
    record = course.cycle(1)
    _refuse_no_extension(m)
    if len(course.cycles) > 1:
        raise ValidationError("cycle", "cycle 1 can no longer be extended: cycle 2 has started")
    if not str(reason or "").strip():
        raise ValidationError("reason", f"say why cycle 1 is extended (the label: {m.fact('cycles.first_cycle_extended_length').where})")
    record.extended_to_28, record.extension_reason = True, reason.strip()
    plan_for(course, 1, m)  # validates
    return record


def check_dose(
    course: Course, cycle: int, day: int, given_on: date, monograph: Monograph, labs_at: datetime | None = None, policy: SitePolicy | None = None
) -> tuple[CyclePlan, list[str]]:
    """The plan with this dose added, and the hard stops that recording it would meet.

    With `labs_at` (the instant the dose was given, or the best the caller knows) the checks prep new
    makes are made too: the labs the dose needed (labs_block, overrides counted) and, for the course's
    first dose, the course-start checklist. A dose recorded without them is a deviation: it needs
    the override reason that record_dose keeps with it."""
    m = judged_by(course, monograph)
    record = course.cycle(cycle)
    blocks: list[str] = []
    if course.discontinued_on is not None:
        blocks.append(f"the course was discontinued on {course.discontinued_on.isoformat()}: {course.discontinued_reason}")
    if not course.doses:
        reason = first_dose_block(course, m, given_on)
        if reason:
            blocks.append(reason)
    blocks += advice_blocks(course, day == m.dose_days[0])
    assessment = latest_response(course, record.start)
    given = {d.day: d.given_on for d in course.doses_of(cycle)}
    given[day] = given_on
    plan = plan_cycle(
        cycle,
        record.start,
        response=assessment.response if assessment else None,
        given=given,
        extend_to_28=record.extended_to_28,
        reduction=reduction_for_level(record.reduction_level, m),
        omitted_days=record.omitted_days,
        delayed_days=record.delayed_days,
        previous_dose=_last_dose_before(course, cycle),
        monograph=m,
        date_of_birth=course.date_of_birth,
        policy=policy,
    )
    before = set(plan_for(course, cycle, m, policy).hard_stops)
    blocks += [s for s in plan.hard_stops if s not in before]
    if labs_at is not None and not any(d.cycle == cycle and d.day == day for d in course.doses):
        lab_block = labs_block(course, labs_at, cycle, day, policy, monograph=m)
        if lab_block:
            blocks.append(lab_block)
        if not course.doses:
            blocks += start_checklist.missing(course, m)
    return plan, blocks


def record_dose(
    course: Course,
    cycle: Any,
    day: Any,
    given_on: Any,
    today: date,
    preparation_id: str | None = None,
    override_reason: str | None = None,
    *,
    monograph: Monograph,
    labs_at: datetime | None = None,
    policy: SitePolicy | None = None,
) -> DoseGiven:
    """Record a dose given. Hard stops raise CourseBlocked unless a pharmacist's override reason is given
    (then kept with the dose: a deviation). `labs_at`: check the labs as prep new does (check_dose)."""
    m = judged_by(course, monograph)
    cycle = whole_number("cycle", cycle, range(1, _max_cycles(m) + 1), m.cycle_choices())
    day = _dose_day(m, day, "day")
    given_on = _not_future("date", _date("date", given_on), today)
    if any(d.day == day for d in course.doses_of(cycle)):
        raise ValidationError("day", f"cycle {cycle} Day {day} is already recorded as given")
    plan, blocks = check_dose(course, cycle, day, given_on, m, labs_at, policy)
    if blocks and not str(override_reason or "").strip():
        raise CourseBlocked(blocks)
    dose = DoseGiven(cycle, day, given_on, (preparation_id or None), plan.dose(day).mg_per_m2, override_reason.strip() if blocks and override_reason else None)
    course.doses.append(dose)
    course.doses.sort(key=lambda d: (d.cycle, d.day))
    return dose


def raise_advice(course: Course, advice: list[Advice], raised_on: date) -> list[AdviceRecord]:
    records = [AdviceRecord(a, raised_on) for a in advice]
    course.advice.extend(records)
    return records


def _next_open_day(course: Course, m: Monograph) -> tuple[int, int] | None:
    if not course.cycles:
        return None
    plan = plan_for(course, course.cycles[-1].number, m)
    for dose in plan.doses:
        if dose.status == "planned":
            return plan.cycle, dose.day
    return None


def decide(course: Course, record: AdviceRecord, decision: Decision, monograph: Monograph) -> AdviceRecord:
    """Record the clinician's decision; an accepted advice changes the course as the label says."""
    m = judged_by(course, monograph)
    if record.decision is not None:
        raise ValidationError("advice", f"advice {record.id or record.advice.code} was already decided on {format_instant(record.decision.at)}")
    if decision.advice_code != record.advice.code:
        raise ValidationError("advice", f"the decision is for '{decision.advice_code}', not '{record.advice.code}'")
    record.decision = decision
    if not decision.accepted:
        return record
    action = record.advice.action
    if action is Action.REDUCE_NEXT_CYCLE:
        course.reduction_level = max(course.reduction_level, 1)
    elif action is Action.TWO_DOSES_PER_CYCLE:
        course.reduction_level = max(course.reduction_level, 2)
    elif action in (Action.DISCONTINUE, Action.CONSIDER_DISCONTINUATION, Action.STOP_COURSE):
        if course.discontinued_on is None:
            course.discontinued_on = decision.at.date()
            course.discontinued_reason = f"{record.advice.message} (decided by {decision.decided_by}: {decision.reason})"
    elif action in (Action.OMIT_NEXT_DOSE, Action.DELAY_NEXT_DOSE, Action.HOLD_DOSE):
        target = (record.advice.cycle, record.advice.day) if record.advice.cycle and record.advice.day else _next_open_day(course, m)
        if target is None:
            return record
        cycle_record = course.cycle(target[0])
        if action is Action.OMIT_NEXT_DOSE:
            cycle_record.omitted_days = tuple(sorted({*cycle_record.omitted_days, target[1]}))
        else:
            cycle_record.delayed_days = tuple(sorted({*cycle_record.delayed_days, target[1]}))
    return record


# -- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextDose:
    cycle: int
    day: int
    planned: date
    earliest: date
    latest: date
    mg_per_m2: float | None
    state: str  # upcoming | due | overdue
    blocked_by: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # not blocking, but to act on before preparing (BSA re-check)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "day": self.day,
            "planned": self.planned.isoformat(),
            "earliest": self.earliest.isoformat(),
            "latest": self.latest.isoformat(),
            "mg_per_m2": self.mg_per_m2,
            "state": self.state,
            "blocked_by": list(self.blocked_by),
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class CourseStatus:
    mrn: str
    hsct_planned: bool
    today: date
    current_cycle: int | None
    plan: CyclePlan | None
    plans: tuple[CyclePlan, ...]
    next_dose: NextDose | None
    next_cycle_allowed: bool
    is_last_cycle: bool
    why_last: str
    limit: CycleLimit
    advice: tuple[Advice, ...]  # computed from the course today
    open_advice: tuple[AdviceRecord, ...]  # recorded and not yet decided
    blocks: tuple[str, ...]
    weight: WeightCheck
    reduction: DoseReduction
    discontinued: bool
    course: Course
    monograph: Monograph  # the course's drug, by which it was judged
    labs_needed: tuple[str, ...] = ()  # for the next dose; empty when nothing is missing (or overridden)

    def to_dict(self) -> dict[str, Any]:
        c = self.course
        return {
            "mrn": self.mrn,
            "drug": c.monograph_id,
            "regimen": c.regimen or None,  # None: a drug whose dose the cycle and response decide
            "hsct_planned": self.hsct_planned,
            "is_child": child_rules(c, self.today)[0],
            "child_why": child_rules(c, self.today)[1],
            "child_flag": c.is_child,
            "date_of_birth": c.date_of_birth.isoformat() if c.date_of_birth else None,
            "today": self.today.isoformat(),
            "current_cycle": self.current_cycle,
            "next_dose": self.next_dose.to_dict() if self.next_dose else None,
            "next_cycle_allowed": self.next_cycle_allowed,
            "is_last_cycle": self.is_last_cycle,
            "why_last": self.why_last,
            "limit": self.limit.to_dict(),
            "discontinued": self.discontinued,
            "discontinued_on": c.discontinued_on.isoformat() if c.discontinued_on else None,
            "discontinued_reason": c.discontinued_reason or None,
            "blocks": list(self.blocks),
            "advice": [a.to_dict() for a in self.advice],
            "open_advice": [r.to_dict() for r in self.open_advice],
            "advice_history": [r.to_dict() for r in c.advice],
            "holds": [r.to_dict() for r in active_holds(c)],
            "declined_discontinuations": declined_discontinuations(c),
            "weight": self.weight.to_dict(),
            "dosing_weight": {"kg": c.dosing_weight.kg, "measured_on": c.dosing_weight.measured_on.isoformat()} if c.dosing_weight else None,
            "latest_weight": {"kg": c.latest_weight.kg, "measured_on": c.latest_weight.measured_on.isoformat()} if c.latest_weight else None,
            "labs": [r.to_dict() for r in c.labs],
            "checklist": c.checklist.to_dict() if c.checklist else None,
            "checklist_lines": start_checklist.lines(c, self.monograph),
            "labs_needed": list(self.labs_needed),
            "labs_after_dose_due": liver_after_due(c),
            "lab_overrides": [o.to_dict() for o in c.lab_overrides],
            "blasts_per_mm3": c.blasts_per_mm3,
            "blasts_measured_on": c.blasts_measured_on.isoformat() if c.blasts_measured_on else None,
            "reduction": self.reduction.to_dict(),
            "responses": [{"assessed_on": r.assessed_on.isoformat(), "response": r.response, "mrd_negative": r.mrd_negative} for r in c.responses],
            "cycles": [p.to_dict() for p in self.plans],
            "doses_given": [
                {
                    "cycle": d.cycle,
                    "day": d.day,
                    "given_on": d.given_on.isoformat(),
                    "preparation_id": d.preparation_id,
                    "mg_per_m2": d.mg_per_m2,
                    "override_reason": d.override_reason,
                }
                for d in c.doses
            ],
        }


def _cycle_delay_advice(days_late: int, reduction_level: int, cycle: int, day: int, m: Monograph) -> list[Advice]:
    """A cycle start held back: the interruption rules about the NEXT cycle (reduce, stop), not the in-cycle ones."""
    if days_late < 1:
        return []
    keep = (Action.REDUCE_NEXT_CYCLE, Action.TWO_DOSES_PER_CYCLE, Action.DISCONTINUE, Action.CONSIDER_DISCONTINUATION)
    return [
        Advice(a.code, a.action, f"cycle {cycle} start held {days_late} days: {a.message}", a.sources, cycle, day, a.details)
        for a in interruption_advice(days_late, reduction_level, monograph=m)
        if a.action in keep
    ]


def _refuse_far_ahead(start: date, today: date, number: int, m: Monograph) -> None:
    """A cycle starts at most one cycle length ahead of today: 2099-01-01 typed for 2026-01-09 was
    stored, and the course then waited 73 years for its Day 1 (every other course date refuses the
    future; a start is a plan, so it may be ahead, but no further than the cycle it follows).

    Nor further back than MAX_EPISODE_DAYS (ten years, the program's bound on an interruption): a
    Day 1 of 1900-01-01 was stored, and every status of the course after it failed working out the
    interruption of its overdue doses (46,000 days), so the course could no longer be shown or dosed."""
    if start < today - timedelta(days=MAX_EPISODE_DAYS):
        raise ValidationError(
            "start",
            f"{start.isoformat()} is more than {MAX_EPISODE_DAYS:,} days ago (today is {today.isoformat()}): a typo? e.g. {today.isoformat()}",
        )
    ahead = cycle_length_days(number, False, m)
    if start > today + timedelta(days=ahead):
        raise ValidationError(
            "start",
            f"{start.isoformat()} is more than {ahead} days ahead (today is {today.isoformat()}): "
            f"a cycle is started at most one cycle length ahead; e.g. {(today + timedelta(days=1)).isoformat()}",
        )


def move_cycle_start(course: Course, start: Any, today: date, monograph: Monograph) -> CycleRecord:
    """Move the latest cycle's start (its Day 1) while none of its doses is given, e.g. after a hold."""
    m = judged_by(course, monograph)
    start = _date("start", start)
    if not course.cycles:
        raise ValidationError("cycle", "no cycle has been started")
    record = course.cycles[-1]
    if course.doses_of(record.number):
        raise ValidationError("start", f"cycle {record.number} already has a dose given; its start can no longer move")
    _refuse_far_ahead(start, today, record.number, m)
    if len(course.cycles) > 1:
        previous = plan_for(course, course.cycles[-2].number, m)
        if start < previous.next_cycle_start:
            raise CourseBlocked([f"cycle {record.number} may start on or after {previous.next_cycle_start.isoformat()}"])
    old_start, record.start = record.start, start
    try:
        plan_for(course, record.number, m)  # the response on file by the new date still decides the dose
    except ValidationError:
        record.start = old_start
        raise
    return record


def _instant(today: date, now: datetime | None) -> datetime:
    """The instant lab ages are measured at: `now`, or (a date alone) the last second of that local day."""
    return now if now is not None else datetime.combine(today, time(23, 59, 59)).astimezone()


def course_status(course: Course, today: date, monograph: Monograph, policy: SitePolicy | None = None, now: datetime | None = None) -> CourseStatus:
    """Where the course stands today: what is next, whether this cycle is the last and why, what the label advises."""
    m = judged_by(course, monograph)
    today = _date("today", today)
    at = _instant(today, now)
    plans = tuple(plan_for(course, r.number, m, policy) for r in course.cycles)
    plan = plans[-1] if plans else None
    limit = cycle_limit(course, m)
    weight = weight_recheck(course, today, policy)
    discontinued = course.discontinued_on is not None
    advice: list[Advice] = []
    blocks: list[str] = []
    if course.discontinued_on is not None:
        blocks.append(f"course discontinued on {course.discontinued_on.isoformat()}: {course.discontinued_reason}")
    if not course.doses:
        reason = first_dose_block(course, m, today, policy)
        if reason:
            blocks.append(reason)
            advice.append(Advice("cytoreduction", Action.BLOCK_FIRST_DOSE, reason, _src(m, "cycles.cytoreduction_max_peripheral_blasts")))
    lost = loss_of_response(course, m)
    if lost:
        advice.append(Advice("loss-of-response", Action.CONSIDER_DISCONTINUATION, lost, _src(m, "cycles.discontinue_without_cr_after_cycles")))
    if weight.needs_recheck:
        advice.append(Advice("weight-recheck", Action.RECHECK_BSA, "; ".join(weight.reasons), (), details=weight.to_dict()))

    started = len(course.cycles)
    next_cycle_allowed = not discontinued and started < limit.max_cycles
    current = plan.cycle if plan else None
    is_last = current is not None and current >= limit.max_cycles
    why_last = ""
    if is_last:
        why_last = f"cycle {current} is the last: {limit.why}"
    if limit.rule == "no-response" and plan is not None and (plan.complete or today > plan.end):
        # Only once the 3rd cycle is done: a remission documented during it still counts.
        advice.append(Advice("no-response-stop", Action.STOP_COURSE, limit.why, limit.sources))

    next_dose: NextDose | None = None
    if plan is not None and not discontinued:
        for dose in plan.doses:
            if dose.status == "planned":
                state = "upcoming" if today < dose.earliest else ("due" if today <= dose.latest else "overdue")
                dose_blocks = list(blocks) + advice_blocks(course, dose.day == m.dose_days[0])
                dose_blocks += start_checklist.missing(course, m) if not course.doses else []
                lab_block = labs_block(course, at, plan.cycle, dose.day, policy, monograph=m)
                dose_blocks += [lab_block] if lab_block else []
                next_dose = NextDose(plan.cycle, dose.day, dose.planned, dose.earliest, dose.latest, dose.mg_per_m2, state, tuple(dose_blocks))
                if state == "overdue":
                    late = (today - dose.planned).days
                    if dose.day == m.dose_days[0]:
                        # Day 1 is the cycle's start: a late Day 1 moves the cycle, it is not omitted.
                        advice.append(
                            Advice(
                                "cycle-start-passed",
                                Action.HOLD_NEXT_CYCLE,
                                f"cycle {plan.cycle} was to start on {dose.planned.isoformat()} and Day 1 is not recorded: "
                                "record it, or move the cycle's start to the day Day 1 is given",
                                _src(m, "cycles.dose_days"),
                                plan.cycle,
                                dose.day,
                                {"days_late": late},
                            )
                        )
                        advice += _cycle_delay_advice(late, course.reduction_level, plan.cycle, dose.day, m)
                    else:
                        advice += [
                            Advice(
                                a.code,
                                a.action,
                                f"cycle {plan.cycle} Day {dose.day} (planned {dose.planned.isoformat()}) not given: {a.message}",
                                a.sources,
                                plan.cycle,
                                dose.day,
                                a.details,
                            )
                            for a in interruption_advice(late, course.reduction_level, monograph=m)
                        ]
                break
    if next_dose is None and next_cycle_allowed:
        number = started + 1
        start = plan.next_cycle_start if plan else today
        day1 = m.dose_days[0]
        dose_blocks = list(blocks) + advice_blocks(course, True)
        dose_blocks += start_checklist.missing(course, m) if not course.doses else []
        lab_block = labs_block(course, at, number, day1, policy, monograph=m)
        dose_blocks += [lab_block] if lab_block else []
        mg: float | None = None
        assessment = latest_response(course, max(start, today))
        try:
            fact = m.mg_per_m2(number, day1, validate_response(number, day1, assessment.response if assessment else None, m))
            reduction = reduction_for_level(course.reduction_level, m)
            mg = float(Decimal(str(fact.value.to("mg/m**2").magnitude)) * (Decimal(1) - Decimal(str(reduction.reduce_pct)) / Decimal(100)))
        except ValidationError as exc:
            dose_blocks.append(f"record a response assessment: the {exc.field} {exc.message}")
        state = "upcoming" if today < start else "due"
        next_dose = NextDose(number, day1, start, start, start, mg, state, tuple(dose_blocks))
        if plan is not None and today > start:
            advice += _cycle_delay_advice((today - start).days, course.reduction_level, number, day1, m)
    elif next_dose is None and plan is not None and not discontinued and plan.complete:
        why_last = why_last or f"cycle {plan.cycle} is the last: {limit.why}"

    if next_dose is not None and weight.needs_recheck:
        next_dose = replace(next_dose, flags=tuple(f"BSA re-check: {r}" for r in weight.reasons))
    if next_dose is not None:
        next_dose = replace(next_dose, flags=next_dose.flags + tuple(f"labs: {d}" for d in liver_after_due(course)))
        low = low_counts_flag(course, at, m)
        if low:
            next_dose = replace(next_dose, flags=next_dose.flags + (f"labs: {low}",))
        next_dose = replace(next_dose, flags=next_dose.flags + tuple(qt_warnings(course, at, m)))
    open_advice = tuple(r for r in course.advice if r.decision is None and r.advice.needs_decision)
    needed = tuple(labs_needed(course, at, next_dose.cycle, next_dose.day, policy, monograph=m)) if next_dose is not None and not discontinued else ()
    return CourseStatus(
        mrn=course.mrn,
        hsct_planned=course.hsct_planned,
        today=today,
        current_cycle=current,
        plan=plan,
        plans=plans,
        next_dose=next_dose,
        next_cycle_allowed=next_cycle_allowed,
        is_last_cycle=is_last,
        why_last=why_last,
        limit=limit,
        advice=tuple(advice),
        open_advice=open_advice,
        blocks=tuple(blocks + [b for b in advice_blocks(course, True) if b not in blocks]),
        weight=weight,
        reduction=reduction_for_level(course.reduction_level, m),
        discontinued=discontinued,
        course=course,
        monograph=m,
        labs_needed=needed,
    )


# -- the bench dose comes from the course ---------------------------------------------------------


@dataclass(frozen=True)
class CourseOrder:
    """What the course says the dose to prepare is: cycle, day, response and reduction in force."""

    mrn: str
    cycle: int
    day: int
    response: str | None
    reduce_pct: float
    mg_per_m2: float | None
    earliest: date
    latest: date
    declined_discontinuations: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "on_file": True,
            "mrn": self.mrn,
            "cycle": self.cycle,
            "day": self.day,
            "response": self.response,
            "reduce_pct": self.reduce_pct,
            "mg_per_m2": self.mg_per_m2,
            "window": [self.earliest.isoformat(), self.latest.isoformat()],
            "declined_discontinuations": list(self.declined_discontinuations),
            "flags": list(self.flags),
        }


def _same_pct(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) < 1e-9


def order_from_course(
    course: Course,
    today: date,
    cycle: Any = None,
    day: Any = None,
    response: str | None = None,
    reduce_pct: Any = None,
    *,
    monograph: Monograph,
    policy: SitePolicy | None = None,
    now: datetime | None = None,
    date_of_birth: date | None = None,
) -> CourseOrder:
    """The dose the course has due today. Typed values must agree with it; a dose not due is CourseBlocked.

    cycle/day None: the course's next dose. A typed response or reduction that disagrees with the
    course is refused with both values, so that a reduction cannot be re-escalated at the bench and
    a CR cannot be dosed as no response. `date_of_birth` (the order's patient's) plans a course kept
    without one as the order is checked: a child on a child's dose days."""
    m = judged_by(course, monograph)
    if course.date_of_birth is None and date_of_birth is not None:
        course = replace(course, date_of_birth=date_of_birth)
    status = course_status(course, today, m, policy, now)
    if cycle is None and day is None:
        if status.next_dose is None:
            raise CourseBlocked([f"course-not-due: the course for MRN {course.mrn} has no further dose" + (f" ({status.why_last})" if status.why_last else "")])
        cycle, day = status.next_dose.cycle, status.next_dose.day
    elif cycle is None or day is None:
        raise ValidationError("cycle" if cycle is None else "day", "give both the cycle and the day, or neither (the course's next dose)")
    cycle = whole_number("cycle", cycle, range(1, _max_cycles(m) + 1), m.cycle_choices())
    day = _dose_day(m, day, "day")
    blocks: list[str] = []
    if course.discontinued_on is not None:
        blocks.append(f"course-discontinued: the course was discontinued on {course.discontinued_on.isoformat()}: {course.discontinued_reason}")
    limit = cycle_limit(course, m)
    if cycle > limit.max_cycles and course.discontinued_on is None:
        blocks.append(f"cycle-limit: cycle {cycle} is beyond the label's limit: {limit.why}")
    blocks += [f"advice-block: {b}" for b in advice_blocks(course, day == m.dose_days[0])]
    if not any(r.number == cycle for r in course.cycles):
        blocks.append(
            f"cycle-not-started: cycle {cycle} has not been started in the course for MRN {course.mrn}; "
            "a pharmacist starts the cycle in the course before its doses are prepared"
        )
        raise CourseBlocked(blocks)
    plan = plan_for(course, cycle, m, policy)
    if day not in [d.day for d in plan.doses]:
        blocks.append(f"dose-not-planned: cycle {cycle} Day {day} is not in the course: {plan.schedule_note}")
        raise CourseBlocked(blocks)
    dose = plan.dose(day)
    if dose.status == "given" and dose.given is not None:  # a given dose has its date (plan_cycle)
        blocks.append(f"dose-not-due: cycle {cycle} Day {day} was already given on {dose.given.isoformat()}")
    elif dose.status == "omitted":
        blocks.append(f"dose-omitted: cycle {cycle} Day {day} is omitted in the course ({'; '.join(dose.notes)})")
    elif not dose.earliest <= today <= dose.latest:
        window = dose.earliest.isoformat() if dose.earliest == dose.latest else f"{dose.earliest.isoformat()} to {dose.latest.isoformat()}"
        blocks.append(f"dose-not-due: cycle {cycle} Day {day} is due {window}; today is {today.isoformat()}")
    if not course.doses:
        reason = first_dose_block(course, m, today, policy)
        if reason:
            blocks.append(f"cytoreduction: {reason}")
    if not course.doses:
        blocks += start_checklist.missing(course, m)
    if dose.status == "planned":
        lab_block = labs_block(course, _instant(today, now), cycle, day, policy, monograph=m)
        if lab_block:
            blocks.append(lab_block)
    course_pct = float(plan.reduction.reduce_pct)
    if reduce_pct is not None and str(reduce_pct).strip() != "":
        try:
            typed_pct = float(reduce_pct)
        except (TypeError, ValueError):
            raise ValidationError("reduce-pct", f"'{reduce_pct}' is not a number; must be 0 to under 100") from None
        if not _same_pct(typed_pct, course_pct):
            blocks.append(
                f"course-reduction: the order says a {format_number(typed_pct, 1)}% reduction; the course records "
                f"{format_number(course_pct, 1)}% for cycle {cycle} (a reduced dose is never re-escalated; {m.fact('cycles.no_re_escalation').citation})"
            )
    course_response = plan.response
    if response is not None and str(response).strip():
        typed = str(response).strip().lower()
        if course_response is not None and typed != course_response:
            blocks.append(
                f"course-response: the order says response {m.response_words(typed)}; the course records {m.response_words(course_response)} for cycle {cycle}"
            )
    if blocks:
        raise CourseBlocked(blocks)
    flags = tuple(a.message for a in status.advice if a.code in ("loss-of-response", "weight-recheck"))
    flags += tuple(qt_warnings(course, _instant(today, now), m))
    return CourseOrder(
        course.mrn, cycle, day, course_response, course_pct, dose.mg_per_m2, dose.earliest, dose.latest, tuple(declined_discontinuations(course)), flags
    )
