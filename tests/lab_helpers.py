"""Labs that clear the checks before a dose, for tests about something else (issue 16)."""

from __future__ import annotations

from datetime import datetime, timezone

from infusion_app.domain import labs
from tests.drugs import BESPONSA

NORMAL = {
    "cbc": {"anc": 2.0, "platelets": 150, "transfusion_independent": True},
    "liver": {"bilirubin_x_uln": 0.8, "ast_alt_x_uln": 1.0},
    "ecg": {"qtc_ms": 420},
    "electrolytes": {"potassium": 4.1, "magnesium": 0.85},
    "vod-signs": {"weight_gain": False, "hepatomegaly": False, "ascites": False, "bilirubin_rising": False},
}
# What `course lab` is given for the same values.
CLI = {
    "cbc": ("--anc", "2", "--platelets", "150", "--transfusion-independent", "yes"),
    "liver": ("--bilirubin-x-uln", "0.8", "--ast-alt-x-uln", "1"),
    "ecg": ("--qtc", "420"),
    "electrolytes": ("--potassium", "4.1", "--magnesium", "0.85"),
    "vod-signs": ("--weight-gain", "no", "--hepatomegaly", "no", "--ascites", "no", "--bilirubin-rising", "no"),
}


def record_normal_labs(course, at: datetime | None = None, kinds=("cbc", "liver", "ecg", "electrolytes", "vod-signs")) -> None:
    """Normal results taken at `at` (default now), straight into a domain Course."""
    at = at or datetime.now(timezone.utc)
    for kind in kinds:
        labs.record_lab(course, kind, labs.lab_values(kind, **NORMAL[kind]), at, at, "test")


def cli_normal_labs(course_cli, folder, mrn="MRN001", kinds=("cbc", "liver", "ecg", "electrolytes", "vod-signs")) -> None:
    """The same through `course lab` (course_cli is tests.test_cli_course.course)."""
    for kind in kinds:
        done = course_cli(folder, "lab", mrn, "--kind", kind, *CLI[kind])
        assert done.code == 0, done.stderr


# A male patient without a partner of reproductive potential: the shortest complete checklist.
CHECKLIST = {"sex": "male", "reproductive_potential": "no", "hsct_precautions": "yes"}
CHECKLIST_CLI = ("--sex", "male", "--reproductive-potential", "no")


def complete_checklist(course, at: datetime | None = None) -> None:
    from infusion_app.domain import checklist

    at = at or datetime.now(timezone.utc)
    checklist.complete(course, CHECKLIST, "test", at, at.date(), monograph=BESPONSA)


def cli_checklist(course_cli, folder, mrn="MRN001", *extra) -> None:
    done = course_cli(folder, "checklist", mrn, *CHECKLIST_CLI, *extra)
    assert done.code == 0, done.stderr


def labs_for_dose(courses, mrn, on, user, pharmacist=None) -> None:
    """Through the course service, the normal labs a dose given on `on` needed, taken at 08:00 UTC that day
    (a dose recorded as given is checked as prep new checks it); with `pharmacist`, the course's first dose:
    the baseline ECG and electrolytes, and the checklist completed by that pharmacist."""
    from datetime import datetime as _datetime, time as _time

    taken = _datetime.combine(on, _time(8, 0), tzinfo=timezone.utc)
    for kind in ("cbc", "liver", "ecg", "electrolytes") if pharmacist else ("cbc", "liver", "vod-signs"):
        courses.record_lab(mrn, kind, NORMAL[kind], taken, user)
    if pharmacist:
        courses.complete_checklist(mrn, CHECKLIST, pharmacist)


# What the pharmacist verifying an order with no course on file gives (issue 16: labs before every dose).
ORDER_LAB_FIELDS = {
    "anc": 2.0,
    "platelets": 150,
    "transfusion_independent": True,
    "bilirubin_x_uln": 0.8,
    "ast_alt_x_uln": 1.0,
    "qtc_ms": 420,
    "potassium": 4.1,
    "magnesium": 0.85,
    "weight_gain": False,
    "hepatomegaly": False,
    "ascites": False,
    "bilirubin_rising": False,
}
ORDER_LAB_CLI = (
    "--anc",
    "2",
    "--platelets",
    "150",
    "--transfusion-independent",
    "yes",
    "--bilirubin-x-uln",
    "0.8",
    "--ast-alt-x-uln",
    "1",
    "--qtc",
    "420",
    "--potassium",
    "4.1",
    "--magnesium",
    "0.85",
    "--weight-gain",
    "no",
    "--hepatomegaly",
    "no",
    "--ascites",
    "no",
    "--bilirubin-rising",
    "no",
)


def order_labs(at: datetime | None = None) -> dict:
    """The order verification's details: normal labs (every kind) taken at `at` (default now)."""
    at = at or datetime.now(timezone.utc)
    return {"labs": labs.verification_labs(at, **ORDER_LAB_FIELDS)}
