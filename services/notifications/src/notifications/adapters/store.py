"""What the handlers and the delivery loops read and write, behind one small interface.

`NotificationStore` names the few things the work needs — the event that caused it, the
officers directory, the delivery log — plus the `Outbox` every store shares (events staged
with the effect, metrics run after the commit). `SqlStore` keeps them in the database over
one `UnitOfWork`; `memory_store.MemoryStore` is the in-memory fake the unit tests use.

The delivery log holds one row per (event, recipient, channel): a second row for the same
three is refused, here by the unique constraint when the work is flushed or committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chassis.lookups import get_unflushed
from chassis.rows import plain_row
from chassis.stores import Outbox
from chassis.unit_of_work import UnitOfWork
from contracts.base import EventModel
from notifications.adapters.directory_store import all_officers
from notifications.adapters.tables import Notification
from notifications.domain.recipients import Officer


@dataclass(frozen=True)
class Cause:
    """The event this work answers, and the correlation id the work's events carry."""

    event_id: str
    event_type: str
    correlation_id: str | None


class NotificationStore(Outbox, Protocol):
    def cause(self) -> Cause:
        """The event being handled (only event handlers have one)."""
        ...

    def officers(self) -> list[Officer]:
        """The whole directory, ordered by officer id."""
        ...

    def new_notification(self, **values: Any) -> Notification:
        """A delivery-log row to add, made with every value it will have: the worker's
        rows are plain values, inserted with the batch's others, that cannot be changed."""
        ...

    def add_notification(self, notification: Notification) -> None:
        """A new row in the delivery log (from `new_notification`); changes to a row read
        from the store are kept without another call, as they are in a session."""
        ...

    def notification(self, notification_id: str) -> Notification | None: ...

    def carry_correlation(self, correlation_id: str | None) -> None:
        """Events published from now on carry this correlation id (a delivery's outcome
        follows the case's correlation id, not the delivery loop's)."""
        ...


_OFFICERS = "notifications.officers"  # the directory as this transaction read it


@dataclass
class SqlStore:
    """`NotificationStore` in the database, inside the unit of work's transaction."""

    uow: UnitOfWork

    def cause(self) -> Cause:
        assert self.uow.cause is not None, "notifications are caused by an event"
        return Cause(self.uow.cause.id, self.uow.cause.type, self.uow.correlation_id)

    def officers(self) -> list[Officer]:
        # Read once per transaction, not per event: a batch's events share one transaction,
        # and the whole directory per event was a quarter of this worker's CPU under load
        # (py-spy). A directory change made meanwhile reaches the next batch.
        info = self.uow.session.info
        if _OFFICERS not in info:
            with self.uow.session.no_autoflush:
                info[_OFFICERS] = all_officers(self.uow.session)
        officers: list[Officer] = info[_OFFICERS]
        return officers

    def new_notification(self, **values: Any) -> Notification:
        # No ORM state: a third of applying an event went to making instrumented rows.
        return plain_row(Notification, **values)

    def add_notification(self, notification: Notification) -> None:
        self.uow.insert(notification)

    def notification(self, notification_id: str) -> Notification | None:
        return get_unflushed(self.uow.session, Notification, notification_id)

    def carry_correlation(self, correlation_id: str | None) -> None:
        self.uow.correlation_id = correlation_id

    def publish(self, event: EventModel, *, topic: str) -> None:
        self.uow.publish(event, topic=topic)

    def after_commit(self, effect: Callable[[], None]) -> None:
        self.uow.after_commit(effect)
