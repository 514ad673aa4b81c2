"""Inbox: which events a consumer has already applied, recorded with the effect itself."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Field, Session, SQLModel


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=64)
    processed_at: datetime


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
