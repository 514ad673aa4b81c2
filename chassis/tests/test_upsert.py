"""Insert or overwrite by primary key in one statement, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select, update

from chassis.rows import kept_row, read_rows
from chassis.unit_of_work import unit_of_work
from chassis.upsert import upsert, upsert_values
from tests.support.databases import engine_with


class UpsertThing(SQLModel, table=True):
    __tablename__ = "upsert_things"

    left: str = Field(primary_key=True)
    right: int = Field(primary_key=True)
    value: int = 0
    note: str | None = None


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with engine_with(database_url, UpsertThing) as engine:
        yield engine


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


def _writes(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]


def test_many_upserts_end_as_if_written_in_order_one_statement_a_kind(engine: Engine):
    with Session(engine) as session, session.begin():
        session.add(UpsertThing(left="kept", right=1, value=1, note="there"))
    table = UpsertThing.__table__  # type: ignore[attr-defined]

    def thing(left: str, value: int, note: str | None = None) -> dict:
        return {"left": left, "right": 1, "value": value, "note": note}

    statements = _statements(engine)
    with Session(engine) as session, session.begin():
        upsert_values(
            session,
            [
                (table, thing("a", 1), True),
                (table, thing("a", 2), True),  # the last that overwrites wins
                (table, thing("b", 1, "first"), False),
                (table, thing("b", 2, "second"), False),  # the first that keeps wins
                (table, thing("c", 3), True),
                (table, thing("c", 4), False),  # an overwrite wins, whatever the order
                (table, thing("kept", 9), False),  # the row there stays
            ],
        )
    assert len(_writes(statements)) == 2
    assert _stored(engine) == {
        ("a", 1): (2, None),
        ("b", 1): (1, "first"),
        ("c", 1): (3, None),
        ("kept", 1): (1, "there"),
    }


def test_a_batch_unit_of_work_writes_its_upserts_together_when_it_commits(engine: Engine):
    statements = _statements(engine)
    with unit_of_work(engine, source="/tests", batch_outbox=True) as uow:
        for value in range(3):
            uow.upsert(UpsertThing(left="d", right=value, value=value))
        uow.upsert(UpsertThing(left="d", right=0, value=7), overwrite=False)
        uow.upsert(UpsertThing(left="e", right=0, value=8), overwrite=False)
        assert _writes(statements) == []  # nothing yet: kept for the end
    assert len(_writes(statements)) == 2  # one statement a kind
    assert _stored(engine) == {
        ("d", 0): (0, None),
        ("d", 1): (1, None),
        ("d", 2): (2, None),
        ("e", 0): (8, None),
    }


class UpsertFact(SQLModel, table=True):
    __tablename__ = "upsert_facts"

    id: str = Field(primary_key=True)
    stage: str | None = None
    merged_into: str | None = None
    count: int = 0


@pytest.fixture
def facts(database_url: str) -> Iterator[Engine]:
    with engine_with(database_url, UpsertFact) as engine:
        yield engine


def _facts(engine: Engine) -> dict[str, tuple[str | None, str | None, int]]:
    with Session(engine) as session:
        rows = session.exec(select(UpsertFact)).all()
        return {r.id: (r.stage, r.merged_into, r.count) for r in rows}


def test_a_row_read_and_changed_overwrites_only_the_columns_it_changed(facts: Engine):
    """As the ORM's UPDATE of a loaded object: another writer's change to other columns,
    committed between the read and the write (a merge, from another partition), stays."""
    with Session(facts) as session, session.begin():
        session.add(UpsertFact(id="x", stage="received", count=1))
    with Session(facts) as session:
        (row,) = read_rows(session, UpsertFact, ["x"]).values()
    with Session(facts) as session, session.begin():
        session.exec(update(UpsertFact).where(col(UpsertFact.id) == "x").values(merged_into="y"))

    row.stage, row.count = "assessed", 1  # the count is set to what it was: unchanged
    with unit_of_work(facts, source="/tests", batch_outbox=True) as uow:
        uow.upsert(row)
    assert _facts(facts) == {"x": ("assessed", "y", 1)}


def test_a_new_kept_row_meeting_a_taken_key_overwrites_only_what_it_was_given(facts: Engine):
    with Session(facts) as session, session.begin():
        session.add(UpsertFact(id="x", stage="received", count=3))
    with unit_of_work(facts, source="/tests") as uow:
        merged = kept_row(UpsertFact, id="x")
        merged.merged_into = "y"
        uow.upsert(merged)
        uow.upsert(kept_row(UpsertFact, id="new", stage="received"))
    assert _facts(facts) == {"x": ("received", "y", 3), "new": ("received", None, 0)}


def test_upserts_of_some_columns_end_as_if_written_in_order(facts: Engine):
    table = UpsertFact.__table__  # type: ignore[attr-defined]

    def fact(key: str, stage: str | None = None, merged: str | None = None, count: int = 0):
        return {"id": key, "stage": stage, "merged_into": merged, "count": count}

    with Session(facts) as session, session.begin():
        session.add(UpsertFact(id="there", stage="received", merged_into="y", count=5))
        session.add(UpsertFact(id="all", stage="received", merged_into="y", count=5))
    with Session(facts) as session, session.begin():
        upsert_values(
            session,
            [
                (table, fact("there", stage="assessed"), frozenset({"stage"})),
                (table, fact("there", stage="closed", count=6), frozenset({"stage", "count"})),
                (table, fact("new", merged="z"), False),  # inserted, then only the stage
                (table, fact("new", stage="assessed", merged="ignored"), frozenset({"stage"})),
                (table, fact("all", stage="assessed"), frozenset({"stage"})),
                (table, fact("all", count=1), True),  # overwrites it all, the stage too
            ],
        )
    assert _facts(facts) == {
        "there": ("closed", "y", 6),
        "new": ("assessed", "z", 0),
        "all": (None, None, 1),
    }
