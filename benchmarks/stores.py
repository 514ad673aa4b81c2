"""What a benchmark reads from the system's stores: when its cases were received, when each
was first notified. SQLite files (the local system's default) or PostgreSQL databases.

On SQLite the reads follow `rowid`, so a store grown to millions of rows (`--stored`) is
read only where the run added rows. PostgreSQL has no such column; its stores start empty
in a run, and are read by time.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy import make_url

# Notifications are made after their case was received; a notifications worker's clock may
# trail the cases API's by a little.
_CLOCK_SLACK = timedelta(seconds=5)


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
