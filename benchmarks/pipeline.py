"""Benchmark: N synthetic hotline cases from intake to notification, against raw Kafka.

Starts its own broker and the whole system (same code as `make run`), then:
1. raw Kafka: produce N records of the same size as a case event (acks=all, idempotent)
   and consume them back; records/s is the ceiling of this broker on this machine;
2. the pipeline: POSTs N cases to the cases API and waits for every case's first
   notification; prints cases/s, intake→notification latency p50/p99, the ratio to the
   raw figure, and the peak RSS of every process (broker included).

Run: `make bench` or `.venv/bin/python benchmarks/pipeline.py --cases 2000`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cases.synthetic import generate_reports  # noqa: E402
from contracts.cases.v1 import CaseReceived  # noqa: E402
from contracts.envelope import encode  # noqa: E402
from contracts.topics import CASES_EVENTS, DEFAULT_AGENCIES, declared_topics  # noqa: E402
from localrun.kafka import LocalBroker, ensure_kafka_jars  # noqa: E402
from localrun.topics import create_topics  # noqa: E402
from tests.support.system import RunningSystem, start_system  # noqa: E402

RAW_TOPIC = "bench.raw.v1"


async def raw_kafka(bootstrap: str, count: int, size: int) -> float:
    """Produce→consume records/s for `count` records of `size` bytes."""
    from contracts.topics import TopicSpec

    create_topics(
        bootstrap,
        [
            TopicSpec(
                name=RAW_TOPIC,
                key="k",
                partitions=6,
                retention_ms=3_600_000,
                producer="bench",
                consumers=("bench",),
                description="raw baseline",
            )
        ],
    )
    payload = random.randbytes(size)
    consumer = AIOKafkaConsumer(
        RAW_TOPIC,
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
        pending = [
            await producer.send(RAW_TOPIC, payload, key=str(i).encode()) for i in range(count)
        ]
        await asyncio.gather(*pending)
        seen = 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(records) for records in batches.values())
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


async def submit_cases(system: RunningSystem, count: int, concurrency: int) -> float:
    token = system.token("bench-hotline", "hotline_111", ["intake"], ["01"])
    # Every case must reach a notification: consent given, province with seeded officers.
    bodies = [
        {**report, "consent": {"child_consented": True, "guardian_consented": True}}
        for report in generate_reports(count, seed=7, duplicate_rate=0, provinces=("01",))
    ]
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    url = system.url("cases", "/cases")

    async def client_loop() -> None:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post(url, json=body, timeout=60)
                response.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return time.perf_counter() - started


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def latencies(data_dir: Path, count: int, timeout_s: float) -> tuple[list[float], float]:
    """Wait until every case has a notification; return per-case latencies and the span."""
    cases_db = sqlite3.connect(data_dir / "cases.db")
    notes_db = sqlite3.connect(data_dir / "notifications.db")
    deadline = time.monotonic() + timeout_s
    while True:
        done = notes_db.execute("select count(distinct case_id) from notifications").fetchone()[0]
        if done >= count or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    received = dict(cases_db.execute("select id, received_at from cases").fetchall())
    first_note = dict(
        notes_db.execute("select case_id, min(created_at) from notifications group by case_id")
    )
    lat = [_ts(first_note[c]) - _ts(r) for c, r in received.items() if c in first_note]
    start = min(_ts(r) for r in received.values())
    end = max(_ts(v) for v in first_note.values())
    return lat, end - start


def peak_rss_mib(pids: dict[str, int]) -> dict[str, float]:
    peaks = {}
    for name, pid in pids.items():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[name] = int(line.split()[1]) / 1024
        except FileNotFoundError:
            continue
    return peaks


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    ensure_kafka_jars()
    with tempfile.TemporaryDirectory(prefix="lienganh-bench-") as tmp:
        base = Path(tmp)
        broker = LocalBroker(base / "kafka")
        broker.start()
        try:
            create_topics(broker.bootstrap_servers, declared_topics())
            sample = encode(CaseReceived.example(), topic=CASES_EVENTS, source="/cases")
            raw = asyncio.run(
                raw_kafka(broker.bootstrap_servers, args.cases * 5, len(sample.value))
            )
            system = start_system(base / "system", broker.bootstrap_servers, DEFAULT_AGENCIES)
            try:
                intake_s = asyncio.run(submit_cases(system, args.cases, args.concurrency))
                lat, span = latencies(system.data_dir, args.cases, timeout_s=600)
                pids = system.supervisor.pids()
                if broker.pid is not None:
                    pids["kafka-broker"] = broker.pid
                rss = peak_rss_mib(pids)
            finally:
                system.supervisor.stop()
        finally:
            broker.stop()
    rate = len(lat) / span if span > 0 else float("nan")
    print(f"cases: {args.cases} (notified: {len(lat)}), concurrency {args.concurrency}")
    print(f"intake (HTTP 201) throughput: {args.cases / intake_s:,.0f} cases/s")
    print(f"intake→notification throughput: {rate:,.0f} cases/s")
    print(
        f"intake→notification latency: p50 {percentile(lat, 50) * 1000:,.0f} ms, "
        f"p99 {percentile(lat, 99) * 1000:,.0f} ms"
    )
    print(f"raw Kafka produce→consume ({len(sample.value)} B records): {raw:,.0f} records/s")
    print(f"pipeline / raw Kafka: {rate / raw:.1%}")
    print(f"peak RSS: total {sum(rss.values()):,.0f} MiB")
    for name, mib in sorted(rss.items(), key=lambda item: -item[1]):
        print(f"  {name:32s} {mib:7.1f} MiB")


if __name__ == "__main__":
    main()
