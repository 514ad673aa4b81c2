"""A minimal worker on the chassis, run as a process we may kill -9, and the probes around it.

Used by the worker-recovery tests and `benchmarks/worker_recovery.py`. The worker consumes
`CaseReceived` events from one topic and records each case id with the worker's name, so a
test sees which partitions are consumed again after a kill, and by whom.

Run: `python -m tests.support.worker_recovery --bootstrap … --topic … --group … --name …`
(consumer timeouts come from `LIENGANH_KAFKA_*`, as in the services).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def recovery_topic(name: str, partitions: int) -> Any:
    from contracts.topics import TopicSpec

    return TopicSpec(
        name=name,
        key="case_id",
        partitions=partitions,
        retention_ms=3_600_000,
        producer="tests",
        consumers=("tests",),
        description="worker recovery probes",
    )


@dataclass
class SampleWorker:
    """One worker process of group `group`; restartable under the same name."""

    name: str
    bootstrap: str
    topic: str
    group: str
    database_url: str
    data_dir: Path
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.worker_recovery",
                "--bootstrap",
                self.bootstrap,
                "--topic",
                self.topic,
                "--group",
                self.group,
                "--name",
                self.name,
                "--database-url",
                self.database_url,
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        """kill -9: no leave-group, no commit, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def readyz(self) -> tuple[int, dict[str, Any]]:
        """Status and body of the worker's /readyz; 0 when it does not answer."""
        url = f"http://127.0.0.1:{self.port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except (OSError, ValueError):
            return 0, {}

    def partitions(self) -> set[int]:
        """The partitions of the topic this worker holds, by its /readyz."""
        _, body = self.readyz()
        return {int(item.rsplit("/", 1)[1]) for item in body.get("partitions", [])}

    def log_tail(self, lines: int = 40) -> str:
        path = self.data_dir / f"{self.name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def send_probes(bootstrap: str, topic: str, partitions: set[int]) -> dict[str, int]:
    """One CaseReceived per partition (written to it explicitly); case id → partition."""
    from kafka import KafkaProducer

    from contracts.cases.v1 import CaseReceived
    from contracts.envelope import encode

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    sent: dict[str, int] = {}
    try:
        for partition in sorted(partitions):
            case_id = str(uuid.uuid4())
            event = CaseReceived.example().model_copy(update={"case_id": case_id})
            record = encode(event, topic=topic, source="/tests/recovery")
            producer.send(
                topic,
                key=record.key,
                value=record.value,
                headers=list(record.headers),
                partition=partition,
            ).get(timeout=30)
            sent[case_id] = partition
    finally:
        producer.close()
    return sent


def consumed_by(database_url: str) -> dict[str, str]:
    """Case id → name of the worker that consumed it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT case_id, worker FROM recovery_probes"))
            return {case_id: worker for case_id, worker in rows}
    except Exception:  # the table is created by the first worker
        return {}
    finally:
        engine.dispose()


def eventually(check: Callable[[], T], timeout_s: float, interval_s: float = 0.05) -> T:
    """Retry `check` until it returns without raising (a liveness bound, not a speed one)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> None:
    from sqlmodel import Field, SQLModel

    from chassis.consumer import EventProcessor
    from chassis.db import create_db_engine, create_tables
    from chassis.dead_letters import dead_letter_sealer
    from chassis.inbox import ProcessedEvent
    from chassis.logs import configure_logging
    from chassis.outbox import OutboxEvent
    from chassis.unit_of_work import UnitOfWork
    from chassis.worker import WorkerSpec, build_worker_app, run_worker
    from contracts.cases.v1 import CaseReceived

    parser = argparse.ArgumentParser()
    for option in ("--bootstrap", "--topic", "--group", "--name", "--database-url", "--data-dir"):
        parser.add_argument(option, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    class RecoveryProbe(SQLModel, table=True):
        __tablename__ = "recovery_probes"

        id: int | None = Field(default=None, primary_key=True)
        case_id: str
        worker: str

    def remember(uow: UnitOfWork, event: CaseReceived) -> None:
        uow.session.add(RecoveryProbe(case_id=event.case_id, worker=args.name))

    configure_logging(f"recovery-{args.name}", "INFO")
    data_dir = Path(args.data_dir) / args.name  # own keys and Faust folder per worker
    engine = create_db_engine(args.database_url)
    create_tables(engine, [RecoveryProbe, ProcessedEvent, OutboxEvent])
    processor = EventProcessor(
        service="recovery",
        consumer=f"recovery.{args.topic}",
        engine=engine,
        handlers={CaseReceived: remember},
        dead_letter_sealer=dead_letter_sealer(data_dir, None),
    )
    app = build_worker_app(
        WorkerSpec(
            service="recovery",
            group_id=args.group,
            bootstrap_servers=args.bootstrap,
            data_dir=data_dir,
            engine=engine,
            processors={args.topic: processor},
            web_port=args.port,
        )
    )
    run_worker(app)


if __name__ == "__main__":
    main()
