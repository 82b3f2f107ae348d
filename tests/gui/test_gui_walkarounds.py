"""Safety rules walked around from the GUI (review of 2026-12-03), each driven through the real widgets."""

from __future__ import annotations

from datetime import date

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QLineEdit, QPushButton

from infusion_app.domain.errors import ValidationError
from infusion_app.domain.records import VialRecord
from infusion_app.gui import bench_wizard as bw

from .test_bench_wizard import COMMIT, click, find, open_wizard, until_dose


def _to_vials(qtbot, service, user):
    wizard = open_wizard(qtbot, service, user)
    until_dose(qtbot, wizard, height="170 cm", weight="70 kg")
    click(qtbot, wizard, COMMIT)
    assert wizard.currentId() == bw.VIALS
    return wizard


def test_a_typed_vial_expiry_past_the_calendar_is_refused_and_the_board_still_reads(qtbot, service, technician):
    """'9999-12-31' typed in the bench's Expiry field was stored; every status then overflowed working
    out the end of its last day of use, so the wizard, the board (every preparation) and prep show failed."""
    wizard = _to_vials(qtbot, service, technician)
    page = wizard.currentPage()
    box = find(wizard, QCheckBox, "vialProductConfirmed")
    for typed in ("9999-12-31", "99991231", "9999-12-31 23:59"):
        for name, text in (("vialLot", "LOT9"), ("vialExpiry", typed)):
            find(wizard, QLineEdit, name).clear()
            qtbot.keyClicks(find(wizard, QLineEdit, name), text)
        if not box.isChecked():
            qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
        qtbot.mouseClick(find(wizard, QPushButton, "addTypedVial"), Qt.MouseButton.LeftButton)
        assert page.error.isVisible() and page.error.text().startswith("Expiry") and "out of range" in page.error.text() and "e.g." in page.error.text(), (
            typed,
            page.error.text(),
        )
        [status] = service.list_active()  # the board still reads every preparation
        assert status.prep.vials == []


def test_the_service_refuses_a_vial_expiry_outside_the_calendar_for_every_client(service, technician, make_preparation):
    prep_id = make_preparation()
    before = len(service.get(prep_id).vials)
    with pytest.raises(ValidationError) as refused:
        service.add_vial(prep_id, VialRecord(lot="LOT9", expiry=date(9999, 12, 31)), technician, product_confirmed=True)
    assert refused.value.field == "expiry"
    assert len(service.status(prep_id).prep.vials) == before


def _infusing(qtbot, chair, clock, make_preparation):
    """A bag confirmed, premedicated and started (stored as the chair stores them), open at the chair."""
    from infusion_app.domain.records import EventType

    from .test_chair import DISPENSED, PREMEDS, scan

    service, nurse = chair.service, chair.user
    prep_id = make_preparation(steps=DISPENSED)
    patient = service.get(prep_id).patient
    service.record_event(prep_id, EventType.PATIENT_CONFIRMED, nurse, details={"name": patient.name, "mrn": patient.mrn})
    for drug_class, (drug, dose) in PREMEDS.items():
        service.record_event(prep_id, EventType.PREMEDICATION, nurse, details={"drug_class": drug_class, "drug": drug, "dose": dose})
    clock.advance(minutes=30)
    service.record_event(prep_id, EventType.INFUSION_STARTED, nurse)
    scan(qtbot, chair, prep_id)
    assert chair.stack.currentWidget() is chair.infusing_page
    return prep_id


