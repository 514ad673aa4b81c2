"""What happened, in the words notifications need: the facts of one event, no identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contracts.cases.v1 import CaseDeadlineMissed
from contracts.referrals.v1 import ReferralEscalated, ReferralStateChanged
from contracts.vocabulary import ReferralState


class Kind(StrEnum):
    """One kind per message template."""

    REFERRAL_REQUESTED = "referral_requested"
    REFERRAL_OUTCOME = "referral_outcome"
    REFERRAL_ESCALATED = "referral_escalated"
    CASE_DEADLINE_MISSED = "case_deadline_missed"


OUTCOME_STATES = (
    ReferralState.ACCEPTED,
    ReferralState.REJECTED,
    ReferralState.COMPLETED,
    ReferralState.FAILED,
)


@dataclass(frozen=True)
class Happening:
    kind: Kind
    case_id: str
    referral_id: str | None
    agency: str  # the agency asked to act (referrals) or the owner (case clocks)
    owner_agency: str
    province_code: str
    case_type: str
    risk_level: str
    deadline: datetime | None
    detail: str | None = None  # outcome state, clock name or reminder number


def from_state_change(event: ReferralStateChanged) -> Happening | None:
    """A creation is a new referral; outcomes go to the sender; other moves tell no one."""
    if event.from_state is None or event.to_state == ReferralState.REQUESTED:
        kind = Kind.REFERRAL_REQUESTED
    elif event.to_state in OUTCOME_STATES:
        kind = Kind.REFERRAL_OUTCOME
    else:
        return None
    return Happening(
        kind=kind,
        case_id=event.case_id,
        referral_id=event.referral_id,
        agency=event.agency,
        owner_agency=event.owner_agency,
        province_code=event.province_code,
        case_type=event.case_type.value,
        risk_level=event.risk_level.value,
        deadline=event.deadline,
        detail=event.to_state.value,
    )


def from_escalation(event: ReferralEscalated) -> Happening:
    return Happening(
        kind=Kind.REFERRAL_ESCALATED,
        case_id=event.case_id,
        referral_id=event.referral_id,
        agency=event.agency,
        owner_agency=event.owner_agency,
        province_code=event.province_code,
        case_type=event.case_type.value,
        risk_level=event.risk_level.value,
        deadline=event.deadline,
        detail=event.state.value,
    )


def from_deadline_missed(event: CaseDeadlineMissed) -> Happening:
    return Happening(
        kind=Kind.CASE_DEADLINE_MISSED,
        case_id=event.case_id,
        referral_id=None,
        agency=event.owner_agency,
        owner_agency=event.owner_agency,
        province_code=event.province_code,
        case_type=event.case_type.value,
        risk_level=event.risk_level.value,
        deadline=event.due_at,
        detail=event.clock.value,
    )
