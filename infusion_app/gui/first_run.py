"""First run: before anything else, create the first pharmacist (name and PIN typed twice).

Shown only while no user exists. The first pharmacist can then add everyone else in Settings.
The service validates the name and the PIN and stores the PIN as a slow hash; this dialog only
checks that the two PIN entries are the same.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ValidationError
from ..domain.records import Role, User
from .pin_entry import pin_field
from .widgets import message_label, set_role
from .errors import error_text

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.preparations import PreparationService


class FirstRunDialog(QDialog):
    """Creates the first pharmacist. `created` holds the new User once accepted.

    `service` is touched only when the button is pressed, after `ready()` (gui/start.py: the
    window is shown before the database is created and migrated; False when that failed).
    """

    def __init__(self, service: PreparationService, parent: QWidget | None = None, ready: Callable[[], bool] = lambda: True):
        super().__init__(parent)
        self.setObjectName("firstRunDialog")
        self.setWindowTitle("First start")
        self.setModal(True)
        self.service = service
        self._ready = ready
        self.created: User | None = None

        layout = QVBoxLayout(self)
        layout.addWidget(message_label("Welcome. Create the first pharmacist", "heading", self))
        layout.addWidget(
            message_label(
                "No user exists yet. The first user is a pharmacist, who then adds technicians, "
                "nurses and other pharmacists in Settings. Everyone signs in with their name and a PIN.",
                "",
                self,
            )
        )
        form = QFormLayout()
        self.name = QLineEdit(self)
        self.name.setObjectName("firstRunName")
        self.name.setPlaceholderText("full name, as colleagues know you")
        self.name.setAccessibleName("pharmacist name")
        self.pin = pin_field(self, "PIN")
        self.pin.setObjectName("firstRunPin")
        self.pin_again = pin_field(self, "PIN again")
        self.pin_again.setObjectName("firstRunPinAgain")
        for text, widget in (("Pharmacist &name:", self.name), ("&PIN:", self.pin), ("PIN &again:", self.pin_again)):
            label = QLabel(text, self)
            label.setBuddy(widget)
            form.addRow(label, widget)
        layout.addLayout(form)
        self.message = message_label("", "", self)
        self.message.setObjectName("firstRunMessage")
        layout.addWidget(self.message)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.create_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.create_button.setText("&Create pharmacist")
        self.create_button.setObjectName("createPharmacistButton")
        self.create_button.setDefault(True)
        self.cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setText("&Quit")
        buttons.accepted.connect(self.create)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(620)
        self.name.setFocus()

    def _error(self, text: str, focus: QLineEdit) -> None:
        self.message.setText(text)
        set_role(self.message, "error")
        focus.setFocus()
        focus.selectAll()

    def create(self) -> None:
        if not self._ready():
            return
        from ..domain.preparation import StepRefused  # with the service: not at the first window

        if self.service.has_users():
            # Another workstation finished its first run meanwhile: sign in instead.
            self.accept()
            return
        if self.pin.text() != self.pin_again.text():
            self.pin_again.clear()
            self._error("PIN again: the two PINs differ; type the same PIN twice.", self.pin_again)
            return
        try:
            self.created = self.service.add_user(self.name.text(), Role.PHARMACIST, self.pin.text())
        except StepRefused:
            # Another workstation added the first pharmacist meanwhile: sign in instead.
            self.accept()
            return
        except ValidationError as exc:
            focus = {"name": self.name, "pin": self.pin}.get(exc.field, self.name)
            if focus is self.pin:
                self.pin.clear()
                self.pin_again.clear()
            self._error(error_text(exc), focus)
            return
        self.accept()