def test_an_infusion_that_ended_after_its_end_limit_is_recorded_at_the_chair_as_a_deviation(qtbot, chair, service, clock, make_preparation):
    """The chair said 'record it as a deviation with its reason' and had no field for it: the end of an
    infusion that ran past its end-by (paused, restarted) could not be recorded, and the bag stayed
    'infusing' for ever, with no observation and no administration message."""
    from infusion_app.domain.records import EventType

    from .test_chair import click

    prep_id = _infusing(qtbot, chair, clock, make_preparation)
    end_by = {d.key: d for d in service.status(prep_id).deadlines}["end_infusion_by"].at
    clock.advance(seconds=(end_by - clock.now()).total_seconds() + 600)
    click(qtbot, chair.end_button)
    assert service.get(prep_id).last(EventType.INFUSION_ENDED) is None
    reason = chair.findChild(QLineEdit, "deviationReason_infusion-ended")
    assert reason.isVisible() and "Type the reason for the deviation" in chair.end_message.text()
    qtbot.keyClicks(reason, "pump paused 40 min for a reaction, then restarted")
    click(qtbot, chair.end_button)
    prep = service.get(prep_id)
    ended, deviation = prep.events[-2], prep.events[-1]
    assert ended.type is EventType.INFUSION_ENDED and deviation.type is EventType.DEVIATION
    assert deviation.details["reason"] == "pump paused 40 min for a reaction, then restarted"
    assert chair.stack.currentWidget() is chair.observing_page and not reason.isVisible()


def test_an_observation_ended_early_is_recorded_only_as_a_deviation_with_its_reason(qtbot, chair, service, clock, make_preparation):
    from infusion_app.domain.records import EventType

    from .test_chair import click

    prep_id = _infusing(qtbot, chair, clock, make_preparation)
    clock.advance(minutes=60)
    click(qtbot, chair.end_button)
    clock.advance(minutes=20)
    click(qtbot, chair.observe_button)  # the patient leaves 20 min into the hour
    assert service.get(prep_id).last(EventType.OBSERVATION_ENDED) is None
    reason = chair.findChild(QLineEdit, "deviationReason_observation-ended")
    assert reason.isVisible()
    qtbot.keyClicks(reason, "ok")  # too short: refused, naming the field
    click(qtbot, chair.observe_button)
    assert service.get(prep_id).last(EventType.OBSERVATION_ENDED) is None and "Reason for the deviation" in chair.observe_message.text()
    qtbot.keyClicks(reason, ": patient left against advice, told the signs to report")
    qtbot.keyClick(reason, Qt.Key.Key_Return)
    prep = service.get(prep_id)
    assert [e.type for e in prep.events[-2:]] == [EventType.OBSERVATION_ENDED, EventType.DEVIATION]
    assert chair.stack.currentWidget() is chair.done_page


def test_a_mylotarg_course_offers_only_the_findings_its_data_has_a_rule_for_and_none_crashes(qtbot, service, pharmacist):
    """The course tab's 'apply a dose-modification rule' offered BESPONSA's findings for a MYLOTARG course:
    liver tests, blood counts, VOD/SOS, other toxicity and an infusion reaction each raised an unhandled
    DataFileError (MYLOTARG's data holds only the interruption rule); Save did nothing visible."""
    from infusion_app.gui.course_view import CourseView
    from infusion_app.service.course import CourseService
    from tests.drugs import MYLOTARG

    from .test_course_view import show

    courses = CourseService(service)
    courses.new_course("MRN4004", False, pharmacist, monograph=MYLOTARG, regimen="fractionated")
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    show(qtbot, view, "MRN4004")
    forms = view.forms
    view.tabs.setCurrentWidget(view.forms_page)
    forms.select("assess")
    kinds = forms.fields["assess"]["kind"]
    offered = {kinds.itemData(row) for row in range(kinds.count()) if kinds.model().item(row).isEnabled()}
    assert offered == {"interruption", "overdue"} and kinds.currentData() in offered
    # Chosen all the same (as a stale form or a script would): refused naming the finding, nothing stored.
    kinds.setCurrentIndex(kinds.findData("liver"))
    for name, value in (("bilirubin_x_uln", "3.1"), ("ast_alt_x_uln", "1")):
        forms.fields["assess"][name].clear()
        qtbot.keyClicks(forms.fields["assess"][name], value)
    qtbot.mouseClick(forms.record_button, Qt.MouseButton.LeftButton)
    assert forms.message.text().startswith("Not recorded — Finding: MYLOTARG's data holds no dose-modification rule for liver tests")
    assert "a dose interruption" in forms.message.text()
    assert courses.course("MRN4004").advice == []


