"""Batches of events from a Faust stream, at no cost while the stream is idle.

Faust's `Stream.take_events(max, within)` wakes every `within` seconds whether or not an
event came: at 20 ms that is 50 wake-ups a second per agent, each creating tasks to wait
on, and it was most of an idle worker's CPU (a whole idle system: ~45 % of one core). Here
the `within` timer starts at a batch's first event, so an idle stream sleeps until one
arrives. Otherwise the contract is Faust's: at most `max_size` events, yielded when full or
`within_s` after the first; each event is acked only after the consumer of the batch
returns, so a crash mid-batch re-delivers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import faust
from faust.types import ChannelT, EventT
from mode.utils.futures import notify


async def take_batches(
    agent_stream: faust.StreamT, max_size: int, within_s: float
) -> AsyncIterator[list[EventT]]:
    stream = cast(faust.Stream, agent_stream)  # an agent's stream is always a `Stream`
    events: list[EventT] = []
    arrived = asyncio.Event()  # the batch has its first event
    full = asyncio.Event()
    consumed = asyncio.Event()
    # Set while a batch is out: the collector holds the next event back until it is acked.
    handing_over: asyncio.Future[None] | None = None

    async def collect(value: Any) -> Any:
        nonlocal handing_over
        if handing_over is not None:
            try:
                await handing_over
            finally:
                handing_over = None
        event = stream.current_event
        if event is None:
            raise RuntimeError("a stream processor ran without a current event")
        events.append(event)
        arrived.set()
        if len(events) >= max_size:
            full.set()
            consumed.clear()
            await stream.wait(consumed)  # type: ignore[arg-type]  # mode takes any `.wait()`
        return value

    acks_before = stream.enable_acks
    stream.enable_acks = False  # acked here, after the batch was handled
    stream.add_processor(collect)
    # As Faust's own take: the stream is drained in the background, through `collect`.
    stream._enable_passive(cast(ChannelT, aiter(stream.channel)))
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(arrived)  # type: ignore[arg-type]
            if not events:
                continue  # woken by the stream stopping
            await stream.wait_for_stopped(full, timeout=within_s)  # type: ignore[arg-type]
            handing_over = asyncio.get_running_loop().create_future()
            batch = list(events)
            try:
                yield batch
            finally:
                events.clear()
                arrived.clear()
                full.clear()
                for event in batch:
                    await stream.ack(event)
                notify(handing_over)
                consumed.set()
    finally:
        stream.enable_acks = acks_before
        stream._processors.remove(collect)
