"""New rows as plain values, written together: one INSERT a table.

A table model made with `model_construct` carries no ORM state: a tenth of the cost of an
instrumented object, which a row nobody reads back before the commit does not need (and
setting an attribute on it afterwards fails, so no change is lost silently). `values_of`
takes its columns; `insert_values` writes many, in order, one executemany a table.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table, insert
from sqlmodel import Session, SQLModel

NewRow = tuple[Table, dict[str, Any]]


def values_of(row: SQLModel) -> NewRow:
    """The row's table and the values its INSERT names."""
    table: Table = row.__table__  # type: ignore[attr-defined]
    values = vars(row)  # a table model keeps every field in its __dict__
    return table, {name: values[name] for name in columns(table)}


def insert_values(session: Session, rows: list[NewRow]) -> None:
    """Insert `rows`, one statement a table, tables in the order they first appear."""
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, values in rows:
        by_table.setdefault(table, []).append(values)
    if by_table:
        connection = session.connection()
        for table, values_list in by_table.items():
            connection.execute(insert(table), values_list)


@cache
def columns(table: Table) -> list[str]:
    """Columns an INSERT names: all but a serial id, which the database assigns."""
    return [column.key for column in table.columns if column is not table.autoincrement_column]
