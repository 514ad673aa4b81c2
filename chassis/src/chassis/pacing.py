"""Pacing the bulk lane: an import enters the pipeline only as fast as the pipeline drains.

The pipeline is CPU-bound, and Kafka topics are first in, first out: a 20,000-row import
relayed at once would sit in front of every urgent report at every hop for minutes. So the
relay that owns the bulk lane (the cases worker's) measures the pipeline's backlog — the lag
of the consumer groups on an urgent case's path to its first notification, in records — and
releases the next few bulk rows only while that backlog is small. The import's backlog waits
in the outbox instead, where urgent and normal rows are read first (`chassis.outbox`).

Small is measured in time: at most `ahead_s` of the path's work at the rate it drains now
(its groups' commits over the last few seconds), never less than `low_water` records. A
count of records alone is a different wait on a busy machine: while the import's own
writer takes a core the path drains slower, and the same records held urgent reports
twice as long.

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
from collections import deque
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chassis.metrics import PIPELINE_BACKLOG, PIPELINE_DRAIN

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

    # What an urgent case may find ahead of it on the path (docs/operations.md, "Lanes"):
    # this many seconds of work at the current drain rate. Commits come every second, so
    # about half of what a look counts was already read.
    ahead_s: float = 1.3
    # The fewest records that count as small: an idle path drains nothing, and the import
    # must get it going.
    low_water: int = 400
    step: int = 100  # bulk rows released per look
    look_every_s: float = 0.1
    rate_window_s: float = 3.0  # the drain rate's window: commits land once a second a group
    groups: tuple[str, ...] = tuple(GROUP_PREFIX + service for service in PATH_SERVICES)


# A group's committed offset on one partition: (group id, topic partition) → offset.
Committed = Mapping[tuple[str, "TopicPartition"], int]


@dataclass(frozen=True)
class PathLag:
    """One look at the path: the records its live groups have left, and where they are."""

    backlog: int
    committed: Committed


def bulk_allowance(backlog: int, drain_per_s: float, pacing: BulkPacing) -> int:
    """Bulk rows to release when the path has `backlog` records left and drains
    `drain_per_s` records a second."""
    mark = max(pacing.low_water, drain_per_s * pacing.ahead_s)
    return pacing.step if backlog <= mark else 0


class DrainRate:
    """Records a second the path's groups commit, over the last `window_s` of looks.

    Only offsets present in both looks count, and none that went back: a group that left
    or rejoined (its worker restarted) neither drains nor floods the estimate.
    """

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._looks: deque[tuple[float, Committed]] = deque()

    def update(self, at: float, committed: Committed) -> float:
        self._looks.append((at, committed))
        while len(self._looks) > 2 and at - self._looks[1][0] >= self._window_s:
            self._looks.popleft()
        first_at, first = self._looks[0]
        if at <= first_at:
            return 0.0
        drained = sum(
            max(0, offset - first[key]) for key, offset in committed.items() if key in first
        )
        return drained / (at - first_at)


class LagGate:
    """A `BulkGate` that looks at the path's backlog at most every `look_every_s`.

    It never makes the relay wait on the broker: a look runs beside it, and each finished
    look that found the backlog small lets `step` rows out, once. Until the next look ends
    it releases nothing: the rows it released last are not in the lag yet. A look that
    fails lets `step` rows through and says so: an import must not stop because a
    measurement failed, and the broker being away stops the relay anyway.
    """

    def __init__(
        self,
        measure: Callable[[], Coroutine[Any, Any, PathLag]],
        pacing: BulkPacing,
        *,
        service: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._measure = measure
        self._pacing = pacing
        self._service = service
        self._clock = clock
        self._drain = DrainRate(pacing.rate_window_s)
        self._look: asyncio.Task[PathLag] | None = None
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

    def _decide(self, look: asyncio.Task[PathLag]) -> int:
        try:
            lag = look.result()
        except Exception:
            logger.warning(
                "could not measure the pipeline's backlog; bulk rows go on", exc_info=True
            )
            return self._pacing.step
        drain_per_s = self._drain.update(self._clock(), lag.committed)
        PIPELINE_BACKLOG.labels(self._service).set(lag.backlog)
        PIPELINE_DRAIN.labels(self._service).set(drain_per_s)
        return bulk_allowance(lag.backlog, drain_per_s, self._pacing)

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

    async def __call__(self) -> PathLag:
        return await asyncio.to_thread(self.measure)

    def measure(self) -> PathLag:
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
            return PathLag(0, {})
        committed = self._admin.list_group_offsets(live)
        partitions = {tp for offsets in committed.values() for tp in offsets}
        if not partitions:
            return PathLag(0, {})
        ends = self._admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        latest = {tp: answer.offset for tp, answer in ends.items()}
        return PathLag(
            backlog=sum(backlog_of(offsets, latest) for offsets in committed.values()),
            committed={
                (group, tp): offset.offset
                for group, offsets in committed.items()
                for tp, offset in offsets.items()
                if offset.offset >= 0
            },
        )

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
