"""Sign in with a name and a PIN; the PIN is checked by the service (slow hash, never here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..domain.errors import ValidationError
from .pin_entry import pin_field

if TYPE_CHECKING:
    from ..domain.records import User


class SignInDialog(QDialog):
    """Name (typed or picked from the known users) and PIN. `user` holds who signed in.

    `authenticate(name, pin)` returns the User or raises with a message to show; the dialog
    never says whether it was the name or the PIN that was wrong. `ready()`, asked before each
    try, opens what authenticate needs when the window was shown before it (gui/start.py) and
    says False when that failed (the window is then being closed); `set_names` fills the list
    once the users are known, keeping what was typed meanwhile.
    """

    def __init__(
        self,
        authenticate: Callable[[str, str], User],
        names: Sequence[str] = (),
        parent: QWidget | None = None,
        title: str = "Sign in",
        prompt: str = "Sign in with your name and PIN.",
        ready: Callable[[], bool] = lambda: True,
    ):
        super().__init__(parent)
        self.setWindowTitle(title[:1].upper() + title[1:])
        self.setModal(True)
        self._authenticate = authenticate
        self._ready = ready
        self.user: User | None = None

        self.name = QComboBox(self)
        self.name.setEditable(True)
        self.name.addItems(list(names))
        self.name.setCurrentText("")
        self.name.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.name.lineEdit().setPlaceholderText("your name")
        self.name.setAccessibleName("Name")
        self.pin = pin_field(self)

        # Not widgets.message_label: its selectable text needs the Qt namespace's enums, 30-50 ms
        # before the first window (issue 19); the text becomes selectable with the first error.
        self.error = QLabel("", self)
        self.error.setWordWrap(True)
        # Set before the first polish, so no re-polish (widgets.set_role): asking for the label's
        # style builds QStyle's enums, another 30 ms before the first window.
        self.error.setProperty("role", "error")
        self.error.hide()

        form = QFormLayout()
        name_label = QLabel("&Name:", self)
        name_label.setBuddy(self.name)
        pin_label = QLabel("&PIN:", self)
        pin_label.setBuddy(self.pin)
        form.addRow(name_label, self.name)
        form.addRow(pin_label, self.pin)

        # Made with no argument (the layout below makes it the dialog's), then given its buttons:
        # choosing among the constructors that take a parent or buttons builds the whole Qt
        # namespace's enums (one takes a Qt.Orientation), 30-50 ms before the first window.
        self.buttons = QDialogButtonBox()
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.sign_in_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.sign_in_button.setText("&Sign in")
        self.sign_in_button.setDefault(True)
        self.buttons.accepted.connect(self.try_sign_in)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        heading = QLabel(prompt, self)
        heading.setWordWrap(True)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)
        self.name.setFocus()  # Qt's OtherFocusReason

    def set_names(self, names: Sequence[str]) -> None:
        line = self.name.lineEdit()
        typed, cursor = line.text(), line.cursorPosition()
        self.name.clear()
        self.name.addItems(list(names))
        self.name.setCurrentIndex(-1)
        line.setText(typed)
        line.setCursorPosition(cursor)

    def try_sign_in(self) -> None:
        name = self.name.currentText().strip()
        pin = self.pin.text()
        if not name:
            self._show_error("Name: type your name.")
            self.name.setFocus()
            return
        if not self._ready():
            return
        try:
            self.user = self._authenticate(name, pin)
        except ValidationError as exc:  # AuthenticationError: one message for a wrong name or PIN
            self._show_error(exc.message[:1].upper() + exc.message[1:] + ".")
            self.pin.clear()
            self.pin.setFocus()
            return
        self.accept()

    def _show_error(self, text: str) -> None:
        from PySide6.QtCore import Qt

        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setText(text)
        self.error.show()
