"""What every service's store shares: where its events go, and what runs after commit.

A service's store (its `adapters/store.py`) is a small interface of intention-named reads
and writes, in the manner of cosmicpython's repository and unit of work. Handlers take the
store, never a session: the worker hands them `SqlStore` over one `UnitOfWork`; fast unit
tests hand them the service's in-memory fake, built on `MemoryOutbox` below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from contracts.base import EventModel

E = TypeVar("E", bound=EventModel)


class Outbox(Protocol):
    """Events staged with the effect, and effects (metrics) that wait for the commit."""

    def publish(self, event: EventModel, *, topic: str) -> None: ...

    def after_commit(self, effect: Callable[[], None]) -> None: ...


@dataclass
class MemoryOutbox:
    """The in-memory `Outbox` of the fakes: staged events are kept in order, and the
    after-commit effects run only when the test says the work committed."""

    published: list[tuple[str, EventModel]] = field(default_factory=list)
    pending_effects: list[Callable[[], None]] = field(default_factory=list)

    def publish(self, event: EventModel, *, topic: str) -> None:
        self.published.append((topic, event))

    def after_commit(self, effect: Callable[[], None]) -> None:
        self.pending_effects.append(effect)

    def commit(self) -> None:
        effects, self.pending_effects = self.pending_effects, []
        for effect in effects:
            effect()

    def events(self, kind: type[E], *, topic: str | None = None) -> list[E]:
        return [
            event
            for on, event in self.published
            if isinstance(event, kind) and (topic is None or on == topic)
        ]


def set_if_version(
    rows: Mapping[Any, Any], row: Any, expected_version: int, values: Mapping[str, Any]
) -> bool:
    """The fakes' compare-and-set on a versioned row (what a conditional UPDATE does in
    SQL): only the row still at `expected_version` changes; the caller's copy shows the
    change, as a refreshed row would."""
    if unknown := set(values) - set(type(row).model_fields):
        raise AttributeError(f"{type(row).__name__} has no {sorted(unknown)}")
    stored = rows.get(row.id)
    if stored is None or stored.version != expected_version:
        return False
    for target in (stored, row):
        for name, value in values.items():
            setattr(target, name, value)
    return True
