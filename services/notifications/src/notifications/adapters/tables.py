"""Notifications: one row per (event, recipient, channel), so a redelivery sends nothing new."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("source_event_id", "recipient_id", "channel"),)

    id: str = Field(primary_key=True, max_length=36)
    source_event_id: str = Field(max_length=64)
    source_event_type: str
    recipient_id: str = Field(index=True)
    channel: str
    title: str
    case_id: str = Field(max_length=36)
    referral_id: str | None = Field(default=None, max_length=36)
    province_code: str = Field(max_length=2)
    status: str
    created_at: datetime
    delivered_at: datetime | None = None
    read_at: datetime | None = None
