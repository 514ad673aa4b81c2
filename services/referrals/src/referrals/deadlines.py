"""The deadline sweep: a scheduled job of the referrals worker.

Deadlines live in the referrals table (`next_escalation_at`), so a restarted worker picks
up exactly where the last one stopped; a conditional UPDATE on the escalation counter lets
several replicas sweep at once without sending anything twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from chassis.timestamps import aware
from chassis.unit_of_work import unit_of_work
from chassis.worker import ScheduledJob
from contracts.referrals.v1 import ReferralEscalated
from contracts.topics import REFERRALS_EVENTS
from contracts.vocabulary import CaseType, ReferralState, RiskLevel
from referrals.adapters.store import ReferralStore, SqlStore
from referrals.adapters.tables import ReferralRecord
from referrals.changes import Change, move, open_referral, profile, replacement_of
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
        with unit_of_work(self.engine, source="/referrals") as uow:
            return self.sweep(SqlStore(uow), now)

    def sweep(self, store: ReferralStore, now: datetime) -> int:
        """The sweep over one store; how many escalations it staged."""
        staged = 0
        for referral in store.overdue(now, limit=self.batch_size):
            staged += self._escalate(store, referral, now)
        return staged

    def _escalate(self, store: ReferralStore, referral: ReferralRecord, now: datetime) -> int:
        reminder = referral.escalations_sent
        next_at = now + timedelta(hours=self.policy.escalation.reminder_every_hours)
        if not store.claim_escalation(referral, next_at=next_at):
            return 0  # another replica took it, or the referral moved meanwhile
        state = ReferralState(referral.state)
        # Only a referral nobody accepted is moved; accepted work stays with its agency.
        target = (
            reroute_target(self.policy, profile(referral), referral.agency, reminder)
            if state in ACCEPT_CLOCK_STATES
            else None
        )
        assert referral.due_at is not None
        store.publish(
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
        store.after_commit(REFERRAL_ESCALATIONS.labels(referral.agency, referral.province_code).inc)
        if target:
            self._reroute(store, referral, target, now)
        return 1

    def _reroute(
        self, store: ReferralStore, old: ReferralRecord, agency: str, now: datetime
    ) -> None:
        reason = f"re-routed to {agency}: {old.agency} missed the {old.state} deadline"
        new = replacement_of(old, agency, reason)
        created = open_referral(store, new, policy=self.policy, actor=SWEEP_ACTOR, at=now)
        change = Change(SWEEP_ACTOR, now, reason, linked_referral_id=created.id)
        move(store, old, ReferralState.CANCELLED, change, policy=self.policy)
