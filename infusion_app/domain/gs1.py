"""GS1 vial codes (the 2D DataMatrix on the carton/vial): GTIN, the US NDC inside it, expiry, lot, serial.

Accepted forms:
- raw, as a scanner sends it: application identifiers (AIs) run together, variable-length
  fields ended by the FNC1 separator (ASCII GS, '\\x1d'), optionally preceded by a symbology
  identifier (']d2' DataMatrix, ']C1' GS1-128, ']Q3' GS1 QR) and/or a leading FNC1;
- the same with the separator spelled '{GS}', '<GS>', '^]' or a literal backslash-x1d, as
  keyboard-wedge scanners, zxing's readable text and copied text give it;
- human-readable, as printed under the code: '(01)00300080100011(17)280531(10)AB123(21)XYZ'.

GTIN-14 carries a US NDC when it reads: indicator digit, '03', the 10-digit NDC, check digit.
The 10 digits alone do not say where the NDC's hyphens go (4-4-2, 5-3-2 or 5-4-1), so they are
shown with hyphens only when the labeler code matches the product NDC in the monograph
(that NDC's pattern is then used), and as the 10 digits otherwise.

Expiry (AI 17) is YYMMDD; DD = 00 means the end of that month (GS1 General Specifications).
YY is read as 20YY: no drug on the shelf expires in another century.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from .errors import ValidationError
from .monograph import Monograph, load_monograph
from .records import VialRecord

FIELD = "vial code"
GS = "\x1d"
SYMBOLOGY_PREFIXES = ("]d2", "]C1", "]Q3", "]e0")
# How keyboard-wedge scanners, zxing's readable text and copied text spell the separator when
# they cannot give GS itself. '{', '^' and '\\' cannot occur in GS1 data (character set 82);
# '<GS>' could in theory be part of a lot, but no lot is written so, and zxing shows GS that way.
GS_SPELLINGS = ("{GS}", "<GS>", "^]", r"\x1d", r"\u001d")

# AI -> (fixed length of the data, or None when variable) , maximum length, meaning.
# Only the AIs that appear on medicine packs; an unknown AI is refused rather than guessed past,
# because with run-together raw data everything after it could be misread.
_AIS: dict[str, tuple[int | None, int, str]] = {
    "00": (18, 18, "SSCC"),
    "01": (14, 14, "GTIN"),
    "02": (14, 14, "contained GTIN"),
    "10": (None, 20, "lot"),
    "11": (6, 6, "production date"),
    "13": (6, 6, "packaging date"),
    "15": (6, 6, "best before date"),
    "16": (6, 6, "sell by date"),
    "17": (6, 6, "expiry date"),
    "20": (2, 2, "variant"),
    "21": (None, 20, "serial number"),
    "22": (None, 20, "consumer product variant"),
    "30": (None, 8, "count"),
    "240": (None, 30, "additional product id"),
    "241": (None, 30, "customer part number"),
    "710": (None, 20, "national healthcare reimbursement number (DE)"),
    "711": (None, 20, "national healthcare reimbursement number (FR)"),
    "712": (None, 20, "national healthcare reimbursement number (ES)"),
    "713": (None, 20, "national healthcare reimbursement number (BR)"),
    "714": (None, 20, "national healthcare reimbursement number (PT)"),
}
# GS1 AI encodable character set 82 (printable ASCII subset used in AI data).
_CSET82 = re.compile(r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*$")


@dataclass(frozen=True)
class Gs1Data:
    gtin: str
    ndc: str | None  # hyphenated when the labeler matches the product's NDC pattern, else 10 digits; None if not a US NDC GTIN
    expiry: date
    lot: str
    serial: str | None

    def to_vial_record(self) -> VialRecord:
        return VialRecord(lot=self.lot, expiry=self.expiry, gtin=self.gtin, ndc=self.ndc, serial=self.serial)


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for `digits` (everything but the check digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def _ai_at(text: str, index: int) -> str:
    for length in (2, 3, 4):
        candidate = text[index : index + length]
        if candidate in _AIS:
            return candidate
    shown = text[index : index + 4] or "(nothing)"
    raise ValidationError(FIELD, f"unknown or unsupported GS1 application identifier at '{shown}'")


def _split_raw(text: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    index = 0
    while index < len(text):
        if text[index] == GS:
            index += 1
            continue
        ai = _ai_at(text, index)
        index += len(ai)
        fixed, most, meaning = _AIS[ai]
        if fixed is not None:
            value = text[index : index + fixed]
            if len(value) != fixed or GS in value:
                raise ValidationError(FIELD, f"the {meaning} (AI {ai}) must be {fixed} characters")
            index += fixed
        else:
            end = text.find(GS, index)
            end = len(text) if end < 0 else end
            value = text[index:end]
            index = end
            if len(value) > most:
                raise ValidationError(
                    FIELD,
                    f"the {meaning} (AI {ai}) is longer than {most} characters: is a field separator (FNC1) missing?",
                )
        fields.append((ai, value))
    return fields


def _split_human(text: str) -> list[tuple[str, str]]:
    parts = re.findall(r"\((\d{2,4})\)([^()]*)", text)
    if "".join(f"({ai}){value}" for ai, value in parts) != text:
        raise ValidationError(FIELD, "human-readable codes look like (01)…(17)…(10)…, nothing in between")
    fields = []
    for ai, value in parts:
        if ai not in _AIS:
            raise ValidationError(FIELD, f"unknown or unsupported GS1 application identifier ({ai})")
        value = value.strip()
        fixed, most, meaning = _AIS[ai]
        if fixed is not None and len(value) != fixed:
            raise ValidationError(FIELD, f"the {meaning} ({ai}) must be {fixed} characters")
        if len(value) > most:
            raise ValidationError(FIELD, f"the {meaning} ({ai}) is longer than {most} characters")
        fields.append((ai, value))
    return fields


def _expiry(value: str) -> date:
    if not value.isdigit():
        raise ValidationError(FIELD, f"the expiry date (17) '{value}' must be 6 digits YYMMDD")
    year, month, day = 2000 + int(value[:2]), int(value[2:4]), int(value[4:])
    if not 1 <= month <= 12:
        raise ValidationError(FIELD, f"the expiry date (17) '{value}' has month {month:02d}; must be 01 to 12")
    last = calendar.monthrange(year, month)[1]
    if day == 0:
        return date(year, month, last)
    if day > last:
        raise ValidationError(FIELD, f"the expiry date (17) '{value}' has day {day:02d}; the month has {last} days")
    return date(year, month, day)


def _ndc_pattern(product_ndc: str) -> tuple[str, tuple[int, ...]] | None:
    segments = product_ndc.strip().split("-")
    if len(segments) != 3 or not all(s.isdigit() for s in segments) or sum(map(len, segments)) != 10:
        return None
    return "".join(segments), tuple(len(s) for s in segments)


def ndc_from_gtin(gtin: str, product_ndc: str | None) -> str | None:
    """The NDC inside a US GTIN-14 (indicator, '03', 10-digit NDC, check), or None.

    Hyphenated in the product NDC's pattern when the labeler code matches it; else the 10 digits.
    """
    if len(gtin) != 14 or not gtin.isdigit() or gtin[1:3] != "03":
        return None
    digits = gtin[3:13]
    pattern = _ndc_pattern(product_ndc) if product_ndc else None
    if pattern is not None:
        product_digits, lengths = pattern
        labeler = lengths[0]
        # The labeler code fixes the first segment; a 4-digit labeler is always 4-4-2, and a
        # 5-digit one is unambiguous only for the product itself.
        if digits == product_digits or (labeler == 4 and digits[:labeler] == product_digits[:labeler]):
            cuts = [0, lengths[0], lengths[0] + lengths[1], 10]
            return "-".join(digits[cuts[i] : cuts[i + 1]] for i in range(3))
    return digits


def ndc_digits(ndc: str) -> str:
    """'0008-0100-01' -> '0008010001' (what two NDCs are compared by)."""
    return ndc.replace("-", "").strip()


def parse_gs1(text: str, monograph: Monograph | None = None) -> Gs1Data:
    """Parse a vial's GS1 code (raw or human-readable). GTIN (01), expiry (17) and lot (10) are required.

    Raises ValidationError('vial code', ...) on anything else. `monograph` (default: the shipped
    one) gives the product NDC the NDC is formatted like.
    """
    if not isinstance(text, str):
        raise ValidationError(FIELD, "must be text scanned from the vial's 2D code")
    raw = text.strip("\r\n\t ")
    for spelling in GS_SPELLINGS:
        raw = raw.replace(spelling, GS)
    for prefix in SYMBOLOGY_PREFIXES:
        if raw.startswith(prefix):
            raw = raw[len(prefix) :]
            break
    if not raw or raw.strip(GS) == "":
        raise ValidationError(FIELD, "is empty: scan the 2D code on the vial or carton")
    fields = _split_human(raw) if raw.startswith("(") else _split_raw(raw)
    found: dict[str, str] = {}
    for ai, value in fields:
        if not _CSET82.match(value):
            raise ValidationError(FIELD, f"AI {ai} holds characters a GS1 code cannot hold: scan it again")
        if ai in found and found[ai] != value:
            raise ValidationError(FIELD, f"AI {ai} appears twice with different values")
        found[ai] = value
    for ai in ("01", "17", "10"):
        if ai not in found:
            raise ValidationError(FIELD, f"has no {_AIS[ai][2]} (AI {ai}): is this a GS1 vial code?")
    gtin = found["01"]
    if not gtin.isdigit():
        raise ValidationError(FIELD, f"the GTIN (01) '{gtin}' must be 14 digits")
    if gs1_check_digit(gtin[:-1]) != int(gtin[-1]):
        raise ValidationError(FIELD, f"the GTIN (01) '{gtin}' has a wrong check digit: scan it again")
    lot = found["10"]
    if not lot:
        raise ValidationError(FIELD, "the lot (10) is empty")
    serial = found.get("21") or None
    monograph = monograph or load_monograph()
    product_ndc = monograph.text("product.ndc")
    return Gs1Data(
        gtin=gtin,
        ndc=ndc_from_gtin(gtin, product_ndc),
        expiry=_expiry(found["17"]),
        lot=lot,
        serial=serial,
    )


def vial_hard_stops(data: Gs1Data, monograph: Monograph, today: date) -> list[str]:
    """Why this scanned vial must not be used: another product, or expired (`today` from the clock).

    The expiry date is the last day of use: a vial is usable through that day.
    """
    stops = []
    product_ndc = monograph.text("product.ndc")
    if data.ndc is None:
        stops.append(f"GTIN {data.gtin} carries no US NDC: not {monograph.brand_name} {product_ndc}")
    elif ndc_digits(data.ndc) != ndc_digits(product_ndc):
        stops.append(f"NDC {data.ndc} is not {monograph.brand_name} {product_ndc}: wrong product")
    if data.expiry < today:
        stops.append(f"lot {data.lot} expired on {data.expiry.isoformat()}")
    return stops


def same_vial_recorded(recorded: Sequence[VialRecord], vial: VialRecord) -> VialRecord | None:
    """The vial already recorded that `vial` is the same physical vial as, if any.

    A single-dose vial is opened once: the same serial of the same product (GTIN) scanned twice
    is a double scan or a re-used vial, never a second vial. Without a serial (typed lot and
    expiry) two vials of one lot are normal, so nothing is matched.
    """
    if not vial.serial:
        return None
    for earlier in recorded:
        if earlier.serial == vial.serial and (earlier.gtin or "") == (vial.gtin or ""):
            return earlier
    return None


def accepted_ndcs(monograph: Monograph) -> list[str]:
    """The product NDCs of the monograph (its list, with the carton NDC always in it)."""
    found = [monograph.text("product.ndc")]
    try:
        found += [str(n) for n in monograph.items("product.ndcs") if str(n) not in found]
    except Exception:  # an older monograph file without the list: the carton NDC alone
        pass
    return found


def vial_product_refusal(vial: VialRecord, monograph: Monograph, product_confirmed: bool = False) -> str | None:
    """Why this vial must not be recorded as the monograph's product, or None.

    A vial read from its code (GTIN or NDC known) must carry one of the monograph's NDCs. A
    typed vial (lot and expiry only) says nothing of its product, so the person typing it must
    confirm, with `product_confirmed`, that the carton is the monograph's product and NDC.
    """
    wanted = accepted_ndcs(monograph)
    shown = " or ".join(wanted)
    ndc = vial.ndc
    if ndc is None and vial.gtin:
        ndc = ndc_from_gtin(vial.gtin, wanted[0])
        if ndc is None:
            return (f"the vial's code (GTIN {vial.gtin}) carries no US NDC: it is not {monograph.brand_name} "
                    f"(NDC {shown}). Do not use this vial.")
    if ndc is not None:
        if ndc_digits(ndc) not in {ndc_digits(n) for n in wanted}:
            return (f"NDC {ndc} is another product, not {monograph.brand_name} (NDC {shown}). "
                    "Do not use this vial; take a vial of the right product.")
        return None
    if not product_confirmed:
        return (f"a typed vial must be confirmed as {monograph.brand_name} (NDC {shown}): read the carton "
                "and tick the confirmation, or scan the vial's code")
    return None
