"""Downtime paper: what a pharmacy and a chair work from when no workstation can run the program.

`render_downtime_kit` prints a blank prep worksheet with every field to write by hand, the
monograph's numbers and limits (each with its source, printed from the monograph data, never
typed here), the dose steps, a BSA table, and a sheet of blank bag labels.
`render_downtime_snapshot` prints what was in progress: every active preparation with its
deadlines and the next dose of every open course, for printing at each shift change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..domain.bsa import body_surface_area, get_formula
from ..domain.dosing import bag_as_supplied, makes_up_to_bag_volume
from ..domain.formatting import format_amount, format_instant, format_number, format_value
from ..domain.monograph import Monograph
from .fonts import register_fonts

PAPERS = {"letter": letter, "a4": A4}
GRID = colors.Color(0.45, 0.45, 0.45)
BLANK = "_" * 22
# The BSA table's grid: a layout choice covering adult and adolescent patients, not a drug fact.
BSA_HEIGHTS_CM = tuple(range(140, 205, 5))
BSA_WEIGHTS_KG = tuple(range(40, 135, 10))

# Monograph sections whose facts a preparer needs on paper, in bench order.
LIMIT_SECTIONS = ("product", "reconstitution", "dilution", "infusion", "time_limits", "premedication")


def _styles():
    regular, bold = register_fonts()
    return {
        "title": ParagraphStyle("title", fontName=bold, fontSize=14, leading=17, spaceAfter=4),
        "h": ParagraphStyle("h", fontName=bold, fontSize=10.5, leading=13, spaceBefore=6, spaceAfter=3),
        "body": ParagraphStyle("body", fontName=regular, fontSize=8.5, leading=10.5),
        "small": ParagraphStyle("small", fontName=regular, fontSize=7, leading=8.5),
        "bold": ParagraphStyle("bold", fontName=bold, fontSize=8.5, leading=10.5),
        "banner": ParagraphStyle("banner", fontName=bold, fontSize=9, leading=11, textColor=colors.white, backColor=colors.Color(0.7, 0, 0), borderPadding=3),
    }


def _p(text: str, style) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _grid(rows, widths, styles, header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    commands = [
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.9, 0.9, 0.9)))
    table.setStyle(TableStyle(commands))
    return table


def _fact_text(monograph: Monograph, path: str) -> str:
    fact = monograph.fact(path)
    pending = " [pending pharmacist review]" if fact.verify else ""
    return f"{format_value(fact.value)}{pending}"


def _header(monograph: Monograph, title: str, printed_at: datetime, s) -> list:
    return [
        _p(title, s["title"]),
        _p(
            f"DOWNTIME: {monograph.generic_name} ({monograph.brand_name}), NDC {monograph.text('product.ndc')}. "
            "Enter every step in the program afterwards as a downtime entry, with the time written here.",
            s["banner"],
        ),
        Spacer(1, 3),
        _p(f"Monograph {monograph.id} revision {monograph.revision} ({monograph.label_revision}). Printed {format_instant(printed_at)}.", s["small"]),
    ]


def _by_regimen(monograph: Monograph) -> bool:
    return bool(monograph.regimens)


def _has(monograph: Monograph, path: str) -> bool:
    return path in monograph.facts


def _premedication_timing(monograph: Monograph, drug_class: str, short: bool = False) -> str:
    """How long before the start the class counts (the sheet's wording, domain/preparation.py)."""
    from ..domain.limits import site_defaults
    from ..domain.preparation import premedication_timing

    return premedication_timing(drug_class, monograph, site_defaults(), short=short)


def _worksheet(monograph: Monograph, s, width: float) -> list:
    label_w, blank_w = 52 * mm, (width - 52 * mm) / 2
    # What decides the dose is the drug's: the regimen picked at order entry, or the latest response.
    decides = (
        "Regimen (" + " / ".join(r.id for r in monograph.regimens) + ")"
        if _by_regimen(monograph)
        else f"Latest response (cycles from {monograph.raw['dosing']['later_cycles_from']})"
    )
    container = "Container: bag (mL) or syringe (mL)" if "syringe" in monograph.raw else "Container: bag (mL)"
    fields = [
        "Patient name",
        "MRN",
        "Date of birth",
        "Height (with unit)",
        "Weight (with unit)",
        "BSA (m², formula)",
        "Cycle / Day",
        decides,
        "Dose (mg/m²)",
        "Dose (mg) = mg/m² × BSA",
    ]
    if _by_regimen(monograph):
        fields.append("Dose after the regimen's cap per dose (mg), if any")
    fields += [
        "Vials needed",
        "Reconstituted at (date, time) / by",
        "Dilution at (date, time) / by / room or fridge",
        "Volume withdrawn (mL)",
        container,
        "Final volume (mL) / concentration (mg/mL)",
        "In-line filter (type)" if monograph.flag("dilution.filter_required") else None,
        "Verified by (pharmacist, not the preparer)",
        "Labelled at / by",
        "Dispensed at / by",
    ]
    rows = [[_p("Field", s["bold"]), _p("Entry", s["bold"]), _p("Checked / initials", s["bold"])]]
    rows += [[_p(f, s["body"]), "", ""] for f in fields if f]
    vials = [[_p("Vial", s["bold"]), _p("Lot", s["bold"]), _p("Expiry", s["bold"])]]
    vials += [[_p(str(n), s["body"]), "", ""] for n in range(1, 7)]
    premeds = [[_p("Premedication class, when", s["bold"]), _p("Drug, dose, time given", s["bold"]), _p("Nurse", s["bold"])]]
    premeds += [[_p(f"{c}: {_premedication_timing(monograph, str(c), short=True)}", s["small"]), "", ""] for c in monograph.premedication_classes()]
    chair = [[_p("At the chair", s["bold"]), _p("Date, time", s["bold"]), _p("Nurse", s["bold"])]]
    chair += [
        [_p(f, s["body"]), "", ""]
        for f in (
            "Patient confirmed by two identifiers (name + DOB or MRN)",
            "Bag from fridge (if refrigerated)",
            "In-line filter in place" if monograph.flag("dilution.filter_required") else "",
            "Infusion started",
            "Infusion ended",
            "Observation ended",
        )
        if f
    ]
    chair += [[_p("Deviations, overrides (who, why)", s["body"]), "", ""]]
    widths = [label_w, blank_w, blank_w]
    blocks = [_p("Prep worksheet", s["h"])]
    for rows_ in (rows, vials, premeds, chair):
        table = _grid(rows_, widths, s)
        table.setStyle(TableStyle([("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white]), ("MINROWHEIGHT", (0, 1), (-1, -1), 14)]))
        blocks += [table, Spacer(1, 4)]
    return blocks


def _limits(monograph: Monograph, s, width: float) -> list:
    rows = [[_p("Item", s["bold"]), _p("Value", s["bold"]), _p("Source", s["bold"])]]
    for path, fact in monograph.facts.items():
        if path.split(".")[0] not in LIMIT_SECTIONS:
            continue
        rows.append([_p(path.replace("_", " "), s["small"]), _p(_fact_text(monograph, path), s["small"]), _p(fact.citation, s["small"])])
    return [_p("The monograph's numbers and limits", s["h"]), _grid(rows, [45 * mm, width - 105 * mm, 60 * mm], s)]


def _row_responses(row, monograph: Monograph) -> str:
    """The responses a dose row doses, in the drug's words (its [dosing] responses, joined by "/"), or "any"."""
    if row.in_remission is None:
        return "any"
    return "/".join(monograph.response_words(r) for r, _ in monograph.response_choices() if monograph.in_remission(r) == row.in_remission)


def _dose_table(monograph: Monograph, s, width: float) -> list:
    """The mg/m² of each dose day: by cycle and response, or (a drug dosed by regimen) by regimen with its cap."""
    if not _by_regimen(monograph):
        days = monograph.dose_days
        rows = [[_p("Cycles", s["bold"]), _p("Response", s["bold"])] + [_p(f"Day {d}", s["bold"]) for d in days]]
        for row in monograph.dose_rows:
            rows.append(
                [_p(row.cycles, s["body"]), _p(_row_responses(row, monograph), s["body"])]
                + [_p(format_value(row.mg_per_m2_by_day[d].value), s["body"]) for d in days]
            )
        table_w = (width - 46 * mm) / len(days)
        return [_grid(rows, [20 * mm, 26 * mm] + [table_w] * len(days), s)]
    rows = [[_p("Regimen", s["bold"]), _p("mg/m² by dose day", s["bold"]), _p("Most per dose", s["bold"])]]
    for regimen in monograph.regimens:
        view = monograph.with_regimen(regimen.id)
        row = view.dose_rows[0]
        days = "; ".join(f"Day {d}: {format_value(row.mg_per_m2_by_day[d].value)}" for d in view.dose_days)
        cap = format_value(regimen.cap_per_dose.value) if regimen.cap_per_dose is not None else "not capped"
        rows.append([_p(regimen.name, s["small"]), _p(days, s["body"]), _p(cap, s["body"])])
    return [_grid(rows, [width * 0.5, width * 0.3, width * 0.2], s)]


def _draw_rule() -> str:
    """The bench's draw rule on paper, as the engine applies it (the site's default syringe table and
    tolerance): a hand-drawn dose must not be read to a coarse syringe's marks either."""
    from ..domain.limits import site_defaults

    policy = site_defaults()
    if not policy.draw_syringes:
        return ""
    table = ", ".join(f"{format_amount(s.capacity_ml, 'mL')} by {format_amount(s.graduation_ml, 'mL')}" for s in policy.draw_syringes)
    return (
        f" (in mL), read on the smallest syringe that holds it ({table}); when its marks cannot read the volume within "
        f"{format_number(policy.draw_tolerance_percent, 2)}% of the dose, split the draw: syringes drawn full, the rest on "
        "the smallest syringe that holds it. The dose given and billed is the volume drawn × the concentration"
    )


def _container_step(monograph: Monograph) -> str:
    """Where the dose goes: the label's bag (one volume, or the smallest listed that holds the dose in
    the window) and, where the monograph has one, the syringe path and when it is taken."""
    vehicle = monograph.text("dilution.vehicle")
    window = f"{_fact_text(monograph, 'dilution.concentration_min')} to {_fact_text(monograph, 'dilution.concentration_max')}"
    if _has(monograph, "dilution.final_volume"):
        bag = f"add to {vehicle} for a final volume of {_fact_text(monograph, 'dilution.final_volume')}; final concentration must be {window}."
    else:
        sizes = ", ".join(format_value(v) for v in monograph.items("dilution.bag_volumes"))
        # The rule the program applies (domain/dosing._bag_choice), so that paper and screen choose the same bag.
        if bag_as_supplied(monograph):
            made = "dose ÷ (bag volume + dose volume): the whole bag as supplied"
            if makes_up_to_bag_volume(monograph):
                made += (
                    f"; when that is below {_fact_text(monograph, 'dilution.concentration_min')}, first withdraw and discard saline equal to "
                    "the dose volume, so that the bag is made up to its volume: dose ÷ bag volume"
                )
        else:
            made = "dose ÷ bag volume"
        bag = f"add to {vehicle} in the smallest bag of {sizes} mL in which the final concentration is within {window} ({made})."
    text = f"5. Withdraw dose ÷ {_fact_text(monograph, 'reconstitution.concentration')}{_draw_rule()}; {bag}"
    if "syringe" in monograph.raw:
        syringe_window = f"{_fact_text(monograph, 'syringe.concentration_min')} to {_fact_text(monograph, 'syringe.concentration_max')}"
        when = (
            f"a dose under {_fact_text(monograph, 'syringe.dose_below')}"
            if _has(monograph, "syringe.dose_below")
            else f"a dose too small for the bag's {window}"
        )
        text += (
            f" Syringe: {when} is prepared in a syringe of {monograph.text('syringe.vehicle_short')} at {syringe_window}, "
            f"infused over {_fact_text(monograph, 'syringe.infusion_duration')} on a syringe pump."
        )
    return text


def _deadline_step(monograph: Monograph) -> str:
    parts = []
    if _has(monograph, "time_limits.reconstitution_to_dilution"):
        parts.append(f"dilute within {_fact_text(monograph, 'time_limits.reconstitution_to_dilution')} of reconstitution")
    if _has(monograph, "time_limits.reconstituted_refrigerated_max"):
        parts.append(f"reconstituted vial refrigerated at most {_fact_text(monograph, 'time_limits.reconstituted_refrigerated_max')}")
    if _has(monograph, "time_limits.reconstitution_to_end_of_infusion"):
        parts.append(f"end the infusion within {_fact_text(monograph, 'time_limits.reconstitution_to_end_of_infusion')} of reconstitution")
    if _has(monograph, "time_limits.diluted_room_max"):
        including = (
            " including the infusion"
            if _has(monograph, "time_limits.diluted_room_max_includes_infusion") and monograph.flag("time_limits.diluted_room_max_includes_infusion")
            else ""
        )
        parts.append(f"diluted at room temperature {_fact_text(monograph, 'time_limits.diluted_room_max')}{including}")
    if _has(monograph, "time_limits.diluted_refrigerated_max"):
        parts.append(f"diluted refrigerated {_fact_text(monograph, 'time_limits.diluted_refrigerated_max')}")
    if _has(monograph, "time_limits.refrigerated_bag_warm_up"):
        parts.append(f"a refrigerated bag warms to room temperature for {_fact_text(monograph, 'time_limits.refrigerated_bag_warm_up')}")
    if _has(monograph, "time_limits.observation_after_infusion"):
        parts.append(f"observe {_fact_text(monograph, 'time_limits.observation_after_infusion')} after the infusion")
    return "6. Deadlines: " + "; ".join(parts) + "."


def _filter_text(monograph: Monograph) -> str:
    required = monograph.flag("dilution.filter_required")
    allowed = " or ".join(monograph.items("dilution.filters_allowed"))
    forbidden = monograph.items("dilution.filters_forbidden")
    text = f"GIVE THROUGH AN IN-LINE FILTER: {allowed}." if required else f"An in-line filter is not required; if one is used: {allowed}."
    return text + (f" Never {' or '.join(forbidden)}." if forbidden else "")


def _premedication_step(monograph: Monograph) -> str:
    classes = "; ".join(f"{c} {_premedication_timing(monograph, str(c))}" for c in monograph.premedication_classes())
    every = " before every dose" if monograph.flag("premedication.before_every_dose") else ""
    return f"8. Premedication{every}: {classes}."


def _dose_steps(monograph: Monograph, formula_key: str, s, width: float) -> list:
    formula = get_formula(formula_key)
    vial = _fact_text(monograph, "product.vial_deliverable")
    if _by_regimen(monograph):
        decided = "the pharmacist's regimen (table above) for the cycle and day × BSA; where the regimen has a most per dose, the dose is at most that"
    else:
        decided = (
            f"mg/m² for the cycle, day and response (table above) × BSA; cycles from "
            f"{monograph.raw['dosing']['later_cycles_from']} on follow the latest response"
        )
    rate = f" at {_fact_text(monograph, 'infusion.rate')}" if _has(monograph, "infusion.rate") else " (rate = final volume ÷ infusion time)"
    steps = [
        f"1. BSA by {formula.name} from height and weight (table below, or compute).",
        f"2. Dose (mg) = {decided}.",
        f"3. Vials = dose ÷ {vial} per vial, rounded up.",
        f"4. Reconstitute each vial with {_fact_text(monograph, 'reconstitution.diluent_volume_per_vial')} {monograph.text('reconstitution.diluent')} "
        f"→ {_fact_text(monograph, 'reconstitution.concentration')}. {monograph.text('reconstitution.mixing')}",
        _container_step(monograph),
        _deadline_step(monograph),
        f"7. Bag: infuse over {_fact_text(monograph, 'infusion.duration')}{rate} {monograph.text('infusion.route')}. "
        f"{monograph.text('infusion.line')} {_filter_text(monograph)}",
        _premedication_step(monograph),
    ]
    return [_p("Dose steps", s["h"])] + _dose_table(monograph, s, width) + [Spacer(1, 3)] + [_p(t, s["body"]) for t in steps]


def _bsa_table(formula_key: str, s, width: float) -> list:
    formula = get_formula(formula_key)
    rows = [[_p("cm \\ kg", s["bold"])] + [_p(format_number(w, 0), s["bold"]) for w in BSA_WEIGHTS_KG]]
    for h in BSA_HEIGHTS_CM:
        rows.append([_p(format_number(h, 0), s["bold"])] + [_p(format_number(body_surface_area(h, w, formula_key), 2), s["small"]) for w in BSA_WEIGHTS_KG])
    col = (width - 16 * mm) / len(BSA_WEIGHTS_KG)
    return [_p(f"BSA table (m², {formula.name}): height in cm down, weight in kg across", s["h"]), _grid(rows, [16 * mm] + [col] * len(BSA_WEIGHTS_KG), s)]


def _label_duration(monograph: Monograph) -> str:
    bag = _fact_text(monograph, "infusion.duration")
    if "syringe" not in monograph.raw:
        return bag
    syringe = _fact_text(monograph, "syringe.infusion_duration")
    return bag if syringe == bag else f"bag {bag} / syringe {syringe}"


def _label_set(monograph: Monograph, s, width: float) -> list:
    lines = [
        ("Patient", BLANK),
        ("MRN / DOB", BLANK),
        (f"{monograph.generic_name} ({monograph.brand_name})", "dose ______ mg"),
        (f"in {monograph.text('dilution.vehicle_short')}", "total ______ mL, ______ mg/mL"),
        *((("Container (circle one)", "bag / syringe"),) if "syringe" in monograph.raw else ()),
        (f"{monograph.text('infusion.route')} over", _label_duration(monograph)),
        ("Prepared by / at", BLANK),
        ("Verified by", BLANK),
        ("Start infusion by", BLANK),
        ("End infusion by", BLANK),
    ]
    label = [[_p(a, s["small"]), _p(b, s["small"])] for a, b in lines]
    label.append([_p(monograph.text("product.hazardous_drug"), s["small"]), _p(monograph.text("reconstitution.light"), s["small"])])
    if monograph.flag("dilution.filter_required"):
        label.append([_p("IN-LINE FILTER", s["small"]), _p(" or ".join(monograph.items("dilution.filters_allowed")), s["small"])])
    half = (width - 6 * mm) / 2
    what = "Bag or syringe labels (write by hand; one per bag or syringe)" if "syringe" in monograph.raw else "Bag labels (write by hand; one per bag)"
    blocks = [_p(what, s["h"])]
    for _ in range(3):
        pair = []
        for _ in range(2):
            t = Table(label, colWidths=[half * 0.45, half * 0.55])
            t.setStyle(
                TableStyle(
                    [
                        ("BOX", (0, 0), (-1, -1), 1.2, colors.black),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("TOPPADDING", (0, 0), (-1, -1), 1),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                    ]
                )
            )
            pair.append(t)
        row = Table([pair], colWidths=[half + 3 * mm, half + 3 * mm])
        blocks += [KeepTogether(row), Spacer(1, 5)]
    return blocks


def _document(stream, paper: str):
    size = PAPERS[paper]
    doc = SimpleDocTemplate(
        stream,
        pagesize=size,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title="infusion-prep downtime",
        author="infusion-prep",
    )
    return doc, size[0] - 24 * mm


def render_downtime_kit(monograph: Monograph, stream: BinaryIO, printed_at: datetime, formula_key: str, paper: str = "letter") -> None:
    s = _styles()
    doc, width = _document(stream, paper)
    story = _header(monograph, "Downtime prep worksheet", printed_at, s) + _worksheet(monograph, s, width)
    story += [PageBreak()] + _header(monograph, "Downtime reference", printed_at, s) + _dose_steps(monograph, formula_key, s, width)
    story += _bsa_table(formula_key, s, width)
    story += [PageBreak()] + _limits(monograph, s, width)
    story += [PageBreak()] + _header(monograph, "Downtime labels", printed_at, s) + _label_set(monograph, s, width)
    doc.build(story)


@dataclass(frozen=True)
class SnapshotPreparation:
    prep_id: str
    patient: str
    mrn: str
    dose: str
    step: str
    deadlines: Sequence[tuple[str, datetime, str]]  # label, instant, state


@dataclass(frozen=True)
class SnapshotCourse:
    mrn: str
    next_dose: str


def render_downtime_snapshot(
    drugs: Sequence[Monograph],
    stream: BinaryIO,
    printed_at: datetime,
    preparations: Sequence[SnapshotPreparation],
    courses: Sequence[SnapshotCourse],
    paper: str = "letter",
) -> None:
    """`drugs`: the monographs of what is listed (each named in the header: a snapshot may hold several drugs)."""
    s = _styles()
    doc, width = _document(stream, paper)
    story = []
    for i, monograph in enumerate(drugs):
        header = _header(monograph, f"Downtime snapshot: {len(preparations)} active preparation(s)", printed_at, s)
        story += header if i == 0 else header[1:]
    story.append(_p("Read-only copy as printed; times in local time with the date. Deadlines passed since printing are not shown as such.", s["small"]))
    rows = [[_p(h, s["bold"]) for h in ("Preparation", "Patient / MRN", "Dose, next step", "Deadlines")]]
    for p in preparations:
        deadline_text = "<br/>".join(escape(f"{label}: {format_instant(at)} [{state}]") for label, at, state in p.deadlines) or "none yet"
        rows.append(
            [
                _p(p.prep_id, s["bold"]),
                _p(f"{p.patient} / {p.mrn}", s["body"]),
                _p(f"{p.dose}; next: {p.step}", s["body"]),
                Paragraph(deadline_text, s["small"]),
            ]
        )
    if not preparations:
        rows.append([_p("no active preparation", s["body"]), "", "", ""])
    story += [_p("Active preparations", s["h"]), _grid(rows, [28 * mm, 45 * mm, 40 * mm, width - 113 * mm], s)]
    course_rows = [[_p("MRN", s["bold"]), _p("Next dose", s["bold"])]]
    course_rows += [[_p(c.mrn, s["body"]), _p(c.next_dose, s["body"])] for c in courses] or [[_p("no open course", s["body"]), ""]]
    story += [_p("Open treatment courses", s["h"]), _grid(course_rows, [40 * mm, width - 40 * mm], s)]
    doc.build(story)


def dose_text(dose_mg: float | None) -> str:
    return "dose not stored" if dose_mg is None or (isinstance(dose_mg, float) and math.isnan(dose_mg)) else format_amount(dose_mg, "mg")
