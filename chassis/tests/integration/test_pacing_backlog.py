"""The pipeline's backlog as the bulk gate reads it, from a real broker: what the named groups
with members have yet to consume; a group with no member does not hold an import back, nor
does a group off the path."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

from chassis.pacing import PathLag, PipelineBacklog

pytestmark = [pytest.mark.kafka]


def joined(bootstrap: str, group: str, topic: str) -> KafkaConsumer:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(timeout_ms=200, max_records=1)
    assert consumer.assignment(), "the consumer never joined its group"
    return consumer


def commit(consumer: KafkaConsumer, topic: str, offset: int) -> None:
    consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(offset, "", -1)})


def test_backlog_counts_what_the_paths_live_groups_have_left(kafka_broker):
    bootstrap = kafka_broker.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    prefix, topic = f"pacing-{run}-", f"pacing-test-{run}"
    partition = TopicPartition(topic, 0)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for n in range(30):
        producer.send(topic, str(n).encode())
    producer.flush()
    producer.close()

    live = joined(bootstrap, f"{prefix}live", topic)
    commit(live, topic, 10)
    gone = joined(bootstrap, f"{prefix}gone", topic)
    commit(gone, topic, 5)
    gone.close()  # its group is left empty
    other = joined(bootstrap, f"{prefix}off-path", topic)  # live, but not on the path
    commit(other, topic, 0)

    async def measure() -> PathLag:
        backlog = PipelineBacklog(bootstrap, "test", [f"{prefix}live", f"{prefix}gone"])
        try:
            return await backlog()
        finally:
            await backlog.stop()

    try:
        assert asyncio.run(measure()) == PathLag(20, {(f"{prefix}live", partition): 10})
        commit(live, topic, 30)
        assert asyncio.run(measure()) == PathLag(0, {(f"{prefix}live", partition): 30})
    finally:
        live.close()
        other.close()
