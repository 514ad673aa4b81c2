"""A worker's topics read straight from aiokafka, a batch at a time, by one group member.

One `AIOKafkaConsumer` is the service's member of its consumer group. Each topic has a task
of its own: it takes a batch of its partitions' records (`getmany`: at most `batch_size`,
handed over `wait_s` after the first one came, or when full), awaits the topic's handler,
and only then counts those offsets as done. Topics are handled side by side; a partition's
records go in order, one batch after the other.

Faust's agents did the same through its stream: an `Event`, a hop from its consumer thread,
sensors and an ack for every record, ~160 µs of CPU a record against ~15 µs for `getmany`
(docs/benchmarks.md), and a fifth of the busiest workers' CPU under load.

Offsets are committed every `commit_interval_s`, when partitions are revoked (once the
batches in hand are handled) and on stop: only offsets whose records were handled. A crash
re-delivers what was in hand; the inbox drops what had already been applied.

A batch counts only if no revoke came between its first poll and the end of its handling.
One taken before a revoke and handled after it was read from a position the group has since
moved past (a member paused past its session came back to find another had gone on): its
offsets, committed, would take the group back, and no record would be left for this member
to read to take it forward again. Whoever holds the partition now reads those records from
the committed offset; the inbox drops what had already been applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, KafkaError

from chassis.consumer import Delivery
from chassis.lag import lag_by_topic
from chassis.settings import ConsumerTimeouts
from contracts.envelope import KafkaRecord

logger = logging.getLogger(__name__)

# How long an idle topic's task waits in `getmany` before it looks at its partitions again
# (a rebalance may have given it others). Idle, that is two cheap wake-ups a second.
IDLE_POLL_S = 0.5

BatchHandler = Callable[[list[Delivery]], Awaitable[None]]


@dataclass(frozen=True)
class TopicBatches:
    """How one topic is consumed: its handler, and how long a batch waits to fill."""

    handle: BatchHandler
    wait_s: float


@dataclass(frozen=True)
class ConsumerState:
    """What the worker's consumer is doing, as `/readyz` sees it."""

    started: bool
    assigned: frozenset[tuple[str, int]]
    rebalancing: bool
    idle_s: float | None  # since the consumer last polled; None when unknown


