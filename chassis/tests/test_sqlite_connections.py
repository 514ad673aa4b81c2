"""What every SQLite connection of a service is opened with."""

from __future__ import annotations

from pathlib import Path

from chassis.db import create_db_engine


def test_a_connection_writes_ahead_and_keeps_a_small_page_cache(tmp_path: Path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL: the outbox makes it safe
            # KiB when negative: a dozen connections a busy process holds stay ~12 MiB.
            assert pragma("PRAGMA cache_size").scalar() == -1024
    finally:
        engine.dispose()
