"""An agency's own copy of the referrals addressed to it, and the HTTPS bridge's records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Column, Field, SQLModel

from chassis.timestamps import UtcDateTime


class InboxReferral(SQLModel, table=True):
    __tablename__ = "inbox_referrals"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    lead: bool
    state: str = Field(index=True)
    version: int
    case_type: str
    risk_level: str
    province_code: str = Field(index=True, max_length=2)
    commune_code: str = Field(max_length=5)
    age_band: str
    reason: str
    # Sealed for this agency by the cases service: opened only in the API, for an officer
    # acting on the referral, with a key the cases service releases. Dropped on erasure.
    details: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    identity_erased_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    accept_by: datetime = Field(sa_type=UtcDateTime)
    # Deadline of the current state as the referrals service set it (None once closed).
    due_at: datetime | None = Field(default=None, index=True, sa_type=UtcDateTime)
    linked_referral_id: str | None = Field(default=None, max_length=36)
    last_reason: str | None = None
    outcome: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    requested_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One outbound webhook, written with the inbox change it reports (outbox pattern)."""

    __tablename__ = "webhook_deliveries"

    id: str = Field(primary_key=True, max_length=64)  # the idempotency key
    event_type: str
    body: bytes
    attempts: int = 0
    next_attempt_at: datetime = Field(index=True, sa_type=UtcDateTime)
    delivered_at: datetime | None = Field(default=None, index=True, sa_type=UtcDateTime)
    last_error: str | None = None
    created_at: datetime = Field(sa_type=UtcDateTime)


class BridgeReceipt(SQLModel, table=True):
    """Idempotency keys of inbound bridge updates already accepted (replay protection)."""

    __tablename__ = "bridge_receipts"

    idempotency_key: str = Field(primary_key=True, max_length=200)
    received_at: datetime = Field(sa_type=UtcDateTime)
