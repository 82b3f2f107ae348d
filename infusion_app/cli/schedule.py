"""infusion-prep schedule: one cycle's dose days, windows and doses per m², headless."""

from __future__ import annotations

import argparse

from .common import Exit, add_drug_options, add_response_option, chosen_monograph, chosen_response, emit_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="plan one cycle: its dose days' dates, their windows and mg/m²",
        description="Plan one cycle of a drug (--drug, and --regimen for a drug dosed by regimen): each dose day's "
        "planned date and window, and the least days after the previous dose given, as the drug's monograph gives them, "
        "its dose per m², the cycle length and the next cycle's start. A given date outside its window is a hard stop (exit 1).",
    )
    add_drug_options(parser)
    parser.add_argument("--cycle", required=True, help="cycle number (each drug's cycles are in its monograph: infusion-prep drugs)")
    parser.add_argument("--start", required=True, metavar="DATE", help="the cycle's Day 1, YYYY-MM-DD")
    add_response_option(
        parser, "latest response, for a drug whose dose the response decides (from its later cycles): one of its responses (infusion-prep drugs)"
    )
    parser.add_argument("--given", action="append", default=[], metavar="DAY=DATE", help="a dose given, e.g. 8=2027-01-05 (repeat for each dose)")
    parser.add_argument(
        "--extend-to-28", action="store_true", help="cycle 1 only: the extended first cycle the drug's monograph allows (its reasons are in the monograph)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def parse_given(items: list[str]) -> dict[int, object]:
    from ..domain.cycle_plan import parse_date
    from ..domain.errors import ValidationError

    given: dict[int, object] = {}
    for item in items:
        day_text, sep, date_text = item.partition("=")
        if not sep:
            raise ValidationError("given", f"'{item}' is not DAY=DATE (for example 8=2027-01-05)")
        try:
            day = int(day_text.strip())
        except ValueError:
            raise ValidationError("given", f"'{day_text}' is not a dose day number (in '{item}')") from None
        if day in given:
            raise ValidationError("given", f"Day {day} is given twice")
        given[day] = parse_date("given", date_text)
    return given


def run(args: argparse.Namespace) -> int:
    from ..domain.cycle_plan import parse_date, plan_cycle

    monograph = chosen_monograph(args)
    response = chosen_response(args, monograph)
    plan = plan_cycle(
        args.cycle,
        parse_date("start", args.start),
        response=response,
        given=parse_given(args.given),
        extend_to_28=args.extend_to_28,
        monograph=monograph,
    )
    if args.json:
        emit_json(plan.to_dict())
    else:
        print("\n".join(plan.summary_lines(monograph)))
    return Exit.HARD_STOP if plan.hard_stops else Exit.OK
