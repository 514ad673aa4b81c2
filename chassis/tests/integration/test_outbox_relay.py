"""The outbox keeps an event committed while the broker is down and publishes it once back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from sqlmodel import Session, select

from chassis.db import create_db_engine, create_tables
from chassis.outbox import OutboxEvent, OutboxRelay
from chassis.publisher import KafkaPublisher
from chassis.unit_of_work import unit_of_work
from contracts.cases.v1 import CaseReceived
from contracts.topics import CASES_EVENTS, domain_topics
from localrun.kafka import LocalBroker
from localrun.topics import create_topics

pytestmark = [pytest.mark.kafka]


@pytest.fixture
def own_broker(tmp_path: Path):
    """A broker this test may stop and restart (the shared one must stay up)."""
    broker = LocalBroker(tmp_path / "kafka")
    broker.start()
    create_topics(broker.bootstrap_servers, [t for t in domain_topics() if t.name == CASES_EVENTS])
    yield broker
    broker.stop()


def published_ids(bootstrap: str) -> list[str]:
    """Every event id on the topic. Waits for the first (a restarted broker may take a
    while to serve a new consumer) and stops at the first empty poll after it."""
    consumer = KafkaConsumer(
        CASES_EVENTS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    ids: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            records = [r for batch in consumer.poll(timeout_ms=1000).values() for r in batch]
            if not records and ids:
                return ids
            ids += [dict(r.headers)["ce_id"].decode() for r in records]
        return ids
    finally:
        consumer.close()


async def test_event_committed_while_broker_is_down_is_published_when_it_returns(
    own_broker: LocalBroker, database_url: str
):
    engine = create_db_engine(database_url)
    create_tables(engine, [OutboxEvent])
    own_broker.stop()
    with unit_of_work(engine, source="/tests") as uow:
        uow.publish(CaseReceived.example(), topic=CASES_EVENTS)
    with Session(engine) as session:
        row = session.exec(select(OutboxEvent)).one()
    assert row.published_at is None

    publisher = KafkaPublisher(own_broker.bootstrap_servers, "outbox-test")
    relay = OutboxRelay(engine, publisher, service="tests", poll_interval_s=0.05)
    stop = asyncio.Event()
    own_broker.start()
    await publisher.start()
    try:
        task = asyncio.create_task(relay.run(stop))
        while True:
            with Session(engine) as session:
                if session.get(OutboxEvent, row.id).published_at is not None:  # type: ignore[union-attr]
                    break
            await asyncio.sleep(0.05)
        stop.set()
        await task
    finally:
        await publisher.stop()
    assert published_ids(own_broker.bootstrap_servers) == [row.event_id]


async def test_a_publish_cut_short_by_a_crash_is_retried_under_the_same_event_id(
    own_broker: LocalBroker, database_url: str
):
    engine = create_db_engine(database_url)
    create_tables(engine, [OutboxEvent])
    with unit_of_work(engine, source="/tests") as uow:
        uow.publish(CaseReceived.example(), topic=CASES_EVENTS)
    publisher = KafkaPublisher(own_broker.bootstrap_servers, "outbox-test")
    await publisher.start()
    relay = OutboxRelay(engine, publisher, service="tests")
    own_broker.kill()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(relay.relay_once(), 5)
    with Session(engine) as session:
        row = session.exec(select(OutboxEvent)).one()
    assert row.published_at is None  # not acknowledged, so not marked

    own_broker.start()
    try:
        while await relay.relay_once() == 0:
            pass
    finally:
        await publisher.stop()
    ids = published_ids(own_broker.bootstrap_servers)
    # At least once: a copy of the interrupted send may also land, always with the same id.
    assert ids and set(ids) == {row.event_id}


async def test_an_idle_relay_is_woken_by_a_row_another_process_commits(
    kafka_broker: LocalBroker, database_url: str
):
    """The idle relay sleeps on its database's WAL file (SQLite) or a LISTEN for the API's
    NOTIFY (PostgreSQL), not a poll. With polling and the recheck pushed out of reach, only
    the watch can find the API's row."""
    url = database_url
    engine = create_db_engine(url)
    create_tables(engine, [OutboxEvent])
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers, "outbox-watch-test")
    relay = OutboxRelay(engine, publisher, service="tests", poll_interval_s=3600)
    relay._changes.recheck_s = 3600
    stop = asyncio.Event()
    await publisher.start()
    try:
        task = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(0.5)  # drained and asleep (nothing depends on how long)
        api = create_db_engine(url)  # another process's connection
        with unit_of_work(api, source="/tests") as uow:
            uow.publish(CaseReceived.example(), topic=CASES_EVENTS)
        deadline = time.monotonic() + 60
        published = None
        while published is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            with Session(engine) as session:
                published = session.exec(select(OutboxEvent.published_at)).one()
        assert published is not None, "the commit did not wake the relay"
        stop.set()
        await task
    finally:
        await publisher.stop()
