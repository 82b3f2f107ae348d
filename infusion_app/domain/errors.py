"""Errors the clinical core raises.

ValidationError is bad input (exit 2 in the CLI, a red field in the GUI). A hard stop is not an
exception: a calculation that is valid but must not be prepared returns its hard stops as data,
so that the whole result can still be shown and printed.
"""

from __future__ import annotations


class ValidationError(ValueError):
    """Input that cannot be used. `field` names the input; the message says what is accepted."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class DataFileError(RuntimeError):
    """A resource data file (monograph, policy, settings) is missing a value or malformed."""
