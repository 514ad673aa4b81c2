"""Many new rows of one table in one `executemany`: `insert_many`.

SQLAlchemy's own executemany (`connection.execute(insert(table), rows)`) builds a parameter
dictionary for each row and converts it value by value; for a bulk writer on SQLite that
cost as much as SQLite's inserting the rows. On a driver taking positional parameters
(SQLite's), `insert_many` hands it tuples instead, converted by the same column types'
processors, through a statement compiled once per table and set of columns. Elsewhere
(PostgreSQL, whose driver takes named parameters and where SQLAlchemy batches the rows
into multi-row VALUES) it is SQLAlchemy's own executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Table, insert


def insert_many(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT `rows` (each with the same keys: column keys) into `table`, in order."""
    if not rows:
        return
    plan = _positional_plan(connection.dialect, table, tuple(rows[0]))
    if plan is None:
        connection.execute(insert(table), list(rows))
        return
    connection.exec_driver_sql(plan.sql, [plan.parameters(row) for row in rows])


@dataclass(frozen=True)
class _PositionalPlan:
    """A compiled INSERT, and how to lay a row's values out as its parameters."""

    sql: str
    values: Callable[[dict[str, Any]], tuple[Any, ...]]  # a row's values, in statement order
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, column type's)

    def parameters(self, row: dict[str, Any]) -> tuple[Any, ...]:
        if not self.processors:
            return self.values(row)
        values = list(self.values(row))
        for position, process in self.processors:
            values[position] = process(values[position])
        return tuple(values)


@lru_cache(maxsize=256)
def _positional_plan(
    dialect: Dialect, table: Table, keys: tuple[str, ...]
) -> _PositionalPlan | None:
    """None when the driver takes named parameters, or the statement would need values
    the rows do not hold (a column's Python-side default): SQLAlchemy's path handles those."""
    if not dialect.positional:
        return None
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    order = tuple(compiled.positiontup or ())
    if sorted(order) != sorted(keys):
        return None
    processors = []
    for position, key in enumerate(order):
        process = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((position, process))
    values = itemgetter(*order) if len(order) > 1 else lambda row: (row[order[0]],)
    return _PositionalPlan(compiled.string, values, tuple(processors))
