"""The chair: the nurse's whole flow, driven through the real widgets with the fake clock."""

from __future__ import annotations

from tests.drugs import BESPONSA

from datetime import date, timedelta

import pytest
from PySide6.QtCore import Qt

from infusion_app.domain.formatting import format_countdown
from infusion_app.domain.records import EventType
from infusion_app.domain.identity import identifier_mismatches
from infusion_app.gui.chair import ChairPage

from .conftest import PATIENT

DISPENSED = ("reconstituted", "diluted", "verified", "labelled", "dispensed")
PREMEDS = {
    "corticosteroid": ("dexamethasone", "10 mg"),
    "antipyretic": ("acetaminophen", "650 mg"),
    "antihistamine": ("diphenhydramine", "25 mg"),
}


def cut_off_texts(root) -> list[str]:
    """Visible labels and buttons whose text does not fit the space they were given."""
    from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel

    QApplication.processEvents()  # let pending layout requests run, as they would before a paint
    found = []
    for widget in root.findChildren(QLabel) + root.findChildren(QAbstractButton):
        if not widget.isVisible() or not widget.text():
            continue
        if isinstance(widget, QLabel) and widget.wordWrap():
            if widget.heightForWidth(widget.width()) > widget.height() + 1:
                found.append(f"{widget.objectName() or widget.text()[:30]}: needs more height")
        elif widget.sizeHint().width() > widget.width() + 1 or widget.minimumSizeHint().height() > widget.height() + 1:
            found.append(f"{widget.objectName() or widget.text()[:30]}: {widget.sizeHint().width()} > {widget.width()} px")
    return found


def click(qtbot, button):
    assert button.isVisible() and button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def scan(qtbot, chair, prep_id):
    chair.scan_field.clear()
    qtbot.keyClicks(chair.scan_field, prep_id)
    qtbot.keyClick(chair.scan_field, Qt.Key.Key_Return)


def confirm(qtbot, chair, name=PATIENT.name, dob=PATIENT.date_of_birth):
    if name.isascii():
        qtbot.keyClicks(chair.confirm_name, name)
    else:  # QTest can only type ASCII; an accented name arrives as a keyboard's input method would put it
        chair.confirm_name.insert(name)
    chair.confirm_dob.setFocus()
    chair.confirm_dob.clear()
    qtbot.keyClicks(chair.confirm_dob, dob.isoformat())
    click(qtbot, chair.confirm_button)


def premedicate(qtbot, chair, classes=tuple(PREMEDS)):
    for drug_class in classes:
        row = chair.premed_rows[drug_class]
        drug, dose = PREMEDS[drug_class]
        qtbot.keyClicks(row.drug, drug)
        qtbot.keyClicks(row.dose, dose)
    click(qtbot, chair.premed_button)


def kinds(service, prep_id):
    return [e.type for e in service.get(prep_id).events]


def test_the_whole_chair_flow(qtbot, chair, service, clock, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id.lower())  # a scanner or a hurried hand may send lower case
    assert chair.stack.currentWidget() is chair.confirm_page
    assert PATIENT.name not in chair.patient_label.text()  # not shown before both identifiers are entered
    assert chair.deadline_caption.text().startswith(service.status(prep_id).next_deadline.label)

    confirm(qtbot, chair)
    assert chair.stack.currentWidget() is chair.premed_page
    assert PATIENT.name in chair.patient_label.text()
    assert EventType.PATIENT_CONFIRMED in kinds(service, prep_id)

    clock.advance(minutes=5)
    premedicate(qtbot, chair)
    assert chair.stack.currentWidget() is chair.start_page
    given = {e.details["drug_class"]: e.details for e in service.get(prep_id).events_of(EventType.PREMEDICATION)}
    assert {c: (d["drug"], d["dose"]) for c, d in given.items()} == PREMEDS
    assert "50 mL/h" in chair.rate_label.text()

    clock.advance(minutes=30)
    click(qtbot, chair.start_button)
    assert chair.stack.currentWidget() is chair.infusing_page
    started = service.get(prep_id).last(EventType.INFUSION_STARTED)
    assert started.at == clock.now() and started.user == "Nora Nurse"

    # While infusing the big countdown is the bag's expected end (start + planned time), with the
    # elapsed time beside it, repainted by the timer; the label limit is in the text, not the countdown.
    clock.advance(minutes=10)
    chair.repaint_timer.timeout.emit()
    assert chair.countdown.text() == format_countdown(50 * 60)
    assert "Expected end" in chair.deadline_caption.text() and "Elapsed 0:10:00" in chair.deadline_caption.text()
    assert "ended by" in chair.infusing_info.text()

    clock.advance(minutes=50)
    click(qtbot, chair.end_button)
    assert chair.stack.currentWidget() is chair.observing_page
    observe = service.status(prep_id).next_deadline
    assert observe.at == clock.now() + timedelta(hours=1)
    assert chair.countdown.text() == "1:00:00"

    # Observation cannot end early: the domain refuses, the page says why and stays.
    clock.advance(minutes=20)
    click(qtbot, chair.observe_button)
    assert chair.stack.currentWidget() is chair.observing_page
    assert chair.observe_message.text()
    assert EventType.OBSERVATION_ENDED not in kinds(service, prep_id)

    clock.advance(minutes=40)
    click(qtbot, chair.observe_button)
    assert chair.stack.currentWidget() is chair.done_page
    assert kinds(service, prep_id)[-3:] == [
        EventType.INFUSION_STARTED,
        EventType.INFUSION_ENDED,
        EventType.OBSERVATION_ENDED,
    ]
    click(qtbot, chair.next_bag_button)
    assert chair.stack.currentWidget() is chair.scan_page


