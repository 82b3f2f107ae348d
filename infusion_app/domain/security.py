"""PINs: validation, slow hashing and constant-time checking.

A PIN is short, so its hash must be slow to brute-force if the database file is copied:
scrypt (memory-hard) with a per-user random salt. The stored text names its own parameters,
so a later version can raise them and still check old PINs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from .errors import ValidationError

# Re-exported (the "as" form), where settings and the tests import them from.
from .pin_length import DEFAULT_PIN_MIN_DIGITS as DEFAULT_PIN_MIN_DIGITS
from .pin_length import PIN_MAX_DIGITS as PIN_MAX_DIGITS
from .pin_length import PIN_MIN_DIGITS as PIN_MIN_DIGITS


# scrypt cost: n=2**14, r=8, p=1 is the interactive-login setting (~16 MiB, tens of ms).
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
_SCHEME = "scrypt"


def validate_pin(pin: str, field: str = "pin", minimum: int = PIN_MIN_DIGITS) -> str:
    """A PIN is `minimum` (the site's setting, at least 4) to 12 digits (a gloved hand on a keypad)."""
    minimum = max(PIN_MIN_DIGITS, min(int(minimum), PIN_MAX_DIGITS))
    if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit():
        raise ValidationError(field, f"must be {minimum} to {PIN_MAX_DIGITS} digits (0-9), nothing else")
    if not minimum <= len(pin) <= PIN_MAX_DIGITS:
        raise ValidationError(field, f"has {len(pin)} digits; must be {minimum} to {PIN_MAX_DIGITS} digits (e.g. 482913)")
    return pin


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(pin: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # maxmem must cover 128*n*r bytes plus overhead, or OpenSSL refuses larger settings.
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * n * r + 2**20)


def hash_pin(pin: str) -> str:
    """'scrypt$n$r$p$salt$key' (base64) for a validated PIN, with a fresh random salt."""
    validate_pin(pin)
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES)
    return "$".join([_SCHEME, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)])


def verify_pin(pin: str, stored: str) -> bool:
    """True when `pin` matches the stored hash. Never raises on a malformed PIN or hash."""
    try:
        scheme, n, r, p, salt_text, key_text = stored.split("$")
        if scheme != _SCHEME:
            return False
        salt = base64.b64decode(salt_text, validate=True)
        expected = base64.b64decode(key_text, validate=True)
        candidate = _derive(str(pin), salt, int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError, AttributeError, MemoryError):
        return False
    return hmac.compare_digest(candidate, expected)


# A hash to check against when the user name is unknown, so that "no such user" and
# "wrong PIN" take the same time and cannot be told apart by timing.
_DUMMY_HASH: str | None = None


def dummy_verify(pin: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_pin("0" * PIN_MIN_DIGITS)
    verify_pin(pin, _DUMMY_HASH)


def pin_fingerprint(stored_hash: str) -> str:
    """A short digest of a stored PIN hash, for the audit log.

    It reveals nothing about the PIN (it is a digest of a salted slow hash) but lets the audit
    check notice a PIN hash swapped in the database behind the program's back.
    """
    return hashlib.sha256(stored_hash.encode("utf-8")).hexdigest()[:16]
