"""The worker's sweep for missed legal clocks: each miss is announced exactly once.

State lives in the case row: a conditional UPDATE (`… WHERE missed_at IS NULL`) claims a
miss, so two replicas or a re-run of the same tick cannot emit it twice, and the event is
staged in the outbox in the same transaction as the claim.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from cases.adapters.tables import CaseRecord
from cases.domain.clocks import is_missed
from chassis.unit_of_work import UnitOfWork, unit_of_work
from contracts.cases.v1 import CaseDeadlineMissed
from contracts.topics import CASES_EVENTS
from contracts.vocabulary import CaseClock, CaseStage, CaseType, RiskLevel

BATCH = 200
# clock → (due column, met column, missed column)
COLUMNS: dict[CaseClock, tuple[Any, Any, Any]] = {
    CaseClock.EMERGENCY_INTERVENTION: (
        CaseRecord.emergency_due_at,
        CaseRecord.emergency_met_at,
        CaseRecord.emergency_missed_at,
    ),
    CaseClock.PLAN_APPROVAL: (
        CaseRecord.plan_due_at,
        CaseRecord.plan_met_at,
        CaseRecord.plan_missed_at,
    ),
}


def sweep_missed_clocks(engine: Engine, now: datetime) -> int:
    """Announce every clock that ran out before `now`; returns how many events were staged."""
    staged = 0
    with unit_of_work(engine, source="/cases/deadlines") as uow:
        for clock in CaseClock:
            staged += _sweep(uow, clock, now)
    return staged


def _sweep(uow: UnitOfWork, clock: CaseClock, now: datetime) -> int:
    due, met, missed = COLUMNS[clock]
    overdue = uow.session.exec(
        select(CaseRecord)
        .where(
            col(due) < now,
            col(met).is_(None),
            col(missed).is_(None),
            col(CaseRecord.merged_into).is_(None),
            CaseRecord.status != CaseStage.CLOSED.value,
        )
        .limit(BATCH)
    ).all()
    staged = 0
    for record in overdue:
        due_at = getattr(record, due.key)
        if not is_missed(due_at, None, now):
            continue
        claimed = uow.session.execute(
            update(CaseRecord)
            .where(col(CaseRecord.id) == record.id, col(missed).is_(None))
            .values({missed.key: now})
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another replica announced it first
        uow.publish(_missed(record, clock, due_at, now), topic=CASES_EVENTS)
        staged += 1
    return staged


def _missed(
    record: CaseRecord, clock: CaseClock, due_at: datetime, now: datetime
) -> CaseDeadlineMissed:
    return CaseDeadlineMissed(
        case_id=record.id,
        case_type=CaseType(record.case_type),
        risk_level=RiskLevel(record.risk_level),
        province_code=record.province_code,
        owner_agency=record.owner_agency,
        clock=clock,
        stage=CaseStage(record.status),
        due_at=due_at,
        detected_at=now,
    )
