"""The bench wizard driven through its real widgets, against a real service on tmp_path."""

from __future__ import annotations

from tests.drugs import BESPONSA


from datetime import timedelta

import pytest

from tests.prep_helpers import verify_order
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QCheckBox, QLabel, QLineEdit, QRadioButton, QWizard

from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.formatting import (
    format_bsa,
    format_countdown,
    format_dose,
    format_instant,
    format_number,
    format_volume,
)
from infusion_app.domain.records import EventType
from infusion_app.gui import bench_wizard as bw
from infusion_app.gui.bench_wizard import BenchWizard

from .conftest import PATIENT, PIN, cut_off

NEXT = QWizard.WizardButton.NextButton
COMMIT = QWizard.WizardButton.CommitButton
FINISH = QWizard.WizardButton.FinishButton
VIAL_CODE = "(01)00300080100011(17)280531(10)AB123(21)XYZ{serial}"  # each vial has its own serial


def open_wizard(qtbot, service, user, prep_id=None) -> BenchWizard:
    wizard = BenchWizard(service, user, prep_id)
    qtbot.addWidget(wizard)
    wizard.resize(1280, 800)
    wizard.show()
    qtbot.waitExposed(wizard)
    return wizard


def click(qtbot, wizard: BenchWizard, which) -> None:
    # Every page is checked at 1280 x 800 before it is left: no text cut off.
    assert cut_off(wizard) == [], f"page {wizard.currentId()}"
    button = wizard.button(which)
    assert button.isVisible() and button.isEnabled(), f"{which} is not clickable on page {wizard.currentId()}"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def find(wizard: BenchWizard, kind, name: str):
    widget = wizard.currentPage().findChild(kind, name)
    assert widget is not None, f"no {kind.__name__} named {name} on page {wizard.currentId()}"
    return widget


