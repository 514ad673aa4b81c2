"""Every consumer checks every record against the registry before deciding to ignore it:
the type must be declared for the topic, and the event must be valid, handler or not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, select

from chassis.consumer import Delivery, EventProcessor, Outcome
from chassis.db import create_db_engine, create_tables
from chassis.inbox import ProcessedEvent
from chassis.metrics import DEAD_LETTERS, EVENTS_CONSUMED
from chassis.outbox import OutboxEvent
from chassis.unit_of_work import UnitOfWork
from contracts.cases.v1 import CaseReceived, CaseStageChanged
from contracts.envelope import KafkaRecord, encode
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import CASES_EVENTS, agency_updates_topic

POLICE_UPDATES = agency_updates_topic("police")


def handled(uow: UnitOfWork, event: Any) -> None:
    """A handler with no effect of its own: the inbox claim is what the tests look at."""


# Like the real ones: one consumer handles case.received, another only referral changes.
CONSUMERS = {
    "referrals-like": {CaseReceived: handled},
    "notifications-like": {ReferralStateChanged: handled},
}


@pytest.fixture(params=sorted(CONSUMERS))
def consumer(request: pytest.FixtureRequest, database_url: str, dead_letter_keys: Any):
    engine = create_db_engine(database_url)
    create_tables(engine, [ProcessedEvent, OutboxEvent])
    return EventProcessor(
        service="tests",
        consumer=f"tests.{request.param}",
        engine=engine,
        handlers=CONSUMERS[request.param],
        dead_letter_sealer=dead_letter_keys.sealer,
    )


def delivery(record: KafkaRecord) -> Delivery:
    return Delivery(record=record, partition=0, offset=7)


def claimed(processor: EventProcessor) -> list[str]:
    with Session(processor._engine) as session:
        return list(
            session.exec(
                select(ProcessedEvent.event_id).where(ProcessedEvent.consumer == processor.consumer)
            )
        )


def test_a_valid_event_on_a_topic_not_declared_for_it_is_dead_lettered_as_wrong_topic(
    consumer: EventProcessor,
):
    before = DEAD_LETTERS.labels("tests", POLICE_UPDATES, "wrong_topic")._value.get()
    record = encode(CaseReceived.example(), topic=POLICE_UPDATES, source="/agencies/police")
    result = consumer.process(delivery(record))
    assert result.outcome is Outcome.DEAD_LETTERED
    assert result.dead_letter is not None
    assert result.dead_letter.topic == f"{POLICE_UPDATES}.dlq"
    assert result.dead_letter.header("dlq-reason") == "wrong_topic"
    assert POLICE_UPDATES in (result.dead_letter.header("dlq-error") or "")
    assert claimed(consumer) == []
    after = DEAD_LETTERS.labels("tests", POLICE_UPDATES, "wrong_topic")._value.get()
    assert after == before + 1


def test_an_invalid_event_of_a_declared_type_is_dead_lettered_even_without_a_handler(
    consumer: EventProcessor,
):
    good = encode(CaseStageChanged.example(), topic=CASES_EVENTS, source="/cases")
    data = json.loads(good.value) | {"to_stage": "teleported"}
    bad = KafkaRecord(CASES_EVENTS, good.key, json.dumps(data).encode(), good.headers)
    result = consumer.process(delivery(bad))
    assert result.outcome is Outcome.DEAD_LETTERED
    assert result.dead_letter is not None
    assert result.dead_letter.header("dlq-reason") == "contract_violation"
    assert "to_stage" in (result.dead_letter.header("dlq-error") or "")


def test_a_valid_event_of_a_declared_type_without_a_handler_is_ignored_and_counted(
    consumer: EventProcessor,
):
    counted = EVENTS_CONSUMED.labels(
        "tests", CASES_EVENTS, CaseStageChanged.ce_type, Outcome.IGNORED.value
    )
    before = counted._value.get()
    record = encode(CaseStageChanged.example(), topic=CASES_EVENTS, source="/cases")
    result = consumer.process(delivery(record))
    assert result.outcome is Outcome.IGNORED
    assert result.dead_letter is None
    assert counted._value.get() == before + 1
    # Not claimed in the inbox: a handler added later must still get it on a replay.
    assert claimed(consumer) == []


def test_a_declared_and_handled_event_is_still_processed(database_url: str, dead_letter_keys: Any):
    engine = create_db_engine(database_url)
    create_tables(engine, [ProcessedEvent, OutboxEvent])
    processor = EventProcessor(
        service="tests",
        consumer="tests.handled",
        engine=engine,
        handlers={CaseReceived: handled},
        dead_letter_sealer=dead_letter_keys.sealer,
    )
    record = encode(CaseReceived.example(), topic=CASES_EVENTS, source="/cases")
    assert processor.process(delivery(record)).outcome is Outcome.PROCESSED
