"""The idle relay sleeps until its database's WAL file is written: a commit by any other
connection or process must wake it, and a missing file or platform falls back to polling."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

from chassis.file_watch import FileWatch
from chassis.outbox import DatabaseChanges

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")


def _wal_database(path: Path) -> sqlite3.Connection:
    """A database in WAL mode, kept open (as a service keeps its own) so its -wal file stays."""
    keeper = sqlite3.connect(path)
    keeper.execute("PRAGMA journal_mode=WAL")
    keeper.execute("CREATE TABLE IF NOT EXISTS t (x)")
    keeper.commit()
    return keeper


def _commit_from_another_connection(path: Path) -> None:
    with closing(sqlite3.connect(path)) as other, other:
        other.execute("INSERT INTO t VALUES (1)")


async def test_a_commit_by_another_connection_wakes_the_watch(tmp_path: Path):
    path = tmp_path / "service.db"
    keeper = _wal_database(path)
    watch = DatabaseChanges(str(path)).watch()
    assert watch is not None
    changed = asyncio.Event()
    watch.attach(asyncio.get_running_loop(), changed.set)
    try:
        assert watch.arm()
        await asyncio.wait_for(changed.wait(), 30)  # arming reports once: it saw nothing yet
        changed.clear()
        _commit_from_another_connection(path)
        await asyncio.wait_for(changed.wait(), 30)
    finally:
        watch.close()
        keeper.close()


async def test_a_burst_of_writes_wakes_the_watch_once_and_the_rest_at_the_next_arm(
    tmp_path: Path,
):
    path = tmp_path / "service.db"
    keeper = _wal_database(path)
    watch = DatabaseChanges(str(path)).watch()
    assert watch is not None
    calls: list[int] = []
    woke = asyncio.Event()
    watch.attach(asyncio.get_running_loop(), lambda: (calls.append(1), woke.set()))
    try:
        assert watch.arm()
        await asyncio.wait_for(woke.wait(), 30)  # arming reports once
        woke.clear()
        calls.clear()
        _commit_from_another_connection(path)
        await asyncio.wait_for(woke.wait(), 30)
        woke.clear()
        for _ in range(5):
            _commit_from_another_connection(path)
        for _ in range(20):  # turns of the loop: each would read what the kernel queued
            await asyncio.sleep(0)
        assert calls == [1]  # one wake-up until the caller arms again, not one a write
        assert watch.arm()
        await asyncio.wait_for(woke.wait(), 30)  # the writes since were kept for it
        assert calls == [1, 1]
    finally:
        watch.close()
        keeper.close()


async def test_a_missing_wal_file_is_not_armed_until_it_exists(tmp_path: Path):
    path = tmp_path / "service.db"
    watch = FileWatch.open(Path(f"{path}-wal"))
    assert watch is not None
    changed = asyncio.Event()
    watch.attach(asyncio.get_running_loop(), changed.set)
    try:
        assert not watch.arm()  # the caller polls meanwhile
        keeper = _wal_database(path)
        assert watch.arm()
        changed.clear()
        _commit_from_another_connection(path)
        await asyncio.wait_for(changed.wait(), 30)
        keeper.close()  # the last connection deletes the -wal file: the watch is gone
        while watch.arm():
            changed.clear()
            await asyncio.wait_for(changed.wait(), 30)
    finally:
        watch.close()


def test_memory_and_other_databases_have_nothing_to_watch():
    assert DatabaseChanges(None).watch() is None
