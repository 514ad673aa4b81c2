"""An agency's own copy of the referrals addressed to it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import JSON, Column, Field, SQLModel


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
    details: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    accept_by: datetime
    requested_at: datetime
    updated_at: datetime
