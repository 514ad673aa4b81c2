"""`lienganh status` against a real broker: offsets and lag per group and partition, and a
group that has not committed yet counted as behind, not as zero."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from typer.testing import CliRunner

from localrun.cli import app
from localrun.topics import create_topics
from tests.support.worker_recovery import eventually, recovery_topic

pytestmark = [pytest.mark.kafka]

runner = CliRunner()


@pytest.fixture
def topic(kafka_broker: object) -> str:
    """A fresh two-partition topic: 10 records in partition 0, 4 in partition 1."""
    bootstrap: str = kafka_broker.bootstrap_servers  # type: ignore[attr-defined]
    name = f"tests.status.{uuid.uuid4().hex[:8]}.v1"
    create_topics(bootstrap, [recovery_topic(name, 2)])
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for partition, count in ((0, 10), (1, 4)):
        for _ in range(count):
            producer.send(name, b"{}", partition=partition)
    producer.flush()
    producer.close()
    return name


@pytest.fixture
def partly_consumed(kafka_broker: object, topic: str) -> str:
    """A group that committed 3 of partition 0 and all of partition 1."""
    bootstrap: str = kafka_broker.bootstrap_servers  # type: ignore[attr-defined]
    group = f"tests-status-part-{uuid.uuid4().hex[:6]}"
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    consumer.commit(
        {
            TopicPartition(topic, 0): OffsetAndMetadata(3, "", -1),
            TopicPartition(topic, 1): OffsetAndMetadata(4, "", -1),
        }
    )
    consumer.close()
    return group


@pytest.fixture
def never_committed(kafka_broker: object, topic: str) -> Iterator[str]:
    """A live member subscribed to the topic that has committed nothing (a stuck worker)."""
    bootstrap: str = kafka_broker.bootstrap_servers  # type: ignore[attr-defined]
    group = f"tests-status-none-{uuid.uuid4().hex[:6]}"
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )

    def joined() -> None:
        consumer.poll(timeout_ms=500)
        assert consumer.assignment()

    eventually(joined, 120, 0)
    yield group
    consumer.close(autocommit=False)


def status_json(bootstrap: str, *groups: str) -> list[dict[str, object]]:
    options = [part for group in groups for part in ("--group", group)]
    result = runner.invoke(app, ["status", "--bootstrap", bootstrap, *options, "--json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.output)
    return rows


def test_status_shows_committed_end_and_lag_per_partition(
    kafka_broker: object, topic: str, partly_consumed: str, never_committed: str
) -> None:
    bootstrap: str = kafka_broker.bootstrap_servers  # type: ignore[attr-defined]
    rows = status_json(bootstrap, partly_consumed, never_committed)
    seen = {(r["group"], r["partition"]): (r["committed"], r["end"], r["lag"]) for r in rows}
    assert {r["topic"] for r in rows} == {topic}
    assert seen == {
        (partly_consumed, 0): (3, 10, 7),
        (partly_consumed, 1): (4, 4, 0),
        # No commit yet: everything in the log is still to be processed.
        (never_committed, 0): (None, 10, 10),
        (never_committed, 1): (None, 4, 4),
    }


def test_every_group_is_listed_when_none_is_named_and_the_table_says_none(
    kafka_broker: object, topic: str, partly_consumed: str, never_committed: str
) -> None:
    bootstrap: str = kafka_broker.bootstrap_servers  # type: ignore[attr-defined]
    groups = {row["group"] for row in status_json(bootstrap)}
    assert {partly_consumed, never_committed} <= groups

    result = runner.invoke(app, ["status", "--bootstrap", bootstrap, "--group", never_committed])
    assert result.exit_code == 0, result.output
    cells = [line.split("│") for line in result.output.splitlines() if "│" in line]
    committed = [row[4].strip() for row in cells if row[3].strip() in {"0", "1"}]
    assert committed == ["none", "none"], result.output
