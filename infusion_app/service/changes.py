"""What changed in storage since a token: the change feed that the board (and any other reader
that keeps a copy) follows instead of re-reading every preparation each second.

    changes = service.changes_since(None)        # first call: everything, and a token
    ...
    changes = service.changes_since(changes.token)
    if changes.everything: reload all
    else: reload changes.preparations (ids)

The feed is the audit log's sequence (no table of its own, no migration): every stored change
is written with its audit entry in the same transaction, so the entries numbered after the token
name every preparation changed since. Writes by another workstation on the same database are
seen the same way. A server database can signal "new entries" (PostgreSQL LISTEN/NOTIFY on the
audit insert) so that a reader asks only when told; the question it then asks is still this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from ..domain.ports import Repository
from .ids import ALPHABET, RANDOM_LENGTH, known_prefixes


# A canonical preparation id of any installed drug (its prefix from its monograph), as every
# preparation's audit entries name it as their subject.
# Built at the first use, not at import: the prefixes come from reading every monograph file,
# which a command that never follows the feed (calc, prep new) must not pay for at start.
@cache
def _preparation_id() -> re.Pattern[str]:
    return re.compile(f"(?:{'|'.join(map(re.escape, known_prefixes()))})-[{ALPHABET}]{{{RANDOM_LENGTH + 1}}}")


# Entries that change what every preparation shows (a setting such as the warning lead time), or
# after which the stored history itself was re-anchored: a reader reloads everything.
EVERYTHING_ACTIONS = ("setting.", "audit.restore")


@dataclass(frozen=True)
class Changes:
    """The answer of `changes_since`: pass `token` to the next call."""

    token: int
    everything: bool = False  # reload all: first call, a setting changed, or the log is not the one the token came from
    preparations: frozenset[str] = field(default_factory=frozenset)  # ids whose stored record may have changed

    @property
    def none(self) -> bool:
        return not self.everything and not self.preparations


def changes_since(repository: Repository, token: int | None) -> Changes:
    """The changes after `token` (an earlier answer's token; None for the first call)."""
    if token is None:
        return Changes(repository.audit_head_seq(), everything=True)
    head, entries = repository.audit_subjects_since(token)
    if head < token:
        # Fewer entries than when the token was given: another database file (a backup put back).
        return Changes(head, everything=True)
    if not entries:
        return Changes(head)
    if any(action.startswith(EVERYTHING_ACTIONS) for action, _subject in entries):
        return Changes(head, everything=True)
    return Changes(head, preparations=frozenset(subject for _action, subject in entries if _preparation_id().fullmatch(subject)))
