"""Issue 17: a MYLOTARG order of a patient with a MYLOTARG course, typed and clicked through the bench
wizard: every page speaks of MYLOTARG, its regimen, its in-line filter and its 2-hour infusion, and
none of BESPONSA (its name, response rows, HSCT, CD22, id prefix or billing code)."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QCheckBox, QComboBox, QLabel, QLineEdit, QRadioButton

from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.formatting import format_number, format_volume
from infusion_app.domain.records import EventType
from infusion_app.gui import bench_wizard as bw
from infusion_app.service.course import CourseService
from tests.drugs import BESPONSA, MYLOTARG
from tests.lab_helpers import NORMAL

from .conftest import PIN
from .test_bench_wizard import COMMIT, FINISH, NEXT, click, fill_patient, find, open_wizard, tick, type_into
from .test_bench_wizard_drug import choose

FRACTIONATED = MYLOTARG.with_regimen("fractionated")
# What only BESPONSA's monograph says: a page of a MYLOTARG preparation shows none of it. (A 50 mL
# bag is no sign: this MYLOTARG dose is diluted in one too, by its own concentration window.)
BESPONSA_WORDS = (
    BESPONSA.brand_name,
    BESPONSA.brand_name.title(),
    BESPONSA.generic_name,
    "CR/CRi",
    "CRi",
    "HSCT",
    "CD22",
    BESPONSA.text("billing.hcpcs"),
    BESPONSA.id_prefix + "-",
)


def shown_text(wizard) -> str:
    """Everything the current page shows: its title, labels, buttons and the choices made."""
    page = wizard.currentPage()
    parts = [page.title(), page.subTitle()]
    parts += [w.text() for w in page.findChildren(QLabel) if w.isVisible()]
    parts += [w.text() for w in page.findChildren(QAbstractButton) if w.isVisible()]
    parts += [w.currentText() for w in page.findChildren(QComboBox) if w.isVisible()]
    parts += [w.text() for w in page.findChildren(QLineEdit) if w.isVisible()]
    return "\n".join(parts)


def no_besponsa(wizard) -> str:
    text = shown_text(wizard)
    found = [word for word in BESPONSA_WORDS if word in text]
    assert found == [], f"page {wizard.currentId()} shows {found}:\n{text}"
    return text


def test_a_mylotarg_course_order_through_the_wizard_speaks_of_mylotarg_only(qtbot, service, technician, clock):
    courses = CourseService(service)
    courses.new_course("MRN2002", False, "Phil Pharm", monograph=MYLOTARG, regimen="fractionated")
    courses.record_blasts("MRN2002", 100, clock.now().date() - timedelta(days=1), "Nora Nurse")
    courses.start_cycle("MRN2002", clock.now().date(), "Phil Pharm")
    for kind in ("cbc", "liver", "ecg", "electrolytes"):
        courses.record_lab("MRN2002", kind, NORMAL[kind], clock.now() - timedelta(hours=2), "Nora Nurse")
    expected = service.calculate(DoseOrder("170 cm", "70 kg", 1, 1), monograph=FRACTIONATED)

    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard)
    click(qtbot, wizard, NEXT)
    page = wizard.currentPage()
    choose(qtbot, page.drug, "MYLOTARG")
    choose(qtbot, page.regimen, "fractionated")
    assert [page.day.itemText(i) for i in range(page.day.count())] == ["1", "4", "7"]
    choose(qtbot, page.day, "1")
    assert not page.response.isVisible() and not page.payer.isVisible()
    type_into(qtbot, page.height.edit, "170 cm")
    type_into(qtbot, page.weight.edit, "70 kg")
    no_besponsa(wizard)
    click(qtbot, wizard, NEXT)

    assert wizard.currentId() == bw.DOSE, wizard.currentPage().refusal.text()
    page = wizard.currentPage()
    text = no_besponsa(wizard)
    assert "MYLOTARG" in page.value_labels["order"].text() and page.value_labels["regimen"].text() == FRACTIONATED.regimen.name
    infusion = page.value_labels["infusion"].text()
    assert "over 2 h" in infusion and f"{format_volume(expected.infusion_rate_ml_per_hour)}/hour" in infusion
    assert "IN-LINE FILTER REQUIRED: 0.2 micron polyethersulfone (PES)" in infusion
    assert "no course on file" not in text  # the course judged the order
    click(qtbot, wizard, COMMIT)

    [stored] = service.list_active()
    assert stored.prep.order.course.on_file and (stored.prep.order.calculation.cycle, stored.prep.order.calculation.day) == (1, 1)
    assert stored.id.startswith(MYLOTARG.id_prefix + "-")
    assert wizard.currentId() == bw.VIALS
    no_besponsa(wizard)
    type_into(qtbot, find(wizard, QLineEdit, "vialLot"), "MYL001")
    type_into(qtbot, find(wizard, QLineEdit, "vialExpiry"), "2027-06-30")
    tick(qtbot, find(wizard, QCheckBox, "vialProductConfirmed"))
    qtbot.mouseClick(wizard.currentPage().add_button, Qt.MouseButton.LeftButton)
    click(qtbot, wizard, NEXT)

    assert wizard.currentId() == bw.RECONSTITUTE
    assert MYLOTARG.text("reconstitution.diluent") in no_besponsa(wizard)
    page = wizard.currentPage()
    page.order_pharmacist.setFocus()
    qtbot.keyClicks(page.order_pharmacist, "Paula Pharm")
    type_into(qtbot, page.order_pin, PIN["Paula Pharm"])
    click(qtbot, wizard, COMMIT)

    assert wizard.currentId() == bw.DRAW
    no_besponsa(wizard)
    tick(qtbot, find(wizard, QCheckBox, "drawConfirm"))
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.DILUTE
    assert MYLOTARG.text("dilution.vehicle") in no_besponsa(wizard)
    tick(qtbot, find(wizard, QRadioButton, "storageRoom"))
    click(qtbot, wizard, COMMIT)

    assert wizard.currentId() == bw.VERIFY
    no_besponsa(wizard)
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
    no_besponsa(wizard)
    tick(qtbot, find(wizard, QCheckBox, "labelConfirm"))
    click(qtbot, wizard, COMMIT)
    assert wizard.currentId() == bw.DISPENSE
    no_besponsa(wizard)
    click(qtbot, wizard, FINISH)
    assert service.status(stored.id).prep.last(EventType.DISPENSED) is not None
