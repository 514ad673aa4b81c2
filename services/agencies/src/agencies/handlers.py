"""One function per event or command of an agency service, and the worker's map of them.

Handlers take the inbox store (`adapters/store.py`), never a session: the worker wraps each
over its unit of work (`with_store`), and unit tests hand them the in-memory one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from agencies.adapters.store import InboxStore, SqlStore
from agencies.adapters.tables import InboxReferral
from agencies.domain.actions import StaleVersion, decide
from chassis.consumer import RejectedEvent
from chassis.stores import Outbox
from chassis.subscriptions import Subscriptions, with_store
from contracts.agencies.v1 import CaseReported, ReferralAction, ReferralCompleted
from contracts.referrals.v1 import (
    ReferralIdentityErased,
    ReferralRequested,
    ReferralStateChanged,
)
from contracts.topics import agency_referrals_topic, agency_updates_topic
from contracts.vocabulary import ReferralState

Clock = Callable[[], datetime]


class ReferralNotFound(LookupError):
    pass


def receive_referral(
    store: InboxStore, event: ReferralRequested, *, agency: str, bridge: bool = False
) -> None:
    if event.agency != agency:
        raise RejectedEvent(f"referral for {event.agency} arrived at {agency}'s inbox")
    if store.referral(event.referral_id) is not None:
        return
    store.add(
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
            last_reason=event.reason,
            linked_referral_id=event.linked_referral_id,
            details=event.details,
            accept_by=event.accept_by,
            due_at=event.accept_by,
            requested_at=event.requested_at,
            updated_at=event.requested_at,
        )
    )
    if bridge:
        store.stage_webhook(event)


def follow_state(
    store: InboxStore, event: ReferralStateChanged, *, agency: str, bridge: bool = False
) -> None:
    """The referrals service is authoritative: its state wins from the same version on."""
    referral = store.referral(event.referral_id)
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
    store.save(referral)
    if bridge:
        store.stage_webhook(event)


def drop_identity(store: InboxStore, event: ReferralIdentityErased, *, agency: str) -> None:
    """The child's identity was erased: the sealed copy goes too (it would not open)."""
    referral = store.referral(event.referral_id)
    if referral is None or event.agency != agency or referral.identity_erased_at is not None:
        return
    referral.details = {}
    referral.identity_erased_at = event.erased_at
    store.save(referral)


def act_on_referral(
    store: InboxStore,
    action: ReferralAction,
    *,
    agency: str,
) -> InboxReferral:
    """Record the officer's action locally and send it to the referrals service."""
    referral = store.referral(action.referral_id)
    if referral is None:  # the caller applied its provinces (access policy) already
        raise ReferralNotFound(action.referral_id)
    decision = decide(
        type(action),
        state=ReferralState(referral.state),
        version=referral.version,
        expected_version=action.expected_version,
    )
    # Conditional on the version read: of two officers acting at once, exactly one wins.
    moved = store.move_if_version(
        referral,
        action.expected_version,
        {
            "state": decision.new_state.value,
            "version": decision.new_version,
            "updated_at": action.occurred_at,
            "last_reason": getattr(action, "reason", None),
            "outcome": (
                action.outcome.model_dump(mode="json", exclude_defaults=True)
                if isinstance(action, ReferralCompleted)
                else referral.outcome
            ),
        },
    )
    if not moved:
        raise StaleVersion("the referral changed while you were acting on it")
    store.publish(action, topic=agency_updates_topic(agency))
    return referral


def report_case(outbox: Outbox, report: CaseReported, *, agency: str) -> None:
    """A case the agency detected goes to the cases service through this agency's topic.

    Nothing is kept here, so any outbox will do: the inbox store, or the unit of work."""
    if report.agency != agency:
        raise ValueError(f"{agency} cannot report a case as {report.agency}")
    outbox.publish(report, topic=agency_updates_topic(agency))


def unhurried(agency: str) -> frozenset[str]:
    """An inbox is read by officers and bridged by a job every second: its topic fills its
    batches for a quarter second (chassis.runtime.batch_waits)."""
    return frozenset({agency_referrals_topic(agency)})


def subscriptions(agency: str, *, bridged: bool) -> Subscriptions:
    """The worker's whole map: this agency's inbox topic, nothing else (Kafka ACLs)."""
    return {
        agency_referrals_topic(agency): {
            ReferralRequested: with_store(
                SqlStore, partial(receive_referral, agency=agency, bridge=bridged)
            ),
            ReferralStateChanged: with_store(
                SqlStore, partial(follow_state, agency=agency, bridge=bridged)
            ),
            ReferralIdentityErased: with_store(SqlStore, partial(drop_identity, agency=agency)),
        }
    }
