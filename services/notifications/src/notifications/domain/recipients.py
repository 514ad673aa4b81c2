"""The recipients directory and the rules that pick who hears of an event."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.referrals.v1 import ReferralStateChanged
from contracts.vocabulary import ReferralState

Role = Literal["inspector", "case_worker", "supervisor", "coordinator"]
Channel = Literal["in_app", "email", "sms", "webhook"]


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    agency: str
    role: Role
    provinces: tuple[str, ...] = Field(min_length=1)
    language: Literal["vi", "en"] = "vi"
    channels: tuple[Channel, ...] = ("in_app",)

    def serves(self, province_code: str) -> bool:
        return "*" in self.provinces or province_code in self.provinces


class Directory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    recipients: tuple[Recipient, ...]


OFFICER_ROLES = ("inspector", "case_worker")
SENDER_OUTCOMES = (ReferralState.ACCEPTED, ReferralState.REJECTED, ReferralState.COMPLETED)


def recipients_for(directory: Directory, event: ReferralStateChanged) -> list[Recipient]:
    """New referral → that agency's officers of the province; outcomes → the coordinators."""
    if event.to_state == ReferralState.REQUESTED:
        return [
            r
            for r in directory.recipients
            if r.agency == event.agency
            and r.role in OFFICER_ROLES
            and r.serves(event.province_code)
        ]
    if event.to_state in SENDER_OUTCOMES:
        return [
            r
            for r in directory.recipients
            if r.role == "coordinator" and r.serves(event.province_code)
        ]
    return []
