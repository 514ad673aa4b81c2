"""Rows a batch reads, changes and writes back, held as values (`chassis.held_rows`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from chassis.held_rows import held_row, preload_rows, save_held
from chassis.rows import kept_row
from chassis.unit_of_work import unit_of_work
from tests.support.databases import engine_with
from tests.support.statements import tables_read, tables_written


class HeldTally(SQLModel, table=True):
    __tablename__ = "held_tallies"

    id: str = Field(primary_key=True)
    count: int = 0


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with engine_with(database_url, HeldTally) as engine:
        yield engine


def _counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {row.id: row.count for row in session.exec(select(HeldTally)).all()}


def _add_one(uow: object, key: str) -> None:
    row = held_row(uow, HeldTally, key) or kept_row(HeldTally, id=key)  # type: ignore[arg-type]
    row.count += 1
    save_held(uow, HeldTally, key, row)  # type: ignore[arg-type]


def test_a_batch_sees_its_own_saves_and_writes_them_at_its_end(engine: Engine):
    with Session(engine) as session, session.begin():
        session.add(HeldTally(id="known", count=5))
    with (
        tables_read(engine) as reads,
        tables_written(engine) as writes,
        unit_of_work(engine, source="/tests", batch_outbox=True) as uow,
    ):
        held = preload_rows(uow.session, [(HeldTally, "known"), (HeldTally, "new")])
        assert held[HeldTally, "new"] is None
        for key in ("known", "new", "known", "new", "new"):
            _add_one(uow, key)
        assert writes == []  # kept for the end of the batch
        assert reads == ["held_tallies"]  # the preload alone: every later read is held
    assert [table for table in writes if table == "held_tallies"] == ["held_tallies"]
    assert _counts(engine) == {"known": 7, "new": 3}


def test_an_event_applied_alone_reads_the_database_so_a_rolled_back_savepoint_leaves_nothing(
    engine: Engine,
):
    with unit_of_work(engine, source="/tests") as uow:
        savepoint = uow.session.begin_nested()
        _add_one(uow, "t")
        assert held_row(uow, HeldTally, "t") is not None  # written at once, and read back
        savepoint.rollback()
        assert held_row(uow, HeldTally, "t") is None
        _add_one(uow, "t")
    assert _counts(engine) == {"t": 1}
