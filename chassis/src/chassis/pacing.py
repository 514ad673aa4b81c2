"""Pacing the bulk lane: an import enters the pipeline only as fast as the pipeline drains.

The pipeline is CPU-bound, and Kafka topics are first in, first out: a 20,000-row import
relayed at once would sit in front of every urgent report at every hop for minutes. So the
relay that owns the bulk lane (the cases worker's) measures the pipeline's backlog — the lag
of the consumer groups on an urgent case's path to its first notification, in records — and
releases the next few bulk rows only while that backlog is small. The import's backlog waits
in the outbox instead, where urgent and normal rows are read first (`chassis.outbox`).

Only the path counts: referrals (cases' events in, referrals out) and notifications (both
in). Reporting and the agencies' inboxes are off it; their batches wait a quarter second on
purpose (`CONSUMER_UNHURRIED_WAIT_S`), so their lag always stands higher, and counting it
held an import to a sixth of the pipeline's rate while no urgent case could have waited on
them. A group counts only while it has members: a stopped service must not hold an import
back for ever (its own lag waits for it either way).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chassis.metrics import PIPELINE_BACKLOG

if TYPE_CHECKING:
    from aiokafka import TopicPartition

logger = logging.getLogger(__name__)

GROUP_PREFIX = "lienganh-"  # every worker's consumer group id: lienganh-<service>
PATH_SERVICES = ("referrals", "notifications")  # the workers between intake and an inspector
# Groups with members (kafka-python's names of the states); "Empty" (no member) and "Dead"
# ones hold nothing back. Assigning and reconciling: the KIP-848 consumer protocol's.
LIVE_STATES = ["stable", "preparing_rebalance", "completing_rebalance", "assigning", "reconciling"]


@dataclass(frozen=True)
class BulkPacing:
    """How the bulk lane is paced (the service's settings)."""

    # Records the path's groups have still to commit, together: about a second of the path
    # at full rate, half of it read but not yet committed (commits come every second); what
    # an urgent case may find ahead of it (docs/operations.md, "Lanes").
    low_water: int = 1200
    step: int = 100  # bulk rows released per look
    look_every_s: float = 0.1
    groups: tuple[str, ...] = tuple(GROUP_PREFIX + service for service in PATH_SERVICES)


def bulk_allowance(backlog: int, pacing: BulkPacing) -> int:
    """Bulk rows to release when the pipeline has `backlog` records left to consume."""
    return pacing.step if backlog <= pacing.low_water else 0


class LagGate:
    """A `BulkGate` that looks at the pipeline's backlog at most every `look_every_s`.

    It never makes the relay wait on the broker: a look runs beside it, and each finished
    look that found the backlog small lets `step` rows out, once. Until the next look ends
    it releases nothing: the rows it released last are not in the lag yet. A look that
    fails lets `step` rows through and says so: an import must not stop because a
    measurement failed, and the broker being away stops the relay anyway.
    """

    def __init__(
        self,
        measure: Callable[[], Coroutine[Any, Any, int]],
        pacing: BulkPacing,
        *,
        service: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._measure = measure
        self._pacing = pacing
        self._service = service
        self._clock = clock
        self._look: asyncio.Task[int] | None = None
        self._looked_at: float | None = None

    async def allowance(self) -> int:
        look = self._look
        if look is not None:
            if not look.done():
                return 0
            self._look = None
            return self._decide(look)
        now = self._clock()
        if self._looked_at is None or now - self._looked_at >= self._pacing.look_every_s:
            self._looked_at = now
            self._look = asyncio.create_task(self._measure())
        return 0

    def _decide(self, look: asyncio.Task[int]) -> int:
        try:
            backlog = look.result()
        except Exception:
            logger.warning(
                "could not measure the pipeline's backlog; bulk rows go on", exc_info=True
            )
            return self._pacing.step
        PIPELINE_BACKLOG.labels(self._service).set(backlog)
        return bulk_allowance(backlog, self._pacing)

    def close(self) -> None:
        if self._look is not None:
            self._look.cancel()


class PipelineBacklog:
    """The records the given consumer groups, those with members, have yet to consume: three
    admin requests a look (live groups, their committed offsets, the partitions' ends).

    kafka-python's admin client, on a thread: aiokafka's cannot decode Kafka 4's
    DescribeGroups answer.
    """

    def __init__(
        self, bootstrap_servers: str, client_id: str, groups: Collection[str], **options: Any
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = f"{client_id}-pacing"
        self._groups = frozenset(groups)
        self._options = options  # KafkaSecurity.aiokafka_options(): kafka-python takes the same
        self._admin: Any = None

    async def __call__(self) -> int:
        return await asyncio.to_thread(self.measure)

    def measure(self) -> int:
        # Imported here: the settings above are read by API processes, which never pace.
        from kafka.admin import KafkaAdminClient, OffsetSpec

        if self._admin is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self._bootstrap_servers,
                client_id=self._client_id,
                **self._options,
            )
        live = [
            group["group_id"]
            for group in self._admin.list_groups(states_filter=LIVE_STATES)
            if group["group_id"] in self._groups
        ]
        if not live:
            return 0
        committed = self._admin.list_group_offsets(live)
        partitions = {tp for offsets in committed.values() for tp in offsets}
        if not partitions:
            return 0
        ends = self._admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        latest = {tp: answer.offset for tp, answer in ends.items()}
        return sum(backlog_of(offsets, latest) for offsets in committed.values())

    async def stop(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            await asyncio.to_thread(admin.close)


def backlog_of(committed: Mapping[TopicPartition, Any], ends: Mapping[TopicPartition, int]) -> int:
    """Records one group has yet to consume on the partitions it has committed on."""
    return sum(
        max(0, ends[tp] - offset.offset)
        for tp, offset in committed.items()
        if tp in ends and offset.offset >= 0
    )
