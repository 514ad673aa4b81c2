"""One function per event the referrals service handles."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from chassis.consumer import RejectedEvent
from chassis.unit_of_work import UnitOfWork
from contracts.agencies.v1 import ReferralAction, ReferralRejected
from contracts.cases.v1 import CaseReceived
from contracts.referrals.lifecycle import ACTION_TARGETS
from contracts.referrals.v1 import ReferralRequested, ReferralStateChanged, ReferralUpdateRefused
from contracts.topics import REFERRALS_EVENTS, agency_referrals_topic
from contracts.vocabulary import CaseType, ConsentBasis, ReferralState, RiskLevel
from referrals.adapters.tables import ReferralRecord, ReferralTransition
from referrals.domain.lifecycle import refusal_reason
from referrals.domain.routing import RoutingPolicy, route

Clock = Callable[[], datetime]
logger = logging.getLogger(__name__)
SERVICE_ACTOR = "referrals-service"


def open_referrals(
    uow: UnitOfWork, case: CaseReceived, *, policy: RoutingPolicy, now: Clock
) -> None:
    """Fan a new case out to its lead and supporting agencies (needs consent or an override)."""
    if case.consent_basis == ConsentBasis.NONE:
        # A valid case that may not be shared: it stays with its owner, nothing is sent.
        logger.warning("case has neither consent nor a legal override; no referral made")
        return
    at = now()
    for decision in route(policy, case, at):
        referral = ReferralRecord(
            id=str(uuid.uuid4()),
            case_id=case.case_id,
            agency=decision.agency,
            lead=decision.lead,
            state=ReferralState.REQUESTED.value,
            version=1,
            case_type=case.case_type.value,
            risk_level=case.risk_level.value,
            province_code=case.province_code,
            commune_code=case.commune_code,
            age_band=case.age_band.value,
            reason=decision.reason,
            accept_by=decision.accept_by,
            created_at=at,
            updated_at=at,
        )
        uow.session.add(referral)
        uow.publish(
            ReferralRequested(
                referral_id=referral.id,
                case_id=case.case_id,
                agency=decision.agency,
                lead=decision.lead,
                version=1,
                case_type=case.case_type,
                risk_level=case.risk_level,
                province_code=case.province_code,
                commune_code=case.commune_code,
                age_band=case.age_band,
                reason=decision.reason,
                accept_by=decision.accept_by,
                requested_at=at,
            ),
            topic=agency_referrals_topic(decision.agency),
        )
        _record_transition(uow, referral, None, SERVICE_ACTOR, decision.reason, at)


def apply_agency_action(
    uow: UnitOfWork, action: ReferralAction, *, topic_agency: str, now: Clock
) -> None:
    """Apply an agency's update if it is based on the current version and allowed."""
    referral = uow.session.get(ReferralRecord, action.referral_id)
    # The topic says who wrote it (ACLs); an agency may act only on its own referrals.
    if referral is None or referral.agency != topic_agency or action.agency != topic_agency:
        raise RejectedEvent(
            f"{topic_agency} has no referral {action.referral_id} (claimed agency {action.agency})"
        )
    target = ACTION_TARGETS[type(action)]
    refusal = refusal_reason(
        current_state=ReferralState(referral.state),
        current_version=referral.version,
        target_state=target,
        expected_version=action.expected_version,
    )
    if refusal:
        uow.publish(
            ReferralUpdateRefused(
                referral_id=referral.id,
                case_id=referral.case_id,
                agency=referral.agency,
                action=action.ce_type,
                expected_version=action.expected_version,
                current_version=referral.version,
                reason=refusal,
                occurred_at=now(),
            ),
            topic=REFERRALS_EVENTS,
        )
        return
    previous = ReferralState(referral.state)
    referral.state = target.value
    referral.version += 1
    referral.updated_at = now()
    uow.session.add(referral)
    reason = action.reason if isinstance(action, ReferralRejected) else None
    _record_transition(uow, referral, previous, action.actor, reason, action.occurred_at)


def _record_transition(
    uow: UnitOfWork,
    referral: ReferralRecord,
    previous: ReferralState | None,
    actor: str,
    reason: str | None,
    at: datetime,
) -> None:
    """History row plus the state event, to everyone and to the agency's inbox."""
    uow.session.add(
        ReferralTransition(
            referral_id=referral.id,
            version=referral.version,
            from_state=previous.value if previous else None,
            to_state=referral.state,
            actor=actor,
            reason=reason,
            occurred_at=at,
        )
    )
    changed = ReferralStateChanged(
        referral_id=referral.id,
        case_id=referral.case_id,
        agency=referral.agency,
        lead=referral.lead,
        case_type=CaseType(referral.case_type),
        risk_level=RiskLevel(referral.risk_level),
        province_code=referral.province_code,
        from_state=previous,
        to_state=ReferralState(referral.state),
        version=referral.version,
        actor=actor,
        reason=reason,
        deadline=referral.accept_by if referral.state == ReferralState.REQUESTED else None,
        occurred_at=at,
    )
    uow.publish(changed, topic=REFERRALS_EVENTS)
    if previous is not None:
        uow.publish(changed, topic=agency_referrals_topic(referral.agency))
