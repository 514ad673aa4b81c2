"""The worker process of a service: its topics' consumer, the outbox relay, ops endpoints.

Faust runs the process (its lifecycle and signals, scheduled jobs as tasks, the ops web
pages); the topics are consumed by `chassis.batch_consumer`, straight from aiokafka, not by
Faust agents, whose per-record machinery was a fifth of a busy worker's CPU. Each batch goes
to its `EventProcessor` in a worker thread (no blocking I/O on the event loop), and its dead
letters are published before its offsets count as done. The processor never raises.

The outbox relay runs on its own thread, event loop and producer, started with the app and
before the consumer joins the group: it keeps publishing what the API commits while the
consumer rebalances, stalls or waits for the broker. The consumer wakes it after a batch
committed outbox rows.

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
from faust.app.base import BootStrategy
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.engine import Engine

from chassis.batch_consumer import BatchConsumer, BatchHandler, ConsumerState, TopicBatches
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


class _WebAndTasks(BootStrategy):
    """Faust without its own Kafka clients: the topics are `BatchConsumer`'s, the outbox's
    records the relay's producer's."""

    enable_kafka_consumer = False
    enable_kafka_producer = False


class WorkerApp(faust.App):
    """A Faust app that knows the Kafka its worker reads, for `wait_for_worker_broker`."""

    BootStrategy = _WebAndTasks
    kafka_servers: str = ""
    kafka_options: Mapping[str, Any] = {}
    consumed_topics: tuple[str, ...] = ()
    batch_consumer: BatchConsumer | None = None


def build_worker_app(spec: WorkerSpec) -> WorkerApp:
    datadir = spec.data_dir / "faust" / spec.group_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = WorkerApp(
        spec.group_id,
        broker=f"kafka://{spec.bootstrap_servers}",  # required; Faust opens no client to it
        store="memory://",
        datadir=str(datadir),
        web_enabled=True,
        web_host=spec.web_host,
        web_bind=spec.web_host,  # Faust listens on web_bind (0.0.0.0 by default), not web_host
        web_port=spec.web_port,
    )
    app.kafka_servers = spec.bootstrap_servers
    app.kafka_options = spec.kafka_security.aiokafka_options()
    app.consumed_topics = tuple(spec.processors)
    shared = SharedPublisher(spec.bootstrap_servers, spec.group_id, spec.kafka_security)
    if spec.relay_outbox:
        _add_relay(app, spec, shared)  # first: started before the consumer, stopped after
    consumer = _add_consumer(app, spec, shared) if spec.processors else None
    app.batch_consumer = consumer
    for job in spec.jobs:
        _add_job(app, job, shared)
    if consumer is not None:
        lag = consumer.lag

        @app.task
        async def report_consumer_lag() -> None:
            await report_lag_forever(lag, spec.service, spec.lag_interval_s)

    _add_ops_pages(app, spec, consumer)

    async def stop_publisher(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await shared.publisher.stop()

    app.on_before_shutdown.connect(stop_publisher)

    return app


def _add_consumer(app: faust.App, spec: WorkerSpec, shared: SharedPublisher) -> BatchConsumer:
    consumer = BatchConsumer(
        group_id=spec.group_id,
        bootstrap_servers=spec.bootstrap_servers,
        topics={
            topic: TopicBatches(
                handle=_batch_handler(processor, shared),
                wait_s=spec.batch_waits.get(topic, spec.batch_wait_s),
            )
            for topic, processor in spec.processors.items()
        },
        batch_size=spec.batch_size,
        timeouts=spec.consumer_timeouts,
        client_options=spec.kafka_security.aiokafka_options(),
    )
    app.add_dependency(ConsumerService(consumer))
    return consumer


def _batch_handler(processor: EventProcessor, shared: SharedPublisher) -> BatchHandler:
    async def handle(deliveries: list[Delivery]) -> None:
        results = await asyncio.to_thread(processor.process_all, deliveries)
        if any(result.outcome is Outcome.PROCESSED for result in results):
            shared.on_outbox_written()
            for committed in shared.events_committed:
                committed.set()
        dead = [result.dead_letter for result in results if result.dead_letter]
        if dead:
            await _publish_until_sent(shared, dead)

    return handle


class ConsumerService(Service):
    """Runs the consumer with the Faust app; stopped before the relay, so the rows its last
    batches staged still go out."""

    def __init__(self, consumer: BatchConsumer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.consumer = consumer
        self._running: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        self._running = asyncio.create_task(self.consumer.run(), name="batch consumer")
        self._running.add_done_callback(self._crash_if_failed)

    def _crash_if_failed(self, running: asyncio.Task[None]) -> None:
        # A worker that no longer consumes must not look alive: crash it, to be restarted.
        error = None if running.cancelled() else running.exception()
        if error is not None:
            self.add_future(self.crash(error))

    async def on_stop(self) -> None:
        if self._running is not None and not self._running.done():  # done: it crashed
            await self.consumer.stop()
            await self._running


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
                pacing.groups,
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


def _add_ops_pages(app: faust.App, spec: WorkerSpec, consumer: BatchConsumer | None) -> None:
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
        state = consumer.state() if consumer is not None else NOT_CONSUMING
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


NOT_CONSUMING = ConsumerState(False, frozenset(), False, None)


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
