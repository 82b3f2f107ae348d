"""An independent cross-check of the clinical core against the label, not against the code.

Every expected value here is recomputed by hand from shared/reference/besponsa-label.md and
practice-standards.md: the label's numbers are written out below on purpose (with the line of the
label they come from), so that a wrong number in the monograph data file, or a wrong rule in the
engine, shows up as a disagreement instead of being copied into the expectation.
"""

from __future__ import annotations

import itertools
import math
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest

from infusion_app.domain.course import (
    CourseBlocked,
    cycle_limit,
    new_course,
    plan_cycle,
    record_blasts,
    record_dose,
    record_response,
    start_cycle,
)
from infusion_app.domain.deadlines import compute_deadlines
from infusion_app.domain.dosing import DoseOrder, calculate_dose
from infusion_app.domain.monograph import load_monograph
from infusion_app.domain.preparation import StepRefused, check_event
from infusion_app.domain.limits import site_defaults
from infusion_app.domain.records import Event, EventType, Patient, Preparation, Role, User
from tests.drugs import BESPONSA
from tests.prep_helpers import vials_for

# --- the label, written out by hand ----------------------------------------------------------------
# "Dosing (mg/m², by body surface area)" table: (Day 1, Day 8, Day 15).
LABEL_CYCLE_1 = {1: Decimal("0.8"), 8: Decimal("0.5"), 15: Decimal("0.5")}
LABEL_LATER_CR = {1: Decimal("0.5"), 8: Decimal("0.5"), 15: Decimal("0.5")}
LABEL_LATER_NO_CR = {1: Decimal("0.8"), 8: Decimal("0.5"), 15: Decimal("0.5")}
VIAL_MG = Decimal("0.9")  # Product: 0.9 mg deliverable
RECONSTITUTED_MG_PER_ML = Decimal("0.25")  # Preparation: 4 mL SWFI -> 0.25 mg/mL
FINAL_ML = Decimal("50")  # Preparation: to a total of 50 mL
CONC_MIN, CONC_MAX = Decimal("0.01"), Decimal("0.1")  # Preparation: 0.01-0.1 mg/mL
J9229_UNIT_MG = Decimal("0.1")  # Product / billing: 1 unit = 0.1 mg, one vial = 9 units
UNITS_PER_VIAL = 9
REDUCTION = Decimal("0.25")  # Dose modifications: reduce the total cycle dose by 25%
# Syringe Administration (CHEO's figures, pending the label's): 0.025-0.1 mg/mL, on a half-mL step.
SYRINGE_MIN, SYRINGE_MAX, SYRINGE_STEP = Decimal("0.025"), Decimal("0.1"), Decimal("0.5")
# The bench's draw syringes (issue 16), written out as (capacity, mark) in hundredths of a mL:
# 1 mL by 0.01, 3 mL by 0.1, 10 mL by 0.2, 20 mL by 1.
DRAW_SYRINGES_HUNDREDTHS = [(100, 1), (300, 10), (1000, 20), (2000, 100)]


DRAW_TOLERANCE_PERCENT = 1  # site-defaults.toml [draw] tolerance (pharmacist review): beyond it the draw is split


