"""The reporting store: the facts the handlers read and write, by opaque id.

Handlers see only `ReportingStore`. The worker hands them `SqlStore`, over the unit of work
of each event; unit tests hand them `MemoryStore` (`adapters/memory_store.py`). A fact read
and changed counts only once it is saved again: the fake holds copies, so a handler that
forgets to save fails its unit test as it would lose the change in a fresh session.

`SqlStore` keeps case and referral facts as values held for the batch (`chassis.held_rows`),
not ORM objects: as those, they were a fifth of the worker's CPU (py-spy, a batch burst).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel import Session, SQLModel

from chassis.held_rows import held_row, preload_rows, save_held
from chassis.rows import kept_row, plain_row
from chassis.stores import Outbox
from chassis.unit_of_work import UnitOfWork
from contracts.base import EventModel
from contracts.cases.v1 import CaseDeadlineMissed, CaseMerged, CaseReceived, CaseStageChanged
from contracts.referrals.v1 import ReferralStateChanged
from reporting.adapters.tables import CaseFact, DeliveryFact, EscalationFact, ReferralFact


class ReportingStore(Outbox, Protocol):
    """Facts per case, referral, escalation and notification delivery."""

    def case_fact(self, case_id: str) -> CaseFact | None: ...

    def new_case_fact(self, case_id: str) -> CaseFact:
        """A case fact not saved yet, every other column at its default."""
        ...

    def save_case_fact(self, fact: CaseFact) -> None: ...

    def referral_fact(self, referral_id: str) -> ReferralFact | None: ...

    def new_referral_fact(self, **values: Any) -> ReferralFact:
        """A referral fact not saved yet."""
        ...

    def save_referral_fact(self, fact: ReferralFact) -> None: ...

    def save_escalation(self, fact: EscalationFact) -> None:
        """Insert, or overwrite the one of the same referral and reminder."""
        ...

    def new_delivery(self, **values: Any) -> DeliveryFact:
        """A delivery fact to save, made with every value it will have: the worker's are
        plain values, written with the batch's others, that cannot be changed."""
        ...

    def save_delivery(self, fact: DeliveryFact) -> None:
        """Insert, or overwrite the one of the same notification and channel."""
        ...

    def save_delivery_unless_known(self, fact: DeliveryFact) -> None:
        """Insert, unless the notification and channel have an outcome already."""
        ...


@dataclass
class SqlStore:
    """The store in the database, inside one unit of work: nothing is written before it
    commits, and the events and effects it takes go with that commit."""

    uow: UnitOfWork

    @staticmethod
    def preload(session: Session, events: list[EventModel]) -> None:
        """The case and referral facts a batch's events update, one query a table."""
        preload_rows(session, _facts_of(events))

    def case_fact(self, case_id: str) -> CaseFact | None:
        return held_row(self.uow, CaseFact, case_id)

    def new_case_fact(self, case_id: str) -> CaseFact:
        return kept_row(CaseFact, case_id=case_id)

    def save_case_fact(self, fact: CaseFact) -> None:
        save_held(self.uow, CaseFact, fact.case_id, fact)

    def referral_fact(self, referral_id: str) -> ReferralFact | None:
        return held_row(self.uow, ReferralFact, referral_id)

    def new_referral_fact(self, **values: Any) -> ReferralFact:
        return kept_row(ReferralFact, **values)

    def save_referral_fact(self, fact: ReferralFact) -> None:
        save_held(self.uow, ReferralFact, fact.referral_id, fact)

    def save_escalation(self, fact: EscalationFact) -> None:
        # an upsert, not add: a redelivered reminder overwrites its row instead of colliding.
        self.uow.upsert(fact)

    def new_delivery(self, **values: Any) -> DeliveryFact:
        # No ORM state: a third of applying a delivery went to making an instrumented row.
        return plain_row(DeliveryFact, **values)

    def save_delivery(self, fact: DeliveryFact) -> None:
        # Written with the batch's others, in one statement: a delivery fact is never read
        # back in a batch (a failure's is kept or dropped by the database, not by a read).
        self.uow.upsert(fact)

    def save_delivery_unless_known(self, fact: DeliveryFact) -> None:
        self.uow.upsert(fact, overwrite=False)

    def publish(self, event: EventModel, *, topic: str) -> None:
        self.uow.publish(event, topic=topic)

    def after_commit(self, effect: Callable[[], None]) -> None:
        self.uow.after_commit(effect)


def _facts_of(events: list[EventModel]) -> Iterator[tuple[type[SQLModel], str]]:
    """The facts events of the worker's map update, as (model, key); escalation and delivery
    facts are upserted, never looked up first."""
    for event in events:
        if isinstance(event, ReferralStateChanged):
            yield ReferralFact, event.referral_id
        elif isinstance(event, CaseMerged):
            yield CaseFact, event.merged_case_id
        elif isinstance(event, CaseReceived | CaseStageChanged | CaseDeadlineMissed):
            yield CaseFact, event.case_id
