"""New rows as plain values, written together: one INSERT a table.

`plain_row` makes a new row as its values under the table model's attribute names, without
ORM state: a fraction of the cost of an instrumented object (or even of `model_construct`),
which a row nobody reads back before the commit does not need. Setting an attribute on it
afterwards fails, so no change is lost silently. `values_of` takes its columns;
`insert_values` writes many, in order, one executemany a table.

`kept_row` and `read_rows` are the same for a row read, changed and written back (an
upsert, `chassis.upsert`): its columns may be set, nothing else, and it knows which it
changed (for a new row: which it was given), the only ones its upsert overwrites.
"""

from __future__ import annotations

from collections.abc import Collection
from copy import copy
from functools import cache, partial
from itertools import islice
from typing import Any, TypeVar, cast

from pydantic_core import PydanticUndefined
from sqlalchemy import Table, select
from sqlmodel import Session, SQLModel

from chassis.bulk_insert import insert_many

NewRow = tuple[Table, dict[str, Any]]
ModelT = TypeVar("ModelT", bound=SQLModel)


class PlainRow:
    """A new row of a table model as values: read like the model, never changed."""

    __slots__ = ("__table__", "_values")

    def __init__(self, table: Table, values: dict[str, Any]) -> None:
        object.__setattr__(self, "__table__", table)
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a plain row cannot change ({name}): it is only inserted")

    def __repr__(self) -> str:
        return f"PlainRow({self.__table__.name}, {self._values!r})"


class KeptRow(PlainRow):
    """A row of a table model as values, read to be changed and written back: its columns
    may be set, nothing else (a misspelt one fails instead of being lost)."""

    __slots__ = ("_changed",)

    def __init__(self, table: Table, values: dict[str, Any], given: Collection[str] = ()) -> None:
        super().__init__(table, values)
        # Not the key: an upsert never changes it, and rows of one table then share a kind.
        keys = {column.key for column in table.primary_key}
        object.__setattr__(self, "_changed", set(given) - keys)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._values:
            raise AttributeError(f"{self.__table__.name} has no column {name}")
        if self._values[name] != value:
            self._changed.add(name)
        self._values[name] = value

    def changed(self) -> frozenset[str]:
        """The columns set to another value since it was read, or given when it was made."""
        return frozenset(self._changed)


def plain_row(model: type[ModelT], **values: Any) -> ModelT:
    """A new row of `model` with the model's defaults, typed as the model. Missing required
    fields are refused here, not by the INSERT."""
    return cast(ModelT, PlainRow(model.__table__, _new_values(model, values)))  # type: ignore[attr-defined]


def kept_row(model: type[ModelT], **values: Any) -> ModelT:
    """`plain_row` whose columns may then be set, for a row to upsert once changed. If its
    key is taken by then, the upsert overwrites only the columns given or set."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return cast(ModelT, KeptRow(table, _new_values(model, values), given=values))


def read_rows(session: Session, model: type[ModelT], keys: Collection[Any]) -> dict[Any, ModelT]:
    """The rows of `model` (a one-column primary key) with these keys, as `KeptRow`s by key,
    read in one query a few hundred keys."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    (key_column,) = table.primary_key.columns
    found: dict[Any, ModelT] = {}
    remaining = iter(keys)
    while chunk := list(islice(remaining, _CHUNK)):
        query = select(table).where(key_column.in_(chunk))
        for row in session.connection().execute(query):
            values = dict(row._mapping)
            found[values[key_column.key]] = cast(ModelT, KeptRow(table, values))
    return found


_CHUNK = 500  # keys a query, well under any database's limit on bound parameters


def _new_values(model: type[SQLModel], values: dict[str, Any]) -> dict[str, Any]:
    defaults, factories, required = _defaults(model)
    missing = required - values.keys()
    if missing:
        raise TypeError(f"{model.__name__} needs {sorted(missing)}")
    row = {**defaults, **values}
    for name, factory in factories.items():
        if name not in values:
            row[name] = factory()
    return row


@cache
def _defaults(
    model: type[SQLModel],
) -> tuple[dict[str, Any], dict[str, Any], frozenset[str]]:
    """The model's plain defaults, its default factories and its required fields."""
    defaults: dict[str, Any] = {}
    factories: dict[str, Any] = {}
    required: set[str] = set()
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            factories[name] = field.default_factory
        elif isinstance(field.default, list | dict | set):  # a row of its own, not shared
            factories[name] = partial(copy, field.default)
        elif field.default is PydanticUndefined:
            required.add(name)
        else:
            defaults[name] = field.default
    return defaults, factories, frozenset(required)


def values_of(row: SQLModel | PlainRow) -> NewRow:
    """The row's table and the values its INSERT names."""
    table: Table = row.__table__  # type: ignore[union-attr]
    # A table model keeps every field in its __dict__; a plain row in its values.
    values = row._values if isinstance(row, PlainRow) else vars(row)
    return table, {name: values[name] for name in columns(table)}


def insert_values(session: Session, rows: list[NewRow]) -> None:
    """Insert `rows`, one statement a table, tables in the order they first appear."""
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, values in rows:
        by_table.setdefault(table, []).append(values)
    if by_table:
        connection = session.connection()
        for table, values_list in by_table.items():
            insert_many(connection, table, values_list)


@cache
def columns(table: Table) -> list[str]:
    """Columns an INSERT names: all but a serial id, which the database assigns."""
    return [column.key for column in table.columns if column is not table.autoincrement_column]
