"""One cycle of a course planned on its own: its dose days' dates, windows and doses per m².

What `infusion-prep schedule` prints and what course.py builds each cycle's plan with. Kept apart
from the course record (labs, checklists, advice, weight re-checks) so that `schedule` imports only
what a plan needs: its start-up is one of issue 19's targets. course.py re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Mapping

from .dose_modification import DoseReduction, RuleSource, reduction_for_level
from .errors import ValidationError, check_calendar_year, whole_number
from .formatting import format_age, format_amount, format_number
from .limits import SitePolicy, site_defaults
from .monograph import Monograph, Response, validate_response

DAY = timedelta(days=1)


# -- small validators -------------------------------------------------------------------------------


def _whole(field_name: str, value: Any, low: int, high: int) -> int:
    return whole_number(field_name, value, range(low, high + 1), f"{low} to {high}")


def _date(field_name: str, value: Any) -> date:
    # A date object is checked as typed text is: the screens pass dates, and a weight 'measured on'
    # 0001-01-01 or a cycle started then was stored from the course tab (the command line refused it).
    if isinstance(value, datetime):
        return check_calendar_year(field_name, value.date())  # type: ignore[no-any-return]
    if isinstance(value, date):
        return check_calendar_year(field_name, value)  # type: ignore[no-any-return]
    try:
        parsed = date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(field_name, f"'{value}' is not a date; use YYYY-MM-DD") from None
    checked: date = check_calendar_year(field_name, parsed)
    return checked


def parse_date(field_name: str, text: date | str) -> date:
    """An ISO date typed by a person (YYYY-MM-DD), or a date (a datetime: its date), refused with the field named."""
    return _date(field_name, text)


def _days(m: Monograph, path: str) -> int:
    return int(round(m.magnitude(path, "day")))


def _src(m: Monograph, *paths: str) -> tuple[RuleSource, ...]:
    return tuple(RuleSource.of(m.fact(p)) for p in paths)


def _later_from(m: Monograph) -> int:
    return int(m.raw["dosing"]["later_cycles_from"])


def _max_cycles(m: Monograph) -> int:
    return int(m.magnitude("cycles.max_cycles_without_hsct", ""))


def _dose_day(m: Monograph, value: Any, field_name: str) -> int:
    days = m.dose_days
    try:
        day = int(str(value).strip())
        if str(value).strip() != str(day):
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationError(field_name, f"'{value}' is not a dose day; must be one of {', '.join(map(str, days))}") from None
    if day not in days:
        raise ValidationError(field_name, f"Day {day} is not a dose day; must be one of {', '.join(map(str, days))}")
    return day


# -- one cycle --------------------------------------------------------------------------------------


DoseStatus = Literal["planned", "given", "omitted"]


@dataclass(frozen=True)
class PlannedDose:
    day: int
    planned: date
    earliest: date
    latest: date
    mg_per_m2: float | None  # None when the dose is omitted
    standard_mg_per_m2: float
    given: date | None
    status: DoseStatus  # "given" always has its `given` date; "omitted" may have one (a hard stop)
    preparation_id: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "planned": self.planned.isoformat(),
            "earliest": self.earliest.isoformat(),
            "latest": self.latest.isoformat(),
            "mg_per_m2": self.mg_per_m2,
            "standard_mg_per_m2": self.standard_mg_per_m2,
            "given": self.given.isoformat() if self.given else None,
            "status": self.status,
            "preparation_id": self.preparation_id,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class CyclePlan:
    cycle: int
    start: date
    length_days: int
    extended_to_28: bool
    next_cycle_start: date
    response: str | None
    reduction: DoseReduction
    doses: tuple[PlannedDose, ...]
    hard_stops: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    rules: tuple[RuleSource, ...] = ()
    monograph_id: str = ""
    monograph_revision: str = ""
    # A regimen of one cycle (MYLOTARG's induction): what it is the last cycle of; "" when a next may follow.
    last_of: str = ""
    # Why the cycle has fewer dose days than its regimen (a child's days), or "".
    schedule_note: str = ""

    @property
    def end(self) -> date:
        """The cycle's last day."""
        return self.start + (self.length_days - 1) * DAY

    def dose(self, day: int) -> PlannedDose:
        for dose in self.doses:
            if dose.day == day:
                return dose
        raise KeyError(day)

    @property
    def complete(self) -> bool:
        return all(d.status != "planned" for d in self.doses)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "cycle_length_days": self.length_days,
            "extended_to_28": self.extended_to_28,
            "next_cycle_start": self.next_cycle_start.isoformat(),
            "response": self.response,
            "reduction": self.reduction.to_dict(),
            "doses": [d.to_dict() for d in self.doses],
            "hard_stops": list(self.hard_stops),
            "warnings": list(self.warnings),
            "rules": [r.to_dict() for r in self.rules],
            "pending_verification": [f"{r.path}: {r.citation}" for r in self.rules if r.verify],
            "monograph_id": self.monograph_id,
            "monograph_revision": self.monograph_revision,
            "schedule_note": self.schedule_note,
        }

    def summary_lines(self, monograph: Monograph) -> list[str]:
        """The plan for people; the response in the words of the plan's drug (`monograph`, its own: "CRi")."""
        if self.monograph_id and self.monograph_id != monograph.id:
            raise ValueError(f"the plan is of {self.monograph_id}, not of {monograph.id}")
        words = monograph.response_words(self.response)
        response = f", response {words}" if self.response else ""
        extended = " (extended)" if self.extended_to_28 else ""
        lines = [
            f"Cycle {self.cycle}{response}: {self.start.isoformat()} to {self.end.isoformat()}, "
            f"{self.length_days} days{extended}; "
            + (f"the last cycle {self.last_of}" if self.last_of else f"next cycle from {self.next_cycle_start.isoformat()}"),
        ]
        if self.schedule_note:
            lines.append(self.schedule_note[:1].upper() + self.schedule_note[1:])
        if self.reduction.level:
            per_cycle = f", {self.reduction.doses_per_cycle} doses per cycle" if self.reduction.doses_per_cycle else ""
            lines.append(f"Reduced for toxicity: cycle total −{format_number(self.reduction.reduce_pct, 1)}%{per_cycle}")
        for d in self.doses:
            dose = format_amount(d.mg_per_m2, "mg/m²") if d.mg_per_m2 is not None else "omitted"
            if d.earliest > d.latest:
                window = f"no valid date: earliest {d.earliest.isoformat()} is after latest {d.latest.isoformat()}"
            elif d.earliest == d.latest == d.planned:
                window = d.planned.isoformat()
            else:
                window = f"{d.earliest.isoformat()} to {d.latest.isoformat()}"
            given = f"; given {d.given.isoformat()}" if d.given else ""
            lines.append(f"  Day {d.day}: planned {d.planned.isoformat()} (window {window}), {dose}{given}")
        lines += [f"WARNING: {w}" for w in self.warnings]
        lines += [f"HARD STOP: {s}" for s in self.hard_stops]
        return lines


