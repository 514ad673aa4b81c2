"""An urgent hotline report is not queued behind an import: it reaches the inspector while
the imported cases still wait in the bulk lane, and the import is then routed whole.

Without the lanes the urgent case's events would leave the cases outbox after every imported
row (first in, first out); without the pacing every imported row would leave at once and wait
in Kafka in front of it. Either way no imported row would still be waiting by then.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cases.synthetic import write_profile_list
from contracts.topics import DEFAULT_AGENCIES, declared_topics
from tests.e2e.test_walking_skeleton import report
from tests.support.system import RunningSystem, eventually, start_system

pytestmark = [pytest.mark.kafka, pytest.mark.e2e, pytest.mark.own_system]

ROWS = 400
# A narrow gate (the defaults let a few hundred rows out within a second): the import still
# waits when the urgent case arrives however fast this machine routes.
NARROW_GATE = {"CASES_BULK_AHEAD_S": "0.01", "CASES_BULK_LOW_WATER": "60", "CASES_BULK_STEP": "8"}


@pytest.fixture(scope="module")
def lane_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    from localrun.kafka import LocalBroker, ensure_kafka_jars
    from localrun.topics import create_topics

    ensure_kafka_jars()
    broker = LocalBroker(tmp_path_factory.mktemp("lane-kafka"))
    broker.start()
    try:
        create_topics(broker.bootstrap_servers, declared_topics())
        running = start_system(
            tmp_path_factory.mktemp("lane-system"),
            broker.bootstrap_servers,
            DEFAULT_AGENCIES,
            extra_env=NARROW_GATE,
        )
        try:
            yield running
        finally:
            running.supervisor.stop()
    finally:
        broker.stop()


def import_list(system: RunningSystem, path: Path) -> None:
    cases_env = system.settings("cases")
    done = subprocess.run(
        [sys.executable, "-m", "cases", "import", str(path), "--operator", "lane-import"],
        env={**os.environ, **cases_env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def query(system: RunningSystem, database: str, sql: str, *params: str) -> int:
    with sqlite3.connect(system.data_dir / database) as connection:
        return int(connection.execute(sql, params).fetchone()[0])


def imported_waiting(system: RunningSystem) -> int:
    return query(
        system, "cases.db", "select count(*) from outbox where lane = 2 and published_at is null"
    )


def test_an_urgent_report_overtakes_a_waiting_import(lane_system: RunningSystem, tmp_path: Path):
    import_list(lane_system, write_profile_list(tmp_path / "list.csv", ROWS, seed=41))
    assert imported_waiting(lane_system) > 0  # the import waits to enter the pipeline

    hotline = lane_system.token("lane-hotline", "hotline_111", ["intake"], ["01"])
    answer = lane_system.post("cases", "/cases", hotline, report())
    assert answer.status_code == 201, answer.text
    case_id = answer.json()["case_id"]

    def urgent_notified() -> None:
        found = query(
            lane_system,
            "notifications.db",
            "select count(*) from notifications where case_id = ?",
            case_id,
        )
        assert found > 0

    eventually(urgent_notified, timeout_s=120, interval_s=0.1)
    assert imported_waiting(lane_system) > 0, "the urgent case waited for the whole import"

    def import_routed() -> None:
        assert imported_waiting(lane_system) == 0
        routed = query(
            lane_system,
            "referrals.db",
            "select count(distinct case_id) from referrals",
        )
        assert routed == ROWS + 1  # every imported case, and the urgent one

    eventually(import_routed, timeout_s=540, interval_s=1)
