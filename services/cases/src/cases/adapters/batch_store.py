"""`SqlStore` for many new cases at once (the bulk import).

Per case, `SqlStore.duplicate_candidates` is a query, SQLAlchemy flushes every pending row
before it, and each row is then written by the ORM's flush: for an import that was most of
the cost of a row. Here the candidates of a whole batch are read once, before it, the cases
the batch adds are kept beside them, and its rows are written by `write`, one INSERT per
table, so `record_case` runs unchanged.

The batch is prepared over a reading session and written in a short transaction of its
own, so an import holds SQLite's write lock only while it inserts, never while it seals
identities. `unchanged` tells the writer whether a case that could be a duplicate was
stored in between (then the batch must be prepared again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import insert, or_
from sqlmodel import Session, SQLModel, col, select

from cases.adapters.store import SqlStore
from cases.adapters.tables import CaseDataKey, CaseRecord, ConsentChange, DuplicateLink
from cases.domain.duplicates import BlockingKeys
from chassis.unit_of_work import UnitOfWork


class BatchStore(SqlStore):
    """`CaseStore` for a batch of new cases whose blocking keys are known beforehand."""

    def __init__(self, uow: UnitOfWork, keys: Iterable[BlockingKeys]) -> None:
        super().__init__(uow)
        self._keys = list(keys)
        self._exact: dict[str, list[CaseRecord]] = defaultdict(list)
        self._folded: dict[str, list[CaseRecord]] = defaultdict(list)
        self._rows: dict[type[SQLModel], list[dict[str, Any]]] = defaultdict(list)
        stored = _candidates(self.session, self._keys)
        self._stored = {record.id for record in stored}
        for record in stored:
            self._remember(record)

    def add(self, row: SQLModel) -> None:
        """Keep a new row for `write` (it is not in the session: nothing reads it back)."""
        values = vars(row)  # a table model keeps every field in its __dict__
        self._rows[type(row)].append({name: values[name] for name in _columns(type(row))})

    def unchanged(self, session: Session) -> bool:
        """True when the stored duplicate candidates are still those the batch met."""
        return {record.id for record in _candidates(session, self._keys)} == self._stored

    def write(self, session: Session) -> None:
        """Insert the kept rows, one statement per table."""
        connection = session.connection()
        for table, rows in self._rows.items():
            connection.execute(insert(table.__table__), rows)  # type: ignore[attr-defined]
        self._rows.clear()

    def add_case(self, record: CaseRecord) -> None:
        self.add(record)
        self._remember(record)

    def save_data_key(self, row: CaseDataKey) -> None:
        self.add(row)

    def add_consent(self, row: ConsentChange) -> None:
        self.add(row)

    def add_duplicate_link(self, link: DuplicateLink) -> None:
        self.add(link)

    def duplicate_candidates(self, keys: BlockingKeys, *, besides: str) -> list[CaseRecord]:
        found = {r.id: r for r in self._exact.get(keys.exact, ())}
        found.update((r.id, r) for r in self._folded.get(keys.folded, ()))
        return [r for r in found.values() if r.id != besides and r.merged_into is None]

    def _remember(self, record: CaseRecord) -> None:
        if record.dedup_key:
            self._exact[record.dedup_key].append(record)
        if record.dedup_key_folded:
            self._folded[record.dedup_key_folded].append(record)


def _candidates(session: Session, keys: list[BlockingKeys]) -> list[CaseRecord]:
    """Unmerged stored cases with an exact or folded key among `keys`."""
    if not keys:
        return []
    query = select(CaseRecord).where(
        or_(
            col(CaseRecord.dedup_key).in_({k.exact for k in keys}),
            col(CaseRecord.dedup_key_folded).in_({k.folded for k in keys}),
        ),
        col(CaseRecord.merged_into).is_(None),
    )
    return list(session.exec(query))


@cache
def _columns(table: type[SQLModel]) -> list[str]:
    """Columns an INSERT names: all but a serial id, which the database assigns."""
    columns = table.__table__.columns  # type: ignore[attr-defined]
    serial = table.__table__.autoincrement_column  # type: ignore[attr-defined]
    return [column.key for column in columns if column is not serial]
