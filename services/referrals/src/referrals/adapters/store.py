"""What the referrals service keeps and reads, behind a small store interface.

`ReferralStore` names what the handlers, the deadline sweep and the cancel route need and
nothing more; `SqlStore` does it over one `UnitOfWork`, and `memory_store.MemoryStore` is the
fake the fast unit tests use. Events and after-commit effects (metrics) go through the unit
of work, so they commit with the change. What a change is — its deadline, history row and
events — is `referrals.changes`, the same over either store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import Session, col, select

from chassis.lookups import delete_unflushed, get_unflushed, preload
from chassis.rows import plain_row
from chassis.stores import Outbox
from chassis.unit_of_work import UnitOfWork
from contracts.base import EventModel
from contracts.cases.v1 import CaseConsentRecorded, CaseReceived
from contracts.referrals.lifecycle import OPEN_STATES
from referrals.adapters.tables import (
    CaseIdentityViews,
    ConsentHold,
    ReferralRecord,
    ReferralTransition,
)

Views = Mapping[str, Mapping[str, str]]  # agency → field → sealed token


class ReferralStore(Outbox, Protocol):
    """Referrals, their history, cases held for consent, and the sealed views of cases."""

    def referral(self, referral_id: str) -> ReferralRecord | None: ...

    def referrals_of_case(self, case_id: str) -> list[ReferralRecord]: ...

    def add(self, referral: ReferralRecord) -> None: ...

    def move_if_version(
        self, referral: ReferralRecord, expected_version: int, values: Mapping[str, Any]
    ) -> bool:
        """Set `values` only if the stored referral is still at `expected_version`; the
        referral then shows them. False when another writer got there first."""
        ...

    def new_transition(self, **values: Any) -> ReferralTransition:
        """A history row to record, made with every value it will have: the worker's rows
        are plain values, inserted with the batch's others, that cannot be changed."""
        ...

    def record_transition(self, transition: ReferralTransition) -> None:
        """A new history row (from `new_transition`)."""
        ...

    def reassign_case(self, from_case_id: str, to_case_id: str) -> None:
        """Every referral of `from_case_id` now belongs to `to_case_id` (a merge)."""
        ...

    def views_of(self, case_id: str) -> Views | None: ...

    def keep_views(self, case_id: str, views: Views) -> None:
        """Keep the case's sealed views (unopened); the first ones kept stay."""
        ...

    def drop_views(self, case_id: str) -> None: ...

    def consent_hold(self, case_id: str) -> ConsentHold | None: ...

    def add_hold(self, hold: ConsentHold) -> None: ...

    def save_hold(self, hold: ConsentHold) -> None: ...

    def drop_hold(self, case_id: str) -> None: ...

    def overdue(self, now: datetime, *, limit: int) -> list[ReferralRecord]:
        """Open referrals whose next escalation is due at `now`, the longest due first."""
        ...

    def claim_escalation(self, referral: ReferralRecord, *, next_at: datetime) -> bool:
        """Count one more escalation sent, if nobody did since `referral` was read (nor moved
        it): of several sweeping replicas, exactly one escalates each breach."""
        ...


@dataclass
class SqlStore:
    """`ReferralStore` over one unit of work (its session, its outbox, its commit)."""

    uow: UnitOfWork

    @staticmethod
    def preload(session: Session, events: list[EventModel]) -> None:
        """What a batch of new cases and consents looks up, read in one query a table."""
        preload(
            session,
            (
                (model, event.case_id)
                for event in events
                if isinstance(event, CaseReceived | CaseConsentRecorded)
                for model in (CaseIdentityViews, ConsentHold)
            ),
        )

    def referral(self, referral_id: str) -> ReferralRecord | None:
        return get_unflushed(self.uow.session, ReferralRecord, referral_id)

    def referrals_of_case(self, case_id: str) -> list[ReferralRecord]:
        query = select(ReferralRecord).where(col(ReferralRecord.case_id) == case_id)
        return list(self.uow.session.exec(query).all())

    def add(self, referral: ReferralRecord) -> None:
        self.uow.session.add(referral)

    def move_if_version(
        self, referral: ReferralRecord, expected_version: int, values: Mapping[str, Any]
    ) -> bool:
        # A conditional UPDATE: two concurrent writers on one version end with exactly one
        # winner (also on PostgreSQL under read committed).
        result = self.uow.session.execute(
            update(ReferralRecord)
            .where(col(ReferralRecord.id) == referral.id)
            .where(col(ReferralRecord.version) == expected_version)
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self.uow.session.refresh(referral)
        return True

    def new_transition(self, **values: Any) -> ReferralTransition:
        # No ORM state: history rows are only ever inserted, never read back in a batch.
        return plain_row(ReferralTransition, **values)

    def record_transition(self, transition: ReferralTransition) -> None:
        self.uow.insert(transition)

    def reassign_case(self, from_case_id: str, to_case_id: str) -> None:
        self.uow.session.execute(
            update(ReferralRecord)
            .where(col(ReferralRecord.case_id) == from_case_id)
            .values(case_id=to_case_id)
        )

    def views_of(self, case_id: str) -> Views | None:
        row = get_unflushed(self.uow.session, CaseIdentityViews, case_id)
        return row.views if row else None

    def keep_views(self, case_id: str, views: Views) -> None:
        if views and get_unflushed(self.uow.session, CaseIdentityViews, case_id) is None:
            kept = {agency: dict(view) for agency, view in views.items()}
            self.uow.session.add(CaseIdentityViews(case_id=case_id, views=kept))

    def drop_views(self, case_id: str) -> None:
        row = get_unflushed(self.uow.session, CaseIdentityViews, case_id)
        if row is not None:
            delete_unflushed(self.uow.session, row)

    def consent_hold(self, case_id: str) -> ConsentHold | None:
        return get_unflushed(self.uow.session, ConsentHold, case_id)

    def add_hold(self, hold: ConsentHold) -> None:
        self.uow.session.add(hold)

    def save_hold(self, hold: ConsentHold) -> None:
        self.uow.session.add(hold)

    def drop_hold(self, case_id: str) -> None:
        hold = get_unflushed(self.uow.session, ConsentHold, case_id)
        if hold is not None:
            delete_unflushed(self.uow.session, hold)

    def overdue(self, now: datetime, *, limit: int) -> list[ReferralRecord]:
        query = (
            select(ReferralRecord)
            .where(col(ReferralRecord.state).in_([s.value for s in OPEN_STATES]))
            .where(col(ReferralRecord.next_escalation_at) <= now)
            .order_by(col(ReferralRecord.next_escalation_at))
            .limit(limit)
        )
        return list(self.uow.session.exec(query).all())

    def claim_escalation(self, referral: ReferralRecord, *, next_at: datetime) -> bool:
        claimed = self.uow.session.execute(
            update(ReferralRecord)
            .where(col(ReferralRecord.id) == referral.id)
            .where(col(ReferralRecord.version) == referral.version)
            .where(col(ReferralRecord.escalations_sent) == referral.escalations_sent)
            .values(escalations_sent=referral.escalations_sent + 1, next_escalation_at=next_at)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self.uow.session.refresh(referral)
        return True

    def publish(self, event: EventModel, *, topic: str) -> None:
        self.uow.publish(event, topic=topic)

    def after_commit(self, effect: Callable[[], None]) -> None:
        self.uow.after_commit(effect)