def tick(qtbot, box) -> None:
    """Click a check box or radio button on its indicator (its centre may lie past its text)."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert box.isChecked()


def type_into(qtbot, widget: QLineEdit, text: str, enter: bool = False) -> None:
    widget.setFocus()
    qtbot.keyClicks(widget, text)
    if enter:
        qtbot.keyClick(widget, Qt.Key.Key_Return)


def fill_order_labs(qtbot, page, taken=None, baseline: bool = True) -> None:
    """The labs the verifying pharmacist checked (no course on file), typed into the order verification,
    with the sample's time (`taken`, an instant) typed on the workstation's clock when given."""
    if taken is not None:
        page.labs_taken.clear()
        type_into(qtbot, page.labs_taken, taken.astimezone().strftime("%Y-%m-%d %H:%M"))
    for name, value in (
        ("anc", "2"),
        ("platelets", "150"),
        ("bilirubin_x_uln", "0.8"),
        ("ast_alt_x_uln", "1"),
        *((("qtc_ms", "420"), ("potassium", "4.1"), ("magnesium", "0.85")) if baseline else ()),
    ):
        type_into(qtbot, page.lab_edits[name], value)
    page.lab_transfused.setFocus()
    qtbot.keyClick(page.lab_transfused, Qt.Key.Key_Space)
    assert page.lab_transfused.isChecked()


def fill_patient(qtbot, wizard, mrn="MRN2002", name="Grace Hopper", dob="1956-12-09") -> None:
    page = wizard.currentPage()
    type_into(qtbot, page.mrn, mrn, enter=True)  # a scanner: MRN then Enter looks the patient up
    assert "No patient" in page.found.text()
    type_into(qtbot, page.name, name)
    type_into(qtbot, page.dob, dob)


def fill_order(qtbot, wizard, height: str, weight: str) -> None:
    page = wizard.currentPage()
    assert wizard.currentId() == bw.ORDER
    if page.drug.currentData() is None:  # several drugs installed: none is preselected (issue 17)
        pick_besponsa(qtbot, page)
    type_into(qtbot, page.height.edit, height)
    type_into(qtbot, page.weight.edit, weight)


def pick_besponsa(qtbot, page) -> None:
    """Pick BESPONSA on the order page with the keyboard: F4 opens the drug list, arrows move, Enter chooses."""
    combo = page.drug
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_F4)
    view = combo.view()
    qtbot.waitUntil(view.isVisible)
    wanted = combo.findData(BESPONSA.id)
    key = Qt.Key.Key_Down if wanted > view.currentIndex().row() else Qt.Key.Key_Up
    while view.currentIndex().row() != wanted:
        qtbot.keyClick(view, key)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not view.isVisible())
    assert combo.currentData() == BESPONSA.id


def until_dose(qtbot, wizard, height="5 ft 7 in", weight="154 lb") -> None:
    fill_patient(qtbot, wizard)
    click(qtbot, wizard, NEXT)
    fill_order(qtbot, wizard, height, weight)
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.DOSE


def test_the_whole_bench_flow_from_patient_to_dispense(qtbot, service, technician, clock):
    wizard = open_wizard(qtbot, service, technician)
    until_dose(qtbot, wizard)

    # The dose page shows the whole calculation as the engine made it.
    expected = service.calculate(DoseOrder(height="5 ft 7 in", weight="154 lb", cycle=1, day=1), monograph=BESPONSA)
    page = wizard.currentPage()
    assert format_dose(expected.dose_mg) in page.value_labels["dose"].text()
    assert format_bsa(expected.bsa_m2, expected.bsa_formula_name) in page.value_labels["bsa"].text()
    assert expected.bsa_equation in page.value_labels["bsa"].text()
    # the volume with the syringe that draws it
    assert page.value_labels["withdraw"].text() == f"{format_volume(expected.withdraw_ml)} with {expected.draw_words()}"
    assert format_volume(expected.nacl_ml) in page.value_labels["nacl"].text()
    assert expected.billing_modifier in page.value_labels["billing"].text()
    assert not page.refusal.isVisible()
    assert service.list_active() == []  # nothing stored until the page is committed
    click(qtbot, wizard, COMMIT)

    # Committed before the page moved on.
    [stored] = service.list_active()
    assert stored.prep.patient.mrn == "MRN2002"
    assert stored.prep.order.calculation.dose_mg == expected.dose_mg
    assert wizard.currentId() == bw.VIALS
    assert not wizard.button(NEXT).isEnabled()  # no vial yet
    for serial in range(expected.vials):
        type_into(qtbot, find(wizard, QLineEdit, "vialScan"), VIAL_CODE.format(serial=serial), enter=True)
    assert len(service.get(stored.id).vials) == expected.vials
    type_into(qtbot, find(wizard, QLineEdit, "vialScan"), VIAL_CODE.format(serial=0), enter=True)
    assert len(service.get(stored.id).vials) == expected.vials  # the same vial scanned again is refused
    assert service.get(stored.id).vials[0].lot == "AB123"
    click(qtbot, wizard, NEXT)

    assert wizard.currentId() == bw.RECONSTITUTE
    # A pharmacist who did not enter the order verifies it before reconstitution.
    page = wizard.currentPage()
    assert page.order_box.isVisible() and not wizard.button(COMMIT).isEnabled()
    assert "Tess Tech" not in [page.order_pharmacist.itemText(i) for i in range(page.order_pharmacist.count())]
    page.order_pharmacist.setFocus()
    qtbot.keyClicks(page.order_pharmacist, "Paula Pharm")
    type_into(qtbot, page.order_pin, PIN["Paula Pharm"])
    # No course on file: the verification is refused without the labs checked, naming them.
    assert page.labs_box.isVisible()
    click(qtbot, wizard, COMMIT)
    assert service.get(stored.id).last(EventType.ORDER_VERIFIED) is None
    assert wizard.currentId() == bw.RECONSTITUTE
    shown = " ".join(label.text() for label in page.findChildren(QLabel) if label.isVisible())
    assert "Labs needed: CBC (ANC, platelets) taken within 72 h" in shown
    # The sample's time starts empty (a pre-filled 'now' passed labs days old through the window):
    # values without it are refused, naming the field; a sample older than the window is refused.
    assert page.labs_taken.text() == ""
    fill_order_labs(qtbot, page)
    type_into(qtbot, page.order_pin, PIN["Paula Pharm"])
    click(qtbot, wizard, COMMIT)
    assert service.get(stored.id).last(EventType.ORDER_VERIFIED) is None
    shown = " ".join(label.text() for label in page.findChildren(QLabel) if label.isVisible())
    assert "Labs taken at" in shown and "the sample's time" in shown
    type_into(qtbot, page.labs_taken, (clock.now() - timedelta(days=4)).astimezone().strftime("%Y-%m-%d %H:%M"))
    type_into(qtbot, page.order_pin, PIN["Paula Pharm"])
    click(qtbot, wizard, COMMIT)
    assert service.get(stored.id).last(EventType.ORDER_VERIFIED) is None
    shown = " ".join(label.text() for label in page.findChildren(QLabel) if label.isVisible())
    assert "72 h" in shown
    page.labs_taken.clear()
    type_into(qtbot, page.labs_taken, (clock.now() - timedelta(hours=2)).astimezone().strftime("%Y-%m-%d %H:%M"))
    # An ANC per µL in the 10⁹/L field (500 per µL is 0.5) passed as 500 × 10⁹/L: refused, in the domain's words.
    page.lab_edits["anc"].clear()
    type_into(qtbot, page.lab_edits["anc"], "500")
    type_into(qtbot, page.order_pin, PIN["Paula Pharm"])
    click(qtbot, wizard, COMMIT)
    assert service.get(stored.id).last(EventType.ORDER_VERIFIED) is None
    shown = " ".join(label.text() for label in page.findChildren(QLabel) if label.isVisible())
    assert "'500' is not accepted; must be 0 to 100 × 10⁹/L" in shown and "500 per µL is 0.5 × 10⁹/L" in shown, shown
    page.lab_edits["anc"].clear()
    type_into(qtbot, page.lab_edits["anc"], "2")
    type_into(qtbot, page.order_pin, PIN["Paula Pharm"])
    click(qtbot, wizard, COMMIT)
    assert service.get(stored.id).last(EventType.ORDER_VERIFIED).user == "Paula Pharm"
    assert service.get(stored.id).last(EventType.ORDER_VERIFIED).details["labs"]["cbc"]["taken_at"] == (clock.now() - timedelta(hours=2)).isoformat()
    assert service.get(stored.id).last(EventType.ORDER_VERIFIED).details["labs"]["cbc"]["platelets"] == 150.0
    reconstituted = service.get(stored.id).last(EventType.RECONSTITUTED)
    assert reconstituted is not None and reconstituted.at == clock.now()
    assert service.status(stored.id).current_step == "dilute"

    assert wizard.currentId() == bw.DRAW
    assert format_volume(expected.withdraw_ml) in find(wizard, QLabel, "drawVolume").text()
    # The clocks run now: the next deadline counts down at the head of the page, from storage.
    clock.advance(minutes=3)
    wizard.repaint_timer.timeout.emit()
    deadline = service.status(stored.id).next_deadline
    countdown = wizard.currentPage().countdown
    assert countdown.isVisible() and deadline.key == "dilute_by"
    assert countdown.text() == format_countdown((deadline.at - clock.now()).total_seconds())
    assert not wizard.button(NEXT).isEnabled()
    tick(qtbot, find(wizard, QCheckBox, "drawConfirm"))
    click(qtbot, wizard, NEXT)

    assert wizard.currentId() == bw.DILUTE
    clock.advance(minutes=20)
    tick(qtbot, find(wizard, QRadioButton, "storageFridge"))
    click(qtbot, wizard, COMMIT)
    assert service.get(stored.id).last(EventType.DILUTED).details["storage"] == "fridge"

    assert wizard.currentId() == bw.VERIFY
    page = wizard.currentPage()
    # Independent: the fields start empty and the page shows none of the preparer's values.
    page_text = " ".join(label.text() for label in page.findChildren(QLabel))
    assert format_dose(expected.dose_mg) not in page_text
    assert all(edit.text() == "" for edit in (page.mrn, page.dose, page.volume, page.pin))
    type_into(qtbot, page.mrn, "MRN2002")
    type_into(qtbot, page.height, "5 ft 7 in")
    type_into(qtbot, page.weight, "154 lb")
    type_into(qtbot, page.dose, format_number(expected.dose_mg))
    type_into(qtbot, page.volume, format_number(expected.withdraw_ml) + " mL")
    page.pharmacist.setFocus()
    qtbot.keyClicks(page.pharmacist, "Phil Pharm")
    type_into(qtbot, page.pin, PIN["Phil Pharm"])
    click(qtbot, wizard, COMMIT)
    verified = service.get(stored.id).last(EventType.VERIFIED)
    assert verified is not None and verified.user == "Phil Pharm"

    assert wizard.currentId() == bw.LABEL
    assert wizard.document_pdf("label").startswith(b"%PDF")
    tick(qtbot, find(wizard, QCheckBox, "labelConfirm"))
    click(qtbot, wizard, COMMIT)
    assert service.get(stored.id).last(EventType.LABELLED).user == "Tess Tech"

    assert wizard.currentId() == bw.DISPENSE
    summary = find(wizard, QLabel, "dispenseSummary").text()
    open_deadlines = [d for d in service.status(stored.id).deadlines if d.state.value not in ("met", "closed")]
    assert open_deadlines and all(f"{d.label}: {format_instant(d.at)}" in summary for d in open_deadlines)
    click(qtbot, wizard, FINISH)
    status = service.status(stored.id)
    assert status.prep.last(EventType.DISPENSED) is not None
    assert status.current_step not in bw.PAGE_FOR_STEP  # handed over to the chair
    assert not wizard.isVisible()


def test_a_hard_stop_blocks_next_and_says_why(qtbot, service, technician):
    # An infant of about 6 months on the clock's date (2026-01-15): under the label's 1 year.
    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard, dob="2025-07-10")
    click(qtbot, wizard, NEXT)
    fill_order(qtbot, wizard, "66 cm", "7.5 kg")
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.DOSE
    page = wizard.currentPage()
    assert page.refusal.isVisible()
    assert "HARD STOP" in page.refusal.text()
    assert "not established" in page.refusal.text()
    assert not wizard.button(COMMIT).isEnabled()
    qtbot.keyClick(wizard, Qt.Key.Key_Return)  # Enter = Next, which must do nothing here
    assert wizard.currentId() == bw.DOSE
    assert service.list_active() == []


def test_a_bad_height_is_shown_next_to_the_field_with_the_domains_message(qtbot, service, technician):
    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard)
    click(qtbot, wizard, NEXT)
    fill_order(qtbot, wizard, "170 kg", "70 kg")
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.ORDER
    page = wizard.currentPage()
    assert page.height.message.isVisible()
    assert page.height.message.text().startswith("Height:")
    assert "not a unit of length" in page.height.message.text()


def test_reopening_resumes_at_the_current_step(qtbot, service, technician, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    wizard = open_wizard(qtbot, service, technician, prep_id)
    assert wizard.currentId() == bw.DRAW
    assert PATIENT.name in wizard.windowTitle()
    wizard.close()
    prep_id = make_preparation(steps=("reconstituted", "diluted"))
    assert open_wizard(qtbot, service, technician, prep_id).currentId() == bw.VERIFY
    prep_id = make_preparation(steps=())
    assert open_wizard(qtbot, service, technician, prep_id).currentId() == bw.RECONSTITUTE


def answer_override(qtbot, wizard, attempts: list[tuple[str, str, str]], seen: list[str]) -> None:
    """Fill the override dialog when it opens: each attempt (pharmacist, PIN, reason) in turn."""
    remaining = list(attempts)

    def fill():
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "overrideDialog":
            QTimer.singleShot(20, fill)
            return
        if dialog.error.isVisible():
            seen.append(dialog.error.text())
        if not remaining:
            dialog.reject()
            return
        name, pin, reason = remaining.pop(0)
        dialog.pharmacist.setCurrentText(name)
        dialog.pin.clear()
        qtbot.keyClicks(dialog.pin, pin)
        dialog.reason.setText(reason)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        QTimer.singleShot(20, fill)  # the dialog stays open after a refusal

    QTimer.singleShot(20, fill)


def test_a_late_dilution_is_refused_with_no_override_offered(qtbot, service, technician, clock, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    clock.advance(hours=4, minutes=5)  # past 'dilute by': a label limit
    wizard = open_wizard(qtbot, service, technician, prep_id)
    tick(qtbot, find(wizard, QCheckBox, "drawConfirm"))
    click(qtbot, wizard, NEXT)
    tick(qtbot, find(wizard, QRadioButton, "storageRoom"))
    seen: list[str] = []
    answer_override(qtbot, wizard, [("Paula Pharm", PIN["Paula Pharm"], "prescriber informed; dose needed today")], seen)
    click(qtbot, wizard, COMMIT)
    assert getattr(wizard, "override_dialog", None) is None and not seen  # no override is offered for a label limit
    refusal = wizard.currentPage().refusal
    assert refusal.isVisible() and "discard and prepare again" in refusal.text()
    prep = service.get(prep_id)
    assert prep.last(EventType.OVERRIDE) is None and prep.last(EventType.DILUTED) is None
    assert wizard.currentId() == bw.DILUTE


def test_a_refused_override_leaves_the_step_unrecorded(qtbot, service, technician, clock, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    clock.advance(hours=4, minutes=5)
    wizard = open_wizard(qtbot, service, technician, prep_id)
    tick(qtbot, find(wizard, QCheckBox, "drawConfirm"))
    click(qtbot, wizard, NEXT)
    tick(qtbot, find(wizard, QRadioButton, "storageRoom"))
    answer_override(qtbot, wizard, [], [])  # the dialog is cancelled
    click(qtbot, wizard, COMMIT)
    assert wizard.currentId() == bw.DILUTE
    refusal = wizard.currentPage().refusal
    assert refusal.isVisible() and refusal.text()
    assert service.get(prep_id).last(EventType.DILUTED) is None


def sign_verification(qtbot, wizard, name: str, mrn: str, dose: str, volume: str) -> None:
    page = wizard.currentPage()
    for edit, text in ((page.mrn, mrn), (page.height, "170 cm"), (page.weight, "70 kg"), (page.dose, dose), (page.volume, volume), (page.pin, PIN[name])):
        edit.clear()
        type_into(qtbot, edit, text)
    page.pharmacist.setCurrentText(name)
    click(qtbot, wizard, COMMIT)


def test_self_verification_is_refused_and_the_refusal_shown(qtbot, service, pharmacist, clock, make_preparation):
    # Phil Pharm prepares this one himself, so he may not verify it.
    prep_id = make_preparation(steps=())
    verify_order(service, prep_id, service.user("Paula Pharm"))
    service.record_event(prep_id, EventType.RECONSTITUTED, pharmacist)
    service.record_event(prep_id, EventType.DILUTED, pharmacist, details={"storage": "room"})
    calc = service.get(prep_id).order.calculation.to_dict()
    wizard = open_wizard(qtbot, service, pharmacist, prep_id)
    assert wizard.currentId() == bw.VERIFY
    sign_verification(qtbot, wizard, "Phil Pharm", PATIENT.mrn, format_number(calc["dose_mg"]), format_number(calc["withdraw_ml"]))
    assert wizard.currentId() == bw.VERIFY
    refusal = wizard.currentPage().refusal
    assert refusal.isVisible() and "another pharmacist must verify" in refusal.text()
    assert service.get(prep_id).last(EventType.VERIFIED) is None
    sign_verification(qtbot, wizard, "Paula Pharm", PATIENT.mrn, format_number(calc["dose_mg"]), format_number(calc["withdraw_ml"]))
    assert wizard.currentId() == bw.LABEL
    assert service.get(prep_id).last(EventType.VERIFIED).user == "Paula Pharm"


def test_re_entered_values_that_differ_are_refused_without_showing_the_right_ones(qtbot, service, technician, make_preparation):
    prep_id = make_preparation(steps=("reconstituted", "diluted"))
    calc = service.get(prep_id).order.calculation.to_dict()
    wrong_dose = format_number(calc["dose_mg"] + 0.1)
    wizard = open_wizard(qtbot, service, technician, prep_id)
    sign_verification(qtbot, wizard, "Phil Pharm", PATIENT.mrn, wrong_dose, format_number(calc["withdraw_ml"]))
    refusal = wizard.currentPage().refusal.text()
    assert wizard.currentId() == bw.VERIFY
    assert "the dose differs" in refusal and "volume" not in refusal
    assert format_dose(calc["dose_mg"]) not in refusal
    assert service.get(prep_id).last(EventType.VERIFIED) is None


def test_an_expired_vial_is_refused_on_the_vials_page(qtbot, service, technician, clock):
    wizard = open_wizard(qtbot, service, technician)
    until_dose(qtbot, wizard, height="170 cm", weight="70 kg")
    click(qtbot, wizard, COMMIT)
    type_into(qtbot, find(wizard, QLineEdit, "vialScan"), "(01)00300080100011(17)251231(10)OLD1", enter=True)
    page = wizard.currentPage()
    assert page.error.isVisible() and "expired" in page.error.text()
    assert service.list_active()[0].prep.vials == []


@pytest.mark.parametrize("text", ["", "hello", "(01)12345"])
def test_unreadable_vial_codes_are_refused_with_a_message(qtbot, service, technician, text):
    wizard = open_wizard(qtbot, service, technician)
    until_dose(qtbot, wizard, height="170 cm", weight="70 kg")
    click(qtbot, wizard, COMMIT)
    type_into(qtbot, find(wizard, QLineEdit, "vialScan"), text, enter=True)
    page = wizard.currentPage()
    assert page.error.isVisible() and page.error.text().lower().startswith("vial code")


def tab_sequence(start, count: int) -> list:
    """The widgets Tab visits after `start`, as Qt's focus chain orders them."""
    found, widget = [], start
    while len(found) < count:
        widget = widget.nextInFocusChain()
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and widget.isVisible() and widget.isEnabled():
            found.append(widget)
    return found


