"""Bodies and answers of the agency API (the routes are in routes.py, cases.py, bridge.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.agencies.v1 import (
    ReferralOutcome,
    ReportedChild,
    ReportedWorkplace,
)
from contracts.vocabulary import CaseType, Channel, ReferralState, RiskLevel

DetailsStatus = Literal["opened", "sealed", "withheld", "erased", "unavailable", "none"]


class InboxReferralOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    lead: bool
    state: ReferralState
    version: int
    case_type: str
    risk_level: str
    province_code: str
    commune_code: str
    age_band: str
    reason: str
    details: dict[str, str] = Field(
        description="The child's details this agency may know, opened only when one referral "
        "is read by an officer acting on it (see details_status)."
    )
    details_status: DetailsStatus = Field(
        default="none",
        description="opened; sealed (read the one referral to open them); withheld (your role "
        "or the referral's state does not open them); erased; unavailable (try again); none.",
    )
    details_note: str | None = Field(default=None, description="Why, when not opened.")
    accept_by: datetime
    due_at: datetime | None
    linked_referral_id: str | None
    last_reason: str | None
    outcome: dict[str, Any] | None
    requested_at: datetime
    updated_at: datetime
    overdue: bool = False


class VersionedAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The referral version the officer saw.")


class Rejection(VersionedAction):
    reason: str = Field(min_length=3, max_length=1000, description="Why the agency declines.")


class WithReason(VersionedAction):
    reason: str = Field(min_length=3, max_length=1000, description="Why (no identity).")


class Completion(VersionedAction):
    outcome: ReferralOutcome = Field(description="This agency's outcome fields (registry).")


class Transfer(VersionedAction):
    to_agency: str = Field(min_length=2, max_length=41, description="Agency that should act.")
    reason: str = Field(min_length=3, max_length=1000, description="Why that agency.")


class CaseReport(BaseModel):
    """What an officer records about a case the agency detected."""

    model_config = ConfigDict(extra="forbid")

    case_id: uuid.UUID | None = Field(
        default=None, description="Choose it to make a resend safe; generated when omitted."
    )
    channel: Channel = Field(description="Intake channel, e.g. police or labour_inspection.")
    case_type: CaseType
    risk_level: RiskLevel
    province_code: str = Field(pattern=r"^\d{2}$")
    commune_code: str = Field(pattern=r"^\d{5}$")
    child: ReportedChild
    workplace: ReportedWorkplace | None = None
    employer_identified: bool = False
    out_of_school: bool = False
    signs_of_forced_labour: bool = False
    child_consented: bool | None = None
    guardian_consented: bool = False
    legal_override_reason: str | None = Field(default=None, max_length=500)
    summary: str | None = Field(default=None, max_length=4000)


class CaseReportAccepted(BaseModel):
    case_id: str
    status: str = "reported"


class BridgeAccepted(BaseModel):
    idempotency_key: str
    type: str
    status: str = "accepted"
