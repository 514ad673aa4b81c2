"""`MemoryStore` against `SqlStore` on a real SQLite database: the same events through the
same handlers leave the same facts, so the fake of the unit tests cannot drift."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from chassis.db import create_db_engine, create_tables
from chassis.outbox import OutboxEvent
from chassis.unit_of_work import unit_of_work
from contracts.base import EventModel
from contracts.vocabulary import CaseClock, CaseStage, ReferralState
from reporting import handlers
from reporting.adapters.memory_store import MemoryStore
from reporting.adapters.store import ReportingStore, SqlStore
from reporting.adapters.tables import REPORTING_TABLES
from services.reporting.tests.events import (
    case,
    delivered,
    escalated,
    failed,
    merged,
    missed,
    referral,
    stage,
)
from tests.support.statements import tables_read, tables_written

Step = tuple[Callable[[ReportingStore, Any], None], EventModel]

SCENARIOS: dict[str, Sequence[Step]] = {
    "cases, redelivered, staged, merged": [
        (handlers.record_stage, stage("an", CaseStage.ASSESSED, "2026-11-03 09:00")),
        (handlers.record_case, case("an")),
        (handlers.record_case, case("an")),
        (handlers.record_stage, stage("an", CaseStage.PLAN_APPROVED, "2026-11-20 09:00")),
        (handlers.record_stage, stage("an", CaseStage.PLAN_APPROVED, "2026-11-04 09:00")),
        (handlers.record_missed_deadline, missed("an", clock=CaseClock.PLAN_APPROVAL)),
        (handlers.record_merge, merged("an", "an-again")),
        (handlers.record_case, case("an-again")),
    ],
    "a referral out of order": [
        (handlers.track_referral, referral("r", "an", ReferralState.ACCEPTED, 2, "2026-11-02")),
        (
            handlers.track_referral,
            referral("r", "an", ReferralState.REQUESTED, 1, "2026-11-01", deadline="2026-11-02"),
        ),
        (handlers.track_referral, referral("r", "an", ReferralState.COMPLETED, 3, "2026-11-09")),
        (handlers.track_referral, referral("r", "an", ReferralState.COMPLETED, 3, "2026-11-09")),
    ],
    "escalations and deliveries, redelivered": [
        (handlers.record_escalation, escalated("r", "an", reminder=0)),
        (handlers.record_escalation, escalated("r", "an", reminder=1)),
        (handlers.record_escalation, escalated("r", "an", reminder=0)),
        (handlers.record_failure, failed("n", channel="sms")),
        (handlers.record_delivery, delivered("n", channel="sms")),
        (handlers.record_failure, failed("n", channel="sms")),
        (handlers.record_failure, failed("m", channel="sms")),
        (handlers.record_failure, failed("m", channel="sms")),
        (handlers.record_delivery, delivered("k", channel="email")),
        (handlers.record_failure, failed("k", channel="email")),
    ],
}


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'reporting.db'}")
    create_tables(engine, [*REPORTING_TABLES, OutboxEvent])
    return engine


def facts(rows: Sequence[SQLModel]) -> list[str]:
    """Rows in a comparable form: table and columns, whichever store held them."""
    return sorted(
        json.dumps([type(row).__name__, row.model_dump(mode="json")], sort_keys=True)
        for row in rows
    )


def in_memory(steps: Sequence[Step]) -> list[str]:
    store = MemoryStore()
    for handle, event in steps:
        handle(store, event)
        store.commit()
    return facts(store.rows())


def in_sql(engine: Engine, steps: Sequence[Step]) -> list[str]:
    for handle, event in steps:  # one unit of work per event, as the worker does
        with unit_of_work(engine, source="/tests") as uow:
            handle(SqlStore(uow), event)
    with Session(engine) as session:
        return facts([row for table in REPORTING_TABLES for row in session.exec(select(table))])


def in_one_transaction(engine: Engine, steps: Sequence[Step]) -> list[str]:
    # A batch, as the worker applies one: its upserts kept for the end of it.
    with unit_of_work(engine, source="/tests", batch_outbox=True) as uow:
        for handle, event in steps:
            handle(SqlStore(uow), event)
    with Session(engine) as session:
        return facts([row for table in REPORTING_TABLES for row in session.exec(select(table))])


def another_store(tmp_path: Path) -> Engine:
    other = create_db_engine(f"sqlite:///{tmp_path / 'batch.db'}")
    create_tables(other, [*REPORTING_TABLES, OutboxEvent])
    return other


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_batch_in_one_transaction_keeps_the_same_facts_as_one_event_at_a_time(
    name: str, engine: Engine, tmp_path: Path
):
    steps = SCENARIOS[name]
    assert in_one_transaction(another_store(tmp_path), steps) == in_sql(engine, steps)


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_preloaded_batch_keeps_the_same_facts_and_reads_each_table_once(
    name: str, engine: Engine, tmp_path: Path
):
    steps = SCENARIOS[name]
    other = another_store(tmp_path)
    in_one_transaction(other, steps)  # the facts are there already: the batch redelivered
    with tables_read(other) as reads, unit_of_work(other, source="/tests") as uow:
        SqlStore.preload(uow.session, [event for _, event in steps])
        for handle, event in steps:
            handle(SqlStore(uow), event)

    looked_up = [table for table in reads if table in ("case_facts", "referral_facts")]
    assert sorted(looked_up) == sorted(set(looked_up))  # a query a table, not an event
    assert in_one_transaction(other, []) == in_sql(engine, steps)


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_fake_and_the_database_keep_the_same_facts(name: str, engine: Engine):
    steps = SCENARIOS[name]

    expected = in_sql(engine, steps)

    assert expected  # a scenario that stores nothing would prove nothing
    assert in_memory(steps) == expected


def test_a_batch_keeps_its_facts_as_values_and_writes_each_table_in_one_statement(
    engine: Engine, tmp_path: Path
):
    """An ORM object a fact, its session bookkeeping and the flush were a fifth of the
    worker's CPU: a batch's facts are values, upserted together at its end."""
    steps: list[Step] = [
        *((handlers.record_case, case(name)) for name in ("an", "binh", "chau")),
        *(
            (handlers.track_referral, referral(name, case, ReferralState.REQUESTED, 1, day))
            for name, case, day in (("r1", "an", "2026-11-01"), ("r2", "binh", "2026-11-02"))
        ),
        (handlers.record_stage, stage("an", CaseStage.ASSESSED, "2026-11-03 09:00")),
    ]
    with (
        tables_written(engine) as written,
        unit_of_work(engine, source="/tests", batch_outbox=True) as uow,
    ):
        SqlStore.preload(uow.session, [event for _, event in steps])
        for handle, event in steps:
            handle(SqlStore(uow), event)
        assert list(uow.session.new) == [] and len(uow.session.identity_map) == 0
    assert sorted(table for table in written if table.endswith("_facts")) == [
        "case_facts",
        "referral_facts",
    ]
    assert in_one_transaction(engine, []) == in_sql(another_store(tmp_path), steps)


def test_a_fact_saved_under_a_rolled_back_savepoint_is_not_read_back(engine: Engine):
    """The per-event fallback applies each event under a savepoint: one that failed must
    leave no fact behind for the next event to read."""
    with unit_of_work(engine, source="/tests") as uow:
        received = case("an")
        savepoint = uow.session.begin_nested()
        handlers.record_case(SqlStore(uow), received)
        assert SqlStore(uow).case_fact(received.case_id) is not None
        savepoint.rollback()
        assert SqlStore(uow).case_fact(received.case_id) is None