def test_the_order_page_is_filled_with_the_keyboard_alone(qtbot, service, technician):
    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard)
    qtbot.keyClick(wizard.currentPage().dob, Qt.Key.Key_Return)  # Enter = Next
    assert wizard.currentId() == bw.ORDER
    page = wizard.currentPage()
    assert page.drug.currentData() is None  # several drugs installed: none preselected
    pick_besponsa(qtbot, page)
    qtbot.waitUntil(page.first_payer_field.isVisible)  # the drug's payer fields, laid out once the event loop shows them
    expected = [page.day, page.response, page.height.edit, page.weight.edit, page.formula, page.first_payer_field]
    assert tab_sequence(page.cycle, len(expected)) == expected
    qtbot.keyClicks(page.height.edit, "170 cm")
    qtbot.keyClicks(page.weight.edit, "70 kg")
    qtbot.keyClick(page.weight.edit, Qt.Key.Key_Return)  # Enter = Next again
    assert wizard.currentId() == bw.DOSE


def test_a_known_patient_is_found_by_a_scanned_mrn(qtbot, service, technician, make_preparation):
    make_preparation(steps=())
    wizard = open_wizard(qtbot, service, technician)
    type_into(qtbot, wizard.currentPage().mrn, PATIENT.mrn, enter=True)
    assert wizard.currentId() == bw.ORDER  # found: straight on to the order
    assert wizard.patient == PATIENT
    assert PATIENT.name in wizard.currentPage().patient_banner.text()


