"""Aggregates fed by events. Referral ids are opaque; no name, date of birth or address."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class CaseCount(SQLModel, table=True):
    __tablename__ = "case_counts"

    case_type: str = Field(primary_key=True)
    province_code: str = Field(primary_key=True, max_length=2)
    count: int = 0


class ReferralStatus(SQLModel, table=True):
    """The latest state of each referral, so counts by state are exact after replays."""

    __tablename__ = "referral_status"

    referral_id: str = Field(primary_key=True, max_length=36)
    agency: str = Field(index=True)
    province_code: str = Field(max_length=2)
    state: str = Field(index=True)
    version: int


class DeliveryCount(SQLModel, table=True):
    __tablename__ = "delivery_counts"

    channel: str = Field(primary_key=True)
    count: int = 0
