"""The in-memory `NotificationStore` of the unit tests: no database, no broker.

It keeps what `SqlStore` keeps and refuses what it refuses (the contract test runs the same
scenarios on both): a second delivery-log row for one (event, recipient, channel) is an
error, raised here at once rather than at the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from chassis.stores import MemoryOutbox
from contracts.base import EventModel
from notifications.adapters.store import Cause
from notifications.adapters.tables import Notification
from notifications.domain.recipients import Officer


class DuplicateNotification(Exception):
    """The delivery log already has this row (its id, or its event, recipient and channel)."""


@dataclass
class MemoryStore(MemoryOutbox):
    directory: list[Officer] = field(default_factory=list)
    cause_of_work: Cause | None = None
    correlation_id: str | None = None
    delivery_log: dict[str, Notification] = field(default_factory=dict)
    correlations: list[str | None] = field(default_factory=list)  # one per published event

    def __post_init__(self) -> None:
        if self.cause_of_work is not None and self.correlation_id is None:
            self.correlation_id = self.cause_of_work.correlation_id

    def cause(self) -> Cause:
        assert self.cause_of_work is not None, "notifications are caused by an event"
        return replace(self.cause_of_work, correlation_id=self.correlation_id)

    def officers(self) -> list[Officer]:
        return sorted(self.directory, key=lambda officer: officer.id)

    def new_notification(self, **values: Any) -> Notification:
        return Notification(**values)

    def add_notification(self, notification: Notification) -> None:
        key = _dedup_key(notification)
        if notification.id in self.delivery_log or any(
            _dedup_key(row) == key for row in self.delivery_log.values()
        ):
            raise DuplicateNotification(key)
        self.delivery_log[notification.id] = notification

    def notification(self, notification_id: str) -> Notification | None:
        return self.delivery_log.get(notification_id)

    def carry_correlation(self, correlation_id: str | None) -> None:
        self.correlation_id = correlation_id

    def publish(self, event: EventModel, *, topic: str) -> None:
        super().publish(event, topic=topic)
        self.correlations.append(self.correlation_id)


def _dedup_key(notification: Notification) -> tuple[str, str, str]:
    return (notification.source_event_id, notification.recipient_id, notification.channel)
