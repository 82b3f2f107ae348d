"""What the desktop program reads before its first window, without opening the database.

Opening (SQLAlchemy, the unit registry, a first run's migrations) is most of a start; the sign-in
or first-run window is shown first and the service opens while the person types (gui/start.py).
This module, like storage.first_look, imports only the standard library.
"""

from __future__ import annotations

from ..storage.first_look import first_look as first_window

__all__ = ["first_window"]
