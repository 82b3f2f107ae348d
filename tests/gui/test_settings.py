"""Settings and first run, through the real dialogs and a real service on tmp_path."""

from __future__ import annotations

from tests.drugs import BESPONSA

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt

from infusion_app.domain.clock import FakeClock
from infusion_app.domain.records import Role
from infusion_app.gui.first_run import FirstRunDialog
from infusion_app.gui.settings import SettingsDialog

from .conftest import START


def click(qtbot, button):
    assert button.isEnabled(), button.objectName()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def retype(qtbot, edit, text):
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(edit, text)


@pytest.fixture
def settings_dialog(qtbot, service, pharmacist):
    dialog = SettingsDialog(service, pharmacist)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_a_pharmacist_adds_a_user_who_can_then_sign_in(qtbot, settings_dialog, service):
    dialog = settings_dialog
    qtbot.keyClicks(dialog.new_name, "Nina Newnurse")
    dialog.new_role.setCurrentIndex(dialog.new_role.findData(Role.NURSE))
    qtbot.keyClicks(dialog.new_pin, "987654")
    qtbot.keyClicks(dialog.new_pin_again, "987654")
    click(qtbot, dialog.add_button)

    assert service.authenticate("Nina Newnurse", "987654").role is Role.NURSE
    names = [dialog.users_table.item(r, 0).text() for r in range(dialog.users_table.rowCount())]
    assert "Nina Newnurse" in names
    assert dialog.selected_user().name == "Nina Newnurse"
    assert "Added Nina Newnurse" in dialog.users_message.text()
    assert dialog.new_pin.text() == ""  # a PIN never lingers in a field


def test_two_different_pins_or_a_bad_pin_add_nobody(qtbot, settings_dialog, service):
    dialog = settings_dialog
    qtbot.keyClicks(dialog.new_name, "Tom Typo")
    qtbot.keyClicks(dialog.new_pin, "123456")
    qtbot.keyClicks(dialog.new_pin_again, "123465")
    qtbot.keyClick(dialog.new_pin_again, Qt.Key.Key_Return)
    assert "differ" in dialog.users_message.text()
    assert service.user("Tom Typo") is None

    retype(qtbot, dialog.new_pin, "12")
    qtbot.keyClicks(dialog.new_pin_again, "12")
    click(qtbot, dialog.add_button)
    assert dialog.users_message.text().startswith("PIN:")
    assert "6 to 12 digits" in dialog.users_message.text()  # the site's minimum (default 6)
    assert service.user("Tom Typo") is None


def test_deactivate_and_reactivate_a_user(qtbot, settings_dialog, service):
    dialog = settings_dialog
    dialog.load_users(select="Tess Tech")
    click(qtbot, dialog.toggle_active_button)
    assert not service.user("Tess Tech").active
    assert "Reactivate" in dialog.toggle_active_button.text()
    click(qtbot, dialog.toggle_active_button)
    assert service.user("Tess Tech").active

    dialog.load_users(select="Phil Pharm")  # the signed-in pharmacist
    click(qtbot, dialog.toggle_active_button)
    assert service.user("Phil Pharm").active
    assert "yourself" in dialog.users_message.text()


def test_sizes_lead_time_and_weight_thresholds_are_saved(qtbot, settings_dialog, service):
    dialog = settings_dialog
    dialog.paper_size.setCurrentIndex(dialog.paper_size.findData("a4"))
    dialog.label_size.setCurrentIndex(dialog.label_size.findData("4x3in"))
    retype(qtbot, dialog.numbers["warning_lead_minutes"].edit, "45")
    retype(qtbot, dialog.numbers["weight_change_percent_child"].edit, "7.5")
    click(qtbot, dialog.save_button)

    stored = service.settings()
    assert (stored.paper_size, stored.label_size) == ("a4", "4x3in")
    assert stored.warning_lead_time == timedelta(minutes=45)
    assert stored.policy.weight_change_percent_child == 7.5
    assert dialog.message.text().startswith("Saved:")


def test_a_lead_time_out_of_range_is_named_and_nothing_is_saved(qtbot, settings_dialog, service):
    dialog = settings_dialog
    before = service.settings().as_dict()
    dialog.paper_size.setCurrentIndex(dialog.paper_size.findData("a4"))
    field = dialog.numbers["warning_lead_minutes"]
    dialog.tabs.setCurrentIndex(2)
    retype(qtbot, field.edit, "0")
    qtbot.keyClick(field.edit, Qt.Key.Key_Return)
    assert field.message.isVisible()
    assert "1 to 240 minutes" in field.message.text()

    click(qtbot, dialog.save_button)
    assert service.settings().as_dict() == before
    assert dialog.message.text().startswith("Nothing saved")


