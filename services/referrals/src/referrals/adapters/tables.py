"""Referral records, their transition history, cases held back for consent, and the sealed
identity views referrals carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Column, Field, SQLModel

from chassis.timestamps import UtcDateTime


class ReferralRecord(SQLModel, table=True):
    __tablename__ = "referrals"

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    agency: str = Field(index=True)
    lead: bool
    state: str = Field(index=True)
    version: int
    case_type: str
    risk_level: str
    province_code: str = Field(index=True, max_length=2)
    commune_code: str = Field(max_length=5)
    age_band: str
    circumstances: dict[str, bool] = Field(default_factory=dict, sa_column=Column(JSON))
    owner_agency: str
    reason: str
    linked_referral_id: str | None = Field(default=None, max_length=36)
    accept_by: datetime = Field(sa_type=UtcDateTime)
    # The deadline of the current state (None once closed) and the escalation bookkeeping
    # that makes the sweep fire once per breach, durably, on any number of replicas.
    due_at: datetime | None = Field(default=None, index=True, sa_type=UtcDateTime)
    escalations_sent: int = 0
    next_escalation_at: datetime | None = Field(default=None, index=True, sa_type=UtcDateTime)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class ReferralTransition(SQLModel, table=True):
    __tablename__ = "referral_transitions"

    referral_id: str = Field(primary_key=True, max_length=36)
    version: int = Field(primary_key=True)
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None = None
    outcome: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    transferred_to: str | None = None
    linked_referral_id: str | None = Field(default=None, max_length=36)
    occurred_at: datetime = Field(sa_type=UtcDateTime)


class ConsentHold(SQLModel, table=True):
    """A case that may not be referred yet: neither consent nor a legal override."""

    __tablename__ = "consent_holds"

    case_id: str = Field(primary_key=True, max_length=36)
    province_code: str = Field(index=True, max_length=2)
    case_type: str
    reason: str
    # The CaseReceived event (no identity in it), routed once consent is recorded.
    case_event: dict[str, Any] = Field(sa_column=Column(JSON))
    held_at: datetime = Field(sa_type=UtcDateTime)
    released_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class CaseIdentityViews(SQLModel, table=True):
    """Each agency's sealed view of a case, as `CaseReceived` carried them. This service
    cannot open them; it keeps them to attach to referrals made later (consent released,
    transfer, re-route) and drops them when the child's identity is erased."""

    __tablename__ = "case_identity_views"

    case_id: str = Field(primary_key=True, max_length=36)
    views: dict[str, dict[str, str]] = Field(default_factory=dict, sa_column=Column(JSON))
