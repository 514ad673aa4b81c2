"""One function per message the referrals service handles (the map is in bootstrap.py)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from chassis.consumer import RejectedEvent
from chassis.unit_of_work import UnitOfWork
from contracts.agencies.registry import AgencyRegistry
from contracts.agencies.v1 import (
    ReferralAction,
    ReferralCompleted,
    ReferralTransferred,
)
from contracts.cases.v1 import (
    CaseConsentRecorded,
    CaseIdentityErased,
    CaseMerged,
    CaseReceived,
)
from contracts.referrals.lifecycle import ACTION_TARGETS
from contracts.referrals.v1 import ReferralIdentityErased, ReferralUpdateRefused
from contracts.topics import REFERRALS_EVENTS, agency_referrals_topic
from contracts.vocabulary import ConsentBasis, ReferralState
from referrals.adapters.referral_store import (
    Change,
    NewReferral,
    drop_views,
    keep_views,
    move,
    open_referral,
    replacement_of,
)
from referrals.adapters.tables import CaseIdentityViews, ConsentHold, ReferralRecord
from referrals.domain.lifecycle import refusal_reason
from referrals.domain.routing import CaseProfile, RoutingPolicy, route

Clock = Callable[[], datetime]
logger = logging.getLogger(__name__)
SERVICE_ACTOR = "referrals-service"
NO_CONSENT_REASON = (
    "refused for consent: the case has neither recorded consent (the guardian, and the "
    "child when aged 7 or over) nor a recorded legal override, so no agency may be asked "
    "to act; record consent or an override on the case to release it"
)


def open_referrals(
    uow: UnitOfWork,
    case: CaseReceived,
    *,
    policy: RoutingPolicy,
    now: Clock,
) -> None:
    """Fan a new case out to its lead and supporting agencies (needs consent or an override).

    The case's sealed identity views are kept, unopened, for every referral made from it."""
    keep_views(uow, case.case_id, case.identity_views)
    if case.consent_basis == ConsentBasis.NONE:
        # A valid case that may not be shared: held with the reason, nothing is sent.
        if uow.session.get(ConsentHold, case.case_id) is None:
            uow.session.add(
                ConsentHold(
                    case_id=case.case_id,
                    province_code=case.province_code,
                    case_type=case.case_type.value,
                    reason=NO_CONSENT_REASON,
                    case_event=case.model_dump(mode="json", exclude={"identity_views"}),
                    held_at=now(),
                )
            )
        logger.warning("case has neither consent nor a legal override; referrals held")
        return
    _fan_out(uow, case, policy=policy, at=now())


def release_consent_hold(
    uow: UnitOfWork,
    consent: CaseConsentRecorded,
    *,
    policy: RoutingPolicy,
    now: Clock,
) -> None:
    """Consent or an override is now on record: open the referrals held for it."""
    hold = uow.session.get(ConsentHold, consent.case_id)
    if hold is None or hold.released_at is not None or consent.consent_basis == ConsentBasis.NONE:
        return
    at = now()
    hold.released_at = at
    uow.session.add(hold)
    case = CaseReceived.model_validate(
        {**hold.case_event, "consent_basis": consent.consent_basis.value}
    )
    _fan_out(uow, case, policy=policy, at=at)


def _fan_out(
    uow: UnitOfWork,
    case: CaseReceived,
    *,
    policy: RoutingPolicy,
    at: datetime,
) -> None:
    for decision in route(policy, CaseProfile.of(case)):
        new = NewReferral(
            case_id=case.case_id,
            agency=decision.agency,
            lead=decision.lead,
            reason=decision.reason,
            case_type=case.case_type,
            risk_level=case.risk_level,
            province_code=case.province_code,
            commune_code=case.commune_code,
            age_band=case.age_band,
            circumstances=case.circumstances,
            owner_agency=case.owner_agency,
        )
        open_referral(uow, new, policy=policy, actor=SERVICE_ACTOR, at=at)


