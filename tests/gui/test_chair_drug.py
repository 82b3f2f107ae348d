"""Issue 17: the chair gives a bag by its own drug's monograph and calculation (pump rate, infusion
time, filter, premedication classes, observation), not by the site's default drug."""

from __future__ import annotations

from datetime import timedelta

from infusion_app.domain.administration import administration_of, course_link
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.formatting import format_amount
from infusion_app.domain.records import EventType
from tests.drugs import BESPONSA, MYLOTARG
from tests.prep_helpers import checked, verify_order

from .conftest import BENCH_STEPS, PATIENT, VIAL
from .test_chair import click, confirm, cut_off_texts, kinds, scan

FRACTIONATED = MYLOTARG.with_regimen("fractionated")
MYLOTARG_PREMEDS = {
    "antipyretic": ("acetaminophen", "650 mg"),
    "antihistamine": ("diphenhydramine", "50 mg"),
    "corticosteroid": ("methylprednisolone", "70 mg"),
}


def dispensed_mylotarg(service, order=DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1)) -> str:
    tech = service.user("Tess Tech")
    status = service.create_preparation(PATIENT, order, tech, monograph=FRACTIONATED)
    for _ in range(status.prep.order.calculation.vials):
        service.add_vial(status.id, VIAL, tech, product_confirmed=True)
    for kind, who, details in BENCH_STEPS.values():
        if kind == EventType.RECONSTITUTED:
            verify_order(service, status.id)
        if kind == EventType.VERIFIED:
            details = checked(service, status.id)
        service.record_event(status.id, kind, service.user(who), details=dict(details))
    return status.id


def test_a_mylotarg_bag_is_given_by_its_own_monograph(qtbot, chair, service, clock):
    prep_id = dispensed_mylotarg(service)
    calc = service.get(prep_id).order.calculation
    scan(qtbot, chair, prep_id)
    assert chair.stack.currentWidget() is chair.confirm_page
    assert MYLOTARG.brand_name in chair.bag_label.text() and "fractionated" in chair.bag_label.text()
    confirm(qtbot, chair)
    # The premedication rows are the drug's own classes and lists.
    assert list(chair.premed_rows) == [str(c) for c in MYLOTARG.items("premedication.classes")]
    for drug_class, (drug, dose) in MYLOTARG_PREMEDS.items():
        row = chair.premed_rows[drug_class]
        qtbot.keyClicks(row.drug, drug)
        qtbot.keyClicks(row.dose, dose)
    click(qtbot, chair.premed_button)
    assert chair.stack.currentWidget() is chair.start_page, chair.premed_message.text()

    # The pump: the calculation's rate for its bag over the monograph's 2 hours, not another drug's rate.
    assert calc.container == "bag" and calc.infusion_rate_ml_per_hour == 27.3  # issue 16: 54.5 mL (the whole 50 mL bag + 4.5 mL) over 2 hours
    rate = chair.rate_label.text()
    assert format_amount(calc.infusion_rate_ml_per_hour, "mL/h") in rate and "2 h" in rate
    assert format_amount(BESPONSA.magnitude("infusion.rate", "mL/hour"), "mL/h") not in rate
    notes = chair.start_notes.text()
    assert notes.splitlines()[0] == "GIVE THROUGH AN IN-LINE FILTER: " + MYLOTARG.items("dilution.filters_allowed")[0] + "."
    assert MYLOTARG.text("infusion.line") in notes
    assert cut_off_texts(chair) == []
    click(qtbot, chair.start_button)
    assert chair.stack.currentWidget() is chair.infusing_page
    assert format_amount(calc.infusion_rate_ml_per_hour, "mL/h") in chair.infusing_info.text()

    # The planned end is 2 h after the start (MYLOTARG's), so ending at 2 h asks for no reason.
    started = service.get(prep_id).last(EventType.INFUSION_STARTED).at
    assert chair.planned_end() == started + timedelta(hours=2)
    clock.advance(hours=2)
    click(qtbot, chair.end_button)
    assert chair.stack.currentWidget() is chair.observing_page, chair.end_message.text()
    assert "4 h" in chair.observing_info.text()
    clock.advance(hours=4)
    click(qtbot, chair.observe_button)
    assert chair.stack.currentWidget() is chair.done_page
    assert "No treatment course" in chair.course_message.text()
    assert kinds(service, prep_id)[-1] == EventType.OBSERVATION_ENDED


def test_administration_reads_the_preparations_own_calculation_and_monograph(service):
    prep = service.get(dispensed_mylotarg(service, DoseOrder(height="120 cm", weight="25 kg", cycle=1, day=1)))
    given = administration_of(prep, service.monograph_of(prep))
    calc = prep.order.calculation
    # A small dose goes by syringe: the syringe's own rate, volume and the drug's filter.
    assert (given.container, given.volume_ml, given.rate_ml_per_hour) == ("syringe", calc.final_volume_ml, calc.infusion_rate_ml_per_hour)
    assert given.duration == timedelta(hours=2) and given.observation == timedelta(hours=4)
    assert given.filter_required and given.filters == tuple(MYLOTARG.items("dilution.filters_allowed"))


def test_the_course_link_says_when_the_course_on_file_is_another_drugs(service):
    import dataclasses

    from infusion_app.service.course import CourseService

    prep = service.get(dispensed_mylotarg(service))
    assert course_link(prep, None).state == "not started"
    courses = CourseService(service)
    courses.new_course(PATIENT.mrn, False, service.user("Phil Pharm"), monograph=BESPONSA)
    course = courses.course(PATIENT.mrn)
    last = prep.events[-1]
    started = dataclasses.replace(prep, events=[*prep.events, dataclasses.replace(last, type=EventType.INFUSION_STARTED)])
    assert course.monograph_id == BESPONSA.id
    assert course_link(started, course).state == "other drug"
    assert course_link(started, None).state == "no course"


def test_the_board_names_each_bags_drug(service, make_preparation):
    from infusion_app.gui.board import BoardPresenter

    mylotarg, besponsa = dispensed_mylotarg(service), make_preparation(steps=())
    rows, _alarms = BoardPresenter(service).read()
    shown = {row.preparation_id: row.dose_text for row in rows}
    assert shown[mylotarg].startswith(MYLOTARG.brand_name) and shown[besponsa].startswith(BESPONSA.brand_name)
