"""Sending to the hospital's systems when an infusion ends: a site folder or MLLP, through an outbox.

The site setting `interchange_mode` (off | folder | mllp) decides. When an infusion ends the
administration message is put in the outbox (same database, audited) and sent at once; a send
that fails stays in the outbox and is retried with a growing wait (retry_due(), which the desktop
program calls on its timer and `infusion-prep export --send-pending` runs). Every attempt is audited.
Recording the step never depends on the send: the step is committed before anything is sent.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from datetime import timedelta
from pathlib import Path

from typing import TYPE_CHECKING

from ..domain.errors import ValidationError
from ..domain.ports import AuditDraft
from .interchange import build_message

if TYPE_CHECKING:
    from ..storage.outbox import OutboxMessage
    from .preparations import PreparationService

MLLP_START, MLLP_END = b"\x0b", b"\x1c\x0d"
# Short: the send after infusion-ended runs while the nurse waits; a slow receiver is retried later.
SEND_TIMEOUT_SECONDS = 5.0
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(minutes=30)
ACTOR = "interchange"


class SendFailed(Exception):
    pass


def mllp_send(host: str, port: int, message: str, timeout: float = SEND_TIMEOUT_SECONDS) -> str:
    """Send one framed message and return the receiver's acknowledgement (SendFailed unless AA/CA)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(MLLP_START + message.encode("utf-8") + MLLP_END)
            reply = b""
            while not reply.endswith(MLLP_END):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        raise SendFailed(f"MLLP {host}:{port}: {exc.strerror or exc}") from None
    if not reply.startswith(MLLP_START) or not reply.endswith(MLLP_END):
        raise SendFailed(f"MLLP {host}:{port}: no framed acknowledgement received")
    ack = reply[1:-2].decode("utf-8", "replace")
    code = _ack_code(ack)
    if code not in ("AA", "CA"):
        raise SendFailed(f"MLLP {host}:{port}: the receiver answered {code or 'without MSA'}")
    return ack


def _ack_code(ack: str) -> str | None:
    from hl7apy.parser import parse_segment

    for line in ack.replace("\n", "\r").split("\r"):
        if line.startswith("MSA"):
            return str(parse_segment(line, version="2.5").msa_1.to_er7())
    return None


def write_to_folder(folder: str, name: str, payload: str) -> Path:
    target_dir = Path(folder)
    if not target_dir.is_dir():
        raise SendFailed(f"folder {folder} does not exist or is not reachable")
    target = target_dir / name
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=target_dir)
    except OSError as exc:
        raise SendFailed(f"folder {folder}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload.encode("utf-8"))
        os.link(temporary, target)  # never replaces a message already there
    except FileExistsError:
        raise SendFailed(f"{target} already exists; not replaced") from None
    except OSError as exc:
        raise SendFailed(f"folder {folder}: {exc.strerror or exc}") from None
    finally:
        # Whatever failed (a full disk, a share without hard links), the half-sent copy goes: the
        # receiver's folder is not the place for a .tmp per retry. A copy that cannot be removed
        # is left rather than failing a message already linked in place.
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return target


class Interchange:
    def __init__(self, service: PreparationService) -> None:
        from ..storage.outbox import OutboxRepository

        self.service = service
        if service.engine is None:
            raise ValidationError("database", "the preparation service has no open database")
        self.outbox = OutboxRepository(service.engine)

    def _setting(self, key: str, default: object = None) -> object:
        return self.service.settings().stored.get(key, default)

    def mode(self) -> str:
        return str(self._setting("interchange_mode", "off"))

    def destination(self) -> str:
        if self.mode() == "folder":
            return f"folder:{self._setting('interchange_folder', '')}"
        return f"mllp:{self._setting('interchange_host', '')}:{self._setting('interchange_port', '')}"

    def infusion_ended(self, prep_id: str) -> int | None:
        """Queue the administration message and try to send it; None when the site sends nothing."""
        if self.mode() not in ("folder", "mllp"):
            return None
        fmt = str(self._setting("interchange_format", "hl7v2"))
        prep = self.service.get(prep_id)
        if prep is None:  # an id that is stored nowhere is the caller's mistake, named as such
            from .preparations import PreparationNotFound

            raise PreparationNotFound(prep_id)
        now = self.service.now()
        payload = build_message(prep, fmt, "administration", now)
        destination = self.destination()
        message_id = self.outbox.enqueue(
            prep.id,
            fmt,
            "administration",
            destination,
            payload,
            now,
            AuditDraft(now, ACTOR, "interchange.queued", prep.id, None, {"format": fmt, "what": "administration", "destination": destination}),
        )
        self.retry_due()
        return message_id

    def pending_count(self) -> int:
        return self.outbox.pending_count()

    def pending(self) -> list[OutboxMessage]:
        return self.outbox.pending()

    def retry_due(self) -> int:
        """Try every queued message whose wait is over; returns how many were delivered."""
        delivered = 0
        now = self.service.now()
        for message in self.outbox.due(now):
            after = {
                "outbox_id": message.id,
                "format": message.format,
                "what": message.what,
                "destination": message.destination,
                "attempt": message.attempts + 1,
            }
            try:
                self._deliver(message)
            except SendFailed as exc:
                wait = min(FIRST_RETRY * 2**message.attempts, LONGEST_RETRY)
                self.outbox.record_attempt(
                    message.id,
                    now,
                    str(exc),
                    now + wait,
                    AuditDraft(
                        now, ACTOR, "interchange.failed", message.preparation_id, None, {**after, "error": str(exc), "retry_at": (now + wait).isoformat()}
                    ),
                )
                continue
            self.outbox.record_attempt(message.id, now, None, None, AuditDraft(now, ACTOR, "interchange.sent", message.preparation_id, None, after))
            delivered += 1
        return delivered

    def _deliver(self, message: OutboxMessage) -> None:
        kind, _, where = message.destination.partition(":")
        if kind == "folder":
            suffix = "hl7" if message.format == "hl7v2" else "json"
            write_to_folder(where, f"{message.preparation_id}-{message.what}-{message.id}.{suffix}", message.payload)
        elif kind == "mllp":
            host, _, port = where.rpartition(":")
            try:
                port_number = int(port)
            except ValueError:
                raise SendFailed(f"MLLP port '{port}' is not a number") from None
            if message.format != "hl7v2":
                raise SendFailed("MLLP carries HL7 v2 only; set interchange_format to hl7v2")
            mllp_send(host, port_number, message.payload)
        else:
            raise SendFailed(f"unknown destination {message.destination}")
