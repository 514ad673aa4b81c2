"""The Faust worker process of a service: consumer agents, the outbox relay, ops endpoints.

Agents are thin adapters: they batch records, hand them to an `EventProcessor` in a worker
thread (no blocking I/O inside `async for`), and publish its dead letters before the batch
is acked. Faust acks a batch even when the body raised, so the processor never raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import Engine

from chassis.consumer import Delivery, EventProcessor, Outcome
from chassis.db import check_database
from chassis.kafka_security import KafkaSecurity
from chassis.lag import report_lag_forever
from chassis.outbox import OutboxRelay
from chassis.publisher import KafkaPublisher
from contracts.envelope import KafkaRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledJob:
    """Work a worker does on a timer, e.g. sweeping for missed deadlines.

    `run(now)` is synchronous (it runs in a thread) and returns how many events it staged
    in the outbox. It must be safe to run twice for the same `now` and on several replicas
    at once: state in the database, not in memory, decides what is still to do.
    """

    name: str
    interval_s: float
    run: Callable[[datetime], int]


@dataclass
class WorkerSpec:
    """Everything a worker process needs; built by the service's composition root."""

    service: str
    group_id: str
    bootstrap_servers: str
    data_dir: Path
    engine: Engine
    processors: Mapping[str, EventProcessor]
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    relay_outbox: bool = True
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    outbox_poll_interval_s: float = 0.1
    batch_size: int = 500
    batch_wait_s: float = 0.02
    jobs: Sequence[ScheduledJob] = field(default_factory=tuple)
    lag_interval_s: float = 5.0


class SharedPublisher:
    """The process's one producer, started on first use, and the relay's wake-up call."""

    def __init__(
        self, bootstrap_servers: str, client_id: str, security: KafkaSecurity | None = None
    ) -> None:
        options = (security or KafkaSecurity()).aiokafka_options()
        self.publisher = KafkaPublisher(bootstrap_servers, client_id, options)
        self._lock = asyncio.Lock()
        # Set when this process committed outbox rows: relay now instead of at the next poll.
        self.outbox_written = asyncio.Event()

    async def get(self) -> KafkaPublisher:
        async with self._lock:
            await self.publisher.start()
        return self.publisher


def build_worker_app(spec: WorkerSpec) -> faust.App:
    datadir = spec.data_dir / "faust" / spec.group_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        spec.group_id,
        broker=f"kafka://{spec.bootstrap_servers}",
        store="memory://",
        datadir=str(datadir),
        topic_allow_declare=False,  # topics come from the declared list, created up front
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_host=spec.web_host,
        web_bind=spec.web_host,  # Faust listens on web_bind (0.0.0.0 by default), not web_host
        web_port=spec.web_port,
        producer_acks=-1,
        broker_credentials=spec.kafka_security.faust_credentials(),
    )
    shared = SharedPublisher(spec.bootstrap_servers, spec.group_id, spec.kafka_security)
    for topic_name, processor in spec.processors.items():
        _add_agent(app, topic_name, processor, shared, spec)
    if spec.relay_outbox:
        _add_relay(app, spec, shared)
    for job in spec.jobs:
        _add_job(app, job, shared)
    if spec.processors:

        @app.task
        async def report_consumer_lag() -> None:
            await report_lag_forever(app, spec.service, set(spec.processors), spec.lag_interval_s)

    _add_ops_pages(app, spec.engine)

    async def stop_publisher(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await shared.publisher.stop()

    app.on_before_shutdown.connect(stop_publisher)

    return app


def _add_agent(
    app: faust.App,
    topic_name: str,
    processor: EventProcessor,
    shared: SharedPublisher,
    spec: WorkerSpec,
) -> None:
    topic = app.topic(
        topic_name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        allow_empty=True,
    )

    async def consume(stream: faust.StreamT) -> None:
        batches = stream.take_events(spec.batch_size, within=spec.batch_wait_s)  # type: ignore[attr-defined]
        async for events in batches:
            deliveries = [_delivery(event) for event in events]
            results = await asyncio.to_thread(processor.process_all, deliveries)
            if any(result.outcome is Outcome.PROCESSED for result in results):
                shared.outbox_written.set()
            dead = [result.dead_letter for result in results if result.dead_letter]
            if dead:
                await _publish_until_sent(shared, dead)

    consume.__name__ = f"consume_{topic_name.replace('.', '_')}"
    app.agent(topic, name=f"{spec.group_id}.{topic_name}")(consume)


async def _publish_until_sent(shared: SharedPublisher, records: list[KafkaRecord]) -> None:
    # The batch is acked after this returns, so a dead letter must be durable first.
    delay = 0.2
    while True:
        try:
            await (await shared.get()).publish(records)
            return
        except Exception:
            logger.warning("could not publish dead letters; retrying", exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _delivery(event: Any) -> Delivery:
    message = event.message
    headers = message.headers or []
    if isinstance(headers, Mapping):
        headers = list(headers.items())
    return Delivery(
        record=KafkaRecord(
            topic=message.topic,
            key=message.key,
            value=message.value if message.value is not None else b"",
            headers=[(name, value or b"") for name, value in headers],
        ),
        partition=message.partition,
        offset=message.offset,
    )


def _add_relay(app: faust.App, spec: WorkerSpec, shared: SharedPublisher) -> None:
    @app.task
    async def relay_outbox() -> None:
        relay = OutboxRelay(
            spec.engine,
            await shared.get(),
            service=spec.service,
            poll_interval_s=spec.outbox_poll_interval_s,
        )
        await relay.run(asyncio.Event(), wake=shared.outbox_written)


def _add_job(app: faust.App, job: ScheduledJob, shared: SharedPublisher) -> None:
    async def run_periodically() -> None:
        while True:
            try:
                staged = await asyncio.to_thread(job.run, datetime.now(UTC))
                if staged:
                    shared.outbox_written.set()
            except Exception:
                # A failed sweep is retried at the next tick; its state is in the database.
                logger.exception("scheduled job failed", extra={"job": job.name})
            await asyncio.sleep(job.interval_s)

    run_periodically.__name__ = f"job_{job.name}"
    app.task(run_periodically)


def _add_ops_pages(app: faust.App, engine: Engine) -> None:
    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        try:
            await asyncio.to_thread(check_database, engine)
        except Exception as error:
            return web.json({"status": "not ready", "failed": f"database: {error}"}, status=503)
        return web.json({"status": "ready"})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset in content_type=, so the header is set directly.
        return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def run_worker(app: faust.App, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT; Faust commits the acked offsets on the way out."""
    # Keep the JSON logging of `chassis.logs`; Faust would install its own text format.
    worker = faust.Worker(app, loglevel=loglevel, override_logging=False)
    worker.execute_from_commandline()
