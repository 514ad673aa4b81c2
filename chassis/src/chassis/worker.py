"""The Faust worker process of a service: consumer agents, the outbox relay, ops endpoints.

Agents are thin adapters: they batch records, hand them to an `EventProcessor` in a worker
thread (no blocking I/O inside `async for`), and publish its dead letters before the batch
is acked. Faust acks a batch even when the body raised, so the processor never raises.

The outbox relay runs on its own thread, event loop and producer, started with the app and
before its consumer joins the group. As a Faust task it waited for the first assignment
(tasks start after table recovery) and shared a loop with agents and rebalance callbacks;
on its own it keeps publishing what the API commits while the consumers rebalance, stall
or wait for the broker. Agents wake it after committing outbox rows.

`/readyz` is honest about consuming: 200 only when the database answers, the consumer holds
partitions of its topics, no rebalance is running and it has polled recently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.engine import Engine

from chassis.batching import take_batches
from chassis.consumer import Delivery, EventProcessor, Outcome
from chassis.db import check_database
from chassis.kafka_security import KafkaSecurity
from chassis.lag import report_lag_forever
from chassis.metrics import worker_exposition
from chassis.outbox import OutboxRelay
from chassis.pacing import BulkPacing, LagGate, PipelineBacklog
from chassis.publisher import KafkaPublisher
from chassis.settings import ConsumerTimeouts
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
    # Set: while `busy()` is false the job waits this long instead, and this worker's agents
    # wake it when they commit events (what they wrote may be due at once). An idle worker
    # then looks rarely without anything waiting longer for it.
    idle_interval_s: float | None = None
    busy: Callable[[], bool] = lambda: False


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
    batch_waits: Mapping[str, float] = field(default_factory=dict)  # per topic, else the above
    jobs: Sequence[ScheduledJob] = field(default_factory=tuple)
    lag_interval_s: float = 5.0
    # Set on the one service whose outbox takes imports (cases): see `chassis.pacing`.
    bulk_pacing: BulkPacing | None = None
    # Read from LIENGANH_KAFKA_* when the spec is built (see `ConsumerTimeouts`).
    consumer_timeouts: ConsumerTimeouts = field(default_factory=ConsumerTimeouts)


class SharedPublisher:
    """The agents' producer (dead letters), started on first use, and the relay's wake-up."""

    def __init__(
        self, bootstrap_servers: str, client_id: str, security: KafkaSecurity | None = None
    ) -> None:
        options = (security or KafkaSecurity()).aiokafka_options()
        self.publisher = KafkaPublisher(bootstrap_servers, client_id, options)
        self._lock = asyncio.Lock()
        # Called when this process committed outbox rows: relay now, not at the next poll.
        self.on_outbox_written: Callable[[], None] = lambda: None
        # Set when an agent committed events, for the jobs that act on them (`idle_interval_s`).
        self.events_committed: list[asyncio.Event] = []

    async def get(self) -> KafkaPublisher:
        async with self._lock:
            await self.publisher.start()
        return self.publisher


def build_worker_app(spec: WorkerSpec) -> faust.App:
    datadir = spec.data_dir / "faust" / spec.group_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    timeouts = spec.consumer_timeouts
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
        # Seconds, not Faust's 60 s defaults: a dead member's partitions move quickly.
        broker_session_timeout=timeouts.session_timeout_s,
        broker_heartbeat_interval=timeouts.heartbeat_interval_s,
        broker_rebalance_timeout=timeouts.rebalance_timeout_s,
        broker_max_poll_interval=timeouts.max_poll_interval_s,
        consumer_group_instance_id=timeouts.group_instance_id,
        broker_commit_interval=timeouts.commit_interval_s,
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

    _add_ops_pages(app, spec)

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
        wait_s = spec.batch_waits.get(topic_name, spec.batch_wait_s)
        async for events in take_batches(stream, spec.batch_size, wait_s):
            deliveries = [_delivery(event) for event in events]
            results = await asyncio.to_thread(processor.process_all, deliveries)
            if any(result.outcome is Outcome.PROCESSED for result in results):
                shared.on_outbox_written()
                for committed in shared.events_committed:
                    committed.set()
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
    relay = RelayThread(spec)
    shared.on_outbox_written = relay.wake
    # A child service starts with the app, before its consumer; Faust tasks would wait.
    app.add_dependency(RelayService(relay))


class RelayThread:
    """The outbox relay on a thread of its own, with its own event loop and producer."""

    def __init__(self, spec: WorkerSpec) -> None:
        self._spec = spec
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._running = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="outbox-relay", daemon=True)
        self._thread.start()
        self._running.wait()

    def wake(self) -> None:
        self._call(lambda event: event.set(), self._wake)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._call(lambda event: event.set(), self._stop)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _call(self, action: Callable[[asyncio.Event], None], event: asyncio.Event | None) -> None:
        loop = self._loop
        if loop is not None and event is not None and not loop.is_closed():
            # The loop may close in between: then there is nothing left to wake.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(action, event)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop, self._wake = asyncio.Event(), asyncio.Event()
        self._running.set()
        spec = self._spec
        publisher = KafkaPublisher(
            spec.bootstrap_servers,
            f"{spec.group_id}-relay",
            spec.kafka_security.aiokafka_options(),
        )
        pacing = spec.bulk_pacing
        backlog = (
            PipelineBacklog(
                spec.bootstrap_servers,
                spec.group_id,
                pacing.group_prefix,
                **spec.kafka_security.aiokafka_options(),
            )
            if pacing
            else None
        )
        gate = LagGate(backlog, pacing, service=spec.service) if backlog and pacing else None
        try:
            if await _start_until_connected(publisher, self._stop):
                relay = OutboxRelay(
                    spec.engine,
                    publisher,
                    service=spec.service,
                    poll_interval_s=spec.outbox_poll_interval_s,
                    bulk_gate=gate,
                )
                await relay.run(self._stop, wake=self._wake)
        finally:
            if gate is not None:
                gate.close()
            if backlog is not None:
                await backlog.stop()
            await publisher.stop()


async def _start_until_connected(publisher: KafkaPublisher, stop: asyncio.Event) -> bool:
    """Start the producer, retrying while the broker is away; False when told to stop."""
    delay = 0.2
    while not stop.is_set():
        try:
            await publisher.start()
            return True
        except Exception:
            logger.warning("outbox relay cannot reach Kafka yet; retrying", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 5.0)
    return False


class RelayService(Service):
    """Starts and stops the relay thread with the Faust app."""

    def __init__(self, relay: RelayThread, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.relay = relay

    async def on_start(self) -> None:
        await asyncio.to_thread(self.relay.start)

    async def on_stop(self) -> None:
        # Stopped after the consumers: the rows their last batch staged still go out.
        await asyncio.to_thread(self.relay.stop)


def _add_job(app: faust.App, job: ScheduledJob, shared: SharedPublisher) -> None:
    committed = asyncio.Event()
    if job.idle_interval_s is not None:
        shared.events_committed.append(committed)

    async def run_periodically() -> None:
        loop = asyncio.get_running_loop()
        while True:
            committed.clear()  # before the run: what commits during it runs it again
            started = loop.time()
            try:
                staged = await asyncio.to_thread(job.run, datetime.now(UTC))
                if staged:
                    shared.on_outbox_written()
            except Exception:
                # A failed sweep is retried at the next tick; its state is in the database.
                logger.exception("scheduled job failed", extra={"job": job.name})
            await until_next_run(job, committed, started)

    run_periodically.__name__ = f"job_{job.name}"
    app.task(run_periodically)


async def until_next_run(job: ScheduledJob, committed: asyncio.Event, started: float) -> None:
    """Wait for a job's next run, `interval_s` after its last one `started` (loop time).
    Idle (an `idle_interval_s`, and not `busy()`), it first waits for the agents to commit
    events or the idle interval to pass; never sooner than the tick, so a burst of commits
    does not run it at every commit."""
    loop = asyncio.get_running_loop()
    if job.idle_interval_s is not None and not job.busy():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(committed.wait(), job.idle_interval_s)
    await asyncio.sleep(max(0.0, started + job.interval_s - loop.time()))


def _add_ops_pages(app: faust.App, spec: WorkerSpec) -> None:
    topics = set(spec.processors)
    stall_s = spec.consumer_timeouts.poll_stall_s

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        try:
            await asyncio.to_thread(check_database, spec.engine)
        except Exception as error:
            return web.json({"status": "not ready", "failed": f"database: {error}"}, status=503)
        state = consumer_state(app, topics)
        reason = not_consuming_reason(state, topics, stall_s)
        body = {"partitions": sorted(f"{t}/{p}" for t, p in state.assigned)}
        if reason:
            failed = {"status": "not ready", "failed": f"consumer: {reason}", **body}
            return web.json(failed, status=503)
        return web.json({"status": "ready", **body})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset in content_type=, so the header is set directly.
        return web.bytes(worker_exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@dataclass(frozen=True)
class ConsumerState:
    """What the worker's consumer is doing, as `/readyz` sees it."""

    started: bool
    assigned: frozenset[tuple[str, int]]
    rebalancing: bool
    idle_s: float | None  # since the consumer last polled; None when unknown


