"""infusion-prep user: add, list, deactivate and re-PIN the people who use the program.

User management from the command line acts as the local administrator (recorded in the audit
log as 'local-admin (os user NAME)'): whoever can run it can already read the database file.
In the desktop program the same changes are a signed-in pharmacist's.
"""

from __future__ import annotations

import argparse

from .common import Exit, add_storage_options, emit_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("user", help="add, list and deactivate users (technician, pharmacist, nurse)",
                                   description="Manage the named users and their PINs.")
    commands = parser.add_subparsers(dest="user_command", metavar="ACTION", required=True, parser_class=type(parser))

    add = commands.add_parser("add", help="add a user; the PIN is typed twice, or read from INFUSION_PREP_PIN")
    add.add_argument("name", help="the user's name as it appears on records")
    add.add_argument("--role", required=True, choices=["technician", "pharmacist", "nurse"], help="what the user may record")
    add.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(add)
    add.set_defaults(func=run_add)

    listing = commands.add_parser("list", help="list users")
    listing.add_argument("--all", action="store_true", help="include deactivated users")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    add_storage_options(listing)
    listing.set_defaults(func=run_list)

    deactivate = commands.add_parser("deactivate", help="deactivate a user (users are never deleted: records name them)")
    deactivate.add_argument("name")
    add_storage_options(deactivate)
    deactivate.set_defaults(func=run_deactivate, active=False)

    activate = commands.add_parser("activate", help="re-activate a deactivated user")
    activate.add_argument("name")
    add_storage_options(activate)
    activate.set_defaults(func=run_deactivate, active=True)

    set_pin = commands.add_parser("set-pin", help="set a new PIN (typed twice, or INFUSION_PREP_PIN)")
    set_pin.add_argument("name")
    add_storage_options(set_pin)
    set_pin.set_defaults(func=run_set_pin)


def _user_dict(user) -> dict:
    return {"name": user.name, "role": user.role.value, "active": user.active}


def run_add(args: argparse.Namespace) -> int:
    from ..domain.security import validate_pin
    from .service_access import open_service_for, read_pin

    with open_service_for(args) as service:
        # Validate what can be validated before asking for a PIN twice.
        from ..service.preparations import validate_role, validate_user_name

        name = validate_user_name(args.name)
        validate_role(args.role)
        pin = validate_pin(read_pin(name, confirm=True))
        user = service.add_user(name, args.role, pin)
    if args.json:
        emit_json(_user_dict(user))
    else:
        print(f"added {user.name} ({user.role.value})")
    return Exit.OK


def run_list(args: argparse.Namespace) -> int:
    from .service_access import open_service_for

    with open_service_for(args) as service:
        users = service.users(include_inactive=args.all)
    if args.json:
        emit_json({"users": [_user_dict(u) for u in users]})
    else:
        for user in users:
            state = "" if user.active else "\t(deactivated)"
            print(f"{user.name}\t{user.role.value}{state}")
    return Exit.OK


def run_deactivate(args: argparse.Namespace) -> int:
    from .service_access import open_service_for

    with open_service_for(args) as service:
        user = service.set_user_active(args.name, args.active)
    print(f"{user.name} is {'active' if user.active else 'deactivated'}")
    return Exit.OK


def run_set_pin(args: argparse.Namespace) -> int:
    from ..domain.security import validate_pin
    from .service_access import open_service_for, read_pin

    with open_service_for(args) as service:
        if service.user(args.name) is None:
            from ..domain.errors import ValidationError

            raise ValidationError("name", f"no user named '{args.name}'")
        user = service.set_pin(args.name, validate_pin(read_pin(args.name, confirm=True)))
    print(f"new PIN set for {user.name}")
    return Exit.OK
