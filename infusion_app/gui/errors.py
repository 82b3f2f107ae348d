"""One way to turn what the service refuses into words on a screen.

The domain and the service name a field by its data name ("dob", "given_at", a payer-policy fact's id) and
say what is wrong; a screen says it with the label the user sees next to the field ("Date of
birth: ..."). Every page uses error_text(), with its own labels where its form calls a field
something else, so no message shows "Dob:" or a raw data name.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from ..domain.errors import ValidationError

# Data names of fields -> what the program's forms call them (field_labels adds the payer's facts).
FIELD_LABELS: dict[str, str] = {
    "mrn": "MRN",
    "name": "Name",
    "patient name": "Patient name",
    "dob": "Date of birth",
    "date_of_birth": "Date of birth",
    "height": "Height",
    "weight": "Weight",
    "cycle": "Cycle",
    "day": "Day",
    "formula": "BSA formula",
    "response": "Response",
    "reduce-pct": "Dose reduction",
    "reduction-level": "Dose reduction",
    "vial": "Vial",
    "lot": "Lot",
    "expiry": "Expiry",
    "code": "Vial code",
    "preparation id": "Preparation id",
    "storage": "Bag kept",
    "at": "Time",
    "now": "Clock time",  # the injected clock's instant: a caller's mistake, never typed
    "given_at": "Given at",
    "drug_class": "Class",
    "drug": "Drug",
    "dose": "Dose",
    "other": "Other drug",
    "dose_checked": "Dose checked",
    "corrects": "Entry",
    "entered": "Values re-entered at the check",
    "correction reason": "Reason for the correction",
    "reason": "Reason",
    "deviation reason": "Reason for the deviation",
    "override reason": "Reason for the override",
    "override": "Override",
    "user": "User",
    "pin": "PIN",
    "role": "Role",
    "dose-date": "Dose date",
    "start": "Day 1",
    "setting": "Setting",
    "warning lead time": "Warning lead time",
    "infusion duration": "Infusion duration",
    "advice": "Advice",
    "by": "Recorded by",
    "cause": "Cause",
    "database": "Database",
    "deadline": "Alarm",
    "details": "Details",
    "event": "Step",
    "extend-to-28": "Extended cycle 1",
    "format": "Format",
    "interruption-days": "Interruption (days)",
    "kind": "Kind",
    "labs": "Labs",
    "labs-taken": "Labs taken at",
    "baseline-taken": "Baseline ECG, electrolytes taken at",
    "labs override reason": "Reason for the missing labs",
    "regimen": "Regimen",
    "what": "What",
    "blasts": "Blasts",
    "bilirubin": "Total bilirubin",
    "bilirubin-uln": "Bilirubin ULN",
    "bilirubin-x-uln": "Total bilirubin (× ULN)",
    "ast-alt-x-uln": "Higher of AST/ALT (× ULN)",
    "taken": "Taken at",
    "low-counts-days": "Days of low counts",
    "state": "Alarm state",
    "reduction": "Dose reduction",
    "breastfeeding-counselled": "No breastfeeding counselled",
    "checklist": "Course-start checklist",
    "child-reason": "Reason for the child setting",
    "contraception-counselled": "Contraception counselled",
    "hsct-precautions": "Post-HSCT VOD/SOS precautions",
}


@cache
def field_labels() -> dict[str, str]:
    """FIELD_LABELS with the payer policy's facts as its file labels them (a name in FIELD_LABELS
    wins). Read at the first message, not when the first window is built."""
    from ..domain.coverage import fact_labels

    return {**fact_labels(), **FIELD_LABELS}


def field_label(field: str, labels: Mapping[str, str] | None = None) -> str:
    """The label a user sees for a field the service names."""
    for table in (labels or {}, field_labels()):
        if field in table:
            return table[field]
    if field[:1].isupper():  # already a form's label
        return field
    return field.replace("_", " ").replace("-", " ").capitalize()


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def error_text(exc: BaseException, labels: Mapping[str, str] | None = None) -> str:
    """What to show for a ValidationError (with the field's label), a refusal, or a course block."""
    if isinstance(exc, ValidationError):
        return f"{field_label(exc.field, labels)}: {exc.message}"
    # Here, not at import: the sign-in window's widgets use this module, and the course rules
    # bring in the dose engine (issue 19: the first window loads only what it needs).
    from ..domain.course import CourseBlocked

    if isinstance(exc, CourseBlocked):
        return "; ".join(getattr(exc, "reasons", [])) or str(exc)
    return _sentence(getattr(exc, "message", None) or str(exc))
