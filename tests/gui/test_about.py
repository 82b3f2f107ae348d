"""The About dialog shows what a pharmacist needs to trust the numbers, and closes."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QDialog

from infusion_app.domain.formatting import format_quantity
from infusion_app.domain.monograph import load_monograph, parse_monograph
from infusion_app.domain.quantities import Quantity
from infusion_app.domain.resources import load_toml
from infusion_app.gui.about import AboutDialog, fact_display
from infusion_app.gui.icons import APP_NAME, ICON_SIZES, application_icon

ROOT = Path(__file__).resolve().parents[2]


def pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def altered_monograph(pending_paths: set[str], revision: str, label_revision: str):
    """The shipped monograph with its revisions replaced and exactly `pending_paths` marked unverified."""
    raw = copy.deepcopy(load_toml("monographs/inotuzumab-ozogamicin.toml"))
    raw["meta"]["monograph_revision"] = revision
    raw["meta"]["label_revision"] = label_revision

    def mark(node, prefix=""):
        for key, child in node.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(child, dict) and "source" in child:
                child["verify"] = path in pending_paths
            elif isinstance(child, dict) and key not in ("meta", "sources", "dosing"):
                mark(child, path)

    mark(raw)
    return parse_monograph(raw)


@pytest.fixture
def open_dialog(qtbot):
    def make(monograph=None) -> AboutDialog:
        dialog = AboutDialog(monograph=monograph)
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        return dialog

    return make


def pick(qtbot, dialog, brand: str) -> None:
    """The drug picked at the dialog's head, as a user picks it."""
    from .test_bench_wizard_drug import choose

    choose(qtbot, dialog.drug_picker, brand)


def test_shows_program_version_monograph_and_label_revisions(open_dialog, qtbot):
    monograph = load_monograph("inotuzumab-ozogamicin")
    dialog = open_dialog()
    pick(qtbot, dialog, monograph.brand_name)
    assert dialog.version_label.text() == pyproject_version()
    assert monograph.revision in dialog.monograph_label.text()
    assert dialog.label_revision_label.text() == monograph.label_revision
    assert APP_NAME in dialog.windowTitle()


def test_lists_every_shipped_value_awaiting_verification_with_its_citation(open_dialog, qtbot):
    pending = load_monograph("inotuzumab-ozogamicin").pending_verification()
    assert pending, "the shipped monograph has unverified values; this test needs some to check"
    dialog = open_dialog()
    pick(qtbot, dialog, "BESPONSA")
    rows = dialog.pending_rows()
    assert [(path, citation) for path, _shown, citation in rows] == [(f.path, f.citation) for f in pending]
    assert str(len(pending)) in dialog.pending_heading.text()
    assert dialog.pending_table.isVisible()


def test_every_installed_drug_is_listed_and_each_shows_its_own_values(open_dialog, qtbot):
    from infusion_app.domain.monograph import installed_monographs

    dialog = open_dialog()
    assert [dialog.drug_picker.itemData(i) for i in range(dialog.drug_picker.count())] == [m.id for m in installed_monographs()]
    for monograph in installed_monographs():
        pick(qtbot, dialog, monograph.brand_name)
        assert monograph.revision in dialog.monograph_label.text() and monograph.generic_name in dialog.monograph_label.text()
        assert [path for path, _shown, _source in dialog.pending_rows()] == [f.path for f in monograph.pending_verification()]


def test_follows_the_monograph_it_is_given(open_dialog):
    chosen = {"product.vial_deliverable", "time_limits.diluted_room_max"}
    monograph = altered_monograph(chosen, revision="2099-01-01.7", label_revision="Test label, revision 01/2099")
    dialog = open_dialog(monograph)
    assert "2099-01-01.7" in dialog.monograph_label.text()
    assert dialog.label_revision_label.text() == "Test label, revision 01/2099"
    rows = {path: shown for path, shown, _citation in dialog.pending_rows()}
    assert set(rows) == chosen
    for path in chosen:
        assert rows[path] == format_quantity(monograph.quantity(path))
    assert "2 values await" in dialog.pending_heading.text()


def test_says_so_when_nothing_awaits_verification(open_dialog):
    dialog = open_dialog(altered_monograph(set(), revision="r", label_revision="l"))
    assert dialog.pending_rows() == []
    assert not dialog.pending_table.isVisible()
    assert "verified" in dialog.pending_heading.text()


def test_close_button_closes_the_dialog(open_dialog, qtbot):
    dialog = open_dialog()
    assert dialog.close_button.isVisible()
    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert dialog.result() == QDialog.DialogCode.Rejected


def test_escape_closes_the_dialog_too(open_dialog, qtbot):
    dialog = open_dialog()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


@pytest.mark.parametrize(
    ("quantity", "shown"),
    [
        (Quantity(7, "day"), "7 days"),
        (Quantity(1, "day"), "1 day"),
        (Quantity(25, "percent"), "25%"),
        (Quantity(2, ""), "2"),
        (Quantity(4, "hour"), "4 hours"),
        (Quantity(50, "mL/hour"), "50 mL/hour"),
        (Quantity(500, "cc"), "500 mL"),
    ],
)
def test_values_are_shown_as_people_say_them(quantity, shown):
    from infusion_app.domain.monograph import Fact

    fact = Fact(path="x", value=quantity, source="s", source_text="S", where="", verify=True)
    assert fact_display(fact) == shown


def test_application_icon_carries_every_size(qtbot):
    icon = application_icon()
    assert not icon.isNull()
    available = set(icon.availableSizes())
    assert {QSize(size, size) for size in ICON_SIZES} <= available


def test_no_window_title_repeats_the_program_name(qtbot, service, technician, make_preparation):
    """Qt appends the program's display name to every title ("Settings — Infusion Prep"), so a title
    that starts with it showed the name twice (issue 12 minors)."""
    from infusion_app.gui.bench_wizard import BenchWizard
    from infusion_app.gui.main_window import MainWindow
    from infusion_app.gui.sign_in import SignInDialog

    windows = [
        BenchWizard(service, technician),
        BenchWizard(service, technician, make_preparation()),
        MainWindow(service, technician, repaint_ms=60_000, sound=False),
        SignInDialog(service.authenticate, ["Tess Tech"]),
    ]
    for window in windows:
        qtbot.addWidget(window)
        title = window.windowTitle()
        shown = title if title.endswith(APP_NAME) else f"{title} — {APP_NAME}"  # what Qt puts in the title bar
        assert shown.count(APP_NAME) == 1, title


def test_the_verification_table_is_readable_at_1280_by_800(qtbot):
    """Issue 12 minors: sized to contents, the value paths took the width and the source wrapped
    into a sliver, every row blank to the eye."""
    from infusion_app.gui.about import AboutDialog

    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.width() <= 1280 and dialog.height() <= 760
    table = dialog.pending_table
    widths = [table.columnWidth(c) for c in range(table.columnCount())]
    assert min(widths) >= 0.15 * table.viewport().width(), widths
    assert table.horizontalScrollBar().maximum() == 0
    # No row is a tower of one word per line, as in the sliver column.
    line = table.fontMetrics().lineSpacing()
    assert max(table.rowHeight(r) for r in range(table.rowCount())) <= 8 * line
