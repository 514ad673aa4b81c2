"""One function per event or command of an agency service (the map is in bootstrap.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col

from agencies.adapters.tables import InboxReferral
from agencies.adapters.webhooks import stage_webhook
from agencies.domain.actions import StaleVersion, decide
from chassis.consumer import RejectedEvent
from chassis.unit_of_work import UnitOfWork
from contracts.agencies.v1 import CaseReported, ReferralAction, ReferralCompleted
from contracts.referrals.v1 import (
    ReferralIdentityErased,
    ReferralRequested,
    ReferralStateChanged,
)
from contracts.topics import agency_updates_topic
from contracts.vocabulary import ReferralState

Clock = Callable[[], datetime]


class ReferralNotFound(LookupError):
    pass


def receive_referral(
    uow: UnitOfWork, event: ReferralRequested, *, agency: str, bridge: bool = False
) -> None:
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
            due_at=event.accept_by,
            requested_at=event.requested_at,
            updated_at=event.requested_at,
        )
    )
    if bridge:
        stage_webhook(uow, event)


def follow_state(
    uow: UnitOfWork, event: ReferralStateChanged, *, agency: str, bridge: bool = False
) -> None:
    """The referrals service is authoritative: its state wins from the same version on."""
    referral = uow.session.get(InboxReferral, event.referral_id)
    if referral is None or event.agency != agency or event.version < referral.version:
        return
    referral.state = event.to_state.value
    referral.version = event.version
    referral.due_at = event.deadline
    referral.last_reason = event.reason
    referral.linked_referral_id = event.linked_referral_id or referral.linked_referral_id
    if event.outcome is not None:
        referral.outcome = event.outcome.model_dump(mode="json", exclude_defaults=True)
    referral.updated_at = event.occurred_at
    uow.session.add(referral)
    if bridge:
        stage_webhook(uow, event)


def drop_identity(uow: UnitOfWork, event: ReferralIdentityErased, *, agency: str) -> None:
    """The child's identity was erased: the sealed copy goes too (it would not open)."""
    referral = uow.session.get(InboxReferral, event.referral_id)
    if referral is None or event.agency != agency or referral.identity_erased_at is not None:
        return
    referral.details = {}
    referral.identity_erased_at = event.erased_at
    uow.session.add(referral)


def act_on_referral(
    uow: UnitOfWork,
    action: ReferralAction,
    *,
    agency: str,
) -> InboxReferral:
    """Record the officer's action locally and send it to the referrals service."""
    referral = uow.session.get(InboxReferral, action.referral_id)
    if referral is None:  # the caller applied its provinces (access policy) already
        raise ReferralNotFound(action.referral_id)
    decision = decide(
        type(action),
        state=ReferralState(referral.state),
        version=referral.version,
        expected_version=action.expected_version,
    )
    # Conditional on the version read: of two officers acting at once, exactly one wins.
    changed = uow.session.execute(
        update(InboxReferral)
        .where(col(InboxReferral.id) == referral.id)
        .where(col(InboxReferral.version) == action.expected_version)
        .values(
            state=decision.new_state.value,
            version=decision.new_version,
            updated_at=action.occurred_at,
            last_reason=getattr(action, "reason", None),
            outcome=(
                action.outcome.model_dump(mode="json", exclude_defaults=True)
                if isinstance(action, ReferralCompleted)
                else referral.outcome
            ),
        )
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleVersion("the referral changed while you were acting on it")
    uow.session.refresh(referral)
    uow.publish(action, topic=agency_updates_topic(agency))
    return referral


def report_case(uow: UnitOfWork, report: CaseReported, *, agency: str) -> None:
    """A case the agency detected goes to the cases service through this agency's topic."""
    if report.agency != agency:
        raise ValueError(f"{agency} cannot report a case as {report.agency}")
    uow.publish(report, topic=agency_updates_topic(agency))
