"""The audit chain's key and its anchor outside the database file.

Without these, anyone who could write the database file could edit an entry, recompute every
later hash with SHA-256 and have `audit verify` say "intact". Now:

- Every entry's hash is an HMAC-SHA-256 under a **site secret** (32 random bytes) kept in a file
  outside the database (`audit.key` in the data folder, or the file named by
  INFUSION_PREP_AUDIT_KEY_FILE, e.g. on a volume the database's editors cannot read). It is
  created at first run, readable by its owner only. Without it, a forged entry cannot be given a
  valid hash.
- After every commit that adds audit entries, the new head (entry count and hash) is appended
  to an **anchor log** (`audit-anchor.log`, or INFUSION_PREP_AUDIT_ANCHOR_FILE), one JSON line,
  flushed to disk. `audit verify` compares the database with every anchored head: a truncated
  log, a wiped database ("0 entries") or an older copy put back (a rewound head) no longer match.
- A legitimate restore from a backup rewinds the head for good. A pharmacist acknowledges it
  (`audit anchor --acknowledge-restore`): a line signed with the site key records the lost
  anchored head and the copy's head, and anchors from then on start from the copy; the
  acknowledgement is also an audit entry. An acknowledgement forged without the key is reported.
- Entries written before the site secret existed (an older version's database) keep their
  unkeyed SHA-256; the anchor log's first line records from which entry on the chain is keyed,
  so an attacker cannot declare keyed entries unkeyed.

What this cannot do is stop someone who can write the key file and the anchor log as well (the
same operating-system account, or root): see "What the audit log proves" in the README.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

KEY_ENV = "INFUSION_PREP_AUDIT_KEY_FILE"
ANCHOR_ENV = "INFUSION_PREP_AUDIT_ANCHOR_FILE"
KEY_FILENAME = "audit.key"
ANCHOR_FILENAME = "audit-anchor.log"
KEY_BYTES = 32


class SealError(Exception):
    """The key or anchor file cannot be used (the message says which and why)."""


@dataclass(frozen=True)
class Anchor:
    count: int
    head: str
    at: str = ""


@dataclass
class AuditSeal:
    key: bytes
    key_path: Path
    anchor_path: Path
    keyed_from: int  # the first entry hashed with the key (1 on a new database)
    # Set when this station's key does not verify a shared database's newest entry: reading and
    # audit verify still work, every write is refused with this message (storage/database.py).
    write_refusal: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def is_keyed(self, seq: int) -> bool:
        return seq >= self.keyed_from

    @property
    def key_id(self) -> str:
        """A fingerprint of the key that reveals nothing of it: IT compares it between stations
        (the same key has the same id everywhere) without copying or showing the key itself."""
        return key_id(self.key)

    def record(self, count: int, head: str) -> None:
        """Append the head after a commit. A failure here is not fatal: the commit stands, and a
        missing anchor line only makes the anchor older (verify tolerates a log ahead of it)."""
        line = json.dumps({"count": count, "head": head, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                _append_line(self.anchor_path, line, create=False)
            except OSError:
                pass

    def restore_mac(self, restore: dict) -> str:
        """The site key's HMAC over a restore acknowledgement: a line forged without the key fails."""
        body = json.dumps(restore, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return hmac.new(self.key, b"infusion-prep restore\x00" + body, hashlib.sha256).hexdigest()

    def record_restore(self, restore: dict) -> None:
        """Append a pharmacist's acknowledgement that the database was put back from a backup.

        `restore` holds the anchored head that was lost (`from_count`, `from_head`, `from_at`) and
        the head of the copy put back (`to_count`, `to_head`), who and why. Anchors before it with
        more than `to_count` entries are the gap it records; the copy's own head is anchored by
        it, and every later commit anchors as usual. Unlike record(), a failure here is reported.
        """
        line = json.dumps({"restore": restore, "mac": self.restore_mac(restore)}, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            _append_line(self.anchor_path, line, create=False)

    def restores(self) -> list[dict]:
        """Every restore acknowledgement in the anchor log with a valid key signature, oldest first."""
        return self._read()[2]

    def anchors(self) -> tuple[list[Anchor], str | None]:
        """Every anchored head still in force, and the first unreadable line's description (or None).

        An anchor superseded by a later restore acknowledgement (it counted entries the copy put
        back never had) is left out: that gap is what the acknowledgement records.
        """
        found, problem, _restores = self._read()
        return found, problem

    def _read(self) -> tuple[list[Anchor], str | None, list[dict]]:
        found: list[Anchor] = []
        restores: list[dict] = []
        try:
            text = _read_regular(self.anchor_path)
        except FileNotFoundError:
            return [], f"the anchor log {self.anchor_path} is missing (deleted?)", []
        except OSError as exc:
            return [], f"the anchor log {self.anchor_path} cannot be read: {exc.strerror or exc}", []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
                if "keyed_from" in value:
                    continue
                if "restore" in value:
                    restore = value["restore"]
                    if not isinstance(restore, dict) or not hmac.compare_digest(str(value.get("mac", "")), self.restore_mac(restore)):
                        return (
                            found,
                            f"line {number} of the anchor log {self.anchor_path} is a restore acknowledgement not signed with the site key (forged?)",
                            restores,
                        )
                    to_count = int(restore["to_count"])
                    found = [a for a in found if a.count <= to_count]
                    found.append(Anchor(to_count, str(restore["to_head"]), str(restore.get("at", ""))))
                    restores.append(restore)
                    continue
                found.append(Anchor(int(value["count"]), str(value["head"]), str(value.get("at", ""))))
            except (ValueError, KeyError, TypeError, AttributeError):
                if number == len(text.splitlines()) and not text.endswith("\n"):
                    continue  # a line cut by a crash mid-write: the commit before it stands
                return found, f"line {number} of the anchor log {self.anchor_path} is not an anchor (edited?)", restores
        return found, None, restores

    def latest(self) -> Anchor | None:
        anchors, _problem = self.anchors()
        return max(anchors, key=lambda a: a.count) if anchors else None


def key_id(key: bytes) -> str:
    return hmac.new(key, b"infusion-prep audit key id", hashlib.sha256).hexdigest()[:16]


def _append_line(path: Path, line: str, create: bool = True) -> None:
    # Only first run creates the log: a deleted anchor log stays missing (and reported) instead
    # of quietly starting over at the next commit.
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | (os.O_CREAT if create else 0)
    descriptor = os.open(path, flags, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(f"{path} is not a regular file")
        os.write(descriptor, line.encode("utf-8"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read_regular(path: Path) -> str:
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(f"{path} is not a regular file")
        chunks = []
        while True:
            chunk = os.read(descriptor, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(descriptor)
    return b"".join(chunks).decode("utf-8", errors="replace")


def seal_paths(site_dir: Path | None) -> tuple[Path, Path] | None:
    key = os.environ.get(KEY_ENV)
    anchor = os.environ.get(ANCHOR_ENV)
    if site_dir is None and not (key and anchor):
        return None
    return (Path(key).expanduser() if key else site_dir / KEY_FILENAME, Path(anchor).expanduser() if anchor else site_dir / ANCHOR_FILENAME)


def open_seal(site_dir: Path | None, current_head: tuple[int, str] | None) -> AuditSeal | None:
    """Load the site secret and anchor log, creating both at first run (owner-only).

    `current_head`: the database's audit head now (count, hash), for the anchor log's first
    lines when the secret is new: entries up to it stay unkeyed.
    """
    paths = seal_paths(site_dir)
    if paths is None:
        return None
    key_path, anchor_path = paths
    count, head = current_head or (0, "0" * 64)
    try:
        key = _read_regular(key_path).strip()
        fresh = False
    except FileNotFoundError:
        key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_hex(KEY_BYTES)
        try:
            descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:  # another program's first run won: use its secret
            key = _read_regular(key_path).strip()
            fresh = False
        else:
            try:
                os.write(descriptor, (key + "\n").encode("ascii"))
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            fresh = True
    except OSError as exc:
        raise SealError(f"cannot read the audit key {key_path}: {exc.strerror or exc}") from exc
    try:
        key_bytes = bytes.fromhex(key)
    except ValueError:
        raise SealError(f"the audit key {key_path} is not a key (edited?); restore it from the site's key backup") from None
    if len(key_bytes) < 16:
        raise SealError(f"the audit key {key_path} is too short (edited?); restore it from the site's key backup")
    keyed_from = 1
    try:
        first_line = _read_regular(anchor_path).split("\n", 1)[0]
        try:
            keyed_from = int(json.loads(first_line)["keyed_from"])
        except (ValueError, KeyError, TypeError):
            keyed_from = 1  # an anchor log without its header: every entry must be keyed
    except FileNotFoundError:
        if fresh:
            keyed_from = count + 1
            header = json.dumps({"keyed_from": keyed_from}, separators=(",", ":")) + "\n"
            _append_line(anchor_path, header)
            if count:
                _append_line(
                    anchor_path,
                    json.dumps({"count": count, "head": head, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}, separators=(",", ":")) + "\n",
                )
    except OSError as exc:
        raise SealError(f"cannot read the anchor log {anchor_path}: {exc.strerror or exc}") from exc
    return AuditSeal(key_bytes, key_path, anchor_path, keyed_from)


# The seal of each engine opened by open_database: the repositories find it here, so every
# repository on one engine (preparations, courses) writes with the same key and anchor.
_SEALS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def attach(engine, seal: AuditSeal | None) -> None:
    if seal is not None:
        _SEALS[engine] = seal


def seal_of(engine) -> AuditSeal | None:
    return _SEALS.get(engine)
