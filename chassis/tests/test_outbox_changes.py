"""The idle relay reads SQLite's `data_version` instead of querying the outbox: it must still
see every commit, from any connection or process, and fall back to querying elsewhere."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import create_engine

from chassis.outbox import DatabaseChanges


def _commit_from_another_connection(path: Path) -> None:
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE IF NOT EXISTS t (x)")
        other.execute("INSERT INTO t VALUES (1)")


def test_a_drained_outbox_is_not_queried_again_until_someone_commits(tmp_path: Path):
    path = tmp_path / "service.db"
    _commit_from_another_connection(path)
    with sqlite3.connect(path) as wal:
        wal.execute("PRAGMA journal_mode=WAL")
    changes = DatabaseChanges(str(path))
    assert changes.maybe_changed()  # never looked: query
    changes.drained()
    assert not changes.maybe_changed()
    _commit_from_another_connection(path)
    assert changes.maybe_changed()
    assert changes.maybe_changed()  # still, until a query finds the outbox drained
    changes.drained()
    assert not changes.maybe_changed()


def test_a_commit_racing_the_query_is_seen_next_time(tmp_path: Path):
    path = tmp_path / "service.db"
    _commit_from_another_connection(path)
    changes = DatabaseChanges(str(path))
    assert changes.maybe_changed()  # the version is read here, before the query
    _commit_from_another_connection(path)  # lands after the query looked
    changes.drained()
    assert changes.maybe_changed()


def test_the_relay_queries_anyway_after_the_recheck_interval(tmp_path: Path):
    path = tmp_path / "service.db"
    _commit_from_another_connection(path)
    changes = DatabaseChanges(str(path), recheck_s=0.0)
    changes.maybe_changed()
    changes.drained()
    assert changes.maybe_changed()


def test_other_databases_and_memory_are_always_queried(tmp_path: Path):
    memory = DatabaseChanges.of(create_engine("sqlite://"))
    postgres = DatabaseChanges.of(create_engine("postgresql+psycopg://u@h/db"))
    for changes in (memory, postgres):
        changes.drained()
        assert changes.maybe_changed()
