"""Agency updates, version 1: what an agency did with a referral addressed to it.

They are untrusted input for the referrals service: validated on receipt, applied only
when `expected_version` matches the referral's current version.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from contracts.base import EventModel


class ReferralAction(EventModel):
    """Fields every agency action carries."""

    referral_id: str = Field(description="Referral identifier (UUID).")
    case_id: str = Field(description="The case; the partition key.")
    agency: str = Field(description="Agency taking the action; must own the referral.")
    expected_version: int = Field(ge=1, description="Referral version the action is based on.")
    actor: str = Field(description="Subject of the officer who acted.")
    occurred_at: datetime = Field(description="When the officer acted (UTC).")


class ReferralAcknowledged(ReferralAction):
    """The agency received the referral and will decide on it."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.acknowledged.v1"

    @classmethod
    def example(cls) -> ReferralAcknowledged:
        return cls(**_EXAMPLE)


class ReferralAccepted(ReferralAction):
    """The agency accepted the referral and takes responsibility for its part."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.accepted.v1"

    @classmethod
    def example(cls) -> ReferralAccepted:
        return cls(**_EXAMPLE)


class ReferralRejected(ReferralAction):
    """The agency declined the referral; the sender is told why."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.rejected.v1"

    reason: str = Field(min_length=1, description="Why the agency declined.")

    @classmethod
    def example(cls) -> ReferralRejected:
        return cls(**_EXAMPLE, reason="Not in this agency's mandate")


_EXAMPLE: dict[str, object] = {
    "referral_id": "5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
    "case_id": "0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
    "agency": "police",
    "expected_version": 1,
    "actor": "police-inspector-hn-01",
    "occurred_at": datetime.fromisoformat("2026-11-02T08:40:00+00:00"),
}
