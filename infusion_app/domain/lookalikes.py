"""Text that looks alike on a screen or a printed record, compared as one.

A name typed with a Cyrillic "о", in full-width letters or with an invisible zero-width space is
another string to the program but the same word to the person reading the sheet: user names and
premedication drugs are compared by their skeleton, and invisible or mixed-alphabet text is
refused where a person types it.
"""

from __future__ import annotations

import unicodedata

# Letters of other alphabets that look like Latin ones.
LOOKALIKES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ј": "j",
        "ԁ": "d",
        "ɡ": "g",
        "һ": "h",
        "ո": "n",
        "ս": "u",
        "α": "a",
        "β": "b",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ℓ": "l",
        "ı": "i",
        "0": "o",
        "1": "l",
        "|": "l",
    }
)


def invisible_characters(text: str) -> list[str]:
    """The invisible format characters in `text` (zero-width space and joiner, direction marks), as U+XXXX."""
    return [f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) == "Cf"]


def mixed_alphabet_word(text: str) -> str | None:
    """The first word that mixes letters of different alphabets ("dexamethasоne" with a Cyrillic о), or None."""
    for word in unicodedata.normalize("NFKC", text).split():
        scripts = {unicodedata.name(ch, "?").split()[0] for ch in word if ch.isalpha()}
        if len(scripts) > 1:
            return word
    return None


def skeleton(text: str, keep_spaces: bool = True) -> str:
    """The shape of text for comparison: NFKC, invisible characters dropped, case-folded, look-alike
    letters mapped to Latin, accents dropped, spaces collapsed (or removed)."""
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) != "Cf")
    folded = " ".join(visible.split()).casefold().translate(LOOKALIKES)
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(ch))
    return plain if keep_spaces else plain.replace(" ", "")
