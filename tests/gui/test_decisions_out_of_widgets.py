"""Issue 17: decisions leave the widgets. The wizard finds a patient by the service's indexed
lookup; it stores only the calculation it showed; which deadline alarms, at which priority, and
the board's order are the domain's (domain/urgency.py)."""

from __future__ import annotations

from tests.drugs import BESPONSA

from datetime import datetime, timedelta, timezone

import pytest

from infusion_app.domain.deadlines import Deadline, DeadlineState
from infusion_app.domain.dosing import DoseOrder
from infusion_app.domain.formatting import format_dose
from infusion_app.domain.urgency import HIGH, MEDIUM, alarm_priority, alarming, shown_state, urgency_key
from infusion_app.gui import bench_wizard as bw

from .conftest import PATIENT
from .test_bench_wizard import COMMIT, click, open_wizard, type_into, until_dose


def test_the_wizard_finds_a_known_patient_without_reading_every_preparation(qtbot, service, technician, make_preparation, monkeypatch):
    make_preparation(steps=())
    monkeypatch.setattr(service, "list_preparations", lambda *a, **k: pytest.fail("the wizard read every preparation"))
    wizard = open_wizard(qtbot, service, technician)
    page = wizard.currentPage()
    type_into(qtbot, page.mrn, PATIENT.mrn.lower(), enter=True)
    assert page.name.text() == PATIENT.name and page.name.isReadOnly()
    assert wizard.currentId() == bw.ORDER


def test_a_dose_that_changed_after_it_was_shown_is_not_stored_and_the_new_one_is_shown(qtbot, service, technician, pharmacist):
    wizard = open_wizard(qtbot, service, technician)
    until_dose(qtbot, wizard, height="170 cm", weight="70 kg")
    shown = wizard.calculation
    # Another station changes the draw syringes meanwhile: drawn to 0.5 mL marks, the dose differs.
    service.set_setting("draw_syringes", "10:0.5", pharmacist)
    now = service.calculate(DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1), monograph=BESPONSA)
    assert now.dose_mg != shown.dose_mg
    click(qtbot, wizard, COMMIT)
    page = wizard.currentPage()
    assert wizard.currentId() == bw.DOSE and service.list_active() == []
    assert "changed since it was shown" in page.refusal.text()
    assert format_dose(now.dose_mg) in page.value_labels["dose"].text()
    click(qtbot, wizard, COMMIT)  # checked again: stored as shown
    [stored] = service.list_active()
    assert (stored.prep.order.calculation.dose_mg, stored.prep.order.calculation.withdraw_ml) == (now.dose_mg, now.withdraw_ml)
    assert wizard.calculation == stored.prep.order.calculation  # the pages after it read the stored one


def _deadline(key: str, state: DeadlineState, hard: bool = True, minutes: int = 10) -> Deadline:
    at = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc) + timedelta(minutes=minutes)
    return Deadline(key=key, label=key, at=at, state=state, met_at=None, basis="", hard=hard)


def test_which_deadline_alarms_and_at_which_priority():
    due, warning = _deadline("start_infusion_by", DeadlineState.DUE), _deadline("dilute_by", DeadlineState.WARNING)
    reached = _deadline("observe_until", DeadlineState.DUE, hard=False)
    assert alarming([due, warning, reached]) == [due, warning]  # a minimum reached is no alarm
    assert alarming([due, warning], frozenset({("start_infusion_by", "due")})) == [warning]
    assert (alarm_priority("expired"), alarm_priority("due"), alarm_priority("warning"), alarm_priority("ok")) == (HIGH, HIGH, MEDIUM, None)
    assert shown_state(reached) == "reached" and shown_state(None) == "none"


def test_the_board_order_is_state_first_then_the_sooner_deadline():
    at = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
    keys = [
        urgency_key("warning", at, "A"),
        urgency_key("expired", at + timedelta(hours=1), "B"),
        urgency_key("ok", at, "C"),
        urgency_key("warning", at - timedelta(minutes=1), "D"),
        urgency_key("none", None, "E"),
    ]
    assert [k[2] for k in sorted(keys)] == ["B", "D", "A", "C", "E"]