def test_a_bad_date_of_birth_is_refused_on_the_patient_page(qtbot, service, technician):
    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard, dob="12/09/1956")
    click(qtbot, wizard, NEXT)
    page = wizard.currentPage()
    assert wizard.currentId() == bw.PATIENT
    assert page.error.isVisible() and page.error.text().startswith("Date of birth")


def test_the_label_page_previews_the_label_and_the_sheet_of_the_stored_preparation(qtbot, service, technician, make_preparation, monkeypatch):
    from infusion_app.gui import print_preview

    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified"))
    wizard = open_wizard(qtbot, service, technician, prep_id)
    assert wizard.currentId() == bw.LABEL
    shown: list[tuple[str, int]] = []
    monkeypatch.setattr(print_preview.PrintPreview, "exec", lambda dialog: shown.append((dialog.objectName(), dialog.page_count())) or 0)
    page = wizard.currentPage()
    qtbot.mouseClick(page.label_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(page.sheet_button, Qt.MouseButton.LeftButton)
    assert [name for name, _ in shown] == ["labelPreview", "sheetPreview"]
    assert all(pages >= 1 for _, pages in shown)
    assert not page.refusal.isVisible()


def test_a_vial_of_another_product_is_refused_scanned_or_typed_and_a_typed_vial_needs_confirmation(qtbot, service, technician):
    wizard = open_wizard(qtbot, service, technician)
    until_dose(qtbot, wizard, height="170 cm", weight="70 kg")
    click(qtbot, wizard, COMMIT)
    page = wizard.currentPage()
    type_into(qtbot, find(wizard, QLineEdit, "vialScan"), "(01)00300690123011(17)280531(10)LOTX(21)S1", enter=True)
    assert page.error.isVisible() and "another product" in page.error.text()
    # A typed vial: the expiry starts empty and is required; the product must be confirmed.
    assert find(wizard, QLineEdit, "vialExpiry").text() == ""
    type_into(qtbot, find(wizard, QLineEdit, "vialLot"), "LT77")
    qtbot.mouseClick(find(wizard, bw.QPushButton, "addTypedVial"), Qt.MouseButton.LeftButton)
    assert "Expiry" in page.error.text()
    type_into(qtbot, find(wizard, QLineEdit, "vialExpiry"), "2027-06-30", enter=True)
    assert "confirmed" in page.error.text()
    assert service.list_active()[0].prep.vials == []
    tick(qtbot, find(wizard, QCheckBox, "vialProductConfirmed"))
    qtbot.mouseClick(find(wizard, bw.QPushButton, "addTypedVial"), Qt.MouseButton.LeftButton)
    [vial] = service.list_active()[0].prep.vials
    assert (vial.lot, vial.expiry.isoformat()) == ("LT77", "2027-06-30")
    assert not page.error.isVisible()


def test_a_typed_vial_expiry_takes_the_time_printed_and_the_list_shows_it(qtbot, service, technician):
    """The expiry field took a date only: a carton's expiry time could not be typed, and a scanned
    AI 7003 time was listed as its date alone."""
    from datetime import datetime, timezone

    wizard = open_wizard(qtbot, service, technician)
    until_dose(qtbot, wizard, height="170 cm", weight="70 kg")
    click(qtbot, wizard, COMMIT)
    page = wizard.currentPage()
    type_into(qtbot, find(wizard, QLineEdit, "vialLot"), "LT78")
    type_into(qtbot, find(wizard, QLineEdit, "vialExpiry"), "2027-06-30 10:00")
    tick(qtbot, find(wizard, QCheckBox, "vialProductConfirmed"))
    qtbot.mouseClick(find(wizard, bw.QPushButton, "addTypedVial"), Qt.MouseButton.LeftButton)
    assert not page.error.isVisible(), page.error.text()
    ten = datetime(2027, 6, 30, 10, 0).astimezone()
    type_into(qtbot, find(wizard, QLineEdit, "vialScan"), f"(01)00300080100011(7003){ten:%y%m%d%H%M}(10)LT79(21)S79", enter=True)
    typed, scanned = service.list_active()[0].prep.vials
    assert typed.expires_at == scanned.expires_at == ten.astimezone(timezone.utc) and typed.expiry.isoformat() == "2027-06-30"
    shown = [page.list.item(row).text() for row in range(page.list.count())]
    assert all(f"expiry 2027-06-30 10:00 {ten.tzname()}" in text for text in shown), shown
    type_into(qtbot, find(wizard, QLineEdit, "vialLot"), "LT80")
    type_into(qtbot, find(wizard, QLineEdit, "vialExpiry"), "2027-06-30 10h")
    qtbot.mouseClick(find(wizard, bw.QPushButton, "addTypedVial"), Qt.MouseButton.LeftButton)
    assert page.error.isVisible() and "Expiry" in page.error.text()


def test_a_vial_too_many_warns_and_can_be_removed_with_a_reason(qtbot, service, technician):
    wizard = open_wizard(qtbot, service, technician)
    until_dose(qtbot, wizard, height="170 cm", weight="70 kg")
    click(qtbot, wizard, COMMIT)
    page = wizard.currentPage()
    needed = wizard.calculation.vials
    for serial in range(needed + 1):
        type_into(qtbot, find(wizard, QLineEdit, "vialScan"), VIAL_CODE.format(serial=serial), enter=True)
    assert "more than the dose needs" in page.needed.text()
    page.list.setCurrentRow(0)
    qtbot.mouseClick(find(wizard, bw.QPushButton, "removeVial"), Qt.MouseButton.LeftButton)
    assert "Reason" in page.error.text()  # a reason is required
    type_into(qtbot, find(wizard, QLineEdit, "vialRemoveReason"), "scanned the spare vial")
    qtbot.mouseClick(find(wizard, bw.QPushButton, "removeVial"), Qt.MouseButton.LeftButton)
    vials = service.list_active()[0].prep.vials
    assert len(vials) == needed and vials[0].serial == "XYZ1"
    assert "more than" not in page.needed.text()
    assert any(e.action == "vial.removed" for e in service.audit_entries())


def test_the_checking_pharmacist_sees_the_recorded_vials(qtbot, service, pharmacist, make_preparation):
    prep_id = make_preparation(steps=("reconstituted", "diluted"))
    wizard = open_wizard(qtbot, service, pharmacist, prep_id)
    assert wizard.currentId() == bw.VERIFY
    listed = wizard.currentPage().vials
    vials = service.get(prep_id).vials
    assert listed.count() == len(vials) and "LOT123A" in listed.item(0).text() and "2027-06-30" in listed.item(0).text()


def test_reconstituted_vials_go_in_and_out_of_the_refrigerator_at_the_bench(qtbot, service, technician, make_preparation):
    from PySide6.QtWidgets import QPushButton

    prep_id = make_preparation(steps=("reconstituted",))
    wizard = open_wizard(qtbot, service, technician, prep_id)
    assert wizard.currentId() == bw.DRAW
    strip = wizard.currentPage().fridge_strip
    assert strip.isVisible() and "room temperature" in strip.state.text()
    qtbot.mouseClick(find(wizard, QPushButton, "fridgeIn_vials"), Qt.MouseButton.LeftButton)
    assert service.get(prep_id).last(EventType.RECONSTITUTED_TO_FRIDGE) is not None
    assert "in the refrigerator" in strip.state.text()
    qtbot.mouseClick(find(wizard, QPushButton, "fridgeOut_vials"), Qt.MouseButton.LeftButton)
    assert service.get(prep_id).last(EventType.RECONSTITUTED_FROM_FRIDGE) is not None


def test_a_bag_can_go_in_the_refrigerator_from_the_dispense_page(qtbot, service, technician, make_preparation):
    from PySide6.QtWidgets import QPushButton

    prep_id = make_preparation(steps=("reconstituted", "diluted", "verified", "labelled"))
    wizard = open_wizard(qtbot, service, technician, prep_id)
    assert wizard.currentId() == bw.DISPENSE
    qtbot.mouseClick(find(wizard, QPushButton, "fridgeIn_bag"), Qt.MouseButton.LeftButton)
    assert service.get(prep_id).last(EventType.BAG_TO_FRIDGE) is not None
    assert "Take it out by" in wizard.currentPage().fridge_strip.state.text()


def answer_discard(qtbot, name, pin, reason, seen):
    def fill():
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "discardDialog":
            QTimer.singleShot(20, fill)
            return
        dialog.pharmacist.setCurrentText(name)
        qtbot.keyClicks(dialog.pin, pin)
        qtbot.keyClicks(dialog.reason, reason)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        if dialog.isVisible():
            seen.append(dialog.error.text())
            dialog.reject()

    QTimer.singleShot(20, fill)


def test_a_passed_limit_offers_discard_first_and_a_pharmacist_discards_with_a_reason(qtbot, service, technician, clock, make_preparation):
    prep_id = make_preparation(steps=("reconstituted",))
    clock.advance(hours=4, minutes=5)  # past 'dilute by'
    wizard = open_wizard(qtbot, service, technician, prep_id)
    tick(qtbot, find(wizard, QCheckBox, "drawConfirm"))
    click(qtbot, wizard, NEXT)
    tick(qtbot, find(wizard, QRadioButton, "storageRoom"))
    click(qtbot, wizard, COMMIT)
    page = wizard.currentPage()
    seen: list[str] = []
    answer_discard(qtbot, "Tess Tech", PIN["Tess Tech"], "dilute-by passed", seen)  # a technician cannot sign it
    qtbot.mouseClick(page.discard_button, Qt.MouseButton.LeftButton)
    assert seen and "pharmacist" in seen[0]
    assert service.get(prep_id).last(EventType.DISCARDED) is None
    answer_discard(qtbot, "Phil Pharm", PIN["Phil Pharm"], "dilute-by passed; prepared again", seen)
    qtbot.mouseClick(page.discard_button, Qt.MouseButton.LeftButton)
    discarded = service.get(prep_id).last(EventType.DISCARDED)
    assert discarded.user == "Phil Pharm" and discarded.details["reason"] == "dilute-by passed; prepared again"
    assert not wizard.isVisible()


def test_the_wizard_has_a_discard_button_once_the_preparation_is_stored(qtbot, service, technician, make_preparation):
    prep_id = make_preparation(steps=())
    wizard = open_wizard(qtbot, service, technician, prep_id)
    button = wizard.button(QWizard.WizardButton.CustomButton1)
    assert button.isVisible() and "Discard" in button.text().replace("&", "")
    seen: list[str] = []
    answer_discard(qtbot, "Phil Pharm", PIN["Phil Pharm"], "order cancelled by prescriber", seen)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert service.get(prep_id).last(EventType.DISCARDED) is not None


def test_a_found_patients_identifiers_are_read_only_and_a_dob_correction_needs_a_pharmacist(qtbot, service, technician, make_preparation):
    from PySide6.QtWidgets import QPushButton

    make_preparation()  # Ada Lovelace, MRN1001, born 1970-03-04
    wizard = open_wizard(qtbot, service, technician)
    page = wizard.currentPage()
    type_into(qtbot, page.mrn, PATIENT.mrn, enter=True)
    assert page.name.isReadOnly() and page.dob.isReadOnly()
    wizard.back()
    qtbot.mouseClick(find(wizard, QPushButton, "correctDob"), Qt.MouseButton.LeftButton)
    assert not page.dob.isReadOnly() and page.name.isReadOnly()
    page.dob.clear()
    type_into(qtbot, page.dob, "1970-03-05")
    click(qtbot, wizard, NEXT)
    fill_order(qtbot, wizard, "170 cm", "70 kg")
    click(qtbot, wizard, NEXT)

    def fill():
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "dobCorrectionDialog":
            QTimer.singleShot(20, fill)
            return
        dialog.pharmacist.setCurrentText("Phil Pharm")
        qtbot.keyClicks(dialog.pin, PIN["Phil Pharm"])
        dialog.reason.setText("registration had the wrong day")
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(20, fill)
    click(qtbot, wizard, COMMIT)
    assert wizard.preparation is not None and wizard.preparation.patient.date_of_birth.isoformat() == "1970-03-05"
    assert any(e.action == "patient.dob_corrected" and e.actor == "Phil Pharm" for e in service.audit_entries())


def test_cycle_and_day_do_not_change_from_stray_typing_or_the_wheel(qtbot, service, technician):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent

    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard)
    click(qtbot, wizard, NEXT)
    page = wizard.currentPage()
    for combo in (page.cycle, page.day):
        before = combo.currentText()
        combo.setFocus()
        qtbot.keyClicks(combo, "2815")
        qtbot.keyClick(combo, Qt.Key.Key_Down)
        wheel = QWheelEvent(
            QPointF(5, 5),
            QPointF(5, 5),
            QPoint(0, -120),
            QPoint(0, -120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(combo, wheel)
        assert combo.currentText() == before


def test_a_small_childs_dose_page_shows_the_syringe_path(qtbot, service, technician):
    from PySide6.QtWidgets import QLabel

    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard, dob="2022-05-01")  # 3 years old
    click(qtbot, wizard, NEXT)
    fill_order(qtbot, wizard, "90 cm", "12 kg")
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.DOSE
    page = wizard.currentPage()
    shown = " ".join(label.text() for label in page.findChildren(QLabel) if label.isVisible())
    # 0.55 m² x 0.8 mg/m² = 0.44 mg = 1.76 mL (drawn in two 1 mL syringes: the 3 mL syringe's 1.8 mL is +2.3%),
    # diluted to 5 mL (4.5 mL is no mark of the 10 mL syringe holding it; 0.088 mg/mL), 5 mL over the hour
    assert "in a SYRINGE, by syringe pump at 5 mL/hour" in shown
    assert "1.76 mL in 2 syringes: 1 mL (the 1 mL syringe, drawn full) + 0.76 mL (the 1 mL syringe, 0.01 mL marks)" in shown
    assert wizard.button(COMMIT).isEnabled()


def test_the_dose_page_reads_the_syringe_saline_on_the_draw_syringes_marks(qtbot, service, technician):
    """Review: 80 cm / 10 kg Day 1 read 'about 2.6 mL' on screen; the 3 mL syringe that draws it reads 2.5 mL."""
    from PySide6.QtWidgets import QLabel

    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard, dob="2022-05-01")
    click(qtbot, wizard, NEXT)
    fill_order(qtbot, wizard, "80 cm", "10 kg")
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.DOSE
    shown = " ".join(label.text() for label in wizard.currentPage().findChildren(QLabel) if label.isVisible())
    assert "4 mL mark (about 2.5 mL)" in shown and "2.6 mL" not in shown


