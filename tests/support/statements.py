"""What a block of code asks of the database, for tests that count statements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def tables_read(engine: Engine) -> Iterator[list[str]]:
    """The table each `SELECT` run on `engine` inside the block reads first, in order."""
    with _statements(engine, "SELECT", lambda sql: sql.split("FROM", 1)[1]) as read:
        yield read


@contextmanager
def tables_written(engine: Engine) -> Iterator[list[str]]:
    """The table each `INSERT` run on `engine` inside the block writes, in order (an
    executemany counts once)."""
    with _statements(engine, "INSERT", lambda sql: sql.split("INTO", 1)[1]) as written:
        yield written


@contextmanager
def _statements(engine: Engine, verb: str, after: Callable[[str], str]) -> Iterator[list[str]]:
    tables: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(verb):
            tables.append(after(statement).split()[0])

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield tables
    finally:
        event.remove(engine, "before_cursor_execute", seen)
