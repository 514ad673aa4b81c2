"""`bulk_writing`: a long run of writes checkpoints the SQLite WAL less often and caches more
pages, and only while it lasts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from chassis.db import bulk_writing, checkpoint, create_db_engine, transaction

SQLITES_OWN = (1000, -2000)  # checkpoint every 1,000 pages; a 2 MiB cache


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    yield engine
    engine.dispose()


def settings_of(connection: Connection) -> tuple[int, int]:
    return (
        connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one(),
        connection.execute(text("PRAGMA cache_size")).scalar_one(),
    )


def checked_out(engine: Engine) -> tuple[tuple[int, int], int]:
    """The settings of a checked-out connection, and which connection it was."""
    with engine.connect() as connection:
        return settings_of(connection), id(connection.connection.dbapi_connection)


def test_connections_have_the_bulk_settings_while_it_lasts_then_their_own(engine: Engine):
    before, connection = checked_out(engine)
    with bulk_writing(engine, pages=4321, cache_kib=8192):
        assert checked_out(engine) == ((4321, -8192), connection)  # the pooled one
        with transaction(engine) as session:
            assert settings_of(session.connection()) == (4321, -8192)
    assert before == SQLITES_OWN
    assert checked_out(engine) == (SQLITES_OWN, connection)


def test_a_connection_gets_its_own_settings_back(engine: Engine):
    with engine.connect() as connection:
        connection.execute(text("PRAGMA wal_autocheckpoint=500"))
        connection.execute(text("PRAGMA cache_size=-1000"))
    with bulk_writing(engine, pages=4321, cache_kib=8192):
        assert checked_out(engine)[0] == (4321, -8192)
    assert checked_out(engine)[0] == (500, -1000)


def test_connections_a_forked_process_opens_get_them_too(engine: Engine):
    """A forked importer drops its parent's connections and opens its own."""
    checked_out(engine)
    with bulk_writing(engine, pages=4321, cache_kib=8192):
        engine.dispose(close=False)
        settings, _ = checked_out(engine)
    assert settings == (4321, -8192)


def test_with_its_own_checkpoints_off_a_writer_checkpoints_when_it_says(
    engine: Engine, tmp_path: Path
):
    database = tmp_path / "bulk.db"
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (body TEXT)"))
    checkpoint(engine)
    size = database.stat().st_size
    with bulk_writing(engine, pages=0, cache_kib=8192):
        with transaction(engine) as session:
            for _ in range(100):
                session.execute(text("INSERT INTO notes VALUES (:body)"), {"body": "x" * 4000})
        assert database.stat().st_size == size  # all of it still in the WAL
        checkpoint(engine)
    assert database.stat().st_size > size + 100 * 4000
