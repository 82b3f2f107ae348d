"""Running the `infusion-prep` command the way scripts see it: arguments in; exit code, stdout, stderr out.

`run_cli` calls `infusion_app.cli.main` in this process with its own stdin, stdout, stderr and
environment: what a subprocess would see, without the ~0.5 s of interpreter start and imports
that made the CLI tests two thirds of the suite. An uncaught exception fails the test (never a
quiet exit 1), and a run that changes process-wide state fails too. `run_cli_subprocess` starts the real
`python -m infusion_app`, for what only a process shows: the exit status the operating system
reports, an uncaught traceback, pipes, and several programs at once.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any


@dataclass
class Completed:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


# Issue 17: with several drugs installed a command names its drug (there is no default drug). The
# tests written for BESPONSA before MYLOTARG was added name it through with_drug, which run_cli and
# run_cli_subprocess apply unless told not to (implicit_drug=False: the tests of the ambiguity itself).
TEST_DRUG = "inotuzumab-ozogamicin"


def takes_drug(args: tuple[str, ...] | list[str]) -> bool:
    """Whether `infusion-prep ARGS` works on one drug that it would take from --drug."""
    words = [a for a in args if not a.startswith("-")]
    first, second = (words + ["", ""])[:2]
    if first in ("calc", "schedule", "coverage", "deadlines"):
        return True
    if first in ("sheet", "label", "print"):
        return "--demo" in args
    return (first, second) in (("prep", "new"), ("course", "new")) or (first == "downtime" and second != "snapshot")


def with_drug(args: tuple[str, ...] | list[str], drug: str = TEST_DRUG) -> list[str]:
    """ARGS naming `drug` (--drug appended) when the command takes one and ARGS name none."""
    named = any(a == "--drug" or a.startswith("--drug=") for a in args)
    return [*args, "--drug", drug] if takes_drug(args) and not named and "--help" not in args and "-h" not in args else list(args)


def run_cli_subprocess(*args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60, implicit_drug: bool = True) -> Completed:
    if implicit_drug:
        args = tuple(with_drug(args))
    full_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "infusion_app", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=timeout,
    )
    return Completed(done.returncode, done.stdout, done.stderr)


# One in-process run at a time: sys.stdout and os.environ belong to the whole process.
_IN_PROCESS = threading.Lock()


def _text_stream(initial: str = "") -> io.TextIOWrapper:
    # A real text stream over bytes (with .buffer and .encoding), as a process's streams are.
    return io.TextIOWrapper(io.BytesIO(initial.encode("utf-8")), encoding="utf-8", newline=None)


def _read_back(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]


class CliCrashed(AssertionError):
    """An exception escaped the command's main(): a traceback a script would have seen on stderr."""


def _process_state() -> dict[str, Any]:
    """What one process-wide run could change and a real process would take with it when it ends."""
    import logging
    import signal
    import warnings

    root = logging.getLogger()
    return {
        "cwd": os.getcwd(),
        "umask": _umask(),
        "root logger handlers": list(root.handlers),
        "root logger level": root.level,
        "warning filters": list(warnings.filters),
        "signal handlers": {name: signal.getsignal(getattr(signal, name)) for name in ("SIGINT", "SIGTERM", "SIGPIPE", "SIGHUP")},
        "sys.path": list(sys.path),
    }


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60, implicit_drug: bool = True) -> Completed:
    """`infusion-prep ARGS` in this process; the same Completed a subprocess run gives.

    stdin is never a terminal (as with subprocess.run and capture_output): a PIN comes from the
    environment or the command refuses. An exception that escapes main() fails the test at once
    (CliCrashed, with the traceback and what the command printed): in a process it would have
    been a traceback on stderr and exit 1, which a test checking only the exit code would miss.
    The environment, the streams, sys.argv and the command's pending warnings are the run's own;
    whatever else a process would take with it (the working folder, umask, logging handlers,
    warning filters, signal handlers, sys.path) is checked unchanged afterwards: a command that
    changes one fails the test, so one run never leaks into the next.
    `timeout` is accepted for the subprocess signature; the per-test timeout covers a hang.
    `implicit_drug`: name TEST_DRUG for a command that takes a drug and is given none (with_drug).
    """
    if implicit_drug:
        args = tuple(with_drug(args))
    from infusion_app.cli import main
    from infusion_app.cli.common import PENDING_WARNINGS

    with _IN_PROCESS:
        before = _process_state()
        saved_env = os.environ.copy()
        saved_streams = sys.stdin, sys.stdout, sys.stderr
        saved_argv = sys.argv
        os.environ.update({"QT_QPA_PLATFORM": "offscreen", **(env or {})})
        timezone_changed = os.environ.get("TZ") != saved_env.get("TZ")
        if timezone_changed:
            time.tzset()
        stdin, stdout, stderr = _text_stream(input or ""), _text_stream(), _text_stream()
        sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
        sys.argv = ["infusion-prep", *args]
        PENDING_WARNINGS.clear()
        crash: str | None = None
        try:
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's usage errors, sys.exit() anywhere
                if exit_.code is None or isinstance(exit_.code, int):
                    code = exit_.code or 0
                else:
                    print(exit_.code, file=sys.stderr)
                    code = 1
            except Exception:  # what the interpreter would print as an uncaught exception
                crash = traceback.format_exc()
                code = 1
            out, err = _read_back(stdout), _read_back(stderr)
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            sys.argv = saved_argv
            PENDING_WARNINGS.clear()
            os.environ.clear()
            os.environ.update(saved_env)
            if timezone_changed:
                time.tzset()
        after = _process_state()
    if crash is not None:
        raise CliCrashed(
            f"infusion-prep {' '.join(args)}: uncaught exception (a traceback and exit 1 as a process)\n{crash}--- stdout ---\n{out}--- stderr ---\n{err}"
        )
    changed = {key: (before[key], after[key]) for key in before if before[key] != after[key]}
    assert not changed, f"infusion-prep {' '.join(args)} changed process-wide state a later run would inherit: {changed}"
    return Completed(int(code), out, err)


def assert_clean_invalid(result: Completed, field: str) -> None:
    """Exit 2, exactly one stderr line naming the field, no traceback."""
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert field in lines[0], lines[0]
