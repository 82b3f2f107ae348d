"""How urgent a deadline is: the board's order of preparations and an alarm's priority.

The board and the alarm strip show what is decided here; they decide nothing themselves. The
priorities follow IEC 60601-1-8: a deadline due or passed is high priority, the warning lead time
reached is medium; a minimum ('not before', e.g. observe until) whose time has come is no alarm.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from .deadlines import Deadline

HIGH = "high"
MEDIUM = "medium"

# The deadline states that raise an alarm, and their priority.
PRIORITY_OF_STATE = {"expired": HIGH, "due": HIGH, "warning": MEDIUM}

# Most urgent first; states the domain reports, in order of how soon someone must act. "reached"
# is a minimum whose time has come: due in the domain's words, but good news, not an alarm.
URGENCY = {"expired": 0, "due": 1, "warning": 2, "ok": 3, "reached": 3, "pending": 4, "met": 5, "none": 6}


def shown_state(deadline: Deadline | None) -> str:
    """The state a row shows: the deadline's, with a minimum reached as 'reached'; 'none' without one."""
    if deadline is None:
        return "none"
    state = deadline.state.value
    return "reached" if state == "due" and not deadline.hard else state


def most_urgent(*states: str) -> str:
    """The most urgent of these states (the first of equals), in the board's order (URGENCY)."""
    return min(states, key=lambda state: URGENCY.get(state, len(URGENCY)))


def alarm_priority(state: str) -> str | None:
    """HIGH or MEDIUM for a state that raises an alarm, None for one that does not."""
    return PRIORITY_OF_STATE.get(state)


def alarming(deadlines: Iterable[Deadline], acknowledged: frozenset[tuple[str, str]] = frozenset()) -> list[Deadline]:
    """The deadlines whose alarm sounds: a 'not after' limit in an alarm state not acknowledged in that state."""
    return [d for d in deadlines if d.hard and d.state.value in PRIORITY_OF_STATE and (d.key, d.state.value) not in acknowledged]


def urgency_key(state: str, at: datetime | None, preparation_id: str) -> tuple[int, float, str]:
    """Sort key, most urgent first: by state, then the sooner deadline, then the id (a stable order)."""
    return (URGENCY.get(state, len(URGENCY)), at.timestamp() if at is not None else float("inf"), preparation_id)


def alarm_order_key(state: str, preparation_id: str, deadline_key: str) -> tuple[bool, str, str]:
    """Alarms high priority first, then by preparation and deadline (a stable order)."""
    return (alarm_priority(state) != HIGH, preparation_id, deadline_key)
