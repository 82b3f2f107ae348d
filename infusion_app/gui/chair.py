"""At the infusion chair: scan the bag, confirm the patient, premedicate, infuse, observe.

The nurse scans the bag label's 2D code (a scanner types the preparation id and presses Enter)
or types the id; confirms the patient by two identifiers; records the premedication classes of
the bag's drug; starts the infusion (the domain refuses it after the start-by deadline); ends it;
and waits out the observation. Every step is recorded through the service, which asks the domain
whether it may happen and commits it before this page moves on. Which step is shown comes from
the domain's current_step() of the stored preparation, so a bag reopened halfway through lands
where it was left.

ChairPage is the frame (the bag and its countdown at the head, the scan field, the refrigerator
strip) around one widget per step (gui/chair_steps.py); the open bag, the service calls, the one
override flow and the one error-to-text live in gui/chair_controller.py.

The remaining time to the relevant deadline stays on screen, large, above every step. The
repaint timer only re-reads the stored deadlines against the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..domain.clock import Clock
from ..domain.errors import ValidationError
from ..domain.formatting import format_countdown, format_dose, format_instant
from ..domain.records import EventType, Preparation, User
from ..domain.urgency import most_urgent
from . import theme
from .chair_controller import CHAIR_STEPS, ChairController, Outcome
from .chair_steps import (
    EARLY_END_MARGIN,
    ActionStep,
    ChairStep,
    ConfirmStep,
    DoneStep,
    InfusingStep,
    ObservingStep,
    PremedicationStep,
    ScanStep,
    StartStep,
    say,
    show,
    sized,
)
from .errors import error_text
from .widgets import CountdownLabel, LateEntry, ScanField, message_label

if TYPE_CHECKING:
    from ..service.preparations import PreparationService, PreparationStatus

__all__ = ["CHAIR_STEPS", "EARLY_END_MARGIN", "ChairPage", "ask_pharmacist_override"]

# The chair's countdown is read from the infusion chair and across the bay: bigger than the board's.
CHAIR_COUNTDOWN_POINT_SIZE = 54

STEP_TEXT = {
    "premedicate": "Next: premedication",
    "start infusion": "Next: start the infusion",
    "infusing": "Now: infusing",
    "observing": "Now: observation after the infusion",
    "done": "Done",
}

_sized = sized


class _ChairCountdown(CountdownLabel):
    """The shared countdown, at the chair's larger size (kept through every colour change)."""

    def __init__(self, point_size: int, parent: QWidget | None = None):
        self._point_size = point_size
        super().__init__(point_size, parent)

    def show_value(self, text: str, state: str, flash_phase: bool = False) -> None:
        super().show_value(text, state, flash_phase)
        self.setStyleSheet(self.styleSheet() + f" font-size: {self._point_size}pt; font-weight: bold; padding: 4px 24px;")


