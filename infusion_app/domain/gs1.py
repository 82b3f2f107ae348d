"""GS1 vial codes (the 2D DataMatrix on the carton/vial): GTIN, the US NDC inside it, expiry, lot, serial.

Read as the GS1 General Specifications (GenSpecs) define them, so that a code is either read
exactly as any conforming reader would, or refused naming the application identifier (AI):

- raw element strings, as a scanner sends them: AIs run together, a field of a length not
  predefined by its first two digits (GenSpecs figure 7.8.5-2) ended by FNC1 (ASCII GS,
  '\\x1d') unless it is last; optionally after a GS1 symbology identifier (']d2' DataMatrix,
  ']Q3' QR, ']C1' GS1-128, ']e0' DataBar, ']J1' DotCode) and/or a leading FNC1;
- the same with the separator spelled '{GS}', '<GS>', '^]' or a literal backslash-x1d, as
  keyboard-wedge scanners, zxing's readable text and copied text give it;
- human-readable, as printed under the code: '(01)00300080100011(17)280531(10)AB123(21)XYZ';
  a '(' or ')' inside a lot or serial is read when only one split of the text is valid;
- a GS1 Digital Link URI ('https://id.gs1.org/01/00300080100011/10/AB123?17=280531').

Every AI of the GS1 syntax dictionary is known, so a field the program does not use (AI 91-99,
715, a price, a weight) is checked and passed over; its value is kept in `Gs1Data.elements`.

Dates (GenSpecs 7.12): YY is the year within 49 years back and 50 years ahead of the current
year, from the injected clock's date: in 2026, 77-99 are 1977-1999 (a vial of 1999 is expired,
not good until 2099). DD = 00 in (11), (13), (15), (16), (17) means the month's last day. AI
7003 (expiry date and time) is used as the expiry when present.

A raw code whose scanner dropped the separators is refused when a variable-length field could
hold a field run into it (a lot "LOT1" and serial "SER9" read as lot "LOT121SER9"; a serial of
any length: "LOT121S1"): the split is then a guess, and a guessed lot or expiry is worse than a
refusal; a lost serial also skips the vial's reuse check.

GTIN-14 carries a US NDC when it reads: indicator digit, '03', the 10-digit NDC, check digit.
The 10 digits alone do not say where the NDC's hyphens go (4-4-2, 5-3-2 or 5-4-1), so they are
shown with hyphens only when the labeler code matches the product NDC in the monograph
(that NDC's pattern is then used), and as the 10 digits otherwise.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from urllib.parse import unquote, urlsplit

from .errors import ValidationError
from .instants import earliest_instant_of_wall_time
from .monograph import Monograph
from .formatting import format_instant
from .records import EventType, Preparation, VialRecord

FIELD = "vial code"
GS = "\x1d"
# Symbology identifiers (ISO/IEC 15424) of symbols that carry GS1 AI element strings.
SYMBOLOGY_PREFIXES = ("]d2", "]Q3", "]C1", "]e0", "]J1")
# Plain (non-GS1) modes of DataMatrix, QR and DotCode: a GS1 Digital Link URI is carried so.
_PLAIN_SYMBOLOGIES = ("]d1", "]Q1", "]J0")
# How keyboard-wedge scanners, zxing's readable text and copied text spell the separator when
# they cannot give GS itself. '{', '^' and '\\' cannot occur in GS1 data (character set 82);
# '<GS>' could in theory be part of a lot, but no lot is written so, and zxing shows GS that way.
GS_SPELLINGS = ("{GS}", "<GS>", "{gs}", "<gs>", "^]", r"\x1d", r"\x1D", r"\u001d", r"\u001D", "\u241d")  # ␝: the GS symbol
EXAMPLE = "(01)00300080100011(17)280531(10)AB123"

# The AIs' data formats (GS1 General Specifications section 3, as in the GS1 Barcode Syntax
# Dictionary): components "N6" (6 digits), "X..20" (1 to 20 characters of set 82), "[...]"
# an optional last component; after a comma the checks this reader applies: csum (mod-10
# check digit), yymmd0 / yymmdd (a date, with or without day 00), hhmm, yymmddhh, yesno.
_FORMATS = """
00 N18,csum | SSCC
01 N14,csum | GTIN
02 N14,csum | contained GTIN
10 X..20 | lot
11 N6,yymmd0 | production date
12 N6,yymmd0 | due date
13 N6,yymmd0 | packaging date
15 N6,yymmd0 | best before date
16 N6,yymmd0 | sell by date
17 N6,yymmd0 | expiry date
20 N2 | variant
21 X..20 | serial number
22 X..20 | consumer product variant
235 X..28 | third-party serial extension
240 X..30 | additional product id
241 X..30 | customer part number
242 N..6 | made-to-order variant
243 X..20 | packaging component number
250 X..30 | secondary serial number
251 X..30 | reference to source entity
253 N13,csum [X..17] | GDTI
254 X..20 | GLN extension component
255 N13,csum [N..12] | GCN
30 N..8 | variable count
37 N..8 | count of trade items
3900-3909 N..15 | amount payable
3910-3919 N3 N..15 | amount payable with currency
3920-3929 N..15 | price
3930-3939 N3 N..15 | price with currency
3940-3943 N4 | percentage discount
3950-3955 N6 | price per unit of measure
400 X..30 | order number
401 X..30 | GINC
402 N17,csum | GSIN
403 X..30 | routing code
410-417 N13,csum | GLN
420 X..20 | ship-to postal code
421 N3 X..9 | ship-to postal code with country
422 N3 | country of origin
423 N..15 | country of initial processing
424 N3 | country of processing
425 N..15 | country of disassembly
426 N3 | country of full process chain
427 X..3 | country subdivision of origin
4300-4301 X..35 | ship-to company or name
4302-4306 X..70 | ship-to address
4307 X2 | ship-to country
4308 X..30 | ship-to telephone
4309 N10 N10 | ship-to geolocation
4310-4311 X..35 | return-to company or name
4312-4316 X..70 | return-to address
4317 X2 | return-to country
4318 X..20 | return-to postal code
4319 X..30 | return-to telephone
4320 X..35 | service code description
4321-4323 N1,yesno | logistics flag
4324-4325 N6,yymmd0 N4,hhmm | delivery date and time
4326 N6,yymmdd | release date
4330-4333 N6 [X1] | temperature
7001 N13 | NATO stock number
7002 X..30 | meat carcass classification
7003 N6,yymmdd N4,hhmm | expiry date and time
7004 N..4 | active potency
7005 X..12 | catch area
7006 N6,yymmdd | first freeze date
7007 N6,yymmdd [N6,yymmdd] | harvest date
7008 X..3 | aquatic species
7009 X..10 | fishing gear type
7010 X..2 | production method
7011 N6,yymmdd [N4,hhmm] | test by date
7020 X..20 | refurbishment lot
7021 X..20 | functional status
7022 X..20 | revision status
7023 X..30 | GIAI of an assembly
7030-7039 N3 X..27 | approval number of processor
7040 N1 X1 X1 X1 | GS1 UIC with extension
710-715 X..20 | national healthcare reimbursement number
716 X..20 | national healthcare reimbursement number (IT)
7230-7239 X2 X..28 | certification reference
7240 X..20 | protocol id
7241 N2 | AIDC media type
7242 X..25 | version control number
7250 N8 | date of birth
7251 N12 | date and time of birth
7252 N1 | biological sex
7253-7254 X..40 | name
7255 X..10 | name suffix
7256 X..90 | full name
7257 X..70 | address
7258 N1 X1 N1 | baby birth sequence
7259 X..40 | baby of family name
8001 N14 | roll product dimensions
8002 X..20 | mobile phone id
8003 N1 N13,csum [X..16] | GRAI
8004 X..30 | GIAI
8005 N6 | price per unit
8006 N14,csum N4 | ITIP
8007 X..34 | IBAN
8008 N8,yymmddhh [N..4] | production date and time
8009 X..50 | optically readable sensor indicator
8010 Y..30 | component/part id
8011 N..12 | component/part serial
8012 X..20 | software version
8013 X..25 | GMN
8014 X..25 | MUDI
8017-8018 N18,csum | GSRN
8019 N..10 | service relation instance
8020 X..25 | payment slip reference
8026 N14,csum N4 | ITIP of contained items
8030 Z..90 | digital signature
8110 X..70 | coupon code (North America)
8111 N4 | loyalty points
8112 X..70 | paperless coupon code (North America)
8200 X..70 | extended packaging URL
90 X..30 | mutually agreed information
91-99 X..90 | company internal information
"""
# AIs whose first two digits give a predefined length: never followed by FNC1 (figure 7.8.5-2).
_PREDEFINED_LENGTH_PREFIXES = {
    "00",
    "01",
    "02",
    "03",
    "04",
    "11",
    "12",
    "13",
    "14",
    "15",
    "16",
    "17",
    "18",
    "19",
    "20",
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "41",
}
# Pairs a GS1 code must not hold together (GenSpecs 4.14, invalid AI combinations).
_EXCLUSIVE = {"01": ("02", "255", "37"), "21": ("235",)}
_CHARSETS = {
    "N": re.compile(r"[0-9]*"),
    "X": re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*"),  # character set 82
    "Y": re.compile(r"[#\-/0-9A-Z]*"),  # character set 39
    "Z": re.compile(r"[A-Za-z0-9_\-=]*"),  # character set 64 (URL-safe base64)
}
_CHARSET_NAMES = {
    "N": "digits",
    "X": "the characters of GS1 set 82 (letters, digits, !\"%&'()*+,-./:;<=>?_)",
    "Y": "capital letters, digits, # - /",
    "Z": "URL-safe base64 characters",
}


@dataclass(frozen=True)
class _Component:
    charset: str
    low: int
    high: int
    optional: bool
    checks: tuple[str, ...]


@dataclass(frozen=True)
class _AiFormat:
    ai: str
    components: tuple[_Component, ...]
    title: str

    @property
    def fixed_length(self) -> int | None:
        if all(c.low == c.high and not c.optional for c in self.components):
            return sum(c.high for c in self.components)
        return None

    @property
    def max_length(self) -> int:
        return sum(c.high for c in self.components)

    @property
    def predefined(self) -> bool:
        return self.ai[:2] in _PREDEFINED_LENGTH_PREFIXES


def _component(spec: str) -> _Component:
    optional = spec.startswith("[")
    spec = spec.strip("[]")
    kind, *checks = spec.split(",")
    match = re.fullmatch(r"([NXYZ])(\.\.)?(\d+)", kind)
    if not match:
        raise ValueError(f"bad AI format component {spec!r}")
    high = int(match.group(3))
    return _Component(match.group(1), 1 if match.group(2) else high, high, optional, tuple(checks))


def _load_formats() -> dict[str, _AiFormat]:
    table: dict[str, _AiFormat] = {}
    for line in _FORMATS.strip().splitlines():
        head, title = line.split("|")
        ais, *specs = head.split()
        first, _, last = ais.partition("-")
        components = tuple(_component(s) for s in specs)
        for number in range(int(first), int(last or first) + 1):
            ai = str(number).zfill(len(first))
            table[ai] = _AiFormat(ai, components, title.strip())
    # Measures 31nn-36nn: six digits, the fourth digit of the AI is the decimal point position.
    measures = {"310": 6, "311": 6, "312": 6, "313": 6, "314": 6, "315": 6, "316": 6, "320": 10, "330": 8, "340": 10, "350": 8, "360": 10}
    for start, count in measures.items():
        for tens in range(count):
            for point in range(6):
                ai = f"{int(start) + tens}{point}"
                table[ai] = _AiFormat(ai, (_Component("N", 6, 6, False, ()),), "trade measure")
    return table


_AIS = _load_formats()


@dataclass(frozen=True)
class Gs1Data:
    gtin: str
    ndc: str | None  # hyphenated when the labeler matches the product's NDC pattern, else 10 digits; None if not a US NDC GTIN
    expiry: date
    lot: str
    serial: str | None
    expiry_time: time | None = None  # from AI 7003: the product expires at this time on `expiry`
    # every element read, in order (AI, value), the ones the program does not use included
    elements: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    @property
    def expires_at(self) -> datetime | None:
        """The local wall-clock instant of expiry when the code gives a time (AI 7003), else None."""
        return None if self.expiry_time is None else datetime.combine(self.expiry, self.expiry_time)

    def expired(self, local_now: datetime) -> bool:
        """Past its expiry at this local wall-clock time: after the expiry day, or at/after the 7003 time."""
        if self.expires_at is not None:
            return local_now.replace(tzinfo=None) >= self.expires_at
        return local_now.date() > self.expiry

    def to_vial_record(self, zone: tzinfo | None = None) -> VialRecord:
        """The vial as recorded: an expiry time (AI 7003, the site's wall clock; `zone` by default the
        workstation's) is kept as its UTC instant, so the vial is refused from that minute on at every
        later step, not only when it was scanned."""
        expires_at = None if self.expires_at is None else earliest_instant_of_wall_time(self.expires_at, zone)
        return VialRecord(lot=self.lot, expiry=self.expiry, gtin=self.gtin, ndc=self.ndc, serial=self.serial, expires_at=expires_at)


def gs1_check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for `digits` (everything but the check digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def gs1_year(yy: int, today: date) -> int:
    """The four-digit year of a GS1 two-digit year (GenSpecs 7.12), relative to `today`'s year.

    A YY more than 50 years ahead of the current year is in the previous century, one 50 or more
    years behind it in the next: the year is within 49 years back and 50 years ahead.
    """
    current = today.year % 100
    century = today.year - current
    difference = yy - current
    if difference > _YEARS_AHEAD:
        century -= 100
    elif difference <= -_YEARS_AHEAD:
        century += 100
    return century + yy


_YEARS_AHEAD = 100 // 2  # GenSpecs 7.12: a two-digit year is at most half a century ahead


def _describe(fmt: _AiFormat) -> str:
    return f"{fmt.title} ({fmt.ai})"


def _refuse(fmt: _AiFormat, value: str, problem: str) -> ValidationError:
    return ValidationError(FIELD, f"the {_describe(fmt)} '{value}' {problem}")


def _length_text(fmt: _AiFormat) -> str:
    fixed = fmt.fixed_length
    kind = "digits" if all(c.charset == "N" for c in fmt.components) else "characters"
    layout = "".join(
        {"yymmd0": "YYMMDD", "yymmdd": "YYMMDD", "hhmm": "HHMM", "yymmddhh": "YYMMDDHH"}.get(check, "")
        for c in fmt.components
        if not c.optional
        for check in c.checks
    )
    if fixed is not None:
        return f"{fixed} {kind} {layout}".rstrip()
    low = sum(c.low for c in fmt.components if not c.optional)
    return f"{low} to {fmt.max_length} {kind}"


def _check_date(fmt: _AiFormat, value: str, digits: str, check: str, today: date) -> None:
    yy, month, day = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    what = "YYMMDD" if check != "yymmddhh" else "YYMMDDHH"
    if not 1 <= month <= 12:
        raise _refuse(fmt, value, f"is not a valid date {what}: month {month:02d} must be 01 to 12")
    last = calendar.monthrange(gs1_year(yy, today), month)[1]
    if day == 0 and check == "yymmd0":
        return
    if not 1 <= day <= last:
        raise _refuse(fmt, value, f"is not a valid date {what}: day {day:02d}; {gs1_year(yy, today)}-{month:02d} has {last} days")
    if check == "yymmddhh" and int(digits[6:8]) > 23:
        raise _refuse(fmt, value, f"has hour {digits[6:8]}; must be 00 to 23")


def _validate(fmt: _AiFormat, value: str, today: date) -> list[str]:
    """Check `value` against the AI's format; return its components. Raises naming the AI."""
    if value == "":
        raise _refuse(fmt, value, f"is empty; it must be {_length_text(fmt)}")
    if len(value) > fmt.max_length or (fmt.fixed_length is not None and len(value) != fmt.fixed_length):
        raise _refuse(fmt, value, f"must be {_length_text(fmt)}")
    parts: list[str] = []
    position = 0
    for component in fmt.components:
        rest = len(value) - position
        if rest == 0:
            if component.optional:
                break
            raise _refuse(fmt, value, f"is too short: it must be {_length_text(fmt)}")
        take = component.high if component.low == component.high else min(rest, component.high)
        piece = value[position : position + take]
        if len(piece) < component.low:
            raise _refuse(fmt, value, f"is too short: it must be {_length_text(fmt)}")
        if not _CHARSETS[component.charset].fullmatch(piece):
            bad = next((ch for ch in piece if not _CHARSETS[component.charset].fullmatch(ch)), "?")
            shown = repr(bad) if bad.isprintable() else f"U+{ord(bad):04X}"
            if component.charset == "N":
                raise _refuse(fmt, value, f"holds {shown}: it must be {_length_text(fmt)}")
            raise _refuse(fmt, value, f"holds {shown}; it may hold only {_CHARSET_NAMES[component.charset]}")
        for check in component.checks:
            if check == "csum" and gs1_check_digit(piece[:-1]) != int(piece[-1]):
                raise _refuse(fmt, value, f"has a wrong check digit (should end in {gs1_check_digit(piece[:-1])}): scan it again")
            if check in ("yymmd0", "yymmdd", "yymmddhh"):
                _check_date(fmt, value, piece, check, today)
            if check == "yesno" and piece not in ("0", "1"):
                raise _refuse(fmt, value, "must be 0 (no) or 1 (yes)")
            if check == "hhmm" and (int(piece[:2]) > 23 or int(piece[2:]) > 59):
                raise _refuse(fmt, value, f"has the time {piece[:2]}:{piece[2:]}; must be 00:00 to 23:59")
        parts.append(piece)
        position += take
    if position != len(value):
        raise _refuse(fmt, value, f"must be {_length_text(fmt)}")
    return parts


def _ai_at(text: str, index: int) -> str:
    for length in (2, 3, 4):
        candidate = text[index : index + length]
        if len(candidate) == length and candidate in _AIS:
            return candidate
    shown = text[index : index + 4] or "(nothing)"
    raise ValidationError(FIELD, f"has no GS1 application identifier at '{shown}'; a vial code reads like {EXAMPLE}")


def _split_raw(text: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    index = 0
    while index < len(text):
        if text[index] == GS:
            index += 1
            continue
        ai = _ai_at(text, index)
        index += len(ai)
        fmt = _AIS[ai]
        if fmt.predefined:
            length = fmt.fixed_length or fmt.max_length
            value = text[index : index + length]
            if len(value) != length or GS in value:
                raise _refuse(fmt, value.split(GS)[0], f"must be {_length_text(fmt)}")
            index += length
        else:
            end = text.find(GS, index)
            end = len(text) if end < 0 else end
            value = text[index:end]
            index = end
            if len(value) > fmt.max_length:
                raise _refuse(fmt, value, f"is longer than {fmt.max_length} characters: is a field separator (FNC1/GS) missing?")
            if fmt.fixed_length is not None and len(value) != fmt.fixed_length:
                raise _refuse(fmt, value, f"must be {_length_text(fmt)}; is a field separator (FNC1/GS) missing after it?")
        fields.append((ai, value))
    return fields


_VIAL_AIS = ("01", "10", "11", "17", "21", "7003")
_HUMAN_AI = re.compile(r"\((\d{2,4})\)")


def _split_human(text: str) -> list[tuple[str, str]]:
    """Split '(01)…(17)…(10)…' into fields.

    Every '(nn)' that names an AI starts a field: reading one as part of a lot would be a guess.
    Any other '(' or ')' (a lot 'AB(1)C', '(LOT)', 'L1)') is part of the field it is in.
    """
    text = text.replace(GS, " ")
    marks = [m for m in _HUMAN_AI.finditer(text) if m.group(1) in _AIS]
    if not marks or marks[0].start() != 0:
        first = _HUMAN_AI.match(text)
        if first:
            raise ValidationError(FIELD, f"({first.group(1)}) is not a GS1 application identifier; a vial code reads like {EXAMPLE}")
        raise ValidationError(FIELD, f"human-readable codes look like {EXAMPLE}, nothing before the first (AI)")
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return [(mark.group(1), text[mark.end() : end].strip(" ")) for mark, end in zip(marks, ends)]


def _split_digital_link(text: str) -> list[tuple[str, str]]:
    """A GS1 Digital Link URI: primary key and qualifiers in the path, data attributes in the query."""
    url = urlsplit(text)
    if url.scheme.lower() not in ("http", "https") or not url.netloc:
        raise ValidationError(FIELD, "a GS1 Digital Link must start with https:// and a domain")
    short_names = {"gtin": "01", "cpv": "22", "lot": "10", "ser": "21", "exp": "17"}
    segments = [unquote(s) for s in url.path.split("/")]
    while segments and segments[-1] == "":
        segments.pop()
    segments = segments[1:] if segments and segments[0] == "" else segments
    keys = {"01": ("22", "10", "21")}
    start = None
    for index, segment in enumerate(segments):
        ai = short_names.get(segment, segment)
        if (
            ai in _AIS
            and (len(segments) - index) % 2 == 0
            and (ai == "01" or ai in ("00", "8006", "8003", "8004", "414", "417", "253", "255", "401", "402", "8010", "8013", "8017", "8018"))
        ):
            start = index
            break
    if start is None:
        raise ValidationError(FIELD, "is a web address, but not a GS1 Digital Link with a GTIN (/01/…)")
    fields: list[tuple[str, str]] = []
    allowed = list(keys.get(short_names.get(segments[start], segments[start]), ()))
    for index in range(start, len(segments), 2):
        ai = short_names.get(segments[index], segments[index])
        value = segments[index + 1]
        if index > start:
            if ai not in allowed:
                raise ValidationError(FIELD, f"the Digital Link path holds ({ai}) where only {', '.join(allowed) or 'nothing'} may follow, in that order")
            allowed = allowed[allowed.index(ai) + 1 :]
        if ai == "01" and value.isdigit() and len(value) in (8, 12, 13):
            value = value.zfill(14)  # a GTIN-8, -12 or -13 in a Digital Link is written without its leading zeros
        fields.append((ai, value))
    in_path = {ai for ai, _ in fields}
    # not parse_qsl: it reads '+' as a space, and '+' is a GS1 character
    query = [pair.partition("=") for pair in url.query.split("&") if pair]
    for key, value in ((unquote(k), unquote(v)) for k, _, v in query):
        ai = short_names.get(key, key)
        if not ai.isdigit():
            continue  # linkType and other non-AI attributes are for the resolver
        if ai not in _AIS:
            raise ValidationError(FIELD, f"the Digital Link query holds ({ai}), which is not a GS1 application identifier")
        if ai in in_path or ai in ("22", "10", "21", "01"):
            raise ValidationError(FIELD, f"the Digital Link query holds ({ai}), which belongs in the path")
        fields.append((ai, value))
    return fields


# A field read as run into another needs some length ('0210' is not taken for a lot '0' and an
# expiry...), except the serial: it is optional, so one run into the lot is lost without a trace, the
# lot then reads wrong, and the vial's reuse check (by serial) is skipped. A lot 'LOT1' and a serial
# 'S1' sent without their separator read as the lot 'LOT121S1': whatever its length, a lot ending in
# what reads as a serial, in a code without one, is refused as ambiguous (scan again, or type).
_MIN_SWALLOWED = 4
_ANY_LENGTH_SWALLOWED = frozenset({"21"})


def _swallowed(fields: list[tuple[str, str]], today: date) -> tuple[str, str, str, str] | None:
    """A variable-length field whose end reads as vial fields run into it (a dropped separator)."""
    present = {ai for ai, _ in fields}
    suspects = _VIAL_AIS
    for ai, value in fields:
        fmt = _AIS[ai]
        if fmt.predefined or fmt.fixed_length is not None:
            continue
        for cut in range(1, len(value) - 1):
            tail = value[cut:]
            if tail[:2] not in suspects and tail[:4] != "7003":
                continue
            try:
                inner = _split_raw(tail)
                if not all(a in suspects and a not in present for a, _ in inner):
                    continue
                for a, v in inner:
                    _validate(_AIS[a], v, today)
                    if _AIS[a].fixed_length is None and len(v) < _MIN_SWALLOWED and a not in _ANY_LENGTH_SWALLOWED:
                        raise ValidationError(FIELD, "too short to tell")
                _validate(fmt, value[:cut], today)
            except ValidationError:
                continue
            return ai, value, inner[0][0], inner[0][1]
    return None


def _swallowed_words(ai: str, value: str, inner_ai: str, inner_value: str) -> str:
    """What to do with a code a dropped separator makes ambiguous. A lot that ends in what reads as a serial
    ('FN2107': lot 'FN', serial '07'?) is the same code whether the lot really is so or the scanner dropped
    the GS between the two: a rescan with a scanner that sends GS reads it the same when it is the lot, so
    "scan again" alone left a real lot FN2107 no way on. The carton says which it is."""
    if ai == "10" and inner_ai == "21":
        lot = value[: len(value) - len(inner_value) - 2]
        return (
            f"the lot (10) '{value}' may be the lot '{lot}' with the serial number (21) '{inner_value}' run into it (a scanner that "
            f"drops the field separator, GS, sends both alike), so it is not guessed; check the carton: if it prints lot {value} "
            f"and no serial, type the lot and expiry from the carton (a rescan reads the same code); if it prints lot {lot} and serial "
            f"{inner_value}, scan it again with the scanner set to send GS (FNC1), or type the lot, expiry and serial"
        )
    return (
        f"the {_describe(_AIS[ai])} '{value}' may hold the {_describe(_AIS[inner_ai])} '{inner_value}' run into it: "
        "the field separator (GS) seems to have been dropped by the scanner, and the split would be a guess; "
        "scan it again with the scanner set to send GS (FNC1), or type the lot, expiry and serial (when the carton has one) from the carton"
    )


def _read_fields(fields: list[tuple[str, str]], today: date) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Validate every field and the vial's required ones; return components and values by AI."""
    found: dict[str, str] = {}
    parts: dict[str, list[str]] = {}
    for ai, value in fields:
        fmt = _AIS[ai]
        if ai in found and found[ai] != value:
            raise ValidationError(FIELD, f"the {_describe(fmt)} appears twice with different values ('{found[ai]}', '{value}')")
        parts[ai] = _validate(fmt, value, today)
        found[ai] = value
    for ai, others in _EXCLUSIVE.items():
        for other in others:
            if ai in found and other in found:
                raise ValidationError(FIELD, f"holds both the {_describe(_AIS[ai])} and the {_describe(_AIS[other])}, which a GS1 code never combines")
    if "01" not in found:
        raise ValidationError(FIELD, f"has no GTIN (01): is this a GS1 vial code? It reads like {EXAMPLE}")
    if "17" not in found and "7003" not in found:
        raise ValidationError(FIELD, f"has no expiry date (17): is this the vial's code? It reads like {EXAMPLE}")
    if "10" not in found:
        raise ValidationError(FIELD, f"has no lot (10): is this the vial's code? It reads like {EXAMPLE}")
    if "7003" in found and "17" in found:
        expiry = _date(parts["17"][0], today)
        if _date(parts["7003"][0], today) != expiry:
            raise ValidationError(
                FIELD,
                f"the expiry date (17) '{found['17']}' and the expiry date and time (7003) '{found['7003']}' disagree: read the carton",
            )
    return parts, found


def _date(yymmdd: str, today: date) -> date:
    year, month, day = gs1_year(int(yymmdd[:2]), today), int(yymmdd[2:4]), int(yymmdd[4:6])
    if day == 0:
        day = calendar.monthrange(year, month)[1]
    return date(year, month, day)


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


def _ndc_pattern(product_ndc: str) -> tuple[str, tuple[int, ...]] | None:
    segments = product_ndc.strip().split("-")
    if len(segments) != 3 or not all(s.isdigit() for s in segments) or sum(map(len, segments)) != 10:
        return None
    return "".join(segments), tuple(len(s) for s in segments)


def ndc_digits(ndc: str) -> str:
    """'0008-0100-01' -> '0008010001' (what two NDCs are compared by)."""
    return ndc.replace("-", "").strip()


def parse_gs1(text: str, monograph: Monograph, *, today: date | None = None) -> Gs1Data:
    """Parse a vial's GS1 code. GTIN (01), expiry (17 or 7003) and lot (10) are required.

    `today` is the clock's local date, which two-digit years are read against (GenSpecs 7.12);
    every caller with a clock passes it (the system date is used only without one). Raises
    ValidationError('vial code', ...) naming the AI on anything else. `monograph` (the drug being
    prepared) gives the product NDC the NDC is formatted like.
    """
    if not isinstance(text, str):
        raise ValidationError(FIELD, "must be text scanned from the vial's 2D code")
    today = today or date.today()
    if len(text) > 2000:
        raise ValidationError(FIELD, f"is {len(text):,} characters long; a vial code is under 200: scan it again")
    raw = text.strip("\r\n\t ")
    for spelling in GS_SPELLINGS:
        raw = raw.replace(spelling, GS)
    plain = False
    if raw.startswith("]") and len(raw) >= 3:
        if raw[:3] in SYMBOLOGY_PREFIXES:
            raw = raw[3:]
        elif raw[:3] in _PLAIN_SYMBOLOGIES:
            raw, plain = raw[3:], True
        else:
            raise ValidationError(FIELD, f"was read as symbology {raw[:3]}, which does not carry GS1 data: scan the vial's 2D code")
    if not raw or raw.strip(GS) == "":
        raise ValidationError(FIELD, "is empty: scan the 2D code on the vial or carton")
    if re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://", raw):
        fields = _split_digital_link(raw)
    elif plain:
        raise ValidationError(FIELD, "was read from a symbol that is not a GS1 code (no FNC1): scan the vial's GS1 2D code")
    elif raw.startswith("("):
        fields = _split_human(raw)
    else:
        fields = _split_raw(raw)
        if GS not in raw.lstrip(GS):
            swallowed = _swallowed(fields, today)
            if swallowed is not None:
                raise ValidationError(FIELD, _swallowed_words(*swallowed))
    parts, found = _read_fields(fields, today)
    gtin = found["01"]
    expiry_time = None
    if "7003" in parts:
        expiry = _date(parts["7003"][0], today)
        expiry_time = time(int(parts["7003"][1][:2]), int(parts["7003"][1][2:]))
    else:
        expiry = _date(parts["17"][0], today)
    product_ndc = monograph.text("product.ndc")
    return Gs1Data(
        gtin=gtin,
        ndc=ndc_from_gtin(gtin, product_ndc),
        expiry=expiry,
        lot=found["10"],
        serial=found.get("21") or None,
        expiry_time=expiry_time,
        elements=tuple(fields),
    )


def vial_hard_stops(data: Gs1Data, monograph: Monograph, now: datetime, zone: tzinfo | None = None) -> list[str]:
    """Why this scanned vial must not be used: another product, or expired at `now` (the injected
    clock's instant, aware) on the site's clock (`zone`, by default the workstation's), as every step
    using the product judges it (VialRecord.expired, preparation.effective_deadlines): an expiry time
    (AI 7003) is that minute of the site's wall clock, a date alone its last day of use there. A
    clock's instant read on another zone's wall clock (or a naive time) put midnight in the wrong place.
    """
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValidationError("now", "needs a date and time with its UTC offset (the clock's instant)")
    stops = []
    product_ndc = monograph.text("product.ndc")
    if data.ndc is None:
        stops.append(f"GTIN {data.gtin} carries no US NDC: not {monograph.brand_name} {product_ndc}")
    elif ndc_digits(data.ndc) != ndc_digits(product_ndc):
        stops.append(f"NDC {data.ndc} is not {monograph.brand_name} {product_ndc}: wrong product")
    record = data.to_vial_record(zone)
    if record.expired(now, zone):
        from .preparation import vial_expiry_words  # only for a refusal: a scan imports no step rules

        # In the words of the step refusals: the date, its local time and the zone (AI 7003 is the site's wall clock).
        stops.append(f"lot {data.lot} expired {vial_expiry_words(record, zone)}")
    return stops


def typed_serial(text: object, field_name: str = "serial") -> str:
    """A serial typed from the carton's human-readable 'SN' (GS1 AI 21: 1 to 20 characters of set 82),
    as its code carries it: case kept (a serial's case is part of it), spaces around it dropped."""
    value = str(text if text is not None else "").strip()
    if not value or len(value) > 20 or not _CHARSETS["X"].fullmatch(value):
        raise ValidationError(
            field_name, f"'{value[:40]}' is not a serial: 1 to 20 of {_CHARSET_NAMES['X']}, as printed after SN on the carton, e.g. 10016550749981"
        )
    return value


def same_physical_vial(a: VialRecord, b: VialRecord) -> bool:
    """Whether two records are one physical vial: the same serial (GS1 AI 21, unique within its GTIN)
    of the same GTIN when both were read from a code, else of the same lot (a serial typed from the
    carton carries no GTIN). Without a serial on both, two vials of one lot are normal: not one.
    A serial is one whatever its case (same_serial): a carton's 'sert1' typed is the vial scanned as SERT1."""
    if not a.serial or not b.serial or not same_serial(a.serial, b.serial):
        return False
    if a.gtin and b.gtin:
        return a.gtin == b.gtin
    return same_lot(a.lot, b.lot)


def same_serial(a: str, b: str) -> bool:
    """One serial whatever the case it was typed in: compared exactly, a vial held by an open preparation
    as SERT1 went into another one typed as 'sert1' (storage folds the same way: its query and lock key)."""
    return str(a).strip().casefold() == str(b).strip().casefold()


def same_lot(a: str, b: str) -> bool:
    """One lot whatever the case it was typed in (a carton's 'ab123' is lot AB123)."""
    return " ".join(str(a).split()).casefold() == " ".join(str(b).split()).casefold()


def same_vial_recorded(recorded: Sequence[VialRecord], vial: VialRecord) -> VialRecord | None:
    """The vial already recorded that `vial` is the same physical vial as (same_physical_vial), if any.

    A single-dose vial is opened once: the same serial of the same product scanned (or typed) twice
    is a double scan or a re-used vial, never a second vial. Without a serial (typed lot and
    expiry) two vials of one lot are normal, so nothing is matched.
    """
    for earlier in recorded:
        if same_physical_vial(earlier, vial):
            return earlier
    return None


def typed_vial_refusal(
    vial: VialRecord,
    refused_scans: Sequence[tuple[VialRecord, str, str]],
    scanned_of_lot: Sequence[VialRecord],
    now: datetime,
    zone: tzinfo | None = None,
    recorded: Sequence[VialRecord] = (),
) -> tuple[str, str] | None:
    """Why a typed vial (lot and expiry read from the carton, no code) must not be recorded, as (code,
    message), or None. What its identity allows to check, it is checked for as a scanned vial is:

    - a vial of its lot whose scan was refused for this preparation or an earlier try at its order
      (`refused_scans`: the vial read, the refusal's words, and where it was scanned, as "for this
      preparation"): typed in its place it walks around the refusal (used elsewhere, expired,
      a double scan, another product). Each vial whose code reads scans as itself, so the way on is to
      scan the vial used, or take a vial of another lot; never typed. Not when that vial is one this
      preparation has (`recorded`: its refusal was a double scan, not a vial to keep out), nor for a typed
      serial other than the refused vial's (another vial of the lot; its own serial is checked as a scan's).
    - the lot's own code, scanned for any preparation (`scanned_of_lot`): a lot has one expiry, so a
      typed expiry other than the code's is a misread carton or a walk-around, and a lot expired by its
      code's expiry (its time included) is expired whatever was typed.
    """
    from .preparation import vial_expiry_words  # only for a refusal: a scan imports no step rules

    for scanned, why, where in refused_scans:
        if not scanned.gtin or not same_lot(scanned.lot, vial.lot):
            continue
        if same_vial_recorded(recorded, scanned) is not None:
            continue
        if vial.serial and scanned.serial and not same_serial(vial.serial, scanned.serial):
            continue
        return (
            "typed_vial_scan_refused",
            f"a vial of lot {scanned.lot} was scanned {where} and refused ({why}); a typed vial of that lot is not "
            "accepted in its place: scan the vial you use (each vial's code reads as itself), or take a vial of another lot",
        )
    for scanned in scanned_of_lot:
        if not same_lot(scanned.lot, vial.lot):
            continue
        if scanned.expired(now, zone):
            return (
                "vial-expired",
                f"vial lot {vial.lot} expired {vial_expiry_words(scanned, zone)}, as the lot's code reads; do not use it",
            )
        if scanned.expiry != vial.expiry:
            return (
                "typed_vial_expiry_differs",
                f"lot {vial.lot}'s code reads expiry {scanned.expiry.isoformat()}, the typed expiry is {vial.expiry.isoformat()}: "
                "one lot has one expiry; read the carton again, or scan the vial",
            )
    return None


def vial_used_elsewhere(vial: VialRecord, others: Sequence[Preparation]) -> str | None:
    """Why this vial (one physical vial: its GTIN and serial, already recorded for `others`) must not be
    recorded for another preparation, or None. A single-dose vial goes to one preparation: it is taken
    while that preparation is open, and once reconstituted it is opened, whatever became of it. A
    preparation discarded before reconstitution leaves its vials sealed, so they may be used again."""
    for other in others:
        opened = other.last(EventType.RECONSTITUTED)
        if opened is not None:
            return (
                f"this vial (serial {vial.serial}, lot {vial.lot}) was reconstituted for preparation {other.id} on {format_instant(opened.at)}: "
                "a single-dose vial is used once; take another vial"
            )
        if other.last(EventType.DISCARDED) is None:
            return (
                f"this vial (serial {vial.serial}, lot {vial.lot}) is recorded for preparation {other.id}, which is still open: "
                f"a single-dose vial goes to one preparation; remove it there first if it was scanned for {other.id} by mistake"
            )
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
            return f"the vial's code (GTIN {vial.gtin}) carries no US NDC: it is not {monograph.brand_name} (NDC {shown}). Do not use this vial."
    if ndc is not None:
        if ndc_digits(ndc) not in {ndc_digits(n) for n in wanted}:
            return f"NDC {ndc} is another product, not {monograph.brand_name} (NDC {shown}). Do not use this vial; take a vial of the right product."
        return None
    if not product_confirmed:
        return f"a typed vial must be confirmed as {monograph.brand_name} (NDC {shown}): read the carton and tick the confirmation, or scan the vial's code"
    return None
