"""Consumer lag: how far a worker's committed offsets trail the end of its topics.

Measured by the worker's consumer (its committed offsets, the broker's log end offsets) and
exported as `lienganh_consumer_lag{service,topic}`; a lag that keeps growing means the
worker is stuck or too slow.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

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


async def report_lag_forever(
    measure: Callable[[], Awaitable[Mapping[str, int]]], service: str, every_s: float
) -> None:
    """Refresh the gauge every `every_s` seconds; a failed measurement keeps the last value."""
    while True:
        await asyncio.sleep(every_s)
        try:
            for topic, lag in (await measure()).items():
                CONSUMER_LAG.labels(service, topic).set(lag)
        except Exception:
            logger.warning("could not measure consumer lag", exc_info=True)