def test_the_dilution_page_of_a_syringe_dose_mixes_the_syringe_not_a_bag(qtbot, service, technician, make_preparation):
    """The syringe path's dilution page said 'Gently invert the bag to mix': the bag's instruction
    (dilution.mixing) for a dose with no bag; the sheet said the syringe's (syringe.mixing)."""
    from datetime import date

    from infusion_app.domain.dosing import DoseOrder
    from infusion_app.domain.records import Patient

    prep_id = make_preparation(Patient("Kid, Amy", "MRN-K1", date(2022, 5, 1)), DoseOrder("90 cm", "12 kg", 1, 1), steps=("reconstituted",))
    assert service.get(prep_id).order.calculation.container == "syringe"
    wizard = open_wizard(qtbot, service, technician, prep_id)
    assert wizard.currentId() == bw.DRAW
    tick(qtbot, find(wizard, QCheckBox, "drawConfirm"))
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.DILUTE
    shown = wizard.currentPage().instructions.text()
    assert "to the 5 mL mark" in shown and "Gently invert the syringe to mix" in shown and "bag" not in shown, shown


def test_the_labs_time_asks_for_the_oldest_sample_in_the_sites_window_and_shows_no_stale_date(qtbot, service, technician, pharmacist, make_preparation):
    """The order verification's one 'Taken at (the sample's time)' judged every lab by it, so a
    morning CBC's time passed liver tests days old; its hint was a fixed date ('e.g. 2026-11-27 09:00')
    that the 72 h window itself refuses a week on, in grey in the field like a value."""
    import re

    service.set_setting("lab_max_age_hours", 48, pharmacist)
    prep_id = make_preparation()
    wizard = open_wizard(qtbot, service, technician, prep_id)
    assert wizard.currentId() == bw.RECONSTITUTE
    page = wizard.currentPage()
    assert page.labs_box.isVisible() and "within 48 h" in page.labs_box.title()
    label = page.labs_box.layout().itemAtPosition(0, 0).widget()
    assert label.buddy() is page.labs_taken and "oldest sample" in label.text()
    assert not re.search(r"\d{4}-\d{2}-\d{2}", page.labs_taken.placeholderText()), page.labs_taken.placeholderText()
    assert "oldest" in page.labs_taken.toolTip() and "48 h" in page.labs_taken.toolTip()