def test_switching_user_clears_what_the_previous_person_typed_in_the_course_tab(qtbot, service, pharmacist, nurse, monkeypatch):
    """The chair and open wizards forget the previous person's entries at a switch of user; the course tab
    kept its MRN and typed forms, and the next person's Save stored them under the new name."""
    from infusion_app.gui.main_window import MainWindow
    from infusion_app.service.course import CourseService
    from tests.drugs import BESPONSA

    from .test_course_view import show

    courses = CourseService(service)
    courses.new_course("MRN4005", False, pharmacist, monograph=BESPONSA)
    window = MainWindow(service, pharmacist, repaint_ms=60_000, sound=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    view = window.course
    window.tabs.setCurrentWidget(view)
    show(qtbot, view, "MRN4005")
    view.tabs.setCurrentWidget(view.forms_page)
    view.forms.select("weight")
    qtbot.keyClicks(view.forms.fields["weight"]["weight"], "45 kg")
    qtbot.keyClicks(view.forms.fields["weight"]["date"], "2026-01-14")
    view.forms.fields["weight"]["dosing"].setChecked(True)
    monkeypatch.setattr(MainWindow, "sign_in", staticmethod(lambda *a, **k: nurse))
    window.switch_action.trigger()
    assert view.user == nurse and view.mrn.currentText() == "" and view.status is None
    assert view.forms.fields["weight"]["weight"].text() == "" and not view.forms.fields["weight"]["dosing"].isChecked()
    qtbot.mouseClick(view.forms.record_button, Qt.MouseButton.LeftButton)
    assert "Patient MRN" in view.forms.message.text()
    assert not any(e.action == "course.weight_recorded" for e in service.audit_entries())


VIAL = "(01)00300080100011(17)280531(10)AB123(21)XYZ{serial}"


def test_a_vial_recorded_for_another_open_preparation_is_refused_at_the_scanner(qtbot, service, technician, make_preparation):
    """One single-dose vial (its GTIN and serial) was recorded for two patients' preparations: the double
    scan check looked only at the preparation being made."""
    from datetime import date

    from infusion_app.domain.records import Patient
    from tests.drugs import BESPONSA

    from .conftest import ORDER

    other = service.create_preparation(Patient("Carl Other", "MRN7", date(1971, 1, 1)), ORDER, technician, monograph=BESPONSA).id
    service.add_vial(other, VIAL.format(serial=1), technician)
    wizard = _to_vials(qtbot, service, technician)
    scan = find(wizard, QLineEdit, "vialScan")
    qtbot.keyClicks(scan, VIAL.format(serial=1))
    qtbot.keyClick(scan, Qt.Key.Key_Return)
    page = wizard.currentPage()
    assert page.error.isVisible() and f"recorded for preparation {other}" in page.error.text(), page.error.text()
    assert wizard.preparation.vials == [] and service.get(wizard.preparation.id).vials == []
    assert any(e.action == "near_miss" and "vial_used_elsewhere" in e.after for e in service.audit_entries())


def test_a_vial_refused_at_the_scanner_is_not_taken_typed_and_a_typed_serial_is_checked(qtbot, service, technician, make_preparation):
    """The bench's typed-vial form walked around the scanner's refusal: the same vial's lot and expiry,
    product confirmed, were recorded. Typed with its SN it is that vial; typed without, its lot is refused."""
    from datetime import date

    from infusion_app.domain.records import Patient
    from tests.drugs import BESPONSA

    from .conftest import ORDER

    other = service.create_preparation(Patient("Carl Other", "MRN7", date(1971, 1, 1)), ORDER, technician, monograph=BESPONSA).id
    service.add_vial(other, VIAL.format(serial=1), technician)
    wizard = _to_vials(qtbot, service, technician)
    page = wizard.currentPage()
    box = find(wizard, QCheckBox, "vialProductConfirmed")

    def type_vial(serial: str) -> None:
        for name, text in (("vialLot", "AB123"), ("vialExpiry", "2028-05-31"), ("vialSerial", serial)):
            field = find(wizard, QLineEdit, name)
            field.clear()
            qtbot.keyClicks(field, text)
        if not box.isChecked():
            qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
        qtbot.mouseClick(find(wizard, QPushButton, "addTypedVial"), Qt.MouseButton.LeftButton)

    type_vial("XYZ1")  # its serial from the carton: the vial the other preparation holds
    assert page.error.isVisible() and f"recorded for preparation {other}" in page.error.text(), page.error.text()
    scan = find(wizard, QLineEdit, "vialScan")
    qtbot.keyClicks(scan, VIAL.format(serial=1))
    qtbot.keyClick(scan, Qt.Key.Key_Return)
    assert f"recorded for preparation {other}" in page.error.text()
    type_vial("")  # the lot alone, after its scan was refused
    assert page.error.isVisible() and "a vial of lot AB123 was scanned for this preparation and refused" in page.error.text(), page.error.text()
    assert service.get(wizard.preparation.id).vials == []


def test_a_vial_reconstituted_for_a_discarded_preparation_stays_used_and_a_sealed_one_is_free_again(service, technician, pharmacist, make_preparation):
    from datetime import date

    from infusion_app.domain.preparation import StepRefused
    from infusion_app.domain.records import EventType, Patient
    from tests.drugs import BESPONSA

    from .conftest import ORDER

    def new(mrn: str) -> str:
        return service.create_preparation(Patient("Carl Other", mrn, date(1971, 1, 1)), ORDER, technician, monograph=BESPONSA).id

    opened = make_preparation(steps=("reconstituted",))  # its vials: typed, no serial
    sealed = new("MRN8")
    for serial in (2, 3):
        service.add_vial(sealed, VIAL.format(serial=serial), technician)
    service.record_event(sealed, EventType.DISCARDED, pharmacist, details={"reason": "order cancelled before reconstitution"})
    used = new("MRN9")
    service.add_vial(used, VIAL.format(serial=4), technician)
    service.add_vial(used, VIAL.format(serial=5), technician)
    from tests.prep_helpers import verify_order

    verify_order(service, used)
    service.record_event(used, EventType.RECONSTITUTED, technician)
    service.record_event(used, EventType.DISCARDED, pharmacist, details={"reason": "dropped the bag"})
    fresh = new("MRN10")
    service.add_vial(fresh, VIAL.format(serial=2), technician)  # sealed: its preparation was discarded before reconstitution
    with pytest.raises(StepRefused) as refused:
        service.add_vial(fresh, VIAL.format(serial=4), technician)
    assert refused.value.code == "vial_used_elsewhere" and f"reconstituted for preparation {used}" in refused.value.message
    assert [v.serial for v in service.get(fresh).vials] == ["XYZ2"] and opened


@pytest.fixture
def us_locale():
    """A workstation set to US English (short date M/d/yy), for this test only."""
    from PySide6.QtCore import QLocale

    before = QLocale()
    QLocale.setDefault(QLocale(QLocale.Language.English, QLocale.Country.UnitedStates))
    yield
    QLocale.setDefault(before)


def test_a_us_sites_typed_vial_expiry_is_read_in_its_own_order_never_guessed_day_first(qtbot, service, technician, us_locale):
    """On a US workstation '01/12/2026' (the 12th of January: expired on the clock's 15th) did not match the
    site's M/d/yy and was read day first, as the 1st of December: an expired vial recorded as in date."""
    wizard = _to_vials(qtbot, service, technician)
    page = wizard.currentPage()

    def typed(expiry: str) -> str:
        for name, text in (("vialLot", "LOTUS"), ("vialExpiry", expiry)):
            find(wizard, QLineEdit, name).clear()
            qtbot.keyClicks(find(wizard, QLineEdit, name), text)
        box = find(wizard, QCheckBox, "vialProductConfirmed")
        if not box.isChecked():
            qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
        qtbot.mouseClick(find(wizard, QPushButton, "addTypedVial"), Qt.MouseButton.LeftButton)
        return page.error.text() if page.error.isVisible() else ""

    assert "expired on 2026-01-12" in typed("01/12/2026")
    assert "two-digit year" in typed("6/30/27")  # Qt reads '27' as 1927
    assert typed("06/30/2027") == ""
    assert [v.expiry for v in service.get(wizard.preparation.id).vials] == [date(2027, 6, 30)]


def test_a_us_sites_wristband_date_of_birth_is_read_month_first_at_the_chair(qtbot, chair, service, make_preparation, us_locale):
    """The bag's patient was born on 1970-03-04; a wristband read '04/03/1970' on a US workstation is the
    3rd of April, another patient's date of birth, and was confirmed, read day first."""
    from infusion_app.domain.records import EventType

    from .conftest import PATIENT
    from .test_chair import DISPENSED, click, scan

    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    qtbot.keyClicks(chair.confirm_name, PATIENT.name)
    qtbot.keyClicks(chair.confirm_dob, "04/03/1970")
    click(qtbot, chair.confirm_button)
    assert service.get(prep_id).last(EventType.PATIENT_CONFIRMED) is None and "STOP" in chair.confirm_message.text()
    chair.confirm_dob.clear()
    qtbot.keyClicks(chair.confirm_dob, "3/4/70")
    click(qtbot, chair.confirm_button)
    assert "two-digit year" in chair.confirm_message.text() and service.get(prep_id).last(EventType.PATIENT_CONFIRMED) is None
    chair.confirm_dob.clear()
    qtbot.keyClicks(chair.confirm_dob, "03/04/1970")
    click(qtbot, chair.confirm_button)
    assert service.get(prep_id).last(EventType.PATIENT_CONFIRMED) is not None


def test_an_mrn_typed_in_another_case_finds_the_patients_course_at_the_bench(qtbot, service, technician, pharmacist):
    """The patient lookup matched an MRN whatever its case, the course lookup only as stored: 'mrn5005'
    typed (or scanned in lower case) for the course of MRN5005 passed as an order with no course on file,
    past the course's cycle, holds, reductions and limits."""
    from infusion_app.service.course import CourseService
    from tests.drugs import BESPONSA

    from .test_bench_wizard import fill_order, fill_patient

    courses = CourseService(service)
    courses.new_course("MRN5005", False, pharmacist, monograph=BESPONSA)  # no cycle started: no dose may be prepared
    wizard = open_wizard(qtbot, service, technician)
    fill_patient(qtbot, wizard, mrn="mrn5005")
    click(qtbot, wizard, bw.QWizard.WizardButton.NextButton)
    fill_order(qtbot, wizard, "170 cm", "70 kg")
    click(qtbot, wizard, bw.QWizard.WizardButton.NextButton)
    page = wizard.currentPage()
    assert wizard.currentId() == bw.ORDER and "cycle 1 has not been started in the course for MRN MRN5005" in page.refusal.text(), page.refusal.text()
    assert courses.course("Mrn5005").mrn == "MRN5005"
    with pytest.raises(ValidationError) as twice:  # one patient, one course, whatever the case typed
        courses.new_course("mrn5005", False, pharmacist, monograph=BESPONSA)
    assert twice.value.field == "mrn" and "already exists" in twice.value.message


def _lose_the_database(monkeypatch, service):
    """Reads refused at once, as the service refuses them while a lost server's retry is not due."""
    from infusion_app.domain.connection import NotLive

    def refused(*_args, **_kwargs):
        raise NotLive("the database server cannot be reached; nothing was stored or queued")

    for name in ("status", "get"):
        monkeypatch.setattr(service, name, refused)


def test_a_row_opened_or_a_bag_scanned_while_the_station_is_not_live_says_so(qtbot, service, technician, nurse, make_preparation, monkeypatch):
    """Enter on a board row and a bag scanned at the chair while the station had lost its database raised
    NotLive out of the slot: a traceback on stderr, nothing on the screen."""
    from infusion_app.gui.main_window import MainWindow

    from .test_chair import DISPENSED, scan

    bench_prep = make_preparation(steps=("reconstituted",))
    chair_prep = make_preparation(steps=DISPENSED)
    window = MainWindow(service, technician, repaint_ms=60_000, sound=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    _lose_the_database(monkeypatch, service)
    window.board.setFocus()
    window.board.selectRow(next(r for r, row in enumerate(window.board.board_model.rows()) if row.preparation_id == bench_prep))
    qtbot.keyClick(window.board, Qt.Key.Key_Return)
    assert window._wizards == [] and window.stale_label.isVisible() and "cannot be reached" in window.stale_label.text()
    window.user = nurse
    window._show_user()
    window.tabs.setCurrentWidget(window.chair)
    scan(qtbot, window.chair, chair_prep)
    assert "cannot be reached" in window.chair.scan_message.text() and window.chair.prep is None


def test_a_premedication_dose_with_a_superscript_is_refused_not_raised_to_a_power(service, nurse, make_preparation):
    """pint reads '10² mg' as 10 squared: 100 mg of dexamethasone (and '3² mg' as 9 mg, inside the plausible range)."""
    from infusion_app.domain.records import EventType

    from .test_chair import DISPENSED

    prep_id = make_preparation(steps=DISPENSED)
    with pytest.raises(ValidationError) as refused:
        service.record_event(prep_id, EventType.PREMEDICATION, nurse, details={"drug_class": "corticosteroid", "drug": "dexamethasone", "dose": "3² mg"})
    assert refused.value.field == "dose" and "not a digit" in refused.value.message


def test_the_dose_page_says_the_patients_course_on_file_is_the_other_drugs(qtbot, service, technician, pharmacist):
    """A BESPONSA order for a patient whose course on file is MYLOTARG's (look-alike, sound-alike conjugates)
    showed only 'no course on file' on the dose page; the service's flag naming the other drug's course
    reached the sheet and prep new, not the screen the preparer commits on."""
    from PySide6.QtWidgets import QLabel

    from infusion_app.service.course import CourseService
    from tests.drugs import MYLOTARG

    courses = CourseService(service)
    courses.new_course("MRN2002", False, pharmacist, monograph=MYLOTARG, regimen="fractionated")
    wizard = open_wizard(qtbot, service, technician)
    until_dose(qtbot, wizard, height="170 cm", weight="70 kg")  # fill_patient's MRN2002, BESPONSA picked
    shown = " ".join(label.text() for label in wizard.currentPage().findChildren(QLabel) if label.isVisible())
    assert "the course on file is MYLOTARG's" in shown, shown


def test_a_scanned_bag_that_keeps_the_focus_on_the_scan_field_opens_with_no_error(qtbot, chair, clock, make_preparation):
    """The scanner's Enter reached the chair too (a plain line edit passes it on): where the bag's page
    keeps the focus on the scan field (infusing, observing), the bag opened, then the emptied field was
    read again and 'Preparation id: scan the bag's code or type its id.' showed in red."""
    prep_id = _infusing(qtbot, chair, clock, make_preparation)
    assert chair.scan_message.text() == f"Bag {prep_id} open." and chair.scan_message.property("role") != "error"


def test_the_chairs_countdown_takes_the_end_of_infusion_limits_colour_once_it_is_due(qtbot, chair, service, clock, make_preparation):
    """The infusing countdown watches the bag's expected end: past it, yellow, and it stayed yellow past
    the label's end-of-infusion limit, where the board shows red."""
    prep_id = _infusing(qtbot, chair, clock, make_preparation)
    end_by = {d.key: d for d in service.status(prep_id).deadlines}["end_infusion_by"].at
    clock.advance(minutes=90)
    chair.repaint_countdown()
    assert chair.countdown.state == "warning"  # past the expected end, well inside the limit
    clock.advance(seconds=(end_by - clock.now()).total_seconds() + 60)
    chair.repaint_countdown()
    assert chair.countdown.state == "expired"
