"""The deadline sweep: a scheduled job of the referrals worker.

Deadlines live in the referrals table (`next_escalation_at`), so a restarted worker picks
up exactly where the last one stopped; a conditional UPDATE on the escalation counter lets
several replicas sweep at once without sending anything twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from chassis.unit_of_work import UnitOfWork, unit_of_work
from chassis.worker import ScheduledJob
from contracts.referrals.lifecycle import OPEN_STATES
from contracts.referrals.v1 import ReferralEscalated
from contracts.topics import REFERRALS_EVENTS
from contracts.vocabulary import CaseType, ReferralState, RiskLevel
from referrals.adapters.referral_store import (
    Change,
    aware,
    move,
    open_referral,
    profile,
    replacement_of,
)
from referrals.adapters.tables import ReferralRecord
from referrals.domain.routing import ACCEPT_CLOCK_STATES, RoutingPolicy, reroute_target
from referrals.metrics import REFERRAL_ESCALATIONS

SWEEP_ACTOR = "referrals-deadline-sweep"


@dataclass(frozen=True)
class DeadlineSweep:
    engine: Engine
    policy: RoutingPolicy
    batch_size: int = 200

    def job(self, interval_s: float) -> ScheduledJob:
        return ScheduledJob(name="referral-deadlines", interval_s=interval_s, run=self.run)

    def run(self, now: datetime) -> int:
        """Escalate (reminder 0) or remind every overdue open referral; events staged."""
        staged = 0
        with unit_of_work(self.engine, source="/referrals") as uow:
            overdue = uow.session.exec(
                select(ReferralRecord)
                .where(col(ReferralRecord.state).in_([s.value for s in OPEN_STATES]))
                .where(col(ReferralRecord.next_escalation_at) <= now)
                .order_by(col(ReferralRecord.next_escalation_at))
                .limit(self.batch_size)
            ).all()
            for referral in overdue:
                staged += self._escalate(uow, referral, now)
        return staged

    def _escalate(self, uow: UnitOfWork, referral: ReferralRecord, now: datetime) -> int:
        reminder = referral.escalations_sent
        claimed = uow.session.execute(
            update(ReferralRecord)
            .where(col(ReferralRecord.id) == referral.id)
            .where(col(ReferralRecord.version) == referral.version)
            .where(col(ReferralRecord.escalations_sent) == reminder)
            .values(
                escalations_sent=reminder + 1,
                next_escalation_at=now
                + timedelta(hours=self.policy.escalation.reminder_every_hours),
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return 0  # another replica took it, or the referral moved meanwhile
        uow.session.refresh(referral)
        state = ReferralState(referral.state)
        # Only a referral nobody accepted is moved; accepted work stays with its agency.
        target = (
            reroute_target(self.policy, profile(referral), referral.agency, reminder)
            if state in ACCEPT_CLOCK_STATES
            else None
        )
        assert referral.due_at is not None
        uow.publish(
            ReferralEscalated(
                referral_id=referral.id,
                case_id=referral.case_id,
                agency=referral.agency,
                lead=referral.lead,
                case_type=CaseType(referral.case_type),
                risk_level=RiskLevel(referral.risk_level),
                province_code=referral.province_code,
                owner_agency=referral.owner_agency,
                state=state,
                deadline=aware(referral.due_at),
                reminder=reminder,
                rerouted_to=target,
                escalated_at=now,
            ),
            topic=REFERRALS_EVENTS,
        )
        REFERRAL_ESCALATIONS.labels(referral.agency, referral.province_code).inc()
        if target:
            self._reroute(uow, referral, target, now)
        return 1

    def _reroute(self, uow: UnitOfWork, old: ReferralRecord, agency: str, now: datetime) -> None:
        reason = f"re-routed to {agency}: {old.agency} missed the {old.state} deadline"
        new = replacement_of(old, agency, reason)
        created = open_referral(uow, new, policy=self.policy, actor=SWEEP_ACTOR, at=now)
        change = Change(SWEEP_ACTOR, now, reason, linked_referral_id=created.id)
        move(uow, old, ReferralState.CANCELLED, change, policy=self.policy)
