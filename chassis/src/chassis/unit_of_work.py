"""A unit of work: one database transaction and the events it will publish."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from chassis.db import transaction
from chassis.outbox import stage_event
from contracts.base import EventModel
from contracts.envelope import Envelope


@dataclass
class UnitOfWork:
    """What a handler gets: the session for its effect and `publish` for its events.

    Events published here are outbox rows in the same transaction, so state and events
    commit together or not at all. The correlation id of the cause is carried along.
    """

    session: Session
    source: str
    correlation_id: str | None = None
    cause: Envelope | None = None

    def publish(self, event: EventModel, *, topic: str) -> None:
        stage_event(
            self.session,
            event,
            topic=topic,
            source=self.source,
            correlation_id=self.correlation_id,
        )


@contextmanager
def unit_of_work(
    engine: Engine, *, source: str, correlation_id: str | None = None
) -> Iterator[UnitOfWork]:
    with transaction(engine) as session:
        yield UnitOfWork(session=session, source=source, correlation_id=correlation_id)
