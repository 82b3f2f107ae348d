"""Issue 17: every drug fact and drug word comes from resources/ (the monographs, the payer policies).
gui/, reports/, service/, cli/ and storage/ hold none in their texts or comments: a drug name, a HCPCS code, a dose,
a volume or time limit of one drug, or a drug's own wording such as "In-line filter (not required)"."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "infusion_app"
LAYERS = ("gui", "reports", "service", "cli", "storage")

PATTERNS = {
    "a drug's name": r"BESPONSA|Besponsa|MYLOTARG|Mylotarg|inotuzumab|gemtuzumab",
    "a HCPCS drug code": r"\bJ9\d{3}\b",
    "the filter wording": r"\(not required\)",
    "a response that decides a dose": r"CR/CRi|\bno CR\b",
    "a payer fact of one drug": r"\bCD ?&?(22|33)\b|\bPh[- ](negative|positive)\b|\bTKI\b",
    "a dose or concentration": r"\b\d+(\.\d+)? ?mg/(mL|m²|m\*\*2)\b|\b(0\.9|4\.5) mg\b",
    "a bag or vial volume": r"\b(50|3\.6|4\.5) mL\b",
    "a dose day": r"\bDays? 8 (or|and) 15\b|\bDay 15\b",
    "a time limit": r"\b(8|18|16) h\b|\b8 hours?\b|\b28[- ]days?\b",
    "a drug's id prefix": r"\bBSP-|\bMYL-",
}
RULE = re.compile("|".join(f"(?P<p{i}>{p})" for i, p in enumerate(PATTERNS.values())))
NAMES = list(PATTERNS)


def drug_wording(text: str) -> list[tuple[int, str, str]]:
    """(line, what, found) for every drug word in the strings and comments of a module's source."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.STRING, tokenize.COMMENT) or token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            for match in RULE.finditer(token.string):
                what = NAMES[int(next(k for k, v in match.groupdict().items() if v)[1:])]
                found.append((token.start[0], what, match.group(0)))
    return found


# A migration records history: which drug the rows stored before it were (0008: the courses kept
# then were BESPONSA's). That is a fact about the data on file, not a drug rule in code.
HISTORY = "storage/migrations/versions/"


@pytest.mark.parametrize("layer", LAYERS)
def test_no_drug_number_or_wording_in_the_layer(layer):
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}: {what} ({text!r})"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        if not str(path.relative_to(PACKAGE)).startswith(HISTORY)
        for line, what, text in drug_wording(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "drug facts belong in resources/: " + "; ".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        'label = "In-line filter (not required): PES"',
        'rate = "IV over 1 hour at 50 mL/h"  # the bag',
        "# the 8 h limit",
        'words = {"none": "none (no CR/CRi)"}',
        'f"HCPCS J9229 for {x}"',
        '"CD&22-positive blasts (%):"',
    ],
)
def test_the_guard_sees_drug_wording(source):
    assert drug_wording(source + "\n")
