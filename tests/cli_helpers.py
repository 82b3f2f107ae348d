"""Running the `infusion-prep` command the way scripts see it: arguments in; exit code, stdout, stderr out.

`run_cli` calls `infusion_app.cli.main` in this process with its own stdin, stdout, stderr and
environment: what a subprocess would see, without the ~0.5 s of interpreter start and imports
that made the CLI tests two thirds of the suite. `run_cli_subprocess` starts the real
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


def run_cli_subprocess(*args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60) -> Completed:
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


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60) -> Completed:
    """`infusion-prep ARGS` in this process; the same Completed a subprocess run gives.

    stdin is never a terminal (as with subprocess.run and capture_output): a PIN comes from the
    environment or the command refuses. An exception that escapes main() is printed as
    Python would print it and gives exit code 1, so "no traceback" checks keep their meaning.
    `timeout` is accepted for the subprocess signature; the per-test timeout covers a hang.
    """
    from infusion_app.cli import main

    with _IN_PROCESS:
        saved_env = os.environ.copy()
        saved_streams = sys.stdin, sys.stdout, sys.stderr
        os.environ.update({"QT_QPA_PLATFORM": "offscreen", **(env or {})})
        timezone_changed = os.environ.get("TZ") != saved_env.get("TZ")
        if timezone_changed:
            time.tzset()
        stdin, stdout, stderr = _text_stream(input or ""), _text_stream(), _text_stream()
        sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
        try:
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's usage errors, sys.exit() anywhere
                if exit_.code is None or isinstance(exit_.code, int):
                    code = exit_.code or 0
                else:
                    print(exit_.code, file=sys.stderr)
                    code = 1
            except Exception:  # what the interpreter does with an uncaught exception
                traceback.print_exc()
                code = 1
            out, err = _read_back(stdout), _read_back(stderr)
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            os.environ.clear()
            os.environ.update(saved_env)
            if timezone_changed:
                time.tzset()
    return Completed(int(code), out, err)


def assert_clean_invalid(result: Completed, field: str) -> None:
    """Exit 2, exactly one stderr line naming the field, no traceback."""
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert field in lines[0], lines[0]
