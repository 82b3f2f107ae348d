"""The preparation state machine: which event may follow which, who may record it, and when.

check_event() is the one gate every recorded event passes (the application service calls it
before committing). It raises ValidationError for malformed input and StepRefused for a step
that is valid input but must not happen (out of order, wrong role, self-verification, a hard
time limit passed). Time-limit refusals are `overridable`: a pharmacist may override them with a
reason; the caller then records an OVERRIDE event (see override_event()) before the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .limits import SitePolicy
from .monograph import Monograph
from .records import Event, EventType, Preparation, User


@dataclass(frozen=True)
class Override:
    pharmacist: str  # the pharmacist's user name (the caller authenticates the PIN and the role)
    reason: str
    hard_stop_code: str  # StepRefused.code being overridden


class StepRefused(Exception):
    def __init__(self, code: str, message: str, overridable: bool = False):
        self.code = code
        self.message = message
        self.overridable = overridable
        super().__init__(message)


def check_event(
    prep: Preparation,
    event: Event,
    actor: User,
    now: datetime,
    monograph: Monograph,
    policy: SitePolicy,
    override: Override | None = None,
) -> None:
    """Raise StepRefused or ValidationError if `event` may not be appended to `prep` by `actor`."""
    raise NotImplementedError


def current_step(prep: Preparation) -> str:
    """The next thing to do: 'reconstitute', 'dilute', 'verify', 'label', 'dispense', 'premedicate',
    'start infusion', 'infusing', 'observing', 'done' or 'discarded'."""
    raise NotImplementedError


def allowed_events(prep: Preparation, now: datetime, monograph: Monograph, policy: SitePolicy) -> list[EventType]:
    """Step events check_event would accept at `now` from a suitable user without an override."""
    raise NotImplementedError


def is_active(prep: Preparation) -> bool:
    """Neither discarded nor finished (observation ended)."""
    raise NotImplementedError
