"""The status of the preparation a page follows (the chair's open bag, the bench wizard's
preparation, their refrigerator strips), at every tick, read from storage only when it changed.

The board's path for one preparation: the service's change feed (service/changes.py) names what
was stored since the last tick, and only a preparation it names is read again; the others keep
the record read before, whose status (deadlines, step, warnings) is computed again at the
service's clock, which reads nothing. A setting changed or a database put back reads everything
again, the settings too.
"""

from __future__ import annotations

from typing import Any

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service.preparations import PreparationService


class StatusFollower:
    """`status(prep_id)` as service.status(prep_id), from the record kept since its last change."""

    def __init__(self, service: PreparationService):
        self.service = service
        self._token: int | None = None
        self._settings: Any = None
        self._kept: dict[str, Any] = {}  # preparation id -> Preparation as last read
        # For tests and benchmarks: how many times a preparation was read from storage.
        self.reloaded = 0

    def status(self, prep_id: str) -> Any:
        from ..domain.connection import NotLive

        try:
            changes = self.service.changes_since(self._token)
        except NotLive:
            # The server gone: the record kept, counting down at the service's clock (which needs
            # no server), as the board does; the window's banner says it is not live.
            prep = self._kept.get(prep_id)
            if prep is None or self._settings is None:
                raise
            return self.service.status_of(prep, self._settings)
        if changes.everything:
            self._kept.clear()
            self._settings = None
        else:
            for changed in changes.preparations:
                self._kept.pop(changed, None)
        self._token = changes.token
        prep = self._kept.get(prep_id)
        if prep is None:
            status = self.service.status(prep_id)  # PreparationNotFound as before when it is gone
            self.reloaded += 1
            self._kept[prep_id] = self._kept[status.id] = status.prep
            return status
        if self._settings is None:
            self._settings = self.service.settings()
        return self.service.status_of(prep, self._settings)
