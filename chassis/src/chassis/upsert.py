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
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, SQLModel

# A row to upsert: its table, its values by column key, and whether it overwrites a row of
# the same primary key (else that row is kept and this one dropped).
Upsert = tuple[Table, dict[str, Any], bool]


def upsert(session: Session, row: SQLModel) -> None:
    mapper = inspect(type(row))
    values = {column.key: getattr(row, column.key) for column in mapper.column_attrs}
    upsert_values(session, [(mapper.local_table, values, True)])
    # An object of this key the session already holds is now older than the row.
    held = session.identity_map.get(mapper.identity_key_from_instance(row))
    if held is not None:
        session.expire(held)


def upsert_values(session: Session, rows: Sequence[Upsert]) -> None:
    """Write `rows` in order as far as it shows: of several rows of one key, the last one
    that overwrites wins, else the first. One statement a table and kind."""
    kept: dict[tuple[Table, bool], dict[tuple[Any, ...], dict[str, Any]]] = {}
    for table, values, overwrite in rows:
        by_key = kept.setdefault((table, overwrite), {})
        key = tuple(values[column.key] for column in table.primary_key)
        if overwrite or key not in by_key:
            by_key[key] = values
    if not kept:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    # The kinds' order does not matter: a key both write ends overwritten either way.
    for (table, overwrite), by_key in kept.items():
        connection.execute(_statement(table, dialect, overwrite), list(by_key.values()))


@cache
def _statement(table: Table, dialect_name: str, overwrite: bool) -> Insert:
    # Built once a table and kind: the values are bound at each execution.
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    statement = dialect.insert(table)
    keys = [column.name for column in table.primary_key]
    if not overwrite:
        return statement.on_conflict_do_nothing(index_elements=keys)
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys},
    )
