"""The one Kafka producer of a process: idempotent, acks=all, used by the relay and the DLQ.

Records are sent with the headers they were staged with: the CloudEvents attributes,
`ce_traceparent` (the trace of the work that staged them, see `chassis.tracing`) and
`ce_causationid` included.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from contracts.envelope import KafkaRecord

logger = logging.getLogger(__name__)

# A publish is already a batch (the relay's), awaited whole: waiting for more records would
# only hold it back, 5 ms a relay round at the old 5 ms linger.
LINGER_MS = 0
# aiokafka keeps one produce request in flight per broker and puts one batch per partition
# in it. At its 16 KiB a batch, a relay batch of 300 records of 2 KB took four round trips
# and twice the CPU a record; at 256 KiB it goes in one. The broker takes batches up to 1 MB.
MAX_BATCH_BYTES = 256 * 1024

# After these the idempotent producer's sequence state no longer matches the broker's (seen
# when the broker restarted with a batch in flight), and aiokafka never recovers from them:
# every later send fails the same way. Only a new producer (a new producer id) can send again.
BROKEN_PRODUCER_ERRORS = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)


class KafkaPublisher:
    """Publishes records and returns only once the broker acknowledged all of them."""

    def __init__(
        self,
        bootstrap_servers: str,
        client_id: str,
        security: dict[str, Any] | None = None,
        producer_class: Callable[..., AIOKafkaProducer] = AIOKafkaProducer,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._security = security or {}  # KafkaSecurity.aiokafka_options()
        self._producer_class = producer_class
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        # aiokafka binds to the running loop, so the producer is made here, not in __init__.
        if self._producer is None:
            producer = self._producer_class(
                bootstrap_servers=self._bootstrap_servers,
                client_id=self._client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=LINGER_MS,
                max_batch_size=MAX_BATCH_BYTES,
                request_timeout_ms=15000,
                retry_backoff_ms=200,
                **self._security,
            )
            await producer.start()
            self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        """Send in order; per-partition order holds because the producer is idempotent.

        When the producer broke (`BROKEN_PRODUCER_ERRORS`) it is replaced before the error is
        raised: the caller's retry (the relay's, with backoff) resends the whole batch with a
        new producer, and consumers drop what had already landed (by event id)."""
        await self.start()
        producer = self._producer
        assert producer is not None
        try:
            pending = [
                await producer.send(
                    record.topic, value=record.value, key=record.key, headers=record.headers
                )
                for record in records
            ]
            await asyncio.gather(*pending)
        except BROKEN_PRODUCER_ERRORS as error:
            logger.warning("the Kafka producer broke (%r); replacing it", error)
            await self._replace(producer)
            raise

    async def _replace(self, broken: AIOKafkaProducer) -> None:
        if self._producer is broken:
            self._producer = None
        try:
            await broken.stop()
        except Exception:  # a broken producer may fail to flush: it is dropped either way
            logger.info("the broken producer did not stop cleanly", exc_info=True)
