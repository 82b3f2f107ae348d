"""Small widgets shared by every screen: a countdown, a validated field, a status pill.

They display what they are given. A countdown shows text and a state handed to it by the board
or the chair; a validated field hands its text to a domain parser and shows the domain's message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from datetime import datetime
from typing import Any

# Qt (the namespace) is imported where it is used: its enums, built at the first import of the name,
# cost 30-50 ms in PySide6, and the sign-in window uses this module before it needs any (issue 19).
from PySide6.QtCore import QDateTime, Signal
from PySide6.QtWidgets import QComboBox, QDateTimeEdit, QLabel, QLineEdit, QSizePolicy, QVBoxLayout, QWidget

from ..domain.errors import ValidationError
from ..domain.instants import read_field_wall_time, repeated_wall_time, site_wall_time
from . import theme
from .errors import error_text


def _apply_colours(widget: QWidget, state: str, flash_phase: bool = False) -> None:
    background, foreground = theme.colours(state, flash_phase)
    widget.setStyleSheet(f"background-color: {background.name()}; color: {foreground.name()}; border-radius: 6px; padding: 2px 10px;")


class CountdownLabel(QLabel):
    """A large, high-contrast countdown ('0:29:59', '-0:01:12') coloured by its deadline's state."""

    def __init__(self, point_size: int = theme.COUNTDOWN_POINT_SIZE, parent: QWidget | None = None):
        from PySide6.QtCore import Qt

        super().__init__(parent)
        self.setFont(theme.font(point_size, bold=True, monospace_digits=True))
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        self.state = "none"
        self.show_value("—", "none")

    def show_value(self, text: str, state: str, flash_phase: bool = False) -> None:
        self.state = state
        self.setText(text)
        self.setAccessibleName(f"countdown {text}, {state}")
        _apply_colours(self, state, flash_phase)


class StatusPill(QLabel):
    """A short word on a coloured background: the deadline state or a step's status."""

    def __init__(self, text: str = "", state: str = "none", parent: QWidget | None = None):
        from PySide6.QtCore import Qt

        super().__init__(text, parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.set_state(text, state)

    def set_state(self, text: str, state: str) -> None:
        self.setText(text)
        self.state = state
        _apply_colours(self, state)


class ValidatedField(QWidget):
    """A line edit with its error message underneath.

    `parse` is a domain function (parse_height, parse_weight, ...): it returns a value or raises
    ValidationError, whose message is shown word for word next to the field. The widget never
    interprets the text itself.
    """

    changed = Signal()

    def __init__(
        self,
        parse: Callable[[str], Any],
        placeholder: str = "",
        parent: QWidget | None = None,
        describe: Callable[[Any], str] | None = None,
    ):
        super().__init__(parent)
        self._parse = parse
        self._describe = describe
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setProperty("role", "error")
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.edit)
        layout.addWidget(self.message)
        self.setFocusProxy(self.edit)
        self.edit.textChanged.connect(self._on_text_changed)
        self.edit.editingFinished.connect(self.validate)
        self._value: Any = None
        self._error: str | None = None

    # -- the outcome ----------------------------------------------------------------------
    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        self.edit.setText(text)
        self.validate()

    @property
    def value(self) -> Any:
        return self._value

    @property
    def error(self) -> str | None:
        return self._error

    def validate(self) -> bool:
        """Parse now; show the domain's message or the parsed value's description."""
        text = self.edit.text()
        try:
            self._value = self._parse(text)
            self._error = None
        except ValidationError as exc:
            self._value = None
            self._error = error_text(exc)
        self._show()
        return self._error is None

    def show_error(self, message: str | None) -> None:
        """An error found elsewhere (for example by the service) that belongs to this field."""
        self._error = message
        self._show()

    def _show(self) -> None:
        invalid = self._error is not None
        self.edit.setProperty("invalid", invalid)
        self.edit.style().unpolish(self.edit)
        self.edit.style().polish(self.edit)
        if invalid:
            self.message.setProperty("role", "error")
            self.message.setText(self._error or "")
            self.message.show()
        elif self._describe is not None and self._value is not None and self.edit.text().strip():
            self.message.setProperty("role", "")
            self.message.setText(self._describe(self._value))
            self.message.show()
        else:
            self.message.hide()
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)

    def _on_text_changed(self, _text: str) -> None:
        # Clear a stale error as soon as the person types; re-validated on Enter / leaving the field.
        if self._error is not None:
            self._error = None
            self._value = None
            self._show()
        self.changed.emit()


