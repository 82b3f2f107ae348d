"""infusion-prep db: the database's schema, for IT. `db upgrade` migrates (the one way a shared
server database is ever migrated); `db status` says where it stands; `db grants ROLE` prints the
least-privilege application role's grants (PostgreSQL)."""

from __future__ import annotations

import argparse

from .common import CliError, Exit, add_storage_options
from .service_access import STORAGE_FAILURE

BACKUP_ADVICE = (
    "Before upgrading a shared database, back it up: pg_dump --format=custom --file=infusion-prep-before-upgrade.dump DBNAME "
    "(an SQLite file is copied to its backups folder by the upgrade itself). Stop every station first: a station refuses a "
    "schema it does not know."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "db",
        help="the database schema: status, upgrade (IT), grants",
        description="The database's schema. A station never migrates a shared (PostgreSQL) database: IT runs 'db upgrade' once per release.",
    )
    commands = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True, parser_class=type(parser))
    upgrade = commands.add_parser("upgrade", help="migrate the database to this version's schema (prints the backup advice first)")
    add_storage_options(upgrade)
    upgrade.set_defaults(func=run_upgrade)
    status = commands.add_parser("status", help="the database's schema revision and this version's")
    add_storage_options(status)
    status.set_defaults(func=run_status)
    grants = commands.add_parser("grants", help="print the SQL granting a station role least privilege (PostgreSQL; run as the owner)")
    grants.add_argument("role", metavar="ROLE", help="the role stations connect as, e.g. infusion_app")
    grants.set_defaults(func=run_grants)


def _empty_options(args: argparse.Namespace) -> None:
    for flag, value in (("--data-dir", args.data_dir), ("--database", args.database)):
        if value is not None and not value.strip():
            raise CliError(f"invalid {flag}: it is empty; give a folder or URL, or leave the option out", Exit.INVALID)


def run_upgrade(args: argparse.Namespace) -> int:
    from ..storage import StorageError
    from ..storage.database import upgrade_database

    _empty_options(args)
    print(BACKUP_ADVICE, flush=True)
    try:
        location, result = upgrade_database(args.data_dir, args.database)
    except StorageError as exc:
        raise CliError(str(exc), STORAGE_FAILURE) from None  # type: ignore[arg-type]
    if result.from_revision == result.to_revision:
        print(f"{location.where}: already at schema revision {result.to_revision}; nothing to do")
    else:
        print(f"{location.where}: upgraded from schema revision {result.from_revision or 'none (new)'} to {result.to_revision}")
        if result.backup is not None:
            print(f"backup of the previous file: {result.backup}")
    return Exit.OK


def run_status(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DatabaseError

    from ..storage import StorageError
    from ..storage.database import _engine_for, _reason, current_revisions, known_revisions, resolve_location, site_configured

    _empty_options(args)
    try:
        location = resolve_location(args.data_dir, site_configured(args.data_dir, args.database)[0])
        if location.path is not None and not location.path.exists():
            print(f"{location.where}: no database yet; this version's schema is {known_revisions()[1]}")
            return Exit.OK
        engine = _engine_for(location)
        try:
            stamped, _tables = current_revisions(engine)
        except DatabaseError as exc:
            raise StorageError(f"cannot read the database at {location.where}: {_reason(exc)}") from exc
        finally:
            engine.dispose()
    except StorageError as exc:
        raise CliError(str(exc), STORAGE_FAILURE) from None  # type: ignore[arg-type]
    head = known_revisions()[1]
    current = ", ".join(sorted(stamped)) or "none"
    state = "up to date" if stamped == {head} else "needs 'infusion-prep db upgrade'" if not stamped - known_revisions()[0] else "newer than this version"
    print(f"{location.where}: schema revision {current}; this version's is {head} ({state})")
    return Exit.OK


def run_grants(args: argparse.Namespace) -> int:
    from ..storage.database import application_role_sql

    for statement in application_role_sql(args.role):
        print(statement + ";")
    return Exit.OK
