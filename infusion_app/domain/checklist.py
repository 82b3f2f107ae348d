"""The course-start checklist a pharmacist completes and the course keeps (issue 16).

Pregnancy status of a female of reproductive potential, contraception counselling (females and
males with partners of reproductive potential), no breastfeeding, the baseline ECG and
electrolytes, and, with HSCT planned, the post-HSCT VOD/SOS precautions. The months and wording
come from the monograph [course_start]; the dates they end on are counted from the last dose
given. Until the checklist is complete the course's first dose is not prepared.

API (pure)
    ANSWERS                                     the checklist's questions (key, question)
    Checklist(answers, completed_by, completed_at)
    complete(course, answers, pharmacist, at, today, monograph) -> Checklist   (ValidationError naming the question)
    missing(course, monograph) -> list[str]     why the first dose may not be prepared yet; empty when done
    lines(course, monograph) -> list[str]       what the course shows: answers, and the dates from the last dose
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .errors import ValidationError
from .monograph import Monograph

SECTION = "course_start"
SEXES = ("female", "male")
PREGNANCY_RESULTS = ("negative", "positive")


@dataclass(frozen=True)
class Checklist:
    answers: dict[str, Any]
    completed_by: str
    completed_at: datetime
    sources: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"answers": dict(self.answers), "completed_by": self.completed_by, "completed_at": self.completed_at.isoformat(), "sources": list(self.sources)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checklist:
        return cls(dict(data["answers"]), data["completed_by"], datetime.fromisoformat(data["completed_at"]), tuple(data.get("sources") or ()))


def applies(monograph: Monograph) -> bool:
    return SECTION in monograph.raw


def _months(m: Monograph, key: str) -> int:
    return int(round(m.magnitude(f"{SECTION}.{key}", "month")))


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later (the month's last day when it has fewer days)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _yes(answers: dict[str, Any], key: str, question: str) -> bool:
    value = answers.get(key)
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in ("yes", "y", "true"):
        return True
    if text in ("no", "n", "false"):
        return False
    raise ValidationError(key.replace("_", "-"), f"is required: {question} (yes or no)")


def _choice(answers: dict[str, Any], key: str, allowed: tuple[str, ...], question: str) -> str:
    text = str(answers.get(key) or "").strip().lower()
    if text not in allowed:
        shown = f"'{answers.get(key)}' is not accepted" if answers.get(key) not in (None, "") else "is required"
        raise ValidationError(key.replace("_", "-"), f"{shown}: {question}; one of {', '.join(allowed)}")
    return text


def _date(answers: dict[str, Any], key: str, today: date) -> date:
    value = answers.get(key)
    if isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value or "").strip())
        except ValueError:
            raise ValidationError(key.replace("_", "-"), f"'{value or ''}' is not a date; use YYYY-MM-DD, e.g. 2026-12-01") from None
    if day > today:
        raise ValidationError(key.replace("_", "-"), f"{day.isoformat()} is in the future (today is {today.isoformat()})")
    return day


def complete(course: Any, answers: dict[str, Any], pharmacist: str, at: datetime, today: date, monograph: Monograph) -> Checklist:
    """Check every answer the patient's situation needs, and keep the checklist with the course."""
    m = monograph
    if not applies(m):
        raise ValidationError("checklist", f"the monograph of {m.id} has no course-start checklist")
    clean: dict[str, Any] = {"sex": _choice(answers, "sex", SEXES, "the patient's sex at birth")}
    female = clean["sex"] == "female"
    potential_question = "is she of reproductive potential" if female else "does he have a female partner of reproductive potential"
    clean["reproductive_potential"] = _yes(answers, "reproductive_potential", potential_question)
    if female and clean["reproductive_potential"]:
        clean["pregnancy_test"] = _choice(answers, "pregnancy_test", PREGNANCY_RESULTS, "the pregnancy test result")
        clean["pregnancy_test_on"] = _date(answers, "pregnancy_test_on", today).isoformat()
    if clean["reproductive_potential"]:
        months = _months(m, "contraception_female" if female else "contraception_male")
        if not _yes(answers, "contraception_counselled", f"contraception counselled ({months} months after the last dose)"):
            raise ValidationError("contraception-counselled", f"counsel on contraception for at least {months} months after the last dose first")
        clean["contraception_counselled"] = True
    if female:
        months = _months(m, "no_breastfeeding")
        if not _yes(answers, "breastfeeding_counselled", f"no breastfeeding until {months} months after the last dose, counselled"):
            raise ValidationError("breastfeeding-counselled", f"counsel: no breastfeeding for at least {months} months after the last dose first")
        clean["breastfeeding_counselled"] = True
    if course.hsct_planned:
        if not _yes(answers, "hsct_precautions", "the post-HSCT VOD/SOS precautions discussed with the transplant team"):
            raise ValidationError("hsct-precautions", "discuss the post-HSCT VOD/SOS precautions with the transplant team first")
        clean["hsct_precautions"] = True
    paths = [f"{SECTION}.{k}" for k in ("pregnancy_test", "contraception_female", "contraception_male", "no_breastfeeding", "baseline_ecg", "hsct_precautions")]
    checklist = Checklist(clean, str(pharmacist).strip(), at, tuple(f"{p}: {m.fact(p).citation}" for p in paths))
    course.checklist = checklist
    return checklist


def missing(course: Any, monograph: Monograph) -> list[str]:
    """Why the first dose may not be prepared yet: the checklist not completed, or no longer matching the course."""
    m = monograph
    if not applies(m):
        return []
    checklist = getattr(course, "checklist", None)
    if checklist is None:
        return [
            "course-start checklist not completed (pregnancy status, contraception and breastfeeding counselling, "
            "HSCT precautions): a pharmacist completes it in the course"
        ]
    if course.hsct_planned and not checklist.answers.get("hsct_precautions"):
        return ["course-start checklist: HSCT is now planned and the checklist must record the post-HSCT VOD/SOS precautions"]
    return []


def lines(course: Any, monograph: Monograph) -> list[str]:
    """The checklist as the course shows it, with the dates the precautions run to after the last dose."""
    m = monograph
    checklist = getattr(course, "checklist", None)
    if not applies(m) or checklist is None:
        return missing(course, m)
    a = checklist.answers
    female = a["sex"] == "female"
    out = [f"Course-start checklist completed by {checklist.completed_by} on {checklist.completed_at.date().isoformat()}"]
    if female and a.get("pregnancy_test"):
        flag = " — POSITIVE: embryo-fetal toxicity, the prescriber decides" if a["pregnancy_test"] == "positive" else ""
        out.append(f"pregnancy test {a['pregnancy_test']} on {a['pregnancy_test_on']}{flag}")
    last = max((d.given_on for d in course.doses), default=None)

    def until(key: str) -> str:
        months = _months(m, key)
        if last is None:
            return f"{months} months after the last dose"
        return f"until {add_months(last, months).isoformat()} ({months} months after the last dose, {last.isoformat()})"

    if a.get("contraception_counselled"):
        who = "contraception" if female else "contraception (a female partner of reproductive potential)"
        out.append(f"{who}: {until('contraception_female' if female else 'contraception_male')}")
    if a.get("breastfeeding_counselled"):
        out.append(f"no breastfeeding: {until('no_breastfeeding')}")
    if a.get("hsct_precautions"):
        out.append(f"HSCT precautions discussed: {m.text(f'{SECTION}.hsct_precautions')}")
    return out + missing(course, m)
