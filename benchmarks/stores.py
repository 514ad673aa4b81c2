"""What a benchmark reads from the system's stores: when its cases were received, when each
was first notified, and when each passed the steps between. SQLite files (the local
system's default) or PostgreSQL databases.

On SQLite the reads follow `rowid`, so a store grown to millions of rows (`--stored`) is
read only where the run added rows. PostgreSQL has no such column; its stores start empty
in a run, and are read by time.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy import make_url

# Notifications are made after their case was received; a notifications worker's clock may
# trail the cases API's by a little.
_CLOCK_SLACK = timedelta(seconds=5)
CASE_RECEIVED = "vn.lienganh.case.received.v1"
REFERRAL_CHANGED = "vn.lienganh.referral.state_changed.v1"
_CHUNK = 500  # ids a query: SQLite's limit on bound values is far above


@dataclass(frozen=True)
class Passage:
    """When one case passed each step on its way to an officer (epoch seconds). A relay
    marks a row published once the broker has it, in a transaction of its own: a little
    after consumers may already read it."""

    received: float  # the cases API stamped it
    published: float  # its `CaseReceived` marked published by the cases relay
    routed: float  # the referrals worker applied that event (its inbox row)
    referred: float  # the first of its referrals' state changes marked published


class CaseStores(Protocol):
    def mark(self) -> Any:
        """A mark of the cases store now: `received_at(after=mark)` gives the later cases."""
        ...

    def received_at(self, after: Any = None) -> dict[str, float]:
        """Case id → when it was received (epoch seconds), for cases after `after`."""
        ...

    def first_notifications(self, case_ids: set[str], timeout_s: float) -> dict[str, float]:
        """Wait until every case has a notification (or the timeout); case id → its first."""
        ...

    def passages(self, case_ids: set[str]) -> dict[str, Passage]:
        """Case id → when it passed each step, for the cases that passed them all."""
        ...


def stamp(value: str | datetime) -> float:
    """Epoch seconds of a stored time: SQLite's text, PostgreSQL's (UTC) timestamp."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


class SqliteStores:
    """The stores as `<data_dir>/<instance>.db` files."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def mark(self) -> int:
        with closing(sqlite3.connect(self.data_dir / "cases.db")) as cases:
            return cases.execute("select coalesce(max(rowid), 0) from cases").fetchone()[0]

    def received_at(self, after: Any = None) -> dict[str, float]:
        with closing(sqlite3.connect(self.data_dir / "cases.db")) as cases:
            query = "select id, received_at from cases where rowid > ?"
            return {c: stamp(r) for c, r in cases.execute(query, (after or 0,))}

    def first_notifications(self, case_ids: set[str], timeout_s: float) -> dict[str, float]:
        """Reads only the rows added since its last look: a grown store holds millions."""
        seen = 0
        query = "select rowid, case_id, created_at from notifications where rowid > ?"
        with closing(sqlite3.connect(self.data_dir / "notifications.db")) as notes:

            def new_rows() -> list[tuple[str, str]]:
                nonlocal seen
                rows = notes.execute(query, (seen,)).fetchall()
                seen = max((rowid for rowid, _, _ in rows), default=seen)
                return [(case_id, created) for _, case_id, created in rows]

            return _first_of(new_rows, case_ids, timeout_s)

    def passages(self, case_ids: set[str]) -> dict[str, Passage]:
        def reader(instance: str) -> Any:
            return closing(sqlite3.connect(self.data_dir / f"{instance}.db"))

        return _passages(reader, case_ids, mark="?")


class PostgresStores:
    """The stores as PostgreSQL databases, by instance name (`cases`, `notifications`)."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls

    def mark(self) -> datetime:
        with self._connect("cases") as cases:
            row = cases.execute("select max(received_at) from cases").fetchone()
        return row[0] if row and row[0] else datetime(1970, 1, 1, tzinfo=UTC)

    def received_at(self, after: Any = None) -> dict[str, float]:
        since = after or datetime(1970, 1, 1, tzinfo=UTC)
        with self._connect("cases") as cases:
            rows = cases.execute(
                "select id, received_at from cases where received_at > %s", (since,)
            )
            return {c: stamp(r) for c, r in rows}

    def first_notifications(self, case_ids: set[str], timeout_s: float) -> dict[str, float]:
        """Reads the notifications made since the earliest of these cases was received."""
        with self._connect("cases") as cases:
            row = cases.execute(
                "select min(received_at) from cases where id = any(%s)", (list(case_ids),)
            ).fetchone()
        since = (row[0] if row and row[0] else datetime.now(UTC)) - _CLOCK_SLACK
        query = "select case_id, created_at from notifications where created_at >= %s"
        with self._connect("notifications") as notes:
            return _first_of(lambda: notes.execute(query, (since,)).fetchall(), case_ids, timeout_s)

    def passages(self, case_ids: set[str]) -> dict[str, Passage]:
        return _passages(self._connect, case_ids, mark="%s")

    @contextmanager
    def _connect(self, instance: str) -> Iterator[psycopg.Connection]:
        url = make_url(self.urls[instance])
        with psycopg.connect(
            host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
        ) as connection:
            yield connection


