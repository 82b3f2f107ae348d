"""Colours, sizes and the style sheet.

Alarm colours follow IEC 60601-1-8: red for high priority (a deadline expired or due), yellow
for medium (the warning lead time reached), cyan for low (running, nothing to do yet). Each
background is paired with the text colour that gives it a WCAG contrast ratio of at least 7:1,
because the board is read at arm's length through a safety cabinet's sash.
"""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtGui import QColor, QFont, QGuiApplication


# A NamedTuple, not a dataclass: the dataclasses module is ~4 ms before the sign-in window (issue 19).
class Level(NamedTuple):
    name: str
    background: str
    foreground: str
    flash_background: str  # the second colour of a flashing alarm


# Keys are the domain's DeadlineState values (plus "none" for a preparation with no deadline yet).
LEVELS: dict[str, Level] = {
    "expired": Level("high", "#B71C1C", "#FFFFFF", "#FFFFFF"),
    "due": Level("high", "#B71C1C", "#FFFFFF", "#FFFFFF"),
    "warning": Level("medium", "#FFD600", "#000000", "#000000"),
    "ok": Level("low", "#00BCD4", "#000000", "#00BCD4"),
    "reached": Level("low", "#00BCD4", "#000000", "#00BCD4"),
    "pending": Level("none", "#ECEFF1", "#000000", "#ECEFF1"),
    "met": Level("none", "#ECEFF1", "#000000", "#ECEFF1"),
    "none": Level("none", "#ECEFF1", "#000000", "#ECEFF1"),
}

# When flashing, the foreground swaps too so text stays readable in both phases.
FLASH_FOREGROUND = {"high": "#B71C1C", "medium": "#FFD600"}

ALARM_STATES = ("warning", "due", "expired")


def level_for(state: str) -> Level:
    return LEVELS.get(state, LEVELS["none"])


def colours(state: str, flash_phase: bool = False) -> tuple[QColor, QColor]:
    """(background, foreground) for a deadline state, in the given flash phase."""
    level = level_for(state)
    if flash_phase and level.name in FLASH_FOREGROUND:
        return QColor(level.flash_background), QColor(FLASH_FOREGROUND[level.name])
    return QColor(level.background), QColor(level.foreground)


# Point sizes. The countdown is the thing read from across the room.
BASE_POINT_SIZE = 13
ROW_POINT_SIZE = 15
COUNTDOWN_POINT_SIZE = 30
BANNER_POINT_SIZE = 18
# A gloved fingertip is about 15 mm; 48 px is the smallest comfortable target on a 96-dpi screen.
TOUCH_TARGET_PX = 48


def font(point_size: int, bold: bool = False, monospace_digits: bool = False) -> QFont:
    f = QFont(QGuiApplication.font())
    f.setPointSize(point_size)
    f.setBold(bold)
    if monospace_digits:
        # Tabular digits stop a countdown from jittering sideways as its digits change.
        f.setFeature(QFont.Tag("tnum"), 1)
    return f


def application_font() -> QFont:
    """The base font, set on the application (not in the style sheet, which would override every
    widget's own setFont, so the large countdowns would shrink back to the base size)."""
    f = QFont(QGuiApplication.font())
    f.setPointSize(BASE_POINT_SIZE)
    return f


STYLE_SHEET = f"""
QCheckBox::indicator, QRadioButton::indicator {{ width: 26px; height: 26px; }}
QCheckBox, QRadioButton {{ min-height: {TOUCH_TARGET_PX - 8}px; spacing: 10px; }}
QPushButton {{ min-height: {TOUCH_TARGET_PX - 12}px; padding: 4px 16px; }}
QLineEdit, QComboBox, QSpinBox, QDateEdit {{ min-height: {TOUCH_TARGET_PX - 16}px; }}
QLineEdit[invalid="true"] {{ border: 2px solid #B71C1C; }}
QLabel[role="error"] {{ color: #B71C1C; font-weight: bold; }}
QLabel[role="hardstop"] {{ background: #B71C1C; color: #FFFFFF; font-weight: bold; padding: 8px; }}
QLabel[role="warning"] {{ background: #FFD600; color: #000000; padding: 8px; }}
QLabel[role="ok"] {{ background: #E0F7FA; color: #000000; padding: 8px; }}
QLabel[role="heading"] {{ font-size: {BANNER_POINT_SIZE}pt; font-weight: bold; }}
"""
