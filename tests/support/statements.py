"""What a block of code asks of the database, for tests that count statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def tables_read(engine: Engine) -> Iterator[list[str]]:
    """The table each `SELECT` run on `engine` inside the block reads first, in order."""
    read: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            read.append(statement.split("FROM", 1)[1].split()[0])

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield read
    finally:
        event.remove(engine, "before_cursor_execute", seen)