def _first_of(
    rows: Any, case_ids: set[str], timeout_s: float, poll_s: float = 0.5
) -> dict[str, float]:
    """Polls `rows()` (case id, created at) until every one of `case_ids` has a row."""
    first: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        for case_id, created in rows():
            if case_id in case_ids:
                at = stamp(created)
                first[case_id] = min(first.get(case_id, at), at)
        if len(first) >= len(case_ids) or time.monotonic() > deadline:
            return first
        time.sleep(poll_s)


def _passages(connect: Any, case_ids: set[str], mark: str) -> dict[str, Passage]:
    """The same four reads on either database: `connect(instance)` opens one store, `mark`
    is its driver's placeholder. Outbox keys are the case ids, as bytes."""
    ids = sorted(case_ids)
    with connect("cases") as cases:
        received = dict(
            _chunked(cases, "select id, received_at from cases where id in ({marks})", ids, mark)
        )
        sent = {
            _text(key): (event_id, published)
            for key, event_id, published in _chunked(
                cases,
                "select key, event_id, published_at from outbox where published_at is not null"
                " and event_type = {one} and key in ({marks})",
                [case_id.encode() for case_id in ids],
                mark,
                CASE_RECEIVED,
            )
        }
    with connect("referrals") as referrals:
        applied = dict(
            _chunked(
                referrals,
                "select event_id, processed_at from inbox where event_id in ({marks})",
                [event_id for event_id, _ in sent.values()],
                mark,
            )
        )
        referred = {
            _text(key): published
            for key, published in _chunked(
                referrals,
                "select key, min(published_at) from outbox where published_at is not null"
                " and event_type = {one} and key in ({marks}) group by key",
                [case_id.encode() for case_id in ids],
                mark,
                REFERRAL_CHANGED,
            )
        }
    return {
        case_id: Passage(
            stamp(received[case_id]),
            stamp(sent[case_id][1]),
            stamp(applied[sent[case_id][0]]),
            stamp(referred[case_id]),
        )
        for case_id in ids
        if case_id in received
        and case_id in sent
        and sent[case_id][0] in applied
        and case_id in referred
    }


def _chunked(
    connection: Any, query: str, values: list[Any], mark: str, *first_values: Any
) -> list[tuple[Any, ...]]:
    """`query` run for `values` a chunk at a time, its `{marks}` their placeholders (after
    those of `first_values`, one `{one}` each)."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        sql = query.format(one=mark, marks=", ".join([mark] * len(chunk)))
        rows += connection.execute(sql, [*first_values, *chunk]).fetchall()
    return rows


def _text(key: bytes | memoryview | str) -> str:
    return key if isinstance(key, str) else bytes(key).decode()
