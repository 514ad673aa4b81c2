"""A worker killed with kill -9 loses nothing but time: its partitions are consumed again,
and `/readyz` says 200 only while a worker holds partitions and consumes them.

Workers are real processes on a real broker; deadlines are liveness bounds, never speed
assertions (the recovery time is measured by `benchmarks/worker_recovery.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localrun.ports import free_port
from localrun.topics import create_topics
from tests.support.worker_recovery import (
    SampleWorker,
    consumed_by,
    eventually,
    recovery_topic,
    send_probes,
)

pytestmark = [pytest.mark.kafka]

LIVENESS_S = 180.0

Workers = Callable[[str], SampleWorker]


@pytest.fixture
def workers_on(
    kafka_broker: object, tmp_path: Path
) -> Iterator[Callable[[int], tuple[str, Workers]]]:
    """Per test: a fresh topic of n partitions, and workers of one group consuming it."""
    bootstrap: str = kafka_broker.bootstrap_servers  # type: ignore[attr-defined]
    started: list[SampleWorker] = []

    def make(partitions: int) -> tuple[str, Workers]:
        topic = f"tests.recovery.{uuid.uuid4().hex[:8]}.v1"
        create_topics(bootstrap, [recovery_topic(topic, partitions)])
        group = f"tests-recovery-{uuid.uuid4().hex[:8]}"
        database_url = f"sqlite:///{tmp_path / 'probes.db'}"

        def worker(name: str) -> SampleWorker:
            one = SampleWorker(
                name, bootstrap, topic, group, database_url, tmp_path / "workers", free_port()
            )
            one.start()
            started.append(one)
            return one

        return topic, worker

    yield make
    for one in started:
        one.stop()


def ready_with_partitions(worker: SampleWorker) -> set[int]:
    status, body = worker.readyz()
    assert status == 200, (body, worker.log_tail())
    assert body["partitions"]
    return worker.partitions()


def test_readiness_follows_the_assignment(
    kafka_broker: object, workers_on: Callable[[int], tuple[str, Workers]]
) -> None:
    bootstrap: str = kafka_broker.bootstrap_servers  # type: ignore[attr-defined]
    topic, worker = workers_on(1)
    first = worker("first")
    assert eventually(lambda: ready_with_partitions(first), LIVENESS_S) == {0}

    # One partition, two members: one holds it and is ready, the other holds nothing and
    # says so. Which of them keeps it is the group's assignor's choice.
    second = worker("second")

    def one_ready_one_waiting() -> tuple[SampleWorker, SampleWorker]:
        answers = {one.name: one.readyz() for one in (first, second)}
        ready = [one for one in (first, second) if answers[one.name][0] == 200]
        waiting = [one for one in (first, second) if answers[one.name][0] == 503]
        assert len(ready) == 1 and len(waiting) == 1, answers
        assert answers[waiting[0].name][1]["failed"] == "consumer: no partitions assigned"
        assert ready_with_partitions(ready[0]) == {0}
        return ready[0], waiting[0]

    holder, other = eventually(one_ready_one_waiting, LIVENESS_S)
    holder.kill()
    assert eventually(lambda: ready_with_partitions(other), LIVENESS_S) == {0}
    probes = send_probes(bootstrap, topic, {0})
    eventually(lambda: _assert_consumed(bootstrap, other, probes, by=other.name), LIVENESS_S)


def test_partitions_of_a_killed_worker_are_consumed_again(
    kafka_broker: object, workers_on: Callable[[int], tuple[str, Workers]]
) -> None:
    bootstrap: str = kafka_broker.bootstrap_servers  # type: ignore[attr-defined]
    topic, worker = workers_on(4)
    first, second = worker("first"), worker("second")

    def split_between_both() -> set[int]:
        mine = ready_with_partitions(first)
        theirs = ready_with_partitions(second)
        assert mine | theirs == {0, 1, 2, 3} and not mine & theirs
        return mine

    killed = eventually(split_between_both, LIVENESS_S)
    first.kill()
    probes = send_probes(bootstrap, topic, {0, 1, 2, 3})
    # The survivor takes the killed worker's partitions over and consumes what waits there.
    eventually(lambda: _assert_consumed(bootstrap, second, probes, by="second"), LIVENESS_S)
    assert killed <= second.partitions()

    # Restarted under the same name, it rejoins and gets partitions back.
    first.start()
    back = eventually(split_between_both, LIVENESS_S)
    again = send_probes(bootstrap, topic, back)
    eventually(lambda: _assert_consumed(bootstrap, first, again, by="first"), LIVENESS_S)


def _assert_consumed(
    bootstrap: str, worker: SampleWorker, probes: dict[str, int], *, by: str
) -> None:
    seen = consumed_by(worker.database_url)
    missing = {case: part for case, part in probes.items() if case not in seen}
    assert not missing, f"not consumed yet: {missing}\n{worker.log_tail()}"
    assert {seen[case] for case in probes} == {by}
