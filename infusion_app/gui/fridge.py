"""Refrigerator moves where they happen: reconstituted vials at the bench, the diluted bag at the
bench and the chair.

One strip: what is in the refrigerator, the button for the move that may come next, and while a
refrigerated bag warms up, when it is ready and how long is left. The moves and their rules are the
domain's (EventType.*_FRIDGE, deadlines warm_until and bag_from_fridge_by); the strip shows them and
records what the user says through the service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QWidget

from ..domain.deadlines import Timeline
from ..domain.errors import ValidationError
from ..domain.formatting import format_countdown, format_instant
from ..domain.preparation import StepRefused
from ..domain.records import EventType, Preparation
from .widgets import message_label, set_role

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.preparations import PreparationService


class FridgeStrip(QFrame):
    """`what` is 'vials' (reconstitution to dilution) or 'bag' (dilution to the start of the infusion)."""

    def __init__(
        self,
        what: str,
        service: PreparationService | None,
        user: Callable[[], Any],
        preparation: Callable[[], Preparation | None],
        recorded: Callable[[Any], None],
        parent: QWidget | None = None,
        only_if_refrigerated: bool = False,
        status: Callable[[str], Any] | None = None,
    ):
        super().__init__(parent)
        # At the chair a room-temperature bag needs no strip; at the bench any bag may go in.
        self.only_if_refrigerated = only_if_refrigerated
        self.what = what
        self.service = service
        self._user = user
        self._preparation = preparation
        self._recorded = recorded
        # The page's StatusFollower: a tick reads the preparation only when it changed.
        self._status = status
        self.setObjectName(f"fridgeStrip_{what}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        self.state = message_label("", "", self)
        self.state.setObjectName(f"fridgeState_{what}")
        layout.addWidget(self.state, 1)
        noun = "vials" if what == "vials" else "bag"
        self.out_button = QPushButton(f"{noun.capitalize()} taken o&ut of the refrigerator now", self)
        self.out_button.setObjectName(f"fridgeOut_{what}")
        self.in_button = QPushButton(f"{noun.capitalize()} put &in the refrigerator now", self)
        self.in_button.setObjectName(f"fridgeIn_{what}")
        for button in (self.out_button, self.in_button):
            button.setAutoDefault(False)  # a move is said deliberately, never by Enter
            layout.addWidget(button)
        self.out_button.clicked.connect(lambda: self._move(out=True))
        self.in_button.clicked.connect(lambda: self._move(out=False))
        self.refresh()

    def _kinds(self) -> tuple[EventType, EventType]:
        if self.what == "vials":
            return EventType.RECONSTITUTED_TO_FRIDGE, EventType.RECONSTITUTED_FROM_FRIDGE
        return EventType.BAG_TO_FRIDGE, EventType.BAG_FROM_FRIDGE

    def _applies(self, line: Timeline) -> bool:
        if self.what == "vials":
            return line.reconstituted is not None and line.diluted is None
        if self.only_if_refrigerated and not line.bag_ever_refrigerated:
            return False
        return line.diluted is not None and line.infusion_started is None and line.discarded is None

    def _move(self, out: bool) -> bool:
        prep = self._preparation()
        if prep is None:
            return False
        into, from_ = self._kinds()
        try:
            status = self.service.record_event(prep.id, from_ if out else into, self._user())
        except (ValidationError, StepRefused) as exc:
            text = exc.message if isinstance(exc, (ValidationError, StepRefused)) else str(exc)
            self.state.setText(f"Not recorded: {text}")
            set_role(self.state, "error")
            return False
        self._recorded(status)
        self.refresh()
        return True

    def refresh(self) -> None:
        """Show the current state; hidden when no refrigerator move applies to this step."""
        prep = self._preparation()
        line = Timeline.of(prep.events) if prep is not None else None
        if line is None or not self._applies(line):
            self.hide()
            return
        inside = line.reconstituted_in_fridge if self.what == "vials" else line.bag_in_fridge
        self.in_button.setVisible(not inside)
        self.out_button.setVisible(inside)
        status = (self._status or self.service.status)(prep.id)
        by_key = {d.key: d for d in status.deadlines}
        if inside:
            limit = by_key.get("bag_from_fridge_by" if self.what == "bag" else "reconstituted_fridge_until")
            until = f" Take it out by {format_instant(limit.at)}." if limit is not None else ""
            noun = "The reconstituted vials are" if self.what == "vials" else "The bag is"
            self.state.setText(f"{noun} in the refrigerator.{until}")
            set_role(self.state, "warning")
        else:
            warm = by_key.get("warm_until") if self.what == "bag" else None
            if warm is not None and warm.met_at is None and status.now < warm.at:
                left = format_countdown((warm.at - status.now).total_seconds())
                self.state.setText(f"Warming up to room temperature: ready {format_instant(warm.at)} ({left} left).")
                set_role(self.state, "warning")
            elif warm is not None:
                self.state.setText("Warmed up: the bag may be given.")
                set_role(self.state, "ok")
            else:
                noun = "The reconstituted vials are" if self.what == "vials" else "The bag is"
                self.state.setText(f"{noun} at room temperature.")
                set_role(self.state, "")
        self.show()
