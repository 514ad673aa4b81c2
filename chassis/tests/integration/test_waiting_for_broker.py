"""A worker waits for a broker that is not up yet, and for the topics its agents read."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from chassis.waiting import Backoff, wait_for_worker_broker
from chassis.worker import WorkerApp
from contracts.topics import CASES_EVENTS, domain_topics
from localrun.kafka import LocalBroker
from localrun.topics import create_topics

pytestmark = [pytest.mark.kafka]

FAST = Backoff(initial_s=0.1, max_s=0.5)


def poll(condition, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_waits_for_the_broker_then_for_its_topics_and_returns_once_both_are_there(
    tmp_path: Path,
):
    broker = LocalBroker(tmp_path / "kafka")  # ports chosen, nothing listening yet
    worker = WorkerApp("waiting-test", broker=f"kafka://{broker.bootstrap_servers}")
    worker.kafka_servers = broker.bootstrap_servers
    worker.consumed_topics = (CASES_EVENTS,)
    done = threading.Event()

    def wait() -> None:
        wait_for_worker_broker(worker, backoff=FAST)
        done.set()

    with capture_logs() as logs:
        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        try:

            def errors() -> list[str]:
                return [line["error"] for line in list(logs) if "error" in line]

            poll(lambda: len(errors()) >= 3)
            assert all("Unable to bootstrap" in error for error in errors())
            broker.start()
            poll(lambda: any("topics missing: cases.events.v1" in e for e in errors()))
            assert not done.is_set()
            create_topics(
                broker.bootstrap_servers, [t for t in domain_topics() if t.name == CASES_EVENTS]
            )
            poll(done.is_set)
        finally:
            broker.stop()
            waiter.join(timeout=30)
    attempts = [line["attempt"] for line in logs if "attempt" in line]
    assert attempts == list(range(1, len(attempts) + 1))
    assert logs[-1]["event"] == "dependency reachable"
