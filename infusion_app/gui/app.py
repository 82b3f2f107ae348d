"""The desktop program's start: the QApplication, the service, sign-in, the main window."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from .. import __version__
from . import theme
from .icons import APP_ID, APP_NAME, application_icon

ORGANISATION = "infusion-prep"


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    """The one QApplication, set up with the program's identity and style (reused if it exists)."""
    existing = QApplication.instance()
    if existing is not None:
        app = existing
    else:
        # Fractional scaling (125 %, 150 %) is common on workstation screens; rounding it would
        # make text either too small or cut off. Said through Qt's own variable (a person's own
        # setting still wins): the Qt namespace's enums cost 30-50 ms to build in PySide6, and
        # nothing else before the sign-in window needs them (issue 19).
        os.environ.setdefault("QT_SCALE_FACTOR_ROUNDING_POLICY", "PassThrough")
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    QCoreApplication.setApplicationName(APP_NAME)
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationVersion(__version__)
    QGuiApplication.setApplicationDisplayName(APP_NAME)
    # Matches the .desktop file's name, so the task bar groups the window under the right entry.
    QGuiApplication.setDesktopFileName(APP_ID)
    QGuiApplication.setWindowIcon(application_icon())
    # Set again only when different: each call re-polishes every widget alive (about 0.2 s with
    # the tests' windows; the tests set the program's style before every test).
    font = theme.application_font()
    if QApplication.font() != font:
        QApplication.setFont(font)
    if app.styleSheet() != theme.STYLE_SHEET:  # type: ignore[union-attr]
        app.setStyleSheet(theme.STYLE_SHEET)  # type: ignore[union-attr]
    return app  # type: ignore[return-value]


def run(argv: Sequence[str] | None = None, data_dir: str | Path | None = None, database: str | None = None, clock=None) -> int:
    """Open the service, sign a user in, show the board; returns the exit code."""
    app = create_application(argv)
    from .binding_check import binding_defect

    defect = binding_defect()
    if defect is not None:
        # Before any data is opened: a board on this binding would abort within minutes.
        print(defect.message(), file=sys.stderr)
        from PySide6.QtWidgets import QMessageBox  # an error's window: its type is ~3 ms to build (issue 19)

        QMessageBox.critical(None, APP_NAME, defect.message())
        return 3
    from .start import Start

    start = Start(data_dir, database, clock)
    try:
        # The sign-in (or first-run) window comes up before the database is opened (gui/start.py).
        user = start.first_user()
        if start.failure is not None:  # a newer database, an unreadable file: say so and stop, never alter it
            from PySide6.QtWidgets import QMessageBox

            QMessageBox.critical(None, APP_NAME, f"The data could not be opened:\n\n{start.failure}")
            return 3
        service = start.service
        if user is None or service is None:
            return 0
        from .main_window import MainWindow

        window = MainWindow(service, user)
        window.show()
        # Keyboard focus to the board at once (Alt+A acknowledges), even where no window manager
        # hands it over after the sign-in dialog closes.
        window.raise_()
        window.activateWindow()
        return int(app.exec())
    finally:
        if start.service is not None:
            start.service.close()