def message_label(text: str = "", role: str = "", parent: QWidget | None = None) -> QLabel:
    """A word-wrapped label styled by role: 'hardstop', 'warning', 'ok', 'error', 'heading'."""
    from PySide6.QtCore import Qt

    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    set_role(label, role)
    return label


def set_role(label: QLabel, role: str) -> None:
    label.setProperty("role", role)
    label.style().unpolish(label)
    label.style().polish(label)


class ScanField(QLineEdit):
    """A line edit a barcode scanner types into. The scanner ends with Enter (returnPressed).

    GS1 codes separate variable-length fields with the FNC1 character (ASCII 29, GS), which a
    plain QLineEdit drops as unprintable; it is kept here so the domain can read the fields.
    """

    GS = "\x1d"

    def keyPressEvent(self, event) -> None:  # noqa: N802
        from PySide6.QtCore import Qt

        if event.text() == self.GS:
            self.insert(self.GS)
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            # The scanner's Enter ends the code; it must not also press the dialog's default
            # button (a wizard's Next), or one scan would skip a page.
            self.returnPressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class SteadyComboBox(QComboBox):
    """A pick list whose value changes only by a deliberate choice in its open list.

    A closed QComboBox changes on a typed letter or digit (keyboard search), an arrow key or a
    turn of the mouse wheel: a stray key or a scroll over the Cycle box would change the dose.
    Here those are ignored; Space, F4 or Alt+Down open the list, where arrows and Enter choose.
    """

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        from PySide6.QtCore import Qt

        alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        if event.key() in _stray_keys() and not alt:
            event.ignore()
            return
        text = event.text()
        if text and text.isprintable() and text != " ":
            event.ignore()
            return
        super().keyPressEvent(event)

    def wheelEvent(self, event) -> None:  # noqa: N802
        event.ignore()


@cache
def _stray_keys() -> frozenset:
    """At the first key, not at import: the Qt namespace's enums are built on first use, 30-50 ms
    that the sign-in window (which imports this module) does without (issue 19)."""
    from PySide6.QtCore import Qt

    return frozenset({Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown, Qt.Key.Key_Home, Qt.Key.Key_End})


def local_qdatetime(instant: datetime) -> QDateTime:
    """An instant as a date-time field shows it: the site's wall time, held in a UTC QDateTime that
    Qt never converts (LeavingDateTimeEdit says why)."""
    from PySide6.QtCore import QDate, QTime, QTimeZone

    wall = site_wall_time(instant)
    return QDateTime(QDate(wall.year, wall.month, wall.day), QTime(wall.hour, wall.minute, wall.second), QTimeZone.utc())


def _wall_of(value: QDateTime) -> datetime:
    day, moment = value.date(), value.time()
    return datetime(day.year(), day.month(), day.day(), moment.hour(), moment.minute(), moment.second())