class ChairPage(QWidget):
    """The nurse's screen for one bag, from scan to the end of observation."""

    step_recorded = Signal(str)  # preparation id: the board should repaint

    def __init__(
        self,
        service: PreparationService,
        user: User,
        parent: QWidget | None = None,
        *,
        clock: Clock | None = None,
        repaint_ms: int = 1000,
        ask_override: Callable[[str, list[str], QWidget], tuple[str, str, str] | None] | None = None,
    ):
        super().__init__(parent)
        self.setObjectName("chairPage")
        self.service = service
        # The service's clock never runs backwards; a repaint must not either.
        self.clock = clock or service.clock
        self.controller = ChairController(service, user, self.clock, recorded=self.step_recorded.emit)
        self._shown_step: str | None = None
        self._ask_override = ask_override or ask_pharmacist_override

        outer = QVBoxLayout(self)
        outer.addWidget(self._build_header())
        from .fridge import FridgeStrip

        self.fridge = FridgeStrip(
            "bag",
            service,
            user=lambda: self.user,
            preparation=lambda: self.prep,
            recorded=self._fridge_recorded,
            parent=self,
            only_if_refrigerated=True,
            status=self.followed_status,
        )
        outer.addWidget(self.fridge)
        self.stack = QStackedWidget(self)
        outer.addWidget(self.stack, 1)
        c = self.controller
        self.scan_page = ScanStep(c, self)
        self.confirm_page = ConfirmStep(c, self)
        self.premed_page = PremedicationStep(c, self)
        self.start_page = StartStep(c, self)
        self.infusing_page = InfusingStep(c, self)
        self.observing_page = ObservingStep(c, self)
        self.done_page = DoneStep(c, self, next_bag=self.reset)
        self.steps: tuple[ChairStep, ...] = (
            self.scan_page,
            self.confirm_page,
            self.premed_page,
            self.start_page,
            self.infusing_page,
            self.observing_page,
            self.done_page,
        )
        for step in self.steps:
            self.stack.addWidget(step)
            step.advanced.connect(self._go_to_current_step)
        self.action_steps: dict[EventType, ActionStep] = {s.event: s for s in self.steps if isinstance(s, ActionStep)}
        self.late_entries: dict[EventType, LateEntry] = {k: s.late for k, s in self.action_steps.items()}
        self.override_buttons: dict[EventType, QPushButton] = {k: s.override_button for k, s in self.action_steps.items()}
        self._name_step_widgets()

        # Enter on a focused button presses it (outside a dialog Qt only does that for these).
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(True)
        # Ending an infusion is never what Enter or a scanner's Enter does: only a deliberate click
        # (or its mnemonic) ends it.
        self.end_button.setAutoDefault(False)

        self.repaint_timer = QTimer(self)
        self.repaint_timer.setInterval(repaint_ms)
        self.repaint_timer.timeout.connect(self.repaint_countdown)
        self.repaint_timer.start()
        self._show_page(self.scan_page)

    def _name_step_widgets(self) -> None:
        """The step widgets' fields under the names the board, the tests and the benchmarks reach."""
        confirm, premed, start = self.confirm_page, self.premed_page, self.start_page
        self.confirm_name, self.confirm_dob, self.confirm_mrn = confirm.name, confirm.dob, confirm.mrn
        self.use_dob, self.use_mrn = confirm.use_dob, confirm.use_mrn
        self.confirm_message, self.confirm_button = confirm.message, confirm.button
        self.premed_message, self.premed_button = premed.message, premed.button
        self.rate_label, self.start_notes, self.start_message, self.start_button = start.rate, start.info, start.message, start.button
        infusing, observing = self.infusing_page, self.observing_page
        self.infusing_info, self.end_message, self.end_button = infusing.info, infusing.message, infusing.button
        self.early_reason = infusing.early_reason
        self.observing_info, self.observe_message, self.observe_button = observing.info, observing.message, observing.button
        done = self.done_page
        self.done_info, self.course_message = done.info, done.course_message
        self.course_button, self.next_bag_button = done.course_button, done.next_bag_button

    # -- the controller's state --------------------------------------------------------------
    @property
    def prep(self) -> Preparation | None:
        return self.controller.prep

    @property
    def user(self) -> User:
        return self.controller.user

    @user.setter
    def user(self, user: User) -> None:
        self.controller.user = user

    @property
    def premed_rows(self) -> dict:
        return self.premed_page.rows

    @property
    def _correction_dialog(self) -> Any:
        return self.premed_page._correction_dialog

    def correct_premedication(self, drug_class: str) -> bool:
        return self.premed_page.correct(drug_class)

    def record_in_course(self) -> bool:
        return self.done_page.record_in_course()

    def planned_end(self) -> datetime | None:
        return self.controller.planned_end()

    # -- layout ------------------------------------------------------------------------------

    def _build_header(self) -> QWidget:
        header = QFrame(self)
        header.setObjectName("chairHeader")
        header.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(header)
        left = QVBoxLayout()
        self.patient_label = QLabel("No bag scanned", header)
        self.patient_label.setObjectName("chairPatient")
        sized(self.patient_label, theme.BANNER_POINT_SIZE, bold=True)
        self.patient_label.setWordWrap(True)
        self.bag_label = QLabel("", header)
        self.bag_label.setObjectName("chairBag")
        self.bag_label.setWordWrap(True)
        self.step_label = QLabel("", header)
        self.step_label.setObjectName("chairStep")
        sized(self.step_label, theme.ROW_POINT_SIZE, bold=True)
        left.addWidget(self.patient_label)
        left.addWidget(self.bag_label)
        left.addWidget(self.step_label)
        left.addStretch(1)
        left.addWidget(self._build_scan_row())
        layout.addLayout(left, 1)

        right = QVBoxLayout()
        self.deadline_caption = QLabel("", header)
        self.deadline_caption.setObjectName("chairDeadlineCaption")
        sized(self.deadline_caption, theme.ROW_POINT_SIZE, bold=True)
        self.deadline_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.deadline_caption.setWordWrap(True)
        self.countdown = _ChairCountdown(CHAIR_COUNTDOWN_POINT_SIZE, header)
        self.countdown.setObjectName("chairCountdown")
        self.countdown.ensurePolished()
        self.countdown.setMinimumWidth(self.countdown.fontMetrics().horizontalAdvance("-00:00:00") + 60)
        # The same height with or without digits, so the page never jumps as steps change.
        big = QFontMetrics(theme.font(CHAIR_COUNTDOWN_POINT_SIZE, bold=True))
        self.countdown.setMinimumHeight(big.height() + 8)  # the 4 px padding above and below
        right.addWidget(self.deadline_caption)
        right.addWidget(self.countdown)
        layout.addLayout(right)
        return header

    def _build_scan_row(self) -> QWidget:
        """The chair's scan field: always on screen, so a scan never lands on a step's button and a
        nurse with several chairs can open another bag while one is infusing."""
        box = QWidget(self)
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        column.addLayout(row)
        caption = QLabel("Scan &bag:", box)
        # A ScanField takes its Enter: passed on to the chair, it opened the bag a second time with the
        # emptied field (a red "scan the bag" error) wherever the page keeps the focus here.
        self.scan_field = ScanField(box)
        self.scan_field.setObjectName("scanField")
        self.scan_field.setPlaceholderText("scan the bag, or type its id")
        self.scan_field.setAccessibleName("preparation id")
        caption.setBuddy(self.scan_field)
        sized(self.scan_field, theme.ROW_POINT_SIZE)
        self.scan_field.returnPressed.connect(self.open_scanned)
        self.open_button = QPushButton("&Open bag", box)
        self.open_button.setObjectName("openBagButton")
        self.open_button.clicked.connect(self.open_scanned)
        self.discard_button = QPushButton("Disca&rd this bag…", box)
        self.discard_button.setObjectName("chairDiscardButton")
        self.discard_button.setAutoDefault(False)
        self.discard_button.clicked.connect(lambda: self.discard())
        self.discard_button.hide()
        # A label torn or smudged at the chair: reprinted to the label printer, marked REPRINT.
        self.reprint_button = QPushButton("Re&print label", box)
        self.reprint_button.setObjectName("chairReprintButton")
        self.reprint_button.setAutoDefault(False)
        self.reprint_button.clicked.connect(lambda: self.reprint_label())
        self.reprint_button.hide()
        row.addWidget(caption)
        row.addWidget(self.scan_field, 1)
        row.addWidget(self.open_button)
        row.addWidget(self.discard_button)
        row.addWidget(self.reprint_button)
        # Under the field, on every page: a refused scan is seen whichever bag is open.
        self.scan_message = message_label("", "", box)
        self.scan_message.setObjectName("scanMessage")
        column.addWidget(self.scan_message)
        return box

    # -- steps -------------------------------------------------------------------------------

    def _fridge_recorded(self, status: PreparationStatus) -> None:
        self.controller.adopt(status.prep)
        self.step_recorded.emit(status.prep.id)
        self.repaint_countdown()

    def run_step(self, kind: EventType, message: QLabel, details: dict | None = None, deviation_reason: str | None = None) -> bool:
        """Record one step now (or when it was entered late); on refusal show the domain's reason and stay.

        A refusal the domain marks overridable (a time limit) offers a pharmacist's override;
        any other refusal (order, role, missing premedication) cannot be overridden here. A fact
        that breaks a limit (an infusion ended after its end limit, an observation ended early)
        asks for the deviation's reason, and is recorded with it at the next press.
        """
        self._hide_override_buttons()
        late = self.late_entries.get(kind)
        try:
            at = late.at() if late is not None else None
        except ValidationError as exc:  # a time the clocks showed twice, not yet chosen, or never showed
            say(message, error_text(exc), "error")
            return False
        outcome = self.controller.run_step(kind, at=at, details=details, deviation_reason=deviation_reason)
        step = self.action_steps.get(kind)
        if outcome.ok:
            say(message, "", "")
            if step is not None:
                step.deviation_done()
            return True
        show(message, outcome)
        if outcome.deviation_allowed and step is not None:
            step.ask_deviation(outcome.text)
        if outcome.limit_passed and self.discard_button.isVisible():
            # A label limit passed: the bag is discarded and prepared again; override only if asked.
            say(message, outcome.text + " Discard this bag (a pharmacist signs it), or call a pharmacist.", "hardstop")
            self.discard_button.setFocus()
        if self.controller.pending_override is not None and kind in self.override_buttons:
            self.override_buttons[kind].show()
        self.repaint_countdown()
        return False

    _run_step = run_step

    def _hide_override_buttons(self) -> None:
        self.controller.pending_override = None
        for button in self.override_buttons.values():
            button.hide()

    def override_refusal(self) -> bool:
        """A pharmacist (name, PIN, reason) overrides the last overridable refusal; then the step is recorded."""
        pending = self.controller.pending_override
        if pending is None or self.prep is None:
            return False
        message = self.action_steps[pending.kind].message
        answer = self._ask_override(pending.refusal.message, self.controller.pharmacists(), self)
        outcome: Outcome = self.controller.override(answer)
        if not outcome.ok:
            if outcome.text:
                show(message, outcome)
            return False
        self._hide_override_buttons()
        say(message, "", "")
        self._go_to_current_step()
        return True

    # -- navigation --------------------------------------------------------------------------

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        """Typing that no field took (focus on a button): a scan, sent to the scan field."""
        text = event.text()
        if text and text.isprintable() and not event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            if self.focusWidget() is not self.scan_field:
                self.scan_field.clear()
                self.scan_field.setFocus()
            self.scan_field.insert(text)
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.focusWidget() is self.scan_field:
            self.open_scanned()  # the scanner's Enter after text redirected here
            return
        super().keyPressEvent(event)

    def reset(self) -> None:
        """No bag open, nothing typed left in any field (a new bag, or another person signed in)."""
        self.controller.close()
        self._clear_step_fields()
        self._show_header()
        self.scan_field.clear()
        say(self.scan_message, "", "")
        self._show_page(self.scan_page)

    def open_scanned(self) -> None:
        outcome = self.controller.open(self.scan_field.text())
        show(self.scan_message, outcome)
        if not outcome.ok:
            self.scan_field.selectAll()
            return
        assert self.controller.monograph is not None
        self.premed_page.build_rows(self.controller.monograph)
        self.scan_field.clear()
        self._clear_step_fields()
        self._go_to_current_step()

    def open_preparation(self, prep_id: str) -> None:
        """Open a bag by id (from the board)."""
        self.scan_field.setText(prep_id)
        self.open_scanned()

    def _clear_step_fields(self) -> None:
        for step in self.steps:
            step.clear()

    def _go_to_current_step(self) -> None:
        assert self.prep is not None
        step = self.controller.step()
        self._shown_step = step
        self._show_header()
        page: ChairStep | None = {
            "premedicate": self.premed_page,
            "start infusion": self.start_page,
            "infusing": self.infusing_page,
            "observing": self.observing_page,
            "done": self.done_page,
        }.get(step)
        if step in ("premedicate", "start infusion") and not self.controller.confirmed():
            self.step_label.setText("Next: confirm the patient (two identifiers)")
            page = self.confirm_page
        if page is None:
            say(self.scan_message, f"{self.prep.id}: next step is '{step}'; nothing to do at the chair.", "hardstop")
            self.controller.close()
            self._show_page(self.scan_page)
            return
        page.fill()
        self._show_page(page)

    def reprint_label(self) -> bool:
        """The open bag's label again, to the site's label printer (REPRINT and its time on it)."""
        if self.prep is None:
            return False
        from .printing import DocumentPrinter

        printer = DocumentPrinter(self.service, self.user, self, warn=lambda _p, _t, text: say(self.scan_message, text, "error"))
        job = printer.print_label_now(self.prep.id)
        if job is not None:
            say(self.scan_message, printer.last_message, "ok")
        return job is not None

    def discard(self, why: str = "") -> bool:
        """A pharmacist discards the open bag (before its infusion starts)."""
        if self.prep is None:
            return False
        from .discard import ask_discard

        status = ask_discard(self.service, self.prep.id, self, why)
        if status is None:
            return False
        self.step_recorded.emit(status.id)
        self.reset()
        say(self.scan_message, f"Bag {status.id} discarded by {status.prep.last(EventType.DISCARDED).user}.", "ok")
        return True

    def _show_page(self, page: ChairStep) -> None:
        self._hide_override_buttons()
        self.fridge.refresh()
        self.discard_button.setVisible(self.prep is not None and page in (self.confirm_page, self.premed_page, self.start_page))
        self.reprint_button.setVisible(self.prep is not None and page is not self.scan_page)
        self.stack.setCurrentWidget(page)
        focus = page.focus_widget()
        if focus is not None:
            focus.setFocus()
        default = page.default_button()
        for step in self.steps:
            button = step.default_button() or getattr(step, "button", None)
            if isinstance(button, QPushButton):
                button.setDefault(button is default)
        self.repaint_countdown()

    # -- what is shown -----------------------------------------------------------------------

    def _show_header(self) -> None:
        if self.prep is None:
            self.patient_label.setText("No bag scanned")
            self.bag_label.setText("")
            self.step_label.setText("")
            return
        patient = self.prep.patient
        if self.controller.confirmed():
            self.patient_label.setText(f"{patient.name} · MRN {patient.mrn} · born {patient.date_of_birth.isoformat()}")
        else:
            # Not shown before the nurse has entered both identifiers independently.
            self.patient_label.setText("Patient not yet confirmed")
        order = self.prep.order
        drug = self.controller.monograph
        name = f" · {drug.brand_name}" if drug is not None else ""
        regimen = f" ({drug.regimen.id})" if drug is not None and drug.regimen is not None else ""
        dose_text = f" · dose {format_dose(order.calculation.dose_mg)}"
        where = f" · cycle {order.cycle} day {order.day}"
        self.bag_label.setText(f"Bag {self.prep.id}{name}{regimen}{dose_text}{where}")
        step = self.controller.step()
        self.step_label.setText(STEP_TEXT.get(step, step))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.repaint_countdown()

    _follower: Any = None

    def followed_status(self, prep_id: str) -> Any:
        """service.status(prep_id) for a tick: read from storage only when the change feed names it."""
        if self._follower is None or self._follower.service is not self.service:
            from .following import StatusFollower

            self._follower = StatusFollower(self.service)
        return self._follower.status(prep_id)

    def repaint_countdown(self) -> None:
        """Re-read the stored preparation's deadlines (service + domain, injected clock); show the next."""
        if not self.isVisible():
            return  # a hidden tab reads nothing; showEvent repaints it when it comes back
        if self.prep is None:
            self.deadline_caption.setText("No bag open\n")
            self.countdown.show_value("—", "none")
            return
        try:
            status = self.followed_status(self.prep.id)
        except ValidationError:  # removed from storage meanwhile: nothing to count down
            self.deadline_caption.setText("Preparation not found\n")
            self.countdown.show_value("—", "none")
            return
        if len(status.prep.events) != len(self.prep.events):
            # Another workstation recorded a step: follow the stored state.
            self.controller.adopt(status.prep)
            if status.current_step != self._shown_step:
                self._go_to_current_step()
                return
        self.fridge.refresh()
        if self.stack.currentWidget() is self.premed_page:
            self.premed_page.keep_time_at(status.now)
        if status.current_step == "infusing":
            planned = self.planned_end()
            started = status.prep.last(EventType.INFUSION_STARTED)
            if planned is not None and started is not None:
                # The nurse watches the bag's expected end, not the end-of-infusion limit (the board still shows that).
                elapsed = format_countdown((status.now - started.at).total_seconds())
                self.deadline_caption.setText(f"Expected end {format_instant(planned)}\nElapsed {elapsed}")
                state = "ok" if status.now < planned else "warning"
                # A bag running past its expected end is a yellow matter until the label's end-of-
                # infusion limit comes near: then the limit's own alarm colour (red once due).
                limit = next((d for d in status.deadlines if d.key == "end_infusion_by"), None)
                if limit is not None:
                    state = most_urgent(state, limit.state.value)
                self.countdown.show_value(format_countdown((planned - status.now).total_seconds()), state)
                return
        deadline = status.next_deadline
        if deadline is None:
            self.deadline_caption.setText("No deadline running\n")
            self.countdown.show_value("—", "none")
            return
        self.deadline_caption.setText(f"{deadline.label}\n{format_instant(deadline.at)}")
        self.countdown.show_value(format_countdown((deadline.at - status.now).total_seconds()), deadline.state.value)


def ask_pharmacist_override(refusal: str, pharmacists: list[str], parent: QWidget) -> tuple[str, str, str] | None:
    """The bench's override dialog: a pharmacist's name, PIN and reason, or None if cancelled."""
    from .bench_wizard import OverrideDialog

    dialog = OverrideDialog(refusal, pharmacists, parent)
    dialog.setObjectName("overrideDialog")
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.values()
