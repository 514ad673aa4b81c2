"""The in-memory inbox store against `SqlStore` on a real database: the same scenarios, the
same answers, so the fake the unit tests trust cannot drift from what the worker runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from agencies.adapters.memory_store import MemoryStore
from agencies.adapters.store import InboxStore, SqlStore
from agencies.adapters.tables import WebhookDelivery
from agencies.bootstrap import TABLES
from agencies.domain.actions import StaleVersion
from agencies.handlers import act_on_referral, follow_state, receive_referral
from chassis.db import create_db_engine, create_tables
from chassis.outbox import OutboxEvent
from chassis.unit_of_work import unit_of_work
from contracts.agencies.v1 import ReferralAccepted
from contracts.referrals.v1 import ReferralRequested, ReferralStateChanged
from contracts.topics import agency_updates_topic
from contracts.vocabulary import ReferralState as S
from tests.support.statements import tables_read

AGENCY = "police"


class Harness(Protocol):
    store: InboxStore

    def commit(self) -> None:
        """End the work (effects run); later reads see only what was kept."""

    def published(self) -> list[tuple[str, str]]: ...

    def webhooks(self) -> int: ...


class InMemory:
    def __init__(self) -> None:
        self.memory = self.store = MemoryStore()

    def commit(self) -> None:
        self.memory.commit()

    def published(self) -> list[tuple[str, str]]:
        return [(topic, event.ce_type) for topic, event in self.memory.published]

    def webhooks(self) -> int:
        return len(self.memory.webhooks)


class OnDatabase:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.work = ExitStack()
        self.store = self.sql = self._begin()

    def _begin(self) -> SqlStore:
        return SqlStore(self.work.enter_context(unit_of_work(self.engine, source="/tests")))

    def commit(self) -> None:
        self.work.close()
        self.store = self.sql = self._begin()

    def published(self) -> list[tuple[str, str]]:
        rows = self.sql.uow.session.exec(select(OutboxEvent).order_by(col(OutboxEvent.id)))
        return [(row.topic, row.event_type) for row in rows]

    def webhooks(self) -> int:
        return len(self.sql.uow.session.exec(select(WebhookDelivery)).all())


@pytest.fixture
def harness(store_database: str | None) -> Iterator[Harness]:
    if store_database is None:
        yield InMemory()
        return
    engine = create_db_engine(store_database)
    create_tables(engine, [*TABLES, OutboxEvent])
    on_database = OnDatabase(engine)
    yield on_database
    on_database.work.close()
    engine.dispose()


def requested() -> ReferralRequested:
    return ReferralRequested.example().model_copy(
        update={
            "referral_id": str(uuid.uuid4()),
            "agency": AGENCY,
            "details": {"child_name": "sv1." + "a" * 43},
        }
    )


def test_a_referral_added_reads_back_the_same(harness: Harness):
    event = requested()
    receive_referral(harness.store, event, agency=AGENCY)
    harness.commit()
    referral = harness.store.referral(event.referral_id)
    assert referral is not None
    assert (referral.state, referral.version, referral.details) == (
        S.REQUESTED.value,
        1,
        event.details,
    )
    assert (referral.accept_by, referral.requested_at) == (event.accept_by, event.requested_at)
    assert harness.store.referral("unknown") is None


def test_a_saved_change_is_kept(harness: Harness):
    event = requested()
    receive_referral(harness.store, event, agency=AGENCY)
    harness.commit()
    state = ReferralStateChanged.example().model_copy(
        update={"referral_id": event.referral_id, "agency": AGENCY, "version": 3}
    )
    follow_state(harness.store, state, agency=AGENCY)
    harness.commit()
    referral = harness.store.referral(event.referral_id)
    assert referral is not None
    assert (referral.state, referral.version) == (S.ACCEPTED.value, 3)


def test_of_two_moves_from_one_version_exactly_one_wins(harness: Harness):
    event = requested()
    receive_referral(harness.store, event, agency=AGENCY)
    harness.commit()
    referral = harness.store.referral(event.referral_id)
    assert referral is not None
    later = event.requested_at + timedelta(minutes=5)
    first = {"state": S.ACCEPTED.value, "version": 2, "updated_at": later}
    second = {"state": S.REJECTED.value, "version": 2, "updated_at": later}
    assert harness.store.move_if_version(referral, 1, first)
    assert (referral.state, referral.version) == (S.ACCEPTED.value, 2)  # the caller sees it
    assert not harness.store.move_if_version(referral, 1, second)
    harness.commit()
    kept = harness.store.referral(event.referral_id)
    assert kept is not None
    assert (kept.state, kept.version, kept.updated_at) == (S.ACCEPTED.value, 2, later)


def test_an_action_publishes_to_the_updates_topic_and_a_stale_one_nothing(harness: Harness):
    event = requested()
    receive_referral(harness.store, event, agency=AGENCY)
    action = ReferralAccepted.example().model_copy(
        update={"referral_id": event.referral_id, "agency": AGENCY, "expected_version": 1}
    )
    act_on_referral(harness.store, action, agency=AGENCY)
    with pytest.raises(StaleVersion):
        act_on_referral(harness.store, action, agency=AGENCY)
    harness.commit()
    assert harness.published() == [(agency_updates_topic(AGENCY), action.ce_type)]


def test_the_bridge_stages_one_webhook_per_event(harness: Harness):
    event = requested()
    receive_referral(harness.store, event, agency=AGENCY, bridge=True)
    harness.commit()
    assert harness.webhooks() == 1


def test_a_preloaded_batch_reads_the_inbox_once_and_keeps_the_same_referrals(tmp_path: Path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'inbox.db'}")
    create_tables(engine, [*TABLES, OutboxEvent])
    known = requested()
    with unit_of_work(engine, source="/tests") as uow:
        receive_referral(SqlStore(uow), known, agency=AGENCY)
    new = [requested() for _ in range(3)]
    moved = ReferralStateChanged.example().model_copy(
        update={"referral_id": known.referral_id, "agency": AGENCY, "version": 3}
    )
    batch = [*new, moved, new[0]]  # the last one redelivered within the batch
    with tables_read(engine) as reads, unit_of_work(engine, source="/tests") as uow:
        SqlStore.preload(uow.session, list(batch))
        for event in batch:
            if isinstance(event, ReferralRequested):
                receive_referral(SqlStore(uow), event, agency=AGENCY)
            else:
                follow_state(SqlStore(uow), event, agency=AGENCY)
    assert [table for table in reads if table == "inbox_referrals"] == ["inbox_referrals"]
    with unit_of_work(engine, source="/tests") as uow:
        store = SqlStore(uow)
        states = {e.referral_id: store.referral(e.referral_id) for e in [*new, known]}
        assert {i: (r.state, r.version) for i, r in states.items() if r} == {
            **{e.referral_id: (S.REQUESTED.value, 1) for e in new},
            known.referral_id: (S.ACCEPTED.value, 3),
        }
    engine.dispose()
