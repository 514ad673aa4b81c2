"""Referral records and their transition history."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


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
    reason: str
    accept_by: datetime
    created_at: datetime
    updated_at: datetime


class ReferralTransition(SQLModel, table=True):
    __tablename__ = "referral_transitions"

    referral_id: str = Field(primary_key=True, max_length=36)
    version: int = Field(primary_key=True)
    from_state: str | None
    to_state: str
    actor: str
    reason: str | None = None
    occurred_at: datetime
