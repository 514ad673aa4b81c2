"""Many rows in one executemany (`chassis.bulk_insert.insert_many`): on SQLite as tuples the
driver takes, stored exactly as SQLAlchemy's own executemany stores them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Enum,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
)
from sqlalchemy.engine import Engine

from chassis.bulk_insert import insert_many
from chassis.timestamps import UtcDateTime


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


def _parcels(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("label", String, nullable=True),
        Column("fragile", Boolean, nullable=False),
        Column("colour", Enum(Colour), nullable=False),
        Column("tags", JSON, nullable=False),
        Column("payload", LargeBinary, nullable=True),
        Column("sent_at", UtcDateTime, nullable=True),
        Column("key", String, nullable=True),  # a keyword as a column name
    )


ROWS: list[dict[str, Any]] = [
    {
        "label": "Hộp sữa",
        "fragile": True,
        "colour": Colour.RED,
        "tags": ["a", {"b": 1}],
        "payload": b"\x00\xff",
        "sent_at": datetime(2026, 12, 4, 8, 30, 1, 250, tzinfo=timezone(timedelta(hours=7))),
        "key": "k1",
    },
    {
        "label": None,
        "fragile": False,
        "colour": Colour.BLUE,
        "tags": [],
        "payload": None,
        "sent_at": None,
        "key": None,
    },
]


@pytest.fixture
def engine() -> Engine:
    return create_engine("sqlite://")


def _raw(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        # The stored values as they are, no result processing; `table` is a name of this file.
        return list(connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id"))  # noqa: S608


def test_rows_are_stored_as_sqlalchemys_executemany_stores_them(engine: Engine) -> None:
    metadata = MetaData()
    ours, theirs = _parcels(metadata, "ours"), _parcels(metadata, "theirs")
    metadata.create_all(engine)
    with engine.begin() as connection:
        insert_many(connection, ours, ROWS)
        connection.execute(insert(theirs), ROWS)

    stored = _raw(engine, "ours")
    assert stored == _raw(engine, "theirs")
    assert [row[0] for row in stored] == [1, 2]  # the database numbered them, in order
    assert stored[0][6] == "2026-12-04 01:30:01.000250"  # the UTC instant, as SQLAlchemy writes it


def test_on_sqlite_the_driver_gets_one_executemany_of_tuples(engine: Engine) -> None:
    metadata = MetaData()
    table = _parcels(metadata, "parcels")
    metadata.create_all(engine)
    calls: list[tuple[bool, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def seen(_conn, _cursor, _statement, parameters, _context, executemany):  # type: ignore[no-untyped-def]
        calls.append((executemany, parameters))

    with engine.begin() as connection:
        insert_many(connection, table, ROWS * 50)
    assert len(calls) == 1
    executemany, parameters = calls[0]
    assert executemany and len(parameters) == 100
    assert all(not isinstance(values, dict) for values in parameters)


def test_a_column_default_the_rows_do_not_hold_is_still_applied(engine: Engine) -> None:
    metadata = MetaData()
    table = Table(
        "stamped",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String, nullable=False),
        Column("source", String, nullable=False, default="import"),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        insert_many(connection, table, [{"name": "a"}, {"name": "b"}])
    assert _raw(engine, "stamped") == [(1, "a", "import"), (2, "b", "import")]


def test_a_naive_timestamp_is_refused_as_sqlalchemy_refuses_it(engine: Engine) -> None:
    metadata = MetaData()
    table = _parcels(metadata, "parcels")
    metadata.create_all(engine)
    naive = {**ROWS[1], "sent_at": datetime(2026, 12, 4, 8, 30)}
    with pytest.raises(ValueError, match="naive"), engine.begin() as connection:
        insert_many(connection, table, [ROWS[0], naive])
    assert _raw(engine, "parcels") == []  # nothing half-written


def test_no_rows_is_no_statement(engine: Engine) -> None:
    metadata = MetaData()
    table = _parcels(metadata, "parcels")
    metadata.create_all(engine)
    with engine.begin() as connection:
        insert_many(connection, table, [])
    assert _raw(engine, "parcels") == []


def test_each_row_keeps_its_own_instant(engine: Engine) -> None:
    metadata = MetaData()
    table = _parcels(metadata, "parcels")
    metadata.create_all(engine)
    moments = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s) for s in range(3)]
    with engine.begin() as connection:
        insert_many(connection, table, [{**ROWS[1], "sent_at": m} for m in moments])
    assert [row[6] for row in _raw(engine, "parcels")] == [
        "2026-01-01 00:00:00.000000",
        "2026-01-01 00:00:01.000000",
        "2026-01-01 00:00:02.000000",
    ]
