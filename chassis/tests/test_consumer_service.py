"""A worker whose consumer stopped on an error crashes (to be restarted), never idles on."""

from __future__ import annotations

import asyncio
from typing import cast

from chassis.batch_consumer import BatchConsumer
from chassis.worker import ConsumerService


class FailingConsumer:
    async def run(self) -> None:
        raise RuntimeError("the consumer broke")

    async def stop(self) -> None:
        return None


async def test_a_consumer_that_fails_crashes_its_service():
    service = ConsumerService(cast(BatchConsumer, FailingConsumer()))
    await service.start()
    async with asyncio.timeout(30):
        while not service.crashed:  # noqa: ASYNC110  # mode sets a flag, no event to await
            await asyncio.sleep(0.01)
    assert str(service.crash_reason) == "the consumer broke"
    await service.stop()
