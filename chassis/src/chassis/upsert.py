"""Insert a row, or overwrite the one with the same primary key, in one statement.

`session.merge` first looks the key up: a query for every row, even when (as for most facts
a consumer records) no such row exists yet. One `INSERT … ON CONFLICT DO UPDATE` (SQLite
and PostgreSQL) writes it without that query; `… DO NOTHING` keeps the row already there.

`upsert` runs at once, inside the caller's transaction, so a later lookup in the same
transaction finds the row and a rolled-back savepoint takes it back. `upsert_values` writes
many rows as values, one statement a table and kind: what a consumer's batch upserts goes in
at the end of the batch (`UnitOfWork.upsert`), for a fraction of one statement a row. Every
write of such a table should go through here: an ORM object added for the same key would
collide at the flush.

A row read and changed (`chassis.rows.KeptRow`) overwrites only the columns it changed, as
the ORM's `UPDATE` of a loaded object did: another writer's change to its other columns,
committed since the read (a merge, from another partition), is not overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, SQLModel

# What an upsert does to a row of the same primary key: True, overwrite it; False, keep it
# (and drop this one); a set of columns, overwrite only those.
Overwrite = bool | frozenset[str]
# A row to upsert: its table, its values by column key, and what it overwrites.
Upsert = tuple[Table, dict[str, Any], Overwrite]


def upsert(session: Session, row: SQLModel) -> None:
    mapper = inspect(type(row))
    values = {column.key: getattr(row, column.key) for column in mapper.column_attrs}
    upsert_values(session, [(mapper.local_table, values, True)])
    # An object of this key the session already holds is now older than the row.
    held = session.identity_map.get(mapper.identity_key_from_instance(row))
    if held is not None:
        session.expire(held)


def upsert_values(session: Session, rows: Sequence[Upsert]) -> None:
    """Write `rows` so that each key ends as if they were written in order, in one statement
    a table and kind: of several rows of one key, the last that overwrites all wins, else
    the first, with the columns any later one overwrites taken from the latest of those."""
    kept: dict[Table, dict[tuple[Any, ...], tuple[dict[str, Any], Overwrite]]] = {}
    for table, values, overwrite in rows:
        by_key = kept.setdefault(table, {})
        key = tuple(values[column.key] for column in table.primary_key)
        earlier = by_key.get(key)
        by_key[key] = (values, overwrite) if earlier is None else _after(earlier, values, overwrite)
    if not kept:
        return
    by_kind: dict[tuple[Table, Overwrite], list[dict[str, Any]]] = {}
    for table, by_key in kept.items():
        for values, overwrite in by_key.values():
            by_kind.setdefault((table, overwrite), []).append(values)
    connection = session.connection()
    dialect = connection.dialect.name
    for (table, overwrite), values_list in by_kind.items():
        connection.execute(_statement(table, dialect, overwrite), values_list)


def _after(
    earlier: tuple[dict[str, Any], Overwrite], values: dict[str, Any], overwrite: Overwrite
) -> tuple[dict[str, Any], Overwrite]:
    """One upsert standing for `earlier` followed by this one, for the same key."""
    if overwrite is True:
        return values, True
    if overwrite is False:
        return earlier  # the row is there once `earlier` is written: this one changes nothing
    first, before = earlier
    merged = {**first, **{name: values[name] for name in overwrite}}
    return merged, True if before is True else (before or frozenset()) | overwrite


@cache
def _statement(table: Table, dialect_name: str, overwrite: Overwrite) -> Insert:
    # Built once a table and kind: the values are bound at each execution.
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    statement = dialect.insert(table)
    keys = [column.name for column in table.primary_key]
    columns = [c.name for c in table.columns if c.name not in keys]
    if overwrite is not True:
        columns = [name for name in columns if overwrite and name in overwrite]
    if not columns:
        return statement.on_conflict_do_nothing(index_elements=keys)
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in columns}
    )
