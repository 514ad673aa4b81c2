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

`--surge N` posts N live reports of high (not urgent) risk through `POST /cases:batch`
instead of the import, as fast as the API takes them, and times each urgent report to the
inspector's first e-mail sent as well: whether an urgent case's e-mail waits behind a
surge's.

Run: `.venv/bin/python benchmarks/urgent_lane.py [--rows 20000 --seconds 240 --every 3]`,
or `… --surge 4000 --seconds 40 --every 2`.
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
from stores import SqliteStores, stamp  # noqa: E402

from cases.synthetic import generate_reports, write_profile_list  # noqa: E402
from contracts.topics import DEFAULT_AGENCIES  # noqa: E402
from localrun.kafka import ensure_kafka_jars  # noqa: E402
from localrun.system import LAYOUTS  # noqa: E402
from tests.support.system import RunningSystem, start_system  # noqa: E402

UNPACED = {"CASES_BULK_LOW_WATER": str(10**9), "CASES_BULK_STEP": "500"}
SUSTAINED_S = 60.0  # target 1 holds its rate this long
URGENT = {"case_type": "child_trafficking", "risk_level": "urgent", "channel": "hotline_111"}


def pacing_env(args: argparse.Namespace) -> dict[str, str]:
    if args.unpaced:
        return UNPACED
    given = {
        "CASES_BULK_AHEAD_S": args.ahead_s,
        "CASES_BULK_LOW_WATER": args.low_water,
        "CASES_BULK_STEP": args.step,
    }
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


async def surge(system: RunningSystem, count: int, batch: int = 100, clients: int = 4) -> float:
    """`count` high-risk reports through `POST /cases:batch`; the seconds intake took."""
    bodies = [
        {
            **body,
            "risk_level": "high",
            "consent": {"child_consented": True, "guardian_consented": True},
        }
        for body in generate_reports(count, seed=44, duplicate_rate=0, provinces=("01",))
    ]
    requests = [{"reports": bodies[i : i + batch]} for i in range(0, count, batch)]
    url = system.url("cases", "/cases:batch")
    async with hotline(system, clients) as client:

        async def client_loop() -> None:
            while requests:
                await client.post(url, requests.pop(0))

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(clients)))
        return time.perf_counter() - started


def first_emails(data_dir: Path, case_ids: set[str], timeout_s: float) -> dict[str, float]:
    """Case id → when its first e-mail was sent, waiting until each has one (or timeout)."""
    query = (
        "select case_id, min(delivered_at) from notifications"
        " where channel = 'email' and status = 'delivered' group by case_id"
    )
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.closing(sqlite3.connect(data_dir / "notifications.db")) as notes:
            sent = {c: stamp(at) for c, at in notes.execute(query) if c in case_ids}
        if len(sent) == len(case_ids) or time.monotonic() > deadline:
            return sent
        time.sleep(0.5)


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
    parser.add_argument("--ahead-s", type=float, help="CASES_BULK_AHEAD_S (seconds of work)")
    parser.add_argument("--low-water", type=int, help="CASES_BULK_LOW_WATER (records)")
    parser.add_argument("--step", type=int, help="CASES_BULK_STEP (rows per look)")
    parser.add_argument(
        "--surge", type=int, help="high-risk reports posted in batches instead of the import"
    )
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
                if args.surge:
                    run_surge(system, args)
                else:
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
    stores = SqliteStores(system.data_dir)
    first = stores.first_notifications(set(sent), timeout_s=args.wait)
    window = time.time() - started
    imported = imported_cases(system.data_dir)
    routed = len(imported & notified(system.data_dir))
    if not finished:
        importer.terminate()
    watcher.join()
    routed_at = stores.first_notifications(imported, timeout_s=args.wait)
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
    print_routing(sorted(routed_at.values()), len(imported), started, args, limits)


def print_routing(
    times: list[float], imported: int, started: float, args: argparse.Namespace, limits: KafkaLimits
) -> None:
    """The import's routing on its own: from the import's start to its last case's first
    notification, and over its busiest `SUSTAINED_S` (target 1's measure)."""
    if not times:
        print("  no imported case reached a notification")
        return
    whole = times[-1] - started
    busiest = busiest_rate(times, SUSTAINED_S)
    records = busiest * args.records_per_case
    print(
        f"  the import routed: {len(times):,}/{imported:,} cases had a first notification "
        f"{whole:.1f} s after it began = {len(times) / whole:.1f} cases/s; "
        f"busiest {SUSTAINED_S:g} s: {busiest:.1f} cases/s ≈ {records:,.0f} records/s = "
        f"{limits.ratios(records)}"
    )


def busiest_rate(times: list[float], span: float) -> float:
    """The most of `times` (sorted) inside any `span` seconds, per second."""
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > span:
            start += 1
        most = max(most, end - start + 1)
    return most / span


def run_surge(system: RunningSystem, args: argparse.Namespace) -> None:
    async def both() -> tuple[float, dict[str, float]]:
        took, sent = await asyncio.gather(
            surge(system, args.surge), report_urgent(system, args.seconds, args.every)
        )
        return took, sent

    took, sent = asyncio.run(both())
    first = SqliteStores(system.data_dir).first_notifications(set(sent), timeout_s=args.wait)
    emailed = first_emails(system.data_dir, set(sent), timeout_s=args.wait)
    print(
        f"surge: {args.surge:,} high-risk reports through POST /cases:batch in {took:.1f} s "
        f"= {args.surge / took:,.0f} cases/s taken; an urgent report every {args.every:g} s"
    )
    for what, reached in (("first notification", first), ("first e-mail sent", emailed)):
        latencies = [reached[c] - at for c, at in sent.items() if c in reached]
        print(f"  urgent report → {what} ({len(reached)}/{len(sent)}): {summary(latencies)}")


if __name__ == "__main__":
    main()
