"""PostgreSQL: the idle relay sleeps until a transaction that adds outbox rows commits (its
NOTIFY), from any connection or process; a rollback or a transaction without outbox rows
sends nothing, and a lost connection falls back to polling until it listens again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from chassis.db import create_db_engine, create_tables, transaction
from chassis.outbox import DatabaseChanges, OutboxEvent, stage_event
from chassis.pg_listen import CHANNEL, NotifyWatch
from chassis.unit_of_work import unit_of_work
from contracts.cases.v1 import CaseReceived
from contracts.topics import CASES_EVENTS

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def engine(postgres_server) -> Iterator[Engine]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_db_engine(postgres_server.create_database(name))
    create_tables(engine, [OutboxEvent])
    yield engine
    engine.dispose()
    postgres_server.drop_database(name)


def _stage_one(engine: Engine, *, batch: bool = False) -> None:
    """An API's transaction: one event in the outbox (ORM row, or Core rows with `batch`)."""
    with unit_of_work(engine, source="/tests", batch_outbox=batch) as uow:
        uow.publish(CaseReceived.example(), topic=CASES_EVENTS)


def _watch(engine: Engine, loop: asyncio.AbstractEventLoop, changed: asyncio.Event) -> NotifyWatch:
    watch = DatabaseChanges.of(engine).watch()
    assert isinstance(watch, NotifyWatch)
    watch.attach(loop, changed.set)
    return watch


@pytest.mark.parametrize("batch", [False, True], ids=["orm-row", "core-rows"])
async def test_a_commit_that_adds_outbox_rows_wakes_the_listening_relay(engine, batch):
    changed = asyncio.Event()
    watch = _watch(engine, asyncio.get_running_loop(), changed)
    try:
        assert watch.arm()
        assert changed.is_set()  # becoming armed reports once: it heard nothing before
        changed.clear()
        other = create_db_engine(str(engine.url.render_as_string(hide_password=False)))
        await asyncio.to_thread(_stage_one, other, batch=batch)
        other.dispose()
        await asyncio.wait_for(changed.wait(), 30)
    finally:
        watch.close()


def test_only_a_commit_that_adds_outbox_rows_notifies(engine):
    """Read on a plain listener, in delivery (commit) order, up to a marker sent last: a
    rollback and a commit without outbox rows must have sent nothing before it."""
    with _connect(engine) as listener, _connect(engine) as marker:
        listener.execute(f"LISTEN {CHANNEL}")
        with pytest.raises(RuntimeError), unit_of_work(engine, source="/tests") as uow:
            uow.publish(CaseReceived.example(), topic=CASES_EVENTS)
            uow.session.flush()
            raise RuntimeError("the handler failed")
        with transaction(engine) as session:
            session.execute(text("SELECT 1"))
        _stage_one(engine)
        _stage_one(engine, batch=True)
        with Session(engine) as plain:  # no explicit begin: the first statement begins it
            stage_event(
                plain, CaseReceived.example(), topic=CASES_EVENTS, source="/t", correlation_id=None
            )
            plain.commit()
        marker.execute(f"NOTIFY {CHANNEL}, 'end'")
        heard = []
        for notice in listener.notifies(timeout=30):
            if notice.payload == "end":
                break
            heard.append(notice.payload)
        assert heard == ["", "", ""]  # one for each commit that added outbox rows


def _connect(engine: Engine) -> psycopg.Connection:
    url = engine.url
    return psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    )


async def test_a_lost_connection_falls_back_to_polling_then_listens_again(engine):
    changed = asyncio.Event()
    watch = DatabaseChanges.of(engine).watch()
    assert isinstance(watch, NotifyWatch)
    watch._retry_s = 0.0  # reconnect at the next arm (the default waits between tries)
    watch.attach(asyncio.get_running_loop(), changed.set)
    try:
        assert watch.arm()
        changed.clear()
        url = engine.url
        with _connect(engine) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND query LIKE 'LISTEN%%'",
                (url.database,),
            )
        await asyncio.wait_for(changed.wait(), 30)  # the loss wakes it: look now, then poll
        changed.clear()
        assert watch.arm()  # listening again, on a new connection
        assert changed.is_set()  # and says so, for what it missed meanwhile
        changed.clear()
        await asyncio.to_thread(_stage_one, engine)
        await asyncio.wait_for(changed.wait(), 30)
    finally:
        watch.close()
