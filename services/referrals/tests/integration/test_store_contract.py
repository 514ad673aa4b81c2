"""The in-memory referral store against `SqlStore` on a real database: the same scenarios,
the same answers, so the fake the unit tests trust cannot drift from what the worker runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from chassis.db import create_db_engine, create_tables
from chassis.outbox import OutboxEvent
from chassis.unit_of_work import unit_of_work
from contracts.agencies.registry import agency_registry
from contracts.cases.v1 import CaseReceived
from contracts.referrals.v1 import ReferralRequested, ReferralStateChanged
from contracts.topics import REFERRALS_EVENTS, agency_referrals_topic
from contracts.vocabulary import ConsentBasis
from contracts.vocabulary import ReferralState as S
from referrals.adapters.memory_store import MemoryStore
from referrals.adapters.policy_file import default_policy_path, load_policy
from referrals.adapters.store import ReferralStore, SqlStore
from referrals.adapters.tables import ReferralRecord, ReferralTransition
from referrals.bootstrap import TABLES
from referrals.changes import Change, move
from referrals.handlers import open_referrals
from tests.support.statements import tables_read

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
POLICY = load_policy(default_policy_path(), agency_registry().codes())
TOKEN = "sv1." + "a" * 43


class Harness(Protocol):
    store: ReferralStore

    def commit(self) -> None:
        """End the work (effects run); later reads see only what was kept."""

    def published(self) -> list[tuple[str, str]]: ...

    def history(self, referral_id: str) -> list[tuple[int, str | None, str]]: ...


class InMemory:
    def __init__(self) -> None:
        self.memory = self.store = MemoryStore()

    def commit(self) -> None:
        self.memory.commit()

    def published(self) -> list[tuple[str, str]]:
        return [(topic, event.ce_type) for topic, event in self.memory.published]

    def history(self, referral_id: str) -> list[tuple[int, str | None, str]]:
        rows = [t for (r, _), t in sorted(self.memory.transitions.items()) if r == referral_id]
        return [(t.version, t.from_state, t.to_state) for t in rows]


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

    def history(self, referral_id: str) -> list[tuple[int, str | None, str]]:
        rows = self.sql.uow.session.exec(
            select(ReferralTransition)
            .where(col(ReferralTransition.referral_id) == referral_id)
            .order_by(col(ReferralTransition.version))
        )
        return [(t.version, t.from_state, t.to_state) for t in rows]


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


def new_case(**update: object) -> CaseReceived:
    return CaseReceived.example().model_copy(
        update={
            "case_id": str(uuid.uuid4()),
            "identity_views": {"police": {"child_name": TOKEN}},
            **update,
        }
    )


def opened(harness: Harness, case: CaseReceived) -> dict[str, ReferralRecord]:
    open_referrals(harness.store, case, policy=POLICY, now=lambda: NOW)
    harness.commit()
    return {r.agency: r for r in harness.store.referrals_of_case(case.case_id)}


def transitions_counted(agency: str, state: S) -> float:
    labels = {"agency": agency, "to_state": state.value}
    return REGISTRY.get_sample_value("lienganh_referral_transitions_total", labels) or 0.0


def test_opened_referrals_read_back_with_their_events_and_history(harness: Harness):
    case = new_case()
    referrals = opened(harness, case)
    assert sorted(referrals) == ["dolisa", "police"]
    police = harness.store.referral(referrals["police"].id)
    assert police is not None
    assert (police.state, police.version, police.created_at) == (S.REQUESTED.value, 1, NOW)
    assert police.circumstances == case.circumstances.model_dump()
    assert harness.history(police.id) == [(1, None, S.REQUESTED.value)]
    requested, changed = ReferralRequested.ce_type, ReferralStateChanged.ce_type
    assert harness.published() == [
        event
        for agency in ("police", "dolisa")  # the routing order: lead first
        # The inbox's creation is its ReferralRequested: no copy of the first state change.
        for event in [(agency_referrals_topic(agency), requested), (REFERRALS_EVENTS, changed)]
    ]


def test_a_move_is_counted_once_and_only_on_commit(harness: Harness):
    police = opened(harness, new_case())["police"]
    before = transitions_counted("police", S.CANCELLED)
    change = Change(actor="t", at=NOW + timedelta(hours=1), reason="withdrawn")
    assert move(harness.store, police, S.CANCELLED, change, policy=POLICY)
    assert transitions_counted("police", S.CANCELLED) == before
    harness.commit()
    assert transitions_counted("police", S.CANCELLED) == before + 1
    assert harness.history(police.id)[-1] == (2, S.REQUESTED.value, S.CANCELLED.value)


def test_of_two_moves_from_one_version_exactly_one_wins(harness: Harness):
    police = opened(harness, new_case())["police"]
    referral = harness.store.referral(police.id)
    assert referral is not None
    assert harness.store.move_if_version(referral, 1, {"state": S.ACCEPTED.value, "version": 2})
    assert (referral.state, referral.version) == (S.ACCEPTED.value, 2)  # the caller sees it
    assert not harness.store.move_if_version(referral, 1, {"state": S.REJECTED.value, "version": 2})
    harness.commit()
    kept = harness.store.referral(police.id)
    assert kept is not None
    assert (kept.state, kept.version) == (S.ACCEPTED.value, 2)


def test_the_first_views_kept_stay_until_dropped(harness: Harness):
    case_id = str(uuid.uuid4())
    harness.store.keep_views(case_id, {})  # nothing to keep
    assert harness.store.views_of(case_id) is None
    harness.store.keep_views(case_id, {"police": {"child_name": TOKEN}})
    harness.store.keep_views(case_id, {"dolisa": {"child_name": TOKEN}})
    harness.commit()
    assert harness.store.views_of(case_id) == {"police": {"child_name": TOKEN}}
    harness.store.drop_views(case_id)
    harness.store.drop_views(case_id)  # dropping twice is harmless
    harness.commit()
    assert harness.store.views_of(case_id) is None


def test_a_consent_hold_is_kept_released_and_dropped(harness: Harness):
    case = new_case(consent_basis=ConsentBasis.NONE)
    assert opened(harness, case) == {}
    hold = harness.store.consent_hold(case.case_id)
    assert hold is not None
    assert (hold.held_at, hold.case_event["case_id"]) == (NOW, case.case_id)
    hold.released_at = NOW + timedelta(hours=1)
    harness.store.save_hold(hold)
    harness.commit()
    released = harness.store.consent_hold(case.case_id)
    assert released is not None
    assert released.released_at == NOW + timedelta(hours=1)
    harness.store.drop_hold(case.case_id)
    harness.commit()
    assert harness.store.consent_hold(case.case_id) is None


def test_a_merge_reassigns_every_referral_of_the_duplicate(harness: Harness):
    duplicate = new_case()
    opened(harness, duplicate)
    survivor = str(uuid.uuid4())
    harness.store.reassign_case(duplicate.case_id, survivor)
    harness.commit()
    assert harness.store.referrals_of_case(duplicate.case_id) == []
    assert sorted(r.agency for r in harness.store.referrals_of_case(survivor)) == [
        "dolisa",
        "police",
    ]


def test_an_overdue_referral_is_claimed_for_escalation_once(harness: Harness):
    police = opened(harness, new_case())["police"]
    assert police.due_at is not None
    assert harness.store.overdue(police.due_at - timedelta(seconds=1), limit=10) == []
    [due] = [r for r in harness.store.overdue(police.due_at, limit=10) if r.id == police.id]
    later = police.due_at + timedelta(hours=4)
    other_replica = ReferralRecord(**due.model_dump())  # read at the same moment
    assert harness.store.claim_escalation(due, next_at=later)
    assert not harness.store.claim_escalation(other_replica, next_at=later + timedelta(hours=1))
    harness.commit()
    assert all(r.id != police.id for r in harness.store.overdue(police.due_at, limit=10))
    claimed = harness.store.referral(police.id)
    assert claimed is not None
    assert (claimed.escalations_sent, claimed.next_escalation_at) == (1, later)


def test_a_preloaded_batch_of_new_cases_looks_nothing_up_one_by_one(database_url: str):
    # The worker preloads what a batch of new cases and consents looks up (`SqlStore.preload`):
    # the kept views and consent holds, in one query a table, not one an event.
    engine = create_db_engine(database_url)
    create_tables(engine, [*TABLES, OutboxEvent])
    held = new_case(consent_basis=ConsentBasis.NONE)
    with unit_of_work(engine, source="/tests") as uow:
        open_referrals(SqlStore(uow), held, policy=POLICY, now=lambda: NOW)
    batch = [held, new_case(), new_case(consent_basis=ConsentBasis.NONE)]
    with tables_read(engine) as reads, unit_of_work(engine, source="/tests") as uow:
        SqlStore.preload(uow.session, list(batch))
        for case in batch:
            open_referrals(SqlStore(uow), case, policy=POLICY, now=lambda: NOW)

    assert sorted(reads) == ["case_identity_views", "consent_holds"]
    with unit_of_work(engine, source="/tests") as uow:
        store = SqlStore(uow)
        assert [store.consent_hold(c.case_id) is not None for c in batch] == [True, False, True]
        assert all(store.views_of(c.case_id) == {"police": {"child_name": TOKEN}} for c in batch)
        assert store.referrals_of_case(batch[0].case_id) == []  # still held, not opened twice
        assert len(store.referrals_of_case(batch[1].case_id)) >= 1
    engine.dispose()


def test_a_batch_inserts_its_history_rows_at_its_end_as_the_fake_keeps_them(database_url: str):
    """History rows are plain values (`SqlStore.new_transition`), inserted with the batch's
    others in one statement: every column as the in-memory store keeps it."""
    engine = create_db_engine(database_url)
    create_tables(engine, [*TABLES, OutboxEvent])
    batch = [new_case(), new_case()]
    inserts: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().startswith("INSERT INTO referral_transitions"):
            inserts.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    with unit_of_work(engine, source="/tests", batch_outbox=True) as uow:
        for case in batch:
            open_referrals(SqlStore(uow), case, policy=POLICY, now=lambda: NOW)
        assert inserts == []
        # Kept as values, not as objects the session tracks (and flushes one by one).
        assert not [row for row in uow.session.new if isinstance(row, ReferralTransition)]
    assert len(inserts) == 1

    memory = MemoryStore()
    for case in batch:
        open_referrals(memory, case, policy=POLICY, now=lambda: NOW)
    memory.commit()

    def history(rows: list[ReferralTransition]) -> list[tuple[object, ...]]:
        kept = [tuple(sorted(row.model_dump(exclude={"referral_id"}).items())) for row in rows]
        return sorted(kept, key=str)

    with unit_of_work(engine, source="/tests") as uow:
        stored = list(uow.session.exec(select(ReferralTransition)))
    assert len(stored) == len(memory.transitions) >= 2
    assert history(stored) == history(list(memory.transitions.values()))
    engine.dispose()
