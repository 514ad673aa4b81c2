"""Databases for tests that need a few tables of their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from chassis.db import create_db_engine, create_tables
from chassis.outbox import OutboxEvent


@contextmanager
def engine_with(database_url: str, *models: type[SQLModel]) -> Iterator[Engine]:
    """An engine on `database_url` with the tables of `models` and the outbox's."""
    engine = create_db_engine(database_url)
    create_tables(engine, [*models, OutboxEvent])
    try:
        yield engine
    finally:
        engine.dispose()