def test_the_baseline_ecg_and_electrolytes_keep_their_own_time_at_the_order_verification(qtbot, service, technician, clock, make_preparation):
    """The bench had one time for every lab: a baseline ECG days older than this morning's CBC was
    recorded as taken with the CBC (the command has --baseline-taken; the bench had no field)."""
    prep_id = make_preparation()
    wizard = open_wizard(qtbot, service, technician, prep_id)
    page = wizard.currentPage()
    assert wizard.currentId() == bw.RECONSTITUTE
    cbc_at, baseline_at = clock.now() - timedelta(hours=2), clock.now() - timedelta(days=5)
    fill_order_labs(qtbot, page, taken=cbc_at)
    type_into(qtbot, find(wizard, QLineEdit, "labBaselineTaken"), baseline_at.astimezone().strftime("%Y-%m-%d %H:%M"))
    page.order_pharmacist.setCurrentText("Paula Pharm")
    type_into(qtbot, page.order_pin, PIN["Paula Pharm"])
    click(qtbot, wizard, COMMIT)
    labs = service.get(prep_id).last(EventType.ORDER_VERIFIED).details["labs"]
    assert labs["cbc"]["taken_at"] == labs["liver"]["taken_at"] == cbc_at.isoformat()
    assert labs["ecg"]["taken_at"] == labs["electrolytes"]["taken_at"] == baseline_at.isoformat()


