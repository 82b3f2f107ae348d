"""Site settings: what a site may change, their accepted values, and how they overlay the defaults.

Defaults come from resources/site-defaults.toml (domain.limits.site_defaults()); a stored value
replaces its default. Every change goes through the service, is validated here and audited.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from ..domain.bsa import FORMULAS
from ..domain.errors import DataFileError, ValidationError
from ..domain.limits import SitePolicy, site_defaults
from ..domain.security import DEFAULT_PIN_MIN_DIGITS, PIN_MAX_DIGITS, PIN_MIN_DIGITS

PAPER_SIZES = ("letter", "a4")
# Thermal label stock, width x height; the printed label (reports.label.parse_label_size) draws at this size.
# 3 x 1.5 in is not offered: it cannot hold the label with no text below 6 pt.
LABEL_SIZES = ("4x2in", "4x3in", "4x6in", "6x4in", "3x2in", "102x51mm", "100x50mm")


def _whole(low: int, high: int, unit: str) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        try:
            number = int(str(value).strip())
        except (TypeError, ValueError):
            raise ValidationError(key, f"'{value}' is not a whole number; must be {low} to {high} {unit}") from None
        if isinstance(value, bool) or not low <= number <= high or str(number) != str(value).strip().lstrip("+"):
            raise ValidationError(key, f"{value} is not accepted; must be {low} to {high} {unit}")
        return number

    return check


def _percent(low: float, high: float) -> Callable[[str, Any], float]:
    def check(key: str, value: Any) -> float:
        try:
            number = float(str(value).strip().rstrip("%"))
        except (TypeError, ValueError):
            raise ValidationError(key, f"'{value}' is not a number; must be {low:g} to {high:g} percent") from None
        if isinstance(value, bool) or not low <= number <= high:
            raise ValidationError(key, f"{value} is not accepted; must be {low:g} to {high:g} percent")
        return number

    return check


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in options:
            raise ValidationError(key, f"'{value}' is not accepted; must be one of {', '.join(options)}")
        return text

    return check


# A CUPS queue name: printable, without spaces, slashes, quotes, commas or '#' (empty: not set).
QUEUE_NAME_PATTERN = r"^[^\s/\\'\",#]{1,127}$"


def validate_queue_name(key: str, value: Any) -> str:
    import re

    text = str(value if value is not None else "").strip()
    if text and not re.match(QUEUE_NAME_PATTERN, text):
        raise ValidationError(key, f"'{text}' is not a print queue name; a name has no spaces, slashes, quotes, commas or '#', e.g. labels-bench-1")
    return text


def _flag(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValidationError(key, f"'{value}' is not accepted; must be true or false")


def _text(maximum: int) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        text = str(value).strip()
        if len(text) > maximum or any(not ch.isprintable() for ch in text):
            raise ValidationError(key, f"must be printable text of at most {maximum} characters")
        return text

    return check


MAX_DRAW_SYRINGES = 8
DRAW_EXAMPLE = "1:0.01, 3:0.1, 10:0.2, 20:1"


def draw_syringes_text(syringes: Any) -> str:
    """The draw syringes as a site types them: capacity:graduation in mL, smallest first."""
    from ..domain.formatting import format_number

    return ", ".join(f"{format_number(s.capacity_ml)}:{format_number(s.graduation_ml)}" for s in syringes)


def parse_draw_syringes(key: str, value: Any) -> str:
    """'1:0.01, 3:0.1, 10:0.2' (capacity:graduation, mL): each a whole number of marks, distinct capacities."""
    from decimal import Decimal, InvalidOperation

    text = " ".join(str(value or "").split())
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise ValidationError(key, f"name at least one syringe as capacity:graduation in mL, e.g. {DRAW_EXAMPLE}")
    if len(parts) > MAX_DRAW_SYRINGES:
        raise ValidationError(key, f"{len(parts)} syringes; at most {MAX_DRAW_SYRINGES}")
    rows: list[tuple[Decimal, Decimal]] = []
    for part in parts:
        try:
            capacity_text, graduation_text = (x.strip().removesuffix("mL").strip() for x in part.split(":"))
            capacity, graduation = Decimal(capacity_text), Decimal(graduation_text)
        except (ValueError, InvalidOperation):
            raise ValidationError(key, f"'{part}' is not capacity:graduation in mL, e.g. {DRAW_EXAMPLE}") from None
        if not (capacity.is_finite() and graduation.is_finite()) or not (0 < graduation <= capacity <= 100):
            raise ValidationError(key, f"'{part}': the graduation must be above 0 and at most the capacity, the capacity at most 100 mL")
        if capacity % graduation != 0:
            raise ValidationError(key, f"'{part}': a {capacity} mL syringe is not a whole number of {graduation} mL marks")
        if any(capacity == c for c, _g in rows):
            raise ValidationError(key, f"two syringes of {capacity} mL")
        rows.append((capacity, graduation))
    rows.sort()
    return ", ".join(f"{c.normalize():f}:{g.normalize():f}" for c, g in rows)


# key -> (validator, description)
SETTINGS: dict[str, tuple[Callable[[str, Any], Any], str]] = {
    "warning_lead_minutes": (_whole(1, 240, "minutes"), "minutes before a deadline that its warning starts"),
    "paper_size": (_choice(PAPER_SIZES), "prep sheet paper size"),
    "label_size": (_choice(LABEL_SIZES), "bag label stock size"),
    "label_queue": (validate_queue_name, "print queue for bag labels (empty: not set)"),
    "sheet_queue": (validate_queue_name, "print queue for prep sheets (empty: not set)"),
    "default_bsa_formula": (_choice(tuple(FORMULAS)), "BSA formula used when an order names none"),
    "dose_rounding_enabled": (_flag, "round doses to whole vials within the limit (HOPA)"),
    "dose_rounding_max_percent": (_percent(0, 10), "largest dose change rounding may make"),
    "weight_change_percent_adult": (_percent(1, 50), "weight change that asks for a BSA re-check (adults)"),
    "weight_change_percent_child": (_percent(1, 50), "weight change that asks for a BSA re-check (children)"),
    "weight_max_age_days": (_whole(1, 365, "days"), "oldest dosing weight accepted without a re-check"),
    "pin_min_digits": (_whole(PIN_MIN_DIGITS, PIN_MAX_DIGITS, "digits"), "fewest digits a new PIN may have"),
    "blast_count_max_age_hours": (_whole(1, 336, "hours"), "oldest circulating blast count that clears the first dose"),
    "ecg_every_days": (_whole(0, 365, "days"), "repeat ECG and electrolytes before a dose when older than this (0: baseline only)"),
    "draw_syringes": (parse_draw_syringes, "syringes that draw the dose, capacity:graduation in mL"),
    "draw_tolerance_percent": (_percent(0, 5), "how far the drawn dose may be from the calculated one before the draw is split across syringes"),
    "lab_max_age_hours": (_whole(1, 336, "hours"), "oldest CBC, liver tests and VOD/SOS check that count for the next dose"),
    "interchange_mode": (_choice(("off", "folder", "mllp")), "when an infusion ends: send nothing, write to a folder, or send over MLLP"),
    "interchange_format": (_choice(("hl7v2", "fhir")), "message format sent when an infusion ends (MLLP: hl7v2)"),
    "interchange_folder": (_text(300), "site folder the messages are written to (e.g. /srv/hl7/out)"),
    "interchange_host": (_text(253), "MLLP receiver host (e.g. interface-engine.hospital.example)"),
    "interchange_port": (_whole(1, 65535, "(port)"), "MLLP receiver port (e.g. 2575)"),
    "reconstituted_room_allowance_minutes": (_whole(0, 60, "minutes"), "minutes the reconstituted solution may stand at room temperature before a warning"),
    "premedication_window_minutes": (_whole(15, 240, "minutes"), "how long before the start of the infusion premedication may be given"),
    "premedication_duplicate_minutes": (_whole(1, 60, "minutes"), "the same premedication recorded twice within this time is refused as a double entry"),
    "infusion_minimum_tolerance_minutes": (_whole(0, 15, "minutes"), "how much sooner than its minimum duration an infusion may end"),
    "override_reason_min_chars": (_whole(3, 200, "characters"), "shortest reason accepted for an override or a deviation"),
    "clock_skew_tolerance_seconds": (
        _whole(5, 3600, "seconds"),
        "a workstation clock further than this from the database server's is warned about (shared database)",
    ),
}
DEFAULT_CLOCK_SKEW_TOLERANCE_SECONDS = 60
_MINUTE_SETTINGS = {
    "reconstituted_room_allowance_minutes": "reconstituted_room_allowance",
    "premedication_window_minutes": "premedication_window",
    "premedication_duplicate_minutes": "premedication_duplicate_window",
    "infusion_minimum_tolerance_minutes": "infusion_minimum_tolerance",
}

DEFAULT_PAPER = "letter"
DEFAULT_LABEL = "4x2in"


def validate_setting(key: str, value: Any) -> Any:
    if key not in SETTINGS:
        raise ValidationError("setting", f"'{key}' is not a setting; settings are {', '.join(SETTINGS)}")
    return SETTINGS[key][0](key, value)


@dataclass(frozen=True)
class Settings:
    """The site's settings in force: the defaults overlaid with what the site stored."""

    policy: SitePolicy
    paper_size: str
    label_size: str
    stored: dict[str, Any]  # only what the site changed
    label_queue: str = ""  # the CUPS queue that prints labels, on label_size stock
    sheet_queue: str = ""  # the CUPS queue that prints sheets, on paper_size paper

    @property
    def pin_min_digits(self) -> int:
        try:
            return int(self.stored.get("pin_min_digits", DEFAULT_PIN_MIN_DIGITS))
        except (TypeError, ValueError):
            return DEFAULT_PIN_MIN_DIGITS

    @property
    def clock_skew_tolerance(self) -> timedelta:
        try:
            return timedelta(seconds=int(self.stored.get("clock_skew_tolerance_seconds", DEFAULT_CLOCK_SKEW_TOLERANCE_SECONDS)))
        except (TypeError, ValueError):
            return timedelta(seconds=DEFAULT_CLOCK_SKEW_TOLERANCE_SECONDS)

    @property
    def warning_lead_time(self) -> timedelta:
        return self.policy.warning_lead_time

    def as_dict(self) -> dict[str, Any]:
        policy = self.policy
        return {
            "warning_lead_minutes": int(policy.warning_lead_time.total_seconds() // 60),
            "paper_size": self.paper_size,
            "label_size": self.label_size,
            "label_queue": self.label_queue,
            "sheet_queue": self.sheet_queue,
            "default_bsa_formula": policy.default_bsa_formula,
            "dose_rounding_enabled": policy.dose_rounding_enabled,
            "dose_rounding_max_percent": policy.dose_rounding_max_percent,
            "weight_change_percent_adult": policy.weight_change_percent_adult,
            "weight_change_percent_child": policy.weight_change_percent_child,
            "weight_max_age_days": int(policy.weight_max_age.total_seconds() // 86400),
            "pin_min_digits": self.pin_min_digits,
            "blast_count_max_age_hours": policy.blast_count_max_age_hours,
            "lab_max_age_hours": policy.lab_max_age_hours,
            "draw_syringes": draw_syringes_text(policy.draw_syringes),
            "draw_tolerance_percent": policy.draw_tolerance_percent,
            "ecg_every_days": policy.ecg_every_days,
            **{key: int(getattr(policy, field).total_seconds() // 60) for key, field in _MINUTE_SETTINGS.items()},
            "override_reason_min_chars": policy.override_reason_min_chars,
            "clock_skew_tolerance_seconds": int(self.clock_skew_tolerance.total_seconds()),
        }


def _stored_setting_text(key: str, value: Any, why: Exception) -> str:
    return (
        f"the stored setting {key} ({str(value)[:40]!r}) cannot be used: {getattr(why, 'message', why)}; "
        "run 'infusion-prep audit verify', then set it again (a pharmacist) or restore a backup"
    )


def _apply_setting(changes: dict[str, Any], key: str, value: Any) -> None:
    if key == "warning_lead_minutes":
        changes["warning_lead_time"] = timedelta(minutes=_stored_whole(value))
    elif key == "weight_max_age_days":
        changes["weight_max_age"] = timedelta(days=_stored_whole(value))
    elif key in _MINUTE_SETTINGS:
        changes[_MINUTE_SETTINGS[key]] = timedelta(minutes=_stored_whole(value))
    elif key == "draw_syringes":
        from ..domain.limits import DrawSyringe

        pairs = [part.split(":") for part in parse_draw_syringes(key, value).split(", ")]
        changes["draw_syringes"] = tuple(DrawSyringe(float(c), float(g)) for c, g in pairs)
    elif key == "draw_tolerance_percent":
        number = float(value)
        if isinstance(value, bool) or not 0 <= number <= 100:
            raise ValueError(f"{str(value)[:40]!r} is not a percentage")
        # The site's pharmacist set it: no longer the program's default awaiting review.
        changes.update(draw_tolerance_percent=number, draw_tolerance_verify=False)
    elif key in {f.name for f in dataclasses.fields(SitePolicy)}:
        changes[key] = value


def _stored_whole(value: Any) -> int:
    """A stored duration's whole number (int() alone took 2.9 as 2 and True as 1); never negative,
    which every setting set through the program is (a negative lead time failed as 'invalid' input)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{str(value)[:40]!r} is not a whole number")
    number = int(value)
    if number < 0:
        raise ValueError(f"{number} is negative; a duration is 0 or more")
    return number


def build_settings(stored: dict[str, Any]) -> Settings:
    base = site_defaults()
    changes: dict[str, Any] = {}
    for key, value in stored.items():
        if key not in SETTINGS:
            continue  # written by a newer version; ignored rather than fatal
        try:
            # A value edited in the table (text for minutes) is the stored setting's fault (exit 3),
            # never a traceback. Not checked again by validate_setting: a value stored under an
            # older, wider rule keeps working rather than stopping every command.
            _apply_setting(changes, key, value)
        except (ValueError, TypeError) as why:
            raise DataFileError(_stored_setting_text(key, value, why)) from None
    try:
        policy = dataclasses.replace(base, **changes)
    except (ValueError, TypeError) as why:  # a value the site policy refuses (a negative lead time)
        raise DataFileError(
            f"the stored settings cannot be used: {getattr(why, 'field', '')} {getattr(why, 'message', why)}; "
            "run 'infusion-prep audit verify', then set it again (a pharmacist) or restore a backup"
        ) from None
    return Settings(
        policy=policy,
        paper_size=str(stored.get("paper_size", DEFAULT_PAPER)),
        label_size=str(stored.get("label_size", DEFAULT_LABEL)),
        stored=dict(stored),
        label_queue=str(stored.get("label_queue", "") or ""),
        sheet_queue=str(stored.get("sheet_queue", "") or ""),
    )
