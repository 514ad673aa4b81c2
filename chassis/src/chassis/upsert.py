"""Insert a row, or overwrite the one with the same primary key, in one statement.

`session.merge` first looks the key up: a query for every row, even when (as for most facts
a consumer records) no such row exists yet. One `INSERT … ON CONFLICT DO UPDATE` (SQLite
and PostgreSQL) writes it without that query. It runs at once, inside the caller's
transaction, so a later lookup in the same transaction finds the row and a rolled-back
savepoint takes it back. Every write of such a table should go through here: an ORM object
added for the same key would collide at the flush.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Table, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, SQLModel


def upsert(session: Session, row: SQLModel) -> None:
    mapper = inspect(type(row))
    values = {column.key: getattr(row, column.key) for column in mapper.column_attrs}
    statement = _statement(mapper.local_table, session.get_bind().dialect.name)
    session.connection().execute(statement, values)
    # An object of this key the session already holds is now older than the row.
    held = session.identity_map.get(mapper.identity_key_from_instance(row))
    if held is not None:
        session.expire(held)


@cache
def _statement(table: Table, dialect_name: str) -> Insert:
    # Built once a table: the values are bound at each execution.
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    statement = dialect.insert(table)
    keys = [column.name for column in table.primary_key]
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys},
    )
