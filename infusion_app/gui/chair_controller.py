"""The chair's state and its calls to the service, apart from the widgets that show them.

One bag is open at a time. Every step goes through run_step(): the service records it or refuses
it, and the outcome (with its words, from gui/errors.error_text) is what a step widget shows. A
refusal the domain marks overridable is kept as the one pending override, which override()
completes with a pharmacist's name, PIN and reason. The drug facts a step shows come from the open
bag's own monograph (service.monograph_of), never from a site default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ..domain.administration import Administration, CourseLink, administration_of, course_link
from ..domain.clock import Clock
from ..domain.course import CourseBlocked
from ..domain.errors import ValidationError
from ..domain.identity import identifier_mismatches
from ..domain.monograph import Monograph
from ..domain.preparation import StepRefused, current_step
from ..domain.records import EventType, Preparation, Role, User
from .errors import error_text

if TYPE_CHECKING:
    from ..service.course import CourseService
    from ..service.preparations import PreparationService, PreparationStatus

# current_step() values that belong to the chair.
CHAIR_STEPS = ("premedicate", "start infusion", "infusing", "observing", "done")


@dataclass(frozen=True)
class Outcome:
    """What a step widget shows after asking for a step: ok, or the words and how loud they are."""

    ok: bool
    text: str = ""
    role: str = ""  # "", "ok", "warning", "error", "hardstop" (widgets.set_role)
    limit_passed: bool = False  # a time limit passed: the bag is discarded (or a pharmacist overrides)
    overridable: bool = False  # the pending override may complete it
    deviation_allowed: bool = False  # a fact that breaks a limit: recorded once the nurse gives the deviation's reason


OK = Outcome(True)


def refused(exc: BaseException, prefix: str = "") -> Outcome:
    """The one error-to-text of the chair: input errors as errors, refusals and course blocks as stops."""
    text = prefix + error_text(exc)
    if isinstance(exc, ValidationError):
        return Outcome(False, text, "error")
    if isinstance(exc, StepRefused):
        limit = exc.overridable or any(part.endswith("_passed") or part == "late_entry" for part in exc.code.split("+"))
        return Outcome(False, text, "hardstop", limit_passed=limit, overridable=exc.overridable, deviation_allowed=exc.deviation_allowed)
    return Outcome(False, text, "hardstop")


@dataclass(frozen=True)
class PendingOverride:
    kind: EventType
    details: dict[str, Any]
    refusal: StepRefused
    at: datetime | None


class ChairController:
    """The open bag, and every read and write of the chair."""

    def __init__(self, service: PreparationService, user: User, clock: Clock, recorded: Callable[[str], None] = lambda _prep_id: None):
        self.service = service
        self.user = user
        self.clock = clock
        self.recorded = recorded  # called with the preparation id after every stored step
        self.prep: Preparation | None = None
        self.monograph: Monograph | None = None
        self.pending_override: PendingOverride | None = None
        self._courses: CourseService | None = None

    # -- the open bag -----------------------------------------------------------------------
    def open(self, prep_id: str) -> Outcome:
        """Open a scanned or typed bag, if it is one for the chair."""
        prep_id = prep_id.strip()
        if not prep_id:
            return Outcome(False, "Preparation id: scan the bag's code or type its id.", "error")
        try:
            prep = self.service.get(prep_id)
        except (ValidationError, StepRefused) as exc:  # StepRefused: NotLive, the station has lost the database
            return refused(exc)
        if prep is None:
            return Outcome(False, f"No preparation with id {prep_id!r}. Check the label.", "error")
        monograph = self.service.monograph_of(prep)
        step = current_step(prep, monograph)
        if step not in CHAIR_STEPS:
            return Outcome(False, f"{prep_id} is not ready for the chair: its next step is '{step}'. Return it to pharmacy.", "hardstop")
        self.prep, self.monograph = prep, monograph
        self.pending_override = None
        return Outcome(True, f"Bag {prep.id} open.")

    def close(self) -> None:
        self.prep = self.monograph = None
        self.pending_override = None

    def adopt(self, prep: Preparation) -> None:
        """The stored state of the open bag (another station recorded a step)."""
        self.prep = prep

    def step(self) -> str:
        assert self.prep is not None
        return current_step(self.prep, self.monograph)

    def confirmed(self) -> bool:
        return self.prep is not None and self.prep.last(EventType.PATIENT_CONFIRMED) is not None

    def administration(self) -> Administration:
        assert self.prep is not None and self.monograph is not None
        return administration_of(self.prep, self.monograph)

    def status(self) -> PreparationStatus:
        assert self.prep is not None
        return self.service.status(self.prep.id)

    def planned_end(self) -> datetime | None:
        """When the infusion started plus its planned time (the bag's own monograph)."""
        if self.prep is None:
            return None
        started = self.prep.last(EventType.INFUSION_STARTED)
        return None if started is None else started.at + self.administration().duration

    def pharmacists(self) -> list[str]:
        return [u.name for u in self.service.users() if u.role is Role.PHARMACIST and u.active]

    # -- steps --------------------------------------------------------------------------------
    def record(self, kind: EventType, at: datetime | None = None, details: dict[str, Any] | None = None, deviation_reason: str | None = None) -> None:
        """Commit one event; returns only once it is stored (the service's promise). Raises its refusal."""
        assert self.prep is not None
        status = self.service.record_event(self.prep.id, kind, self.user, at=at, details=details or {}, deviation_reason=deviation_reason)
        self.prep = status.prep
        self.recorded(self.prep.id)

    def run_step(self, kind: EventType, at: datetime | None = None, details: dict[str, Any] | None = None, deviation_reason: str | None = None) -> Outcome:
        """Record one step; a refusal comes back as its words. An overridable one becomes the pending override.
        A refusal that allows a deviation (Outcome.deviation_allowed) is recorded as one when the nurse
        gives `deviation_reason` (or the step's own reason, an early end's)."""
        self.pending_override = None
        try:
            try:
                self.record(kind, at=at, details=details)
            except StepRefused as refusal:
                # A fact that breaks a limit (an infusion faster than its minimum, ended after its end
                # limit) is recorded as a deviation when the nurse gave the reason (issue 11).
                reason = deviation_reason or (details or {}).get("reason")
                if not (refusal.deviation_allowed and reason):
                    raise
                self.record(kind, at=at, details=details, deviation_reason=reason)
        except (ValidationError, StepRefused) as exc:
            outcome = refused(exc)
            if isinstance(exc, StepRefused) and exc.overridable:
                self.pending_override = PendingOverride(kind, dict(details or {}), exc, at)
            return outcome
        return OK

    def override(self, answer: tuple[str, str, str] | None) -> Outcome:
        """The pending override with a pharmacist's (name, PIN, reason); None: cancelled, nothing done."""
        pending = self.pending_override
        if pending is None or self.prep is None or answer is None:
            return Outcome(False)
        name, pin, reason = answer
        try:
            override = self.service.authorize_override(name, pin, reason, pending.refusal.code)
            status = self.service.record_event(self.prep.id, pending.kind, self.user, at=pending.at, details=pending.details, override=override)
        except (ValidationError, StepRefused) as exc:
            return refused(exc, "Override not accepted — ")
        self.prep = status.prep
        self.pending_override = None
        self.recorded(self.prep.id)
        return OK

    def confirm_patient(self, name: str, dob: date | None, mrn: str | None) -> Outcome:
        """Two identifiers as the nurse heard or scanned them; recorded when both match the bag."""
        assert self.prep is not None
        problems = identifier_mismatches(self.prep.patient, name, dob, mrn)
        if problems:
            return Outcome(
                False,
                "STOP — not confirmed: " + "; ".join(problems) + ". Check the wristband and the bag label; do not give this bag until both identifiers match.",
                "hardstop",
            )
        details: dict[str, Any] = {"name": name.strip(), "identifiers": ["name", "date_of_birth" if dob else "mrn"]}
        if dob is not None:
            details["date_of_birth"] = dob.isoformat()
        else:
            details["mrn"] = (mrn or "").strip()
        return self.run_step(EventType.PATIENT_CONFIRMED, details=details)

    # -- the course ---------------------------------------------------------------------------
    def courses(self) -> CourseService:
        if self._courses is None:
            from ..service.course import CourseService

            self._courses = CourseService(self.service)
        return self._courses

    def course_link(self) -> CourseLink:
        assert self.prep is not None
        return course_link(self.prep, self.courses().course(self.prep.patient.mrn))

    def record_in_course(self) -> Outcome:
        """This bag's dose (cycle and day from its order) in the patient's course, as given on the day it started."""
        if self.prep is None:
            return Outcome(False)
        link = self.course_link()
        if link.given_on is None:
            return Outcome(False)
        try:
            # No expected version: the chair shows the bag, not the course. The dose is a fact of
            # this bag, checked by the domain against the course as stored when it is written, and
            # a preparation is linked to one dose only.
            self.courses().record_dose(self.prep.patient.mrn, link.cycle, link.day, link.given_on, self.user, preparation_id=self.prep.id)
        except CourseBlocked as exc:  # a clinical hard stop of the course engine (e.g. outside the window)
            return Outcome(False, f"Not recorded in the course: {error_text(exc)}. A pharmacist decides in the course view.", "hardstop")
        except (ValidationError, StepRefused) as exc:
            return refused(exc, "Not recorded in the course — ")
        return OK