def test_a_wizard_tick_rereads_its_preparation_only_when_it_changed(qtbot, service, technician, clock, monkeypatch, make_preparation):
    """Issue 19: the deadline and the refrigerator strip follow the change feed, as the board does."""
    from infusion_app.domain.formatting import format_countdown

    from .test_chair import count_reads

    prep_id = make_preparation(steps=("reconstituted",))
    wizard = open_wizard(qtbot, service, technician, prep_id)
    assert wizard.currentId() == bw.DRAW
    wizard.repaint_deadline()
    reads = count_reads(monkeypatch, service)
    page = wizard.currentPage()
    for _ in range(3):
        clock.advance(seconds=5)
        wizard.repaint_deadline()
    assert reads == []
    deadline = service.status(prep_id).next_deadline
    assert page.countdown.text() == format_countdown((deadline.at - clock.now()).total_seconds())

    # The vials put in the refrigerator elsewhere: read once, and its deadlines followed.
    service.record_event(prep_id, EventType.RECONSTITUTED_TO_FRIDGE, technician)
    reads.clear()
    wizard.repaint_deadline()
    wizard.repaint_deadline()
    assert reads.count(prep_id) == 1
    deadline = service.status(prep_id).next_deadline
    assert page.deadline_label.text().startswith(deadline.label)
    assert page.countdown.text() == format_countdown((deadline.at - clock.now()).total_seconds())


def test_the_dose_page_names_the_labs_to_check_when_no_course_is_on_file(qtbot, service, technician):
    """Review: with no course there was no lab check at all; the dose page now says which labs the
    verifying pharmacist checks (the monograph's, in the site's window), as prep new and the sheet do."""
    from PySide6.QtWidgets import QLabel

    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard)
    click(qtbot, wizard, NEXT)
    fill_order(qtbot, wizard, "170 cm", "70 kg")
    click(qtbot, wizard, NEXT)
    assert wizard.currentId() == bw.DOSE
    shown = " ".join(label.text() for label in wizard.currentPage().findChildren(QLabel) if label.isVisible())
    assert "labs needed at order verification (no course on file): the pharmacist verifying the order records CBC" in shown
