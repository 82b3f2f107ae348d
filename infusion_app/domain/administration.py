"""What the nurse at the chair needs to give one preparation: its container, pump rate and time,
the in-line filter, the handling notes and the observation after it, all from the preparation's
own calculation and the monograph of its drug (never another drug's, nor a fixed rate)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from .course import Course
from .dosing import DoseCalculation
from .monograph import Monograph
from .preparation import infusion_duration_of
from .records import EventType, Preparation


@dataclass(frozen=True)
class Administration:
    container: str  # "bag" or "syringe", as the calculation chose
    volume_ml: float  # the final volume in the container
    rate_ml_per_hour: float  # the pump rate the calculation gives for that container
    duration: timedelta  # the planned infusion time (the same the deadlines use)
    filter_required: bool
    filters: tuple[str, ...]  # the in-line filters the monograph allows
    filters_forbidden: tuple[str, ...]
    notes: tuple[str, ...]  # temperature, line and light, as the monograph words them
    observation: timedelta  # the least time to observe the patient after the infusion
    route: str


def _text(monograph: Monograph, path: str) -> str:
    return monograph.text(path) if path in monograph.facts else ""


def _items(monograph: Monograph, path: str) -> tuple[str, ...]:
    return tuple(str(item) for item in monograph.items(path)) if path in monograph.facts else ()


def administration_of(prep: Preparation, monograph: Monograph) -> Administration:
    """`monograph` is the preparation's own (service.monograph_of)."""
    return administration_for(prep.order.calculation, monograph, infusion_duration_of(prep, monograph))


def administration_for(calc: DoseCalculation, monograph: Monograph, duration: timedelta | None = None) -> Administration:
    """How a calculated dose will be given (before any preparation holds it: the bench's dose page),
    over `duration` or the monograph's infusion time."""
    duration = monograph.duration("infusion.duration") if duration is None else duration
    rate = calc.infusion_rate_ml_per_hour
    if rate <= 0 and duration > timedelta(0):
        # Stored before the calculation held its rate: the container's volume over the infusion time.
        rate = round(calc.final_volume_ml / (duration / timedelta(hours=1)), 1)
    observation = monograph.duration("time_limits.observation_after_infusion") if "time_limits.observation_after_infusion" in monograph.facts else timedelta(0)
    return Administration(
        container=calc.container,
        volume_ml=calc.final_volume_ml,
        rate_ml_per_hour=rate,
        duration=duration,
        filter_required="dilution.filter_required" in monograph.facts and monograph.flag("dilution.filter_required"),
        filters=_items(monograph, "dilution.filters_allowed"),
        filters_forbidden=_items(monograph, "dilution.filters_forbidden"),
        notes=tuple(n for n in (_text(monograph, p) for p in ("infusion.temperature", "infusion.line", "reconstitution.light")) if n),
        observation=observation,
        route=_text(monograph, "infusion.route"),
    )


@dataclass(frozen=True)
class CourseLink:
    """Whether a given bag's dose is in the patient's course, and what may be done about it.

    state: "not started" (no infusion: nothing to record), "no course", "other drug" (the course on
    file is another drug's: this bag's dose is no dose of it), "recorded" or "to record"."""

    state: str
    cycle: int
    day: int
    given_on: date | None = None  # the local date the infusion started
    recorded_on: date | None = None  # the date the course shows, when recorded


def course_link(prep: Preparation, course: Course | None) -> CourseLink:
    order = prep.order
    started = prep.last(EventType.INFUSION_STARTED)
    if started is None:
        return CourseLink("not started", order.cycle, order.day)
    given_on = started.at.astimezone().date()
    if course is None:
        return CourseLink("no course", order.cycle, order.day, given_on)
    if course.monograph_id and prep.monograph_id and course.monograph_id != prep.monograph_id:
        return CourseLink("other drug", order.cycle, order.day, given_on)
    recorded = [d for d in course.doses if d.cycle == order.cycle and d.day == order.day]
    if recorded:
        return CourseLink("recorded", order.cycle, order.day, given_on, recorded[0].given_on)
    return CourseLink("to record", order.cycle, order.day, given_on)
