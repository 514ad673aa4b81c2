"""Benchmark: seconds from a worker's kill -9 until its partitions are consumed again.

Starts its own broker and two workers of one group on a 4-partition topic (the chassis
worker, `tests/support/worker_recovery.py`), then for each case:
1. takeover: kill -9 one worker; probes written to its partitions right after the kill;
   time until the surviving worker has consumed them all;
2. restart: kill -9 one worker and start it again at once; time until probes on its
   partitions are consumed (by whichever member holds them).
`--faust-defaults` runs with Faust's 60 s timeouts, the figures before issue 16.

Run: `.venv/bin/python benchmarks/worker_recovery.py [--faust-defaults] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from localrun.kafka import LocalBroker, ensure_kafka_jars  # noqa: E402
from localrun.ports import free_port  # noqa: E402
from localrun.topics import create_topics  # noqa: E402
from tests.support.worker_recovery import (  # noqa: E402
    SampleWorker,
    consumed_by,
    eventually,
    recovery_topic,
    send_probes,
)

FAUST_DEFAULTS = {
    "LIENGANH_KAFKA_SESSION_TIMEOUT_S": "60",
    "LIENGANH_KAFKA_HEARTBEAT_INTERVAL_S": "3",
    "LIENGANH_KAFKA_REBALANCE_TIMEOUT_S": "60",
    "LIENGANH_KAFKA_MAX_POLL_INTERVAL_S": "1000",
}
PARTITIONS = {0, 1, 2, 3}


def settled(first: SampleWorker, second: SampleWorker) -> set[int]:
    """Both consuming, partitions split between them; the first one's partitions."""
    mine, theirs = first.partitions(), second.partitions()
    assert first.readyz()[0] == 200 and second.readyz()[0] == 200
    assert mine and theirs and mine | theirs == PARTITIONS
    return mine


def one_round(bootstrap: str, folder: Path, env: dict[str, str], restart: bool) -> float:
    topic = f"bench.recovery.{uuid.uuid4().hex[:8]}.v1"
    create_topics(bootstrap, [recovery_topic(topic, len(PARTITIONS))])
    group = f"bench-recovery-{uuid.uuid4().hex[:8]}"
    url = f"sqlite:///{folder / f'{group}.db'}"
    workers = [
        SampleWorker(name, bootstrap, topic, group, url, folder / group, free_port(), env)
        for name in ("first", "second")
    ]
    for worker in workers:
        worker.start()
    try:
        killed = eventually(lambda: settled(*workers), 300, 0.2)
        workers[0].kill()
        started = time.monotonic()
        if restart:
            workers[0].start()
        probes = send_probes(bootstrap, topic, killed)

        def all_consumed() -> None:
            assert set(probes) <= set(consumed_by(url))

        eventually(all_consumed, 300, 0.02)
        return time.monotonic() - started
    finally:
        for worker in workers:
            worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--faust-defaults", action="store_true", help="the 60 s timeouts")
    args = parser.parse_args()
    env = FAUST_DEFAULTS if args.faust_defaults else {}
    ensure_kafka_jars()
    with tempfile.TemporaryDirectory(prefix="lienganh-recovery-") as tmp:
        folder = Path(tmp)
        with LocalBroker(folder / "kafka") as broker:
            for case, restart in (("takeover", False), ("restart", True)):
                figures = [
                    one_round(broker.bootstrap_servers, folder, env, restart)
                    for _ in range(args.rounds)
                ]
                print(
                    f"{case:9} kill -9 → partitions consumed again: "
                    f"median {statistics.median(figures):.1f} s, max {max(figures):.1f} s "
                    f"({', '.join(f'{f:.1f}' for f in figures)})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
