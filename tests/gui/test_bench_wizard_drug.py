"""Issue 17: the pharmacist picks the drug (and its regimen) at order entry, from the installed
monographs through the service; the bench then prepares that drug from its own monograph."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QRadioButton

from infusion_app.domain import monograph as monograph_module
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.formatting import format_dose, format_number, format_volume
from infusion_app.domain.records import EventType
from infusion_app.gui import bench_wizard as bw
from tests.drugs import MYLOTARG

from .conftest import PIN
from .test_bench_wizard import COMMIT, FINISH, NEXT, click, fill_order_labs, fill_patient, find, open_wizard, tick, type_into

ORDER_170_70 = ("170 cm", "70 kg")


def choose(qtbot, combo: QComboBox, text: str) -> None:
    """Pick `text` the way a user does: F4 opens the list, arrows move, Enter chooses."""
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_F4)
    view = combo.view()
    qtbot.waitUntil(view.isVisible)
    wanted = next(i for i in range(combo.count()) if text in combo.itemText(i))
    key = Qt.Key.Key_Down if wanted > view.currentIndex().row() else Qt.Key.Key_Up
    while view.currentIndex().row() != wanted:
        qtbot.keyClick(view, key)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not view.isVisible())
    assert text in combo.currentText()


def shown_labels(page) -> str:
    return " ".join(label.text() for label in page.findChildren(QLabel) if label.isVisible())


def test_a_mylotarg_order_is_typed_dosed_by_its_regimen_and_prepared_to_dispense(qtbot, service, technician):
    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard)
    click(qtbot, wizard, NEXT)
    page = wizard.currentPage()
    assert wizard.currentId() == bw.ORDER
    # The installed drugs, as the service lists them; the regimen row waits for a drug that has one.
    assert {page.drug.itemData(i) for i in range(page.drug.count())} >= {m.id for m in service.drugs()}
    choose(qtbot, page.drug, "MYLOTARG")
    assert page.regimen.isVisible() and page.regimen.currentData() is None  # never preselected
    assert not page.response.isVisible()  # no response decides this drug's dose
    assert not find(wizard, type(page.payer), "payerFacts").isVisible()  # no payer policy installed for it
    type_into(qtbot, page.height.edit, ORDER_170_70[0])
    type_into(qtbot, page.weight.edit, ORDER_170_70[1])
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.ORDER  # no regimen picked: refused beside the field
    assert page.field_errors["regimen"].isVisible()
    assert "Regimen" in page.field_errors["regimen"].text() and "fractionated" in page.field_errors["regimen"].text()
    choose(qtbot, page.regimen, "fractionated")
    assert [page.day.itemText(i) for i in range(page.day.count())] == [str(d) for d in MYLOTARG.with_regimen("fractionated").dose_days]
    choose(qtbot, page.day, "1")
    click(qtbot, wizard, NEXT)

    assert wizard.currentId() == bw.DOSE
    fractionated = MYLOTARG.with_regimen("fractionated")
    expected = service.calculate(DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1), monograph=fractionated)
    # 1.82 m² x 3 mg/m² = 5.46 mg, over the regimen's cap of one 4.5 mg vial.
    assert expected.calculated_dose_mg > expected.dose_cap_mg == expected.dose_mg
    page = wizard.currentPage()
    # The dose prepared stands alone in the large line; BSA x mg/m2 (not given) on a line of its own.
    dose_text = page.value_labels["dose"].text()
    assert dose_text.startswith(format_dose(expected.dose_mg)) and format_dose(expected.calculated_dose_mg) not in dose_text
    calculated = page.value_labels["calculated"].text()
    assert format_dose(expected.calculated_dose_mg) in calculated and f"cap of {format_dose(expected.dose_cap_mg)}" in calculated
    assert "MYLOTARG" in page.value_labels["order"].text() and "response" not in page.value_labels["order"].text()
    assert page.value_labels["regimen"].text() == fractionated.regimen.name
    assert page.value_labels["vials"].text().startswith(f"{expected.vials} × {format_dose(expected.vial_mg)}")
    assert format_volume(expected.final_volume_ml) in page.value_labels["nacl"].text()
    assert expected.hcpcs in page.value_labels["billing"].text()
    assert not page.coverage.isVisible()
    click(qtbot, wizard, COMMIT)

    [stored] = service.list_active()
    assert stored.prep.monograph_id == MYLOTARG.id and stored.prep.order.regimen == "fractionated"
    assert stored.prep.order.calculation.dose_mg == expected.dose_mg
    assert stored.id.startswith(MYLOTARG.id_prefix)
    assert wizard.currentId() == bw.VIALS
    assert MYLOTARG.brand_name in find(wizard, QCheckBox, "vialProductConfirmed").text()
    type_into(qtbot, find(wizard, QLineEdit, "vialLot"), "MYL001")
    type_into(qtbot, find(wizard, QLineEdit, "vialExpiry"), "2027-06-30")
    tick(qtbot, find(wizard, QCheckBox, "vialProductConfirmed"))
    qtbot.mouseClick(wizard.currentPage().add_button, Qt.MouseButton.LeftButton)
    assert len(service.get(stored.id).vials) == expected.vials == 1
    click(qtbot, wizard, NEXT)

    assert wizard.currentId() == bw.RECONSTITUTE
    page = wizard.currentPage()
    assert MYLOTARG.text("reconstitution.diluent") in page.instructions.text()
    assert page.instructions.text().startswith("Reconstitute the vial with")  # one vial: not "each of the 1 vials"
    page.order_pharmacist.setFocus()
    qtbot.keyClicks(page.order_pharmacist, "Paula Pharm")
    type_into(qtbot, page.order_pin, PIN["Paula Pharm"])
    fill_order_labs(qtbot, page, taken=service.now() - timedelta(hours=1))
    click(qtbot, wizard, COMMIT)
    assert service.get(stored.id).last(EventType.RECONSTITUTED) is not None

    assert wizard.currentId() == bw.DRAW
    assert format_volume(expected.withdraw_ml) in find(wizard, QLabel, "drawVolume").text()
    tick(qtbot, find(wizard, QCheckBox, "drawConfirm"))
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.DILUTE
    assert MYLOTARG.text("dilution.vehicle") in shown_labels(wizard.currentPage())
    tick(qtbot, find(wizard, QRadioButton, "storageRoom"))
    click(qtbot, wizard, COMMIT)

    assert wizard.currentId() == bw.VERIFY
    page = wizard.currentPage()
    type_into(qtbot, page.mrn, "MRN2002")
    type_into(qtbot, page.height, "170 cm")
    type_into(qtbot, page.weight, "70 kg")
    type_into(qtbot, page.dose, format_number(expected.dose_mg))
    type_into(qtbot, page.volume, format_number(expected.withdraw_ml) + " mL")
    page.pharmacist.setFocus()
    qtbot.keyClicks(page.pharmacist, "Phil Pharm")
    type_into(qtbot, page.pin, PIN["Phil Pharm"])
    click(qtbot, wizard, COMMIT)
    assert wizard.currentId() == bw.LABEL, wizard.currentPage().refusal.text()
    tick(qtbot, find(wizard, QCheckBox, "labelConfirm"))
    click(qtbot, wizard, COMMIT)
    assert wizard.currentId() == bw.DISPENSE
    click(qtbot, wizard, FINISH)
    assert service.status(stored.id).prep.last(EventType.DISPENSED) is not None


def test_the_single_agent_regimen_offers_its_own_dose_days(qtbot, service, technician):
    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard)
    click(qtbot, wizard, NEXT)
    page = wizard.currentPage()
    choose(qtbot, page.drug, "MYLOTARG")
    choose(qtbot, page.regimen, "single agent")
    assert [page.day.itemText(i) for i in range(page.day.count())] == [str(d) for d in MYLOTARG.with_regimen("single-agent").dose_days]
    # Back to the other drug: its response rows and payer facts return, the regimen row goes.
    choose(qtbot, page.drug, "BESPONSA")
    assert page.response.isVisible() and not page.regimen.isVisible() and page.payer.isVisible()


def test_with_one_drug_installed_it_is_preselected(qtbot, service, technician, monkeypatch):
    monkeypatch.setattr(monograph_module, "installed_monograph_ids", lambda: [MYLOTARG.id])
    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard)
    click(qtbot, wizard, NEXT)
    page = wizard.currentPage()
    assert page.drug.count() == 1 and page.drug.currentData() == MYLOTARG.id
    assert page.regimen.isVisible() and page.regimen.currentData() is None


def test_several_drugs_installed_the_drug_must_be_picked(qtbot, service, technician):
    # No default drug (issue 17): the order page starts with none selected and Next refuses until one is.
    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard)
    click(qtbot, wizard, NEXT)
    page = wizard.currentPage()
    assert page.drug.currentData() is None
    type_into(qtbot, page.height.edit, "170 cm")
    type_into(qtbot, page.weight.edit, "70 kg")
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.ORDER
    assert page.field_errors["drug"].isVisible() and page.field_errors["drug"].text().startswith("Drug:")


@pytest.mark.parametrize("regimen", ["fractionated"])
def test_a_stored_mylotarg_preparation_resumes_with_its_own_monograph(qtbot, service, technician, regimen):
    drug = MYLOTARG.with_regimen(regimen)
    from .conftest import PATIENT

    status = service.create_preparation(PATIENT, DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=4), technician, monograph=drug)
    wizard = open_wizard(qtbot, service, technician, status.id)
    assert wizard.monograph.id == MYLOTARG.id and wizard.monograph.regimen.id == regimen
    assert MYLOTARG.brand_name in find(wizard, QCheckBox, "vialProductConfirmed").text()


def test_a_split_draw_is_shown_on_the_dose_page(qtbot, service, technician):
    """Pharmacist review: 10.5 mg of MYLOTARG (10.5 mL) is drawn as the 10 mL syringe full and 0.5 mL on the
    1 mL syringe (not 11 mL on the 20 mL syringe's 1 mL marks); the dose page says so and bills 105 units."""
    import os

    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard)
    click(qtbot, wizard, NEXT)
    page = wizard.currentPage()
    choose(qtbot, page.drug, "MYLOTARG")
    type_into(qtbot, page.height.edit, "175 cm")
    type_into(qtbot, page.weight.edit, "63 kg")
    choose(qtbot, page.regimen, "single agent")
    choose(qtbot, page.day, "1")
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.DOSE
    page = wizard.currentPage()
    assert page.value_labels["dose"].text() == "6 mg/m² × 1.75 m² = 10.5 mg"
    assert page.value_labels["withdraw"].text() == ("10.5 mL in 2 syringes: 10 mL (the 10 mL syringe, drawn full) + 0.5 mL (the 1 mL syringe, 0.01 mL marks)")
    assert "105 units administered" in page.value_labels["billing"].text()
    if os.environ.get("INFUSION_PREP_TEST_SHOT"):  # a picture for a reviewer: INFUSION_PREP_TEST_SHOT=/tmp/dose.png
        wizard.resize(1000, 900)
        wizard.grab().save(os.environ["INFUSION_PREP_TEST_SHOT"])