def consumer_state(app: faust.App, topics: set[str]) -> ConsumerState:
    # The aiokafka consumer lives in Faust's consumer thread; these reads are plain attributes.
    kafka_consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
    if kafka_consumer is None:
        return ConsumerState(False, frozenset(), bool(app.rebalancing), None)
    assigned = frozenset(
        (tp.topic, tp.partition) for tp in kafka_consumer.assignment() if tp.topic in topics
    )
    subscription = getattr(kafka_consumer, "_subscription", None)
    idle = getattr(subscription, "fetcher_idle_time", None)
    return ConsumerState(True, assigned, bool(app.rebalancing), idle)


def not_consuming_reason(state: ConsumerState, topics: set[str], stall_s: float) -> str | None:
    """Why this worker is not consuming its topics, or None when it is."""
    if not topics:
        return None  # a worker with jobs only: nothing to consume
    if not state.started:
        return "not started"
    if state.rebalancing:
        return "rebalancing"
    if not state.assigned:
        return "no partitions assigned"
    if state.idle_s is not None and state.idle_s > stall_s:
        return f"has not polled for {state.idle_s:.0f}s"
    return None


def run_worker(app: faust.App, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT; Faust commits the acked offsets on the way out."""
    # Keep the JSON logging of `chassis.logs`; Faust would install its own text format.
    worker = faust.Worker(app, loglevel=loglevel, override_logging=False)
    worker.execute_from_commandline()
