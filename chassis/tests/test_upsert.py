"""Insert or overwrite by primary key in one statement, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from chassis.db import create_db_engine, create_tables
from chassis.upsert import upsert


class UpsertThing(SQLModel, table=True):
    __tablename__ = "upsert_things"

    left: str = Field(primary_key=True)
    right: int = Field(primary_key=True)
    value: int = 0
    note: str | None = None


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    create_tables(engine, [UpsertThing])
    yield engine
    engine.dispose()


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(
        engine, "before_cursor_execute", lambda _c, _cur, statement, *_: seen.append(statement)
    )
    return seen


def _stored(engine: Engine) -> dict[tuple[str, int], tuple[int, str | None]]:
    with Session(engine) as session:
        rows = session.exec(select(UpsertThing)).all()
        return {(r.left, r.right): (r.value, r.note) for r in rows}


def test_a_new_row_is_inserted_and_a_known_key_overwritten_one_statement_each(engine: Engine):
    with Session(engine) as session, session.begin():
        session.add(UpsertThing(left="a", right=1, value=1, note="first"))
    statements = _statements(engine)
    with Session(engine) as session, session.begin():
        upsert(session, UpsertThing(left="a", right=1, value=10, note=None))
        upsert(session, UpsertThing(left="a", right=2, value=2))
    writes = [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
    assert len(writes) == 2 and all("ON CONFLICT" in s.upper() for s in writes)
    assert _stored(engine) == {("a", 1): (10, None), ("a", 2): (2, None)}


def test_the_same_transaction_reads_the_row_and_an_object_it_held_is_refreshed(engine: Engine):
    with Session(engine) as session, session.begin():
        session.add(UpsertThing(left="b", right=1, value=1))
    with Session(engine) as session, session.begin():
        held = session.get(UpsertThing, ("b", 1))
        assert held is not None and held.value == 1
        upsert(session, UpsertThing(left="b", right=1, value=5))
        upsert(session, UpsertThing(left="b", right=2, value=7))
        assert held.value == 5
        fresh = session.get(UpsertThing, ("b", 2))
        assert fresh is not None and fresh.value == 7


def test_a_rolled_back_savepoint_takes_its_upsert_back(engine: Engine):
    with Session(engine) as session, session.begin():
        upsert(session, UpsertThing(left="c", right=1, value=1))
        savepoint = session.begin_nested()
        upsert(session, UpsertThing(left="c", right=1, value=99))
        upsert(session, UpsertThing(left="c", right=2, value=2))
        savepoint.rollback()
    assert _stored(engine) == {("c", 1): (1, None)}
