"""The PIN entry, apart from gui/widgets: the sign-in window needs this field alone, and importing
widgets builds the Python types of every widget it subclasses (a date-time edit, a combo box, a
signal) before the first window, about 4 ms (issue 19)."""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit, QWidget

from ..domain.pin_length import DEFAULT_PIN_MIN_DIGITS, PIN_MAX_DIGITS


def pin_field(parent: QWidget, accessible_name: str = "PIN") -> QLineEdit:
    """A masked PIN entry, as long as a PIN may be: one for sign-in, sign-offs and first run."""
    field = QLineEdit(parent)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setMaxLength(PIN_MAX_DIGITS)
    field.setPlaceholderText(f"{DEFAULT_PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits")
    field.setAccessibleName(accessible_name)
    return field
