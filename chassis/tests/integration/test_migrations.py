"""Every service's store migrates, on SQLite and PostgreSQL: a store the last release made
(`create_all`, holding data) reaches head with its data; an empty one reaches exactly the
declared schema; a second upgrade does nothing; processes starting together do not race.

The services are imported by name: the chassis imports none of them, its tests only run
each one's revisions through the one runner."""

from __future__ import annotations

import importlib
import multiprocessing
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Column, MetaData, column, event, inspect, select, table, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from chassis.db import create_db_engine, create_tables
from chassis.migrations import (
    alembic_config,
    current_revision,
    head_revision,
    metadata_of,
    package_of,
    upgrade,
    version_table,
)
from chassis.store_version import declared_head, is_current

SERVICES = ("cases", "referrals", "agencies", "notifications", "reporting")
ROWS = 3


@pytest.fixture(params=SERVICES)
def tables(request: pytest.FixtureRequest) -> list[type[SQLModel]]:
    tables: list[type[SQLModel]] = importlib.import_module(f"{request.param}.migrations").TABLES
    return tables


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


def make_release_store(engine: Engine, tables: list[type[SQLModel]]) -> None:
    """The store as the last release without migrations left it: `create_tables` at start.
    That release's models were the baseline's; today's have moved on by the revisions after
    it, so those are walked back (their downgrades) and the version table dropped again."""
    create_tables(engine, tables)
    with engine.begin() as connection:
        config = alembic_config(tables, connection)
        baseline = ScriptDirectory.from_config(config).get_base()
        assert baseline is not None
        if baseline != head_revision(tables):
            command.stamp(config, "head")
            command.downgrade(config, baseline)
        connection.execute(text(f"DROP TABLE IF EXISTS {version_table(package_of(tables))}"))


def sample(column: Column[Any], row: int) -> object:
    if isinstance(column.type, JSON):
        return {"row": row, "note": "Trẻ em"}
    kind = column.type.python_type
    if kind is bool:
        return row % 2 == 0
    if kind is int:
        return row + 1
    if kind is str:
        length = getattr(column.type, "length", None) or 64
        return f"{row}{column.name}"[:length]
    if kind is datetime:
        return datetime(2025, 3, 1 + row, 8, 30, tzinfo=UTC)
    if kind is date:
        return date(2025, 3, 1 + row)
    if kind is bytes:
        return f"{column.name}-{row}".encode()
    raise AssertionError(f"no sample for {column} ({kind})")


def reflected(connection: Connection, names: list[str]) -> MetaData:
    metadata = MetaData()
    metadata.reflect(connection, only=names)
    return metadata


def fill(engine: Engine, names: list[str]) -> None:
    """ROWS rows in every table, built from the columns the store has (not the models)."""
    with engine.begin() as connection:
        for table in reflected(connection, names).sorted_tables:
            rows = [{c.name: sample(c, row) for c in table.columns} for row in range(ROWS)]
            connection.execute(table.insert(), rows)


def read_all(engine: Engine, names: list[str]) -> dict[str, list[dict[str, object]]]:
    with engine.connect() as connection:
        return {
            table.name: [
                dict(row._mapping)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in reflected(connection, names).sorted_tables
        }


def schema_differences(engine: Engine, tables: list[type[SQLModel]]) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "version_table": version_table(package_of(tables))},
        )
        return list(compare_metadata(context, metadata_of(tables)))


def test_a_store_of_the_last_release_reaches_head_with_its_data(engine, tables) -> None:
    make_release_store(engine, tables)
    released = set(inspect(engine).get_table_names())  # later revisions may add tables
    names = [name for name in metadata_of(tables).tables if name in released]
    fill(engine, names)
    before = read_all(engine, names)
    assert all(len(rows) == ROWS for rows in before.values()), before

    upgrade(engine, tables)

    assert current_revision(engine, tables) == head_revision(tables)
    after = read_all(engine, names)
    kept = {
        name: [{column: row[column] for column in rows[0]} for row in after[name]]
        for name, rows in before.items()
    }
    assert kept == before
    assert schema_differences(engine, tables) == []


def test_an_empty_store_migrates_to_exactly_the_declared_schema(engine, tables) -> None:
    upgrade(engine, tables)

    assert current_revision(engine, tables) == head_revision(tables)
    assert schema_differences(engine, tables) == []


def test_a_store_is_current_only_at_the_head_alembic_names(engine, tables) -> None:
    """`chassis.store_version` decides without Alembic whether a start must migrate."""
    package = package_of(tables)
    assert declared_head(package) == head_revision(tables)
    assert not is_current(engine, tables)  # empty: no version table

    upgrade(engine, tables)
    assert is_current(engine, tables)

    with engine.begin() as connection:
        stamp = table(version_table(package), column("version_num"))
        connection.execute(stamp.update().values(version_num="older"))
    assert not is_current(engine, tables)


def test_migrating_a_store_at_head_again_changes_nothing(engine, tables) -> None:
    upgrade(engine, tables)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2].lstrip()))

    upgrade(engine, tables)

    writes = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")
    assert [s for s in statements if s.upper().startswith(writes)] == []
    assert current_revision(engine, tables) == head_revision(tables)


def _upgrade_in_child(url: str, service: str) -> None:
    engine = create_db_engine(url)
    upgrade(engine, importlib.import_module(f"{service}.migrations").TABLES)
    engine.dispose()


@pytest.mark.parametrize("made_by", ["nothing", "the last release"])
def test_processes_starting_together_migrate_once(database_url: str, made_by: str) -> None:
    tables = importlib.import_module("notifications.migrations").TABLES  # has two revisions
    engine = create_db_engine(database_url)
    if made_by == "the last release":
        make_release_store(engine, tables)
    engine.dispose()  # no connection crosses the fork
    forked = multiprocessing.get_context("fork")
    children = [
        forked.Process(target=_upgrade_in_child, args=(database_url, "notifications"))
        for _ in range(4)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0] * len(children)
    engine = create_db_engine(database_url)
    assert current_revision(engine, tables) == head_revision(tables)
    assert schema_differences(engine, tables) == []
    engine.dispose()
