"""A producer whose sequence state broke (the broker restarted with a batch in flight) is
replaced, so the relay's next try sends with a new producer instead of failing forever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, OutOfOrderSequenceNumber

from chassis.publisher import KafkaPublisher
from contracts.envelope import KafkaRecord


class RecordingProducer:
    """Stands in for AIOKafkaProducer: each instance is one producer id on the broker."""

    made: list[RecordingProducer] = []

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.sent: list[bytes] = []
        self.stopped = False
        self.fail_with: Exception | None = None
        RecordingProducer.made.append(self)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, value: bytes, key: bytes | None, headers: list) -> Any:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_with is not None:
            done.set_exception(self.fail_with)
        else:
            self.sent.append(value)
            done.set_result(None)
        return done


RECORDS = [KafkaRecord(topic="t", key=b"k", value=f"v{i}".encode(), headers=[]) for i in (1, 2)]


@pytest.fixture(autouse=True)
def fresh() -> None:
    RecordingProducer.made = []


async def test_a_broken_producer_is_replaced_and_the_retry_goes_through_a_new_one():
    publisher = KafkaPublisher("127.0.0.1:9", "relay", producer_class=RecordingProducer)
    await publisher.start()
    first = RecordingProducer.made[0]
    first.fail_with = OutOfOrderSequenceNumber()
    with pytest.raises(OutOfOrderSequenceNumber):
        await publisher.publish(RECORDS)
    assert first.stopped
    await publisher.publish(RECORDS)  # the relay's retry
    assert len(RecordingProducer.made) == 2
    assert RecordingProducer.made[1].sent == [b"v1", b"v2"]
    assert RecordingProducer.made[1].options["enable_idempotence"] is True


async def test_a_passing_error_keeps_the_producer():
    publisher = KafkaPublisher("127.0.0.1:9", "relay", producer_class=RecordingProducer)
    await publisher.start()
    producer = RecordingProducer.made[0]
    producer.fail_with = KafkaTimeoutError()
    with pytest.raises(KafkaTimeoutError):
        await publisher.publish(RECORDS)
    producer.fail_with = None
    await publisher.publish(RECORDS)
    assert RecordingProducer.made == [producer]
    assert not producer.stopped


async def test_a_publish_is_not_held_back_waiting_for_more_records():
    """The relay hands over a whole batch and waits for it: a linger would only add its
    time to every round (5 ms a round at the old setting)."""
    publisher = KafkaPublisher("127.0.0.1:9", "relay", producer_class=RecordingProducer)
    await publisher.start()
    assert RecordingProducer.made[0].options["linger_ms"] == 0