class BatchConsumer:
    """The group member of one worker process. `run()` until `stop()`."""

    def __init__(
        self,
        *,
        group_id: str,
        bootstrap_servers: str,
        topics: Mapping[str, TopicBatches],
        batch_size: int,
        timeouts: ConsumerTimeouts,
        client_options: Mapping[str, Any],
    ) -> None:
        self._group_id = group_id
        self._bootstrap_servers = bootstrap_servers
        self._topics = dict(topics)
        self._batch_size = batch_size
        self._timeouts = timeouts
        self._client_options = dict(client_options)
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._assignment = asyncio.Event()  # set (and replaced) at every assignment
        self._rebalancing = False
        self._in_hand: dict[str, asyncio.Future[None]] = {}  # topic → its batch being handled
        self._handled: dict[TopicPartition, int] = {}  # next offset to read, once handled
        self._revokes = 0  # a batch taken before the last revoke no longer counts
        self._committed: dict[TopicPartition, int | None] = {}
        self._newly_handled = asyncio.Event()  # since the last periodic commit
        self._commit_lock = asyncio.Lock()
        self._polling = 0
        self._last_poll = time.monotonic()

    async def run(self) -> None:
        try:
            self._consumer = await self._connect()
            if self._consumer is None:
                return
            tasks = {
                topic: asyncio.create_task(self._consume(topic, batches), name=f"consume {topic}")
                for topic, batches in self._topics.items()
            }
            committing = asyncio.create_task(self._commit_periodically(), name="commit offsets")
            await self._stopping.wait()
            committing.cancel()
            await self._finish(tasks)
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        self._stopping.set()
        await self._stopped.wait()

    def state(self) -> ConsumerState:
        consumer = self._consumer
        if consumer is None:
            return ConsumerState(False, frozenset(), self._rebalancing, None)
        assigned = frozenset((tp.topic, tp.partition) for tp in consumer.assignment())
        idle = 0.0 if self._polling else time.monotonic() - self._last_poll
        return ConsumerState(True, assigned, self._rebalancing, idle)

    async def lag(self) -> dict[str, int]:
        """Records behind per topic, in the partitions this member holds."""
        consumer = self._consumer
        assigned = list(consumer.assignment()) if consumer is not None else []
        if consumer is None or not assigned:
            return {}
        ends = await consumer.end_offsets(assigned)
        earliest = await consumer.beginning_offsets(assigned)
        for tp in assigned:
            if tp not in self._committed:
                # The group's offset from before this member held it, read once.
                self._committed.setdefault(tp, await consumer.committed(tp))
        return lag_by_topic(
            {(tp.topic, tp.partition): end for tp, end in ends.items()},
            {(tp.topic, tp.partition): self._committed.get(tp) for tp in assigned},
            {(tp.topic, tp.partition): offset for tp, offset in earliest.items()},
        )

    async def _connect(self) -> AIOKafkaConsumer | None:
        """A started consumer, retrying while the broker is away; None when told to stop."""
        delay = 0.2
        while not self._stopping.is_set():
            consumer = self._new_consumer()
            try:
                await consumer.start()
                consumer.subscribe(list(self._topics), listener=_Rebalance(self))
                return consumer
            except (KafkaError, OSError):
                logger.warning("worker cannot reach Kafka yet; retrying", exc_info=True)
                await consumer.stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, 5.0)
        return None

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(**self.client_settings())

    def client_settings(self) -> dict[str, Any]:
        """The keyword arguments of its `AIOKafkaConsumer`."""
        timeouts = self._timeouts
        return dict(
            bootstrap_servers=self._bootstrap_servers,
            client_id=self._group_id,
            group_id=self._group_id,
            group_instance_id=timeouts.group_instance_id,
            enable_auto_commit=False,  # only what was handled is committed, by this class
            auto_offset_reset="earliest",
            session_timeout_ms=int(timeouts.session_timeout_s * 1000),
            heartbeat_interval_ms=int(timeouts.heartbeat_interval_s * 1000),
            rebalance_timeout_ms=int(timeouts.rebalance_timeout_s * 1000),
            max_poll_interval_ms=int(timeouts.max_poll_interval_s * 1000),
            max_poll_records=self._batch_size,
            **self._client_options,
        )

    async def _consume(self, topic: str, batches: TopicBatches) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stopping.is_set():
            partitions = [tp for tp in consumer.assignment() if tp.topic == topic]
            if not partitions:
                await self._assignment.wait()
                continue
            revokes = self._revokes
            try:
                records = await self._take(consumer, partitions, batches.wait_s)
            except ConsumerStoppedError:
                return
            except KafkaError:
                logger.warning("could not fetch from %s; retrying", topic, exc_info=True)
                await asyncio.sleep(1.0)
                continue
            if not records:
                continue
            try:
                await self._handle(topic, batches, records, revokes)
            except Exception:
                # Read again from the batch's first record: nothing is skipped.
                logger.exception("could not handle a batch of %s; reading it again", topic)
                if self._revokes == revokes:  # else its partitions restart where committed
                    _rewind(consumer, records)
                await asyncio.sleep(1.0)

    async def _take(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition], wait_s: float
    ) -> list[Any]:
        """The next batch: what came first, then whatever comes within `wait_s` of it."""
        records = await self._poll(consumer, partitions, IDLE_POLL_S, self._batch_size)
        if not records:
            return records
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while len(records) < self._batch_size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            more = await self._poll(
                consumer, partitions, remaining, self._batch_size - len(records)
            )
            records.extend(more)
        return records

    async def _poll(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition], wait_s: float, most: int
    ) -> list[Any]:
        self._polling += 1
        try:
            fetched = await consumer.getmany(
                *partitions, timeout_ms=max(1, int(wait_s * 1000)), max_records=most
            )
        finally:
            self._polling -= 1
            self._last_poll = time.monotonic()
        return [record for records in fetched.values() for record in records]

    async def _handle(
        self, topic: str, batches: TopicBatches, records: list[Any], revokes: int
    ) -> None:
        """Handle a batch taken after `revokes` revokes; count it only if no other came."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_hand[topic] = done
        try:
            await batches.handle([_delivery(record) for record in records])
            if self._revokes != revokes:
                return  # read before a revoke: its partitions' holders read it again
            held = self._held()
            for record in records:  # in offset order within each partition
                tp = TopicPartition(record.topic, record.partition)
                if tp in held:
                    self._handled[tp] = record.offset + 1
            self._newly_handled.set()
        finally:
            del self._in_hand[topic]
            done.set_result(None)

    def _held(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    async def _commit_periodically(self) -> None:
        while True:
            # Idle, nothing was handled: no timer to wake for.
            await self._newly_handled.wait()
            await asyncio.sleep(self._timeouts.commit_interval_s)
            self._newly_handled.clear()
            try:
                committed = await self._commit()
            except Exception:
                logger.exception("could not commit offsets; retrying")
                committed = False
            if not committed:
                self._newly_handled.set()  # try again after the interval

    async def _commit(self, only: set[TopicPartition] | None = None) -> bool:
        """Commit what was handled since; False when the broker did not take it.

        One commit at a time: a revoke's waits for the one in flight, so that one is sent
        before the group's next generation is joined. aiokafka resends a commit that met a
        passing error with the generation current then, which would let offsets read under
        the old one overwrite what the partitions' next holder commits."""
        async with self._commit_lock:
            return await self._commit_handled(only)

    async def _commit_handled(self, only: set[TopicPartition] | None) -> bool:
        consumer = self._consumer
        if consumer is None:
            return True
        held = self._held()
        offsets = {
            tp: offset
            for tp, offset in self._handled.items()
            if tp in held and self._committed.get(tp) != offset and (only is None or tp in only)
        }
        if not offsets:
            return True
        try:
            await consumer.commit(offsets)
        except CommitFailedError:
            # The group moved on: whoever holds them now re-reads those records, and its
            # inbox drops what this member already applied.
            logger.info("offsets not committed: the group rebalanced", exc_info=True)
            return True  # not ours to commit any more
        except KafkaError:
            logger.warning("could not commit offsets; retrying", exc_info=True)
            return False
        self._committed.update(offsets)
        return True

    async def _hand_back(self, revoked: set[TopicPartition]) -> None:
        """Before partitions go: finish the batches in hand, commit what was handled."""
        self._rebalancing = True
        await self._batches_in_hand(self._timeouts.rebalance_timeout_s / 2)
        # From here a batch still in hand, or taken before, no longer counts.
        self._revokes += 1
        await self._commit(only=revoked)
        for tp in revoked:
            self._handled.pop(tp, None)
            self._committed.pop(tp, None)

    def _taken_over(self) -> None:
        self._rebalancing = False
        self._assignment.set()
        self._assignment = asyncio.Event()

    async def _batches_in_hand(self, timeout_s: float) -> None:
        in_hand = list(self._in_hand.values())
        if in_hand:
            await asyncio.wait(in_hand, timeout=timeout_s)

    async def _finish(self, tasks: Mapping[str, asyncio.Task[None]]) -> None:
        """Stop taking batches, let those in hand finish, commit, leave the group."""
        for topic, task in tasks.items():
            if topic not in self._in_hand:
                task.cancel()
        await self._batches_in_hand(self._timeouts.rebalance_timeout_s)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        await self._commit()
        assert self._consumer is not None
        await self._consumer.stop()


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, consumer: BatchConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer._hand_back(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._consumer._taken_over()


def _rewind(consumer: AIOKafkaConsumer, records: list[Any]) -> None:
    first: dict[TopicPartition, int] = {}
    for record in records:
        first.setdefault(TopicPartition(record.topic, record.partition), record.offset)
    for tp, offset in first.items():
        if tp in consumer.assignment():
            consumer.seek(tp, offset)


def _delivery(record: Any) -> Delivery:
    return Delivery(
        record=KafkaRecord(
            topic=record.topic,
            key=record.key,
            value=record.value if record.value is not None else b"",
            headers=[(name, value or b"") for name, value in record.headers],
        ),
        partition=record.partition,
        offset=record.offset,
    )