class LeavingDateTimeEdit(QDateTimeEdit):
    """A date and time field that Tab leaves (Qt's steps through its sections first, so a keyboard
    user was held in it for five presses); the arrow keys still move between sections.

    It holds the wall time only: Qt read a local wall time in the hour the clocks go back as the
    first of the two, so an infusion started at the second 02:40 and ended 30 minutes later was
    recorded as 1 h 30 min long and passed the 1-hour minimum. The domain reads the wall time on the site's clock (instant()); in that hour the
    `repeated` choice beside the field appears and must be answered, and in the hour the clocks go
    forward the time is refused. The caller lays `repeated` out next to the field."""

    def __init__(self, parent: QWidget | None = None):
        from PySide6.QtCore import QTimeZone

        super().__init__(parent)
        self.setTimeZone(QTimeZone.utc())
        self.repeated = QComboBox(parent)
        self.repeated.setAccessibleName("which of the two times the clocks showed twice")
        self.repeated.hide()
        self.dateTimeChanged.connect(self._offer_repeated_choice)

    def focusNextPrevChild(self, forward: bool) -> bool:  # noqa: N802 (Qt naming)
        return QWidget.focusNextPrevChild(self, forward)

    def setObjectName(self, name: str) -> None:  # noqa: N802 (Qt naming)
        super().setObjectName(name)
        self.repeated.setObjectName(f"{name}Which")

    def setEnabled(self, enabled: bool) -> None:  # noqa: N802 (Qt naming)
        super().setEnabled(enabled)
        self.repeated.setEnabled(enabled)

    def setVisible(self, visible: bool) -> None:  # noqa: N802 (Qt naming)
        super().setVisible(visible)
        self.repeated.setVisible(visible and self.repeated.count() > 0)

    def wall_time(self) -> datetime:
        return _wall_of(self.dateTime())

    def show_instant(self, instant: datetime) -> None:
        """Set the field to an instant the program knows (now, a recorded time): in the hour shown
        twice the choice is answered with the reading that instant is. A time the user sets is asked."""
        self._known = instant
        try:
            self.setDateTime(local_qdatetime(instant))
            self._offer_repeated_choice()
        finally:
            self._known = None

    _known: datetime | None = None

    _offered_for: datetime | None = None  # the wall time (to the minute) the choice was built for

    def _offer_repeated_choice(self) -> None:
        twice = repeated_wall_time(self.wall_time())
        if twice is None:
            self._offered_for = None
            self.repeated.clear()
            self.repeated.hide()
            return
        # Rebuilt (and so asked again) only for another minute: the chair's tick sets an untouched
        # premedication time every second, with nothing new to offer.
        minute = self.wall_time().replace(second=0)
        if minute != self._offered_for:
            self._offered_for = minute
            first, second = twice.names()
            self.repeated.clear()
            self.repeated.addItem("which one? (the clocks went back)", None)
            self.repeated.addItem(first, False)
            self.repeated.addItem(second, True)
        if self._known is not None:
            self.repeated.setCurrentIndex(2 if self._known.replace(microsecond=0) == twice.second else 1)
        self.repeated.setVisible(not self.isHidden())

    def instant(self, field: str) -> datetime:
        """The UTC instant the field names on the site's clock; ValidationError (naming `field`) in the
        hour the clocks went forward, or in the hour they went back until `repeated` is answered."""
        second = self.repeated.currentData() if self.repeated.count() else None
        return read_field_wall_time(self.wall_time(), field, second)


def date_time_field(parent: QWidget | None = None) -> LeavingDateTimeEdit:
    return LeavingDateTimeEdit(parent)


class LateEntry(QWidget):
    """ "It happened earlier, at …": a step entered a few minutes after it was done.

    Unticked, the step is recorded at the moment it is entered. Ticked, at the time set here; the
    moment of entry is kept beside it, and the domain decides what a late entry may do (how far
    back, and that a step entered after its limit passed is refused or recorded as a deviation).
    """

    def __init__(self, now: Callable[[], Any], parent: QWidget | None = None, name: str = "lateEntry"):
        from PySide6.QtWidgets import QCheckBox, QHBoxLayout

        super().__init__(parent)
        self.setObjectName(name)
        self._now = now
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.earlier = QCheckBox("It happened earlier, at", self)
        self.earlier.setObjectName(f"{name}Earlier")
        self.when = date_time_field(self)
        self.when.setObjectName(f"{name}Time")
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.when.setAccessibleName("the time it happened")
        self.when.setEnabled(False)
        self.when.hide()  # unticked it would show a meaningless 2000-01-01 00:00
        self.note = QLabel("(the time you enter it is recorded too)", self)
        row.addWidget(self.earlier)
        row.addWidget(self.when)
        row.addWidget(self.when.repeated)
        row.addWidget(self.note)
        row.addStretch(1)
        self.earlier.toggled.connect(self._toggled)

    def _toggled(self, on: bool) -> None:
        self.when.setEnabled(on)
        self.when.setVisible(on)
        if on:
            self.when.show_instant(self._now())
            self.when.setFocus()

    def at(self) -> datetime | None:
        """The time the step happened, or None for now."""
        if not self.earlier.isChecked():
            return None
        return self.when.instant("at")

    def reset(self) -> None:
        self.earlier.setChecked(False)
