"""GS1 DataMatrix vial codes: GTIN (and the US NDC inside it), expiry, lot, serial."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .monograph import Monograph


@dataclass(frozen=True)
class Gs1Data:
    gtin: str
    ndc: str | None  # '0008-0100-01' shape when it matches the product's NDC pattern, else 10 digits; None if not a US NDC GTIN
    expiry: date
    lot: str
    serial: str | None


def parse_gs1(text: str, monograph: Monograph | None = None) -> Gs1Data:
    """Parse a raw ('\\x1d' FNC1, optional ']d2' prefix) or human-readable '(01)..(17)..' code.

    Raises ValidationError('vial code', ...) on anything that is not a valid vial code.
    `monograph` (default: the shipped one) gives the product NDC used to format the NDC.
    """
    raise NotImplementedError
