"""Bodies and answers of the coordinators' referral API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.vocabulary import ReferralState


class ReferralOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    agency: str
    lead: bool
    state: ReferralState
    version: int
    case_type: str
    risk_level: str
    province_code: str
    owner_agency: str
    linked_referral_id: str | None
    accept_by: datetime
    due_at: datetime | None
    overdue: bool = False
    escalations_sent: int
    updated_at: datetime


class TransitionOut(BaseModel):
    referral_id: str
    agency: str
    version: int
    from_state: ReferralState | None
    to_state: ReferralState
    actor: str
    reason: str | None
    outcome: dict[str, Any] | None
    transferred_to: str | None
    linked_referral_id: str | None
    occurred_at: datetime


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The referral version the coordinator saw.")
    reason: str = Field(min_length=3, max_length=1000, description="Why the sender withdraws.")


class ConsentHoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: str
    province_code: str
    case_type: str
    reason: str
    held_at: datetime
    released_at: datetime | None
