"""infusion-prep calc: the dose calculation, headless."""

from __future__ import annotations

import argparse

from ..domain.bsa import FORMULAS
from .common import Exit, add_drug_options, add_response_option, chosen_monograph, chosen_response, emit_json, not_blank


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calc",
        help="calculate BSA, dose, vials, volumes and billing for one dose",
        description="Calculate BSA, the dose for a cycle and day, vials, volumes, concentration and billing for one drug (--drug; see infusion-prep drugs).",
    )
    add_drug_options(parser)
    parser.add_argument("--height", required=True, help='height with its unit: "170 cm", "1.7 m", "5 ft 7 in"')
    parser.add_argument("--weight", required=True, help='weight with its unit: "70 kg", "154 lb"')
    parser.add_argument("--cycle", required=True, help="cycle number (each drug's cycles are in its monograph: infusion-prep drugs)")
    parser.add_argument("--day", required=True, help="dose day (each drug's or regimen's dose days are in its monograph: infusion-prep drugs)")
    add_response_option(
        parser, "latest response, for a drug whose dose the response decides (from its later cycles): one of its responses (infusion-prep drugs)"
    )
    parser.add_argument("--formula", choices=list(FORMULAS), default=None, help="BSA formula (default mosteller)")
    parser.add_argument(
        "--reduce-pct", default="0", metavar="PCT", help="reduce the cycle's total dose by PCT percent (a drug whose monograph has a cycle dose reduction)"
    )
    parser.add_argument(
        "--dob",
        metavar="YYYY-MM-DD",
        type=not_blank("--dob 1970-05-17"),
        help="date of birth: the label's minimum age (in the drug's monograph) and its children's rules are checked at the dose date",
    )
    parser.add_argument(
        "--dose-date", metavar="YYYY-MM-DD", type=not_blank("--dose-date 2026-12-03"), help="the day of the dose (default today); used with --dob"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The dose engine (and pint's registry) only for a calculation, not for --help or --version.
    from ..domain.dosing import DoseOrder, calculate_dose
    from ..domain.numbers import read_number

    reduce_pct = read_number("reduce-pct", args.reduce_pct, "0 to under 100")
    from datetime import datetime

    date_of_birth = dose_date = None
    if args.dob or args.dose_date:
        # The course rules (about 50 ms of imports) only to read a typed date.
        from ..domain.course import parse_date

        date_of_birth = parse_date("dob", args.dob) if args.dob else None
        dose_date = parse_date("dose-date", args.dose_date) if args.dose_date else None
    dose_date = dose_date or datetime.now().astimezone().date()
    monograph = chosen_monograph(args)
    response = chosen_response(args, monograph)
    result = calculate_dose(
        DoseOrder(
            height=args.height,
            weight=args.weight,
            cycle=args.cycle,
            day=args.day,
            response=response,
            formula=args.formula,
            reduce_pct=reduce_pct,
        ),
        monograph,
        date_of_birth=date_of_birth,
        dose_date=dose_date,
    )
    if args.json:
        emit_json(result.to_dict())
    else:
        print("\n".join(result.summary_lines(monograph)))
    return Exit.HARD_STOP if result.hard_stops else Exit.OK
