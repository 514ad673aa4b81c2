"""A new SQLite store opened by two processes at once: both end up on WAL, neither fails."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from chassis.db import create_db_engine


def test_a_connection_waits_for_another_writer_to_switch_a_new_file_to_wal(tmp_path: Path):
    """While another process writes a new file in its first (rollback) journal mode, SQLite
    refuses the switch to WAL at once, busy timeout or not: a worker starting beside its
    twin on a fresh store crashed on it. The switch now waits for that write to end."""
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE other_process (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO other_process VALUES (1)")
    writing_ends = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    writing_ends.start()
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            mode = connection.execute(text("PRAGMA journal_mode")).scalar_one()
            rows = connection.execute(text("SELECT count(*) FROM other_process")).scalar_one()
    finally:
        writing_ends.join()
        engine.dispose()
        other.close()
    assert mode == "wal"
    assert rows == 1  # the other process's write is whole: it committed before the switch
