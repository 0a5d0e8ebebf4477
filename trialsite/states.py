"""State changes as data (house style 11): one table of allowed moves per status field, one function that makes a move.

Pure Python. Each status field declares its Machine beside its choices (cohorts/status.py does the
same for the patient, with reasons); services move a row with `move`, which refuses any move the
table does not list and leaves who and why for the history row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .audit import audit


class StateError(Exception):
    """A status move its table does not allow."""


@dataclass(frozen=True)
class Machine:
    """The allowed moves of one status field: {from: {to, ...}}; a status with no moves out is final."""

    name: str  # what moves, for messages: "DLT proposal"
    moves: Mapping[str, frozenset[str]]
    labels: Mapping[str, str] = field(default_factory=dict)  # status -> its label, for messages

    def __post_init__(self) -> None:
        unknown = {t for targets in self.moves.values() for t in targets} - set(self.moves)
        if unknown:
            raise StateError(f"{self.name}: every status needs a row, also the final ones (missing: {', '.join(sorted(unknown))}).")

    def label(self, status: str) -> str:
        return self.labels.get(status, str(status))

    def allowed(self, current: str) -> frozenset[str]:
        return self.moves.get(current, frozenset())

    def sources_of(self, target: str) -> frozenset[str]:
        """The statuses a row may be in to move to `target`: the guard of a bulk update (`move_rows`)."""
        if target not in self.moves:
            raise StateError(f"Unknown {self.name} status: {target!r}.")
        return frozenset(source for source, targets in self.moves.items() if target in targets)

    def check(self, current: str, target: str) -> None:
        if target not in self.moves:
            raise StateError(f"Unknown {self.name} status: {target!r}.")
        if target not in self.allowed(current):
            article = "An" if self.name[:1].lower() in "aeiou" else "A"
            raise StateError(f"{article} {self.name} cannot move from {self.label(current)} to {self.label(target)}.")


def move(instance: Any, target: str, *, machine: Machine, by: object, reason: str, save: bool = True, status_field: str = "status", **changes: object) -> None:
    """Move `instance` to `target` if its table allows it, set the other `changes`, and record who and why
    for the history row; saved unless `save=False` (a bulk writer saves it with its history)."""
    machine.check(getattr(instance, status_field), target)
    setattr(instance, status_field, target)
    for name, value in changes.items():
        setattr(instance, name, value)
    audit(instance, by=by, reason=reason)
    if save:
        instance.save()


def move_rows(rows: Any, target: str, *, machine: Machine, status_field: str = "status", **changes: object) -> int:
    """Move the rows of a queryset that may move to `target` (their status one of `machine.sources_of(target)`),
    setting the other `changes`, in one UPDATE; the others are left as they are. Returns how many moved.

    For jobs whose row another process may move meanwhile (a worker, the reaper): the guard is in the
    WHERE clause, so a row moved since it was read is refused by the database, not by a stale copy.
    No history row is written (an UPDATE bypasses django-simple-history): for models without history."""
    sources = machine.sources_of(target)
    return int(rows.filter(**{f"{status_field}__in": sorted(sources)}).update(**{status_field: target}, **changes))
