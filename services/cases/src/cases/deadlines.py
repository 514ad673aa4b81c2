"""The worker's sweep for missed legal clocks: each miss is announced exactly once.

State lives in the case row: a conditional UPDATE (`… WHERE missed_at IS NULL`, in
`SqlStore.claim_missed`) claims a miss, so two replicas or a re-run of the same tick cannot
emit it twice, and the event is staged in the outbox in the same transaction as the claim.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from cases.adapters.store import CLOCK_FIELDS, CaseStore, SqlStore
from cases.adapters.tables import CaseRecord
from cases.domain.clocks import is_missed
from cases.handlers.deps import case_facts
from chassis.unit_of_work import unit_of_work
from contracts.cases.v1 import CaseDeadlineMissed
from contracts.topics import CASES_EVENTS
from contracts.vocabulary import CaseClock, CaseStage

BATCH = 200


def sweep_missed_clocks(engine: Engine, now: datetime) -> int:
    """Announce every clock that ran out before `now`; returns how many events were staged."""
    with unit_of_work(engine, source="/cases/deadlines") as uow:
        return announce_missed_clocks(SqlStore(uow), now)


def announce_missed_clocks(store: CaseStore, now: datetime) -> int:
    """Claim and announce each clock missed before `now` (a batch per clock)."""
    return sum(_sweep(store, clock, now) for clock in CaseClock)


def _sweep(store: CaseStore, clock: CaseClock, now: datetime) -> int:
    staged = 0
    for record in store.overdue(clock, now, limit=BATCH):
        due_at = getattr(record, CLOCK_FIELDS[clock][0])
        if not is_missed(due_at, None, now):
            continue
        if not store.claim_missed(record.id, clock, now):
            continue  # another replica announced it first
        store.publish(_missed(record, clock, due_at, now), topic=CASES_EVENTS)
        staged += 1
    return staged


def _missed(
    record: CaseRecord, clock: CaseClock, due_at: datetime, now: datetime
) -> CaseDeadlineMissed:
    return CaseDeadlineMissed(
        **case_facts(record),
        clock=clock,
        stage=CaseStage(record.status),
        due_at=due_at,
        detected_at=now,
    )
