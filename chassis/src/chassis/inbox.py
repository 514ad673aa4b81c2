"""Inbox: which events a consumer has already applied, recorded with the effect itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Field, Session, SQLModel, col, select

from chassis.bulk_insert import insert_many
from chassis.timestamps import UtcDateTime


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=64)
    processed_at: datetime = Field(sa_type=UtcDateTime)


def claim_event(session: Session, *, consumer: str, event_id: str) -> bool:
    """Record the event as processed in this transaction; False if it already was.

    A concurrent duplicate that slips past the check fails on the primary key at commit,
    which rolls back its effect too.
    """
    if session.get(ProcessedEvent, (consumer, event_id)) is not None:
        return False
    session.add(
        ProcessedEvent(consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC))
    )
    session.flush()
    return True


def claim_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record many events as processed with one INSERT (`consumer`, `event_id`,
    `processed_at` each): a batch's claims, once it checked none was claimed before."""
    if rows:
        insert_many(session.connection(), ProcessedEvent.__table__, rows)  # type: ignore[attr-defined]


def already_claimed(session: Session, consumer: str, event_ids: list[str]) -> set[str]:
    """Which of these events the consumer has processed (one query for a whole batch)."""
    found = session.exec(
        select(ProcessedEvent.event_id)
        .where(ProcessedEvent.consumer == consumer)
        .where(col(ProcessedEvent.event_id).in_(event_ids))
    )
    return set(found)
