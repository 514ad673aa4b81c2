"""Lookups by key inside one transaction: the same answers as `Session.get`, no flush per
lookup, and a rolled-back savepoint forgets what it added."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine

from chassis.lookups import delete_unflushed, get_unflushed, preload


class LookupThing(SQLModel, table=True):
    __tablename__ = "lookup_things"

    id: str = Field(primary_key=True)
    value: int = 0


class LookupPair(SQLModel, table=True):
    __tablename__ = "lookup_pairs"

    left: str = Field(primary_key=True)
    right: str = Field(primary_key=True)
    value: int = 0


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'lookups.db'}")
    SQLModel.metadata.create_all(
        engine,
        tables=[LookupThing.__table__, LookupPair.__table__],  # type: ignore[attr-defined]
    )
    yield engine
    engine.dispose()


def _writes(engine: Engine) -> list[str]:
    return _statements(engine, ("INSERT", "UPDATE", "DELETE"))


def _reads(engine: Engine) -> list[str]:
    return _statements(engine, ("SELECT",))


def _statements(engine: Engine, kinds: tuple[str, ...]) -> list[str]:
    statements: list[str] = []

    def record(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().upper().startswith(kinds):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return statements


def test_a_batch_of_lookups_and_adds_writes_once_at_commit(engine: Engine):
    writes = _writes(engine)
    with Session(engine) as session, session.begin():
        for n in range(5):
            assert get_unflushed(session, LookupThing, f"t{n}") is None
            session.add(LookupThing(id=f"t{n}", value=n))
            assert get_unflushed(session, LookupThing, f"t{n}").value == n  # type: ignore[union-attr]
        assert writes == []  # nothing flushed by the lookups
    assert len(writes) == 1  # one executemany for the five rows


def test_rows_are_found_wherever_they_are(engine: Engine):
    with Session(engine) as session, session.begin():
        session.add(LookupThing(id="stored", value=1))
        session.add(LookupPair(left="a", right="b", value=2))
    with Session(engine) as session, session.begin():
        assert get_unflushed(session, LookupThing, "stored").value == 1  # type: ignore[union-attr]
        assert get_unflushed(session, LookupPair, ("a", "b")).value == 2  # type: ignore[union-attr]
        session.add(LookupPair(left="a", right="c", value=3))
        session.flush()  # flushed rows are found in the identity map
        assert get_unflushed(session, LookupPair, ("a", "c")).value == 3  # type: ignore[union-attr]
        assert get_unflushed(session, LookupPair, ("a", "z")) is None


def test_a_rolled_back_savepoint_forgets_its_rows(engine: Engine):
    with Session(engine) as session, session.begin():
        session.add(LookupThing(id="kept"))
        savepoint = session.begin_nested()
        session.add(LookupThing(id="dropped"))
        assert get_unflushed(session, LookupThing, "dropped") is not None
        savepoint.rollback()
        assert get_unflushed(session, LookupThing, "dropped") is None
        assert get_unflushed(session, LookupThing, "kept") is not None


def test_a_row_found_unflushed_or_stored_can_be_deleted(engine: Engine):
    with Session(engine) as session, session.begin():
        session.add(LookupThing(id="stored"))
    writes = _writes(engine)
    with Session(engine) as session, session.begin():
        session.add(LookupThing(id="brief"))
        for key in ("brief", "stored"):
            delete_unflushed(session, get_unflushed(session, LookupThing, key))
        assert get_unflushed(session, LookupThing, "brief") is None
    assert [w.split()[0] for w in writes] == ["DELETE"]  # "brief" was never written
    with Session(engine) as session:
        assert session.get(LookupThing, "stored") is None


def test_preloaded_rows_and_missing_ones_are_answered_without_a_query(engine: Engine):
    with Session(engine) as session, session.begin():
        session.add_all([LookupThing(id="a", value=1), LookupThing(id="b", value=2)])
    reads = _reads(engine)
    with Session(engine) as session, session.begin():
        preload(session, [(LookupThing, "a"), (LookupThing, "b"), (LookupThing, "new")])
        assert len(reads) == 1  # one query for the three keys
        assert get_unflushed(session, LookupThing, "a").value == 1  # type: ignore[union-attr]
        assert get_unflushed(session, LookupThing, "b").value == 2  # type: ignore[union-attr]
        assert get_unflushed(session, LookupThing, "new") is None
        assert len(reads) == 1  # the lookups read nothing
        session.add(LookupThing(id="new", value=3))  # a row added later is found
        assert get_unflushed(session, LookupThing, "new").value == 3  # type: ignore[union-attr]
        session.flush()
        assert get_unflushed(session, LookupThing, "new").value == 3  # type: ignore[union-attr]


def test_what_a_savepoint_added_and_rolled_back_is_missing_again(engine: Engine):
    with Session(engine) as session, session.begin():
        preload(session, [(LookupThing, "brief")])
        savepoint = session.begin_nested()
        session.add(LookupThing(id="brief"))
        session.flush()
        savepoint.rollback()
        assert get_unflushed(session, LookupThing, "brief") is None


def test_what_was_missing_is_forgotten_with_the_transaction(engine: Engine):
    with Session(engine) as session:
        with session.begin():
            preload(session, [(LookupThing, "later")])
        with Session(engine) as other, other.begin():
            other.add(LookupThing(id="later", value=7))
        with session.begin():  # the same session, a new transaction: asks the database
            assert get_unflushed(session, LookupThing, "later").value == 7  # type: ignore[union-attr]


def test_keys_beyond_a_query_s_share_are_read_in_several(engine: Engine):
    with Session(engine) as session, session.begin():
        session.add_all([LookupThing(id=f"k{n}", value=n) for n in range(1200)])
    reads = _reads(engine)
    with Session(engine) as session, session.begin():
        preload(session, [(LookupThing, f"k{n}") for n in range(1300)])
        assert len(reads) == 3  # 500 keys a query
        assert [get_unflushed(session, LookupThing, f"k{n}") is None for n in (0, 1199, 1200)] == [
            False,
            False,
            True,
        ]
        assert len(reads) == 3
