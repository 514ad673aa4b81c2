"""Upgrading Kafka in place, as a user does it (docs/deploy.md, "Upgrade Kafka").

A broker made by the release the project ran before (its jars, its storage format, its
metadata version) holds topics, unconsumed events and a consumer group's committed offsets;
it is stopped cleanly, started on this release's jars (the pom's `kafka.version`) with the same
data directory, and moved to the new metadata version with `kafka-features upgrade`. Then the
group resumes exactly where it committed, a new group reads every event, and `describe` shows
the pom's `kafka.metadata.version`.

The previous release's jars are fetched by the test itself (`ensure_kafka_jars(version=...)`,
into `.cache/kafka-<version>/`): one more Maven download on a fresh machine, then cached.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

from localrun.kafka import (
    LocalBroker,
    ensure_kafka_jars,
    kafka_dir,
    kafka_metadata_version,
    kafka_version,
)

pytestmark = [pytest.mark.kafka]

# The release the project ran before the pom's, and the metadata version it wrote.
PREVIOUS_VERSION = "4.1.1"
PREVIOUS_METADATA_VERSION = "4.1-IV1"

TOPICS = {"upgrade.cases.v1": 3, "upgrade.referrals.v1": 2}
EVENTS_PER_TOPIC = 300
GROUP = "upgrade-readers"
START_TIMEOUT_S = 300.0  # generous: two JVM generations start in turn on a busy 2-core CI


def features(libs: Path, broker: LocalBroker, *arguments: str) -> str:
    """Run `kafka-features.sh` (org.apache.kafka.tools.FeatureCommand) from `libs`."""
    result = subprocess.run(
        [
            "java",
            "-XX:TieredStopAtLevel=1",  # a short-lived tool: start fast
            "-XX:+UseSerialGC",
            f"-Dlog4j2.configurationFile={kafka_dir() / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            "org.apache.kafka.tools.FeatureCommand",
            "--bootstrap-server",
            broker.bootstrap_servers,
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kafka-features {arguments}:\n{result.stdout}{result.stderr}"
    return result.stdout


def finalized_metadata_version(libs: Path, broker: LocalBroker) -> str:
    described = features(libs, broker, "describe")
    match = re.search(r"Feature: metadata\.version\s.*?FinalizedVersionLevel: (\S+)", described)
    assert match, described
    return match.group(1)


def produce(broker: LocalBroker) -> dict[str, list[tuple[bytes, bytes]]]:
    """EVENTS_PER_TOPIC keyed events per topic, acknowledged by the broker."""
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        admin.create_topics(
            [NewTopic(name, partitions, 1) for name, partitions in TOPICS.items()],
            timeout_ms=30_000,
        )
    finally:
        admin.close()
    sent: dict[str, list[tuple[bytes, bytes]]] = {name: [] for name in TOPICS}
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    try:
        futures = []
        for name in TOPICS:
            for number in range(EVENTS_PER_TOPIC):
                key, value = f"case-{number % 17}".encode(), f"{name}#{number}".encode()
                futures.append(producer.send(name, key=key, value=value))
                sent[name].append((key, value))
        producer.flush(timeout=60)
        for future in futures:
            future.get(timeout=30)  # raises if any send was not acknowledged
    finally:
        producer.close()
    return sent


def read_all(broker: LocalBroker, group: str, expected: int) -> list[tuple[str, int, bytes, bytes]]:
    """Read with `group` until `expected` records came, then a little longer (none may follow)."""
    consumer = KafkaConsumer(
        *TOPICS,
        bootstrap_servers=broker.bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    records: list[tuple[str, int, bytes, bytes]] = []
    try:
        empty_polls = 0
        for _ in range(120):
            batch = consumer.poll(timeout_ms=1000)
            for partition_records in batch.values():
                records += [(r.topic, r.partition, r.key, r.value) for r in partition_records]
            empty_polls = 0 if batch else empty_polls + 1
            if len(records) >= expected and empty_polls >= 2:
                break
        consumer.commit()
    finally:
        consumer.close()
    return records


def commit_half(broker: LocalBroker) -> dict[TopicPartition, int]:
    """The group has read (and committed) the first half of every partition."""
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers, group_id=GROUP, enable_auto_commit=False
    )
    try:
        partitions = [
            TopicPartition(name, p) for name, count in TOPICS.items() for p in range(count)
        ]
        ends = consumer.end_offsets(partitions)
        committed = {tp: ends[tp] // 2 for tp in partitions}
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in committed.items()})
    finally:
        consumer.close()
    return committed


def test_a_broker_of_the_previous_release_upgrades_in_place_losing_no_event(
    tmp_path: Path,
) -> None:
    old_libs = ensure_kafka_jars(version=PREVIOUS_VERSION)
    new_libs = ensure_kafka_jars()
    assert (old_libs / f"kafka_2.13-{PREVIOUS_VERSION}.jar").exists()
    assert (new_libs / f"kafka_2.13-{kafka_version()}.jar").exists()
    data_dir = tmp_path / "kafka"

    # 1. The previous release: topics, events nobody has read yet, a group half-way through.
    old = LocalBroker(data_dir, version=PREVIOUS_VERSION)
    old.start(timeout_s=START_TIMEOUT_S)
    try:
        assert finalized_metadata_version(old_libs, old) == PREVIOUS_METADATA_VERSION
        sent = produce(old)
        committed = commit_half(old)
    finally:
        old.stop()  # SIGTERM: a controlled shutdown, as `lienganh run` and Kubernetes do

    # 2. The same data directory and ports on this release's jars: it runs, still at the old
    #    metadata version (the step that can still be rolled back).
    new = LocalBroker(data_dir, port=old.port, controller_port=old.controller_port)
    new.start(timeout_s=START_TIMEOUT_S)
    try:
        assert finalized_metadata_version(new_libs, new) == PREVIOUS_METADATA_VERSION

        # 3. Finalize: every feature to this release's level, as Kafka's upgrade notes say.
        release = ".".join(kafka_version().split(".")[:2])
        features(new_libs, new, "upgrade", "--release-version", release)
        assert finalized_metadata_version(new_libs, new) == kafka_metadata_version()

        # 4. Nothing lost: the group resumes at its committed offsets and reads the rest; a
        #    new group reads every event, each partition in the order it was written.
        expected_rest = sum(EVENTS_PER_TOPIC for _ in TOPICS) - sum(committed.values())
        rest = read_all(new, GROUP, expected_rest)
        everything = read_all(new, "upgrade-auditors", EVENTS_PER_TOPIC * len(TOPICS))
    finally:
        new.stop()

    assert len(rest) == expected_rest
    for topic, partitions in TOPICS.items():
        for partition in range(partitions):
            in_partition = [(k, v) for t, p, k, v in everything if (t, p) == (topic, partition)]
            resumed = [(k, v) for t, p, k, v in rest if (t, p) == (topic, partition)]
            assert resumed == in_partition[committed[TopicPartition(topic, partition)] :]
        read = sorted((k, v) for t, _, k, v in everything if t == topic)
        assert read == sorted(sent[topic]), f"{topic}: events lost or duplicated"
        # Keyed records keep their per-key order across the upgrade.
        for key in {k for k, _ in sent[topic]}:
            assert [v for t, _, k, v in everything if t == topic and k == key] == [
                v for k, v in sent[topic] if k == key
            ]
