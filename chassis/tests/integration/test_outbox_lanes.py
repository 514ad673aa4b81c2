"""The relay sends the urgent lane first, then the normal lane, then the bulk lane as far as
its gate allows, and never lets a key's later event overtake an earlier one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from chassis.consumer import Delivery, EventProcessor, Outcome
from chassis.db import create_db_engine, create_tables
from chassis.inbox import ProcessedEvent
from chassis.metrics import OUTBOX_BACKLOG, OUTBOX_BULK_WAITING, OUTBOX_OLDEST_AGE
from chassis.outbox import Lane, OutboxEvent, OutboxRelay
from chassis.unit_of_work import UnitOfWork, unit_of_work
from contracts.cases.v1 import CaseReceived
from contracts.envelope import KafkaRecord
from tests.support.statements import tables_read

TOPIC = "test.lanes"


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        self.sent += [record.header("ce_id") or "" for record in records]


class FixedGate:
    def __init__(self, allowance: int) -> None:
        self.allowed = allowance

    async def allowance(self) -> int:
        return self.allowed


def stage(engine: Engine, key: str, lane: Lane) -> str:
    event = CaseReceived.example().model_copy(update={"case_id": key})
    with unit_of_work(engine, source="/tests", lane=lane) as uow:
        uow.publish(event, topic=TOPIC)
    with Session(engine) as session:
        return session.exec(
            select(OutboxEvent.event_id).order_by(col(OutboxEvent.id).desc())
        ).first()  # type: ignore[return-value]


def relay(database_url: str, gate: FixedGate) -> tuple[Engine, RecordingPublisher, OutboxRelay]:
    engine = create_db_engine(database_url)
    create_tables(engine, [OutboxEvent])
    publisher = RecordingPublisher()
    return engine, publisher, OutboxRelay(engine, publisher, service="tests", bulk_gate=gate)  # type: ignore[arg-type]


def drain(outbox: OutboxRelay) -> None:
    async def until_empty() -> None:
        while await outbox.relay_once():
            pass

    asyncio.run(until_empty())


def new_key() -> str:
    return str(uuid.uuid4())


def gauge(metric: Any) -> float:
    return float(metric.labels("tests")._value.get())


def test_urgent_rows_go_before_older_normal_rows_and_normal_before_bulk(database_url: str):
    engine, publisher, outbox = relay(database_url, FixedGate(100))
    bulk = stage(engine, new_key(), Lane.BULK)
    normal = stage(engine, new_key(), Lane.NORMAL)
    urgent = stage(engine, new_key(), Lane.URGENT)
    drain(outbox)
    assert publisher.sent == [urgent, normal, bulk]


def test_bulk_rows_wait_for_the_gate_and_go_no_faster_than_it_allows(database_url: str):
    gate = FixedGate(0)
    engine, publisher, outbox = relay(database_url, gate)
    imported = [stage(engine, new_key(), Lane.BULK) for _ in range(5)]
    live = stage(engine, new_key(), Lane.NORMAL)
    drain(outbox)
    assert publisher.sent == [live]  # the import waits, the live report does not

    gate.allowed = 2
    assert asyncio.run(outbox.relay_once()) == 2
    assert publisher.sent == [live, *imported[:2]]
    drain(outbox)
    assert publisher.sent == [live, *imported]


def test_a_keys_later_urgent_event_does_not_overtake_its_earlier_normal_one(database_url: str):
    engine, publisher, outbox = relay(database_url, FixedGate(100))
    case = new_key()
    first = stage(engine, case, Lane.NORMAL)
    other = stage(engine, new_key(), Lane.NORMAL)
    escalated = stage(engine, case, Lane.URGENT)
    drain(outbox)
    # The case's earlier row is pulled into the urgent lane with it, in order.
    assert publisher.sent == [first, escalated, other]


def test_a_live_event_of_a_case_whose_import_still_waits_takes_the_import_along(database_url: str):
    engine, publisher, outbox = relay(database_url, FixedGate(0))
    case = new_key()
    imported = stage(engine, case, Lane.BULK)
    waiting = stage(engine, new_key(), Lane.BULK)
    update = stage(engine, case, Lane.NORMAL)
    drain(outbox)
    assert publisher.sent == [imported, update]
    with Session(engine) as session:
        pending = session.exec(
            select(OutboxEvent.event_id).where(col(OutboxEvent.published_at).is_(None))
        ).all()
    assert pending == [waiting]


def test_an_urgent_event_from_an_import_stays_in_the_bulk_lane(database_url: str):
    engine, _, _ = relay(database_url, FixedGate(0))
    with unit_of_work(engine, source="/tests", lane=Lane.BULK) as uow:
        uow.publish(CaseReceived.example(), topic=TOPIC, urgent=True)
    with unit_of_work(engine, source="/tests") as uow:
        uow.publish(CaseReceived.example(), topic=TOPIC, urgent=True)
    with Session(engine) as session:
        lanes = session.exec(select(OutboxEvent.lane).order_by(col(OutboxEvent.id))).all()
    assert lanes == [Lane.BULK, Lane.URGENT]


def test_what_a_consumer_stages_takes_the_lane_of_the_event_it_handles(
    database_url: str, dead_letter_keys: Any
):
    """An urgent case is first at every hop: the lane travels as `ce_lane`."""
    engine = create_db_engine(database_url)
    create_tables(engine, [ProcessedEvent, OutboxEvent])

    def pass_on(uow: UnitOfWork, event: CaseReceived) -> None:
        uow.publish(event, topic="test.downstream")

    processor = EventProcessor(
        service="tests",
        consumer="tests.lanes",
        engine=engine,
        handlers={CaseReceived: pass_on},
        dead_letter_sealer=dead_letter_keys.sealer,
    )
    for offset, lane in enumerate(Lane):
        event = CaseReceived.example().model_copy(update={"case_id": str(uuid.uuid4())})
        with unit_of_work(engine, source="/tests", lane=lane) as uow:
            uow.publish(event, topic=TOPIC)
        with Session(engine) as session:
            staged = session.exec(select(OutboxEvent).where(OutboxEvent.topic == TOPIC)).all()[-1]
        assert (
            processor.process(Delivery(staged.to_record(), 0, offset)).outcome is Outcome.PROCESSED
        )
    with Session(engine) as session:
        passed_on = session.exec(
            select(OutboxEvent.lane)
            .where(OutboxEvent.topic == "test.downstream")
            .order_by(col(OutboxEvent.id))
        ).all()
    assert passed_on == [Lane.URGENT, Lane.NORMAL, Lane.BULK]


def test_a_waiting_import_is_counted_but_does_not_age_the_outbox(database_url: str):
    """`lienganh_outbox_oldest_age_seconds` alerts when the relay is stuck: an import held
    back by design must not set it off; `lienganh_outbox_bulk_waiting` shows it instead."""
    engine, _, outbox = relay(database_url, FixedGate(0))
    for _ in range(3):
        stage(engine, new_key(), Lane.BULK)
    live = stage(engine, new_key(), Lane.NORMAL)

    rows, waiting = outbox._pending(bulk_allowance=0)
    assert [row.event_id for row in rows] == [live] and waiting
    assert gauge(OUTBOX_BULK_WAITING) == 3 and gauge(OUTBOX_BACKLOG) == 4
    assert gauge(OUTBOX_OLDEST_AGE) > 0
    outbox._mark_published([row.id for row in rows if row.id])
    assert outbox._pending(bulk_allowance=0) == ([], True)
    assert gauge(OUTBOX_BULK_WAITING) == 3 and gauge(OUTBOX_OLDEST_AGE) == 0


def test_the_relay_queries_only_the_lanes_that_have_pending_rows(database_url: str):
    """Under load the relay looks at a few rows at a time, so each statement counts: the
    backlog count (which the gauges need anyway) says which lanes are worth a query."""
    engine, _, outbox = relay(database_url, FixedGate(100))

    def selects(bulk_allowance: int) -> tuple[int, int, bool]:
        with tables_read(engine) as read:
            rows, waiting = outbox._pending(bulk_allowance)
        outbox._mark_published([row.id for row in rows if row.id])
        return len(read), len(rows), waiting

    assert selects(100) == (1, 0, False)  # drained: the count alone
    stage(engine, new_key(), Lane.NORMAL)
    assert selects(100) == (2, 1, False)  # the count, then the prompt lanes
    stage(engine, new_key(), Lane.BULK)
    assert selects(0) == (1, 0, True)  # bulk held back by the gate: not read at all
    assert selects(100) == (2, 1, False)  # the count, then the bulk lane
    assert gauge(OUTBOX_BACKLOG) == 1 and gauge(OUTBOX_BULK_WAITING) == 1  # as read


def test_a_backlog_in_one_lane_is_not_searched_for_keys_in_two(database_url: str):
    """A full batch used to send the relay looking for keys pending in two lanes, through
    the whole backlog, round after round; with one lane pending none can be."""
    engine, publisher, _ = relay(database_url, FixedGate(100))
    outbox = OutboxRelay(engine, publisher, service="tests", batch_size=2)  # type: ignore[arg-type]
    case = new_key()
    staged = [stage(engine, key, Lane.NORMAL) for key in (case, new_key(), new_key())]

    with tables_read(engine) as read:
        rows, _ = outbox._pending(bulk_allowance=100)
    assert len(read) == 2  # the count and the batch
    assert [row.event_id for row in rows] == staged[:2]

    escalated = stage(engine, case, Lane.URGENT)  # now two lanes, and a key in both
    drain(outbox)
    assert publisher.sent == [staged[0], escalated, staged[1], staged[2]]


def test_a_batch_unit_of_work_writes_its_rows_at_commit_in_order_like_one_by_one(
    database_url: str,
):
    engine, publisher, outbox = relay(database_url, FixedGate(100))
    keys = [new_key() for _ in range(3)]
    events = [CaseReceived.example().model_copy(update={"case_id": key}) for key in keys]
    with unit_of_work(engine, source="/tests", lane=Lane.BULK, batch_outbox=True) as uow:
        for event in events:
            uow.publish(event, topic=TOPIC)
        uow.publish(events[0], topic=f"{TOPIC}.copy")
        # Kept as values until the transaction ends: none is written, none is in the session.
        assert uow.session.exec(select(OutboxEvent)).all() == []
    with Session(engine) as session:
        rows = session.exec(select(OutboxEvent).order_by(col(OutboxEvent.id))).all()
    assert [row.key for row in rows] == [key.encode() for key in [*keys, keys[0]]]
    assert {row.lane for row in rows} == {Lane.BULK}
    first, *_, copy = (row.to_record() for row in rows)
    assert copy.header("ce_causationid") == first.header("ce_id")  # as one by one
    drain(outbox)
    assert publisher.sent == [row.event_id for row in rows]


def test_a_failed_batch_unit_of_work_leaves_no_row(database_url: str):
    engine, _, _ = relay(database_url, FixedGate(100))
    try:
        with unit_of_work(engine, source="/tests", batch_outbox=True) as uow:
            uow.publish(CaseReceived.example(), topic=TOPIC)
            raise RuntimeError("the batch failed")
    except RuntimeError:
        pass
    with Session(engine) as session:
        assert session.exec(select(OutboxEvent)).all() == []
