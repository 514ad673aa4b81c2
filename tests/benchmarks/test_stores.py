"""The benchmarks' readers of the stores: a run's cases and their first notifications, the
same on SQLite files and on PostgreSQL databases."""

from __future__ import annotations

import sqlite3
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from stores import CaseStores, PostgresStores, SqliteStores

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
TABLES = {
    "cases": "CREATE TABLE cases (id VARCHAR(36) PRIMARY KEY, received_at {time} NOT NULL)",
    "notifications": "CREATE TABLE notifications (id VARCHAR(36) PRIMARY KEY, "
    "case_id VARCHAR(36) NOT NULL, created_at {time} NOT NULL)",
}
Insert = Callable[[str, tuple[object, ...]], None]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[CaseStores, Insert]]:
    """Stores with a cases and a notifications table, and a way to add rows to them."""
    if request.param == "sqlite":
        for name, ddl in TABLES.items():
            with closing(sqlite3.connect(tmp_path / f"{name}.db")) as db:
                db.execute(ddl.format(time="DATETIME"))

        def insert_sqlite(table: str, row: tuple[object, ...]) -> None:
            # As SQLAlchemy stores a UTC timestamp in SQLite: text, naive.
            text = tuple(
                v.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
                if isinstance(v, datetime)
                else v
                for v in row
            )
            with closing(sqlite3.connect(tmp_path / f"{table}.db")) as db, db:
                marks = ", ".join("?" * len(row))
                db.execute(f"INSERT INTO {table} VALUES ({marks})", text)  # noqa: S608

        yield SqliteStores(tmp_path), insert_sqlite
        return
    server = request.getfixturevalue("postgres_server")
    suffix = uuid.uuid4().hex[:8]
    urls = {name: server.create_database(f"{name}_{suffix}") for name in TABLES}

    def connect(table: str) -> psycopg.Connection:
        url = make_url(urls[table])
        return psycopg.connect(
            host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
        )

    for name, ddl in TABLES.items():
        with connect(name) as db:
            db.execute(ddl.format(time="TIMESTAMP WITH TIME ZONE"))

    def insert_postgres(table: str, row: tuple[object, ...]) -> None:
        with connect(table) as db:
            marks = ", ".join(["%s"] * len(row))
            db.execute(f"INSERT INTO {table} VALUES ({marks})", row)  # noqa: S608

    try:
        yield PostgresStores(urls), insert_postgres
    finally:
        for name in TABLES:
            server.drop_database(f"{name}_{suffix}")


def test_a_run_reads_only_the_cases_received_after_its_mark(stores):
    reader, insert = stores
    insert("cases", ("before", T0))
    mark = reader.mark()
    insert("cases", ("first", T0 + timedelta(seconds=1)))
    insert("cases", ("second", T0 + timedelta(seconds=2)))
    received = reader.received_at(after=mark)
    assert received == {
        "first": (T0 + timedelta(seconds=1)).timestamp(),
        "second": (T0 + timedelta(seconds=2)).timestamp(),
    }
    assert set(reader.received_at()) == {"before", "first", "second"}


def test_each_case_gets_its_earliest_notification_and_the_wait_ends_when_all_have_one(stores):
    reader, insert = stores
    insert("cases", ("a", T0))
    insert("cases", ("b", T0))
    insert("notifications", ("n1", "a", T0 + timedelta(seconds=3)))
    insert("notifications", ("n2", "a", T0 + timedelta(seconds=1)))
    insert("notifications", ("n3", "b", T0 + timedelta(seconds=2)))
    insert("notifications", ("n4", "other", T0 + timedelta(seconds=1)))
    first = reader.first_notifications({"a", "b"}, timeout_s=60)
    assert first == {
        "a": (T0 + timedelta(seconds=1)).timestamp(),
        "b": (T0 + timedelta(seconds=2)).timestamp(),
    }


def test_a_case_never_notified_is_left_out_once_the_wait_times_out(stores):
    reader, insert = stores
    insert("cases", ("a", T0))
    insert("cases", ("silent", T0))
    insert("notifications", ("n1", "a", T0 + timedelta(seconds=1)))
    assert set(reader.first_notifications({"a", "silent"}, timeout_s=0)) == {"a"}
