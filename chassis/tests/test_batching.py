"""`take_batches`: Faust's batching contract, without waking while the stream is idle.

The stream here is a stand-in with the few members the batcher uses; `deliver` does what
Faust's passive drainer does for each record (set the current event, run the processors).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from chassis.batching import take_batches


class StandInStream:
    def __init__(self) -> None:
        self.enable_acks = True
        self.should_stop = False
        self.current_event: Any = None
        self.channel = self
        self._processors: list[Any] = []
        self.acked: list[str] = []
        self.waits: list[float | None] = []  # the timeout of each wait the batcher made

    def __aiter__(self) -> StandInStream:
        return self

    async def __anext__(self) -> str:
        raise StopAsyncIteration

    def add_processor(self, processor: Any) -> None:
        self._processors.append(processor)

    def _enable_passive(self, channel: Any) -> None:
        pass

    async def wait_for_stopped(
        self,
        event: asyncio.Event,
        timeout: float | None = None,  # noqa: ASYNC109  # mode's signature, mirrored
    ) -> None:
        self.waits.append(timeout)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def wait(self, event: asyncio.Event) -> None:
        await event.wait()

    async def ack(self, event: str) -> None:
        self.acked.append(event)

    async def deliver(self, event: str) -> None:
        self.current_event = event
        for processor in list(self._processors):
            await processor(event)


async def _batches_into(stream: StandInStream, out: list[list[str]], *, max_size: int) -> None:
    async for batch in take_batches(stream, max_size, within_s=0.05):  # type: ignore[arg-type]
        out.append(list(batch))
        assert not set(batch) & set(stream.acked), "acked before the batch was handled"


async def _until(condition: Any) -> None:
    """A liveness bound (10 s), not a speed assertion."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_an_idle_stream_waits_once_without_a_timer():
    stream, out = StandInStream(), []
    task = asyncio.create_task(_batches_into(stream, out, max_size=10))
    await asyncio.sleep(0.3)  # Faust's take_events would have woken ~15 times at 20 ms
    assert stream.waits == [None]
    task.cancel()


async def test_a_partial_batch_is_yielded_within_the_wait_after_its_first_event():
    stream, out = StandInStream(), []
    task = asyncio.create_task(_batches_into(stream, out, max_size=10))
    await _settle()
    await stream.deliver("e1")
    await stream.deliver("e2")
    await _until(lambda: out)
    await _settle()
    assert out == [["e1", "e2"]]
    assert stream.acked == ["e1", "e2"]
    assert stream.waits == [None, 0.05, None]  # asleep again, no timer, once handed over
    task.cancel()


async def test_a_full_batch_goes_at_once_and_holds_the_next_event_back_until_acked():
    stream, out = StandInStream(), []
    task = asyncio.create_task(_batches_into(stream, out, max_size=2))
    await _settle()
    await stream.deliver("e1")
    third = asyncio.create_task(_deliver_two(stream, "e2", "e3"))
    await _until(lambda: len(out) == 2)
    await third
    assert out == [["e1", "e2"], ["e3"]]
    assert stream.acked == ["e1", "e2", "e3"]
    task.cancel()


async def _deliver_two(stream: StandInStream, first: str, second: str) -> None:
    await stream.deliver(first)  # fills the batch: returns once it was handled
    await stream.deliver(second)


async def test_the_stream_gets_its_acks_and_processors_back_when_the_batcher_ends():
    stream = StandInStream()
    batches = take_batches(stream, 5, within_s=0.05)  # type: ignore[arg-type]
    first = asyncio.ensure_future(batches.__anext__())
    await _settle()
    assert stream.enable_acks is False and len(stream._processors) == 1
    await stream.deliver("e1")
    assert await first == ["e1"]
    await batches.aclose()
    assert stream.enable_acks is True and stream._processors == []
    assert stream.acked == ["e1"]
