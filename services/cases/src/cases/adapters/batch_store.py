"""`SqlStore` for many new cases at once (the bulk import).

Per case, `SqlStore.duplicate_candidates` is a query, SQLAlchemy flushes every pending row
before it, and each row is then written by the ORM's flush: for an import that was most of
the cost of a row. Here the candidates of a whole batch are read once, before it, the cases
the batch adds are kept beside them, and its rows are written by `write`, one INSERT per
table, so `record_case` runs unchanged.

The batch is prepared over a reading session into a `PreparedBatch` of plain values, and
written in a short transaction of its own: an import holds SQLite's write lock only while it
inserts, never while it seals identities.
`PreparedBatch.unchanged` tells the writer whether a case that could be a duplicate was
stored in between (then the batch must be prepared again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam
from sqlmodel import Session, SQLModel, col, select

from cases.adapters.store import RowT, SqlStore
from cases.adapters.tables import CaseDataKey, CaseRecord, ConsentChange, DuplicateLink
from cases.domain.duplicates import BlockingKeys
from chassis.bulk_insert import insert_many
from chassis.outbox import insert_rows
from chassis.rows import plain_row, values_of
from chassis.unit_of_work import UnitOfWork


class BatchStore(SqlStore):
    """`CaseStore` for a batch of new cases whose blocking keys are known beforehand."""

    def __init__(self, uow: UnitOfWork, keys: Iterable[BlockingKeys]) -> None:
        super().__init__(uow)
        self._keys = list(keys)
        self._exact: dict[str, list[CaseRecord]] = defaultdict(list)
        self._folded: dict[str, list[CaseRecord]] = defaultdict(list)
        self._rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        stored = _candidates(self.session, self._keys)
        self._stored = {record.id for record in stored}
        for record in stored:
            self._remember(record)

    def row(self, model: type[RowT], **values: Any) -> RowT:
        """Plain values under the model's name (`chassis.rows.plain_row`): no ORM state,
        which a row the session never sees does not need; setting an attribute on it
        afterwards fails."""
        return plain_row(model, **values)

    def add(self, row: SQLModel) -> None:
        """Keep a new row for the batch (it is not in the session: nothing reads it back)."""
        table, values = values_of(row)
        self._rows[table.name].append(values)

    def prepared(self, keys: list[str]) -> PreparedBatch:
        """What the batch writes: its rows, then its events (`keys`: the row keys it
        imports). After-commit effects cannot wait in a value: none is allowed here."""
        if self.uow.effects:
            raise RuntimeError("a batch store cannot carry after-commit effects")
        return PreparedBatch(
            keys=keys,
            rows=dict(self._rows),
            outbox=self.uow.staged_outbox(),
            blocking=self._keys,
            stored=frozenset(self._stored),
        )

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


@dataclass(frozen=True)
class PreparedBatch:
    """A batch of new cases as plain values, written by `write` in one transaction, one
    INSERT per table (`chassis.bulk_insert.insert_many`)."""

    keys: list[str]  # idempotency keys of the rows it imports
    rows: dict[str, list[dict[str, Any]]]  # table → rows, in the order to insert them
    outbox: list[dict[str, Any]]  # its events, staged in order
    blocking: list[BlockingKeys]
    stored: frozenset[str]  # stored cases it was checked against for duplicates

    def unchanged(self, session: Session) -> bool:
        """True when the stored duplicate candidates are still those the batch met."""
        if not self.blocking:
            return not self.stored
        # Their ids only: loading whole cases again cost as much as preparing a report.
        return set(session.exec(_CANDIDATE_IDS, params=_key_values(self.blocking))) == self.stored

    def write(self, session: Session) -> None:
        connection = session.connection()
        for name, rows in self.rows.items():
            insert_many(connection, SQLModel.metadata.tables[name], rows)
        insert_rows(session, list(self.outbox))


def _candidates(session: Session, keys: list[BlockingKeys]) -> list[CaseRecord]:
    """Unmerged stored cases with a folded key among `keys`: the exact matches among them
    (`BlockingKeys`: same folded key)."""
    if not keys:
        return []
    return list(session.exec(_CANDIDATES, params=_key_values(keys)))


# Built once, the keys bound at each call: building the expression (and its cache key) for
# every `POST /cases` cost the API more than running it, twice a report (prepare, recheck).
_CANDIDATE: ColumnElement[bool] = and_(
    col(CaseRecord.dedup_key_folded).in_(bindparam("folded", expanding=True)),
    col(CaseRecord.merged_into).is_(None),
)
_CANDIDATES = select(CaseRecord).where(_CANDIDATE)
_CANDIDATE_IDS = select(col(CaseRecord.id)).where(_CANDIDATE)


def _key_values(keys: list[BlockingKeys]) -> dict[str, list[str]]:
    return {"folded": sorted({k.folded for k in keys})}
