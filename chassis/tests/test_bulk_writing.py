"""`bulk_writing`: a long run of writes checkpoints the SQLite WAL less often, and only then."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from chassis.db import bulk_writing, create_db_engine, transaction

PRAGMA = text("PRAGMA wal_autocheckpoint")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    yield engine
    engine.dispose()


def checkpoint_pages(engine: Engine) -> tuple[int, int]:
    """The WAL pages after which a checked-out connection checkpoints, and which
    connection it was."""
    with engine.connect() as connection:
        return connection.execute(PRAGMA).scalar_one(), id(connection.connection.dbapi_connection)


def test_connections_checkpoint_every_so_many_pages_while_it_lasts_then_as_before(
    engine: Engine,
):
    before, connection = checkpoint_pages(engine)
    with bulk_writing(engine, pages=4321):
        assert checkpoint_pages(engine) == (4321, connection)  # the pooled one, checked out
        with transaction(engine) as session:
            assert session.execute(PRAGMA).scalar_one() == 4321
    assert before == 1000  # SQLite's own
    assert checkpoint_pages(engine) == (1000, connection)


def test_a_connection_gets_its_own_setting_back(engine: Engine):
    with engine.connect() as connection:
        connection.execute(text("PRAGMA wal_autocheckpoint=500"))
    with bulk_writing(engine, pages=4321):
        assert checkpoint_pages(engine)[0] == 4321
    assert checkpoint_pages(engine)[0] == 500


def test_connections_a_forked_process_opens_get_it_too(engine: Engine):
    """A forked importer drops its parent's connections and opens its own."""
    checkpoint_pages(engine)
    with bulk_writing(engine, pages=4321):
        engine.dispose(close=False)
        pages, _ = checkpoint_pages(engine)
    assert pages == 4321
