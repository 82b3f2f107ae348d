"""The desktop program's start: the first window on screen first, the database opened behind it.

Opening the service (SQLAlchemy, the unit registry, the dose engine; at a first run Alembic and
the migrations) was most of the time from launch to the sign-in window (issue 19). When a glance
at the SQLite file (service.start.first_window, standard library only) tells which window is
needed, that window is shown at once and the service opens just after its first paint, while the
person types; a name or PIN typed meanwhile is kept (Qt queues the keys), and pressing Sign in or
Create before the opening has finished opens it there and then. Nothing is decided without the
service: the PIN is checked by service.authenticate, the first pharmacist is created by
service.add_user, and a glance that guessed wrong (a user added meanwhile, a file the glance
could not read) only swaps the window for the right one once the service says so. A server
database, or a file the glance cannot settle, is opened first, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QDialog, QWidget

from .icons import APP_NAME

if TYPE_CHECKING:
    from ..domain.records import User
    from ..service.preparations import PreparationService

# A dialog result besides Accepted (1) and Rejected (0): the opened service wants the other window.
SWITCH = 2
# Open anyway when no paint came (a window kept minimised): the sign-in must not wait for one.
OPEN_WITHOUT_PAINT_MS = 1000
# How often a shown window is asked whether it is on the screen yet.
EXPOSED_POLL_MS = 5


class _Deferred:
    """The service as the first-run dialog sees it: opened at the first use of any attribute."""

    def __init__(self, start: Start):
        self._start = start

    def __getattr__(self, name: str) -> Any:
        service = self._start.service
        if service is None:
            raise RuntimeError("the service is used before ready() said it was open")
        return getattr(service, name)


class _FirstPaint(QObject):
    """Calls `then` once, in the event loop's next turn after the window's first paint.

    Asks the window's native window whether it is exposed instead of filtering its events: Qt
    paints a widget while it handles its window's expose, so an exposed window has been painted;
    and an event filter in Python builds QEvent's type, with its enum of every event type, about
    13 M instructions (4 ms) before the first window (issue 19)."""

    def __init__(self, window: QWidget, then):
        super().__init__(window)
        self._window = window
        self._then = then
        self._done = False
        QTimer.singleShot(0, self, self._check)
        QTimer.singleShot(OPEN_WITHOUT_PAINT_MS, self, self._fire)

    def _check(self) -> None:
        if self._done:
            return
        handle = self._window.windowHandle()
        if handle is not None and handle.isExposed():
            QTimer.singleShot(0, self, self._fire)  # the paint's flush reaches the screen first
        else:
            QTimer.singleShot(EXPOSED_POLL_MS, self, self._check)

    def _fire(self) -> None:
        if not self._done:
            self._done = True
            self._then()


class Start:
    """Signs the first person in (or creates the first pharmacist); `service` once opened,
    `failure` when opening failed (the caller shows it and stops)."""

    def __init__(self, data_dir: str | Path | None = None, database: str | None = None, clock=None):
        self.data_dir = data_dir
        self.database = database
        self.clock = clock
        self.service: PreparationService | None = None
        self.failure: Exception | None = None
        self.window: QDialog | None = None

    # -- the service ----------------------------------------------------------------------
    def open(self) -> PreparationService | None:
        """The service, opened now if it is not yet; None when it cannot be (see `failure`)."""
        if self.service is None and self.failure is None:
            from ..service import open_service

            try:
                self.service = open_service(data_dir=self.data_dir, database=self.database, clock=self.clock)
            except Exception as exc:  # a newer database, an unreadable file: shown, never altered
                self.failure = exc
                if self.window is not None:
                    self.window.done(QDialog.DialogCode.Rejected)
                return None
            self._warn_about_the_clock()
        return self.service

    def ready(self) -> bool:
        return self.open() is not None

    def _warn_about_the_clock(self) -> None:
        assert self.service is not None
        skew = self.service.clock_skew_warning()  # a shared database: this clock against the server's
        if skew is not None:
            # Not imported with the module: its type costs ~3 ms before the first window (issue 19).
            from PySide6.QtWidgets import QMessageBox

            QMessageBox.warning(self.window, APP_NAME, skew[0].upper() + skew[1:] + ".")

    # -- the windows ----------------------------------------------------------------------
    def first_user(self) -> User | None:
        """Who is signed in, or None (the window was closed, or the data could not be opened)."""
        from ..service.start import first_window

        kind = first_window(self.data_dir, self.database)
        if kind is None:  # only the service can tell: open it first
            service = self.open()
            if service is None:
                return None
            kind = "sign-in" if service.has_users() else "first-run"
        for _ in range(3):  # a wrong glance costs one swap; a database changing under us, two
            if kind == "first-run":
                user, result = self._first_run()
                if result == QDialog.DialogCode.Accepted and user is not None:
                    return user  # the pharmacist who just chose a PIN is signed in
                if result == QDialog.DialogCode.Rejected:
                    return None
                kind = "sign-in"  # users exist (another workstation's first run): sign in
            else:
                user, result = self._sign_in()
                if result != SWITCH:
                    return user
                kind = "first-run"
        return None

    def _show(self, dialog: QDialog, opened) -> int:
        self.window = dialog
        if self.service is not None:  # in the dialog's own event loop, where done() ends it
            QTimer.singleShot(0, dialog, lambda: self._open_behind(dialog, opened))
        else:
            _FirstPaint(dialog, lambda: self._open_behind(dialog, opened))
        try:
            return dialog.exec()
        finally:
            self.window = None

    def _open_behind(self, dialog: QDialog, opened) -> None:
        if self.window is not dialog or not dialog.isVisible():
            return
        service = self.open()
        if service is not None and self.window is dialog:
            opened(service)

    def _sign_in(self) -> tuple[User | None, int]:
        from .sign_in import SignInDialog

        dialog = SignInDialog(lambda name, pin: self._opened().authenticate(name, pin), ready=self.ready)

        def opened(service: PreparationService) -> None:
            if not service.has_users():
                dialog.done(SWITCH)
                return
            dialog.set_names([u.name for u in service.users()])

        result = self._show(dialog, opened)
        return (dialog.user if result == QDialog.DialogCode.Accepted else None), result

    def _first_run(self) -> tuple[User | None, int]:
        from .first_run import FirstRunDialog

        dialog = FirstRunDialog(cast("PreparationService", _Deferred(self)), ready=self.ready)

        def opened(service: PreparationService) -> None:
            if service.has_users():
                dialog.done(SWITCH)

        result = self._show(dialog, opened)
        if result == QDialog.DialogCode.Accepted and dialog.created is None:
            return None, SWITCH  # accepted because a user exists after all
        return dialog.created, result

    def _opened(self) -> PreparationService:
        assert self.service is not None, "authenticate is called only after ready()"
        return self.service
