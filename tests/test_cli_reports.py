"""`infusion-prep sheet` and `infusion-prep label`."""

from __future__ import annotations

from tests.drugs import BESPONSA

import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.prep_helpers import checked
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.units import inch, mm

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.coverage import CoverageFacts, check_coverage
from tests.drugs import BESPONSA_POLICY
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.records import EventType as E
from infusion_app.domain.records import Patient, Role, VialRecord
from infusion_app.reports import parse_label_size
from infusion_app.service import open_service
from tests.cli_helpers import assert_clean_invalid, run_cli
from tests.lab_helpers import order_labs

T0 = datetime(2026, 3, 10, 13, 0, tzinfo=timezone.utc)
NEW_YORK = {"TZ": "America/New_York"}


def page_text(path) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A preparation stored through the service: reconstituted 09:00 EDT, diluted 09:15 EDT at room temperature.

    Shared by the tests of this module (users' PINs take a slow key derivation); none of them writes to it.
    """
    data_dir = tmp_path_factory.mktemp("stored") / "data"
    clock = FakeClock(T0)
    with open_service(data_dir=data_dir, clock=clock) as service:
        pharmacist = service.add_user("Priya Raman", Role.PHARMACIST, "222222")
        tech = service.add_user("Tomás Ortega", Role.TECHNICIAN, "111111", actor=pharmacist)
        coverage = check_coverage(CoverageFacts(**BESPONSA_POLICY.example), BESPONSA_POLICY).to_dict()
        status = service.create_preparation(
            Patient("Zoë Ångström-Lefèvre", "00999123", date(1971, 2, 3)),
            DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1),
            tech,
            vials=[VialRecord(lot="LT2291", expiry=date(2027, 5, 31))] * 2,  # the two the dose needs
            coverage=coverage,
            product_confirmed=True,
            monograph=BESPONSA,
        )
        prep_id = status.id
        service.record_event(
            prep_id, E.ORDER_VERIFIED, service.add_user("Ola Order", Role.PHARMACIST, "333333", actor=pharmacist), details=order_labs(service.now())
        )
        service.record_event(prep_id, E.RECONSTITUTED, tech)
        clock.advance(minutes=15)
        service.record_event(prep_id, E.DILUTED, tech, details={"storage": "room"})
        clock.advance(minutes=5)
        service.record_event(prep_id, E.VERIFIED, pharmacist, details=checked(service, prep_id))
    return data_dir, prep_id


def test_sheet_of_a_stored_preparation(stored, tmp_path):
    data_dir, prep_id = stored
    out = tmp_path / "sheet.pdf"
    result = run_cli("sheet", prep_id, "--out", str(out), "--data-dir", str(data_dir), env=NEW_YORK)
    assert result.code == 0, result.stderr
    assert prep_id in result.stdout and str(out) in result.stdout
    text = page_text(out)
    # 170 cm, 70 kg: Mosteller sqrt(170 × 70 / 3600) = 1.818 -> 1.82 m²; 0.8 × 1.82 = 1.456 -> 1.46 mg;
    # 1.46 / 0.25 = 5.84 mL, drawn on the 10 mL syringe (0.2 mL marks) as 5.8 mL = 1.45 mg;
    # 50 - 5.8 = 44.2 mL of saline (20 + 20 + 4.2 mL on the site syringes); 1.45 / 50 = 0.029 mg/mL; 2 vials; 15 units, 3 discarded.
    for expected in [
        "Zoë Ångström-Lefèvre",
        "MRN 00999123",
        "1.82 m² (Mosteller)",
        "1.46 mg",
        "Withdraw 5.8 mL (1.45 mg)",
        "0.9% Sodium Chloride Injection 44.2 mL measured in 3 syringes",
        "0.029 mg/mL",
        "LT2291",
        "15 units (1.45 mg)",
        "3 units",
        "Meets the payer's criteria",
        # reconstituted 13:00 UTC = 09:00 EDT: dilute by 13:00 EDT, end by 17:00 EDT; diluted 09:15: start by 13:15
        "Dilute by 2026-03-10 13:00 EDT",
        "Do not start after (discard) 2026-03-10 13:15 EDT",
        "Infusion must end by 2026-03-10 17:00 EDT",
        "Priya Raman",
        prep_id,
    ]:
        assert expected in text, expected
    assert [(float(p.mediabox.width), float(p.mediabox.height)) for p in PdfReader(out).pages][0] == pytest.approx(letter)


def test_a4_sheet_and_label_of_a_stored_preparation(stored, tmp_path):
    data_dir, prep_id = stored
    sheet = tmp_path / "a4.pdf"
    assert run_cli("sheet", prep_id, "--out", str(sheet), "--paper", "a4", "--data-dir", str(data_dir)).code == 0
    assert (float(PdfReader(sheet).pages[0].mediabox.width), float(PdfReader(sheet).pages[0].mediabox.height)) == pytest.approx(A4)
    label = tmp_path / "label.pdf"
    result = run_cli("label", prep_id.lower(), "--out", str(label), "--data-dir", str(data_dir), env=NEW_YORK)
    assert result.code == 0, result.stderr
    page = PdfReader(label).pages[0]
    # Without --label-size, the site's label stock (4 x 2 in until a pharmacist changes it).
    with open_service(data_dir=data_dir, clock=FakeClock(T0)) as service:
        site_stock = parse_label_size(service.settings().label_size)
    assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(site_stock, abs=0.01)
    explicit = tmp_path / "label-mm.pdf"
    assert run_cli("label", prep_id, "--out", str(explicit), "--label-size", "102x51mm", "--data-dir", str(data_dir)).code == 0
    page = PdfReader(explicit).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx((102 * mm, 51 * mm), abs=0.01)
    text = page_text(label)
    assert "DO NOT START AFTER 2026-03-10 13:15 EDT (discard)" in text and "INFUSION MUST END BY 2026-03-10 17:00 EDT" in text
    assert "Checked by Priya Raman" in text and "1.45 mg" in text


def test_demo_sheet_and_label_need_no_stored_data(tmp_path):
    sheet, label = tmp_path / "demo-sheet.pdf", tmp_path / "demo-label.pdf"
    first = run_cli("sheet", "--demo", "--out", str(sheet))
    second = run_cli("label", "--demo", "--out", str(label), "--label-size", "4x2in")
    assert first.code == 0 and second.code == 0, first.stderr + second.stderr
    assert "DEMO-0001" in page_text(sheet) and "Marie-Hélène Dubois-Lefèvre" in page_text(sheet)
    page = PdfReader(label).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx((4 * inch, 2 * inch), abs=0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-label.pdf", "demo-sheet.pdf"]  # nothing else written


def test_unknown_id_is_one_line_and_exit_2(stored, tmp_path):
    data_dir, _ = stored
    out = tmp_path / "x.pdf"
    result = run_cli("sheet", "BSP-7K3QX", "--out", str(out), "--data-dir", str(data_dir))
    assert_clean_invalid(result, "preparation id")
    assert not out.exists()
    assert_clean_invalid(run_cli("label", "not-an-id", "--out", str(out), "--data-dir", str(data_dir)), "preparation id")


@pytest.mark.parametrize(
    "args, field",
    [
        (["sheet", "--demo", "--paper", "legal"], "paper"),
        (["label", "--demo", "--label-size", "9x9in"], "label-size"),
        (["label", "--demo", "--label-size", "big"], "label-size"),
        (["sheet"], "ID"),
        (["sheet", "BSP-7K3QX", "--demo"], "--demo"),
    ],
)
def test_invalid_arguments_exit_2_with_one_line(tmp_path, args, field):
    out = tmp_path / "x.pdf"
    assert_clean_invalid(run_cli(*args, "--out", str(out)), field)
    assert not out.exists()


def test_out_in_a_missing_folder_is_refused(tmp_path):
    assert_clean_invalid(run_cli("sheet", "--demo", "--out", str(tmp_path / "nowhere" / "x.pdf")), "out")


def test_missing_out_is_a_usage_error():
    assert_clean_invalid(run_cli("label", "--demo"), "--out")


def test_the_site_paper_setting_is_the_default(stored, tmp_path):
    data_dir, prep_id = stored
    data_dir = Path(shutil.copytree(data_dir, tmp_path / "copy"))  # the shared store stays as it was
    with open_service(data_dir=data_dir, clock=FakeClock(T0 + timedelta(hours=1))) as service:
        pharmacist = service.user("Priya Raman")
        service.set_setting("paper_size", "a4", pharmacist)
    out = tmp_path / "site.pdf"
    assert run_cli("sheet", prep_id, "--out", str(out), "--data-dir", str(data_dir)).code == 0
    page = PdfReader(out).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(A4)


def test_a_discarded_preparation_gets_its_sheet_but_no_label(stored, tmp_path):
    data_dir, prep_id = stored
    data_dir = Path(shutil.copytree(data_dir, tmp_path / "copy"))
    with open_service(data_dir=data_dir, clock=FakeClock(T0 + timedelta(minutes=30))) as service:
        service.record_event(prep_id, E.DISCARDED, service.user("Tomás Ortega"), details={"reason": "bag punctured"})
    label = tmp_path / "label.pdf"
    refused = run_cli("label", prep_id, "--out", str(label), "--data-dir", str(data_dir))
    assert refused.code == 1 and "discarded" in refused.stderr and "Traceback" not in refused.stderr
    assert not label.exists()
    sheet = tmp_path / "sheet.pdf"
    assert run_cli("sheet", prep_id, "--out", str(sheet), "--data-dir", str(data_dir)).code == 0
    assert "Reason: bag punctured" in page_text(sheet)
