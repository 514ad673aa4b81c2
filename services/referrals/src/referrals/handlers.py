"""One function per message the referrals service handles, and the worker's map of them.

Handlers take the referral store (`adapters/store.py`), never a session: the worker wraps
each over its unit of work (`with_store`), and unit tests hand them the in-memory one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial

from chassis.consumer import Handler, RejectedEvent
from chassis.subscriptions import Subscriptions, with_store
from contracts.agencies.registry import AgencyRegistry, agency_registry
from contracts.agencies.v1 import (
    ReferralAction,
    ReferralCompleted,
    ReferralTransferred,
)
from contracts.base import EventModel
from contracts.cases.v1 import (
    CaseConsentRecorded,
    CaseIdentityErased,
    CaseMerged,
    CaseReceived,
)
from contracts.identifiers import new_id
from contracts.referrals.lifecycle import ACTION_TARGETS
from contracts.referrals.v1 import ReferralIdentityErased, ReferralUpdateRefused
from contracts.topics import (
    CASES_EVENTS,
    REFERRALS_EVENTS,
    agency_referrals_topic,
    agency_updates_topic,
)
from contracts.vocabulary import ConsentBasis, ReferralState
from referrals.adapters.store import ReferralStore, SqlStore
from referrals.adapters.tables import ConsentHold, ReferralRecord
from referrals.changes import Change, NewReferral, move, open_referral, replacement_of
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
    store: ReferralStore,
    case: CaseReceived,
    *,
    policy: RoutingPolicy,
    now: Clock,
) -> None:
    """Fan a new case out to its lead and supporting agencies (needs consent or an override).

    The case's sealed identity views are kept, unopened, for every referral made from it."""
    store.keep_views(case.case_id, case.identity_views)
    if case.consent_basis == ConsentBasis.NONE:
        # A valid case that may not be shared: held with the reason, nothing is sent.
        if store.consent_hold(case.case_id) is None:
            store.add_hold(
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
    _fan_out(store, case, policy=policy, at=now())


def release_consent_hold(
    store: ReferralStore,
    consent: CaseConsentRecorded,
    *,
    policy: RoutingPolicy,
    now: Clock,
) -> None:
    """Consent or an override is now on record: open the referrals held for it."""
    hold = store.consent_hold(consent.case_id)
    if hold is None or hold.released_at is not None or consent.consent_basis == ConsentBasis.NONE:
        return
    at = now()
    hold.released_at = at
    store.save_hold(hold)
    case = CaseReceived.model_validate(
        {**hold.case_event, "consent_basis": consent.consent_basis.value}
    )
    _fan_out(store, case, policy=policy, at=at)


def _fan_out(
    store: ReferralStore,
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
        open_referral(store, new, policy=policy, actor=SERVICE_ACTOR, at=at)


def follow_merge(store: ReferralStore, merged: CaseMerged) -> None:
    """The duplicate's referrals (and any consent hold) now belong to the surviving case."""
    store.reassign_case(merged.merged_case_id, merged.case_id)
    hold = store.consent_hold(merged.merged_case_id)
    if hold is not None and store.consent_hold(merged.case_id) is None:
        store.add_hold(
            ConsentHold(
                **{
                    **hold.model_dump(),
                    "case_id": merged.case_id,
                    "case_event": {**hold.case_event, "case_id": merged.case_id},
                }
            )
        )
    if hold is not None:
        store.drop_hold(merged.merged_case_id)
    # The referrals now carry the surviving case's views; the duplicate's are not needed.
    if store.views_of(merged.case_id) is not None:
        store.drop_views(merged.merged_case_id)


def erase_views(store: ReferralStore, erased: CaseIdentityErased) -> None:
    """The child's identity was erased: drop the kept views and tell every agency holding a
    referral of the case to drop its sealed copy (nothing would open it any more)."""
    store.drop_views(erased.case_id)
    for referral in store.referrals_of_case(erased.case_id):
        store.publish(
            ReferralIdentityErased(
                referral_id=referral.id,
                case_id=referral.case_id,
                agency=referral.agency,
                erased_at=erased.erased_at,
            ),
            topic=agency_referrals_topic(referral.agency),
        )


def apply_agency_action(
    store: ReferralStore,
    action: ReferralAction,
    *,
    topic_agency: str,
    policy: RoutingPolicy,
    registry: AgencyRegistry,
) -> None:
    """Apply an agency's update if it is based on the current version and allowed."""
    referral = store.referral(action.referral_id)
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
    replacement_id = new_id() if isinstance(action, ReferralTransferred) else None
    change = _change_of(action, linked_referral_id=replacement_id)
    if refusal or not move(store, referral, target, change, policy=policy):
        _refuse(store, action, referral, refusal or "stale version: changed concurrently")
        return
    if isinstance(action, ReferralTransferred) and replacement_id:
        reason = f"transferred by {referral.agency}: {action.reason}"
        new = replacement_of(referral, action.to_agency, reason)
        open_referral(
            store,
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


def _refuse(
    store: ReferralStore, action: ReferralAction, referral: ReferralRecord, reason: str
) -> None:
    store.publish(
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


def subscriptions(policy: RoutingPolicy, agencies: Sequence[str], now: Clock) -> Subscriptions:
    """The worker's whole map: the case owner's events, and each agency's updates."""
    apply = partial(apply_agency_action, registry=agency_registry(), policy=policy)
    subscribed: dict[str, Mapping[type[EventModel], Handler]] = {
        CASES_EVENTS: {
            CaseReceived: with_store(SqlStore, partial(open_referrals, policy=policy, now=now)),
            CaseConsentRecorded: with_store(
                SqlStore, partial(release_consent_hold, policy=policy, now=now)
            ),
            CaseMerged: with_store(SqlStore, follow_merge),
            CaseIdentityErased: with_store(SqlStore, erase_views),
        }
    }
    for agency in agencies:
        subscribed[agency_updates_topic(agency)] = dict.fromkeys(
            ACTION_TARGETS, with_store(SqlStore, partial(apply, topic_agency=agency))
        )
    return subscribed
