"""The local broker, topic creation and PostgreSQL helpers the suite and `make run` rely on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from contracts.topics import TopicSpec, declared_topics
from localrun import kafka as local_kafka
from localrun.topics import TopicMismatch, create_topics

pytestmark = [pytest.mark.kafka]


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(local_kafka.shutil, "which", lambda name: None)
    with pytest.raises(local_kafka.PrerequisiteMissing, match="Java 17\\+ is needed"):
        local_kafka.check_prerequisites()


def test_missing_maven_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    real_which = local_kafka.shutil.which
    monkeypatch.setattr(
        local_kafka.shutil, "which", lambda name: None if name == "mvn" else real_which(name)
    )
    with pytest.raises(local_kafka.PrerequisiteMissing, match="Maven is needed"):
        local_kafka.check_prerequisites()


def test_the_single_node_controller_appends_idle_no_op_records_rarely(tmp_path):
    # Every 500 ms by default: a third of an idle broker's CPU, telling peers it has none of.
    config = local_kafka.LocalBroker(tmp_path)._write_config().read_text().splitlines()
    assert "metadata.max.idle.interval.ms=5000" in config


def test_the_running_broker_keeps_a_small_log_cleaner_buffer(kafka_broker):
    # 128 MiB of heap by default, taken at start whatever the compacted topics hold.
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all"
        )
    finally:
        admin.close()
    buffer = described["broker"]["1"]["log.cleaner.dedupe.buffer.size"]
    assert int(buffer["value"]) == 8 * 1024 * 1024


def test_the_broker_runs_on_two_malloc_arenas_unless_told_otherwise(kafka_broker):
    environ = Path(f"/proc/{kafka_broker.pid}/environ").read_bytes().split(b"\0")
    expected = os.environ.get("MALLOC_ARENA_MAX", "2")
    assert f"MALLOC_ARENA_MAX={expected}".encode() in environ


def test_every_declared_topic_exists_with_its_partitions(kafka_broker):
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}
    finally:
        admin.close()
    for spec in declared_topics():
        assert described[spec.name] == spec.partitions


def test_creating_topics_again_is_a_no_op(kafka_broker):
    assert create_topics(kafka_broker.bootstrap_servers, declared_topics()) == []


def test_a_topic_declared_with_other_partitions_is_refused(kafka_broker):
    spec = declared_topics()[0]
    wrong = TopicSpec(**{**spec.model_dump(), "partitions": spec.partitions + 1})
    with pytest.raises(TopicMismatch, match=spec.name):
        create_topics(kafka_broker.bootstrap_servers, [wrong])


@pytest.mark.postgres
def test_postgres_creates_a_usable_database(postgres_server):
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_server.create_database("infra_check"))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("select 1")).scalar() == 1
    finally:
        engine.dispose()