def test_a_nurse_sees_settings_read_only(qtbot, service, nurse):
    dialog = SettingsDialog(service, nurse)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.role_note.isVisible()
    assert not dialog.save_button.isEnabled()
    assert not dialog.add_group.isEnabled()
    assert dialog.numbers["warning_lead_minutes"].edit.isReadOnly()


def test_first_run_creates_the_first_pharmacist(qtbot, tmp_path):
    from infusion_app.service import open_service

    with open_service(data_dir=tmp_path / "fresh", clock=FakeClock(START)) as service:
        assert not service.has_users()
        dialog = FirstRunDialog(service)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.keyClicks(dialog.name, "Fiona First")
        qtbot.keyClicks(dialog.pin, "246802")
        qtbot.keyClicks(dialog.pin_again, "246892")
        click(qtbot, dialog.create_button)
        assert "differ" in dialog.message.text()
        assert not service.has_users()

        qtbot.keyClicks(dialog.pin_again, "246802")
        with qtbot.waitSignal(dialog.accepted, timeout=2000):
            click(qtbot, dialog.create_button)
        assert dialog.created is not None
        user = service.authenticate("Fiona First", "246802")
        assert user.role is Role.PHARMACIST and user.active


def test_first_run_refuses_an_empty_name(qtbot, tmp_path):
    from infusion_app.service import open_service

    with open_service(data_dir=tmp_path / "fresh", clock=FakeClock(START)) as service:
        dialog = FirstRunDialog(service)
        qtbot.addWidget(dialog)
        qtbot.keyClicks(dialog.pin, "246802")
        qtbot.keyClicks(dialog.pin_again, "246802")
        click(qtbot, dialog.create_button)
        assert dialog.message.text().startswith("Name:")
        assert not service.has_users()
        assert dialog.result() != dialog.DialogCode.Accepted


def test_enter_in_a_field_never_presses_another_button(qtbot, settings_dialog, service):
    dialog = settings_dialog
    dialog.load_users(select="Tess Tech")
    qtbot.keyClicks(dialog.new_name, "Ned Enter")
    qtbot.keyClick(dialog.new_name, Qt.Key.Key_Return)
    assert service.user("Tess Tech").active
    assert service.user("Ned Enter") is None


def test_no_settings_text_is_cut_off(qtbot, service, pharmacist, nurse):
    from .test_chair import cut_off_texts

    for user in (pharmacist, nurse):
        dialog = SettingsDialog(service, user)
        qtbot.addWidget(dialog)
        dialog.show()
        for index in range(dialog.tabs.count()):
            dialog.tabs.setCurrentIndex(index)
            assert cut_off_texts(dialog) == [], (user.role.value, dialog.tabs.tabText(index))


def test_no_first_run_text_is_cut_off(qtbot, tmp_path):
    from infusion_app.service import open_service

    from .test_chair import cut_off_texts

    with open_service(data_dir=tmp_path / "fresh", clock=FakeClock(START)) as service:
        dialog = FirstRunDialog(service)
        qtbot.addWidget(dialog)
        dialog.show()
        click(qtbot, dialog.create_button)  # shows the longest message: the name is missing
        assert cut_off_texts(dialog) == []


def test_the_label_and_sheet_queues_are_saved_and_a_bad_name_is_refused(qtbot, settings_dialog, service):
    dialog = settings_dialog
    dialog.label_queue.setCurrentText("labels-bench-1")
    dialog.sheet_queue.setCurrentText("office-a4")
    click(qtbot, dialog.save_button)
    stored = service.settings()
    assert (stored.label_queue, stored.sheet_queue) == ("labels-bench-1", "office-a4")
    dialog.label_queue.setCurrentText("bad name/with slash")
    click(qtbot, dialog.save_button)
    assert service.settings().label_queue == "labels-bench-1"
    assert "not a print queue name" in dialog.message.text()


