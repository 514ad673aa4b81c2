"""The one Kafka producer of a process: idempotent, acks=all, used by the relay and the DLQ.

Records are sent with the headers they were staged with: the CloudEvents attributes,
`ce_traceparent` (the trace of the work that staged them, see `chassis.tracing`) and
`ce_causationid` included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.envelope import KafkaRecord


class KafkaPublisher:
    """Publishes records and returns only once the broker acknowledged all of them."""

    def __init__(
        self, bootstrap_servers: str, client_id: str, security: dict[str, Any] | None = None
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._security = security or {}  # KafkaSecurity.aiokafka_options()
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        # aiokafka binds to the running loop, so the producer is made here, not in __init__.
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap_servers,
                client_id=self._client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
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
        """Send in order; per-partition order holds because the producer is idempotent."""
        if self._producer is None:
            raise RuntimeError("publisher not started")
        producer = self._producer
        pending = [
            await producer.send(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
            for record in records
        ]
        await asyncio.gather(*pending)
