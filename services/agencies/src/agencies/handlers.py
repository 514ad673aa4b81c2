"""One function per event or command of an agency service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from agencies.adapters.tables import InboxReferral
from agencies.domain.actions import decide
from chassis.consumer import RejectedEvent
from chassis.unit_of_work import UnitOfWork
from contracts.agencies.v1 import ReferralAction
from contracts.referrals.v1 import ReferralRequested, ReferralStateChanged
from contracts.topics import agency_updates_topic
from contracts.vocabulary import ReferralState

Clock = Callable[[], datetime]


class ReferralNotFound(LookupError):
    pass


def receive_referral(uow: UnitOfWork, event: ReferralRequested, *, agency: str) -> None:
    if event.agency != agency:
        raise RejectedEvent(f"referral for {event.agency} arrived at {agency}'s inbox")
    if uow.session.get(InboxReferral, event.referral_id) is not None:
        return
    uow.session.add(
        InboxReferral(
            id=event.referral_id,
            case_id=event.case_id,
            lead=event.lead,
            state=ReferralState.REQUESTED.value,
            version=event.version,
            case_type=event.case_type.value,
            risk_level=event.risk_level.value,
            province_code=event.province_code,
            commune_code=event.commune_code,
            age_band=event.age_band.value,
            reason=event.reason,
            details=event.details,
            accept_by=event.accept_by,
            requested_at=event.requested_at,
            updated_at=event.requested_at,
        )
    )


def follow_state(uow: UnitOfWork, event: ReferralStateChanged, *, agency: str) -> None:
    """The referrals service is authoritative: its state wins from the same version on."""
    referral = uow.session.get(InboxReferral, event.referral_id)
    if referral is None or event.agency != agency or event.version < referral.version:
        return
    referral.state = event.to_state.value
    referral.version = event.version
    referral.updated_at = event.occurred_at
    uow.session.add(referral)


def act_on_referral(
    uow: UnitOfWork,
    action: ReferralAction,
    *,
    agency: str,
    visible_provinces: frozenset[str],
) -> InboxReferral:
    """Record the officer's action locally and send it to the referrals service."""
    referral = uow.session.get(InboxReferral, action.referral_id)
    if referral is None or not _visible(referral, visible_provinces):
        raise ReferralNotFound(action.referral_id)
    decision = decide(
        type(action),
        state=ReferralState(referral.state),
        version=referral.version,
        expected_version=action.expected_version,
    )
    referral.state = decision.new_state.value
    referral.version = decision.new_version
    referral.updated_at = action.occurred_at
    uow.session.add(referral)
    uow.publish(action, topic=agency_updates_topic(agency))
    return referral


def _visible(referral: InboxReferral, provinces: frozenset[str]) -> bool:
    return "*" in provinces or referral.province_code in provinces
