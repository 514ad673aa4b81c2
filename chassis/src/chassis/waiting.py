"""Start before the broker or the database: wait for them, with backoff, instead of exiting.

A process started while what it needs is down (a laptop's `make run` after a reboot, a pod
scheduled before Kafka) keeps running: before anything else it tries the dependency, and on
failure logs one line (`dependency`, `attempt`, `next_delay_s`, `error`) and tries again after
an exponentially growing, capped, jittered delay — for ever. Nothing here gives up: a process
that cannot reach its broker is of no use exiting, and a supervisor would only restart it.

APIs wait for their database only (they never talk to Kafka); workers wait for the database
(in `runtime.open_service`) and then for the broker and the topics their agents read
(in `entrypoint.main`), before the worker starts.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_never

from chassis.db import check_database
from chassis.logs import get_logger

if TYPE_CHECKING:
    from chassis.worker import WorkerApp

logger = get_logger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delay before try number `attempt + 1`: initial * multiplier^(attempt-1), capped at
    `max_s`, then spread by ±`jitter` (a fraction) so many processes do not retry in step."""

    initial_s: float = 0.5
    multiplier: float = 2.0
    max_s: float = 10.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.multiplier < 1 or self.max_s < self.initial_s:
            raise ValueError(f"invalid backoff {self}")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """`attempt` counts from 1 (the try that just failed); `rand` returns [0, 1)."""
        if attempt < 1:
            raise ValueError("attempts count from 1")
        # min() before the power would be enough, but the exponent can overflow a float.
        exponent = min(attempt - 1, 64)
        base = min(self.max_s, self.initial_s * self.multiplier**exponent)
        return base * (1 + self.jitter * (2 * rand() - 1))


DEFAULT_BACKOFF = Backoff()


class TopicsMissing(RuntimeError):
    """The broker answers but some topics the worker reads do not exist (yet)."""


def wait_until_reachable(
    dependency: str,
    check: Callable[[], None],
    *,
    backoff: Backoff = DEFAULT_BACKOFF,
    sleep: Callable[[float], None] | None = None,
    rand: Callable[[], float] = random.random,
) -> int:
    """Call `check` until it returns without raising; the number of tries it took.

    Every failure is logged (what is unreachable, attempt, next delay, why) and followed by
    `backoff`'s delay. Only `Exception`s are retried: Ctrl-C and SIGTERM still stop the process.
    """

    def next_delay(state: RetryCallState) -> float:
        return backoff.delay(state.attempt_number, rand)

    def log_wait(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "dependency unreachable; waiting",
            dependency=dependency,
            attempt=state.attempt_number,
            next_delay_s=round(state.upcoming_sleep, 2),
            error=_describe(error),
        )

    options: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    retrying = Retrying(
        retry=retry_if_exception_type(Exception),
        wait=next_delay,
        stop=stop_never,
        before_sleep=log_wait,
        reraise=True,
        **options,
    )
    attempts = 0
    for attempt in retrying:
        with attempt:
            attempts = attempt.retry_state.attempt_number
            check()
    if attempts > 1:
        logger.info("dependency reachable", dependency=dependency, attempts=attempts)
    return attempts


def wait_for_database(engine: Engine, *, backoff: Backoff = DEFAULT_BACKOFF) -> int:
    """Until the database answers `select 1`."""
    return wait_until_reachable("database", lambda: check_database(engine), backoff=backoff)


def wait_for_worker_broker(worker: WorkerApp, *, backoff: Backoff = DEFAULT_BACKOFF) -> int:
    """Until the worker's broker answers a metadata request listing every topic it reads (a
    consumer subscribed to a missing topic would sit idle until its next metadata refresh).
    Same servers and client options as the worker's consumer."""
    servers, topics = worker.kafka_servers, sorted(worker.consumed_topics)
    return wait_until_reachable(
        f"kafka {servers}",
        lambda: probe_kafka(servers, topics, worker.kafka_options),
        backoff=backoff,
    )


def probe_kafka(
    bootstrap_servers: str,
    topics: Collection[str] = (),
    auth: Mapping[str, Any] | None = None,
    timeout_s: float = 5.0,
) -> None:
    """One metadata request; raises unless the broker answers and lists `topics`.

    On a private event loop, so the caller's (Faust's, later) stays untouched.
    """
    loop = asyncio.new_event_loop()
    try:
        with _quiet("aiokafka"):  # its own error per refused connection: one line of ours
            loop.run_until_complete(_probe(bootstrap_servers, topics, dict(auth or {}), timeout_s))
    finally:
        loop.close()


async def _probe(
    bootstrap_servers: str, topics: Collection[str], auth: dict[str, Any], timeout_s: float
) -> None:
    from aiokafka import AIOKafkaClient

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=int(timeout_s * 1000),
        client_id="lienganh-startup-probe",
        **auth,
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        if not client.cluster.brokers():
            raise ConnectionError("the broker answered with no brokers in its metadata")
        if topics:
            metadata = await asyncio.wait_for(client.fetch_all_metadata(), timeout_s)
            missing = sorted(set(topics) - metadata.topics())
            if missing:
                raise TopicsMissing(f"topics missing: {', '.join(missing)}")
    finally:
        await client.close()


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    library = logging.getLogger(logger_name)
    level = library.level
    library.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        library.setLevel(level)


def _describe(error: BaseException | None) -> str | None:
    """Type and first line only: driver messages can run to pages."""
    if error is None:
        return None
    kind = type(error).__name__
    first_line = (str(error).strip().splitlines() or [""])[0].removeprefix(f"{kind}: ")
    return f"{kind}: {first_line[:200]}"
