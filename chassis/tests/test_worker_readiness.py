"""When a worker says it is ready, and the consumer timeouts it runs with."""

from __future__ import annotations

from pathlib import Path

import pytest

from chassis.consumer import EventProcessor
from chassis.db import create_db_engine
from chassis.kafka_security import KafkaSecurity
from chassis.settings import ConsumerTimeouts
from chassis.worker import (
    ConsumerState,
    WorkerApp,
    WorkerSpec,
    build_worker_app,
    not_consuming_reason,
)

TOPICS = {"cases.events.v1"}
HOLDING = frozenset({("cases.events.v1", 0)})


def state(**changes: object) -> ConsumerState:
    values: dict[str, object] = {
        "started": True,
        "assigned": HOLDING,
        "rebalancing": False,
        "idle_s": 0.0,
    }
    return ConsumerState(**(values | changes))  # type: ignore[arg-type]


def test_a_consumer_that_holds_partitions_and_polls_is_ready():
    assert not_consuming_reason(state(), TOPICS, stall_s=30) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"started": False, "assigned": frozenset()}, "not started"),
        ({"assigned": frozenset()}, "no partitions assigned"),
        ({"rebalancing": True}, "rebalancing"),
        ({"idle_s": 31.0}, "has not polled for 31s"),
    ],
)
def test_a_consumer_not_consuming_is_not_ready(changes: dict[str, object], reason: str):
    assert not_consuming_reason(state(**changes), TOPICS, stall_s=30) == reason


def test_a_worker_with_no_topics_needs_no_assignment():
    assert not_consuming_reason(state(started=False, assigned=frozenset()), set(), 30) is None


def sample_worker(tmp_path: Path, security: KafkaSecurity | None = None) -> WorkerApp:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}")
    processor = EventProcessor(
        service="sample",
        consumer="sample.cases.events.v1",
        engine=engine,
        handlers={},
        dead_letter_sealer=lambda: None,  # type: ignore[arg-type,return-value]  # never used
    )
    spec = WorkerSpec(
        service="sample",
        group_id="lienganh-sample",
        bootstrap_servers="127.0.0.1:1",
        data_dir=tmp_path,
        engine=engine,
        processors={"cases.events.v1": processor},
        batch_size=321,
        kafka_security=security or KafkaSecurity(),
    )
    return build_worker_app(spec)


def test_consumer_timeouts_reach_the_consumer_and_the_environment_overrides_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LIENGANH_KAFKA_SESSION_TIMEOUT_S", "9")
    monkeypatch.setenv("LIENGANH_KAFKA_GROUP_INSTANCE_ID", "cases-worker-0")
    app = sample_worker(tmp_path)
    assert app.batch_consumer is not None
    settings = app.batch_consumer.client_settings()
    defaults = ConsumerTimeouts.model_fields
    assert settings["session_timeout_ms"] == 9000
    assert settings["group_instance_id"] == "cases-worker-0"
    assert settings["heartbeat_interval_ms"] == defaults["heartbeat_interval_s"].default * 1000
    assert settings["rebalance_timeout_ms"] == defaults["rebalance_timeout_s"].default * 1000
    assert settings["max_poll_interval_ms"] == defaults["max_poll_interval_s"].default * 1000
    # Offsets are committed by the worker once a batch is handled, never by the client.
    assert settings["enable_auto_commit"] is False
    assert (settings["group_id"], settings["max_poll_records"]) == ("lienganh-sample", 321)
    assert app.consumed_topics == ("cases.events.v1",)


def test_the_consumer_connects_with_the_workers_credentials(tmp_path: Path):
    security = KafkaSecurity(protocol="SASL_PLAINTEXT", username="cases", password="synthetic")
    app = sample_worker(tmp_path, security)
    assert app.batch_consumer is not None
    settings = app.batch_consumer.client_settings()
    assert settings["sasl_plain_username"] == "cases"
    assert settings["security_protocol"] == "SASL_PLAINTEXT"
    assert app.kafka_options == security.aiokafka_options()
