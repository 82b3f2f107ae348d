"""Discard a preparation: a pharmacist, with a PIN and a reason, from the board, the wizard or the chair.

The pharmacist signs the discard (the DISCARDED event is theirs, whoever is signed in), so a nurse
at the chair or a technician at the bench calls a pharmacist rather than discarding alone. The
service and the domain check the PIN, the role, the reason and whether the preparation may still be
discarded (not after the infusion has started).
"""

from __future__ import annotations


from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ValidationError
from ..domain.preparation import StepRefused
from ..domain.records import EventType, Role
from .pin_entry import pin_field
from .widgets import message_label
from .errors import error_text

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.preparations import PreparationService


class DiscardDialog(QDialog):
    def __init__(self, service: PreparationService, prep_id: str, why: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("discardDialog")
        self.service = service
        self.prep_id = prep_id
        self.status = None
        prep = service.get(prep_id)
        self.setWindowTitle(f"Discard preparation {prep_id}")
        layout = QVBoxLayout(self)
        who = f"{prep.patient.name}, MRN {prep.patient.mrn}" if prep is not None else prep_id
        layout.addWidget(message_label(f"Discard {prep_id} ({who})?", "heading", self))
        if why:
            layout.addWidget(message_label(why, "hardstop", self))
        layout.addWidget(
            message_label(
                "The bag is destroyed as hazardous waste and the dose is prepared again. A pharmacist signs the "
                "discard; the reason and the name are recorded. Nothing more can be recorded for this preparation.",
                "",
                self,
            )
        )
        form = QFormLayout()
        self.pharmacist = QComboBox(self)
        self.pharmacist.setObjectName("discardPharmacist")
        self.pharmacist.setEditable(True)
        self.pharmacist.addItems([u.name for u in service.users() if u.role is Role.PHARMACIST and u.active])
        self.pharmacist.setCurrentText("")
        self.pin = pin_field(self)
        self.pin.setObjectName("discardPin")
        self.reason = QLineEdit(self)
        self.reason.setObjectName("discardReason")
        self.reason.setPlaceholderText("e.g. start-by time passed; bag dropped; wrong dose drawn")
        for text, widget in (("P&harmacist:", self.pharmacist), ("P&IN:", self.pin), ("&Reason:", self.reason)):
            label = QLabel(text, self)
            label.setBuddy(widget)
            form.addRow(label, widget)
        layout.addLayout(form)
        self.error = message_label("", "error", self)
        self.error.setObjectName("discardError")
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Discard")
        self.ok_button.setObjectName("discardOk")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("&Keep")
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(600)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def submit(self) -> bool:
        name, pin, reason = self.pharmacist.currentText().strip(), self.pin.text(), self.reason.text().strip()
        missing = [label for label, value in (("pharmacist", name), ("PIN", pin), ("reason", reason)) if not value]
        if missing:
            self.show_error("Give the " + ", the ".join(missing) + ".")
            return False
        try:
            pharmacist = self.service.authenticate(name, pin)
            if pharmacist.role is not Role.PHARMACIST:
                raise StepRefused("role", f"{pharmacist.name} is a {pharmacist.role.value}: a pharmacist signs a discard")
            self.status = self.service.record_event(self.prep_id, EventType.DISCARDED, pharmacist, details={"reason": reason})
        except ValidationError as exc:
            self.pin.clear()
            self.show_error(error_text(exc))
            return False
        except StepRefused as exc:
            self.pin.clear()
            self.show_error(exc.message)
            return False
        self.accept()
        return True


def ask_discard(service: PreparationService, prep_id: str, parent: QWidget, why: str = ""):
    """Open the discard dialog; the stored status when the preparation was discarded, else None."""
    dialog = DiscardDialog(service, prep_id, why, parent)
    parent.discard_dialog = dialog  # tests reach it while it is open
    try:
        if dialog.exec() == QDialog.DialogCode.Accepted:
            return dialog.status
        return None
    finally:
        parent.discard_dialog = None
