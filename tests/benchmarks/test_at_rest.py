"""The pipeline benchmark offers each open-loop rate to a system at rest: every consumer
group committed to the end of what it reads, and no outbox row left to publish."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from contracts.topics import CASES_EVENTS, domain_topics
from localrun.kafka import LocalBroker
from localrun.topics import create_topics

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from pipeline import at_rest

pytestmark = [pytest.mark.kafka]
TOPIC = CASES_EVENTS


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of its own: the shared one holds other tests' groups, some of them behind."""
    own = LocalBroker(tmp_path / "kafka")
    own.start()
    create_topics(own.bootstrap_servers, [t for t in domain_topics() if t.name == TOPIC])
    yield own
    own.stop()


def _commit(bootstrap: str, group: str, offset: int) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        consumer.commit({TopicPartition(TOPIC, 0): OffsetAndMetadata(offset, "", -1)})
    finally:
        consumer.close()


def test_the_system_is_at_rest_only_once_every_group_has_read_everything(
    broker: LocalBroker, tmp_path: Path
):
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    for _ in range(3):
        producer.send(TOPIC, b"event", partition=0).get(timeout=60)
    producer.close()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    offsets = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
    try:
        _commit(broker.bootstrap_servers, "reporting", 3)
        _commit(broker.bootstrap_servers, "agency-police", 1)
        assert not at_rest(admin, offsets, None)  # one group is two records behind
        _commit(broker.bootstrap_servers, "agency-police", 3)
        assert at_rest(admin, offsets, None)

        with closing(sqlite3.connect(tmp_path / "cases.db")) as store, store:
            store.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, published_at DATETIME)")
            store.execute("INSERT INTO outbox (published_at) VALUES (NULL)")
        assert not at_rest(admin, offsets, tmp_path)  # an event not yet published
        with closing(sqlite3.connect(tmp_path / "cases.db")) as store, store:
            store.execute("UPDATE outbox SET published_at = '2026-12-03 20:00:00'")
        assert at_rest(admin, offsets, tmp_path)
    finally:
        admin.close()
        offsets.close()
