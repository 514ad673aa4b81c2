"""Benchmark: a beneficiary list imported into an empty cases store, then imported again.

Writes a synthetic list of `--rows` children (`cases.synthetic.write_profile_list`), and
imports it with the operators' code path (`cases.bulk_import.import_file`, as
`python -m cases import` runs it) into a fresh SQLite store: rows/s and CPU per row. Then
the same file again, which must import nothing (every row skipped). Each imported row
stages two records (the case received, its audit record), so the import is also printed in
records/s beside the broker's limits measured in the same run (`kafka_limits.py`); the
import itself sends nothing to Kafka, its relay does (`benchmarks/urgent_lane.py`).

Run: `.venv/bin/python benchmarks/bulk_import.py [--rows 20000 --batch-rows 200 --jobs 2]`.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import broker_beside_its_limits, cpu_seconds, stores_for

from cases import bulk_import
from cases.bootstrap import SERVICE, TABLES, case_deps
from cases.config import CasesSettings
from cases.synthetic import write_profile_list
from chassis.auth import Principal
from chassis.runtime import open_service
from localrun.kafka import ensure_kafka_jars

RECORDS_PER_ROW = 2  # vn.lienganh.case.received.v1 and its audit record
OPERATOR = Principal("bench-import", "dolisa", frozenset({"intake"}), frozenset({"*"}))


def timed_import(
    listing: Path, settings: CasesSettings, batch_rows: int, jobs: int
) -> tuple[bulk_import.ImportReport, float, float]:
    """The report, wall seconds and CPU seconds (this process and its finished children)
    of one import of `listing`."""
    engine = open_service(settings, SERVICE, TABLES)
    deps = case_deps(settings)
    wall, cpu = time.perf_counter(), _cpu_seconds()
    report = bulk_import.import_file(
        listing, engine, deps, operator=OPERATOR, batch_rows=batch_rows, jobs=jobs
    )
    return report, time.perf_counter() - wall, _cpu_seconds() - cpu


def _cpu_seconds() -> float:
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch-rows", type=int, default=bulk_import.BATCH_ROWS)
    parser.add_argument("--jobs", type=int, default=1, help="processes importing batches")
    parser.add_argument("--limit-records", type=int, default=200_000)
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the cases store: a SQLite file, or a PostgreSQL server started for the run",
    )
    args = parser.parse_args()
    ensure_kafka_jars()
    with (
        tempfile.TemporaryDirectory(prefix="lienganh-import-") as tmp,
        stores_for(args.database, Path(tmp)) as (urls, server_pid),
    ):
        base = Path(tmp)
        listing = write_profile_list(base / "beneficiaries.csv", args.rows, seed=20)
        os.environ["CASES_DATA_DIR"] = str(base / "data")
        if urls:
            os.environ["CASES_DATABASE_URL"] = urls["cases"]
        settings = CasesSettings()
        server_cpu = cpu_seconds(server_pid) if server_pid else 0.0
        first, wall, cpu = timed_import(listing, settings, args.batch_rows, args.jobs)
        server_cpu = cpu_seconds(server_pid) - server_cpu if server_pid else 0.0
        again, wall_again, _ = timed_import(listing, settings, args.batch_rows, args.jobs)
        with broker_beside_its_limits(base, args.limit_records) as (_, limits):
            pass
    rows_per_s = first.imported / wall
    print(
        f"bulk import of {args.rows:,} synthetic rows, {args.batch_rows} rows a transaction, "
        f"{args.jobs} importing process(es), into {args.database}"
    )
    for line in limits.lines():
        print(f"  {line}")
    print(
        f"  into an empty store: {first.imported:,} imported, {len(first.errors)} errors, "
        f"in {wall:.1f} s = {rows_per_s:,.0f} rows/s, {1000 * cpu / max(first.imported, 1):.2f} "
        f"ms CPU a row (1 M rows at this rate: {1e6 / rows_per_s / 60:.0f} min; a growing "
        "store is slower, run --rows 1000000 to know)"
    )
    if args.database != "sqlite":
        print(f"  … and the server's: {1000 * server_cpu / max(first.imported, 1):.2f} ms a row")
    print(
        f"  as outbox records: {rows_per_s * RECORDS_PER_ROW:,.0f} records/s = "
        f"{limits.ratios(rows_per_s * RECORDS_PER_ROW)}"
    )
    print(
        f"  the same file again: {again.imported} imported, {again.skipped:,} skipped, "
        f"in {wall_again:.1f} s = {again.skipped / wall_again:,.0f} rows/s"
    )
    if again.imported or first.errors:
        raise SystemExit("a re-run imported rows, or the synthetic list had errors")


if __name__ == "__main__":
    main()
