"""The notifications store's schema history: Alembic revisions in `versions/`, applied by
every start and by `python -m notifications migrate`. How to add one: docs/migrations.md."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from chassis.inbox import ProcessedEvent
from chassis.outbox import OutboxEvent
from chassis.runtime import open_service
from notifications.bootstrap import SERVICE
from notifications.bootstrap import TABLES as SERVICE_TABLES
from notifications.config import NotificationsSettings

# Everything the store holds: what the revisions must build, and what the models declare.
TABLES: list[type[SQLModel]] = [*SERVICE_TABLES, OutboxEvent, ProcessedEvent]


def open_store() -> Engine:
    """The store this deployment's API and worker open, brought to the newest revision."""
    settings = NotificationsSettings()
    return open_service(settings, SERVICE, SERVICE_TABLES)
