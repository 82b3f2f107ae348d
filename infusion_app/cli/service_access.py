"""What the stored-data subcommands (user, prep, audit) share: opening the service, reading PINs.

The command line acts as a named user and so asks for that user's PIN: read from a file
descriptor with `--pin-fd N` (scripts: nothing in the environment for other processes to read),
else the environment variable INFUSION_PREP_PIN, else typed at a terminal without echo. An
override's pharmacist PIN comes from `--override-pin-fd N`, else INFUSION_PREP_OVERRIDE_PIN,
else typed. Every command that asks for a PIN offers its descriptor option (add_pin_options;
tests/test_pin_fd.py walks the whole parser to hold that).
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


def add_pin_options(parser: argparse.ArgumentParser, override: bool = False) -> None:
    """--pin-fd (and, for a command with --override-by, --override-pin-fd) on a command that asks for a PIN."""
    parser.add_argument("--pin-fd", type=int, metavar="N", help="read the --user's PIN from file descriptor N (one line; e.g. 3<pin.txt)")
    if override:
        parser.add_argument("--override-pin-fd", type=int, metavar="N", help="read the --override-by pharmacist's PIN from file descriptor N (one line)")


def open_service_for(args: argparse.Namespace):
    from ..service import open_service
    from ..storage import StorageError

    # An empty value would quietly fall back to the real user data folder.
    for flag, value in (("--data-dir", args.data_dir), ("--database", args.database)):
        if value is not None and not value.strip():
            raise CliError(f"invalid {flag}: it is empty; give a folder or URL, or leave the option out", Exit.INVALID)
    try:
        service = open_service(data_dir=args.data_dir, database=args.database)
    except StorageError as exc:
        raise CliError(str(exc), STORAGE_FAILURE) from None  # type: ignore[arg-type]
    try:
        skew = service.clock_skew_warning()
    except StorageError:
        skew = None
    if skew is not None:
        from .common import one_line

        print(one_line(f"infusion-prep: warning: {skew}"), file=sys.stderr)
    return service


def read_pin(prompt_name: str, env: str = PIN_ENV, confirm: bool = False, fd: int | None = None, flag: str = "--pin-fd") -> str:
    """The PIN from file descriptor `fd` (one line; preferred in scripts: no environment to leak
    through /proc or a crash report), else the environment variable `env`, else typed twice at
    a terminal when `confirm`."""
    if fd is not None:
        return _pin_from_fd(fd, prompt_name, flag)
    pin = os.environ.get(env)
    if pin is not None:
        return pin
    if not sys.stdin or not sys.stdin.isatty():
        raise CliError(f"no PIN for {prompt_name}: give {flag} N (the PIN on descriptor N), run in a terminal to type it, or set {env}", Exit.INVALID)
    try:
        pin = getpass.getpass(f"PIN for {prompt_name}: ")
        if confirm and getpass.getpass(f"PIN for {prompt_name} again: ") != pin:
            raise CliError("the two PINs differ; nothing was changed", Exit.INVALID)
    except EOFError:
        raise CliError(f"no PIN for {prompt_name} was typed", Exit.INVALID) from None
    return pin


def _pin_from_fd(fd: int, prompt_name: str, flag: str = "--pin-fd") -> str:
    if fd < 0 or fd > 65535:
        raise CliError(f"invalid {flag}: {fd} is not a file descriptor (e.g. {flag} 3 with 3<pinfile)", Exit.INVALID)
    try:
        with open(fd, "rb", buffering=0, closefd=False) as stream:
            line = stream.readline(64)
    except OSError as exc:
        raise CliError(f"invalid {flag}: cannot read the PIN for {prompt_name} from descriptor {fd}: {exc.strerror}", Exit.INVALID) from None
    try:
        return line.decode("ascii").strip("\r\n")
    except UnicodeDecodeError:
        raise CliError(f"invalid {flag}: the PIN for {prompt_name} read from descriptor {fd} is not digits", Exit.INVALID) from None


def sign_in(service, name: str, fd: int | None = None):
    """The named user, once their PIN is checked (AuthenticationError -> exit 2)."""
    return service.authenticate(name, read_pin(name, fd=fd))


def override_pin(args: argparse.Namespace) -> str:
    """The --override-by pharmacist's PIN: --override-pin-fd, else INFUSION_PREP_OVERRIDE_PIN, else typed."""
    return read_pin(args.override_by, env=OVERRIDE_PIN_ENV, fd=getattr(args, "override_pin_fd", None), flag="--override-pin-fd")
