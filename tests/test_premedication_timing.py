"""The label's premedication timing per drug, from its monograph (reviewer M10): MYLOTARG's
methylprednisolone counts only within 30 minutes before the start, its acetaminophen and
diphenhydramine within 1 hour; BESPONSA's label gives no time, so the site's window applies."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from infusion_app.domain.dosing import DoseOrder, PreparationOrder, calculate_dose
from infusion_app.domain.preparation import premedication_window_for
from infusion_app.domain.records import EventType
from tests.drugs import BESPONSA, MYLOTARG
from tests.test_preparation_rules import NINA, PAUL, POLICY, PREMED_DETAILS, R, TINA, Ward

FRACTIONATED = MYLOTARG.with_regimen("fractionated")


def _ward(monograph):
    order = DoseOrder("170 cm", "70 kg", 1, 1)
    calc = calculate_dose(order, monograph, POLICY)
    ward = Ward(order=PreparationOrder(order, calc, None, monograph.regimen.id if monograph.regimen else None), mono=monograph)
    ward.prep = dataclasses.replace(ward.prep, monograph_id=monograph.id, monograph_revision=monograph.revision)
    ward.dilute()
    ward.record(
        EventType.VERIFIED,
        PAUL,
        R + timedelta(minutes=40),
        entered={"mrn": "MRN0001", "height": "170 cm", "weight": "70 kg", "dose_mg": str(calc.dose_mg), "volume_ml": str(calc.withdraw_ml)},
    )
    ward.record(EventType.LABELLED, TINA, R + timedelta(minutes=45))
    ward.record(EventType.DISPENSED, TINA, R + timedelta(minutes=50))
    return ward


def test_the_window_of_each_class_comes_from_the_drugs_data():
    assert premedication_window_for("corticosteroid", MYLOTARG, POLICY)[0] == timedelta(minutes=30)
    assert premedication_window_for("antipyretic", MYLOTARG, POLICY)[0] == timedelta(hours=1)
    assert premedication_window_for("antihistamine", MYLOTARG, POLICY)[0] == timedelta(hours=1)
    for drug_class in ("corticosteroid", "antipyretic", "antihistamine"):
        assert premedication_window_for(drug_class, BESPONSA, POLICY) == (POLICY.premedication_window, "site policy")


def test_mylotarg_methylprednisolone_40_minutes_before_does_not_count_for_the_start():
    ward = _ward(FRACTIONATED)
    given = R + timedelta(minutes=55)
    ward.record(EventType.PREMEDICATION, NINA, given, drug_class="corticosteroid", drug="methylprednisolone", dose="70 mg")
    for drug_class in ("antipyretic", "antihistamine"):
        ward.record(EventType.PREMEDICATION, NINA, given, drug_class=drug_class, **PREMED_DETAILS[drug_class])
    ward.record(EventType.PATIENT_CONFIRMED, NINA, given)
    late = ward.refused(EventType.INFUSION_STARTED, NINA, given + timedelta(minutes=40))
    assert late.code == "premedication_window" and "corticosteroid more than 30 min before" in late.message
    assert "methylprednisolone 1 mg/kg within 30 min before" in late.message and "antipyretic" not in late.message
    ward.check(EventType.INFUSION_STARTED, NINA, given + timedelta(minutes=30))  # within the label's 30 minutes


def test_a_mylotarg_premedication_entered_too_long_ago_is_refused_with_the_labels_words():
    ward = _ward(FRACTIONATED)
    ward.clock.set(R + timedelta(minutes=100))
    refusal = ward.refused(EventType.PREMEDICATION, NINA, R + timedelta(minutes=55), drug_class="corticosteroid", drug="methylprednisolone", dose="70 mg")
    assert refusal.code == "premedication_window" and "within 30 min before the start" in refusal.message and "label" in refusal.message


def test_besponsa_keeps_the_sites_window():
    ward = _ward(BESPONSA)
    given = R + timedelta(minutes=55)
    for drug_class in ("corticosteroid", "antipyretic", "antihistamine"):
        ward.record(EventType.PREMEDICATION, NINA, given, drug_class=drug_class, **PREMED_DETAILS[drug_class])
    ward.record(EventType.PATIENT_CONFIRMED, NINA, given)
    ward.check(EventType.INFUSION_STARTED, NINA, given + timedelta(minutes=90))