def draw_parts(volume: Decimal) -> list[tuple[int, int, int]]:
    """How the bench draws the volume, worked in whole hundredths of a mL (not the engine's Decimal
    quantize), as (hundredths drawn, capacity, mark) per syringe: the fewest syringes that come within
    1% of the volume (or half a mark of the smallest syringe, when that is more). Each syringe but the
    last, largest first, is drawn full or to its last mark below what is left; the last, the smallest
    that holds what is left, to its nearest mark (half a mark rounding up). Among as many syringes: the
    closest, then the most drawn full, then the most in the first ones; each
    part read on the smallest syringe that holds it and has a mark at it."""
    hundredths = volume * 100
    assert hundredths == int(hundredths), volume  # a dose to 0.01 mg at 0.25 mg/mL is a whole 0.04 mL
    wanted = int(hundredths)
    largest_first = sorted(DRAW_SYRINGES_HUNDREDTHS, reverse=True)
    # in hundredths of a hundredth, so that 1% of 0.04 mL stays a whole number
    tolerance = max(wanted * DRAW_TOLERANCE_PERCENT, DRAW_SYRINGES_HUNDREDTHS[0][1] * 50)

    def leads(count, start, total):
        if count == 0:
            yield [], total
            return
        for index in range(start, len(largest_first)):
            capacity, mark = largest_first[index]
            for amount in sorted({capacity, min(capacity, (wanted - total) // mark * mark)}, reverse=True):
                if 0 < amount and total + amount < wanted:
                    for rest, end in leads(count - 1, index, total + amount):
                        yield [(amount, capacity, mark), *rest], end

    for count in range(1, wanted + 2):
        best = None
        for lead, total in leads(count - 1, 0, 0):
            left = wanted - total
            # the smallest syringe holding what is left, else the largest to its top mark
            holder = next(((c, m) for c, m in DRAW_SYRINGES_HUNDREDTHS if c >= left), DRAW_SYRINGES_HUNDREDTHS[-1])
            marks, rest = divmod(left, holder[1])
            if 2 * rest >= holder[1]:
                marks += 1
            marks = min(marks, holder[0] // holder[1])
            if marks == 0:
                continue
            parts = [*lead, (marks * holder[1], *holder)]
            error = abs(total + marks * holder[1] - wanted)
            key = (error, sum(amount != capacity for amount, capacity, _ in lead), -total)
            if best is None or key < best[0]:
                best = (key, parts)
        if best is not None and best[0][0] * 100 <= tolerance:
            # each part then on the smallest syringe that holds it and has a mark there (never coarser)
            return [next((a, c, m) for c, m in DRAW_SYRINGES_HUNDREDTHS if c >= a and a % m == 0 and m <= mark) for a, _, mark in best[1]]
    raise AssertionError(volume)


def drawn_volume(volume: Decimal) -> Decimal:
    return Decimal(sum(amount for amount, _, _ in draw_parts(volume))) / 100


def pump_mark(final: Decimal) -> Decimal:
    """The syringe path's total, moved up the half-mL step to a mark of the smallest syringe holding it."""
    hundredths = int(final * 100)
    while hundredths <= DRAW_SYRINGES_HUNDREDTHS[-1][0]:
        capacity, mark = next((c, m) for c, m in DRAW_SYRINGES_HUNDREDTHS if c >= hundredths)
        if hundredths % mark == 0:
            return Decimal(hundredths) / 100
        hundredths += int(SYRINGE_STEP * 100)
    return final


# Body surface area table (H cm, W kg).
def label_bsa(formula: str, h: float, w: float) -> float:
    if formula == "mosteller":
        return math.sqrt(h * w / 3600)
    if formula == "dubois":
        return 0.007184 * h**0.725 * w**0.425
    if formula == "haycock":
        return 0.024265 * h**0.3964 * w**0.5378
    if formula == "gehan-george":
        return 0.0235 * h**0.42246 * w**0.51456
    if formula == "boyd":
        wg = w * 1000
        return 0.0003207 * h**0.3 * wg ** (0.7285 - 0.0188 * math.log10(wg))
    raise KeyError(formula)


LABEL_BSA_170_70 = {"mosteller": 1.8181, "dubois": 1.8097, "haycock": 1.8257, "gehan-george": 1.8313, "boyd": 1.8347}


def half_up(value: Decimal, step: str) -> Decimal:
    return (value / Decimal(step)).quantize(Decimal(1), rounding=ROUND_HALF_UP) * Decimal(step)


def label_mg_per_m2(cycle: int, day: int, response: str | None) -> Decimal:
    if cycle == 1:
        return LABEL_CYCLE_1[day]
    return (LABEL_LATER_CR if response in ("cr", "cri") else LABEL_LATER_NO_CR)[day]


# --- 1. the dose engine ------------------------------------------------------------------------------


@pytest.mark.parametrize("formula", sorted(LABEL_BSA_170_70))
def test_bsa_formulas_match_the_label_worked_example(formula):
    assert label_bsa(formula, 170, 70) == pytest.approx(LABEL_BSA_170_70[formula], abs=5e-5)
    calc = calculate_dose(DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1, formula=formula), load_monograph("inotuzumab-ozogamicin"))
    assert calc.bsa_m2_unrounded == pytest.approx(LABEL_BSA_170_70[formula], abs=5e-5)


HEIGHTS = [75, 118, 152.5, 170, 183, 201, 275]
WEIGHTS = [8, 21.3, 48, 70, 96.5, 140, 650]
SCHEDULE = [(1, 1, None), (1, 8, None), (1, 15, None), (2, 1, "cr"), (2, 1, "cri"), (3, 1, "none"), (4, 8, "none"), (6, 15, "cr")]
FORMULAS = ["mosteller", "dubois", "haycock", "gehan-george", "boyd"]
REDUCTIONS = [0, 25]

DOSE_CASES = list(itertools.product(HEIGHTS, WEIGHTS, SCHEDULE, FORMULAS, REDUCTIONS))


def expected_dose(h: float, w: float, cycle: int, day: int, response: str | None, formula: str, reduce_pct: int):
    bsa_raw = label_bsa(formula, h, w)
    bsa = half_up(Decimal(repr(bsa_raw)), "0.01")
    per_m2 = label_mg_per_m2(cycle, day, response) * (1 - Decimal(reduce_pct) / 100)
    calculated = half_up(bsa * per_m2, "0.01")
    # The volume is drawn to a syringe mark, and the dose given is what that volume holds.
    volume = drawn_volume(calculated / RECONSTITUTED_MG_PER_ML)
    dose = volume * RECONSTITUTED_MG_PER_ML
    vials = int((dose / VIAL_MG).to_integral_value(rounding=ROUND_CEILING))
    units = int((dose / J9229_UNIT_MG).to_integral_value(rounding=ROUND_CEILING))
    discarded = UNITS_PER_VIAL * vials - units
    final = FINAL_ML
    window = (CONC_MIN, CONC_MAX)
    if dose / FINAL_ML < CONC_MIN:  # too dilute for the bag: the syringe path
        steps = max(
            (dose / SYRINGE_MAX / SYRINGE_STEP).to_integral_value(rounding=ROUND_CEILING), (volume / SYRINGE_STEP).to_integral_value(rounding=ROUND_CEILING), 1
        )
        final = pump_mark(steps * SYRINGE_STEP)
        window = (SYRINGE_MIN, SYRINGE_MAX)
    concentration = dose / final
    return {
        "bsa_raw": bsa_raw,
        "bsa": bsa,
        "per_m2": per_m2,
        "calculated": calculated,
        "dose": dose,
        "vials": vials,
        "volume": volume,
        "nacl": final - volume,
        "concentration": concentration,
        "units": units,
        "discarded": discarded,
        "modifier": "JW" if discarded > 0 else "JZ",
        "in_range": window[0] <= concentration <= window[1],
        "container": "bag" if final == FINAL_ML else "syringe",
        "final": final,
        # Dose modifications: the 25% reduction is for the cycle after an interruption, never cycle 1.
        "refused_reduction": cycle == 1 and reduce_pct > 0,
    }


def _near_half(value: float) -> bool:
    scaled = value * 100
    return abs(scaled - math.floor(scaled) - 0.5) < 1e-9


def check_dose_case(h, w, schedule, formula, reduce_pct):
    cycle, day, response = schedule
    exp = expected_dose(h, w, cycle, day, response, formula, reduce_pct)
    calc = calculate_dose(
        DoseOrder(height=f"{h} cm", weight=f"{w} kg", cycle=cycle, day=day, response=response, formula=formula, reduce_pct=reduce_pct),
        load_monograph("inotuzumab-ozogamicin"),
    )
    assert calc.bsa_m2_unrounded == pytest.approx(exp["bsa_raw"], rel=1e-12)
    # A BSA within 1e-9 of a rounding boundary would leave its rounding to float noise, not the
    # label: the grid has none (test_no_grid_point_leaves_the_bsa_rounding_to_float_noise).
    assert Decimal(str(calc.bsa_m2)) == exp["bsa"]
    assert Decimal(str(calc.dose_mg_per_m2)) == exp["per_m2"]
    assert Decimal(str(calc.dose_before_draw_mg)) == exp["calculated"]
    assert Decimal(str(calc.dose_mg)) == exp["dose"]
    assert calc.vials == exp["vials"]
    assert Decimal(str(calc.withdraw_ml)) == exp["volume"]
    assert Decimal(str(calc.nacl_ml)) == exp["nacl"]
    assert Decimal(str(calc.final_concentration_mg_per_ml)) == half_up(exp["concentration"], "0.0001")
    assert calc.billing_units_administered == exp["units"]
    assert calc.billing_units_discarded == exp["discarded"]
    assert calc.billing_modifier == exp["modifier"]
    assert calc.hcpcs == "J9229"
    assert calc.container == exp["container"]
    assert Decimal(str(calc.final_volume_ml)) == exp["final"]
    assert calc.can_prepare == (exp["in_range"] and not exp["refused_reduction"]), (exp["dose"], calc.hard_stops)
    assert any("cycle 1" in s for s in calc.hard_stops) == exp["refused_reduction"]
    if not exp["in_range"]:
        side = "below the minimum" if exp["concentration"] < CONC_MIN else "above the maximum"
        assert any(side in s for s in calc.hard_stops)


# One test per schedule, formula and reduction, each checking its 49 heights x weights: the 3,920
# cases as 3,920 tests cost about 4 ms of pytest's own work each (issue 19). Every case is still
# checked, and a failure lists every case that disagrees with what it found.
DOSE_GROUPS = list(itertools.product(SCHEDULE, FORMULAS, REDUCTIONS))


@pytest.mark.parametrize(
    "schedule,formula,reduce_pct",
    DOSE_GROUPS,
    ids=[f"cycle{c}-day{d}-{r or 'first'}-{f}-reduce{p}" for (c, d, r), f, p in DOSE_GROUPS],
)
def test_dose_engine_against_hand_computation(schedule, formula, reduce_pct):
    cases = [(h, w, schedule, formula, reduce_pct) for h, w in itertools.product(HEIGHTS, WEIGHTS)]
    failures = []
    for case in cases:
        try:
            check_dose_case(*case)
        except Exception as exc:  # noqa: BLE001  (every case is reported, not only the first)
            failures.append(f"h={case[0]} w={case[1]}: {type(exc).__name__}: {exc}")
    assert not failures, f"{len(failures)} of {len(cases)} cases disagree with the hand computation:\n" + "\n".join(failures)


def test_the_dose_groups_cover_every_case_once():
    grouped = [(h, w, s, f, r) for s, f, r in DOSE_GROUPS for h, w in itertools.product(HEIGHTS, WEIGHTS)]
    assert sorted(grouped, key=repr) == sorted(DOSE_CASES, key=repr) and len(grouped) == len(set(grouped)) == 3920


def test_no_grid_point_leaves_the_bsa_rounding_to_float_noise():
    """A grid point whose BSA lies within 1e-9 of a rounding boundary could not check the rounding
    (float noise decides, not the label): pick another height or weight instead."""
    noisy = [(h, w, f) for h, w, f in itertools.product(HEIGHTS, WEIGHTS, FORMULAS) if _near_half(label_bsa(f, h, w))]
    assert noisy == []


def test_the_grid_reaches_both_concentration_hard_stops_and_both_modifiers():
    """Guard against a grid that never exercises the branches it claims to check."""
    results = [expected_dose(h, w, *s, f, r) for h, w, s, f, r in DOSE_CASES]
    assert any(r["container"] == "syringe" for r in results)
    assert any(r["concentration"] > CONC_MAX for r in results)
    assert any(r["concentration"] > CONC_MAX for r in results)
    assert any(r["modifier"] == "JZ" and r["in_range"] for r in results)
    assert any(r["modifier"] == "JW" for r in results)
    # the draw rounding moves some doses and leaves others as calculated
    assert any(r["dose"] != r["calculated"] for r in results) and any(r["dose"] == r["calculated"] for r in results)
    assert len(DOSE_CASES) >= 1000


def test_every_drawn_volume_is_on_the_marks_of_the_syringes_that_draw_it():
    """Never a volume to 0.01 mL that no syringe on the bench can measure (issue 16), and never a dose
    more than 1% from the calculated one because of the syringes' marks (pharmacist review)."""
    seen = set()
    split = 0
    for h, w, schedule, formula, reduce_pct in DOSE_CASES[::7]:
        cycle, day, response = schedule
        calc = calculate_dose(
            DoseOrder(height=f"{h} cm", weight=f"{w} kg", cycle=cycle, day=day, response=response, formula=formula, reduce_pct=reduce_pct),
            load_monograph("inotuzumab-ozogamicin"),
        )
        wanted = Decimal(str(calc.dose_before_draw_mg)) / RECONSTITUTED_MG_PER_ML
        expected = draw_parts(wanted)
        got = [(round(p["volume_ml"] * 100), round(p["syringe_ml"] * 100), round(p["graduation_ml"] * 100)) for p in calc.draw_parts]
        assert got == expected, (wanted, got, expected)
        for amount, capacity, mark in got:
            assert 0 < amount <= capacity and amount % mark == 0
            seen.add(capacity)
        assert abs(Decimal(str(calc.dose_mg)) - Decimal(str(calc.dose_before_draw_mg))) <= Decimal(str(calc.dose_before_draw_mg)) / 100
        split += len(got) > 1
    assert seen == {100, 300, 1000, 2000}  # the grid reaches every syringe
    assert split > 0


@pytest.mark.parametrize(
    "h,w,day,dose,allowed,container",
    [
        # Mosteller BSA exactly 1 m² (100 cm x 36 kg): Day 8 0.5 mg/m² -> 0.5 mg -> 0.01 mg/mL, the bag's lowest
        (100, 36, 8, "0.5", True, "bag"),
        # 0.99 m² x 0.5 = 0.495 mg, half-up to 0.50 mg: still 0.01 mg/mL
        (99, 35.64, 8, "0.5", True, "bag"),
        # 0.98 m² x 0.5 = 0.49 mg = 1.96 mL: the 3 mL syringe's 2 mL (+2%) is beyond the draw tolerance, so it is
        # drawn exactly (1 mL full + 0.96 mL): 0.0098 mg/mL in 50 mL is below the bag's window -> syringe:
        # 0.49 / 0.1 = 4.9 mL, up to the half-mL step and the 10 mL syringe's 0.2 mL marks: 5 mL = 0.098 mg/mL
        (98, 35.28, 8, "0.49", True, "syringe"),
        # 0.96 m² x 0.5 = 0.48 mg = 1.92 mL (1.9 mL would be -1%: drawn exactly) -> syringe 5 mL = 0.096 mg/mL
        (96, 34.56, 8, "0.48", True, "syringe"),
        # 0.9 m² x 0.5 = 0.45 mg = 1.8 mL exactly -> 4.5 mL on the half-mL step is no mark of the 10 mL syringe
        # (0.2 mL): 5 mL = 0.09 mg/mL
        (90, 32.4, 8, "0.45", True, "syringe"),
        # 0.8 m² x 0.5 = 0.4 mg = 1.6 mL -> syringe 4 mL = 0.1 mg/mL, the syringe's highest
        (80, 28.8, 8, "0.4", True, "syringe"),
        # 6.25 m² x 0.8 = 5 mg = 20 mL -> 0.1 mg/mL, the bag's highest allowed (250 cm x 562.5 kg)
        (250, 562.5, 1, "5", True, "bag"),
        # 6.26 m² x 0.8 = 5.008 -> 5.01 mg = 20.04 mL, which the 20 mL syringe draws to its top mark, 20 mL = 5 mg (-0.2%)
        (250, 564.4, 1, "5", True, "bag"),
        # 6.5 m² x 0.8 = 5.2 mg = 20.8 mL, drawn as the 20 mL syringe full and 0.8 mL (once 21 mL on the 20 mL
        # syringe's 1 mL marks = 5.25 mg): 0.104 mg/mL, above the maximum, and a syringe cannot help
        (250, 608.4, 1, "5.2", False, "bag"),
    ],
)
def test_concentration_limits_are_inclusive_at_both_ends(h, w, day, dose, allowed, container):
    calc = calculate_dose(DoseOrder(height=f"{h} cm", weight=f"{w} kg", cycle=1, day=day, formula="mosteller"), load_monograph("inotuzumab-ozogamicin"))
    assert Decimal(str(calc.dose_mg)) == Decimal(dose)
    assert calc.container == container
    assert calc.can_prepare is allowed, calc.hard_stops


@pytest.mark.parametrize("response", [None, "cr", "none"])
@pytest.mark.parametrize("cycle", [1, 2, 5])
def test_25_percent_reduction_cuts_the_cycle_total_by_a_quarter_spread_proportionally(cycle, response):
    if cycle >= 2 and response is None:
        response = "none"
    full = {d: calculate_dose(DoseOrder("170 cm", "70 kg", cycle, d, response), load_monograph("inotuzumab-ozogamicin")) for d in (1, 8, 15)}
    cut = {d: calculate_dose(DoseOrder("170 cm", "70 kg", cycle, d, response, reduce_pct=25), load_monograph("inotuzumab-ozogamicin")) for d in (1, 8, 15)}
    total_full = sum(label_mg_per_m2(cycle, d, response) for d in (1, 8, 15))
    total_cut = sum(Decimal(str(c.dose_mg_per_m2)) for c in cut.values())
    assert total_cut == total_full * (1 - REDUCTION)
    for d in (1, 8, 15):
        # proportional: each day keeps its share of the cycle total
        share_full = label_mg_per_m2(cycle, d, response) / total_full
        assert Decimal(str(cut[d].dose_mg_per_m2)) / total_cut == share_full
        assert Decimal(str(full[d].dose_mg_per_m2)) == label_mg_per_m2(cycle, d, response)
        # and the 25% reduction is the label's number, so it raises no "differs from the label" warning
        assert not any("differs from the label" in w for w in cut[d].warnings)


# --- 2. deadlines -------------------------------------------------------------------------------------

MONO = load_monograph("inotuzumab-ozogamicin")
UTC = timezone.utc
NY = ZoneInfo("America/New_York")
H = timedelta(hours=1)
MIN = timedelta(minutes=1)


def ev(kind: EventType, at: datetime, user: str = "tech", **details) -> Event:
    return Event(type=kind, at=at, recorded_at=at, user=user, details=details)


def deadline_map(events, now, infusion=None):
    return {d.key: d for d in compute_deadlines(events, MONO, now, timedelta(minutes=30), infusion)}


# Spring forward (2026-03-08 07:00 UTC) and fall back (2026-11-01 06:00 UTC) in New York.
DST_STARTS = [
    datetime(2026, 3, 8, 4, 15, tzinfo=UTC),
    datetime(2026, 3, 8, 6, 30, tzinfo=UTC),
    datetime(2026, 11, 1, 3, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 45, tzinfo=UTC),
    datetime(2026, 6, 15, 12, 0, tzinfo=UTC),
]
DILUTE_AFTER = [timedelta(minutes=5), timedelta(hours=1), timedelta(hours=3, minutes=50)]
INFUSIONS = [None, timedelta(minutes=60), timedelta(minutes=90), timedelta(hours=5)]


@pytest.mark.parametrize("storage", ["room", "fridge"])
@pytest.mark.parametrize("infusion", INFUSIONS)
@pytest.mark.parametrize("dilute_after", DILUTE_AFTER)
@pytest.mark.parametrize("reconstituted", DST_STARTS)
def test_deadlines_against_the_label_time_limits(reconstituted, dilute_after, infusion, storage):
    diluted = reconstituted + dilute_after
    events = [ev(EventType.RECONSTITUTED, reconstituted), ev(EventType.DILUTED, diluted, storage=storage)]
    got = deadline_map(events, diluted, infusion)
    infusion_time = infusion or H  # label: infusion 1 h
    dilute_by = reconstituted + 4 * H
    end_by = reconstituted + 8 * H
    candidates = [end_by - infusion_time, diluted + 4 * H]  # room temperature up to 4 h
    if storage == "fridge":
        candidates.append(diluted + 3 * H)  # 2-8 °C up to 3 h
    start_by = min(candidates)
    assert got["dilute_by"].at == dilute_by
    assert got["end_infusion_by"].at == end_by
    assert got["start_infusion_by"].at == start_by
    if storage == "fridge":
        # the bag must leave the refrigerator early enough to warm for about 1 h before start-by
        assert got["bag_from_fridge_by"].at == start_by - H
    else:
        assert "bag_from_fridge_by" not in got
    # nothing shifts across a daylight-saving change: the gaps are exact real hours
    assert (got["end_infusion_by"].at - got["dilute_by"].at) == 4 * H
    for d in got.values():
        assert d.at.utcoffset() == timedelta(0)

    started = min(start_by, diluted + 30 * MIN)
    ended = started + infusion_time
    events += [ev(EventType.INFUSION_STARTED, started, "nurse"), ev(EventType.INFUSION_ENDED, ended, "nurse")]
    got = deadline_map(events, ended, infusion)
    assert got["observe_until"].at == ended + H  # observe >= 1 h after the end


def test_fridge_bag_warm_up_is_a_minimum_of_one_hour_from_leaving_the_fridge():
    r = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    out = r + 2 * H
    events = [ev(EventType.RECONSTITUTED, r), ev(EventType.DILUTED, r + 30 * timedelta(minutes=1), storage="fridge"), ev(EventType.BAG_FROM_FRIDGE, out)]
    got = deadline_map(events, out)
    assert got["warm_until"].at == out + H
    assert not got["warm_until"].hard


@pytest.mark.parametrize(
    "local_start",
    [
        datetime(2026, 3, 8, 0, 30),  # EST; +4 h real crosses 02:00 -> 03:00
        datetime(2026, 3, 7, 23, 0),
        datetime(2026, 10, 31, 23, 30),  # EDT; +4 h real crosses 02:00 -> 01:00
        datetime(2026, 11, 1, 0, 59),
    ],
)
def test_deadlines_from_new_york_local_instants_are_real_hours_not_wall_clock(local_start):
    """An event instant given with a New York zone (not UTC) must still give real-hour deadlines.

    Python adds a timedelta to a zoneinfo datetime in wall-clock time, so 00:30 EST + 4 h would be
    04:30 EDT, only 3 real hours later, unless the engine works on UTC instants.
    """
    reconstituted = local_start.replace(tzinfo=NY)
    utc = reconstituted.astimezone(UTC)
    for dilute_after in (10 * MIN, 3 * H + 50 * MIN):
        diluted = (utc + dilute_after).astimezone(NY)  # the same instant, written in New York time
        for storage, bag_limit in (("room", 4 * H), ("fridge", 3 * H)):
            events = [ev(EventType.RECONSTITUTED, reconstituted), ev(EventType.DILUTED, diluted, storage=storage)]
            got = deadline_map(events, utc + dilute_after)
            assert got["dilute_by"].at - utc == 4 * H
            assert got["end_infusion_by"].at - utc == 8 * H
            assert got["start_infusion_by"].at - utc == min(7 * H, dilute_after + bag_limit)


# --- 3. course windows and stop rules -----------------------------------------------------------------

START = date(2026, 1, 5)
D = timedelta(days=1)


@pytest.mark.parametrize("extend", [False, True])
@pytest.mark.parametrize("cycle,response", [(1, None), (2, "cr"), (2, "none"), (4, "cri"), (6, "none")])
def test_cycle_lengths_and_mg_per_m2(cycle, response, extend):
    if extend and cycle > 1:
        with pytest.raises(Exception):
            plan_cycle(cycle, START, response=response, extend_to_28=True, monograph=BESPONSA)
        return
    plan = plan_cycle(cycle, START, response=response, extend_to_28=extend, monograph=BESPONSA)
    length = (28 if extend else 21) if cycle == 1 else 28  # label: cycle 1 21 days (28 extended), later 28
    assert plan.length_days == length
    assert plan.next_cycle_start == START + length * D
    for day in (1, 8, 15):
        dose = plan.dose(day)
        assert dose.planned == START + (day - 1) * D
        assert Decimal(str(dose.mg_per_m2)) == label_mg_per_m2(cycle, day, response)


DAY8_OFFSETS = range(3, 13)  # days after Day 1 actually given


@pytest.mark.parametrize("day8_offset", DAY8_OFFSETS)
@pytest.mark.parametrize("day15_after_day8", range(3, 12))
@pytest.mark.parametrize("cycle,response", [(1, None), (3, "cr")])
def test_day_8_and_15_windows_and_the_six_day_gap(day8_offset, day15_after_day8, cycle, response):
    day1 = START
    day8 = day1 + day8_offset * D
    day15 = day8 + day15_after_day8 * D
    plan = plan_cycle(cycle, START, response=response, given={1: day1, 8: day8, 15: day15}, monograph=BESPONSA)
    # Day 8: planned start+7, +-2 days, and >= 6 days after the dose actually given before it
    day8_ok = (START + 5 * D <= day8 <= START + 9 * D) and (day8 - day1).days >= 6
    day15_ok = (START + 12 * D <= day15 <= START + 16 * D) and (day15 - day8).days >= 6
    stops = plan.hard_stops
    assert any(s.startswith("Day 8 given") for s in stops) == (not day8_ok), stops
    assert any(s.startswith("Day 15 given") for s in stops) == (not day15_ok), stops
    assert len(stops) == (not day8_ok) + (not day15_ok), stops


@pytest.mark.parametrize("gap_days", range(0, 10))
def test_day_1_of_a_cycle_keeps_six_days_after_the_previous_cycle_last_dose(gap_days):
    previous = START - gap_days * D
    plan = plan_cycle(2, START, response="cr", given={1: START}, previous_dose=previous, monograph=BESPONSA)
    blocked = bool(plan.hard_stops)
    assert blocked == (gap_days < 6), plan.hard_stops


def _run_course(hsct: bool, responses: dict[int, tuple[str, bool | None]], cycles_wanted: int):
    """Give every dose on its planned day; after cycle n record responses[n]. Returns cycles started."""
    course = new_course("MRN-X", hsct_planned=hsct, monograph=BESPONSA)
    today = date(2030, 1, 1)
    record_blasts(course, 500, START - D, today)
    start = START
    started = 0
    for n in range(1, cycles_wanted + 1):
        try:
            start_cycle(course, start, today, monograph=BESPONSA)
        except CourseBlocked:
            return started, course
        started += 1
        for day in (1, 8, 15):
            record_dose(course, n, day, start + (day - 1) * D, today, monograph=BESPONSA)
        length = 21 if n == 1 else 28
        # a response is assessed after every cycle (from cycle 2 it decides the Day 1 dose); "none" unless given
        response, mrd = responses.get(n, ("none", None))
        record_response(course, start + (length - 2) * D, response, mrd, today, monograph=BESPONSA)
        start = start + length * D
    return started, course


@pytest.mark.parametrize(
    "hsct,responses,expected_max",
    [
        # HSCT: 2 cycles; a 3rd only when CR/CRi and MRD negativity are not reached after 2
        (True, {1: ("cr", True)}, 2),
        (True, {2: ("cri", True)}, 2),
        (True, {1: ("cr", False), 2: ("cr", False)}, 3),
        (True, {1: ("cri", None)}, 3),
        (True, {}, 3),
        # no HSCT: up to 6
        (False, {1: ("cr", False)}, 6),
        (False, {3: ("cri", None)}, 6),
        # no CR/CRi within 3 cycles: discontinue
        (False, {}, 3),
        (False, {1: ("none", None), 2: ("none", None), 3: ("none", None)}, 3),
    ],
)
def test_cycle_stop_rules(hsct, responses, expected_max):
    started, course = _run_course(hsct, responses, 7)
    assert started == expected_max, cycle_limit(course, monograph=BESPONSA).why


# --- 4. premedication, patient confirmation, independent verification --------------------------------

PATIENT = Patient(name="Ada Lovelace", mrn="MRN-123", date_of_birth=date(1970, 12, 10))
TECH = User(1, "tech", Role.TECHNICIAN)
PHARM_A = User(2, "pharm-a", Role.PHARMACIST)
PHARM_B = User(3, "pharm-b", Role.PHARMACIST)
NURSE = User(4, "nurse", Role.NURSE)
POLICY = site_defaults()
T0 = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)


def _order():
    from infusion_app.domain.dosing import DoseOrder, PreparationOrder, calculate_dose

    order = DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1)
    return PreparationOrder(order, calculate_dose(order, MONO, POLICY))


def _checked(p: Preparation) -> dict:
    """A complete blind double check: the five values re-entered as read."""
    calc = p.order.calculation
    return {"entered": {"mrn": p.patient.mrn, "height": "170 cm", "weight": "70 kg", "dose_mg": str(calc.dose_mg), "volume_ml": str(calc.withdraw_ml)}}


def _prep(preparer: User, diluter: User | None = None) -> Preparation:
    diluter = diluter or preparer
    p = Preparation("P1", PATIENT, _order(), T0, preparer.name, MONO.id, MONO.revision, vials=vials_for(_order()))
    p.events += [ev(EventType.RECONSTITUTED, T0, preparer.name), ev(EventType.DILUTED, T0 + 20 * MIN, diluter.name, storage="room")]
    return p


def _check(p: Preparation, event: Event, actor: User):
    check_event(p, event, actor, event.at, MONO, POLICY)


@pytest.mark.parametrize(
    "preparer,diluter,verifier,ok",
    [
        (TECH, TECH, PHARM_A, True),
        (PHARM_A, PHARM_A, PHARM_A, False),
        (PHARM_A, PHARM_A, PHARM_B, True),
        (TECH, PHARM_A, PHARM_A, False),  # diluted by the pharmacist who would verify
        (PHARM_A, TECH, PHARM_A, False),  # reconstituted by the pharmacist who would verify
        (TECH, TECH, TECH, False),  # not a pharmacist
        (TECH, TECH, NURSE, False),
    ],
)
def test_verification_by_a_different_pharmacist(preparer, diluter, verifier, ok):
    p = _prep(preparer, diluter)
    event = ev(EventType.VERIFIED, T0 + 30 * MIN, verifier.name, **_checked(p))
    if ok:
        _check(p, event, verifier)
    else:
        with pytest.raises(StepRefused):
            _check(p, event, verifier)


def _ready_for_infusion(premeds: list[str], confirm: dict | None) -> Preparation:
    p = _prep(TECH)
    p.events += [
        ev(EventType.VERIFIED, T0 + 30 * MIN, "pharm-a"),
        ev(EventType.LABELLED, T0 + 35 * MIN, "tech"),
        ev(EventType.DISPENSED, T0 + 40 * MIN, "tech"),
    ]
    drugs = {"corticosteroid": ("dexamethasone", "10 mg"), "antipyretic": ("acetaminophen", "650 mg"), "antihistamine": ("diphenhydramine", "25 mg")}
    for i, cls in enumerate(premeds):
        at = T0 + (45 + i) * MIN
        p.events.append(ev(EventType.PREMEDICATION, at, "nurse", drug_class=cls, drug=drugs[cls][0], dose=drugs[cls][1]))
    if confirm is not None:
        p.events.append(ev(EventType.PATIENT_CONFIRMED, T0 + 55 * MIN, "nurse", **confirm))
    return p


ALL_PREMEDS = ["corticosteroid", "antipyretic", "antihistamine"]
GOOD_CONFIRM = {"name": "Ada Lovelace", "mrn": "MRN-123"}


@pytest.mark.parametrize("premeds", [list(c) for r in range(4) for c in itertools.combinations(ALL_PREMEDS, r)])
def test_every_premedication_class_is_required_before_the_infusion_starts(premeds):
    p = _ready_for_infusion(premeds, GOOD_CONFIRM)
    start = ev(EventType.INFUSION_STARTED, T0 + 60 * MIN, "nurse")
    if len(premeds) == 3:
        _check(p, start, NURSE)
    else:
        with pytest.raises(StepRefused) as refused:
            _check(p, start, NURSE)
        assert refused.value.code == "premedication_missing"
        assert not refused.value.overridable


def test_the_infusion_does_not_start_without_patient_confirmation():
    p = _ready_for_infusion(ALL_PREMEDS, None)
    with pytest.raises(StepRefused) as refused:
        _check(p, ev(EventType.INFUSION_STARTED, T0 + 60 * MIN, "nurse"), NURSE)
    assert refused.value.code == "patient_not_confirmed"


@pytest.mark.parametrize(
    "details,ok",
    [
        ({"name": "Ada Lovelace", "mrn": "MRN-123"}, True),
        ({"name": "ada  lovelace", "date_of_birth": "1970-12-10"}, True),
        ({"name": "Ada Lovelace"}, False),  # one identifier only
        ({"mrn": "MRN-123", "date_of_birth": "1970-12-10"}, False),  # no name
        ({"name": "Ada Lovelace", "mrn": "MRN-124"}, False),
        ({"name": "Ada Lovelace", "date_of_birth": "1970-10-12"}, False),
        ({"name": "Ava Lovelace", "mrn": "MRN-123"}, False),
        # both second identifiers given: each is compared, a wrong one is never ignored
        ({"name": "Ada Lovelace", "date_of_birth": "1970-12-10", "mrn": "MRN-123"}, True),
        ({"name": "Ada Lovelace", "date_of_birth": "1970-12-10", "mrn": "MRN-999"}, False),
        ({"name": "Ada Lovelace", "date_of_birth": "1971-12-10", "mrn": "MRN-123"}, False),
        ({"name": "Ada Lovelace", "date_of_birth": "1970-12-10", "mrn": "  "}, True),
        ({"name": "Ada Lovelace", "mrn": "  "}, False),
    ],
)
def test_patient_confirmation_needs_two_matching_identifiers(details, ok):
    p = _ready_for_infusion(ALL_PREMEDS, None)
    confirm = ev(EventType.PATIENT_CONFIRMED, T0 + 55 * MIN, "nurse", **details)
    if ok:
        _check(p, confirm, NURSE)
    else:
        with pytest.raises(StepRefused) as refused:
            _check(p, confirm, NURSE)
        assert refused.value.code == "patient_mismatch"


def _premedicate(p: Preparation, at: datetime) -> None:
    """Premedication again shortly before a late start (it counts within the site's window)."""
    for drug_class, drug, dose in (
        ("corticosteroid", "dexamethasone", "10 mg"),
        ("antipyretic", "acetaminophen", "650 mg"),
        ("antihistamine", "diphenhydramine", "25 mg"),
    ):
        p.events.append(ev(EventType.PREMEDICATION, at, "nurse", drug_class=drug_class, drug=drug, dose=dose))


def _infusing(storage: str = "room", out_of_fridge: datetime | None = None) -> Preparation:
    p = _ready_for_infusion(ALL_PREMEDS, GOOD_CONFIRM)
    if storage == "fridge":
        p.events[1] = ev(EventType.DILUTED, T0 + 20 * MIN, "tech", storage="fridge")
        p.events.insert(2, ev(EventType.BAG_FROM_FRIDGE, out_of_fridge, "tech"))
    return p


def test_the_infusion_may_not_start_after_start_by_and_no_override_allows_it():
    p = _infusing()
    start_by = T0 + 20 * MIN + 4 * H  # dilution + 4 h at room temperature (earlier than reconstitution + 7 h)
    with pytest.raises(StepRefused) as stale:  # premedication given 3.5 h before: outside the site's 2 h window
        _check(p, ev(EventType.INFUSION_STARTED, start_by, "nurse"), NURSE)
    assert stale.value.code == "premedication_window"
    _premedicate(p, start_by - 30 * MIN)
    _check(p, ev(EventType.INFUSION_STARTED, start_by, "nurse"), NURSE)
    with pytest.raises(StepRefused) as refused:
        _check(p, ev(EventType.INFUSION_STARTED, start_by + MIN, "nurse"), NURSE)
    assert refused.value.code == "start_infusion_by_passed" and not refused.value.overridable


def test_a_refrigerated_bag_warms_for_one_hour_before_the_infusion_starts():
    out = T0 + 25 * MIN  # between dilution and verification, in recorded order
    p = _infusing("fridge", out)
    with pytest.raises(StepRefused) as refused:
        _check(p, ev(EventType.INFUSION_STARTED, out + H - MIN, "nurse"), NURSE)
    assert "warm_until_not_reached" in refused.value.codes
    _check(p, ev(EventType.INFUSION_STARTED, out + H, "nurse"), NURSE)
    # and it must start within 3 h of dilution (refrigerated limit, warm-up included)
    _premedicate(p, T0 + 20 * MIN + 2 * H)
    with pytest.raises(StepRefused) as refused:
        _check(p, ev(EventType.INFUSION_STARTED, T0 + 20 * MIN + 3 * H + MIN, "nurse"), NURSE)
    assert "start_infusion_by_passed" in refused.value.codes


def test_observation_lasts_at_least_one_hour_after_the_infusion_ends():
    p = _infusing()
    started, ended = T0 + 60 * MIN, T0 + 120 * MIN
    p.events += [ev(EventType.INFUSION_STARTED, started, "nurse"), ev(EventType.INFUSION_ENDED, ended, "nurse")]
    with pytest.raises(StepRefused) as refused:
        _check(p, ev(EventType.OBSERVATION_ENDED, ended + H - MIN, "nurse"), NURSE)
    assert refused.value.code == "observe_until_not_reached"
    _check(p, ev(EventType.OBSERVATION_ENDED, ended + H, "nurse"), NURSE)


def test_the_infusion_must_end_within_8_hours_of_reconstitution():
    p = _infusing()
    p.events.append(ev(EventType.INFUSION_STARTED, T0 + 60 * MIN, "nurse"))
    _check(p, ev(EventType.INFUSION_ENDED, T0 + 8 * H, "nurse"), NURSE)
    with pytest.raises(StepRefused) as refused:
        _check(p, ev(EventType.INFUSION_ENDED, T0 + 8 * H + MIN, "nurse"), NURSE)
    assert refused.value.code == "end_infusion_by_passed"
