"""GS1 vial codes: raw DataMatrix strings, human-readable text, NDC, check digit, expiry."""

from __future__ import annotations

import copy
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infusion_app.domain.errors import ValidationError
from infusion_app.domain.gs1 import (
    GS,
    Gs1Data,
    gs1_check_digit,
    ndc_from_gtin,
    parse_gs1,
    vial_hard_stops,
)
from infusion_app.domain.monograph import load_monograph, parse_monograph

MONO = load_monograph()
PRODUCT_NDC = MONO.text("product.ndc")


def gtin_for_ndc(ndc: str, indicator: str = "0") -> str:
    """A US GTIN-14 for a 10-digit NDC: indicator, '03', the NDC, check digit (computed independently)."""
    body = indicator + "03" + ndc.replace("-", "")
    weights = [3 if i % 2 == 0 else 1 for i in range(len(body))][::-1]  # rightmost body digit weighs 3
    total = sum(int(d) * w for d, w in zip(body, weights))
    return body + str((10 - total % 10) % 10)


PRODUCT_GTIN = gtin_for_ndc(PRODUCT_NDC)


def test_the_product_gtin_is_the_published_one():
    # NDC 0008-0100-01 in a GTIN-14, as printed on the carton: 0 03 0008010001 1.
    assert PRODUCT_GTIN == "00300080100011"
    assert gs1_check_digit(PRODUCT_GTIN[:-1]) == 1


@pytest.mark.parametrize(
    "text",
    [
        f"]d2{GS}01{PRODUCT_GTIN}17280531" f"10LOT123AB{GS}21SER0042",
        f"]d201{PRODUCT_GTIN}17280531" f"10LOT123AB{GS}21SER0042",
        f"01{PRODUCT_GTIN}17280531" f"10LOT123AB{GS}21SER0042",
        f"{GS}01{PRODUCT_GTIN}17280531" f"10LOT123AB{GS}21SER0042\r\n",
        f"17280531{GS}10LOT123AB{GS}21SER0042{GS}01{PRODUCT_GTIN}",  # any order
        f"21SER0042{GS}01{PRODUCT_GTIN}10LOT123AB{GS}17280531",
        f"(01){PRODUCT_GTIN}(17)280531(10)LOT123AB(21)SER0042",
        f"(01){PRODUCT_GTIN} (17)280531 (10)LOT123AB (21)SER0042",
        f"]d2(01){PRODUCT_GTIN}(17)280531(10)LOT123AB(21)SER0042",
    ],
)
def test_every_accepted_form_gives_the_same_vial(text):
    assert parse_gs1(text) == Gs1Data(
        gtin=PRODUCT_GTIN, ndc=PRODUCT_NDC, expiry=date(2028, 5, 31), lot="LOT123AB", serial="SER0042"
    )


def test_the_serial_is_optional_and_the_record_converts():
    data = parse_gs1(f"01{PRODUCT_GTIN}17270228" "10AB1")
    assert data.serial is None and data.lot == "AB1" and data.expiry == date(2027, 2, 28)
    record = data.to_vial_record()
    assert (record.lot, record.expiry, record.gtin, record.ndc, record.serial) == ("AB1", date(2027, 2, 28), PRODUCT_GTIN, PRODUCT_NDC, None)


@pytest.mark.parametrize(
    "yymmdd, expected",
    [
        ("280500", date(2028, 5, 31)),
        ("280200", date(2028, 2, 29)),  # leap year
        ("270200", date(2027, 2, 28)),
        ("271100", date(2027, 11, 30)),
        ("271231", date(2027, 12, 31)),
        ("300101", date(2030, 1, 1)),
    ],
)
def test_expiry_day_00_means_the_end_of_the_month(yymmdd, expected):
    assert parse_gs1(f"(01){PRODUCT_GTIN}(17){yymmdd}(10)L1").expiry == expected


def test_ndc_formatting_follows_the_product_pattern():
    same_labeler_other_pack = gtin_for_ndc("0008-0100-05")
    assert parse_gs1(f"(01){same_labeler_other_pack}(17)280531(10)L1").ndc == "0008-0100-05"
    other_labeler = gtin_for_ndc("12345-678-90")  # a 5-digit labeler: 5-3-2 or 5-4-1 cannot be told apart
    assert parse_gs1(f"(01){other_labeler}(17)280531(10)L1").ndc == "1234567890"
    case = gtin_for_ndc(PRODUCT_NDC, indicator="5")  # a higher packaging level still carries the NDC
    assert parse_gs1(f"(01){case}(17)280531(10)L1").ndc == PRODUCT_NDC
    european = "04012345678901"
    european = european[:-1] + str(gs1_check_digit(european[:-1]))
    assert parse_gs1(f"(01){european}(17)280531(10)L1").ndc is None
    assert ndc_from_gtin(PRODUCT_GTIN, None) == PRODUCT_NDC.replace("-", "")


