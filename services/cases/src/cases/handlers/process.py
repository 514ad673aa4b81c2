"""Steps 2 to 6 of the national process: assessed, needs identified, plan approved and in
progress, reviewed and closed (or re-planned); each step stored and announced."""

from __future__ import annotations

from datetime import datetime

from cases.adapters.store import CaseStore
from cases.adapters.tables import (
    CaseRecord,
    CaseStageHistory,
)
from cases.domain.clocks import clocks_met_by
from cases.domain.process import Plan, StageChange, StageRequest, change_stage
from cases.handlers.deps import StaleVersion, case_facts
from contracts.cases.v1 import (
    CaseStageChanged,
)
from contracts.topics import CASES_EVENTS
from contracts.vocabulary import (
    CaseClock,
    CaseStage,
    SupportNeed,
)


def _checked_version(record: CaseRecord, expected: int | None) -> None:
    if expected is not None and expected != record.version:
        raise StaleVersion(record.version)


def move_stage(
    store: CaseStore,
    record: CaseRecord,
    request: StageRequest,
    *,
    expected_version: int | None,
    actor: str,
    now: datetime,
) -> CaseStageChanged:
    """One step of the six-step process, stored in the history and announced."""
    _checked_version(record, expected_version)
    plan = None
    if record.plan_agencies and record.review_date:
        plan = Plan(tuple(record.plan_agencies.split(",")), record.review_date)
    change = change_stage(
        CaseStage(record.status), request, needs=_needs(record), plan=plan, today=now.date()
    )
    _apply(record, change, now)
    store.save(record)
    store.add_stage_change(
        CaseStageHistory(
            case_id=record.id,
            from_stage=change.from_stage.value,
            to_stage=change.to_stage.value,
            actor=actor,
            reason=change.reason,
            occurred_at=now,
        )
    )
    event = _stage_changed(record, change, actor, now)
    store.publish(event, topic=CASES_EVENTS)
    return event


def _apply(record: CaseRecord, change: StageChange, now: datetime) -> None:
    record.status = change.to_stage.value
    record.needs = ",".join(change.needs)
    record.plan_agencies = ",".join(change.plan.agencies) if change.plan else ""
    record.review_date = change.plan.review_date if change.plan else None
    if change.to_stage is CaseStage.CLOSED:
        record.closure_reason = change.reason
    for clock in clocks_met_by(change.to_stage):
        _meet(record, clock, now)
    record.version += 1


def _stage_changed(
    record: CaseRecord, change: StageChange, actor: str, now: datetime
) -> CaseStageChanged:
    return CaseStageChanged(
        **case_facts(record),
        from_stage=change.from_stage,
        to_stage=change.to_stage,
        actor=actor,
        reason=change.reason,
        needs=change.needs,
        plan_agencies=change.plan.agencies if change.plan else (),
        review_date=change.plan.review_date if change.plan else None,
        received_at=record.received_at,
        occurred_at=now,
    )


def _meet(record: CaseRecord, clock: CaseClock, now: datetime) -> None:
    if clock is CaseClock.EMERGENCY_INTERVENTION and record.emergency_met_at is None:
        record.emergency_met_at = now
    if clock is CaseClock.PLAN_APPROVAL and record.plan_met_at is None:
        record.plan_met_at = now


def _needs(record: CaseRecord) -> tuple[SupportNeed, ...]:
    return tuple(SupportNeed(code) for code in record.needs.split(",") if code)
