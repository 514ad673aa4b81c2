"""The in-memory `CaseStore` of fast handler tests: no database, no broker.

Rows are the same SQLModel objects `SqlStore` keeps, held in dicts and lists; events and
after-commit effects go to the `MemoryOutbox` it extends, so a test reads what a handler
published and says when the work committed. `tests/integration/test_store_contract.py`
runs the same scenarios on both stores, so this fake cannot drift from the SQL one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from typing import Any

from cases.adapters.store import CLOCK_FIELDS, RowT
from cases.adapters.tables import (
    CaseDataKey,
    CaseRecord,
    CaseReferral,
    CaseStageHistory,
    ConsentChange,
    DuplicateLink,
)
from cases.domain.duplicates import BlockingKeys
from chassis.stores import MemoryOutbox
from contracts.vocabulary import CaseClock, CaseStage


@dataclass
class MemoryStore(MemoryOutbox):
    """`CaseStore` in memory; a test may also read and seed the rows directly."""

    case_rows: dict[str, CaseRecord] = field(default_factory=dict)
    key_rows: dict[str, CaseDataKey] = field(default_factory=dict)
    history_rows: list[CaseStageHistory] = field(default_factory=list)
    consent_rows: list[ConsentChange] = field(default_factory=list)
    link_rows: dict[str, DuplicateLink] = field(default_factory=dict)
    referral_rows: dict[str, CaseReferral] = field(default_factory=dict)
    _ids: count[int] = field(default_factory=lambda: count(1))  # the database's serial ids

    def row(self, model: type[RowT], **values: Any) -> RowT:
        return model(**values)

    # --- cases --------------------------------------------------------------------------
    def case(self, case_id: str, *, lock: bool = False) -> CaseRecord | None:
        return self.case_rows.get(case_id)  # one test, one writer: nothing to lock

    def add_case(self, record: CaseRecord) -> None:
        if record.id in self.case_rows:
            raise ValueError(f"case {record.id} exists")  # the primary key refuses it
        self.case_rows[record.id] = record

    def save(self, record: CaseRecord) -> None:
        self.case_rows[record.id] = record

    def family(self, case_id: str) -> list[CaseRecord]:
        return sorted(
            (c for c in self.case_rows.values() if case_id in (c.id, c.merged_into)),
            key=lambda c: c.id,
        )

    def duplicate_candidates(self, keys: BlockingKeys, *, besides: str) -> list[CaseRecord]:
        return [
            c
            for c in self.case_rows.values()
            if c.dedup_key_folded == keys.folded  # exact matches too
            and c.id != besides
            and c.merged_into is None
        ]

    def move_records(self, merged_id: str, *, to: str) -> None:
        rows: list[CaseReferral | CaseStageHistory | ConsentChange] = [
            *self.referral_rows.values(),
            *self.history_rows,
            *self.consent_rows,
        ]
        for row in rows:
            if row.case_id == merged_id:
                row.case_id = to

    # --- the legal clocks ---------------------------------------------------------------
    def overdue(self, clock: CaseClock, now: datetime, *, limit: int) -> list[CaseRecord]:
        due, met, missed = CLOCK_FIELDS[clock]
        return [
            c
            for c in self.case_rows.values()
            if (due_at := getattr(c, due)) is not None
            and due_at < now
            and getattr(c, met) is None
            and getattr(c, missed) is None
            and c.merged_into is None
            and c.status != CaseStage.CLOSED.value
        ][:limit]

    def claim_missed(self, case_id: str, clock: CaseClock, now: datetime) -> bool:
        missed = CLOCK_FIELDS[clock][2]
        record = self.case_rows.get(case_id)
        if record is None or getattr(record, missed) is not None:
            return False
        setattr(record, missed, now)
        return True

    # --- history and consent ------------------------------------------------------------
    def add_stage_change(self, row: CaseStageHistory) -> None:
        row.id = row.id or next(self._ids)
        self.history_rows.append(row)

    def history(self, case_id: str) -> list[CaseStageHistory]:
        return sorted((r for r in self.history_rows if r.case_id == case_id), key=_serial)

    def add_consent(self, row: ConsentChange) -> None:
        row.id = row.id or next(self._ids)
        self.consent_rows.append(row)

    def consents(self, case_id: str) -> list[ConsentChange]:
        return sorted((r for r in self.consent_rows if r.case_id == case_id), key=_serial)

    # --- duplicates ---------------------------------------------------------------------
    def add_duplicate_link(self, link: DuplicateLink) -> None:
        if any(
            (other.case_id, other.other_case_id) == (link.case_id, link.other_case_id)
            for other in self.link_rows.values()
        ):
            raise ValueError("the two cases are already linked")  # a unique constraint
        self.link_rows[link.id] = link

    def save_duplicate_link(self, link: DuplicateLink) -> None:
        self.link_rows[link.id] = link

    def duplicate_links(self, case_id: str) -> list[DuplicateLink]:
        return sorted(
            (link for link in self.link_rows.values() if link.case_id == case_id),
            key=lambda link: (link.created_at, link.id),
        )

    # --- referrals ----------------------------------------------------------------------
    def referral(self, referral_id: str) -> CaseReferral | None:
        return self.referral_rows.get(referral_id)

    def new_referral(self, **values: Any) -> CaseReferral:
        return CaseReferral(**values)

    def save_referral(self, row: CaseReferral) -> None:
        self.referral_rows[row.referral_id] = row

    def referrals(self, case_id: str) -> list[CaseReferral]:
        return sorted(
            (r for r in self.referral_rows.values() if r.case_id == case_id),
            key=lambda r: r.referral_id,
        )

    # --- data keys ----------------------------------------------------------------------
    def data_key(self, case_id: str) -> CaseDataKey | None:
        return self.key_rows.get(case_id)

    def save_data_key(self, row: CaseDataKey) -> None:
        self.key_rows[row.case_id] = row


def _serial(row: CaseStageHistory | ConsentChange) -> int:
    return row.id or 0