def test_a_five_digit_labeler_product_formats_only_its_own_ndc():
    raw = copy.deepcopy(MONO.raw)
    raw["product"]["ndc"]["text"] = "12345-678-90"
    other = parse_monograph(raw)
    assert parse_gs1(f"(01){gtin_for_ndc('12345-678-90')}(17)280531(10)L1", other).ndc == "12345-678-90"
    assert parse_gs1(f"(01){gtin_for_ndc('12345-999-01')}(17)280531(10)L1", other).ndc == "1234599901"


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "empty"),
        ("   ", "empty"),
        (GS, "empty"),
        ("hello world", "identifier"),
        ("BESPONSA", "identifier"),
        (f"(01){PRODUCT_GTIN[:-1]}2(17)280531(10)L1", "check digit"),
        (f"01{PRODUCT_GTIN[:-1]}217280531" "10L1", "check digit"),
        (f"(01){PRODUCT_GTIN[:-1]}(17)280531(10)L1", "14"),
        (f"(01)0030008010001X(17)280531(10)L1", "14 digits"),
        (f"(01){PRODUCT_GTIN}(17)281331(10)L1", "month"),
        (f"(01){PRODUCT_GTIN}(17)280431(10)L1", "day 31"),
        (f"(01){PRODUCT_GTIN}(17)28AB31(10)L1", "YYMMDD"),
        (f"(01){PRODUCT_GTIN}(10)L1", "expiry"),
        (f"(01){PRODUCT_GTIN}(17)280531", "lot"),
        (f"(17)280531(10)L1", "GTIN"),
        (f"(01){PRODUCT_GTIN}(17)280531(10)", "lot"),
        (f"(01){PRODUCT_GTIN}(17)280531(10)L1(99)X", "(99)"),
        (f"(01){PRODUCT_GTIN}junk(17)280531(10)L1", "14 characters"),
        (f"(01){PRODUCT_GTIN}(17)280531(10)L1)", "human-readable"),
        (f"01{PRODUCT_GTIN}17280531" "10L1" "21" + "S" * 30, "longer than 20"),
        (f"01{PRODUCT_GTIN}17280531" "10" + "L" * 25, "FNC1"),
        (f"01{PRODUCT_GTIN}1728", "6 characters"),
        (f"01{PRODUCT_GTIN}17280531" "10L1é", "characters"),
        (f"(01){PRODUCT_GTIN}(17)280531(10)L1(10)L2", "twice"),
    ],
)
def test_garbage_is_refused_naming_the_vial_code(text, says):
    with pytest.raises(ValidationError) as excinfo:
        parse_gs1(text)
    assert excinfo.value.field == "vial code"
    assert says in excinfo.value.message


def test_non_text_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        parse_gs1(None)  # type: ignore[arg-type]
    assert excinfo.value.field == "vial code"


def test_vial_hard_stops_wrong_product_and_expiry():
    good = parse_gs1(f"(01){PRODUCT_GTIN}(17)280531(10)L1")
    assert vial_hard_stops(good, MONO, date(2028, 5, 31)) == []  # usable through the expiry date
    expired = vial_hard_stops(good, MONO, date(2028, 6, 1))
    assert len(expired) == 1 and "expired" in expired[0]
    wrong = parse_gs1(f"(01){gtin_for_ndc('0008-0200-01')}(17)280531(10)L1")
    assert "wrong product" in vial_hard_stops(wrong, MONO, date(2027, 1, 1))[0]
    european = "04012345678901"
    european = european[:-1] + str(gs1_check_digit(european[:-1]))
    assert "no US NDC" in vial_hard_stops(parse_gs1(f"(01){european}(17)280531(10)L1"), MONO, date(2027, 1, 1))[0]


LOT_CHARS = st.text(
    alphabet=st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz0123456789-./"), min_size=1, max_size=20
)


@settings(max_examples=150, deadline=None)
@given(
    lot=LOT_CHARS,
    serial=st.one_of(st.none(), LOT_CHARS),
    expiry=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    ndc_digits=st.text(alphabet="0123456789", min_size=10, max_size=10),
    human=st.booleans(),
)
def test_round_trip(lot, serial, expiry, ndc_digits, human):
    gtin = gtin_for_ndc(ndc_digits)
    yymmdd = expiry.strftime("%y%m%d")
    if human:
        text = f"(01){gtin}(17){yymmdd}(10){lot}" + (f"(21){serial}" if serial else "")
    else:
        text = f"]d201{gtin}17{yymmdd}10{lot}" + (f"{GS}21{serial}" if serial else "")
    data = parse_gs1(text)
    assert (data.gtin, data.expiry, data.lot, data.serial) == (gtin, expiry, lot, serial)
    assert data.ndc is not None and data.ndc.replace("-", "") == ndc_digits


@pytest.mark.parametrize("separator", ["{GS}", "<GS>", "^]", "\\x1d", "\\u001d"])
def test_separator_spellings_of_keyboard_wedge_scanners(separator):
    data = parse_gs1(f"01{PRODUCT_GTIN}17280531" f"10LOT1{separator}21SER9")
    assert (data.lot, data.serial) == ("LOT1", "SER9")


def test_a_real_datamatrix_read_by_zxing_parses():
    """Encode the raw string in a DataMatrix image, read it back with zxing, parse what it gives."""
    import zxingcpp

    raw = f"{GS}01{PRODUCT_GTIN}17280531" f"10LOT123AB{GS}21SER0042"
    image = zxingcpp.create_barcode(raw, zxingcpp.BarcodeFormat.DataMatrix).to_image(scale=4)
    expected = Gs1Data(gtin=PRODUCT_GTIN, ndc=PRODUCT_NDC, expiry=date(2028, 5, 31), lot="LOT123AB", serial="SER0042")
    for mode in (zxingcpp.TextMode.Plain, zxingcpp.TextMode.HRI, zxingcpp.TextMode.Escaped):
        read = zxingcpp.read_barcode(image, text_mode=mode)
        assert read is not None and read.valid
        assert parse_gs1(read.text) == expected, (mode, read.text)
