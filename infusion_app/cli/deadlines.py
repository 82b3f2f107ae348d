"""infusion-prep deadlines: the time limits of one preparation from the instants given, headless.

Instants must carry their UTC offset ('Z' or '+01:00'): a time without one is refused (exit 2)
rather than read as local time, because the same local time occurs twice on a daylight-saving
night and the computer's zone need not be the ward's.

States are judged at --now when given, otherwise at the latest instant given (so the answer
depends only on the input, never on when the command runs). Exit 1 when a hard stop is found
at that instant: a step given after its limit (dilution more than the limit after
reconstitution, a refrigerated bag taken out too late), or with --now, a limit passed.
"""

from __future__ import annotations

import argparse

from .common import Exit, add_drug_options, chosen_monograph, emit_json, instant_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "deadlines",
        help="dilute-by, start-by and end-by times of one preparation",
        description="Compute the deadlines of one preparation (dilute by, start infusion by, end infusion by, "
        "refrigerated-bag limits) from the reconstitution and dilution instants and the monograph.",
    )
    parser.add_argument("--reconstituted", required=True, metavar="ISO", help="reconstitution instant with UTC offset, e.g. 2026-11-27T09:00+01:00")
    parser.add_argument("--diluted", metavar="ISO", help="dilution instant with UTC offset")
    parser.add_argument("--diluted-storage", choices=["room", "fridge"], help="where the diluted bag is kept (required with --diluted)")
    parser.add_argument("--bag-from-fridge", metavar="ISO", help="when a refrigerated bag was taken out (starts the warm-up)")
    parser.add_argument(
        "--infusion-minutes", default=None, metavar="MIN", help="planned infusion time in minutes (default: the drug's monograph's infusion time)"
    )
    add_drug_options(parser, regimen=False)
    parser.add_argument("--now", metavar="ISO", help="judge the states at this instant (default: the latest instant given)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..domain.deadlines import (
        compute_deadlines,
        deadline_hard_stops,
        infusion_duration_from_minutes,
        passed_hard_deadlines,
    )
    from ..domain.errors import ValidationError
    from ..domain.formatting import format_instant, utc_iso
    from ..domain.limits import site_defaults
    from ..domain.records import Event, EventType

    monograph = chosen_monograph(args, with_regimen=False)
    reconstituted = instant_option(args.reconstituted, "--reconstituted")
    diluted = instant_option(args.diluted, "--diluted") if args.diluted is not None else None
    if diluted is not None and args.diluted_storage is None:
        raise ValidationError("--diluted-storage", "give room or fridge with --diluted")
    if diluted is None and args.diluted_storage is not None:
        raise ValidationError("--diluted", "give the dilution instant with --diluted-storage")
    if diluted is not None and diluted < reconstituted:
        raise ValidationError("--diluted", f"{format_instant(diluted)} is before --reconstituted {format_instant(reconstituted)}")
    bag_out = instant_option(args.bag_from_fridge, "--bag-from-fridge") if args.bag_from_fridge is not None else None
    if bag_out is not None:
        if args.diluted_storage != "fridge":
            raise ValidationError("--bag-from-fridge", "only for a bag diluted with --diluted-storage fridge")
        if bag_out < diluted:
            raise ValidationError("--bag-from-fridge", f"{format_instant(bag_out)} is before --diluted {format_instant(diluted)}")
    if args.infusion_minutes is None:
        infusion = monograph.duration("infusion.duration")
    else:
        infusion = infusion_duration_from_minutes(args.infusion_minutes, monograph, "--infusion-minutes")

    def event(kind: EventType, at, **details) -> Event:
        return Event(kind, at, at, "cli", dict(details))

    events = [event(EventType.RECONSTITUTED, reconstituted)]
    if diluted is not None:
        events.append(event(EventType.DILUTED, diluted, storage=args.diluted_storage))
    if bag_out is not None:
        events.append(event(EventType.BAG_FROM_FRIDGE, bag_out))
    given_now = instant_option(args.now, "--now") if args.now is not None else None
    now = given_now or max(e.at for e in events)
    if given_now is not None and given_now < max(e.at for e in events):
        raise ValidationError("--now", "must not be before the latest instant given")

    deadlines = compute_deadlines(events, monograph, now, site_defaults().warning_lead_time, infusion)
    stops = deadline_hard_stops(deadlines, now)
    payload: dict[str, object] = {
        "reconstituted": utc_iso(reconstituted),
        "diluted": utc_iso(diluted) if diluted else None,
        "diluted_storage": args.diluted_storage,
        "bag_from_fridge": utc_iso(bag_out) if bag_out else None,
        "infusion_minutes": int(infusion.total_seconds() // 60),
        "now": utc_iso(now),
    }
    for d in deadlines:
        payload[d.key] = utc_iso(d.at)
    payload["deadlines"] = [d.to_dict() for d in deadlines]
    payload["hard_stops"] = stops
    payload["hard_stop_codes"] = [d.hard_stop_code for d in passed_hard_deadlines(deadlines, now)]
    payload["monograph_revision"] = monograph.revision
    if args.json:
        emit_json(payload)
    else:
        width = max(len(d.label) for d in deadlines)
        for d in deadlines:
            print(f"{d.label:<{width}}  {format_instant(d.at)}  {d.state.value}")
        for stop in stops:
            print(f"HARD STOP: {stop}")
    return Exit.HARD_STOP if stops else Exit.OK
