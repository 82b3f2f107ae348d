"""What the stored-data subcommands (user, prep, audit) share: opening the service, reading PINs.

The command line acts as a named user and so asks for that user's PIN: from the environment
variable INFUSION_PREP_PIN (scripts), else typed at a terminal without echo. An override's
pharmacist PIN comes from INFUSION_PREP_OVERRIDE_PIN, else typed.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from .common import CliError, Exit

PIN_ENV = "INFUSION_PREP_PIN"
OVERRIDE_PIN_ENV = "INFUSION_PREP_OVERRIDE_PIN"
STORAGE_FAILURE = 3  # the database cannot be opened (a newer version's, unreadable): not the input's fault


def open_service_for(args: argparse.Namespace):
    from ..service import open_service
    from ..storage import StorageError

    # An empty value would quietly fall back to the real user data folder.
    for flag, value in (("--data-dir", args.data_dir), ("--database", args.database)):
        if value is not None and not value.strip():
            raise CliError(f"invalid {flag}: it is empty; give a folder or URL, or leave the option out", Exit.INVALID)
    try:
        return open_service(data_dir=args.data_dir, database=args.database)
    except StorageError as exc:
        raise CliError(str(exc), STORAGE_FAILURE) from None  # type: ignore[arg-type]


def read_pin(prompt_name: str, env: str = PIN_ENV, confirm: bool = False, fd: int | None = None) -> str:
    """The PIN from file descriptor `fd` (one line; preferred in scripts: no environment to leak
    through /proc or a crash report), else the environment variable `env`, else typed twice at
    a terminal when `confirm`."""
    if fd is not None:
        return _pin_from_fd(fd, prompt_name)
    pin = os.environ.get(env)
    if pin is not None:
        return pin
    if not sys.stdin or not sys.stdin.isatty():
        raise CliError(f"no PIN for {prompt_name}: set {env} or run in a terminal to type it", Exit.INVALID)
    try:
        pin = getpass.getpass(f"PIN for {prompt_name}: ")
        if confirm and getpass.getpass(f"PIN for {prompt_name} again: ") != pin:
            raise CliError("the two PINs differ; nothing was changed", Exit.INVALID)
    except EOFError:
        raise CliError(f"no PIN for {prompt_name} was typed", Exit.INVALID) from None
    return pin


def _pin_from_fd(fd: int, prompt_name: str) -> str:
    if fd < 0 or fd > 65535:
        raise CliError(f"invalid --pin-fd: {fd} is not a file descriptor (e.g. --pin-fd 3 with 3<pinfile)", Exit.INVALID)
    try:
        with open(fd, "rb", buffering=0, closefd=False) as stream:
            line = stream.readline(64)
    except OSError as exc:
        raise CliError(f"invalid --pin-fd: cannot read the PIN for {prompt_name} from descriptor {fd}: {exc.strerror}", Exit.INVALID) from None
    try:
        return line.decode("ascii").strip("\r\n")
    except UnicodeDecodeError:
        raise CliError(f"invalid pin: the PIN for {prompt_name} read from descriptor {fd} is not digits", Exit.INVALID) from None


def sign_in(service, name: str):
    """The named user, once their PIN is checked (AuthenticationError -> exit 2)."""
    return service.authenticate(name, read_pin(name))