def test_the_draw_syringes_and_the_labs_window_are_edited_and_drive_the_dose(qtbot, settings_dialog, service):
    from infusion_app.domain.dosing import DoseOrder

    dialog = settings_dialog
    field = dialog.numbers["draw_syringes"]
    assert field.edit.text() == "1:0.01, 3:0.1, 10:0.2, 20:1"
    retype(qtbot, field.edit, "10:0.3")
    qtbot.keyClick(field.edit, Qt.Key.Key_Return)
    assert "is not a whole number of 0.3 mL marks" in field.message.text()
    retype(qtbot, field.edit, "10 : 0.5, 1:0.01")
    retype(qtbot, dialog.numbers["lab_max_age_hours"].edit, "48")
    click(qtbot, dialog.save_button)
    assert dialog.message.text().startswith("Saved:")
    policy = service.settings().policy
    assert [(s.capacity_ml, s.graduation_ml) for s in policy.draw_syringes] == [(1, 0.01), (10, 0.5)]
    assert policy.lab_max_age_hours == 48
    assert field.edit.text() == "1:0.01, 10:0.5"
    # 1.82 m² x 0.8 mg/m² = 1.46 mg = 5.84 mL: the 10 mL syringe's 0.5 mL marks give 6 mL (1.5 mg, +2.7%),
    # beyond the 1% draw tolerance: 5.5 mL on the 10 mL syringe and 0.34 mL on the 1 mL syringe.
    calc = service.calculate(DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1), monograph=BESPONSA)
    assert calc.withdraw_ml == 5.84 and calc.dose_mg == 1.46
    assert [(p["volume_ml"], p["syringe_ml"]) for p in calc.draw_parts] == [(5.5, 10.0), (0.34, 1.0)]
    # A site that accepts 3% draws it on the one syringe.
    tolerance = dialog.numbers["draw_tolerance_percent"]
    assert tolerance.edit.text() == "1"
    retype(qtbot, tolerance.edit, "7")
    click(qtbot, dialog.save_button)
    assert "must be 0 to 5 percent" in (tolerance.message.text() + dialog.message.text())
    retype(qtbot, tolerance.edit, "3")
    click(qtbot, dialog.save_button)
    assert service.settings().policy.draw_tolerance_percent == 3.0
    calc = service.calculate(DoseOrder(height="170 cm", weight="70 kg", cycle=1, day=1), monograph=BESPONSA)
    assert calc.withdraw_ml == 6.0 and calc.dose_mg == 1.5 and len(calc.draw_parts) == 1


def test_two_stations_editing_one_setting_the_second_is_told_who_changed_it_and_nothing_is_overwritten(qtbot, service, data_dir, clock, pharmacist):
    """Issue 14: the dialog passes the version it showed (expected=); a field it left alone is
    never written back over another station's newer value."""
    from infusion_app.service import open_service

    other_station = open_service(data_dir=data_dir, clock=clock, station="ward")
    try:
        here = SettingsDialog(service, pharmacist)
        there = SettingsDialog(other_station, other_station.user("Paula Pharm"))
        for dialog in (here, there):
            qtbot.addWidget(dialog)
            dialog.show()
        here.paper_size.setCurrentIndex(here.paper_size.findData("a4"))
        retype(qtbot, here.numbers["warning_lead_minutes"].edit, "45")
        click(qtbot, here.save_button)
        assert here.message.text().startswith("Saved:")
        clock.advance(minutes=1)

        retype(qtbot, there.numbers["warning_lead_minutes"].edit, "20")
        click(qtbot, there.save_button)
        assert "changed by Phil Pharm at 2026-01-15T09:00:00Z; reload" in there.message.text()
        stored = service.settings()
        assert stored.warning_lead_time == timedelta(minutes=45) and stored.paper_size == "a4"

        click(qtbot, there.reload_button)
        assert there.numbers["warning_lead_minutes"].edit.text() == "45" and there.paper_size.currentData() == "a4"
        retype(qtbot, there.numbers["weight_change_percent_child"].edit, "7.5")  # paper size untouched here
        click(qtbot, there.save_button)
        assert there.message.text().startswith("Saved:")
        retype(qtbot, there.numbers["warning_lead_minutes"].edit, "30")  # its own saved change is not "another's"
        click(qtbot, there.save_button)
        assert there.message.text().startswith("Saved:"), there.message.text()
        stored = service.settings()
        assert stored.paper_size == "a4" and stored.warning_lead_time == timedelta(minutes=30)
        assert stored.policy.weight_change_percent_child == 7.5
    finally:
        other_station.close()
