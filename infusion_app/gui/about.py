"""The About dialog: which program, which monographs, which label, and what is still unverified.

Every installed drug is listed (no default one is assumed); the facts and the table follow the
drug picked at its head.

A pharmacist asked "where does this number come from?" must be able to answer from this dialog:
the program version, the monograph revision, the label revision the numbers were taken from,
and every value that still awaits pharmacist verification, each with its citation.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..domain.formatting import format_value
from ..domain.monograph import Fact, Monograph, installed_monographs
from .icons import APP_NAME, application_icon

LICENSE = "GPL-3.0-or-later"
PENDING_COLUMNS = ("Value", "Shown as", "Source")
COLUMN_SHARES = (0.28, 0.36, 0.36)  # of the table's width: some values are sentences


def fact_display(fact: Fact) -> str:
    """A fact's value as a person reads it; numbers go through the one formatter."""
    return format_value(fact.value)


def monograph_title(monograph: Monograph) -> str:
    return f"{monograph.generic_name} ({monograph.brand_name}), revision {monograph.revision}"


def review_status(monograph: Monograph) -> str:
    meta = monograph.raw.get("meta", {})
    reviewer, reviewed_on = str(meta.get("reviewed_by", "")).strip(), str(meta.get("reviewed_on", "")).strip()
    if not reviewer:
        return "not yet reviewed by a pharmacist"
    return f"reviewed by {reviewer}" + (f" on {reviewed_on}" if reviewed_on else "")


class AboutDialog(QDialog):
    """Shows the version, each installed monograph's and label's revision and the values awaiting verification.

    `drugs`: the monographs to show (the service's drugs()); every installed one when not given;
    `monograph`: one monograph only (tests pass an altered copy). `shown` preselects a drug by id.
    """

    def __init__(
        self, parent: QWidget | None = None, monograph: Monograph | None = None, drugs: list[Monograph] | None = None, shown: str | None = None
    ) -> None:
        super().__init__(parent)
        self.drugs = [monograph] if monograph is not None else (drugs if drugs is not None else installed_monographs())
        self.monograph = next((m for m in self.drugs if m.id == shown), self.drugs[0])
        self.setObjectName("AboutDialog")
        self.setWindowTitle(f"About {APP_NAME}")
        self.setWindowIcon(application_icon())
        # Fits a 1280 x 800 screen with room for the table of values awaiting verification.
        self.setMinimumSize(1000, 640)

        layout = QVBoxLayout(self)
        layout.addLayout(self._header())
        self.drug_picker = QComboBox(self)
        self.drug_picker.setObjectName("aboutDrug")
        for drug in self.drugs:
            self.drug_picker.addItem(f"{drug.brand_name} ({drug.generic_name})", drug.id)
        self.drug_picker.setCurrentIndex(self.drugs.index(self.monograph))
        picker_row = QFormLayout()
        picker_label = QLabel("&Drug:", self)
        picker_label.setBuddy(self.drug_picker)
        picker_row.addRow(picker_label, self.drug_picker)
        self.drug_picker.setVisible(len(self.drugs) > 1)
        picker_label.setVisible(len(self.drugs) > 1)
        layout.addLayout(picker_row)
        layout.addLayout(self._facts())

        self.pending_heading = QLabel()
        self.pending_heading.setObjectName("pendingHeading")
        self.pending_heading.setWordWrap(True)
        self.pending_heading.setStyleSheet("font-weight: bold;")
        layout.addWidget(self.pending_heading)
        self.pending_table = self._pending_table([])
        layout.addWidget(self.pending_table, stretch=1)
        self.show_drug(self.monograph)
        self.drug_picker.currentIndexChanged.connect(lambda index: self.show_drug(self.drugs[index]))

        disclaimer = QLabel(
            "This program supports, and does not replace, the clinical judgement of pharmacists and "
            f"nurses and your institution's policies. Check every value against the current label. "
            f"Licence: {LICENSE}."
        )
        disclaimer.setWordWrap(True)
        layout.addWidget(disclaimer)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.close_button = self.buttons.button(QDialogButtonBox.StandardButton.Close)
        self.close_button.setObjectName("closeButton")
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.close_button.setFocus()

    def show_drug(self, monograph: Monograph) -> None:
        """The facts and the values awaiting verification of one drug's monograph."""
        self.monograph = monograph
        self.monograph_label.setText(monograph_title(monograph))
        self.label_revision_label.setText(monograph.label_revision)
        self.review_label.setText(review_status(monograph))
        pending = monograph.pending_verification()
        self.pending_heading.setText(self._pending_heading_text(len(pending)))
        self._fill_pending(self.pending_table, pending)
        self.pending_table.setVisible(bool(pending))
        self._share_columns()

    def _header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        icon = QLabel()
        icon.setPixmap(application_icon().pixmap(64, 64))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        row.addWidget(icon)
        names = " and ".join(f"{m.generic_name} ({m.brand_name})" for m in self.drugs)
        title = QLabel(f"<h2>{APP_NAME}</h2>Preparation and administration assistant for {names}")
        title.setWordWrap(True)
        row.addWidget(title, stretch=1)
        return row

    def _facts(self) -> QFormLayout:
        form = QFormLayout()
        self.version_label = self._value_label("versionLabel", __version__)
        self.monograph_label = self._value_label("monographLabel", "")
        self.label_revision_label = self._value_label("labelRevisionLabel", "")
        self.review_label = self._value_label("reviewLabel", "")
        form.addRow("Program version:", self.version_label)
        form.addRow("Monograph:", self.monograph_label)
        form.addRow("Numbers taken from:", self.label_revision_label)
        form.addRow("Monograph review:", self.review_label)
        return form

    @staticmethod
    def _value_label(name: str, text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    @staticmethod
    def _pending_heading_text(count: int) -> str:
        if count == 0:
            return "Every value in the monograph has been verified by a pharmacist."
        noun = "value awaits" if count == 1 else "values await"
        return f"{count} {noun} pharmacist verification against the current label:"

    @staticmethod
    def _pending_table(pending: list[Fact]) -> QTableWidget:
        table = QTableWidget(0, len(PENDING_COLUMNS))
        table.setObjectName("pendingTable")
        table.setHorizontalHeaderLabels(PENDING_COLUMNS)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setWordWrap(True)
        AboutDialog._fill_pending(table, pending)
        header = table.horizontalHeader()
        # Fixed shares of the width, every column wrapping: sized to contents, the long value paths
        # took the whole width and squeezed the source to nothing (an unreadable table).
        for column in range(len(PENDING_COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        table.setTextElideMode(Qt.TextElideMode.ElideNone)
        # Row heights depend on the wrapped columns, whose widths are known only once laid out.
        header.sectionResized.connect(lambda *_: table.resizeRowsToContents())
        return table

    @staticmethod
    def _fill_pending(table: QTableWidget, pending: list[Fact]) -> None:
        table.setRowCount(len(pending))
        for row, fact in enumerate(pending):
            for column, text in enumerate((fact.path, fact_display(fact), fact.citation)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                table.setItem(row, column, item)

    def _share_columns(self) -> None:
        width = self.pending_table.viewport().width()
        for column, share in enumerate(COLUMN_SHARES[:-1]):
            self.pending_table.setColumnWidth(column, int(width * share))
        self.pending_table.resizeRowsToContents()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self._share_columns()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._share_columns()

    def pending_rows(self) -> list[tuple[str, str, str]]:
        """What the table shows, row by row (for tests and for copying into a report)."""
        return [tuple(self.pending_table.item(row, column).text() for column in range(len(PENDING_COLUMNS))) for row in range(self.pending_table.rowCount())]
