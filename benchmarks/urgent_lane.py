"""Benchmark: urgent hotline reports while a large import flows through the pipeline.

Starts its own broker and the whole system (same code as `make run`), writes a synthetic
beneficiary list (`--rows`, 20,000 by default) and imports it with the cases CLI
(`python -m cases import`, the operators' path) while a hotline operator reports an urgent
case every `--every` seconds for `--seconds`. Prints:
- each urgent report's time from its POST to the inspector's first notification:
  p50/p90/p99/max (the target: p99 ≤ 2 s);
- the import's rows per second into the store;
- the imported cases the pipeline routed to a first notification in the same window, per
  second, beside the same run's broker limits (`kafka_limits.py`) — a case counts
  as `--records-per-case` records (11.1 in the pipeline benchmark).

`--unpaced` lets the import into the pipeline all at once (what every import did before the
bulk lane): the comparison that shows what the lane buys.

Run: `.venv/bin/python benchmarks/urgent_lane.py [--rows 20000 --seconds 240 --every 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from kafka_limits import KafkaLimits  # noqa: E402
from pipeline import (  # noqa: E402
    broker_beside_its_limits,
    hotline,
    percentile,
)
from stores import SqliteStores  # noqa: E402

from cases.synthetic import generate_reports, write_profile_list  # noqa: E402
from contracts.topics import DEFAULT_AGENCIES  # noqa: E402
from localrun.kafka import ensure_kafka_jars  # noqa: E402
from localrun.system import LAYOUTS  # noqa: E402
from tests.support.system import RunningSystem, start_system  # noqa: E402

UNPACED = {"CASES_BULK_LOW_WATER": str(10**9), "CASES_BULK_STEP": "500"}
URGENT = {"case_type": "child_trafficking", "risk_level": "urgent", "channel": "hotline_111"}


def pacing_env(args: argparse.Namespace) -> dict[str, str]:
    if args.unpaced:
        return UNPACED
    given = {"CASES_BULK_LOW_WATER": args.low_water, "CASES_BULK_STEP": args.step}
    return {name: str(value) for name, value in given.items() if value is not None}


def start_import(system: RunningSystem, path: Path) -> subprocess.Popen[bytes]:
    cases_env = system.settings("cases")
    return subprocess.Popen(
        [sys.executable, "-m", "cases", "import", str(path), "--operator", "bench-import"],
        env={**os.environ, **cases_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def report_urgent(system: RunningSystem, seconds: float, every: float) -> dict[str, float]:
    """One urgent hotline report every `every` s; case id → when it was sent."""
    bodies = generate_reports(
        int(seconds / every) + 1, seed=33, duplicate_rate=0, provinces=("01",)
    )
    sent: dict[str, float] = {}
    url = system.url("cases", "/cases")
    async with hotline(system, 8) as client:
        start = time.time()
        for i, body in enumerate(bodies):
            at = start + i * every
            if at > start + seconds:
                break
            await asyncio.sleep(max(0.0, at - time.time()))
            urgent = {
                **body,
                **URGENT,
                "consent": {"child_consented": True, "guardian_consented": True},
            }
            answer = await client.post(url, urgent)
            sent[answer["case_id"]] = at
    return sent


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "-"
    return (
        f"p50 {percentile(latencies, 50):.2f} s, p90 {percentile(latencies, 90):.2f} s, "
        f"p99 {percentile(latencies, 99):.2f} s, max {max(latencies):.2f} s"
    )


def imported_cases(data_dir: Path) -> set[str]:
    with sqlite3.connect(data_dir / "cases.db") as cases:
        return {case_id for (case_id,) in cases.execute("select case_id from imported_rows")}


def notified(data_dir: Path) -> set[str]:
    with sqlite3.connect(data_dir / "notifications.db") as notes:
        return {
            case_id for (case_id,) in notes.execute("select distinct case_id from notifications")
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the imported list")
    parser.add_argument("--seconds", type=float, default=240, help="urgent reports for this long")
    parser.add_argument("--every", type=float, default=3, help="seconds between urgent reports")
    parser.add_argument("--records-per-case", type=float, default=11.1)
    parser.add_argument("--limit-records", type=int, default=50_000)
    parser.add_argument("--unpaced", action="store_true", help="no bulk pacing (the before)")
    parser.add_argument("--low-water", type=int, help="CASES_BULK_LOW_WATER (records)")
    parser.add_argument("--step", type=int, help="CASES_BULK_STEP (rows per look)")
    parser.add_argument("--keep", action="store_true", help="keep the stores and logs")
    parser.add_argument(
        "--layout", choices=LAYOUTS, default="combined", help="as `lienganh run --layout`"
    )
    parser.add_argument(
        "--wait", type=float, default=600, help="most seconds to wait for the last urgent case"
    )
    args = parser.parse_args()
    ensure_kafka_jars()
    folder = (
        contextlib.nullcontext(tempfile.mkdtemp(prefix="lienganh-urgent-"))
        if args.keep
        else tempfile.TemporaryDirectory(prefix="lienganh-urgent-")
    )
    with folder as tmp:
        base = Path(tmp)
        if args.keep:
            print(f"data and logs: {base}")
        listing = write_profile_list(base / "beneficiaries.csv", args.rows, seed=20)
        with broker_beside_its_limits(base, args.limit_records) as (broker, limits):
            system = start_system(
                base / "system",
                broker.bootstrap_servers,
                DEFAULT_AGENCIES,
                extra_env=pacing_env(args),
                layout=args.layout,
            )
            try:
                time.sleep(10)  # past the start-up work (group joins, first polls)
                run(system, listing, args, limits)
            finally:
                system.supervisor.stop()


def run(
    system: RunningSystem, listing: Path, args: argparse.Namespace, limits: KafkaLimits
) -> None:
    started = time.time()
    importer = start_import(system, listing)
    finished: list[float] = []
    watcher = threading.Thread(target=lambda: finished.append((importer.wait(), time.time())[1]))
    watcher.start()
    sent = asyncio.run(report_urgent(system, args.seconds, args.every))
    first = SqliteStores(system.data_dir).first_notifications(set(sent), timeout_s=args.wait)
    window = time.time() - started
    imported = imported_cases(system.data_dir)
    routed = len(imported & notified(system.data_dir))
    if not finished:
        importer.terminate()
    watcher.join()
    import_s = finished[0] - started
    mode = "unpaced (no bulk lane)" if args.unpaced else f"bulk lane paced {pacing_env(args)}"
    print(f"{mode}: {args.rows:,}-row import, an urgent report every {args.every:g} s")
    during = [first[c] - at for c, at in sent.items() if c in first and at < finished[0]]
    after = [first[c] - at for c, at in sent.items() if c in first and at >= finished[0]]
    print(f"  urgent report → first notification ({len(first)}/{len(sent)} notified):")
    for phase, latencies in (("while rows go into the store", during), ("after", after)):
        print(f"    {phase}: {len(latencies)} reports, {summary(latencies)}")
    print(f"    all: {summary(during + after)}")
    if len(first) < len(sent):
        print(f"    {len(sent) - len(first)} not notified {args.wait:g} s after the last was sent")
    print(
        f"  import into the store (the CLI, start-up included): {len(imported):,} rows "
        f"in {import_s:.1f} s = {len(imported) / import_s:,.0f} rows/s"
    )
    cases_per_s = routed / window
    records = cases_per_s * args.records_per_case
    print(
        f"  imported cases routed to a notification in the window: {routed:,} = "
        f"{cases_per_s:.1f} cases/s ≈ {records:,.0f} records/s = {limits.ratios(records)}"
    )


if __name__ == "__main__":
    main()
