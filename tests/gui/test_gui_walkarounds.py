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


@pytest.mark.parametrize("typed", ["9999-12-31", "99991231", "9999-12-31 23:59"])
def test_a_typed_vial_expiry_past_the_calendar_is_refused_and_the_board_still_reads(qtbot, service, technician, typed):
    """'9999-12-31' typed in the bench's Expiry field was stored; every status then overflowed working
    out the end of its last day of use, so the wizard, the board (every preparation) and prep show failed."""
    wizard = _to_vials(qtbot, service, technician)
    qtbot.keyClicks(find(wizard, QLineEdit, "vialLot"), "LOT9")
    qtbot.keyClicks(find(wizard, QLineEdit, "vialExpiry"), typed)
    box = find(wizard, QCheckBox, "vialProductConfirmed")
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    qtbot.mouseClick(find(wizard, QPushButton, "addTypedVial"), Qt.MouseButton.LeftButton)
    page = wizard.currentPage()
    assert page.error.isVisible() and page.error.text().startswith("Expiry") and "out of range" in page.error.text() and "e.g." in page.error.text(), (
        page.error.text()
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
