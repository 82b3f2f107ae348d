"""Issue 16: every premedication entry of a class within the window adds up, whatever it was recorded
as. Two different corticosteroids are added up as glucocorticoid equivalents (data:
resources/premedication/corticosteroid-equivalence.toml) against the most any one of them may be
alone (a child's per-kg cap); an entry recorded as "other" that no table converts cannot be added up
beside another of its class: refused, or recorded as a deviation with the nurse's reason."""

from __future__ import annotations

from datetime import date, timedelta

from infusion_app.domain.equivalence import equivalence_table
from infusion_app.domain.records import EventType
from tests.test_premedication_entries import _child_ward
from tests.test_preparation_rules import NINA, R, Ward

STEROID = "corticosteroid"


def test_the_equivalence_table_is_data_with_its_source_and_awaits_review():
    table = equivalence_table(STEROID)
    assert table is not None and table.reference == "prednisolone"
    ratios = {d.name: d.mg for d in table.drugs}
    assert (ratios["dexamethasone"], ratios["methylprednisolone"], ratios["prednisolone"], ratios["hydrocortisone"]) == (0.75, 4, 5, 20)
    assert all(d.verify and "equivalence" in d.source.lower() for d in table.drugs)
    assert equivalence_table("antipyretic") is None


def test_two_corticosteroids_for_a_child_add_up_as_equivalents_against_the_cap():
    """A 20 kg child: methylprednisolone 20 mg (the 1 mg/kg cap) and then dexamethasone 3 mg (the
    dexamethasone cap alone is 0.15 mg/kg = 3 mg): 20 + 16 = 36 mg methylprednisolone-equivalent,
    where either alone may be at most 20 mg methylprednisolone (25 mg prednisolone)."""
    child = _child_ward(20, date(2019, 5, 1))
    child.record(EventType.PREMEDICATION, NINA, R, drug_class=STEROID, drug="methylprednisolone", dose="20 mg")
    over = child.refused(EventType.PREMEDICATION, NINA, R + timedelta(minutes=10), drug_class=STEROID, drug="dexamethasone", dose="3 mg")
    assert over.code == "premedication_class_total_above_limit"
    assert "add up to 45 mg prednisolone-equivalent" in over.message
    assert "methylprednisolone 20 mg = 25 mg prednisolone; dexamethasone 3 mg = 20 mg prednisolone" in over.message
    assert "pending pharmacist review" in over.message
    # A small top-up that stays within the most of either alone is recorded.
    other = _child_ward(20, date(2019, 5, 1))
    other.record(EventType.PREMEDICATION, NINA, R, drug_class=STEROID, drug="methylprednisolone", dose="10 mg")
    other.record(EventType.PREMEDICATION, NINA, R + timedelta(minutes=10), drug_class=STEROID, drug="dexamethasone", dose="1 mg")


def test_an_adults_two_full_corticosteroid_doses_are_refused_but_one_each_way_is_not_added_twice():
    ward = Ward()
    ward.record(EventType.PREMEDICATION, NINA, R, drug_class=STEROID, drug="dexamethasone", dose="20 mg")
    over = ward.refused(EventType.PREMEDICATION, NINA, R + timedelta(minutes=5), drug_class=STEROID, drug="Solu-Medrol", dose="125 mg")
    assert over.code == "premedication_class_total_above_limit"
    # Outside the window the earlier one is not this dose's.
    ward.record(EventType.PREMEDICATION, NINA, R + timedelta(hours=2, minutes=30), drug_class=STEROID, drug="methylprednisolone", dose="100 mg")


def test_an_other_corticosteroid_in_the_table_is_counted_in_the_total():
    child = _child_ward(20, date(2019, 5, 1))
    child.record(EventType.PREMEDICATION, NINA, R, drug_class=STEROID, drug="methylprednisolone", dose="20 mg")
    over = child.refused(
        EventType.PREMEDICATION, NINA, R + timedelta(minutes=10), drug_class=STEROID, drug="betamethasone", dose="3 mg", other=True, dose_checked=True
    )
    assert over.code == "premedication_class_total_above_limit" and "betamethasone 3 mg = 20 mg prednisolone" in over.message


def test_an_other_drug_no_table_converts_beside_another_of_its_class_is_refused_or_recorded_as_a_deviation():
    ward = Ward()
    ward.record(EventType.PREMEDICATION, NINA, R, drug_class=STEROID, drug="dexamethasone", dose="10 mg")
    unknown = dict(drug_class=STEROID, drug="deflazacort", dose="30 mg", other=True, dose_checked=True)
    refused = ward.refused(EventType.PREMEDICATION, NINA, R + timedelta(minutes=5), **unknown)
    assert refused.code == "premedication_not_totalled" and refused.deviation_allowed
    assert "deflazacort is not on the list of corticosteroids nor in the corticosteroid equivalence table" in refused.message
    ward.deviation_reason = "ordered by the attending as an extra steroid"
    ward.record(EventType.PREMEDICATION, NINA, R + timedelta(minutes=5), **unknown)
    assert ward.prep.events[-1].type == EventType.DEVIATION and ward.prep.events[-1].details["rules"] == ["premedication_not_totalled"]
    ward.deviation_reason = None
    # Either order: a listed drug after the unconverted entry is refused too.
    again = ward.refused(EventType.PREMEDICATION, NINA, R + timedelta(minutes=20), drug_class=STEROID, drug="hydrocortisone", dose="50 mg")
    assert again.code == "premedication_not_totalled"


def test_the_same_unlisted_drug_twice_is_not_left_untotalled():
    ward = Ward()
    clemastine = dict(drug_class="antihistamine", drug="clemastine", other=True, dose_checked=True)
    ward.record(EventType.PREMEDICATION, NINA, R, dose="2 mg", **clemastine)
    refused = ward.refused(EventType.PREMEDICATION, NINA, R + timedelta(minutes=30), dose="2 mg", **clemastine)
    assert refused.code == "premedication_not_totalled" and "clemastine 2 mg at" in refused.message
    # Alone in its class an "other" entry is recorded as before (its dose checked against the order).
    alone = Ward()
    alone.record(EventType.PREMEDICATION, NINA, R, dose="2 mg", **clemastine)
