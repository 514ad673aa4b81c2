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

from pipeline import STEPS, step_times
from stores import (
    CASE_RECEIVED,
    REFERRAL_CHANGED,
    CaseStores,
    Passage,
    PostgresStores,
    SqliteStores,
)

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
OUTBOX = (
    "CREATE TABLE outbox (event_id VARCHAR(64) PRIMARY KEY, event_type VARCHAR(200) NOT NULL, "
    "key {bytes}, published_at {time})"
)
# The columns the benchmarks read, by store.
TABLES = {
    "cases": [
        "CREATE TABLE cases (id VARCHAR(36) PRIMARY KEY, received_at {time} NOT NULL)",
        OUTBOX,
    ],
    "notifications": [
        "CREATE TABLE notifications (id VARCHAR(36) PRIMARY KEY, "
        "case_id VARCHAR(36) NOT NULL, created_at {time} NOT NULL)"
    ],
    "referrals": [
        OUTBOX,
        "CREATE TABLE inbox (event_id VARCHAR(64) PRIMARY KEY, processed_at {time} NOT NULL)",
    ],
}
STORE_OF = {"cases": "cases", "notifications": "notifications", "inbox": "referrals"}
Insert = Callable[..., None]  # (table, row, store=the table's)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[CaseStores, Insert]]:
    """Stores with a cases and a notifications table, and a way to add rows to them."""
    if request.param == "sqlite":
        for name, ddls in TABLES.items():
            with closing(sqlite3.connect(tmp_path / f"{name}.db")) as db:
                for ddl in ddls:
                    db.execute(ddl.format(time="DATETIME", bytes="BLOB"))

        def insert_sqlite(table: str, row: tuple[object, ...], store: str = "") -> None:
            # As SQLAlchemy stores a UTC timestamp in SQLite: text, naive.
            text = tuple(
                v.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
                if isinstance(v, datetime)
                else v
                for v in row
            )
            path = tmp_path / f"{store or STORE_OF[table]}.db"
            with closing(sqlite3.connect(path)) as db, db:
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

    for name, ddls in TABLES.items():
        with connect(name) as db:
            for ddl in ddls:
                db.execute(ddl.format(time="TIMESTAMP WITH TIME ZONE", bytes="BYTEA"))

    def insert_postgres(table: str, row: tuple[object, ...], store: str = "") -> None:
        with connect(store or STORE_OF[table]) as db:
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


def test_a_case_passes_each_step_at_the_time_its_rows_were_stamped(stores):
    """The cases relay's row of its `CaseReceived`, the referrals worker's inbox row of that
    event, the first published state change of its referrals (by the outbox key: the case
    id). Rows of other cases, other types, or not yet published are not its steps."""
    reader, insert = stores
    at = {n: T0 + timedelta(seconds=n) for n in range(10)}
    insert("cases", ("a", at[0]))
    insert("outbox", ("e-a", CASE_RECEIVED, b"a", at[1]), "cases")
    insert("outbox", ("audit-a", "vn.lienganh.audit.recorded.v1", b"a", at[0]), "cases")
    insert("inbox", ("e-a", at[2]))
    insert("outbox", ("r2-a", REFERRAL_CHANGED, b"a", at[5]), "referrals")
    insert("outbox", ("r1-a", REFERRAL_CHANGED, b"a", at[4]), "referrals")
    insert("outbox", ("r0-a", REFERRAL_CHANGED, b"a", None), "referrals")  # not yet sent
    insert("outbox", ("r-b", REFERRAL_CHANGED, b"b", at[3]), "referrals")
    assert reader.passages({"a"}) == {
        "a": Passage(
            received=at[0].timestamp(),
            published=at[1].timestamp(),
            routed=at[2].timestamp(),
            referred=at[4].timestamp(),
        )
    }


def test_a_case_not_past_every_step_has_no_passage(stores):
    reader, insert = stores
    insert("cases", ("sent", T0))
    insert("outbox", ("e-sent", CASE_RECEIVED, b"sent", T0), "cases")
    insert("inbox", ("e-sent", T0))  # routed, but no referral published yet
    insert("cases", ("waiting", T0))
    insert("outbox", ("e-waiting", CASE_RECEIVED, b"waiting", None), "cases")
    assert reader.passages({"sent", "waiting", "unknown"}) == {}


def test_the_open_loop_splits_each_case_into_its_steps():
    passed = Passage(received=10.1, published=10.2, routed=10.25, referred=10.45)
    steps = step_times({"a": 10.0, "b": 20.0}, {"a": 10.5}, {"a": passed})
    assert list(steps) == list(STEPS)
    expected = [0.1, 0.1, 0.05, 0.2, 0.05]  # offered, each step in turn, then notified
    assert [round(spent, 3) for (spent,) in steps.values()] == expected
