"""Preparation ids: short, typable, unambiguous, with a check character.

"BSP-7K3QX": the drug's prefix (its monograph's meta.id_prefix: BSP for BESPONSA, MYL for MYLOTARG),
four random characters and a check character, from an alphabet without
0/O and 1/I (so a hand-typed id cannot be misread). The check character (Luhn mod 32) catches
any single mistyped character and every swap of two neighbours but one (2 with Z), so a typo never opens another
patient's bag. The same id is printed on the label and carried by its 2D code.
"""

from __future__ import annotations

import secrets
from functools import cache

from ..domain.errors import ValidationError

# The prefix of the first drug, for an id typed without one ("7K3QX") and for old callers.
PREFIX = "BSP"
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
def known_prefixes() -> tuple[str, ...]:
    """Every installed drug's id prefix (read from the monographs' [meta] tables), BSP first."""
    from ..domain.resources import installed_monograph_ids, load_toml, resource_path

    found = [PREFIX]
    for monograph_id in installed_monograph_ids():
        prefix = str(load_toml(resource_path("monographs", f"{monograph_id}.toml"))["meta"].get("id_prefix", "")).strip().upper()
        if prefix and prefix not in found:
            found.append(prefix)
    return tuple(found)


def new_preparation_id(prefix: str = PREFIX) -> str:
    """A fresh id with the drug's prefix; the check character covers the random part only, so an id
    keeps the check and the scanned forms it always had."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{prefix or PREFIX}-{body}{_check_character(body)}"


def normalize_preparation_id(text: str) -> str:
    """The canonical id from what was typed or scanned; ValidationError('preparation id') otherwise.

    Accepts lower case, surrounding spaces, a missing hyphen ("bsp7k3qx"), no prefix ("7k3qx").
    """
    if not isinstance(text, str):
        raise ValidationError("preparation id", "must be text like BSP-7K3QX")
    cleaned = "".join(text.split()).upper().replace("-", "")
    prefixes = known_prefixes()
    if len(cleaned) == RANDOM_LENGTH + 1 and not any(cleaned.startswith(p) for p in prefixes):
        cleaned = PREFIX + cleaned  # the short id alone ("7K3QX"), as a nurse reads it off the label
    prefix = next((p for p in prefixes if cleaned.startswith(p) and len(cleaned) == len(p) + RANDOM_LENGTH + 1), None)
    if prefix is None:
        raise ValidationError("preparation id", f"'{text.strip()}' is not a preparation id; ids look like {PREFIX}-7K3QX")
    code = cleaned[len(prefix):]
    wrong = sorted({c for c in code if c not in ALPHABET})
    if wrong:
        hint = " (ids never contain 0, O, 1 or I)" if set(wrong) & set("0O1I") else ""
        raise ValidationError("preparation id", f"'{text.strip()}' has characters ids never use: {''.join(wrong)}{hint}")
    if _check_character(code[:-1]) != code[-1]:
        raise ValidationError("preparation id", f"'{text.strip()}' is not a valid id (its check character does not match: a typo?)")
    return f"{prefix}-{code}"
