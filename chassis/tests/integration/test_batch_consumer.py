"""`BatchConsumer` on a real broker: batches in partition order, offsets committed only for
what was handled, a failed batch read again, and a restart that resumes where it stopped.

Waits are liveness bounds, never speed assertions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from chassis.batch_consumer import BatchConsumer, TopicBatches
from chassis.consumer import Delivery
from chassis.settings import ConsumerTimeouts
from localrun.topics import create_topics
from tests.support.worker_recovery import recovery_topic

pytestmark = [pytest.mark.kafka]

LIVENESS_S = 120.0
PARTITIONS = 3


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(LIVENESS_S):
        # A condition over what the handlers appended, and the broker's commits: polled.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


class Fixture:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.topic = f"tests.batches.{uuid.uuid4().hex[:8]}.v1"
        self.group = f"tests-batches-{uuid.uuid4().hex[:8]}"
        create_topics(bootstrap, [recovery_topic(self.topic, PARTITIONS)])

    async def send(self, count: int, start: int = 0) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        try:
            for n in range(start, start + count):
                partition = n % PARTITIONS
                await producer.send_and_wait(
                    self.topic, value=f"{partition}:{n}".encode(), partition=partition
                )
        finally:
            await producer.stop()

    def consumer(
        self, handle: Callable[[list[Delivery]], Awaitable[None]], batch_size: int = 50
    ) -> BatchConsumer:
        return BatchConsumer(
            group_id=self.group,
            bootstrap_servers=self.bootstrap,
            topics={self.topic: TopicBatches(handle=handle, wait_s=0.02)},
            batch_size=batch_size,
            timeouts=ConsumerTimeouts(commit_interval_s=0.1),
            client_options={},
        )

    async def committed(self) -> dict[int, int | None]:
        reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group)
        await reader.start()
        try:
            return {
                p: await reader.committed(TopicPartition(self.topic, p)) for p in range(PARTITIONS)
            }
        finally:
            await reader.stop()


@pytest.fixture
def kafka(kafka_broker: object) -> Fixture:
    return Fixture(kafka_broker.bootstrap_servers)  # type: ignore[attr-defined]


def values(deliveries: list[Delivery]) -> list[str]:
    return [delivery.record.value.decode() for delivery in deliveries]


async def test_batches_keep_each_partitions_order_and_commit_once_handled(kafka: Fixture):
    await kafka.send(60)
    handled: list[list[str]] = []
    release = asyncio.Event()

    async def handle(deliveries: list[Delivery]) -> None:
        handled.append(values(deliveries))
        await release.wait()

    consumer = kafka.consumer(handle, batch_size=25)
    running = asyncio.create_task(consumer.run())
    await eventually(lambda: bool(handled))
    assert len(handled[0]) <= 25
    await asyncio.sleep(0.5)  # five commit intervals with a batch in hand
    assert await kafka.committed() == {p: None for p in range(PARTITIONS)}

    release.set()
    await eventually(lambda: sum(map(len, handled)) == 60)
    by_partition: dict[str, list[int]] = {}
    for value in (v for batch in handled for v in batch):
        partition, n = value.split(":")
        by_partition.setdefault(partition, []).append(int(n))
    assert all(ns == sorted(ns) for ns in by_partition.values())
    assert sorted(n for ns in by_partition.values() for n in ns) == list(range(60))
    await consumer.stop()
    await running
    assert await kafka.committed() == {p: 20 for p in range(PARTITIONS)}


async def test_a_batch_whose_handler_failed_is_read_again(kafka: Fixture):
    await kafka.send(9)
    seen: list[str] = []
    failures = [RuntimeError("the store is away")]

    async def handle(deliveries: list[Delivery]) -> None:
        if failures:
            raise failures.pop()
        seen.extend(values(deliveries))

    consumer = kafka.consumer(handle)
    running = asyncio.create_task(consumer.run())
    await eventually(lambda: len(seen) == 9)
    await consumer.stop()
    await running
    assert sorted(seen, key=lambda v: int(v.split(":")[1])) == [f"{n % 3}:{n}" for n in range(9)]


async def test_a_restarted_member_resumes_after_what_was_handled(kafka: Fixture):
    await kafka.send(12)
    first: list[str] = []

    async def remember_first(deliveries: list[Delivery]) -> None:
        first.extend(values(deliveries))

    consumer = kafka.consumer(remember_first)
    running = asyncio.create_task(consumer.run())
    await eventually(lambda: len(first) == 12)
    await consumer.stop()  # commits on the way out
    await running

    await kafka.send(6, start=12)
    second: list[str] = []

    async def remember_second(deliveries: list[Delivery]) -> None:
        second.extend(values(deliveries))

    again = kafka.consumer(remember_second)
    running = asyncio.create_task(again.run())
    await eventually(lambda: len(second) >= 6)
    await asyncio.sleep(0.3)  # anything re-read would arrive with the new records
    await again.stop()
    await running
    assert sorted(int(v.split(":")[1]) for v in second) == list(range(12, 18))
