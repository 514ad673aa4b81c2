"""Tables: the officers directory, the delivery log and the web inbox's sessions.

The delivery log has one row per (event, recipient, channel) — a unique constraint — so a
redelivered event sends nothing new. A row is `pending` until a delivery loop sends it, then
`delivered` or, after the last attempt, `failed`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from chassis.timestamps import UtcDateTime
from contracts.vocabulary import RiskLevel

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
# In literal SQL, so a query can name the same terms and the database use the partial
# index (a bound parameter would not match it).
URGENT_PENDING = text(f"status = '{PENDING}' AND risk_level = '{RiskLevel.URGENT.value}'")


def utc_now() -> datetime:
    return datetime.now(UTC)


def db_time(moment: datetime) -> datetime:
    """Aware UTC, which SQLModel's datetime columns require (a naive value is taken as UTC)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class OfficerRow(SQLModel, table=True):
    __tablename__ = "officers"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    agency: str = Field(max_length=64, index=True)
    role: str = Field(max_length=32)
    provinces: list[str] = Field(sa_column=Column(JSON, nullable=False))
    language: str = Field(max_length=2)
    channels: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_type=UtcDateTime)


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("source_event_id", "recipient_id", "channel"),
        Index("ix_notifications_due", "channel", "status", "next_attempt_at"),
        # Urgent cases' sends are claimed first (`notifications.delivery`): their due rows,
        # read without going over every other pending row, and only theirs kept in it.
        # `status` and `risk_level` are constant in it, but named: with one more column
        # the query matches than `ix_notifications_due`, SQLite's planner takes this one.
        Index(
            "ix_notifications_urgent_due",
            "channel",
            "status",
            "risk_level",
            "next_attempt_at",
            sqlite_where=URGENT_PENDING,
            postgresql_where=URGENT_PENDING,
        ),
        # An officer's in-app list, newest first (API and web inbox): read in index order.
        Index("ix_notifications_inbox", "recipient_id", "channel", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    source_event_id: str = Field(max_length=64)
    source_event_type: str
    correlation_id: str | None = Field(default=None, max_length=128)
    recipient_id: str = Field(max_length=64)  # first of ix_notifications_inbox
    channel: str = Field(max_length=16)
    address: str | None = Field(default=None, max_length=500)
    secret_ref: str | None = Field(default=None, max_length=100)
    language: str = Field(default="vi", max_length=2)
    title: str
    body: str
    case_id: str = Field(max_length=36)
    referral_id: str | None = Field(default=None, max_length=36)
    province_code: str = Field(max_length=2)
    risk_level: str = Field(default="", max_length=16)
    deadline: datetime | None = Field(default=None, sa_type=UtcDateTime)
    status: str = Field(max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    lease_until: datetime | None = Field(
        default=None, sa_type=UtcDateTime
    )  # a delivery loop is sending it until then
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UtcDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class InboxSession(SQLModel, table=True):
    """A signed-in web inbox visit. Keyed by a hash of the cookie's session id, never the id
    itself; the officer's token is sealed with a key derived from that id, so the table alone
    lets no one act as the officer (see adapters/inbox_sessions.py)."""

    __tablename__ = "inbox_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    subject: str = Field(max_length=64, index=True)
    agency: str = Field(max_length=64)
    sealed_token: str
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UtcDateTime)
    expires_at: datetime = Field(index=True, sa_type=UtcDateTime)
