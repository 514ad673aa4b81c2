"""One function per event the reporting service follows; each writes facts by opaque id, so
applying an event twice (or replaying the topics) leaves the same rows.

Handlers work on the `ReportingStore`; `subscriptions()` gives the worker each one over a
`SqlStore` of the event's unit of work."""

from __future__ import annotations

from datetime import datetime

from chassis.subscriptions import Subscriptions, with_store
from contracts.cases.v1 import CaseDeadlineMissed, CaseMerged, CaseReceived, CaseStageChanged
from contracts.notifications.v1 import NotificationDelivered, NotificationFailed
from contracts.referrals.v1 import ReferralEscalated, ReferralStateChanged
from contracts.topics import CASES_EVENTS, NOTIFICATIONS_EVENTS, REFERRALS_EVENTS
from contracts.vocabulary import CaseClock, CaseStage, ReferralState
from reporting.adapters.store import ReportingStore, SqlStore
from reporting.adapters.tables import CaseFact, DeliveryFact, EscalationFact
from reporting.domain.periods import buckets


def _case(store: ReportingStore, case_id: str) -> CaseFact:
    return store.case_fact(case_id) or store.new_case_fact(case_id)


def record_case(store: ReportingStore, event: CaseReceived) -> None:
    row = _case(store, event.case_id)
    when = buckets(event.received_at)
    row.case_type = event.case_type.value
    row.channel = event.channel.value
    row.province_code = event.province_code
    row.sex = event.sex.value
    row.age_band = event.age_band.value
    row.risk_level = event.risk_level.value
    row.owner_agency = event.owner_agency
    row.received_at = event.received_at
    row.received_day, row.received_month = when.day, when.month
    row.received_quarter, row.received_year = when.quarter, when.year
    row.stage = row.stage or CaseStage.RECEIVED.value
    store.save_case_fact(row)


def record_stage(store: ReportingStore, event: CaseStageChanged) -> None:
    row = _case(store, event.case_id)
    row.stage = event.to_stage.value
    if event.to_stage is CaseStage.PLAN_APPROVED and (
        row.plan_approved_at is None or event.occurred_at < row.plan_approved_at
    ):
        row.plan_approved_at = event.occurred_at  # the first approval; re-plans do not reset it
    store.save_case_fact(row)


def record_missed_deadline(store: ReportingStore, event: CaseDeadlineMissed) -> None:
    row = _case(store, event.case_id)
    if event.clock is CaseClock.EMERGENCY_INTERVENTION:
        row.emergency_clock_missed = True
    else:
        row.plan_clock_missed = True
    store.save_case_fact(row)


def record_merge(store: ReportingStore, event: CaseMerged) -> None:
    """The duplicate stops counting; its referrals count for the surviving case."""
    row = _case(store, event.merged_case_id)
    row.merged_into = event.case_id
    store.save_case_fact(row)


def track_referral(store: ReportingStore, event: ReferralStateChanged) -> None:
    row = store.referral_fact(event.referral_id)
    if row is None:
        row = store.new_referral_fact(
            referral_id=event.referral_id,
            case_id=event.case_id,
            agency=event.agency,
            province_code=event.province_code,
            case_type=event.case_type.value,
            risk_level=event.risk_level.value,
            state=event.to_state.value,
            version=0,
        )
    if event.version > row.version:  # the latest state wins, whatever order events came in
        row.state, row.version, row.deadline = event.to_state.value, event.version, event.deadline
    if event.from_state is None:
        row.requested_at = event.occurred_at
        row.requested_day = buckets(event.occurred_at).day
        row.accept_by = event.deadline
    if event.to_state is ReferralState.ACCEPTED:
        row.accepted_at = _earliest(row.accepted_at, event)
    if event.to_state is ReferralState.COMPLETED:
        row.completed_at = _earliest(row.completed_at, event)
    store.save_referral_fact(row)


def _earliest(current: datetime | None, event: ReferralStateChanged) -> datetime:
    return event.occurred_at if current is None else min(current, event.occurred_at)


def record_escalation(store: ReportingStore, event: ReferralEscalated) -> None:
    store.save_escalation(
        EscalationFact(
            referral_id=event.referral_id,
            reminder=event.reminder,
            agency=event.agency,
            province_code=event.province_code,
            state=event.state.value,
            escalated_at=event.escalated_at,
        )
    )


def record_delivery(store: ReportingStore, event: NotificationDelivered) -> None:
    store.save_delivery(_outcome(store, event, "delivered", event.delivered_at))


def record_failure(store: ReportingStore, event: NotificationFailed) -> None:
    """Only a channel with no outcome yet: a failure never hides a delivery."""
    store.save_delivery_unless_known(_outcome(store, event, "failed", event.failed_at))


def _outcome(
    store: ReportingStore,
    event: NotificationDelivered | NotificationFailed,
    outcome: str,
    at: datetime,
) -> DeliveryFact:
    return store.new_delivery(
        notification_id=event.notification_id,
        channel=event.channel,
        province_code=event.province_code,
        outcome=outcome,
        at=at,
    )


# Off the path to any notification, its gauges scraped every 15 s: every topic it follows
# fills its batches for a quarter second (chassis.runtime.batch_waits).
UNHURRIED = frozenset({CASES_EVENTS, REFERRALS_EVENTS, NOTIFICATIONS_EVENTS})


def subscriptions() -> Subscriptions:
    """The worker's whole map: every event the reporting store follows, and the one function
    that applies it (over the store of the event's unit of work)."""
    return {
        CASES_EVENTS: {
            CaseReceived: with_store(SqlStore, record_case),
            CaseStageChanged: with_store(SqlStore, record_stage),
            CaseDeadlineMissed: with_store(SqlStore, record_missed_deadline),
            CaseMerged: with_store(SqlStore, record_merge),
        },
        REFERRALS_EVENTS: {
            ReferralStateChanged: with_store(SqlStore, track_referral),
            ReferralEscalated: with_store(SqlStore, record_escalation),
        },
        NOTIFICATIONS_EVENTS: {
            NotificationDelivered: with_store(SqlStore, record_delivery),
            NotificationFailed: with_store(SqlStore, record_failure),
        },
    }