def first_cycle_extends(m: Monograph) -> bool:
    """Whether the drug's data gives cycle 1 a longer, extended length (BESPONSA's; not MYLOTARG's
    regimens): only then is an extension asked for, offered or recorded. A drug whose cycle lengths are
    its regimens' (MYLOTARG before its regimen is picked) has none to offer yet."""
    if "cycles.first_cycle_extended_length" not in m.facts:
        return False
    return _days(m, "cycles.first_cycle_extended_length") != _days(m, "cycles.first_cycle_length")


def _refuse_no_extension(m: Monograph) -> None:
    """A cycle 1 whose extended length is its length (MYLOTARG's regimens) has no extension to record."""
    if not first_cycle_extends(m):
        path = "cycles.first_cycle_extended_length"
        where = f" ({m.fact(path).citation})" if path in m.facts else ""
        raise ValidationError("extend-to-28", f"cycle 1 has no extended length in {m.brand_name}'s data{where}; nothing to extend")


def cycle_length_days(cycle: int, extend_to_28: bool, m: Monograph) -> int:
    if cycle < _later_from(m):
        path = "cycles.first_cycle_extended_length" if extend_to_28 else "cycles.first_cycle_length"
    else:
        path = "cycles.later_cycle_length"
    return _days(m, path)


def plan_cycle(
    cycle: Any,
    start: Any,
    *,
    response: str | None = None,
    given: Mapping[int, date] | None = None,
    extend_to_28: bool = False,
    reduction: DoseReduction | None = None,
    omitted_days: tuple[int, ...] | list[int] = (),
    delayed_days: tuple[int, ...] | list[int] = (),
    previous_dose: date | None = None,
    preparations: Mapping[int, str] | None = None,
    monograph: Monograph,
    date_of_birth: date | None = None,
    policy: SitePolicy | None = None,
) -> CyclePlan:
    """Plan one cycle: each dose day's planned date, window and mg/m²; check the doses given.
    With the date of birth, a child is planned on a child's dose days only (the rule the order
    check applies: Monograph.dose_days_at_age, at the earliest date each day may be given)."""
    m = monograph
    cycle = whole_number("cycle", cycle, range(1, _max_cycles(m) + 1), m.cycle_choices())
    start = _date("start", start)
    window = timedelta(days=_days(m, "cycles.dose_day_window"))
    windowed = {int(d) for d in m.items("cycles.windowed_days")}
    days, not_for_child, schedule_note = _days_at_age(m, start, window, windowed, date_of_birth, policy or site_defaults())
    checked: Response | None = None
    for day in days:
        checked = validate_response(cycle, day, response, m)
        response = checked
    if extend_to_28 and cycle >= _later_from(m):
        raise ValidationError("extend-to-28", f"applies to cycle 1 only; cycle {cycle} is already {cycle_length_days(cycle, False, m)} days")
    if extend_to_28:
        _refuse_no_extension(m)  # as start_cycle and extend_first_cycle do: a plan is not "extended" where nothing can be
    given_days = {_dose_day(m, d, "given"): _date("given", v) for d, v in (given or {}).items()}
    omitted = {_dose_day(m, d, "omitted") for d in omitted_days}
    delayed = {_dose_day(m, d, "delayed") for d in delayed_days}
    reduction = reduction or reduction_for_level(0, m)
    preparations = dict(preparations or {})

    gap_days = _days(m, "cycles.min_days_between_doses")
    gap = timedelta(days=gap_days)
    delay_limit = timedelta(days=_days(m, "dose_modification.interruption.delay_below") - 1)
    length = cycle_length_days(cycle, extend_to_28, m)
    active = set(days[: reduction.doses_per_cycle]) if reduction.doses_per_cycle else set(days)

    rule_paths = ["cycles.dose_days", "cycles.windowed_days", "cycles.dose_day_window", "cycles.min_days_between_doses"]
    rule_paths.append(
        "cycles.later_cycle_length" if cycle >= _later_from(m) else ("cycles.first_cycle_extended_length" if extend_to_28 else "cycles.first_cycle_length")
    )
    if reduction.level:
        rule_paths += ["cycles.toxicity_cycle_dose_reduction", "cycles.no_re_escalation"]
        if reduction.doses_per_cycle:
            rule_paths.append("dose_modification.interruption.reduced_doses_per_cycle")
    if delayed:
        rule_paths.append("dose_modification.interruption.delay_below")
    if not_for_child:
        rule_paths.append("children.dose_days")

    hard_stops: list[str] = []
    for day in not_for_child:
        if day in given_days:
            hard_stops.append(f"Day {day} is recorded as given on {given_days[day].isoformat()}, but {schedule_note}")
    warnings: list[str] = []
    planned_doses: list[PlannedDose] = []
    floor_date = previous_dose  # the previous dose given (or, provisionally, its earliest date)
    floor_label = "the last dose of the previous cycle"
    floor_provisional = False
    cascade = False
    factor = Decimal(1) - Decimal(str(reduction.reduce_pct)) / Decimal(100)
    for index, day in enumerate(days):
        planned = start + (day - 1) * DAY
        notes: list[str] = []
        if day in windowed:
            earliest, latest = planned - window, planned + window
        else:
            earliest = latest = planned
        if floor_date is not None and floor_date + gap > earliest:
            earliest = floor_date + gap
            when = "if given on" if floor_provisional else "given on"
            notes.append(f"no earlier than {earliest.isoformat()}: {gap_days} days after {floor_label} {when} {floor_date.isoformat()}")
        is_omitted = day in omitted or day not in active
        if not is_omitted and (day in delayed or (cascade and earliest > latest)):
            cascade = True
            latest = max(latest, planned + delay_limit)
            notes.append(f"held: may be delayed to {latest.isoformat()} (an interruption under {_days(m, 'dose_modification.interruption.delay_below')} days)")
        dose_fact = m.mg_per_m2(cycle, day, checked)
        standard = Decimal(str(dose_fact.value.to("mg/m**2").magnitude))
        rule_paths.append(dose_fact.path)
        given_on = given_days.get(day)
        status: DoseStatus
        if is_omitted:
            status = "omitted"
            notes.append(f"omitted: {reduction.doses_per_cycle} doses per cycle" if day not in active else "omitted (accepted advice)")
            if given_on:
                hard_stops.append(f"Day {day} is omitted in cycle {cycle} but is recorded as given on {given_on.isoformat()}")
        else:
            status = "given" if given_on else "planned"
            if earliest > latest:
                message = (
                    f"Day {day}: no date satisfies its window ({(planned - window if day in windowed else planned).isoformat()} "
                    f"to {latest.isoformat()}) and {gap_days} days after {floor_label} ({floor_date.isoformat() if floor_date else ''})"
                )
                if index == 0:
                    hard_stops.append(
                        f"cycle {cycle} cannot start on {start.isoformat()}: fewer than {gap_days} days after {floor_label} "
                        f"given on {floor_date.isoformat() if floor_date else ''}; start on or after {earliest.isoformat()}"
                    )
                elif given_on is None:
                    warnings.append(message + "; this is an interruption: see the dose modification rules")
            if given_on and not earliest <= given_on <= latest:
                window_text = earliest.isoformat() if earliest == latest else f"{earliest.isoformat()} to {latest.isoformat()}"
                gap_note = next((n for n in notes if n.startswith("no earlier than")), None)
                hard_stops.append(
                    f"Day {day} given on {given_on.isoformat()} is outside its window ({window_text})"
                    + (f"; {gap_note}" if gap_note and given_on < earliest else "")
                )
        mg = None if is_omitted else float(standard * factor)
        planned_doses.append(
            PlannedDose(
                day=day,
                planned=planned,
                earliest=earliest,
                latest=latest,
                mg_per_m2=mg,
                standard_mg_per_m2=float(standard),
                given=given_on,
                status=status,
                preparation_id=preparations.get(day),
                notes=tuple(notes),
            )
        )
        if is_omitted:
            continue
        if given_on:
            floor_date, floor_provisional = given_on, False
        else:
            # Not given yet: the next dose cannot come before 6 days after this one's earliest date.
            floor_date, floor_provisional = earliest, True
        floor_label = f"Day {day}"

    for earlier, later in zip(planned_doses, planned_doses[1:]):
        if later.given and earlier.status == "planned":
            warnings.append(f"Day {later.day} is recorded as given but Day {earlier.day} is neither given nor omitted")

    next_start = start + length * DAY
    last_given = max((d.given for d in planned_doses if d.given), default=None)
    if last_given and last_given + gap > next_start:
        pushed = last_given + gap
        warnings.append(
            f"the next cycle starts on {pushed.isoformat()}, not {next_start.isoformat()}: "
            f"{gap_days} days after the last dose given on {last_given.isoformat()}"
        )
        next_start = pushed

    rules = tuple(RuleSource.of(m.fact(p)) for p in dict.fromkeys(rule_paths))  # each once, in order
    return CyclePlan(
        cycle=cycle,
        start=start,
        length_days=length,
        extended_to_28=bool(extend_to_28),
        next_cycle_start=next_start,
        response=response,
        reduction=reduction,
        doses=tuple(planned_doses),
        hard_stops=tuple(hard_stops),
        warnings=tuple(warnings),
        rules=rules,
        monograph_id=m.id,
        monograph_revision=m.revision,
        last_of=(f"of {m.brand_name}'s {m.regimen.id} regimen" if m.regimen is not None else f"of {m.brand_name}") if _max_cycles(m) == 1 else "",
        schedule_note=schedule_note,
    )


def _days_at_age(
    m: Monograph, start: date, window: timedelta, windowed: set[int], date_of_birth: date | None, policy: SitePolicy
) -> tuple[list[int], list[int], str]:
    """The cycle's dose days for this patient, the regimen's days left out, and why. Each day is judged
    at the earliest date it may be given: a patient who is an adult then is one at every later date."""
    days = m.dose_days
    if date_of_birth is None:
        return days, [], ""
    from .identity import completed_years

    kept: list[int] = []
    left_out: list[int] = []
    for day in days:
        earliest = start + (day - 1) * DAY - (window if day in windowed else timedelta(0))
        age = completed_years(date_of_birth, earliest)
        (kept if day in m.dose_days_at_age(age, policy.adult_from_age_years) else left_out).append(day)
    if not left_out:
        return days, [], ""
    fact = m.fact("children.dose_days")
    note = (
        f"a child ({format_age(completed_years(date_of_birth, start))} on {start.isoformat()}; adults from "
        f"{policy.adult_from_age_years}) is given {m.brand_name} on Day {', '.join(map(str, kept))} only "
        f"({fact.where}{'; pending pharmacist review' if fact.verify else ''}): Day {', '.join(map(str, left_out))} not planned"
    )
    return kept, left_out, note
