"""The agencies store's schema history: Alembic revisions in `versions/`, applied by every start
and by `python -m agencies migrate`. How to add one: docs/migrations.md."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from agencies.bootstrap import TABLES as SERVICE_TABLES
from agencies.bootstrap import _service
from agencies.config import AgencySettings
from chassis.inbox import ProcessedEvent
from chassis.outbox import OutboxEvent
from chassis.runtime import open_service

# Everything the store holds: what the revisions must build, and what the models declare.
TABLES: list[type[SQLModel]] = [*SERVICE_TABLES, OutboxEvent, ProcessedEvent]


def open_store() -> Engine:
    """The store this deployment's API and worker open, brought to the newest revision."""
    settings = AgencySettings()
    return open_service(settings, _service(settings), SERVICE_TABLES)
