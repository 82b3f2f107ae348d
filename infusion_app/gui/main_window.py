"""The main window: the alarm banner, THE BOARD, and the way into the bench and the chair.

One QTimer (the ticker) drives every repaint: the board, then the chair and any open wizard.
Each tick asks the service's change feed what was stored since the last tick, rereads only
those preparations, has the domain recompute a preparation's deadlines only when one of its
states is due to change, and moves every countdown to the injected clock's now. Alarms are
derived from the stored events the same way, so the window reopens exactly as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..domain.formatting import format_instant
from ..domain.records import User
from . import theme
from .alarms import Alarm, AlarmController, AlarmSound
from .board import BoardPresenter, BoardView
from .icons import APP_NAME, application_icon
from .sign_in import SignInDialog
from .widgets import message_label

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.preparations import PreparationService
    from .chair import ChairPage
    from .course_view import CourseView

REPAINT_MS = 1000

log = logging.getLogger(__name__)


def confirm_quit_with_alarms(parent: QWidget, alarms: list[Alarm]) -> bool:
    """Closing the board silences its alarms: ask first. (Tests replace this function.)"""
    listed = "\n".join(f"• {a.describe()}" for a in alarms[:5])
    answer = QMessageBox.warning(
        parent,
        APP_NAME,
        f"{len(alarms)} alarm(s) are not acknowledged:\n\n{listed}\n\nWhile the program is closed, nothing will sound. Quit anyway?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


class AlarmBanner(QFrame):
    """Across the top of the window while any alarm is unacknowledged; flashes with the alarm."""

    def __init__(self, parent: QWidget | None = None, mnemonic: bool = True):
        super().__init__(parent)
        self.setObjectName("alarmBanner")
        # Inside the bench wizard the strip takes no Alt key: the wizard's pages have their own.
        self._mnemonic = "&" if mnemonic else ""
        self.text = QLabel(self)
        self.text.setObjectName("alarmText")
        self.text.setWordWrap(True)
        self.text.setFont(theme.font(theme.BANNER_POINT_SIZE, bold=True))
        self.acknowledge_button = QPushButton(f"{self._mnemonic}Acknowledge alarm", self)
        self.acknowledge_button.setObjectName("acknowledgeButton")
        self.acknowledge_button.setFont(theme.font(theme.BANNER_POINT_SIZE, bold=True))
        self.acknowledge_button.setMinimumHeight(theme.TOUCH_TARGET_PX + 16)
        self.sound_note = QLabel("No alarm sound on this computer: alarms are shown, not heard. Watch this screen.", self)
        self.sound_note.setObjectName("alarmSoundNote")
        self.sound_note.setWordWrap(True)
        self.sound_note.hide()
        # In a wizard's strip: the station's lost connection, as the main window shows it.
        self.connection = message_label("", "hardstop", self)
        self.connection.setObjectName("stripConnection")
        self.connection.hide()
        self._alarmed = False
        texts = QVBoxLayout()
        texts.addWidget(self.connection)
        texts.addWidget(self.text)
        texts.addWidget(self.sound_note)
        layout = QHBoxLayout(self)
        layout.addLayout(texts, 1)
        layout.addWidget(self.acknowledge_button)
        self._state = "warning"
        self.hide()

    def note_sound(self, unavailable: bool) -> None:
        self.sound_note.setVisible(unavailable)

    def show_connection(self, text: str) -> None:
        self.connection.setText(text)
        self.connection.setVisible(bool(text))
        self._show_if_needed()

    def _show_if_needed(self) -> None:
        self.text.setVisible(self._alarmed)
        self.acknowledge_button.setVisible(self._alarmed)
        self.setVisible(self._alarmed or bool(self.connection.text()))

    def show_alarms(self, alarms: list[Alarm]) -> None:
        self._alarmed = bool(alarms)
        if not alarms:
            self._show_if_needed()
            return
        first = alarms[0]
        self._state = first.state
        more = f"  (+{len(alarms) - 1} more)" if len(alarms) > 1 else ""
        self.text.setText(f"ALARM: {first.describe()}{more}")
        self.acknowledge_button.setText(f"{self._mnemonic}Acknowledge alarm" if len(alarms) == 1 else f"{self._mnemonic}Acknowledge {len(alarms)} alarms")
        self.flash(False)
        self._show_if_needed()

    def flash(self, phase: bool) -> None:
        background, foreground = theme.colours(self._state, phase)
        self.setStyleSheet(
            f"QFrame#alarmBanner {{ background-color: {background.name()}; }}QLabel#alarmText, QLabel#alarmSoundNote {{ color: {foreground.name()}; }}"
        )


SWITCH_USER_SHORTCUT = "Ctrl+Shift+L"


class MainWindow(QMainWindow):
    def __init__(self, service: PreparationService, user: User, parent: QWidget | None = None, *, repaint_ms: int = REPAINT_MS, sound: bool = True):
        super().__init__(parent)
        self.service = service
        self.user = user
        watch = getattr(service, "watch_connection", None)
        if watch is not None:
            watch()  # a lost server is shown here and refuses steps (domain/connection.py)
        self.presenter = BoardPresenter(service)
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(application_icon())
        self.resize(1280, 800)
        self._wizards: list[QDialog] = []
        self._alarm_strips: list[AlarmBanner] = []  # one in each open wizard

        self.alarms = AlarmController(self._record_acknowledgement, AlarmSound(enabled=sound), self)
        self.banner = AlarmBanner(self)
        self.banner.acknowledge_button.clicked.connect(self.acknowledge_alarms)
        self.alarms.alarms_changed.connect(self.banner.show_alarms)
        self.alarms.flash_toggled.connect(self._flash)

        self.board = BoardView(self)
        self.board.setObjectName("board")
        self.board.open_requested.connect(self.open_preparation)

        self.user_label = QLabel(self)
        self.user_label.setObjectName("userLabel")
        # Wraps rather than widens the board's top bar: a long name made the window wider than a
        # 1280 px screen, cutting off the clock and the alarm banner's button.
        self.user_label.setWordWrap(True)
        self.user_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.clock_label = QLabel(self)
        self.clock_label.setObjectName("clockLabel")
        self.clock_label.setFont(theme.font(theme.ROW_POINT_SIZE, bold=True))
        self.new_button = QPushButton("&New preparation", self)
        self.new_button.setObjectName("newPreparationButton")
        self.new_button.clicked.connect(self.new_preparation)
        self.open_button = QPushButton("&Open selected", self)
        self.open_button.setObjectName("openButton")
        self.open_button.clicked.connect(self._open_selected)
        self.discard_button = QPushButton("Disca&rd selected…", self)
        self.discard_button.setObjectName("boardDiscardButton")
        self.discard_button.clicked.connect(self.discard_selected)
        # Above the tabs, so the board, the chair and the course all show it.
        self.connection_banner = message_label("", "hardstop", self)
        self.connection_banner.setObjectName("connectionBanner")
        self.connection_banner.setFont(theme.font(theme.BANNER_POINT_SIZE, bold=True))
        self.connection_banner.hide()
        self._was_live = True
        self.empty_label = message_label("No preparation in progress. Press “New preparation” to start one.", "", self)
        self.empty_label.setObjectName("emptyBoard")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stale_label = message_label("", "hardstop", self)
        self.stale_label.setObjectName("staleBoard")
        self.stale_label.hide()
        # This workstation's clock against the database server's: shown whenever the server clock's
        # latest reading (every 30 s) finds it past the site's tolerance, not only at start.
        self.skew_label = message_label("", "warning", self)
        self.skew_label.setObjectName("clockSkewWarning")
        self.skew_label.hide()
        self.unreadable_label = message_label("", "hardstop", self)
        self.unreadable_label.setObjectName("unreadablePreparations")
        self.unreadable_label.hide()

        board_page = QWidget(self)
        board_layout = QVBoxLayout(board_page)
        top = self.top_layout = QHBoxLayout()
        top.addWidget(self.new_button)
        top.addWidget(self.open_button)
        top.addWidget(self.discard_button)
        # The label takes the bar's free width (right-aligned), so it wraps only when it must.
        top.addWidget(self.user_label, 1)
        top.addSpacing(12)  # 24 left the bar 6 px wider than a 1280 px screen once the outbox count joined it
        top.addWidget(self.clock_label)
        board_layout.addLayout(top)
        board_layout.addWidget(self.stale_label)
        board_layout.addWidget(self.unreadable_label)
        board_layout.addWidget(self.skew_label)
        board_layout.addWidget(self.empty_label)
        board_layout.addWidget(self.board, 1)

        # The window's one ticker (started once the window is built).
        self.repaint_timer = QTimer(self)
        self.repaint_timer.setInterval(repaint_ms)
        self.repaint_timer.timeout.connect(self._tick)
        self._followers: list[Callable[[], None]] = []  # the chair's and open wizards' repaints

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("tabs")
        self.tabs.addTab(board_page, "&Board")
        # The chair and the course are built the first time they are shown (or asked for): they
        # cost about 120 ms at every sign-in, before the board, and most sign-ins need one of them
        # at most (issue 19). Until then the tab holds an empty placeholder.
        self._chair: ChairPage | None = None
        self._course: CourseView | None = None
        self._placeholders: dict[str, QWidget] = {}
        for key, label in (("chair", "&Chair"), ("course", "Co&urse")):
            placeholder = QWidget(self)
            placeholder.setObjectName(f"{key}Placeholder")
            self._placeholders[key] = placeholder
            self.tabs.addTab(placeholder, label)
        self.tabs.currentChanged.connect(self._build_shown_tab)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.banner)
        layout.addWidget(self.connection_banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self._build_menus()
        self._show_user()

        self.repaint_timer.start()
        self._listen_for_other_stations()
        self.refresh()
        self.board.setFocus()

    def _listen_for_other_stations(self) -> None:
        """A shared database: another station's commit wakes this window at once (the board
        reads only what changed); the ticker still paints the countdowns every second."""
        self._listener = None
        try:
            self._listener = self.service.change_listener()
        except Exception:  # the server unreachable: the ticker's reads report it
            return
        if self._listener is None:
            return
        self._listener_lost = False
        self._notifier = self._make_notifier()

    def _other_station_committed(self) -> None:
        try:
            woke = self._listener.drain()
        except Exception:  # the connection is gone: stop listening; the tick finds out at once
            self._notifier.setEnabled(False)
            self._listener_lost = True
            self._tick()
            return
        if woke:
            self._tick()

    def _listen_again(self) -> None:
        """Back on line: a new listening connection (the old one died with the server)."""
        if self._listener is None:  # the server was gone at start
            self._listen_for_other_stations()
            return
        # Always anew: the old connection died with the server, though its socket may not have
        # been read since to say so.
        try:
            self._listener.reconnect()
        except Exception:  # noqa: BLE001 - tried again at the next reconnection
            return
        self._listener_lost = False
        self._notifier.setEnabled(False)
        self._notifier = self._make_notifier()

    def _make_notifier(self):
        from PySide6.QtCore import QSocketNotifier

        notifier = QSocketNotifier(self._listener.fileno(), QSocketNotifier.Type.Read, self)
        notifier.activated.connect(self._other_station_committed)
        return notifier

    # -- building -------------------------------------------------------------------------
    @property
    def chair(self) -> ChairPage:
        if self._chair is None:
            self._build_tab("chair")
        assert self._chair is not None
        return self._chair

    @property
    def course(self) -> CourseView:
        if self._course is None:
            self._build_tab("course")
        assert self._course is not None
        return self._course

    def _build_shown_tab(self, index: int) -> None:
        shown = self.tabs.widget(index)
        for key, placeholder in list(self._placeholders.items()):
            if placeholder is shown:
                self._build_tab(key)

    def _build_tab(self, key: str) -> None:
        """The page in place of its placeholder, at the same index, the shown tab kept shown."""
        placeholder = self._placeholders.pop(key)
        page = self._make_chair() if key == "chair" else self._make_course()
        index = self.tabs.indexOf(placeholder)
        label = self.tabs.tabText(index)
        shown = self.tabs.currentIndex()
        blocked = self.tabs.blockSignals(True)  # the swap is not a change of tab
        try:
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, page, label)
            self.tabs.setCurrentIndex(shown)
        finally:
            self.tabs.blockSignals(blocked)
        placeholder.deleteLater()

    def _make_chair(self) -> ChairPage:
        from .chair import ChairPage

        chair = self._chair = ChairPage(self.service, self.user, self)
        chair.step_recorded.connect(lambda _id: self.refresh())
        # Before any wizard opened meanwhile: the chair repaints first, as when it was built at start.
        self._follow_ticker(chair.repaint_timer, lambda: chair.repaint_countdown(), first=True)
        return chair

    def _make_course(self) -> CourseView:
        from .course_view import CourseView

        self._course = CourseView(self.service, self.user, self)
        return self._course

    def _follow_ticker(self, own_timer: QTimer, repaint: Callable[[], None], first: bool = False) -> None:
        """One ticker drives every repaint in the window (the board first, then the chair and
        any open wizard), instead of one timer each firing at its own moment."""
        own_timer.stop()
        self._followers.insert(0 if first else len(self._followers), repaint)

    def _unfollow(self, repaint: Callable[[], None]) -> None:
        if repaint in self._followers:
            self._followers.remove(repaint)

    def _tick(self) -> None:
        from ..domain.connection import NotLive

        self.refresh()
        for repaint in list(self._followers):
            try:
                repaint()
            except NotLive:
                pass  # the chair and the wizards keep what they show; the banners say why

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.new_action = QAction("&New preparation…", self)
        self.new_action.setShortcut(QKeySequence.StandardKey.New)
        self.new_action.triggered.connect(self.new_preparation)
        file_menu.addAction(self.new_action)
        self.switch_action = QAction("&Switch user…", self)
        # Not Ctrl+U: in a text field that is Qt's "delete line". Application-wide, so it works
        # from the bench wizard's window too.
        self.switch_action.setShortcut(QKeySequence(SWITCH_USER_SHORTCUT))
        self.switch_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.switch_action.triggered.connect(self.switch_user)
        file_menu.addAction(self.switch_action)
        file_menu.addSeparator()
        # Printing from the board (the selected row) or the chair (the open bag): the label goes
        # to the site's label printer in one action; a print after labelling is a REPRINT.
        self.print_label_action = QAction("Print or reprint the &label", self)
        self.print_label_action.setShortcut(QKeySequence("Ctrl+P"))
        self.print_label_action.triggered.connect(lambda: self.print_selected("label"))
        file_menu.addAction(self.print_label_action)
        self.print_sheet_action = QAction("Prep s&heet…", self)
        self.print_sheet_action.setShortcut(QKeySequence("Ctrl+Shift+P"))
        self.print_sheet_action.triggered.connect(lambda: self.print_selected("sheet"))
        file_menu.addAction(self.print_sheet_action)
        from .interchange_controls import InterchangeControls

        self.interchange = InterchangeControls(self, file_menu, self.top_layout)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        tools_menu = self.menuBar().addMenu("&Tools")
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.triggered.connect(self.show_settings)
        tools_menu.addAction(self.settings_action)

        alarm_menu = self.menuBar().addMenu("A&larms")  # Alt+A is the banner's Acknowledge
        self.acknowledge_action = QAction("&Acknowledge all alarms", self)
        self.acknowledge_action.setShortcut(QKeySequence("Ctrl+K"))
        self.acknowledge_action.triggered.connect(self.acknowledge_alarms)
        alarm_menu.addAction(self.acknowledge_action)

        help_menu = self.menuBar().addMenu("&Help")
        about_action = QAction("&About Infusion Prep", self)
        about_action.triggered.connect(self.show_about)
        help_menu.addAction(about_action)

    # -- printing ---------------------------------------------------------------------------
    def print_target(self) -> str | None:
        """The open bag when the chair is shown, else the preparation selected on the board."""
        chair = self._chair  # never built just to be asked
        if chair is not None and self.tabs.currentWidget() is chair and getattr(chair, "prep", None) is not None:
            return chair.prep.id
        return self.board.selected_id()

    def document_printer(self):
        from .printing import DocumentPrinter

        return DocumentPrinter(self.service, self.user, self, warn=self.print_warn)

    def print_warn(self, parent, title: str, text: str) -> None:
        QMessageBox.warning(parent, title, text)

    def print_selected(self, kind: str) -> None:
        prep_id = self.print_target()
        if not prep_id:
            self.print_warn(self, "Print", "Select a preparation on the board (or open a bag at the chair) first.")
            return
        printer = self.document_printer()
        if kind == "label":
            if printer.print_label_now(prep_id) is not None:
                self.statusBar().showMessage(printer.last_message, 15000)
        else:
            printer.preview(prep_id, "sheet")

    # -- the tick ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read storage and repaint. Never changes anything stored."""
        try:
            rows, alarms = self.presenter.read()
        except Exception as exc:  # noqa: BLE001 - a timer slot must never die silently
            # The board would be stale: say so loudly and keep the alarms already sounding.
            log.exception("the board could not be read")
            self.stale_label.setText(
                f"THE BOARD IS NOT UP TO DATE: the preparations could not be read ({exc}). Check the time limits on the prep sheets; call IT."
            )
            self.stale_label.show()
            return
        self.stale_label.hide()
        self._show_connection()
        self.board.set_rows(rows)
        self._show_unreadable()
        self.empty_label.setVisible(not rows and not self.unreadable_label.isVisibleTo(self))
        self.alarms.update(alarms)
        self.board.board_model.set_flash_phase(self.alarms.flash_phase)
        self.clock_label.setText(format_instant(self.presenter.now, seconds=True))
        self._show_skew()

    def _show_connection(self) -> None:
        """The service's connection state, shown: red while not live, gone once reconnected."""
        state_of = getattr(self.service, "connection_state", None)
        if state_of is None:
            return
        state = state_of()
        if state.live:
            self.connection_banner.hide()
            if not self._was_live:
                self._listen_again()
                self.statusBar().showMessage("Live again: the board was reloaded from the database.", 15000)
        else:
            self.connection_banner.setText(f"{state.headline()}\n{state.details(self.presenter.now)}")
            self.connection_banner.show()
        for strip in self._alarm_strips:  # an open wizard is a window of its own: it says so too
            strip.show_connection(self.connection_banner.text() if not state.live else "")
        self._was_live = state.live
        # A new preparation cannot be stored while not live: not even begun, to be typed for nothing.
        self.new_button.setEnabled(state.live)
        self.new_action.setEnabled(state.live)

    def _show_unreadable(self) -> None:
        unreadable = getattr(self.presenter, "unreadable", {})
        self.unreadable_label.setText(
            "\n".join(
                f"PREPARATION {prep_id} CANNOT BE READ and is not on the board: {why}. "
                "Check its prep sheet's time limits; run 'infusion-prep audit verify' and call IT."
                for prep_id, why in sorted(unreadable.items())
            )
        )
        self.unreadable_label.setVisible(bool(unreadable))

    def _show_skew(self) -> None:
        try:
            skew = self.service.clock_skew_warning()
        except Exception:  # noqa: BLE001 - the tolerance unreadable: the connection state says why
            skew = None
        self.skew_label.setText("" if skew is None else skew[0].upper() + skew[1:] + ".")
        self.skew_label.setVisible(skew is not None)

    def _flash(self, phase: bool) -> None:
        self.board.board_model.set_flash_phase(phase)
        for banner in [self.banner, *self._alarm_strips]:
            banner.flash(phase)
            banner.note_sound(self.alarms.sound.unavailable)

    # -- alarms -----------------------------------------------------------------------------
    def _record_acknowledgement(self, alarm: Alarm) -> None:
        self.service.acknowledge_alarm(alarm.preparation_id, alarm.deadline_key, alarm.state, self.user)

    def acknowledge_alarms(self) -> None:
        try:
            self.alarms.acknowledge_all()
        except Exception as exc:  # not stored: the alarm stays on, and the person is told why
            QMessageBox.warning(self, APP_NAME, f"The acknowledgement could not be recorded; the alarm stays on.\n\n{exc}")
        self.refresh()

    # -- users ------------------------------------------------------------------------------
    def _show_user(self) -> None:
        self.user_label.setText(f"Signed in: {self.user.name} ({self.user.role.value})")
        # In the title bar the signed-in person is seen from every tab.
        self.setWindowTitle(f"{self.user.name} ({self.user.role.value})")
        if self._chair is not None:  # a page built later is built for the user then signed in
            self._chair.user = self.user
        if self._course is not None:
            self._course.user = self.user

    @staticmethod
    def sign_in(service, parent: QWidget | None = None, title: str = "Sign in") -> User | None:
        dialog = SignInDialog(service.authenticate, [u.name for u in service.users()], parent, title=title)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.user

    @staticmethod
    def first_user(service) -> User | None:
        """At start: the first-run setup when nobody exists yet, then sign-in."""
        if not service.has_users():
            from .first_run import FirstRunDialog

            dialog = FirstRunDialog(service)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            return dialog.created  # the pharmacist who just chose a PIN is signed in
        return MainWindow.sign_in(service)

    def switch_user(self) -> None:
        user = self.sign_in(self.service, self, title="Switch user")
        if user is not None:
            # What the previous person typed is theirs: the chair and the course tab start clean, open wizards close
            # (every recorded step is stored; the new person reopens the preparation as themself).
            for wizard in list(self._wizards):
                wizard.done(QDialog.DialogCode.Rejected)
            if self._chair is not None:
                self._chair.reset()
            if self._course is not None:
                self._course.reset()
            self.user = user
            self._show_user()

    # -- opening work -----------------------------------------------------------------------
    def new_preparation(self) -> None:
        self._open_wizard(None)

    def _open_selected(self) -> None:
        prep_id = self.board.selected_id()
        if prep_id is not None:
            self.open_preparation(prep_id)

    def discard_selected(self) -> bool:
        """A pharmacist discards the selected preparation (name, PIN, reason), whoever is signed in."""
        prep_id = self.board.selected_id()
        if prep_id is None:
            return False
        from .discard import ask_discard

        status = ask_discard(self.service, prep_id, self)
        if status is None:
            return False
        self.refresh()
        return True

    def open_preparation(self, prep_id: str) -> None:
        """Resume at the current step: the bench wizard for bench steps, the chair for the rest."""
        from ..domain.errors import DataFileError
        from ..domain.preparation import StepRefused
        from .errors import error_text

        try:
            bench = self.presenter.is_bench_step(prep_id)
        except (StepRefused, DataFileError) as exc:  # NotLive among them: the station has lost the database
            self.stale_label.setText(f"{prep_id} could not be opened: {error_text(exc)}")
            self.stale_label.show()
            return
        if bench:
            self._open_wizard(prep_id)
        else:
            self.tabs.setCurrentWidget(self.chair)
            self.chair.open_preparation(prep_id)

    def _open_wizard(self, prep_id: str | None):
        from .bench_wizard import BenchWizard

        wizard = BenchWizard(self.service, self.user, prep_id, self)
        wizard.setObjectName("benchWizard")
        wizard.step_recorded.connect(lambda _id: self.refresh())
        wizard.preparation_created.connect(lambda _id: self.refresh())

        def repaint() -> None:
            if wizard.isVisible():
                wizard.repaint_deadline()

        def finished(_result) -> None:
            if wizard in self._wizards:
                self._wizards.remove(wizard)
            # A closed wizard stays a child of this window: it must not go on reading every second.
            self._unfollow(repaint)
            self.refresh()

        # Other preparations' alarms stay in sight, and can be acknowledged, while the wizard covers the board.
        strip = AlarmBanner(wizard, mnemonic=False)
        strip.acknowledge_button.clicked.connect(self.acknowledge_alarms)
        self.alarms.alarms_changed.connect(strip.show_alarms)
        strip.show_alarms(self.alarms.alarms)
        strip.show_connection(self.connection_banner.text() if self.connection_banner.isVisibleTo(self) else "")
        strip.note_sound(self.alarms.sound.unavailable)
        wizard.attach_alarm_strip(strip)
        self._alarm_strips.append(strip)

        def forget_strip(_result) -> None:
            self.alarms.alarms_changed.disconnect(strip.show_alarms)
            if strip in self._alarm_strips:
                self._alarm_strips.remove(strip)

        wizard.finished.connect(forget_strip)
        wizard.finished.connect(finished)
        self._follow_ticker(wizard.repaint_timer, repaint)
        self._wizards.append(wizard)
        wizard.setWindowModality(Qt.WindowModality.NonModal)
        wizard.show()
        return wizard

    def show_settings(self) -> None:
        from .settings import SettingsDialog

        SettingsDialog(self.service, self.user, self).exec()
        self.refresh()  # a new warning lead time changes the states at once

    def show_about(self) -> None:
        from .about import AboutDialog

        AboutDialog(self, drugs=self.service.drugs(), shown=self.service.default_drug()).exec()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        alarms = self.alarms.alarms
        if alarms and not confirm_quit_with_alarms(self, alarms):
            event.ignore()
            return
        self.repaint_timer.stop()
        if getattr(self, "_listener", None) is not None:
            self._notifier.setEnabled(False)
            self._listener.close()
        self.alarms.update([])
        self.alarms.sound.close()
        for wizard in list(self._wizards):
            wizard.close()
        super().closeEvent(event)
