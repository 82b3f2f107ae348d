"""The site configuration file: which database a workstation uses and what the station is called.

IT writes it once per workstation, so nobody types a URL:

    # /etc/infusion-prep/site.toml (every user of the machine), or site.toml in the user
    # config folder (platformdirs; it wins key by key), or the file INFUSION_PREP_SITE_CONFIG names
    database = "postgresql+psycopg://infusion_app@db.pharmacy.example/infusion?sslmode=verify-full"
    station = "bench-1"

The password is never in it (nor on a command line, where every account sees it): libpq reads
it from ~/.pgpass or the file PGPASSFILE names (owner-only, libpq refuses it otherwise). A URL with
a password is refused. Given on the command line, --database/--data-dir win over the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SITE_FILE = Path("/etc/infusion-prep/site.toml")
CONFIG_ENV = "INFUSION_PREP_SITE_CONFIG"
KEYS = ("database", "station")


class SiteConfigError(ValueError):
    """The file cannot be used; the message names it and the key."""


def config_files() -> list[Path]:
    """The files read, lowest precedence first. Tests (INFUSION_PREP_TESTING) read only the named one."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        return [Path(named).expanduser()]
    if os.environ.get("INFUSION_PREP_TESTING"):
        return []
    import platformdirs

    return [SITE_FILE, Path(platformdirs.user_config_dir("infusion-prep", appauthor=False)) / "site.toml"]


def _read_regular_file(path: Path) -> bytes:
    """The file's bytes; a FIFO (which would block for ever), a device or a folder is refused
    before it is opened, and opened without blocking in case it was swapped meanwhile."""
    import stat

    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise SiteConfigError(f"the site configuration {path} is not a regular file; give a TOML file or remove it")
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise SiteConfigError(f"the site configuration {path} is not a regular file; give a TOML file or remove it")
        chunks = []
        while chunk := os.read(descriptor, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def load_site_config() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in config_files():
        try:
            content = _read_regular_file(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise SiteConfigError(f"the site configuration {path} cannot be read: {getattr(exc, 'strerror', None) or exc}; fix it or remove it") from None
        # tomllib only for a file there is (most workstations have none): its import and the
        # regular expressions it compiles were a few ms of every stored-data command.
        import tomllib

        try:
            values = tomllib.loads(content.decode("utf-8"))
        except UnicodeDecodeError:
            raise SiteConfigError(f"the site configuration {path} is not UTF-8 text; fix it or remove it") from None
        except tomllib.TOMLDecodeError as exc:
            raise SiteConfigError(f"the site configuration {path} cannot be read: {getattr(exc, 'strerror', None) or exc}; fix it or remove it") from None
        for key, value in values.items():
            if key not in KEYS:
                raise SiteConfigError(f"the site configuration {path} has the unknown key '{key}'; keys are {', '.join(KEYS)}")
            if not isinstance(value, str) or not value.strip():
                raise SiteConfigError(f"the site configuration {path}: '{key}' must be non-empty text, e.g. station = \"bench-1\"")
            if key == "station":
                from .database import STATION_MAX, station_problem

                problem = station_problem(value)
                if problem is not None:
                    raise SiteConfigError(
                        f"the site configuration {path}: 'station' {problem} (at most {STATION_MAX} printable characters), e.g. station = \"bench-1\""
                    )
            found[key] = value.strip()
        if "database" in values:
            refuse_password(found["database"], f"'database' in {path}")
    return found


def refuse_password(url: str, where: str) -> None:
    from sqlalchemy.engine import make_url  # only for a file that names a database

    try:
        password = make_url(url).password
    except Exception:
        return  # not a URL: resolve_location says so
    if password:
        raise SiteConfigError(
            f"{where} holds a password, which every account on this machine could read; remove it from the URL "
            "and put it in ~/.pgpass or the file PGPASSFILE names (readable by its owner only)"
        )
