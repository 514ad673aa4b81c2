"""A relay batch reaches the broker in one produce request.

aiokafka keeps one produce request in flight per broker, with one batch per partition in it:
at its default 16 KiB a batch, a relay batch of a burst went out in a round trip per 16 KiB
of each partition, one after the other."""

from __future__ import annotations

import os
from typing import Any

import pytest

from chassis.publisher import KafkaPublisher
from contracts.envelope import KafkaRecord
from contracts.identifiers import new_id
from contracts.topics import CASES_EVENTS

pytestmark = [pytest.mark.kafka]


async def test_a_burst_sized_relay_batch_goes_out_in_one_produce_request(kafka_broker: Any):
    # 300 records of 2 KB over the topic's six partitions: ~100 KB a partition.
    records = [
        KafkaRecord(topic=CASES_EVENTS, key=new_id().encode(), value=os.urandom(2000), headers=[])
        for _ in range(300)
    ]
    publisher = KafkaPublisher(kafka_broker.bootstrap_servers, "produce-requests")
    await publisher.start()
    # Out of the count: metadata, the producer id, and every partition's leader found.
    await publisher.publish(records)
    client = publisher._producer.client  # type: ignore[union-attr]
    requests: list[str] = []
    send = client.send

    async def counted(node_id: int, request: Any, **options: Any) -> Any:
        requests.append(type(request).__name__)
        return await send(node_id, request, **options)

    client.send = counted
    try:
        await publisher.publish(records)
    finally:
        client.send = send
        await publisher.stop()
    assert [name for name in requests if name.startswith("ProduceRequest")] == [requests[0]]
    assert len(requests) == 1
