"""Waiting for the broker and the database at start: backoff arithmetic and the wait loop."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from chassis.db import create_db_engine
from chassis.kafka_security import KafkaSecurity
from chassis.waiting import Backoff, probe_kafka, wait_for_database, wait_until_reachable
from localrun.ports import free_port


def never_sleep(delay: float) -> None:
    pytest.fail(f"waited {delay}s for a dependency that answered")


def test_backoff_doubles_from_the_initial_delay_up_to_its_cap():
    backoff = Backoff(initial_s=0.5, multiplier=2, max_s=10, jitter=0)
    assert [backoff.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 10, 10, 10]


def test_backoff_never_overflows_after_days_of_waiting():
    assert Backoff(jitter=0, max_s=10).delay(100_000) == 10


def test_jitter_spreads_the_delay_by_at_most_its_fraction_either_way():
    backoff = Backoff(initial_s=4, max_s=4, jitter=0.25)
    assert backoff.delay(3, rand=lambda: 0.0) == 3.0
    assert backoff.delay(3, rand=lambda: 0.5) == 4.0
    assert backoff.delay(3, rand=lambda: 0.999999) == pytest.approx(5.0)


@pytest.mark.parametrize(
    "options",
    [{"initial_s": 0}, {"multiplier": 0.5}, {"initial_s": 5, "max_s": 1}, {"jitter": 1}],
)
def test_a_backoff_that_would_spin_or_shrink_is_refused(options: dict[str, float]):
    with pytest.raises(ValueError):
        Backoff(**options)


def test_waits_with_the_backoff_and_logs_each_wait_until_the_dependency_answers():
    failures = [ConnectionRefusedError("refused")] * 3
    slept: list[float] = []

    def check() -> None:
        if failures:
            raise failures.pop()

    with capture_logs() as logs:
        attempts = wait_until_reachable(
            "kafka 127.0.0.1:1",
            check,
            backoff=Backoff(initial_s=1, max_s=3, jitter=0),
            sleep=slept.append,
        )
    assert attempts == 4
    assert slept == [1, 2, 3]
    waits = [line for line in logs if line["event"] == "dependency unreachable; waiting"]
    assert [(w["dependency"], w["attempt"], w["next_delay_s"]) for w in waits] == [
        ("kafka 127.0.0.1:1", 1, 1),
        ("kafka 127.0.0.1:1", 2, 2),
        ("kafka 127.0.0.1:1", 3, 3),
    ]
    assert waits[0]["error"] == "ConnectionRefusedError: refused"
    assert logs[-1]["event"] == "dependency reachable" and logs[-1]["attempts"] == 4


def test_a_dependency_that_answers_at_once_is_not_logged():
    with capture_logs() as logs:
        assert wait_until_reachable("database", lambda: None, sleep=never_sleep) == 1
    assert logs == []


def test_ctrl_c_while_waiting_still_stops_the_process():
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        wait_until_reachable("database", interrupted, sleep=never_sleep)


def test_a_reachable_sqlite_database_is_not_waited_for(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'ok.db'}")
    assert wait_for_database(engine) == 1


def test_probing_a_port_where_no_broker_listens_fails():
    with pytest.raises(Exception, match="Unable to bootstrap"):
        probe_kafka(f"127.0.0.1:{free_port()}", auth=KafkaSecurity().aiokafka_options())
