"""infusion-prep user: add, list, deactivate and re-PIN the people who use the program.

Every change is a signed-in pharmacist's: `--user NAME` with that pharmacist's PIN (typed, from
`--pin-fd N`, or INFUSION_PREP_PIN). The new user's PIN is typed twice, or read from
`--new-pin-fd N` or INFUSION_PREP_NEW_PIN. The one exception is the very first pharmacist of an
empty database, added without `--user` (their PIN typed twice, or INFUSION_PREP_PIN). The
operating-system account is recorded in the audit log beside every change.
"""

from __future__ import annotations

import argparse

from .common import CliError, Exit, add_storage_options, emit_json

NEW_PIN_ENV = "INFUSION_PREP_NEW_PIN"


def _signed_in_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--user", required=required, metavar="PHARMACIST", help="the signed-in pharmacist making the change (asks for their PIN)")
    parser.add_argument("--pin-fd", type=int, metavar="N", help="read the --user's PIN from file descriptor N (one line)")
    parser.add_argument("--new-pin-fd", type=int, metavar="N", help="read the new PIN from file descriptor N (one line)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "user",
        help="add, list and deactivate users (technician, pharmacist, nurse)",
        description="Manage the named users and their PINs. Changes need a signed-in pharmacist (--user).",
    )
    commands = parser.add_subparsers(dest="user_command", metavar="ACTION", required=True, parser_class=type(parser))

    add = commands.add_parser("add", help="add a user (--user PHARMACIST; not for the first pharmacist of an empty database)")
    add.add_argument("name", help="the user's name as it appears on records")
    add.add_argument("--role", required=True, choices=["technician", "pharmacist", "nurse"], help="what the user may record")
    add.add_argument("--json", action="store_true", help="print one JSON object")
    _signed_in_options(add, required=False)
    add_storage_options(add)
    add.set_defaults(func=run_add)

    listing = commands.add_parser("list", help="list users")
    listing.add_argument("--all", action="store_true", help="include deactivated users")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(listing)
    listing.set_defaults(func=run_list)

    deactivate = commands.add_parser("deactivate", help="deactivate a user (users are never deleted: records name them)")
    deactivate.add_argument("name")
    _signed_in_options(deactivate, required=True)
    add_storage_options(deactivate)
    deactivate.set_defaults(func=run_deactivate, active=False)

    activate = commands.add_parser("activate", help="re-activate a deactivated user")
    activate.add_argument("name")
    _signed_in_options(activate, required=True)
    add_storage_options(activate)
    activate.set_defaults(func=run_deactivate, active=True)

    set_pin = commands.add_parser("set-pin", help="set a new PIN: a pharmacist's reset (--user), or your own (your current PIN)")
    set_pin.add_argument("name")
    _signed_in_options(set_pin, required=False)
    add_storage_options(set_pin)
    set_pin.set_defaults(func=run_set_pin)


def _user_dict(user) -> dict:
    return {"name": user.name, "role": user.role.value, "active": user.active}


def _refused(refusal) -> CliError:
    return CliError(f"refused: {refusal.message}", Exit.HARD_STOP)


def _pharmacist(service, args):
    from .service_access import read_pin

    return service.authenticate(args.user, read_pin(args.user, fd=args.pin_fd))


def run_add(args: argparse.Namespace) -> int:
    from ..domain.security import validate_pin
    from ..service import StepRefused
    from ..service.preparations import validate_role, validate_user_name
    from .service_access import PIN_ENV, read_pin

    with open_for(args) as service:
        # Validate what can be validated before asking for any PIN.
        name = validate_user_name(args.name)
        validate_role(args.role)
        minimum = service.settings().pin_min_digits
        try:
            if args.user:
                actor = _pharmacist(service, args)
                pin = read_pin(f"new user {name}", env=NEW_PIN_ENV, confirm=True, fd=args.new_pin_fd, flag="--new-pin-fd")
            else:
                if service.has_users():
                    raise CliError(
                        "refused: adding a user needs a signed-in pharmacist: give --user NAME (and their PIN); "
                        "only the first pharmacist of an empty database is added without one",
                        Exit.HARD_STOP,
                    )
                actor = None
                pin = read_pin(name, env=PIN_ENV, confirm=True, fd=args.new_pin_fd if args.new_pin_fd is not None else args.pin_fd)
            user = service.add_user(name, args.role, validate_pin(pin, minimum=minimum), actor=actor)
        except StepRefused as refusal:
            raise _refused(refusal) from None
    if args.json:
        emit_json(_user_dict(user))
    else:
        print(f"added {user.name} ({user.role.value})")
    return Exit.OK


def open_for(args):
    from .service_access import open_service_for

    return open_service_for(args)


def run_list(args: argparse.Namespace) -> int:
    with open_for(args) as service:
        users = service.users(include_inactive=args.all)
    if args.json:
        emit_json({"users": [_user_dict(u) for u in users]})
    else:
        for user in users:
            state = "" if user.active else "\t(deactivated)"
            print(f"{user.name}\t{user.role.value}{state}")
    return Exit.OK


def run_deactivate(args: argparse.Namespace) -> int:
    from ..service import StepRefused

    with open_for(args) as service:
        try:
            user = service.set_user_active(args.name, args.active, actor=_pharmacist(service, args))
        except StepRefused as refusal:
            raise _refused(refusal) from None
    print(f"{user.name} is {'active' if user.active else 'deactivated'}")
    return Exit.OK


def run_set_pin(args: argparse.Namespace) -> int:
    from ..domain.errors import ValidationError
    from ..domain.security import validate_pin
    from ..service import StepRefused
    from .service_access import read_pin

    with open_for(args) as service:
        if service.user(args.name) is None:
            raise ValidationError("name", f"no user named '{args.name}'")
        minimum = service.settings().pin_min_digits
        try:
            if args.user:
                actor = _pharmacist(service, args)
                new_pin = validate_pin(
                    read_pin(f"new PIN for {args.name}", env=NEW_PIN_ENV, confirm=True, fd=args.new_pin_fd, flag="--new-pin-fd"), minimum=minimum
                )
                user = service.set_pin(args.name, new_pin, actor=actor)
            else:
                current = read_pin(f"{args.name} (current PIN)", fd=args.pin_fd)
                new_pin = validate_pin(
                    read_pin(f"new PIN for {args.name}", env=NEW_PIN_ENV, confirm=True, fd=args.new_pin_fd, flag="--new-pin-fd"), minimum=minimum
                )
                user = service.set_pin(args.name, new_pin, current_pin=current)
        except StepRefused as refusal:
            raise _refused(refusal) from None
    print(f"new PIN set for {user.name}")
    return Exit.OK
