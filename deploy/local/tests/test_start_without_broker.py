"""A worker started before its broker waits (logging each wait) instead of exiting, and
consumes once the broker is there. The real referrals worker process, a real broker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer

from chassis.auth import LocalIssuer
from contracts.cases.v1 import CaseReceived
from contracts.envelope import encode
from contracts.topics import CASES_EVENTS, declared_topics
from localrun.kafka import LocalBroker
from localrun.supervisor import RestartPolicy, Supervisor
from localrun.system import Ports, system_processes
from localrun.topics import create_topics

pytestmark = [pytest.mark.kafka]

AGENCIES = ("police",)


def poll(condition: Callable[[], object], timeout_s: float = 180.0) -> None:
    """Until `condition()` is truthy: a liveness bound, not a speed assertion."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def waits_logged(log: Path) -> list[dict[str, object]]:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return [r for r in records if r.get("event") == "dependency unreachable; waiting"]


def committed(bootstrap: str, group: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def test_a_worker_started_without_its_broker_waits_then_consumes(tmp_path: Path):
    broker = LocalBroker(tmp_path / "kafka")  # its ports chosen, nothing listening yet
    LocalIssuer(tmp_path / "keys").public_key_pem()
    specs = system_processes(
        data_dir=tmp_path,
        bootstrap_servers=broker.bootstrap_servers,
        ports=Ports.free(AGENCIES),
        agencies=AGENCIES,
        extra_env={"PYTHONUNBUFFERED": "1"},
    )
    worker = next(spec for spec in specs if spec.name == "referrals-worker")
    # No restarts allowed: an exit fails `watch()` at once instead of being papered over.
    supervisor = Supervisor([worker], tmp_path / "logs", policy=RestartPolicy(max_restarts=0))
    log = tmp_path / "logs" / f"{worker.name}.log"
    supervisor.start()
    try:
        poll(lambda: supervisor.watch() or len(waits_logged(log)) >= 3)
        waits = waits_logged(log)
        assert [w["attempt"] for w in waits] == list(range(1, len(waits) + 1))
        assert all(w["dependency"] == f"kafka {broker.bootstrap_servers}" for w in waits)
        assert all("Unable to bootstrap" in str(w["error"]) for w in waits)
        delays = [float(str(w["next_delay_s"])) for w in waits]
        assert delays[1] > delays[0]  # backing off, not spinning

        broker.start()
        create_topics(broker.bootstrap_servers, declared_topics())  # all it may read
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        record = encode(CaseReceived.example(), topic=CASES_EVENTS, source="/tests")
        producer.send(
            CASES_EVENTS, key=record.key, value=record.value, headers=list(record.headers)
        ).get(timeout=60)
        producer.close()

        supervisor.wait_ready(timeout_s=180)
        poll(
            lambda: (
                supervisor.watch() is not None
                and committed(broker.bootstrap_servers, "lienganh-referrals", CASES_EVENTS) >= 1
            )
        )
        assert supervisor.restarts(worker.name) == 0
    finally:
        supervisor.stop()
        broker.stop()
