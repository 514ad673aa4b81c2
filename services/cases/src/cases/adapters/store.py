"""The cases store: every read and write the handlers make, by intention, never a session.

`CaseStore` is the interface (cosmicpython's repository and unit of work in one): cases,
their history, consent and referral rows, duplicate links, data keys, and the `Outbox` their
events and after-commit effects go to. `SqlStore` keeps it over one `UnitOfWork`: the worker
builds it for each event (`chassis.subscriptions.with_store`), the API and the operator
commands inside their transaction. The in-memory fake is `cases.adapters.memory_store`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import update
from sqlmodel import Session, SQLModel, col, select

from cases.adapters.tables import (
    CaseDataKey,
    CaseRecord,
    CaseReferral,
    CaseStageHistory,
    ConsentChange,
    DuplicateLink,
)
from cases.domain.duplicates import BlockingKeys
from chassis.held_rows import held_row, preload_rows, save_held
from chassis.lookups import get_unflushed, preload
from chassis.rows import kept_row
from chassis.stores import Outbox
from chassis.unit_of_work import UnitOfWork
from contracts.base import EventModel
from contracts.cases.v1 import CaseFacts, CaseReceived
from contracts.referrals.v1 import ReferralStateChanged
from contracts.vocabulary import CaseClock, CaseStage, RiskLevel

RowT = TypeVar("RowT", bound=SQLModel)


class CaseStore(Outbox, Protocol):
    """What the cases handlers read and write, and where their events go."""

    def row(self, model: type[RowT], **values: Any) -> RowT:
        """A new row of `model` to add to this store. Made with every value it will have:
        a batch's rows are plain values, written by one INSERT, that cannot be changed."""
        ...

    # --- cases --------------------------------------------------------------------------
    def case(self, case_id: str, *, lock: bool = False) -> CaseRecord | None:
        """The case, or None; `lock` holds it for the rest of the transaction, so two
        writers that read the same version cannot both pass the version check."""
        ...

    def add_case(self, record: CaseRecord) -> None: ...

    def save(self, record: CaseRecord) -> None: ...

    def family(self, case_id: str) -> list[CaseRecord]:
        """The case `case_id` and every case merged into it (the same child), by id."""
        ...

    def duplicate_candidates(self, keys: BlockingKeys, *, besides: str) -> list[CaseRecord]:
        """Unmerged cases other than `besides` with the same exact or folded blocking key."""
        ...

    def move_records(self, merged_id: str, *, to: str) -> None:
        """Referrals, stage history and consent of a merged case move to the kept one."""
        ...

    # --- the legal clocks ---------------------------------------------------------------
    def overdue(self, clock: CaseClock, now: datetime, *, limit: int) -> list[CaseRecord]:
        """Open, unmerged cases whose `clock` was due before `now`, neither met nor missed."""
        ...

    def claim_missed(self, case_id: str, clock: CaseClock, now: datetime) -> bool:
        """Mark `clock` missed unless it already is; False when someone else claimed it."""
        ...

    # --- history and consent ------------------------------------------------------------
    def add_stage_change(self, row: CaseStageHistory) -> None: ...

    def history(self, case_id: str) -> list[CaseStageHistory]: ...

    def add_consent(self, row: ConsentChange) -> None: ...

    def consents(self, case_id: str) -> list[ConsentChange]: ...

    # --- duplicates ---------------------------------------------------------------------
    def add_duplicate_link(self, link: DuplicateLink) -> None: ...

    def save_duplicate_link(self, link: DuplicateLink) -> None: ...

    def duplicate_links(self, case_id: str) -> list[DuplicateLink]:
        """Links where `case_id` is the newer report."""
        ...

    # --- referrals ----------------------------------------------------------------------
    def referral(self, referral_id: str) -> CaseReferral | None: ...

    def new_referral(self, **values: Any) -> CaseReferral:
        """A referral row not saved yet, whose columns may still be set."""
        ...

    def save_referral(self, row: CaseReferral) -> None: ...

    def referrals(self, case_id: str) -> list[CaseReferral]: ...

    # --- data keys ----------------------------------------------------------------------
    def data_key(self, case_id: str) -> CaseDataKey | None:
        """The case's wrapped data key row; None for a case stored before per-case keys."""
        ...

    def save_data_key(self, row: CaseDataKey) -> None: ...


# clock → the case row's (due, met, missed) attributes
CLOCK_FIELDS: dict[CaseClock, tuple[str, str, str]] = {
    CaseClock.EMERGENCY_INTERVENTION: (
        "emergency_due_at",
        "emergency_met_at",
        "emergency_missed_at",
    ),
    CaseClock.PLAN_APPROVAL: ("plan_due_at", "plan_met_at", "plan_missed_at"),
}


