"""The limits of the broker the pipeline runs on, measured in the same run: Kafka's own Java
`ProducerPerformance` and `ConsumerPerformance` (kafka-tools, from the project's pom), and an
aiokafka produce→consume (what a Python client gets). Every figure is records per second.
"""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import TopicSpec
from localrun.kafka import ensure_kafka_jars
from localrun.topics import create_topics

RAW_TOPIC = "bench.raw.v1"
JAVA_TOPIC = "bench.java.v1"


@dataclass(frozen=True)
class KafkaLimits:
    """Records/s of each client on the same broker, for records of `record_bytes`."""

    record_bytes: int
    java_produce: float
    java_consume: float
    aiokafka_produce_consume: float

    def lines(self) -> list[str]:
        return [
            f"Kafka ProducerPerformance ({self.record_bytes} B, acks=all, idempotent): "
            f"{self.java_produce:,.0f} records/s",
            f"Kafka ConsumerPerformance: {self.java_consume:,.0f} records/s",
            f"aiokafka produce→consume: {self.aiokafka_produce_consume:,.0f} records/s",
        ]

    def ratios(self, records_per_s: float) -> str:
        """A pipeline figure in records/s as a share of each limit."""
        return (
            f"{records_per_s / self.java_produce:.2%} of ProducerPerformance, "
            f"{records_per_s / self.java_consume:.2%} of ConsumerPerformance, "
            f"{records_per_s / self.aiokafka_produce_consume:.2%} of aiokafka"
        )


def measure_limits(bootstrap: str, records: int, record_bytes: int) -> KafkaLimits:
    create_topics(bootstrap, [_bench_topic(RAW_TOPIC), _bench_topic(JAVA_TOPIC)])
    produced = java_producer_performance(bootstrap, JAVA_TOPIC, records, record_bytes)
    consumed = java_consumer_performance(bootstrap, JAVA_TOPIC, records)
    python = asyncio.run(aiokafka_produce_consume(bootstrap, RAW_TOPIC, records, record_bytes))
    return KafkaLimits(record_bytes, produced, consumed, python)


def _bench_topic(name: str) -> TopicSpec:
    return TopicSpec(
        name=name,
        key="k",
        partitions=6,
        retention_ms=3_600_000,
        producer="bench",
        consumers=("bench",),
        description="broker limit measured beside the pipeline",
    )


def _kafka_tool(tool: str, *args: str) -> str:
    libs: Path = ensure_kafka_jars()
    result = subprocess.run(
        ["java", "-Xmx512m", "-cp", f"{libs}/*", f"org.apache.kafka.tools.{tool}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{tool} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def java_producer_performance(bootstrap: str, topic: str, records: int, size: int) -> float:
    output = _kafka_tool(
        "ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={bootstrap}",
        "acks=all",
        "enable.idempotence=true",
    )
    # The last line: "N records sent, X records/sec (Y MB/sec), ..."
    summary = re.findall(r"records sent, ([\d.]+) records/sec", output)
    if not summary:
        raise RuntimeError(f"ProducerPerformance printed no summary:\n{output}")
    return float(summary[-1])


def java_consumer_performance(bootstrap: str, topic: str, records: int) -> float:
    output = _kafka_tool(
        "ConsumerPerformance",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--group",
        f"bench-java-{uuid.uuid4()}",
        "--timeout",
        "60000",
    )
    # A header, then: start, end, MB, MB/s, records, records/s, rebalance ms, fetch ms, ...
    lines = output.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("start.time")), None)
    if at is None or at + 1 >= len(lines):
        raise RuntimeError(f"ConsumerPerformance printed no figures:\n{output}")
    header, values = lines[at], lines[at + 1]
    columns = dict(zip(header.split(", "), values.split(", "), strict=False))
    return float(columns["nMsg.sec"])


async def aiokafka_produce_consume(bootstrap: str, topic: str, count: int, size: int) -> float:
    """Produce→consume records/s with an idempotent acks=all producer, as the services use."""
    payload = random.randbytes(size)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"bench-{uuid.uuid4()}",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await consumer.start()
    await producer.start()
    try:
        started = time.perf_counter()
        pending = [await producer.send(topic, payload, key=str(i).encode()) for i in range(count)]
        await asyncio.gather(*pending)
        seen = 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(records) for records in batches.values())
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()
