"""infusion-prep export: a stored preparation's administration or dispense as HL7 v2 or FHIR.

    infusion-prep export ID --format hl7v2|fhir [--what administration|dispense] [--out FILE [--force]]

Without --out the message goes to stdout. An existing file is never replaced without --force.
Exit 1 when the preparation has not reached the step the message reports.
"""

from __future__ import annotations

import argparse
import sys

from .common import CliError, Exit, add_storage_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="a preparation's administration (RAS^O17) or dispense (RDS^O13) as HL7 v2 or FHIR R5",
        description="Write the administration (HL7 v2 RAS^O17 / FHIR MedicationAdministration with its "
        "MedicationDispense) or, with --what dispense, the dispense (RDS^O13 / MedicationDispense).",
    )
    parser.add_argument("id", metavar="ID", help="the preparation id")
    parser.add_argument("--format", required=True, metavar="hl7v2|fhir", help="HL7 v2.5 (ER7) or FHIR R5 (JSON Bundle)")
    parser.add_argument("--what", default="administration", metavar="administration|dispense", help="default: administration")
    parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--force", action="store_true", help="replace --out when it exists")
    add_storage_options(parser)
    parser.set_defaults(func=run_export)

    outbox = subparsers.add_parser(
        "outbox",
        help="messages waiting for the hospital's systems; --retry sends those whose wait is over",
        description="List the messages that could not be delivered yet (exit 1 when any waits); --retry tries them now.",
    )
    outbox.add_argument("--retry", action="store_true", help="try every waiting message whose wait is over")
    outbox.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(outbox)
    outbox.set_defaults(func=run_outbox)


def run_outbox(args: argparse.Namespace) -> int:
    from ..domain.formatting import format_instant, utc_iso
    from ..service.outbox import Interchange
    from .common import emit_json
    from .service_access import open_service_for

    with open_service_for(args) as service:
        interchange = Interchange(service)
        delivered = interchange.retry_due() if args.retry else 0
        waiting = interchange.pending()
    if args.json:
        emit_json(
            {
                "delivered": delivered,
                "waiting": [
                    {
                        "id": m.id,
                        "preparation": m.preparation_id,
                        "format": m.format,
                        "what": m.what,
                        "destination": m.destination,
                        "attempts": m.attempts,
                        "next_attempt_at": utc_iso(m.next_attempt_at),
                        "last_error": m.last_error,
                    }
                    for m in waiting
                ],
            }
        )
    else:
        if args.retry:
            print(f"{delivered} delivered")
        for m in waiting:
            print(
                f"{m.preparation_id}\t{m.what} {m.format} to {m.destination}\t{m.attempts} attempt(s), next {format_instant(m.next_attempt_at)}\t{m.last_error or ''}"
            )
        print(f"{len(waiting)} waiting")
    return Exit.HARD_STOP if waiting else Exit.OK


def write_new_file_bytes(args: argparse.Namespace, data: bytes) -> None:
    """Write `data` to args.out through the one safe writer (the database, its key and anchor
    log are refused even with --force; see storage/safe_files.py)."""
    from .common import write_output_file

    write_output_file(args, lambda stream: stream.write(data))


def run_export(args: argparse.Namespace) -> int:
    from ..domain.errors import ValidationError
    from ..service.interchange import FORMATS, WHATS, NotExportable, build_message
    from .service_access import open_service_for

    fmt, what = args.format.strip().lower(), args.what.strip().lower()
    if fmt not in FORMATS:
        raise ValidationError("format", f"'{args.format}' is not a format; must be one of {', '.join(FORMATS)} (e.g. --format hl7v2)")
    if what not in WHATS:
        raise ValidationError("what", f"'{args.what}' is not accepted; must be one of {', '.join(WHATS)}")
    if args.out:
        from .common import check_output_file

        check_output_file(args)  # a refused --out before the database is opened
    with open_service_for(args) as service:
        status = service.status(args.id)
        try:
            text = build_message(status.prep, fmt, what, status.now, monograph=None)
        except NotExportable as exc:
            raise CliError(f"refused: {exc.message}", Exit.HARD_STOP) from None
        if args.out:
            write_new_file_bytes(args, text.encode("utf-8"))
            service.record_interchange(status.prep.id, fmt, what, f"file {args.out}")
            print(f"{what} of {status.prep.id} as {fmt} written to {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(text if fmt == "fhir" else text.replace("\r", "\n") + "\n")
    return Exit.OK
