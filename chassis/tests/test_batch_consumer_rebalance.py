"""`BatchConsumer` across a revoke: a batch in hand when its partitions are revoked is
finished and committed before they go; one read before a revoke and handled after it is
never committed (its offsets would take the group back past what another member did)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from chassis.batch_consumer import BatchConsumer, TopicBatches
from chassis.consumer import Delivery
from chassis.settings import ConsumerTimeouts

TOPIC = "tests.rebalance.v1"
P = TopicPartition(TOPIC, 0)
LIVENESS_S = 30.0


def records(*offsets: int) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        ConsumerRecord(TOPIC, 0, offset, 0, 0, b"key", b"value", None, 3, 5, [])
        for offset in offsets
    ]


class FakeConsumer:
    """What `BatchConsumer` uses of `AIOKafkaConsumer`: one partition held, the first poll
    answered by `first_poll` (which may rebalance the group), then nothing."""

    def __init__(self, first_poll: Callable[[FakeConsumer], Awaitable[list[Any]]]) -> None:
        self.first_poll = first_poll
        self.listener: ConsumerRebalanceListener | None = None
        self.commits: list[dict[TopicPartition, int]] = []
        self.polls = 0

    async def start(self) -> None:
        return None

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None:
        self.listener = listener

    def assignment(self) -> set[TopicPartition]:
        return {P}

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Any]]:
        self.polls += 1
        if self.polls == 1:
            return {P: await self.first_poll(self)}
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    async def stop(self) -> None:
        return None


async def consume(
    fake: FakeConsumer, handle: Callable[[list[Delivery]], Awaitable[None]], until: Any
) -> None:
    """Run a `BatchConsumer` on `fake` until `until()`, then stop it (which commits)."""
    consumer = BatchConsumer(
        group_id="tests-rebalance",
        bootstrap_servers="127.0.0.1:9",
        topics={TOPIC: TopicBatches(handle=handle, wait_s=0.01)},
        batch_size=50,
        timeouts=ConsumerTimeouts(),
        client_options={},
    )
    consumer._new_consumer = lambda: fake  # type: ignore[method-assign]
    running = asyncio.create_task(consumer.run())
    async with asyncio.timeout(LIVENESS_S):
        while not until():  # noqa: ASYNC110  # what the handler appended: polled
            await asyncio.sleep(0.01)
        await consumer.stop()
        await running


async def test_a_batch_read_before_a_revoke_is_handled_but_never_committed():
    async def paused_past_the_session(fake: FakeConsumer) -> list[Any]:
        # Fetched before the member froze; while it was away the group moved on, and it
        # got the partition back, to be read from where another member committed.
        assert fake.listener is not None
        await fake.listener.on_partitions_revoked({P})
        await fake.listener.on_partitions_assigned({P})
        return records(3, 4, 5)

    handled: list[int] = []

    async def handle(deliveries: list[Delivery]) -> None:
        handled.extend(delivery.offset for delivery in deliveries)

    fake = FakeConsumer(paused_past_the_session)
    await consume(fake, handle, until=lambda: handled)
    assert handled == [3, 4, 5]  # applied (the inbox drops what was applied already)
    assert not any(P in commit for commit in fake.commits)  # and the group not taken back


async def test_a_batch_in_hand_when_its_partitions_are_revoked_is_committed_before_they_go():
    async def batch(_fake: FakeConsumer) -> list[Any]:
        return records(3, 4, 5)

    revoked: list[asyncio.Task[None]] = []

    async def handle(_deliveries: list[Delivery]) -> None:
        # The group rebalances while this batch is handled: the revoke waits for it.
        assert fake.listener is not None
        revoked.append(asyncio.create_task(fake.listener.on_partitions_revoked({P})))
        await asyncio.sleep(0)

    fake = FakeConsumer(batch)
    await consume(fake, handle, until=lambda: revoked and revoked[0].done())
    assert fake.commits[0] == {P: 6}


async def test_a_revoke_waits_for_the_commit_in_flight():
    """Else aiokafka could resend that commit under the next generation, over what the
    partitions' next holder committed."""

    async def batch(_fake: FakeConsumer) -> list[Any]:
        return records(3, 4, 5)

    fake = FakeConsumer(batch)
    in_flight, release = asyncio.Event(), asyncio.Event()
    plain_commit = fake.commit

    async def slow_first_commit(offsets: dict[TopicPartition, int]) -> None:
        if not in_flight.is_set():
            in_flight.set()
            await release.wait()
        await plain_commit(offsets)

    fake.commit = slow_first_commit  # type: ignore[method-assign]
    revoke: list[asyncio.Task[None]] = []

    async def handle(_deliveries: list[Delivery]) -> None:
        async def revoke_once_the_commit_is_in_flight() -> None:
            await in_flight.wait()
            assert fake.listener is not None
            revoking = asyncio.create_task(fake.listener.on_partitions_revoked({P}))
            revoke.append(revoking)
            for _ in range(20):  # every other task gets its turns
                await asyncio.sleep(0)
            assert not revoking.done(), "the revoke went on with a commit in flight"
            release.set()

        revoke.append(asyncio.create_task(revoke_once_the_commit_is_in_flight()))

    await consume(fake, handle, until=lambda: len(revoke) == 2 and revoke[1].done())
    await revoke[0]  # its assertion
    assert fake.commits == [{P: 6}]  # the periodic commit; the revoke's had nothing left
