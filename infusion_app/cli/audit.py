"""infusion-prep audit: verify the hash chain of the audit log, export it as CSV."""

from __future__ import annotations

import argparse

from .common import Exit, add_output_options, add_storage_options, emit_json, one_line
from .service_access import add_pin_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "audit", help="verify or export the audit log", description="The audit log: every step and change, each entry chained to the one before by a hash."
    )
    commands = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True, parser_class=type(parser))

    verify = commands.add_parser("verify", help="exit 0 when the chain is intact, 1 with the first broken entry")
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(verify)
    verify.set_defaults(func=run_verify)

    anchor = commands.add_parser("anchor", help="print the newest head anchored outside the database (entry count and hash)")
    anchor.add_argument("--json", action="store_true", help="print one JSON object")
    anchor.add_argument("--out", metavar="FILE", help="also write it to FILE (e.g. to keep on another machine)")
    anchor.add_argument("--force", action="store_true", help="replace the --out file when it already exists")
    anchor.add_argument(
        "--acknowledge-restore",
        action="store_true",
        help="the database was put back from a backup: record the gap and anchor from the copy (pharmacist, --reason)",
    )
    anchor.add_argument("--reason", metavar="TEXT", help="--acknowledge-restore: why (e.g. which backup, which failure)")
    anchor.add_argument("--user", metavar="PHARMACIST", help="--acknowledge-restore: the pharmacist acknowledging it (asks for their PIN)")
    add_pin_options(anchor)
    add_storage_options(anchor)
    anchor.set_defaults(func=run_anchor)

    export = commands.add_parser("export", help="write the audit log as CSV")
    add_output_options(export, "FILE.csv")
    add_storage_options(export)
    export.set_defaults(func=run_export)


def run_verify(args: argparse.Namespace) -> int:
    from .service_access import open_service_for

    from ..storage.audit import WRONG_KEY
    from ..storage.audit_seal import seal_of

    with open_service_for(args) as service:
        check = service.verify_audit()
        restores = service.audit_restores()
        seal = seal_of(service.engine) if service.engine is not None else None
    key_id = seal.key_id if seal is not None else None
    if args.json:
        emit_json(
            {
                "intact": check.intact,
                "entries": check.entries,
                "first_broken": check.first_broken,
                "reason": check.reason,
                "restores": restores,
                "key_id": key_id,
            }
        )
    elif check.intact:
        # The key id: the same at every station holding the site's key (IT compares ids, not keys).
        print(f"audit log intact: {check.entries} entries" + (f" (audit key id {key_id})" if key_id else ""))
        for restore in restores:
            print(
                one_line(
                    f"  restored from a backup, acknowledged by {restore.get('by')} at {restore.get('at')}: "
                    f"entries {restore.get('to_count', 0) + 1} to {restore.get('from_count')} (anchored {restore.get('from_at')}) "
                    f"are not in this database; reason: {restore.get('reason')}"
                )
            )
    elif (check.reason or "").startswith(WRONG_KEY):
        print(one_line(f"audit log NOT CHECKED at this station: {check.reason}"))
    else:
        print(f"audit log BROKEN at entry {check.first_broken}: {check.reason}")
    return Exit.OK if check.intact else Exit.HARD_STOP


def run_export(args: argparse.Namespace) -> int:
    from ..storage.safe_files import OutputRefused
    from .common import CliError, check_output_file, protected_paths
    from .service_access import open_service_for

    check_output_file(args, "--out")
    with open_service_for(args) as service:
        try:
            count = service.export_audit(args.out, force=args.force, protected=protected_paths(args))
        except OutputRefused as exc:
            raise CliError(f"invalid --out: {exc}", Exit.INVALID) from None
        except OSError as exc:
            raise CliError(f"invalid --out: cannot write {args.out}: {exc.strerror}", Exit.INVALID) from None
    print(f"wrote {count} audit entries to {args.out}")
    return Exit.OK


def run_anchor(args: argparse.Namespace) -> int:
    import json

    from .common import CliError, check_output_file, write_output_file
    from .service_access import open_service_for

    from ..domain.errors import ValidationError

    if args.acknowledge_restore:
        return _acknowledge_restore(args)
    for flag, value in (("--reason", args.reason), ("--user", args.user), ("--pin-fd", args.pin_fd)):
        if value is not None:
            raise ValidationError(flag, "applies only with --acknowledge-restore")
    if args.out is not None:
        check_output_file(args, "--out")
    with open_service_for(args) as service:
        anchored = service.audit_anchor()
    if anchored is None:
        raise CliError("no audit anchor is kept for this database (no data folder for its anchor log)", Exit.HARD_STOP)
    count, head = anchored
    payload = {"entries": count, "head": head}
    text = json.dumps(payload) if args.json else f"audit anchor: {count} entries, head {head}"
    if args.out is not None:
        write_output_file(args, lambda stream: stream.write((json.dumps(payload) + "\n").encode("utf-8")), "--out")
    print(text)
    return Exit.OK


def _acknowledge_restore(args: argparse.Namespace) -> int:
    from ..domain.errors import ValidationError
    from ..domain.preparation import StepRefused
    from .common import CliError
    from .service_access import open_service_for, sign_in

    if args.user is None:
        raise ValidationError("--user", "acknowledging a restore needs the pharmacist: --user NAME (and their PIN)")
    if args.reason is None or not args.reason.strip():
        raise ValidationError("--reason", 'say why, e.g. --reason "disk failure; restored the 02:00 backup"')
    if args.out is not None or args.force:
        raise ValidationError("--out", "does not apply with --acknowledge-restore (run 'audit anchor --out FILE' afterwards)")
    with open_service_for(args) as service:
        pharmacist = sign_in(service, args.user, args.pin_fd)
        try:
            restore = service.acknowledge_restore(pharmacist, args.reason)
        except StepRefused as refusal:
            raise CliError(f"refused [{refusal.code}]: {refusal.message}", Exit.HARD_STOP) from None
        anchored = service.audit_anchor()
    if args.json:
        emit_json({"restore": restore, "entries": anchored[0] if anchored else None, "head": anchored[1] if anchored else None})
    else:
        print(
            one_line(
                f"restore acknowledged by {restore['by']}: the log went back from {restore['from_count']} to "
                f"{restore['to_count']} entries ({restore['lost_entries']} anchored entries are not in this database); "
                f"recorded in the audit log and the anchor log"
            )
        )
        if anchored:
            print(f"audit anchor: {anchored[0]} entries, head {anchored[1]}")
    return Exit.OK
