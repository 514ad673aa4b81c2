"""What the agency handlers keep and read: the inbox, behind a small store interface.

`InboxStore` names what the handlers need and nothing more; `SqlStore` does it over one
`UnitOfWork`, and `memory_store.MemoryStore` is the fake the fast unit tests use. Events and
after-commit effects go through the unit of work, so they commit with the inbox change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import Session, col

from agencies.adapters.tables import InboxReferral
from agencies.adapters.webhooks import stage_webhook
from chassis.lookups import get_unflushed, preload
from chassis.stores import Outbox
from chassis.unit_of_work import UnitOfWork
from contracts.base import EventModel


class InboxStore(Outbox, Protocol):
    """The agency's copy of the referrals addressed to it, and its outbound webhooks."""

    def referral(self, referral_id: str) -> InboxReferral | None: ...

    def add(self, referral: InboxReferral) -> None: ...

    def save(self, referral: InboxReferral) -> None: ...

    def move_if_version(
        self, referral: InboxReferral, expected_version: int, values: Mapping[str, Any]
    ) -> bool:
        """Set `values` only if the stored referral is still at `expected_version`; the
        referral then shows them. False when another writer got there first."""
        ...

    def stage_webhook(self, event: EventModel) -> None:
        """Queue `event` for the agency's HTTPS bridge, with the inbox change."""
        ...


@dataclass
class SqlStore:
    """`InboxStore` over one unit of work (its session, its outbox, its commit)."""

    uow: UnitOfWork

    @staticmethod
    def preload(session: Session, events: list[EventModel]) -> None:
        """The inbox referrals a batch's events look up, read in one query: most are new
        (requested), and one `SELECT` an event was 16 % of an agency worker's CPU."""
        ids = (getattr(event, "referral_id", None) for event in events)
        preload(session, ((InboxReferral, referral_id) for referral_id in ids if referral_id))

    def referral(self, referral_id: str) -> InboxReferral | None:
        return get_unflushed(self.uow.session, InboxReferral, referral_id)

    def add(self, referral: InboxReferral) -> None:
        self.uow.session.add(referral)

    def save(self, referral: InboxReferral) -> None:
        self.uow.session.add(referral)

    def move_if_version(
        self, referral: InboxReferral, expected_version: int, values: Mapping[str, Any]
    ) -> bool:
        # Conditional on the version read: of two officers acting at once, exactly one wins
        # (also on PostgreSQL under read committed).
        changed = self.uow.session.execute(
            update(InboxReferral)
            .where(col(InboxReferral.id) == referral.id)
            .where(col(InboxReferral.version) == expected_version)
            .values(**values)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self.uow.session.refresh(referral)
        return True

    def stage_webhook(self, event: EventModel) -> None:
        stage_webhook(self.uow, event)

    def publish(self, event: EventModel, *, topic: str) -> None:
        self.uow.publish(event, topic=topic)

    def after_commit(self, effect: Callable[[], None]) -> None:
        self.uow.after_commit(effect)
