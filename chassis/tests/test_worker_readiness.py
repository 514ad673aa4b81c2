"""When a worker says it is ready, and the consumer timeouts it runs with."""

from __future__ import annotations

from pathlib import Path

import pytest

from chassis.db import create_db_engine
from chassis.settings import ConsumerTimeouts
from chassis.worker import ConsumerState, WorkerSpec, build_worker_app, not_consuming_reason

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


def test_consumer_timeouts_reach_faust_and_the_environment_overrides_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LIENGANH_KAFKA_SESSION_TIMEOUT_S", "9")
    monkeypatch.setenv("LIENGANH_KAFKA_GROUP_INSTANCE_ID", "cases-worker-0")
    spec = WorkerSpec(
        service="sample",
        group_id="lienganh-sample",
        bootstrap_servers="127.0.0.1:1",
        data_dir=tmp_path,
        engine=create_db_engine(f"sqlite:///{tmp_path / 'w.db'}"),
        processors={},
    )
    conf = build_worker_app(spec).conf
    defaults = ConsumerTimeouts.model_fields
    assert conf.broker_session_timeout == 9.0
    assert conf.consumer_group_instance_id == "cases-worker-0"
    assert conf.broker_heartbeat_interval == defaults["heartbeat_interval_s"].default
    assert conf.broker_rebalance_timeout == defaults["rebalance_timeout_s"].default
    assert conf.broker_max_poll_interval == defaults["max_poll_interval_s"].default
    # Faust refuses a session timeout above its request timeout (90 s by default).
    assert conf.broker_session_timeout <= conf.broker_request_timeout
