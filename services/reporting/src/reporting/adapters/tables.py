"""Facts fed by events, one row per case, referral, escalation or notification.

Rows are keyed by opaque ids (UUIDs) so a redelivered or replayed event overwrites instead of
double counting; they hold only the disaggregation the national plan asks for (type, channel,
province, sex, age band, risk) and timestamps. No name, date of birth, address or phone.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from chassis.timestamps import UtcDateTime


class CaseFact(SQLModel, table=True):
    __tablename__ = "case_facts"

    case_id: str = Field(primary_key=True, max_length=36)
    # Null until CaseReceived arrives: a CaseMerged may overtake it (other partition).
    case_type: str | None = Field(default=None, index=True)
    channel: str | None = None
    province_code: str | None = Field(default=None, max_length=2, index=True)
    sex: str | None = None
    age_band: str | None = None
    risk_level: str | None = None
    owner_agency: str | None = None
    received_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # Viet Nam local calendar buckets of received_at, so any database can group by them.
    received_day: str | None = Field(default=None, max_length=10, index=True)
    received_month: str | None = Field(default=None, max_length=7)
    received_quarter: str | None = Field(default=None, max_length=7)
    received_year: str | None = Field(default=None, max_length=4)
    stage: str | None = None
    plan_approved_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    emergency_clock_missed: bool = False
    plan_clock_missed: bool = False
    # Set when a coordinator merged this report into another case: it is no longer counted.
    merged_into: str | None = Field(default=None, max_length=36)


class ReferralFact(SQLModel, table=True):
    __tablename__ = "referral_facts"

    referral_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    agency: str = Field(index=True)
    province_code: str = Field(max_length=2, index=True)
    case_type: str
    risk_level: str
    state: str = Field(index=True)
    version: int
    # Deadline of the current state (from the latest state change).
    deadline: datetime | None = Field(default=None, sa_type=UtcDateTime)
    requested_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    requested_day: str | None = Field(default=None, max_length=10)
    accept_by: datetime | None = Field(default=None, sa_type=UtcDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class EscalationFact(SQLModel, table=True):
    __tablename__ = "escalation_facts"

    referral_id: str = Field(primary_key=True, max_length=36)
    reminder: int = Field(primary_key=True)
    agency: str = Field(index=True)
    province_code: str = Field(max_length=2)
    state: str
    escalated_at: datetime = Field(sa_type=UtcDateTime)


class DeliveryFact(SQLModel, table=True):
    __tablename__ = "delivery_facts"

    notification_id: str = Field(primary_key=True, max_length=36)
    channel: str = Field(primary_key=True)
    province_code: str = Field(max_length=2)
    outcome: str  # delivered | failed
    at: datetime = Field(sa_type=UtcDateTime)


REPORTING_TABLES: list[type[SQLModel]] = [CaseFact, ReferralFact, EscalationFact, DeliveryFact]
