"""CourseService: the treatment course over storage, shared by the command line and the GUI course view.

    from infusion_app.service import open_service
    from infusion_app.service.course import CourseService
    with open_service(data_dir=...) as service:
        courses = CourseService(service)             # same database, clock, monograph, users and audit
        courses.new_course("MRN001", hsct_planned=False, user=pharmacist)
        status = courses.status("MRN001")            # domain.course.CourseStatus (see its docstring)

Every write loads the course, lets the domain (domain/course.py, domain/dose_modification.py)
check and apply the change, and saves it in ONE transaction with its audit entry (action
"course.*", subject the MRN, before/after) before returning. 'Today' is the local date of the
service's clock. Errors: ValidationError (bad input), CourseNotFound (a ValidationError on "mrn"),
CourseBlocked (a clinical hard stop: `.reasons`), StepRefused (role or permission).

Roles: a pharmacist opens courses, starts and extends cycles and records decisions on advice;
a pharmacist or a nurse records doses given, weights, blast counts and response assessments;
anyone signed in may read. A dose outside its window needs an Override (a pharmacist's, from
PreparationService.authorize_override) and is stored with its reason.

Methods
    course(mrn) -> Course | None;  mrns() -> list[str];  status(mrn, today=None) -> CourseStatus
    new_course(mrn, hsct_planned, user, is_child=False, date_of_birth=None, child_reason="", monograph=None,
               regimen=None) -> CourseStatus   (regimen: required for a drug dosed by regimen)
        (a course of monograph's drug; not given: the only drug installed, several are refused as ambiguous;
        every later call judges the course by its own drug: monograph_of(course))
    course_drugs() -> list[Monograph];  new_course_drug(monograph_id=None) -> Monograph (picked, else the only
        drug installed, else ValidationError 'drug');  default_course_drug() -> Monograph | None
    set_hsct(mrn, hsct_planned, user) -> CourseStatus
    record_blasts(mrn, per_mm3, measured_on, user) / record_weight(mrn, weight_text, measured_on, user, use_for_dosing=False)
    record_response(mrn, assessed_on, response, mrd_negative, user)
    start_cycle(mrn, start, user, extend_to_28=False, reason="") / extend_first_cycle(mrn, reason, user)
    move_cycle_start(mrn, start, user)            (the latest cycle, while none of its doses is given)
    record_dose(mrn, cycle, day, given_on, user, preparation_id=None, override=None)
    assess(mrn, advice: list[Advice], user) -> list[AdviceRecord]      (stores the engine's advice; an
        identical advice still awaiting a decision is returned, not stored twice)
    assess_overdue(mrn, user) -> list[AdviceRecord]   (stores today's advice for an overdue dose / held cycle)
    decide(mrn, advice_id, accepted, decided_by, reason, user) -> AdviceRecord
    record_lab(mrn, kind, values, taken_at, user) -> LabRecorded   (a CBC, liver tests, ECG, electrolytes
        or the VOD/SOS questions; the advice the values drive is stored with it, as 'assess' would)
    complete_checklist(mrn, answers, user) -> CourseStatus   (a pharmacist; the course-start checklist)
    override_labs(mrn, reason, user) -> CourseStatus   (a pharmacist: the next dose without the labs it needs)
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..domain import course as rules
from ..domain import labs
from ..domain.course import AdviceRecord, Course, CourseBlocked, CourseStatus
from ..domain.cycle_plan import parse_date
from ..domain.dose_modification import RECOVERY_CLEARS, Advice, Decision
from ..domain.dosing import draw_tolerance_mg
from ..domain.errors import ValidationError
from ..domain.monograph import Monograph, load_monograph, resolve_drug
from ..domain.ports import AuditDraft, ConcurrentChange
from ..domain.preparation import Override, StepRefused
from ..domain.records import Role, User, mrn_key

if TYPE_CHECKING:
    from ..domain.quantities import Quantity
    from ..domain.records import Preparation
    from .preparations import PreparationService

T = TypeVar("T")

OBSERVING_ROLES = (Role.PHARMACIST, Role.NURSE)
MAX_TEXT = 500


@dataclasses.dataclass(frozen=True)
class LabRecorded:
    """A stored result, the advice its values drive, and the advice records stored for a decision."""

    result: labs.LabResult
    advice: list[Advice]
    records: list[AdviceRecord]


class CourseNotFound(ValidationError):
    def __init__(self, mrn: str):
        super().__init__("mrn", f"no course is stored for MRN {mrn}; a pharmacist opens one first (a new treatment course)")


def _text(field_name: str, value: Any) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise ValidationError(field_name, "must not be empty")
    if len(text) > MAX_TEXT:
        raise ValidationError(field_name, f"has {len(text)} characters; at most {MAX_TEXT}")
    return text


def _snapshot(course: Course) -> dict[str, Any]:
    """What an audit entry keeps of a course: its state, without the storage counters."""
    data = dataclasses.asdict(course)
    data.pop("version", None)
    data.pop("id", None)
    return data


class CourseService:
    def __init__(self, service: PreparationService) -> None:
        from ..storage.course_repository import SqlCourseRepository

        self.service = service
        if service.engine is None:
            raise ValidationError("database", "the preparation service has no open database")
        self.repository = SqlCourseRepository(service.engine)

    # -- helpers ----------------------------------------------------------------------------------
    def today(self) -> date:
        return self.service.now().astimezone().date()

    def _user(self, user: User | str, roles: tuple[Role, ...], what: str) -> User:
        current = self.service._current_user(user)
        if current.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise StepRefused("role", f"{what} is for a {allowed}; {current.name} is a {current.role.value}")
        return current

    def _load(self, mrn: str) -> Course:
        mrn = str(mrn or "").strip()
        if not mrn:
            raise ValidationError("mrn", "is required")
        course = self.repository.get_course(mrn)
        if course is None:
            raise CourseNotFound(mrn)
        return course

    def _change(self, mrn: str, actor: User, action: str, change: Callable[[Course, date], T], expected: int | None = None) -> T:
        """Load, change through the domain, save with the audit entry.

        `expected`: the course version the caller showed (CourseStatus.course.version). A course
        changed since is refused, StepRefused 'changed' ("changed by NAME at TIME; reload"): the
        person decided on what they saw, so it is never re-applied to a newer course. Without it (a
        command typed as a whole, which reads and writes at once) a lost race is retried on a fresh
        copy, the domain checking the change against the course as it is then."""
        for _attempt in range(5):
            course = self._load(mrn)
            self._refuse_stale(course, expected)
            before = _snapshot(course)
            result = change(course, self.today())
            audit = AuditDraft(self.service.now(), actor.name, action, course.mrn, before, _snapshot(course))
            try:
                self.repository.save_course(course, [audit])
            except ConcurrentChange as change_seen:
                if expected is not None:
                    raise StepRefused("changed", str(change_seen)) from None
                continue
            return result
        raise StepRefused("busy", f"the course for MRN {mrn} kept changing; try again")

    def _refuse_stale(self, course: Course, expected: int | None) -> None:
        if expected is not None and course.version != expected:
            raise StepRefused("changed", f"the course for MRN {course.mrn} was {self.repository.last_change(course.mrn)}; reload")

    # -- reading ----------------------------------------------------------------------------------
    def course(self, mrn: str) -> Course | None:
        return self.repository.get_course(str(mrn or "").strip())

    def mrns(self) -> list[str]:
        return self.repository.list_mrns()

    def course_drugs(self) -> list[Monograph]:
        """The installed drugs a course is kept for (domain keeps_course); the drug of a new course
        naming none first (when there is one: with several drugs installed there is none)."""
        found = [m for m in self.service.drugs() if rules.keeps_course(m)]
        default = self.service.default_drug()
        return sorted(found, key=lambda m: m.id != default)

    def new_course_drug(self, monograph_id: str | None = None) -> Monograph:
        """The drug a new course is opened for: the one picked (by id), else the only drug installed.
        Several installed and none picked is ambiguous (ValidationError 'drug'), as for a new order:
        the forms never open, or shape themselves for, a drug nobody picked. A drug no course is kept
        for is refused by name."""
        drugs = {m.id: m for m in self.course_drugs()}
        drug_id = resolve_drug(monograph_id)
        if drug_id not in drugs:
            raise ValidationError("drug", f"no treatment course is kept for {drug_id}; must be one of {', '.join(drugs) or 'none installed'}")
        return drugs[drug_id]

    def default_course_drug(self) -> Monograph | None:
        """The drug a new course is opened for when nobody picks one (the only drug installed), or None
        when one must be picked."""
        try:
            return self.new_course_drug()
        except ValidationError:
            return None

    def monograph_of(self, course: Course) -> Monograph:
        """The course's own drug (its monograph_id), as dosed by its regimen, by which every dose of it is judged."""
        found = self.service.registered(course.monograph_id)
        if found.regimen is not None and found.regimen.id != course.regimen:
            found = load_monograph(course.monograph_id)  # the drug itself, then viewed by the course's regimen
        return rules.judged_by(course, found)

    def status(self, mrn: str, today: date | None = None) -> CourseStatus:
        now = None if today is not None else self.service.now()
        course = self._load(mrn)
        return rules.course_status(course, today or self.today(), self.monograph_of(course), self.service.policy(), now)

    # -- writing ----------------------------------------------------------------------------------
    def new_course(
        self,
        mrn: str,
        hsct_planned: bool,
        user: User | str,
        is_child: bool = False,
        date_of_birth: date | None = None,
        child_reason: str = "",
        monograph: Monograph | None = None,
        regimen: str | None = None,
    ) -> CourseStatus:
        """Open a course of `monograph`'s drug (not given: the new-order rule, service.new_order_drug), as dosed by `regimen`
        for a drug with regimens. Without a date of birth, the one stored with the patient's preparations is used."""
        from ..storage.repository import DuplicateError

        actor = self._user(user, (Role.PHARMACIST,), "opening a treatment course")
        mrn = _text("mrn", mrn)
        if any(ch.isspace() for ch in mrn):
            raise ValidationError("mrn", f"'{mrn}' must not contain spaces")
        if date_of_birth is None:
            known = self.service.repository.find_patient(mrn)
            date_of_birth = known.date_of_birth if known is not None else None
        course = rules.new_course(
            mrn, hsct_planned, is_child, date_of_birth, child_reason, self.today(), monograph=self.service.new_order_drug(monograph), regimen=regimen
        )
        audit = AuditDraft(self.service.now(), actor.name, "course.created", course.mrn, None, _snapshot(course))
        try:
            self.repository.add_course(course, actor.name, audit)
        except DuplicateError as exc:
            raise ValidationError("mrn", str(exc)) from None
        return self.status(mrn)

    def set_hsct(self, mrn: str, hsct_planned: bool, user: User | str, expected: int | None = None) -> CourseStatus:
        actor = self._user(user, (Role.PHARMACIST,), "changing the HSCT plan")

        def change(course: Course, _today: date) -> None:
            course.hsct_planned = bool(hsct_planned)

        self._change(mrn, actor, "course.hsct_changed", change, expected=expected)
        return self.status(mrn)

    def record_blasts(self, mrn: str, per_mm3: Quantity | float | str, measured_on: date | str, user: User | str, expected: int | None = None) -> CourseStatus:
        actor = self._user(user, OBSERVING_ROLES, "recording circulating blasts")
        self._change(mrn, actor, "course.blasts_recorded", lambda course, today: rules.record_blasts(course, per_mm3, measured_on, today), expected=expected)
        return self.status(mrn)

    def record_weight(
        self, mrn: str, weight: str, measured_on: date | str, user: User | str, use_for_dosing: bool = False, expected: int | None = None
    ) -> CourseStatus:
        from ..domain.measurements import parse_weight

        actor = self._user(user, OBSERVING_ROLES, "recording a weight")
        kg = parse_weight(weight).magnitude("kg")
        self._change(
            mrn, actor, "course.weight_recorded", lambda course, today: rules.record_weight(course, kg, measured_on, today, use_for_dosing), expected=expected
        )
        return self.status(mrn)

    def record_response(
        self, mrn: str, assessed_on: date | str, response: str, mrd_negative: bool | None, user: User | str, expected: int | None = None
    ) -> CourseStatus:
        actor = self._user(user, OBSERVING_ROLES, "recording a response assessment")
        self._change(
            mrn,
            actor,
            "course.response_recorded",
            lambda course, today: rules.record_response(course, assessed_on, response, mrd_negative, today, monograph=self.monograph_of(course)),
            expected=expected,
        )
        return self.status(mrn)

    def start_cycle(
        self, mrn: str, start: date | str, user: User | str, extend_to_28: bool = False, reason: str = "", expected: int | None = None
    ) -> CourseStatus:
        actor = self._user(user, (Role.PHARMACIST,), "starting a cycle")
        self._change(
            mrn,
            actor,
            "course.cycle_started",
            lambda course, today: rules.start_cycle(course, start, today, extend_to_28, reason, monograph=self.monograph_of(course)),
            expected=expected,
        )
        return self.status(mrn)

    def move_cycle_start(self, mrn: str, start: date | str, user: User | str, expected: int | None = None) -> CourseStatus:
        actor = self._user(user, (Role.PHARMACIST,), "moving a cycle's start")
        self._change(
            mrn, actor, "course.cycle_moved", lambda course, today: rules.move_cycle_start(course, start, today, self.monograph_of(course)), expected=expected
        )
        return self.status(mrn)

    def extend_first_cycle(self, mrn: str, reason: str, user: User | str, expected: int | None = None) -> CourseStatus:
        actor = self._user(user, (Role.PHARMACIST,), "extending cycle 1")
        self._change(
            mrn, actor, "course.cycle_extended", lambda course, _today: rules.extend_first_cycle(course, reason, self.monograph_of(course)), expected=expected
        )
        return self.status(mrn)

    def record_dose(
        self,
        mrn: str,
        cycle: int | str,
        day: int | str,
        given_on: date | str,
        user: User | str,
        preparation_id: str | None = None,
        override: Override | None = None,
        expected: int | None = None,
    ) -> CourseStatus:
        actor = self._user(user, OBSERVING_ROLES, "recording a dose given")
        prep_id = None
        prep: Preparation | None = None
        if preparation_id:
            prep = self.service.get(preparation_id)
            if prep is None:
                raise ValidationError("preparation id", f"no preparation {preparation_id} is stored here")
            prep_id = prep.id
            if mrn_key(prep.patient.mrn) != mrn_key(mrn):
                raise ValidationError("preparation id", f"preparation {prep.id} is for MRN {prep.patient.mrn}, not {mrn}")
            course = self._load(mrn)
            if prep.monograph_id != course.monograph_id:
                # A course is judged by its own drug's schedule: another drug's dose is no dose of it.
                raise CourseBlocked(
                    [
                        f"course-drug: preparation {prep.id} is {self.service.monograph_of(prep).brand_name}; the course for "
                        f"MRN {course.mrn} is {self.monograph_of(course).brand_name}'s, and a dose of another drug is not recorded in it"
                    ]
                )
            if (prep.order.regimen or "") != (course.regimen or ""):
                # Another regimen's dose days and mg/m² are not this course's.
                raise CourseBlocked(
                    [
                        f"course-regimen: preparation {prep.id} is for the {prep.order.regimen or '(no)'} regimen; the course for "
                        f"MRN {course.mrn} is the {course.regimen or '(no)'} regimen, and a dose of another regimen is not recorded in it"
                    ]
                )
            order = prep.order
            if (str(order.cycle), str(order.day)) != (str(cycle).strip(), str(day).strip()):
                raise ValidationError("preparation id", f"preparation {prep.id} is for cycle {order.cycle} Day {order.day}")
            for other in self.repository.courses_for_preparation(prep.id):
                raise ValidationError("preparation id", f"preparation {prep.id} is already recorded as cycle {other[1]} Day {other[2]}")
            if override is None:  # a bag already given with another dose is recorded only as a pharmacist's deviation
                self._check_prepared_dose(mrn, cycle, day, prep)
        if override is not None and override.pharmacist:
            self._user(override.pharmacist, (Role.PHARMACIST,), "overriding a course hard stop")
            if override.pharmacist.strip().casefold() == actor.name.strip().casefold():
                # As at the bench: the override is a second pharmacist's judgement, not the recorder's own.
                raise StepRefused("override_not_independent", f"{actor.name} records this dose: the overriding pharmacist must be another pharmacist")
        reason = f"{override.reason} (override by {override.pharmacist})" if override else None
        labs_at = self._dose_instant(given_on, prep)
        self._change(
            mrn,
            actor,
            "course.dose_given",
            lambda course, today: rules.record_dose(
                course, cycle, day, given_on, today, prep_id, reason, monograph=self.monograph_of(course), labs_at=labs_at, policy=self.service.policy()
            ),
            expected=expected,
        )
        return self.status(mrn)

    def _dose_instant(self, given_on: date | str, prep: Preparation | None) -> datetime | None:
        """When the dose was given, as near as is known, for the labs it needed (as prep new checks them):
        the linked bag's infusion start (else when it was ordered); a dose given today, now; an earlier
        day's at the end of that day."""
        from ..domain.records import EventType

        if prep is not None:
            started = [e.at for e in prep.events if e.type == EventType.INFUSION_STARTED]
            return started[-1] if started else prep.created_at
        try:
            day = parse_date("date", given_on)  # as the domain reads it: a datetime is its date
        except ValidationError:
            return None  # the domain names the bad date when the dose is recorded
        now = self.service.now()
        if day >= now.astimezone().date():
            return now
        return datetime.combine(day, time(23, 59, 59)).astimezone()

    def _check_prepared_dose(self, mrn: str, cycle: int | str, day: int | str, prep: Preparation) -> None:
        """The linked bag must hold the course's dose: its mg/m², and BSA × that mg/m² (within site rounding)."""
        from ..domain.formatting import format_amount, format_dose

        course = self._load(mrn)
        try:
            dose = rules.plan_for(course, int(str(cycle).strip()), self.monograph_of(course)).dose(int(str(day).strip()))
        except (ValidationError, KeyError, ValueError):
            return  # the domain names the bad cycle or day when the dose is recorded
        calculation = prep.order.calculation
        prepared = calculation.dose_mg_per_m2
        if dose.mg_per_m2 is None:
            return
        if abs(float(prepared) - float(dose.mg_per_m2)) > 1e-9:
            raise CourseBlocked(
                [
                    f"course-dose: preparation {prep.id} holds {format_amount(prepared, 'mg/m²')}; the course's cycle {cycle} "
                    f"Day {day} is {format_amount(dose.mg_per_m2, 'mg/m²')}"
                ]
            )
        bsa, dose_mg = calculation.bsa_m2, calculation.dose_mg
        if bsa:
            expected = float(bsa) * float(dose.mg_per_m2)
            cap = self.monograph_of(course).dose_cap
            if cap is not None:  # the regimen's cap per dose, from its monograph
                expected = min(expected, float(cap.value.to("mg").magnitude))
            allowed = abs(calculation.dose_rounding_pct) / 100 * expected + self.service.policy().dose_precision_mg
            allowed += draw_tolerance_mg(calculation)  # the draw syringe's rounding
            if abs(float(dose_mg) - expected) > allowed + 1e-9:
                raise CourseBlocked(
                    [
                        f"course-dose: preparation {prep.id} holds {format_dose(dose_mg)}; the course's dose is "
                        f"{format_dose(round(expected, 2))} ({format_amount(bsa, 'm²')} × {format_amount(dose.mg_per_m2, 'mg/m²')})"
                    ]
                )

    @staticmethod
    def _store_advice(course: Course, advice: list[Advice], today: date) -> list[AdviceRecord]:
        # Recovery values are kept too: they are what lifts a hold of the same rule (RECOVERY_CLEARS).
        wanted = [a for a in advice if a.needs_decision or a.code in RECOVERY_CLEARS]
        # The same advice still awaiting a decision is not stored twice. Recovery values are always
        # stored: a later one is what lifts a hold raised after an earlier one.
        open_keys = {(r.advice.code, r.advice.cycle, r.advice.day): r for r in course.advice if r.decision is None and r.advice.needs_decision}
        fresh = [a for a in wanted if (a.code, a.cycle, a.day) not in open_keys]
        kept = [open_keys[(a.code, a.cycle, a.day)] for a in wanted if (a.code, a.cycle, a.day) in open_keys]
        return kept + rules.raise_advice(course, fresh, today)

    def assess(self, mrn: str, advice: list[Advice], user: User | str, expected: int | None = None) -> list[AdviceRecord]:
        """Store the engine's advice (only what needs a decision) so that a clinician can answer it."""
        actor = self._user(user, OBSERVING_ROLES, "recording dose-modification advice")
        if not [a for a in advice if a.needs_decision or a.code in RECOVERY_CLEARS]:
            self._refuse_stale(self._load(mrn), expected)  # nothing to store, but the advice was read off an old course
            return []
        return self._change(mrn, actor, "course.advice_raised", lambda course, today: self._store_advice(course, advice, today), expected=expected)

    def record_lab(self, mrn: str, kind: str, values: dict[str, Any], taken_at: datetime | None, user: User | str, expected: int | None = None) -> LabRecorded:
        """Store a lab result (or the VOD/SOS questions) and, in the same transaction, the advice its values drive.

        `values` are the entries by name (labs.lab_values); `taken_at` an aware instant, or None for now."""
        actor = self._user(user, OBSERVING_ROLES, "recording labs")
        kind = str(kind or "").strip().lower()
        if kind not in labs.LAB_KINDS:
            raise ValidationError("kind", f"'{kind}' is not accepted; must be one of {', '.join(labs.LAB_KINDS)}")
        checked = labs.lab_values(kind, **values)
        now = self.service.now()

        def change(course: Course, today: date) -> LabRecorded:
            status = rules.course_status(course, today, self.monograph_of(course), self.service.policy(), now)
            nd = status.next_dose
            result = labs.record_lab(course, kind, checked, taken_at or now, now, actor.name)
            advice = labs.lab_advice(course, result, (nd.cycle, nd.day) if nd else None, self.monograph_of(course))
            return LabRecorded(result, advice, self._store_advice(course, advice, today))

        return self._change(mrn, actor, "course.lab_recorded", change, expected=expected)

    def complete_checklist(self, mrn: str, answers: dict[str, Any], user: User | str, expected: int | None = None) -> CourseStatus:
        """The pharmacist's course-start checklist (checklist.py); completing it again replaces it, audited."""
        from ..domain import checklist

        actor = self._user(user, (Role.PHARMACIST,), "completing the course-start checklist")
        now = self.service.now()
        self._change(
            mrn,
            actor,
            "course.checklist_completed",
            lambda course, today: checklist.complete(course, answers, actor.name, now, today, self.monograph_of(course)),
            expected=expected,
        )
        return self.status(mrn)

    def override_labs(self, mrn: str, reason: str, user: User | str, expected: int | None = None) -> CourseStatus:
        """A pharmacist lets the next dose be prepared without the labs it needs; the reason and what was missing are kept."""
        actor = self._user(user, (Role.PHARMACIST,), "overriding missing labs")
        why = _text("reason", reason)
        minimum = self.service.policy().override_reason_min_chars
        if len(why) < minimum:
            raise ValidationError("reason", f"has {len(why)} characters; say what happened in at least {minimum}")
        now = self.service.now()

        def change(course: Course, today: date) -> None:
            status = rules.course_status(course, today, self.monograph_of(course), self.service.policy(), now)
            if status.next_dose is None:
                raise ValidationError("mrn", f"the course for MRN {course.mrn} has no further dose")
            if not status.labs_needed:
                raise ValidationError("labs", f"no labs are missing for cycle {status.next_dose.cycle} Day {status.next_dose.day}: nothing to override")
            course.lab_overrides.append(labs.LabOverride(status.next_dose.cycle, status.next_dose.day, actor.name, why, now, tuple(status.labs_needed)))

        self._change(mrn, actor, "course.labs_overridden", change, expected=expected)
        return self.status(mrn)

    def assess_overdue(self, mrn: str, user: User | str, expected: int | None = None) -> list[AdviceRecord]:
        """Store what the course status advises today for an overdue dose or a held cycle start."""
        return self.assess(mrn, [a for a in self.status(mrn).advice if a.cycle is not None], user, expected=expected)

    def decide(
        self, mrn: str, advice_id: int | str, accepted: bool, decided_by: str, reason: str, user: User | str, expected: int | None = None
    ) -> AdviceRecord:
        actor = self._user(user, (Role.PHARMACIST,), "recording a decision on advice")
        try:
            number = int(str(advice_id).strip())
        except ValueError:
            raise ValidationError("advice", f"'{advice_id}' is not an advice number") from None

        def change(course: Course, _today: date) -> AdviceRecord:
            record = next((r for r in course.advice if r.id == number), None)
            if record is None:
                raise ValidationError("advice", f"no advice {number} is stored for MRN {course.mrn}")
            decision = Decision.make(record.advice.code, accepted, _text("by", decided_by), actor.name, _text("reason", reason), self.service.now())
            return rules.decide(course, record, decision, self.monograph_of(course))

        return self._change(mrn, actor, "course.advice_decided", change, expected=expected)