class SqlStore:
    """`CaseStore` over one unit of work: its session, its outbox, its after-commit effects."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.session = uow.session

    @staticmethod
    def preload(session: Session, events: list[EventModel]) -> None:
        """What a batch of referral events looks up, in one query a table: their referral
        rows (held as values, `chassis.held_rows`), then the cases of the referrals not
        kept yet."""
        changes = [event for event in events if isinstance(event, ReferralStateChanged)]
        held = preload_rows(session, ((CaseReferral, event.referral_id) for event in changes))
        new = (e for e in changes if held[CaseReferral, e.referral_id] is None)
        preload(session, ((CaseRecord, event.case_id) for event in new))

    def publish(self, event: EventModel, *, topic: str) -> None:
        # A child in immediate danger: every event of the case takes the urgent lane.
        urgent = (
            isinstance(event, CaseReceived | CaseFacts) and event.risk_level == RiskLevel.URGENT
        )
        self.uow.publish(event, topic=topic, urgent=urgent)

    def after_commit(self, effect: Callable[[], None]) -> None:
        self.uow.after_commit(effect)

    def row(self, model: type[RowT], **values: Any) -> RowT:
        return model(**values)

    def case(self, case_id: str, *, lock: bool = False) -> CaseRecord | None:
        # FOR UPDATE on PostgreSQL; SQLite's writing transaction holds the whole database.
        if lock:
            return self.session.get(CaseRecord, case_id, with_for_update=True)
        # No autoflush: in a batch of events, each lookup would otherwise flush the rows
        # of the events before it one by one, instead of all at once at the commit.
        return get_unflushed(self.session, CaseRecord, case_id)

    def add_case(self, record: CaseRecord) -> None:
        self.session.add(record)

    def save(self, record: CaseRecord) -> None:
        self.session.add(record)

    def family(self, case_id: str) -> list[CaseRecord]:
        return list(
            self.session.exec(
                select(CaseRecord)
                .where((col(CaseRecord.id) == case_id) | (col(CaseRecord.merged_into) == case_id))
                .order_by(col(CaseRecord.id))
            ).all()
        )

    def duplicate_candidates(self, keys: BlockingKeys, *, besides: str) -> list[CaseRecord]:
        return list(
            self.session.exec(
                select(CaseRecord).where(
                    col(CaseRecord.dedup_key_folded) == keys.folded,  # exact matches too
                    col(CaseRecord.id) != besides,
                    col(CaseRecord.merged_into).is_(None),
                )
            ).all()
        )

    def move_records(self, merged_id: str, *, to: str) -> None:
        for table in (CaseReferral, CaseStageHistory, ConsentChange):
            for row in self.session.exec(select(table).where(table.case_id == merged_id)).all():
                row.case_id = to
                self.session.add(row)

    def overdue(self, clock: CaseClock, now: datetime, *, limit: int) -> list[CaseRecord]:
        due, met, missed = (getattr(CaseRecord, name) for name in CLOCK_FIELDS[clock])
        return list(
            self.session.exec(
                select(CaseRecord)
                .where(
                    col(due) < now,
                    col(met).is_(None),
                    col(missed).is_(None),
                    col(CaseRecord.merged_into).is_(None),
                    col(CaseRecord.status) != CaseStage.CLOSED.value,
                )
                .limit(limit)
            ).all()
        )

    def claim_missed(self, case_id: str, clock: CaseClock, now: datetime) -> bool:
        # A conditional UPDATE: of two replicas (or a re-run tick) exactly one claims it.
        missed = CLOCK_FIELDS[clock][2]
        claimed = self.session.execute(
            update(CaseRecord)
            .where(col(CaseRecord.id) == case_id, col(getattr(CaseRecord, missed)).is_(None))
            .values({missed: now})
        )
        return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]

    def add_stage_change(self, row: CaseStageHistory) -> None:
        self.session.add(row)

    def history(self, case_id: str) -> list[CaseStageHistory]:
        return _rows_of(self, CaseStageHistory, case_id, CaseStageHistory.id)

    def add_consent(self, row: ConsentChange) -> None:
        self.session.add(row)

    def consents(self, case_id: str) -> list[ConsentChange]:
        return _rows_of(self, ConsentChange, case_id, ConsentChange.id)

    def add_duplicate_link(self, link: DuplicateLink) -> None:
        self.session.add(link)  # (case_id, other_case_id) is unique: a second one fails

    def save_duplicate_link(self, link: DuplicateLink) -> None:
        self.session.add(link)

    def duplicate_links(self, case_id: str) -> list[DuplicateLink]:
        return _rows_of(self, DuplicateLink, case_id, DuplicateLink.created_at, DuplicateLink.id)

    def referral(self, referral_id: str) -> CaseReferral | None:
        # Values, not an ORM object: each referral event changes one (chassis.held_rows).
        return held_row(self.uow, CaseReferral, referral_id)

    def new_referral(self, **values: Any) -> CaseReferral:
        return kept_row(CaseReferral, **values)

    def save_referral(self, row: CaseReferral) -> None:
        save_held(self.uow, CaseReferral, row.referral_id, row)

    def referrals(self, case_id: str) -> list[CaseReferral]:
        return _rows_of(self, CaseReferral, case_id, CaseReferral.referral_id)

    def data_key(self, case_id: str) -> CaseDataKey | None:
        return get_unflushed(self.session, CaseDataKey, case_id)

    def save_data_key(self, row: CaseDataKey) -> None:
        self.session.add(row)


def _rows_of(store: SqlStore, table: Any, case_id: str, *order: Any) -> list[Any]:
    query = select(table).where(table.case_id == case_id).order_by(*(col(o) for o in order))
    return list(store.session.exec(query).all())
