"""One function per event the reporting service follows; each writes facts by opaque id, so
applying an event twice (or replaying the topics) leaves the same rows."""

from __future__ import annotations

from datetime import datetime

from chassis.unit_of_work import UnitOfWork
from contracts.cases.v1 import CaseDeadlineMissed, CaseMerged, CaseReceived, CaseStageChanged
from contracts.notifications.v1 import NotificationDelivered, NotificationFailed
from contracts.referrals.v1 import ReferralEscalated, ReferralStateChanged
from contracts.vocabulary import CaseClock, CaseStage, ReferralState
from reporting.adapters.tables import CaseFact, DeliveryFact, EscalationFact, ReferralFact
from reporting.domain.periods import buckets


def _case(uow: UnitOfWork, case_id: str) -> CaseFact:
    return uow.session.get(CaseFact, case_id) or CaseFact(case_id=case_id)


def record_case(uow: UnitOfWork, event: CaseReceived) -> None:
    row = _case(uow, event.case_id)
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
    uow.session.add(row)


def record_stage(uow: UnitOfWork, event: CaseStageChanged) -> None:
    row = _case(uow, event.case_id)
    row.stage = event.to_stage.value
    if event.to_stage is CaseStage.PLAN_APPROVED and (
        row.plan_approved_at is None or event.occurred_at < row.plan_approved_at
    ):
        row.plan_approved_at = event.occurred_at  # the first approval; re-plans do not reset it
    uow.session.add(row)


def record_missed_deadline(uow: UnitOfWork, event: CaseDeadlineMissed) -> None:
    row = _case(uow, event.case_id)
    if event.clock is CaseClock.EMERGENCY_INTERVENTION:
        row.emergency_clock_missed = True
    else:
        row.plan_clock_missed = True
    uow.session.add(row)


def record_merge(uow: UnitOfWork, event: CaseMerged) -> None:
    """The duplicate stops counting; its referrals count for the surviving case."""
    row = _case(uow, event.merged_case_id)
    row.merged_into = event.case_id
    uow.session.add(row)


def track_referral(uow: UnitOfWork, event: ReferralStateChanged) -> None:
    row = uow.session.get(ReferralFact, event.referral_id)
    if row is None:
        row = ReferralFact(
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
    uow.session.add(row)


def _earliest(current: datetime | None, event: ReferralStateChanged) -> datetime:
    return event.occurred_at if current is None else min(current, event.occurred_at)


def record_escalation(uow: UnitOfWork, event: ReferralEscalated) -> None:
    uow.session.merge(
        EscalationFact(
            referral_id=event.referral_id,
            reminder=event.reminder,
            agency=event.agency,
            province_code=event.province_code,
            state=event.state.value,
            escalated_at=event.escalated_at,
        )
    )


def record_delivery(uow: UnitOfWork, event: NotificationDelivered) -> None:
    uow.session.merge(
        DeliveryFact(
            notification_id=event.notification_id,
            channel=event.channel,
            province_code=event.province_code,
            outcome="delivered",
            at=event.delivered_at,
        )
    )


def record_failure(uow: UnitOfWork, event: NotificationFailed) -> None:
    if uow.session.get(DeliveryFact, (event.notification_id, event.channel)) is None:
        uow.session.add(
            DeliveryFact(
                notification_id=event.notification_id,
                channel=event.channel,
                province_code=event.province_code,
                outcome="failed",
                at=event.failed_at,
            )
        )
