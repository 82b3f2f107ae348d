"""Preparation ids: short, typable, unambiguous, with a check character.

"<PREFIX>-7K3QX": the drug's prefix (its monograph's meta.id_prefix), four random characters and a
check character, from an alphabet without
0/O and 1/I (so a hand-typed id cannot be misread). The check character (Luhn mod 32) catches
any single mistyped character and every swap of two neighbours but one (2 with Z), so a typo never opens another
patient's bag. The same id is printed on the label and carried by its 2D code.
"""

from __future__ import annotations

import secrets
from functools import cache

from ..domain.errors import ValidationError

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 characters: no 0, O, 1, I
RANDOM_LENGTH = 4


def _check_character(body: str) -> str:
    """Luhn mod N over the body's characters."""
    n = len(ALPHABET)
    total = 0
    factor = 2
    for char in reversed(body):
        addend = factor * ALPHABET.index(char)
        addend = addend // n + addend % n
        total += addend
        factor = 1 if factor == 2 else 2
    return ALPHABET[(n - total % n) % n]


@cache
def _prefixes_by_drug() -> dict[str, str]:
    """Monograph id -> preparation id prefix, read from the installed monographs' [meta] tables."""
    from ..domain.resources import installed_monograph_ids, load_toml, resource_path

    found = {}
    for monograph_id in installed_monograph_ids():
        prefix = str(load_toml(resource_path("monographs", f"{monograph_id}.toml"))["meta"].get("id_prefix", "")).strip().upper()
        if prefix:
            found[monograph_id] = prefix
    return found


def known_prefixes() -> tuple[str, ...]:
    """Every installed drug's id prefix, in the installed drugs' order. None comes first as a default:
    a short id alone names a drug only when one is installed (normalize_preparation_id)."""
    return tuple(_prefixes_by_drug().values())


def new_preparation_id(prefix: str) -> str:
    """A fresh id with the drug's prefix (its monograph's meta.id_prefix); the check character covers the
    random part only, so an id keeps the check and the scanned forms it always had."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{prefix}-{body}{_check_character(body)}"


class AmbiguousPreparationId(ValidationError):
    """A short id alone ("7K3QX") while several drugs are installed: it may be any of `candidates`
    (one per drug prefix); the service resolves it by the stored record, or refuses it."""

    def __init__(self, text: str, candidates: tuple[str, ...]):
        self.candidates = candidates
        super().__init__(
            "preparation id",
            f"'{text}' names no drug and several are installed: give the id with its drug's prefix, as on the label, e.g. {' or '.join(candidates)}",
        )


def _checked(text: str, prefix: str, code: str) -> str:
    wrong = sorted({c for c in code if c not in ALPHABET})
    if wrong:
        hint = " (ids never contain 0, O, 1 or I)" if set(wrong) & set("0O1I") else ""
        raise ValidationError("preparation id", f"'{text.strip()}' has characters ids never use: {''.join(wrong)}{hint}")
    if _check_character(code[:-1]) != code[-1]:
        raise ValidationError("preparation id", f"'{text.strip()}' is not a valid id (its check character does not match: a typo?)")
    return f"{prefix}-{code}"


def normalize_preparation_id(text: str) -> str:
    """The canonical id from what was typed or scanned; ValidationError('preparation id') otherwise.

    Accepts lower case, surrounding spaces, a missing hyphen ("<prefix>7k3qx"), and the short id alone
    ("7k3qx") when one drug is installed. With several, the short id alone names no drug: it is
    AmbiguousPreparationId (its candidates, one per prefix), which the service resolves by the stored
    record (PreparationService.preparation_id), never by a default drug.
    """
    if not isinstance(text, str):
        raise ValidationError("preparation id", f"must be text like {known_prefixes()[0]}-7K3QX")
    cleaned = "".join(text.split()).upper().replace("-", "")
    prefixes = known_prefixes()
    if len(cleaned) == RANDOM_LENGTH + 1:  # the short id alone ("7K3QX"), as read off the label
        candidates = tuple(_checked(text, p, cleaned) for p in prefixes)
        if len(candidates) == 1:
            return candidates[0]
        raise AmbiguousPreparationId(text.strip(), candidates)
    prefix = next((p for p in prefixes if cleaned.startswith(p) and len(cleaned) == len(p) + RANDOM_LENGTH + 1), None)
    if prefix is None:
        raise ValidationError("preparation id", f"'{text.strip()}' is not a preparation id; ids look like {prefixes[0]}-7K3QX")
    return _checked(text, prefix, cleaned[len(prefix) :])
