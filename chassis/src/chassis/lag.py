"""Consumer lag: how far a worker's committed offsets trail the end of its topics.

Measured from the Faust consumer (its committed offsets, the broker's log end offsets) and
exported as `lienganh_consumer_lag{service,topic}`; a lag that keeps growing means the
worker is stuck or too slow.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from typing import Any

from chassis.metrics import CONSUMER_LAG

logger = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


def partition_lag(end: int, committed: int | None, earliest: int) -> int:
    """Records a group has yet to process in one partition. With no commit yet it will read
    everything still in the log (it starts from the earliest offset), so that all counts;
    Kafka's own tool shows "-" there, which is not zero."""
    start = earliest if committed is None else committed
    return max(0, end - start)


def lag_by_topic(
    end_offsets: Mapping[TopicPartition, int],
    committed: Mapping[TopicPartition, int | None],
    earliest: Mapping[TopicPartition, int],
) -> dict[str, int]:
    """Records behind per topic. A partition with no commit yet is behind by everything
    still in the log (from its earliest offset)."""
    lag: dict[str, int] = {}
    for tp, end in end_offsets.items():
        behind = partition_lag(end, committed.get(tp), earliest.get(tp, 0))
        lag[tp[0]] = lag.get(tp[0], 0) + behind
    return lag


async def measure_lag(consumer: Any, topics: Collection[str]) -> dict[str, int]:
    """Lag of the partitions of `topics` assigned to this Faust consumer."""
    assigned = [tp for tp in consumer.assignment() if tp.topic in topics]
    if not assigned:
        return {}
    ends = await consumer.highwaters(*assigned)
    earliest = await consumer.earliest_offsets(*assigned)
    # Faust keeps the group's committed offsets (the next offset to read) per partition.
    committed = consumer._committed_offset
    return lag_by_topic(
        {(tp.topic, tp.partition): end for tp, end in ends.items()},
        {(tp.topic, tp.partition): committed.get(tp) for tp in assigned},
        {(tp.topic, tp.partition): offset for tp, offset in earliest.items()},
    )


async def report_lag_forever(
    app: Any, service: str, topics: Collection[str], every_s: float
) -> None:
    """Refresh the gauge every `every_s` seconds; a failed measurement keeps the last value."""
    while True:
        await asyncio.sleep(every_s)
        try:
            for topic, lag in (await measure_lag(app.consumer, topics)).items():
                CONSUMER_LAG.labels(service, topic).set(lag)
        except Exception:
            logger.warning("could not measure consumer lag", exc_info=True)