def follow_merge(uow: UnitOfWork, merged: CaseMerged) -> None:
    """The duplicate's referrals (and any consent hold) now belong to the surviving case."""
    uow.session.execute(
        update(ReferralRecord)
        .where(col(ReferralRecord.case_id) == merged.merged_case_id)
        .values(case_id=merged.case_id)
    )
    hold = uow.session.get(ConsentHold, merged.merged_case_id)
    if hold is not None and uow.session.get(ConsentHold, merged.case_id) is None:
        uow.session.add(
            ConsentHold(
                **{
                    **hold.model_dump(),
                    "case_id": merged.case_id,
                    "case_event": {**hold.case_event, "case_id": merged.case_id},
                }
            )
        )
    if hold is not None:
        uow.session.delete(hold)
    # The referrals now carry the surviving case's views; the duplicate's are not needed.
    if uow.session.get(CaseIdentityViews, merged.case_id) is not None:
        drop_views(uow, merged.merged_case_id)


def erase_views(uow: UnitOfWork, erased: CaseIdentityErased) -> None:
    """The child's identity was erased: drop the kept views and tell every agency holding a
    referral of the case to drop its sealed copy (nothing would open it any more)."""
    drop_views(uow, erased.case_id)
    referrals = uow.session.exec(
        select(ReferralRecord).where(col(ReferralRecord.case_id) == erased.case_id)
    ).all()
    for referral in referrals:
        uow.publish(
            ReferralIdentityErased(
                referral_id=referral.id,
                case_id=referral.case_id,
                agency=referral.agency,
                erased_at=erased.erased_at,
            ),
            topic=agency_referrals_topic(referral.agency),
        )


def apply_agency_action(
    uow: UnitOfWork,
    action: ReferralAction,
    *,
    topic_agency: str,
    policy: RoutingPolicy,
    registry: AgencyRegistry,
) -> None:
    """Apply an agency's update if it is based on the current version and allowed."""
    referral = uow.session.get(ReferralRecord, action.referral_id)
    # The topic says who wrote it (ACLs); an agency may act only on its own referrals.
    if referral is None or referral.agency != topic_agency or action.agency != topic_agency:
        raise RejectedEvent(
            f"{topic_agency} has no referral {action.referral_id} (claimed agency {action.agency})"
        )
    _check_content(action, registry)
    target = ACTION_TARGETS[type(action)]
    refusal = refusal_reason(
        current_state=ReferralState(referral.state),
        current_version=referral.version,
        target_state=target,
        expected_version=action.expected_version,
    )
    # A transfer names its replacement up front, so the rejection can link to it.
    replacement_id = str(uuid.uuid4()) if isinstance(action, ReferralTransferred) else None
    change = _change_of(action, linked_referral_id=replacement_id)
    if refusal or not move(uow, referral, target, change, policy=policy):
        _refuse(uow, action, referral, refusal or "stale version: changed concurrently")
        return
    if isinstance(action, ReferralTransferred) and replacement_id:
        reason = f"transferred by {referral.agency}: {action.reason}"
        new = replacement_of(referral, action.to_agency, reason)
        open_referral(
            uow,
            new,
            policy=policy,
            actor=action.actor,
            at=action.occurred_at,
            referral_id=replacement_id,
        )


def _check_content(action: ReferralAction, registry: AgencyRegistry) -> None:
    """Agency-specific content is untrusted input too: wrong fields go to the DLQ."""
    if isinstance(action, ReferralCompleted):
        agency = registry.get(action.agency)
        problems = agency.outcome_problems(action.outcome) if agency else ["<unknown agency>"]
        if problems:
            raise RejectedEvent(f"outcome fields not reported by {action.agency}: {problems}")
    if isinstance(action, ReferralTransferred):
        if registry.get(action.to_agency) is None:
            raise RejectedEvent(f"transfer to unknown agency {action.to_agency!r}")
        if action.to_agency == action.agency:
            raise RejectedEvent("an agency cannot transfer a referral to itself")


def _change_of(action: ReferralAction, *, linked_referral_id: str | None) -> Change:
    return Change(
        actor=action.actor,
        at=action.occurred_at,
        reason=getattr(action, "reason", None),
        outcome=action.outcome if isinstance(action, ReferralCompleted) else None,
        transferred_to=action.to_agency if isinstance(action, ReferralTransferred) else None,
        linked_referral_id=linked_referral_id,
    )


def _refuse(uow: UnitOfWork, action: ReferralAction, referral: ReferralRecord, reason: str) -> None:
    uow.publish(
        ReferralUpdateRefused(
            referral_id=referral.id,
            case_id=referral.case_id,
            agency=referral.agency,
            action=action.ce_type,
            expected_version=action.expected_version,
            current_version=referral.version,
            reason=reason,
            occurred_at=action.occurred_at,
        ),
        topic=REFERRALS_EVENTS,
    )