def test_infusion_start_is_refused_after_start_by(qtbot, chair, service, clock, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    start_by = {d.key: d for d in service.status(prep_id).deadlines}["start_infusion_by"].at
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    premedicate(qtbot, chair)
    clock.set(start_by + timedelta(minutes=1))
    chair.repaint_timer.timeout.emit()
    assert chair.countdown.text().startswith("-")
    assert chair.countdown.state == "expired"

    click(qtbot, chair.start_button)

    assert chair.stack.currentWidget() is chair.start_page
    assert EventType.INFUSION_STARTED not in kinds(service, prep_id)
    refusal = chair.start_message.text()
    assert refusal and chair.start_message.property("role") == "hardstop"
    assert "start" in refusal.lower()


def test_a_patient_mismatch_blocks_and_records_nothing(qtbot, chair, service, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)

    confirm(qtbot, chair, name="Ada Byron")
    assert chair.stack.currentWidget() is chair.confirm_page
    assert "full name does not match" in chair.confirm_message.text()
    assert PATIENT.name not in chair.confirm_message.text()

    chair.confirm_name.clear()
    confirm(qtbot, chair, dob=date(1970, 4, 3))
    assert "date of birth does not match" in chair.confirm_message.text()

    chair.confirm_name.clear()
    qtbot.mouseClick(chair.use_mrn, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(chair.confirm_name, PATIENT.name)
    qtbot.keyClicks(chair.confirm_mrn, "MRN1002")
    qtbot.keyClick(chair.confirm_mrn, Qt.Key.Key_Return)  # a wristband scanner ends with Enter
    assert "MRN does not match" in chair.confirm_message.text()
    assert chair.stack.currentWidget() is chair.confirm_page
    assert EventType.PATIENT_CONFIRMED not in kinds(service, prep_id)

    chair.confirm_mrn.clear()
    qtbot.keyClicks(chair.confirm_mrn, PATIENT.mrn.lower())
    qtbot.keyClick(chair.confirm_mrn, Qt.Key.Key_Return)
    assert chair.stack.currentWidget() is chair.premed_page
    assert service.get(prep_id).last(EventType.PATIENT_CONFIRMED).details["mrn"] == PATIENT.mrn.lower()


def test_missing_premedication_blocks_the_start(qtbot, chair, service, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)

    premedicate(qtbot, chair, classes=("corticosteroid", "antipyretic"))

    assert chair.stack.currentWidget() is chair.premed_page
    assert not chair.start_button.isVisible()
    assert "antihistamine" in chair.premed_message.text()
    assert chair.premed_rows["antihistamine"].drug.hasFocus()
    assert not chair.premed_rows["corticosteroid"].drug.isEnabled()  # recorded rows are locked
    assert len(service.get(prep_id).events_of(EventType.PREMEDICATION)) == 2
    assert service.status(prep_id).current_step == "premedicate"

    premedicate(qtbot, chair, classes=("antihistamine",))
    assert chair.stack.currentWidget() is chair.start_page


def test_a_premedication_dose_is_in_mg_and_a_volume_is_refused_on_its_row(qtbot, chair, service, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    row = chair.premed_rows["antipyretic"]
    qtbot.keyClicks(row.drug, "acetaminophen")
    assert "accepted 80 mg to 1,000 mg" in row.hint.text() or "accepted 80 mg to 1000 mg" in row.hint.text()
    qtbot.keyClicks(row.dose, "10 mL")
    click(qtbot, chair.premed_button)
    assert row.status.text().startswith("Dose:")
    assert service.get(prep_id).events_of(EventType.PREMEDICATION) == []
    row.dose.clear()
    qtbot.keyClicks(row.dose, "650")  # the field is in mg
    click(qtbot, chair.premed_button)
    assert [e.details["dose"] for e in service.get(prep_id).events_of(EventType.PREMEDICATION)] == ["650 mg"]


def test_a_bag_not_yet_dispensed_or_unknown_is_not_opened(qtbot, chair, make_preparation):
    prep_id = make_preparation(steps=("reconstituted", "diluted"))
    scan(qtbot, chair, prep_id)
    assert chair.stack.currentWidget() is chair.scan_page
    assert "not ready for the chair" in chair.scan_message.text()

    scan(qtbot, chair, "")
    assert chair.scan_message.text().startswith("Preparation id")
    scan(qtbot, chair, "no such bag!")
    assert chair.stack.currentWidget() is chair.scan_page
    assert chair.scan_message.property("role") == "error"


def test_reopening_a_bag_lands_on_its_stored_step(qtbot, service, nurse, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    first = ChairPage(service, nurse)
    qtbot.addWidget(first)
    first.show()
    scan(qtbot, first, prep_id)
    confirm(qtbot, first)
    premedicate(qtbot, first)
    click(qtbot, first.start_button)

    again = ChairPage(service, nurse)
    qtbot.addWidget(again)
    again.open_preparation(prep_id)
    assert again.stack.currentWidget() is again.infusing_page


def test_identifier_matching_ignores_case_spacing_and_accents_only():
    assert identifier_mismatches(PATIENT, "  ada   LOVELACE ", PATIENT.date_of_birth, None) == []
    assert identifier_mismatches(PATIENT, "Ada Lovelace", None, " mrn1001 ") == []
    assert identifier_mismatches(PATIENT, "Ada Lovelac", PATIENT.date_of_birth, None) == ["full name does not match the bag"]
    assert identifier_mismatches(PATIENT, "", None, None) == [
        "full name: enter the name the patient states",
        "second identifier: enter the date of birth or the MRN",
    ]


def test_a_late_start_is_refused_and_offers_no_override(qtbot, service, nurse, clock, make_preparation):
    chair = ChairPage(service, nurse, ask_override=lambda *a: pytest.fail("no override for a label limit"))
    qtbot.addWidget(chair)
    chair.show()
    prep_id = make_preparation(steps=DISPENSED)
    start_by = {d.key: d for d in service.status(prep_id).deadlines}["start_infusion_by"].at
    clock.set(start_by + timedelta(minutes=5))  # the patient arrives late
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    premedicate(qtbot, chair)
    click(qtbot, chair.start_button)
    assert not chair.override_buttons[EventType.INFUSION_STARTED].isVisible()
    assert (
        "start_infusion_by" in chair.start_message.text()
        or "Start infusion by" in chair.start_message.text()
        or "start infusion by" in chair.start_message.text()
    )
    assert "discard and prepare again" in chair.start_message.text()
    assert EventType.INFUSION_STARTED not in kinds(service, prep_id)
    assert EventType.OVERRIDE not in kinds(service, prep_id)


def test_missing_premedication_offers_no_override(qtbot, service, nurse, make_preparation):
    chair = ChairPage(service, nurse, ask_override=lambda *a: pytest.fail("no override for a missing premedication"))
    qtbot.addWidget(chair)
    chair.show()
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    premedicate(qtbot, chair, classes=("corticosteroid",))
    # Whatever the page shows, the service refuses a start without every class, and no override is offered.
    chair._run_step(EventType.INFUSION_STARTED, chair.start_message)
    assert "Premedication not recorded" in chair.start_message.text()
    assert not chair.override_buttons[EventType.INFUSION_STARTED].isVisibleTo(chair)
    assert EventType.INFUSION_STARTED not in kinds(service, prep_id)


def test_the_chair_works_from_the_keyboard_alone(qtbot, chair, service, clock, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    chair.activateWindow()
    scan(qtbot, chair, prep_id)

    qtbot.keyClicks(chair.confirm_name, PATIENT.name)
    qtbot.keyClick(chair.confirm_name, Qt.Key.Key_Return)
    assert chair.confirm_dob.hasFocus()
    dob = chair.confirm_dob
    assert dob.text() == ""  # empty until typed, never 1970-01-01
    qtbot.keyClicks(dob, PATIENT.date_of_birth.strftime("%Y%m%d"))
    qtbot.keyClick(dob, Qt.Key.Key_Return)
    assert chair.confirm_button.hasFocus()
    qtbot.keyClick(chair.confirm_button, Qt.Key.Key_Return)
    assert chair.stack.currentWidget() is chair.premed_page

    for drug_class, (drug, dose) in PREMEDS.items():
        row = chair.premed_rows[drug_class]
        assert row.drug.hasFocus()
        qtbot.keyClicks(row.drug, drug)
        qtbot.keyClick(row.drug, Qt.Key.Key_Return)
        assert row.dose.hasFocus()
        qtbot.keyClicks(row.dose, dose)
        qtbot.keyClick(row.dose, Qt.Key.Key_Return)
    assert chair.stack.currentWidget() is chair.start_page
    assert chair.start_button.hasFocus()
    qtbot.keyClick(chair.start_button, Qt.Key.Key_Return)
    assert chair.stack.currentWidget() is chair.infusing_page
    clock.advance(hours=1)
    assert not chair.end_button.hasFocus() and chair.scan_field.hasFocus()
    qtbot.keyClick(chair.end_button, Qt.Key.Key_Return)  # Enter never ends an infusion
    assert chair.stack.currentWidget() is chair.infusing_page
    click(qtbot, chair.end_button)
    assert chair.stack.currentWidget() is chair.observing_page
    assert EventType.INFUSION_ENDED in kinds(service, prep_id)


def test_the_dose_given_is_recorded_in_the_patients_course(qtbot, chair, service, pharmacist, nurse, clock, make_preparation):
    from infusion_app.service.course import CourseService

    courses = CourseService(service)
    courses.new_course(PATIENT.mrn, False, pharmacist, monograph=BESPONSA)
    courses.record_blasts(PATIENT.mrn, 5000, clock.now().date(), nurse)
    courses.start_cycle(PATIENT.mrn, clock.now().date(), pharmacist)
    from tests.lab_helpers import CHECKLIST, NORMAL

    for kind in ("cbc", "liver", "ecg", "electrolytes"):
        courses.record_lab(PATIENT.mrn, kind, NORMAL[kind], None, nurse)
    courses.complete_checklist(PATIENT.mrn, CHECKLIST, pharmacist)
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    premedicate(qtbot, chair)
    click(qtbot, chair.start_button)
    clock.advance(hours=1)
    click(qtbot, chair.end_button)
    clock.advance(hours=1)
    click(qtbot, chair.observe_button)
    assert chair.stack.currentWidget() is chair.done_page
    assert "does not yet show cycle 1 Day 1" in chair.course_message.text()
    assert chair.course_button.hasFocus()

    qtbot.keyClick(chair.course_button, Qt.Key.Key_Return)

    given = courses.course(PATIENT.mrn).doses
    assert [(d.cycle, d.day, d.given_on, d.preparation_id) for d in given] == [(1, 1, clock.now().astimezone().date(), prep_id)]
    assert "shows cycle 1 Day 1 as given" in chair.course_message.text()
    assert not chair.course_button.isVisible()


def test_no_chair_page_cuts_text_off_at_1280_by_800(qtbot, chair, service, clock, make_preparation):
    from infusion_app.domain.records import Patient

    long_name = Patient("María-José Fernández de la Cruz-Villanueva Oyarzábal", "MRN9988776655", date(1958, 7, 21))
    prep_id = make_preparation(patient=long_name, steps=DISPENSED)
    seen = {}
    seen["scan"] = cut_off_texts(chair)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair, name="wrong name", dob=long_name.date_of_birth)  # the long STOP message
    seen["confirm"] = cut_off_texts(chair)
    chair.confirm_name.clear()
    confirm(qtbot, chair, name=long_name.name, dob=long_name.date_of_birth)
    premedicate(qtbot, chair, classes=("corticosteroid",))
    seen["premedication"] = cut_off_texts(chair)
    premedicate(qtbot, chair, classes=("antipyretic", "antihistamine"))
    clock.advance(hours=9)
    click(qtbot, chair.start_button)  # the long refusal
    seen["start refused"] = cut_off_texts(chair)
    assert {page: found for page, found in seen.items() if found} == {}


def test_a_scan_while_infusing_opens_the_other_bag_and_never_ends_the_infusion(qtbot, chair, service, clock, make_preparation):
    first = make_preparation(steps=DISPENSED)
    second = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, first)
    confirm(qtbot, chair)
    premedicate(qtbot, chair)
    click(qtbot, chair.start_button)
    assert chair.stack.currentWidget() is chair.infusing_page
    chair.end_button.setFocus()  # even with the button focused, a scanner's text and Enter go to the scan field
    qtbot.keyClicks(chair.end_button, second)
    qtbot.keyClick(chair.end_button, Qt.Key.Key_Return)
    assert EventType.INFUSION_ENDED not in kinds(service, first)
    assert chair.scan_field.isVisible()
    assert chair.prep.id == second and chair.stack.currentWidget() is chair.confirm_page
    scan(qtbot, chair, first)  # and back: the first bag is still infusing
    assert chair.stack.currentWidget() is chair.infusing_page


def test_ending_well_before_the_planned_end_asks_for_a_reason(qtbot, chair, service, clock, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    premedicate(qtbot, chair)
    click(qtbot, chair.start_button)
    clock.advance(minutes=20)
    click(qtbot, chair.end_button)
    assert EventType.INFUSION_ENDED not in kinds(service, prep_id)
    assert chair.early_reason.isVisible() and "reason" in chair.end_message.text()
    qtbot.keyClicks(chair.early_reason, "infusion reaction, stopped per physician")
    click(qtbot, chair.end_button)
    ended = service.get(prep_id).last(EventType.INFUSION_ENDED)
    assert ended is not None and ended.details["reason"] == "infusion reaction, stopped per physician"
    assert chair.stack.currentWidget() is chair.observing_page


def test_a_refrigerated_bag_is_taken_out_at_the_chair_and_warms_up_before_it_can_start(qtbot, chair, service, clock, make_preparation, technician):
    prep_id = make_preparation(steps=("reconstituted",))
    service.record_event(prep_id, EventType.DILUTED, technician, details={"storage": "fridge"})
    for step in ("verified", "labelled", "dispensed"):
        from .conftest import BENCH_STEPS

        kind, who, details = BENCH_STEPS[step]
        if kind == EventType.VERIFIED:
            from tests.prep_helpers import checked

            details = checked(service, prep_id)
        service.record_event(prep_id, kind, service.user(who), details=dict(details))
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    premedicate(qtbot, chair)
    assert chair.fridge.isVisible() and "in the refrigerator" in chair.fridge.state.text()
    click(qtbot, chair.start_button)  # refused: the bag is still in the refrigerator
    assert EventType.INFUSION_STARTED not in kinds(service, prep_id)
    click(qtbot, chair.fridge.out_button)
    assert EventType.BAG_FROM_FRIDGE in kinds(service, prep_id)
    warm = {d.key: d for d in service.status(prep_id).deadlines}["warm_until"]
    assert "Warming up" in chair.fridge.state.text() and format_countdown((warm.at - clock.now()).total_seconds()) in chair.fridge.state.text()
    click(qtbot, chair.start_button)  # still warming: refused
    assert EventType.INFUSION_STARTED not in kinds(service, prep_id)
    clock.advance(seconds=(warm.at - clock.now()).total_seconds() + 1)
    chair.repaint_timer.timeout.emit()
    assert "Warmed up" in chair.fridge.state.text()
    click(qtbot, chair.start_button)
    assert EventType.INFUSION_STARTED in kinds(service, prep_id)
    assert not chair.fridge.isVisible()


@pytest.mark.parametrize("said", ["Ada Lovelace", "Lovelace Ada", "LOVELACE, ADA", "lovelace,ada"])
def test_the_name_matches_whatever_its_order_and_punctuation(qtbot, chair, service, make_preparation, said):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair, name=said)
    assert chair.stack.currentWidget() is chair.premed_page, chair.confirm_message.text()


@pytest.mark.parametrize("said", ["Ada Lovelac", "Ada", "Ada Byron Lovelace"])
def test_a_different_name_is_still_refused_without_showing_the_stored_one(qtbot, chair, service, make_preparation, said):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair, name=said)
    assert chair.stack.currentWidget() is chair.confirm_page
    assert "Lovelace" not in chair.confirm_message.text() and "does not match" in chair.confirm_message.text()


def test_the_chair_accepts_the_short_id_without_its_prefix(qtbot, chair, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id.split("-")[1])
    assert chair.prep is not None and chair.prep.id == prep_id


def test_the_date_of_birth_starts_empty_and_a_bad_one_is_refused_by_its_label(qtbot, chair, service, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    assert chair.confirm_dob.text() == ""
    qtbot.keyClicks(chair.confirm_name, PATIENT.name)
    click(qtbot, chair.confirm_button)  # nothing typed: refused, never a default date
    assert chair.confirm_message.text().startswith("Date of birth") and chair.confirm_dob.hasFocus()
    qtbot.keyClicks(chair.confirm_dob, "31/02/1970")
    click(qtbot, chair.confirm_button)
    assert "is not a date" in chair.confirm_message.text()
    assert service.get(prep_id).last(EventType.PATIENT_CONFIRMED) is None


# -- a tick reads the open bag again only when it changed (issue 19) ----------------------------


def count_reads(monkeypatch, service) -> list[str]:
    """The preparations read from storage from now on, one entry per read."""
    reads: list[str] = []
    repository = service.repository
    one, several = repository.get_preparation, repository.get_preparations
    monkeypatch.setattr(repository, "get_preparation", lambda prep_id: (reads.append(prep_id), one(prep_id))[1])
    monkeypatch.setattr(repository, "get_preparations", lambda ids: (reads.extend(ids), several(ids))[1])
    return reads


def test_a_chair_tick_rereads_the_open_bag_only_when_it_changed(qtbot, chair, service, clock, monkeypatch, make_preparation):
    prep_id = make_preparation(steps=DISPENSED)
    scan(qtbot, chair, prep_id)
    confirm(qtbot, chair)
    chair.repaint_countdown()  # the first tick after a step of its own reads the bag once
    reads = count_reads(monkeypatch, service)
    shown = chair.countdown.text()
    for _ in range(3):
        clock.advance(seconds=5)
        chair.repaint_countdown()
    assert reads == []
    assert chair.countdown.text() != shown  # yet the countdown moved
    deadline = service.status(prep_id).next_deadline
    assert chair.countdown.text() == format_countdown((deadline.at - clock.now()).total_seconds())

    # Another workstation stores a step of this bag: the next tick reads it, once, and follows it.
    service.record_event(
        prep_id, EventType.PREMEDICATION, service.user("Nora Nurse"), details={"drug_class": "corticosteroid", "drug": "dexamethasone", "dose": "10 mg"}
    )
    reads.clear()
    chair.repaint_countdown()
    chair.repaint_countdown()
    assert reads.count(prep_id) == 1
    assert len(chair.prep.events) == len(service.get(prep_id).events)


def test_the_chair_counts_down_to_a_vial_expiry_before_the_label_limits(qtbot, chair, service, clock, make_preparation):
    """Reviewer: the start is refused at a vial's expiry, but the chair counted down to the label's start-by."""
    from infusion_app.domain.formatting import format_instant
    from infusion_app.domain.records import VialRecord

    expires = clock.now() + timedelta(minutes=90)
    soon = VialRecord(lot="LOTSOON", expiry=expires.date(), expires_at=expires)
    prep_id = make_preparation(steps=DISPENSED, first_vial=soon)
    scan(qtbot, chair, prep_id)
    assert chair.deadline_caption.text() == f"Start infusion by (vial expiry)\n{format_instant(expires)}", chair.deadline_caption.text()
    assert chair.countdown.text() == format_countdown(90 * 60)
