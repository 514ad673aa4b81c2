"""The same scenarios on `MemoryStore` and on `SqlStore` over a real SQLite database, so the
fake the handler unit tests stand on cannot drift from the store the service runs on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cases.adapters.memory_store import MemoryStore
from cases.adapters.store import CaseStore, SqlStore
from cases.bootstrap import TABLES
from cases.domain.duplicates import BlockingKeys
from cases.domain.process import StageRequest
from cases.handlers import (
    decide_duplicate,
    follow_referral,
    load_case,
    move_stage,
    record_case,
)
from cases.handlers.erasure import erase_identity
from chassis.db import create_db_engine, create_tables
from chassis.outbox import OutboxEvent
from chassis.unit_of_work import unit_of_work
from contracts.base import EventModel
from contracts.cases.v1 import CaseIdentityErased, CaseMerged, CaseReceived
from contracts.referrals.v1 import ReferralStateChanged
from contracts.vocabulary import CaseClock, CaseStage, ReferralState
from services.cases.tests.support import MONDAY, child, handler_deps, record_command
from tests.support.statements import tables_read

E = TypeVar("E", bound=EventModel)
DEPS = handler_deps()
LATER = MONDAY + timedelta(hours=1)


class Harness(Protocol):
    def work(self) -> AbstractContextManager[CaseStore]:
        """One unit of work: its store, committed when the block ends without an error."""
        ...

    def published(self, kind: type[E]) -> list[E]: ...


@dataclass
class InMemory:
    store: MemoryStore = field(default_factory=MemoryStore)

    @contextmanager
    def work(self) -> Iterator[CaseStore]:
        yield self.store
        self.store.commit()

    def published(self, kind: type[E]) -> list[E]:
        return self.store.events(kind)


@dataclass
class OnSqlite:
    engine: Engine

    @contextmanager
    def work(self) -> Iterator[CaseStore]:
        with unit_of_work(self.engine, source="/tests") as uow:
            yield SqlStore(uow)

    def published(self, kind: type[E]) -> list[E]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(OutboxEvent)
                .where(OutboxEvent.event_type == kind.ce_type)
                .order_by(col(OutboxEvent.id))
            ).all()
        return [kind.model_validate_json(row.value) for row in rows]


@pytest.fixture(params=["memory", "sqlite"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "memory":
        return InMemory()
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cases.db'}")
    create_tables(engine, [*TABLES, OutboxEvent])
    return OnSqlite(engine)


def recorded(harness: Harness, **overrides: Any) -> str:
    with harness.work() as store:
        return record_case(store, record_command(**overrides), DEPS).id


def test_a_recorded_case_reads_back_with_its_key_consent_and_links(harness: Harness):
    older, newer = recorded(harness), recorded(harness)
    with harness.work() as store:
        again = record_case(store, replace(record_command(), case_id=newer), DEPS)
        assert again.id == newer  # resent: the stored case, nothing new
    with harness.work() as store:
        case = store.case(newer, lock=True)
        assert case is not None and (case.status, case.version) == ("received", 1)
        assert store.case("no-such-case") is None
        key_row = store.data_key(newer)
        assert key_row is not None and key_row.wrapped_key
        assert [c.consent_basis for c in store.consents(newer)] == ["consent"]
        [link] = store.duplicate_links(newer)
        assert (link.other_case_id, link.match, link.status) == (older, "exact", "open")
        assert store.duplicate_links(older) == []
        assert case.dedup_key and case.dedup_key_folded
    assert [e.case_id for e in harness.published(CaseReceived)] == [older, newer]


def test_a_merge_moves_history_consent_and_referrals_and_ends_the_candidacy(harness: Harness):
    older, newer = recorded(harness), recorded(harness)
    with harness.work() as store:
        step = StageRequest(CaseStage.ASSESSED)
        move_stage(store, load_case(store, newer), step, expected_version=1, actor="a", now=LATER)
        event = ReferralStateChanged.example().model_copy(
            update={"referral_id": "r-1", "case_id": newer, "version": 2}
        )
        follow_referral(store, event)
    with harness.work() as store:
        [link] = store.duplicate_links(newer)
        decide_duplicate(store, link, confirm=True, actor="coord-01", now=LATER)
    with harness.work() as store:
        assert [(h.from_stage, h.to_stage) for h in store.history(older)] == [
            ("received", "assessed")
        ]
        assert [r.referral_id for r in store.referrals(older)] == ["r-1"]
        assert len(store.consents(older)) == 2
        assert store.history(newer) == store.referrals(newer) == store.consents(newer) == []
        assert [c.id for c in store.family(older)] == sorted((older, newer))
        merged = store.case(newer)
        assert merged is not None and (merged.merged_into, merged.status) == (older, "closed")
        assert store.duplicate_links(newer)[0].status == "confirmed"
        kept = store.case(older)
        assert kept is not None and kept.dedup_key and kept.dedup_key_folded
        keys = BlockingKeys(kept.dedup_key, kept.dedup_key_folded)
        assert [c.id for c in store.duplicate_candidates(keys, besides="a-new-case")] == [older]
    [merge] = harness.published(CaseMerged)
    assert (merge.case_id, merge.merged_case_id) == (older, newer)


def test_a_missed_clock_is_claimed_once_among_open_unmerged_cases(harness: Harness):
    late, assessed, closed, merged = (
        recorded(harness, child=child(full_name=name)) for name in ("An", "Bình", "Chi", "Dung")
    )
    after = MONDAY + timedelta(hours=12, minutes=1)
    with harness.work() as store:
        step = StageRequest(CaseStage.ASSESSED)
        move_stage(
            store, load_case(store, assessed), step, expected_version=1, actor="a", now=LATER
        )
        for case_id, change in ((closed, {"status": "closed"}), (merged, {"merged_into": late})):
            case = load_case(store, case_id)
            store.save(case.sqlmodel_update(change))
    with harness.work() as store:
        assert store.overdue(CaseClock.EMERGENCY_INTERVENTION, MONDAY, limit=10) == []
        [due] = store.overdue(CaseClock.EMERGENCY_INTERVENTION, after, limit=10)
        assert due.id == late
        assert store.overdue(CaseClock.PLAN_APPROVAL, after, limit=10) == []  # 5 working days
        assert store.claim_missed(late, CaseClock.EMERGENCY_INTERVENTION, after)
        assert not store.claim_missed(late, CaseClock.EMERGENCY_INTERVENTION, after)
    with harness.work() as store:
        assert store.overdue(CaseClock.EMERGENCY_INTERVENTION, after, limit=10) == []
        missed = store.case(late)
        assert missed is not None and missed.emergency_missed_at == after


def test_erasure_destroys_the_stored_key_and_stages_its_event(harness: Harness):
    case_id = recorded(harness)
    with harness.work() as store:
        result = erase_identity(store, case_id, actor="dpo-01", now=LATER)
        assert result.case_ids == (case_id,)
    with harness.work() as store:
        key_row = store.data_key(case_id)
        assert key_row is not None and key_row.wrapped_key is None
        assert key_row.erased_by == "dpo-01"
        case = store.case(case_id)
        assert case is not None and case.child_name_enc == "" and case.address_enc is None
        again = erase_identity(store, case_id, actor="dpo-01", now=LATER)
        assert again.already_erased == (case_id,)
    assert [e.case_id for e in harness.published(CaseIdentityErased)] == [case_id]


def test_an_after_commit_effect_runs_once_the_work_committed(harness: Harness):
    counted: list[str] = []
    count: Callable[[], None] = lambda: counted.append("once")  # noqa: E731 - a metric's inc
    with harness.work() as store:
        store.after_commit(count)
        assert counted == []  # not while the work may still roll back
    assert counted == ["once"]


def test_a_batch_of_referral_events_is_written_at_its_commit_in_one_insert(tmp_path: Path):
    # The worker applies a batch of events in one transaction, its upserts kept for the
    # end: the referral rows are held as values (chassis.held_rows), so a later event sees
    # an earlier one's row, and all of them go in with one statement.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cases.db'}")
    create_tables(engine, [*TABLES, OutboxEvent])
    harness = OnSqlite(engine)
    case_id = recorded(harness)
    inserts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CASE_REFERRALS"):
            inserts.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    requested = ReferralStateChanged.example().model_copy(update={"case_id": case_id})
    with unit_of_work(engine, source="/tests", batch_outbox=True) as uow:
        store = SqlStore(uow)
        for n, agency in enumerate(("police", "dolisa", "education")):
            change = {"referral_id": f"r-{n}", "agency": agency, "version": 1}
            follow_referral(store, requested.model_copy(update=change))
        accepted = {"referral_id": "r-0", "agency": "police", "version": 2}
        follow_referral(
            store, requested.model_copy(update={**accepted, "to_state": ReferralState.ACCEPTED})
        )
        assert store.referral("r-0").state == "accepted"  # type: ignore[union-attr]
        assert inserts == []
        # Values, not ORM objects: those cost the worker more than following the states.
        assert list(uow.session.new) == [] and len(uow.session.identity_map) == 0
    assert len(inserts) == 1
    with harness.work() as store:
        assert {r.referral_id: r.state for r in store.referrals(case_id)} == {
            "r-0": "accepted",
            "r-1": requested.to_state.value,
            "r-2": requested.to_state.value,
        }


def test_a_preloaded_batch_of_referral_events_reads_each_table_once(tmp_path: Path):
    # The worker preloads a batch's referral rows, and the cases of the new ones, in one
    # query each (`SqlStore.preload`): the events then look nothing up one by one.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cases.db'}")
    create_tables(engine, [*TABLES, OutboxEvent])
    harness = OnSqlite(engine)
    kept, merged, survivor = recorded(harness), recorded(harness), recorded(harness)
    with harness.work() as store:
        case = store.case(merged)
        assert case is not None
        case.merged_into = survivor
        store.save(case)
    requested = ReferralStateChanged.example().model_copy(update={"version": 1})

    def change(referral_id: str, case_id: str, version: int = 1) -> ReferralStateChanged:
        return requested.model_copy(
            update={"referral_id": referral_id, "case_id": case_id, "version": version}
        )

    with harness.work() as store:
        follow_referral(store, change("r-kept", kept))
    events = [change("r-kept", kept, 2), change("r-new", kept), change("r-merged", merged)]
    with tables_read(engine) as reads, unit_of_work(engine, source="/tests") as uow:
        SqlStore.preload(uow.session, list(events))
        for each in events:
            follow_referral(SqlStore(uow), each)

    assert sorted(reads) == ["case_referrals", "cases"]  # one query a table, none an event
    with harness.work() as store:
        assert {r.referral_id: r.version for r in store.referrals(kept)} == {
            "r-kept": 2,
            "r-new": 1,
        }
        assert [r.referral_id for r in store.referrals(survivor)] == ["r-merged"]


def test_duplicate_candidates_are_looked_up_through_the_folded_keys_index(tmp_path: Path):
    """The exact key has no index of its own (every exact match shares the folded key), and
    neither lookup, one report's or a batch's, scans the cases instead."""
    from sqlalchemy import inspect

    from cases.adapters.batch_store import BatchStore

    engine = create_db_engine(f"sqlite:///{tmp_path / 'cases.db'}")
    create_tables(engine, [*TABLES, OutboxEvent])
    indexed = [index["column_names"] for index in inspect(engine).get_indexes("cases")]
    assert ["dedup_key_folded"] in indexed and ["dedup_key"] not in indexed
    keys = BlockingKeys(exact="e" * 64, folded="f" * 64)
    lookups: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "dedup_key_folded IN" in statement or "dedup_key_folded =" in statement:
            lookups.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    with unit_of_work(engine, source="/tests") as uow:
        SqlStore(uow).duplicate_candidates(keys, besides="x")
        BatchStore(uow, [keys])
    event.remove(engine, "before_cursor_execute", seen)
    assert len(lookups) == 2
    with engine.connect() as connection:
        for statement, parameters in lookups:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            details = [row[-1] for row in plan]
            assert any("USING INDEX ix_cases_dedup_key_folded" in d for d in details), details
            assert not any(d.startswith("SCAN cases") for d in details), details
