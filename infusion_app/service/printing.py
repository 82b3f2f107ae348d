"""Sending a document's PDF itself to a CUPS queue, at 100 % on the stock it was drawn for.

Why the PDF itself, through `lp`: the printer then receives vector text (sharp at any resolution,
and a 2D code with exact module edges), the page size is the media CUPS is asked for, and nothing
in between rasterises, scales to fit or turns the page. `lp` (Debian cups-client) is used rather
than pycups: it needs no C extension built against libcups, it is what every CUPS installation
has, and its messages are CUPS's own. The options sent:

    -o media=<the stock>            Custom.4x2in for a label, Letter or A4 for a sheet
    -o fit-to-page=false            no scaling to the printable area
    -o print-scaling=none           the same for IPP Everywhere / driverless queues
    -o orientation-requested=3      portrait, i.e. "as the page is drawn": no automatic turning
    -o page-left=0 ...              (not sent: the label is drawn inside the stock's own margins)

A queue that is missing, disabled or not accepting jobs, or no queue configured at all, is a
PrintError with a message for the person at the bench, never a traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from .documents import LABEL, Document
from .settings import QUEUE_NAME_PATTERN

QUEUE_NAME = re.compile(QUEUE_NAME_PATTERN)
TIMEOUT_SECONDS = 30
POINTS_PER_INCH = 72.0
POINTS_PER_MM = 72.0 / 25.4
_JOB_ID = re.compile(r"request id is (\S+)")


class PrintError(Exception):
    """The document could not be handed to the print system; `.message` says why and what to do."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class PrintJob:
    queue: str
    job_id: str
    media: str


def media_for(document: Document) -> str:
    """The CUPS media name of the document's stock: Letter, A4 or Custom.<W>x<H>in (or mm)."""
    if document.kind != LABEL:
        return {"letter": "Letter", "a4": "A4"}.get(document.stock, document.stock)
    width, height = document.page_size
    w_in, h_in = width / POINTS_PER_INCH, height / POINTS_PER_INCH
    if abs(w_in * 100 - round(w_in * 100)) < 1e-6 and abs(h_in * 100 - round(h_in * 100)) < 1e-6:
        return f"Custom.{_tidy(w_in)}x{_tidy(h_in)}in"
    return f"Custom.{_tidy(width / POINTS_PER_MM)}x{_tidy(height / POINTS_PER_MM)}mm"


def _tidy(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=_environment())
    except FileNotFoundError:
        raise PrintError("printing needs the CUPS print system, which is not installed here (no 'lp' command); ask IT to install cups-client") from None
    except subprocess.TimeoutExpired:
        raise PrintError(f"the print system did not answer within {TIMEOUT_SECONDS} s; check that CUPS is running") from None


def _environment() -> dict[str, str]:
    # CUPS messages in English whatever the desktop's language, so that they can be read back.
    return {**os.environ, "LC_ALL": "C", "LANG": "C"}


def available() -> bool:
    return shutil.which("lp") is not None


def queues() -> list[str]:
    """The queues CUPS knows, for the settings screen; [] when there is no print system."""
    if not available():
        return []
    result = _run(["lpstat", "-e"])
    return sorted(line.strip() for line in result.stdout.splitlines() if line.strip()) if result.returncode == 0 else []


def check_queue(queue: str, what: str) -> None:
    """PrintError unless `queue` is set, known to CUPS, enabled and accepting jobs."""
    if not queue:
        raise PrintError(f"no {what} printer is set: a pharmacist chooses it in Settings, Printing")
    if not QUEUE_NAME.match(queue):
        raise PrintError(f"'{queue}' is not a print queue name; correct the {what} printer in Settings, Printing")
    status = _run(["lpstat", "-p", queue])
    if status.returncode != 0 or not status.stdout.strip():
        raise PrintError(f"the {what} printer '{queue}' is not known to the print system (removed or renamed?); choose another in Settings, Printing")
    if "disabled" in status.stdout:
        raise PrintError(f"the {what} printer '{queue}' is stopped: {status.stdout.strip()}; restart it or choose another in Settings, Printing")
    accepting = _run(["lpstat", "-a", queue])
    if accepting.returncode != 0 or "not accepting" in accepting.stdout:
        raise PrintError(f"the {what} printer '{queue}' is not accepting jobs; restart it or choose another in Settings, Printing")


def print_document(document: Document, queue: str) -> PrintJob:
    """Hand the PDF to `queue` at 100 %, unrotated, on the document's stock. PrintError when it cannot."""
    what = "label" if document.kind == LABEL else "sheet"
    check_queue(queue, what)
    media = media_for(document)
    command = [
        "lp",
        "-d",
        queue,
        "-t",
        f"{document.prep_id} {what}",
        "-o",
        f"media={media}",
        "-o",
        "fit-to-page=false",
        "-o",
        "print-scaling=none",
        "-o",
        "orientation-requested=3",
        "--",
        "-",
    ]
    try:
        result = subprocess.run(command, input=document.pdf, capture_output=True, timeout=TIMEOUT_SECONDS, env=_environment())
    except FileNotFoundError:
        raise PrintError("printing needs the CUPS print system, which is not installed here (no 'lp' command)") from None
    except subprocess.TimeoutExpired:
        raise PrintError(f"the print system did not answer within {TIMEOUT_SECONDS} s; check that CUPS is running") from None
    output = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
    if result.returncode != 0:
        raise PrintError(f"the {what} printer '{queue}' refused the job: {output or 'no reason given'}")
    match = _JOB_ID.search(output)
    return PrintJob(queue, match.group(1) if match else "", media)
