"""Many new cases at once, the same way the bulk import and `POST /cases:batch` take them.

`CaseBatch` runs `record_case` for each command over a `BatchStore`: the duplicate
candidates of the whole batch read with one query, rows and events kept as values. It is
prepared over a reading session, so the sealing and encoding hold no write lock (nor a
read snapshot);
`write_unless_overtaken` then writes the `PreparedBatch` in one short transaction, unless
a case one of its children may duplicate was stored meanwhile (the caller prepares it again
inside the write lock then).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cases import handlers
from cases.adapters.batch_store import BatchStore, PreparedBatch
from cases.adapters.tables import CaseRecord
from cases.domain.commands import RecordCase
from cases.domain.duplicates import blocking_keys
from chassis.db import transaction
from chassis.outbox import Lane
from chassis.tracing import ensure_span
from chassis.unit_of_work import UnitOfWork, correlation_or_new


class CaseBatch:
    """New cases recorded together, nothing written until `prepared` is."""

    def __init__(
        self,
        session: Session,
        commands: Sequence[RecordCase],
        deps: handlers.CaseDeps,
        *,
        source: str,
        lane: Lane = Lane.NORMAL,
        correlation_id: str | None = None,
        reading: bool = False,
    ) -> None:
        """`reading`: `session` is a `reading_session` that only reads for the batch, and
        its transaction ends once the batch's candidates are read."""
        self.deps = deps
        self.uow = UnitOfWork(
            session=session,
            source=source,
            correlation_id=correlation_or_new(correlation_id),
            lane=lane,
            batch_outbox=True,
        )
        # Worked out once a command: for the batch's candidates here, for its case below.
        self._keys = {
            id(c): blocking_keys(
                deps.dedup_secret, c.child.full_name, c.child.date_of_birth, c.commune_code
            )
            for c in commands
        }
        self._commands = commands  # keeps each id() above its command's
        self.store = BatchStore(self.uow, filter(None, self._keys.values()))
        if reading:
            # All it reads is read. Under SQLite, a read transaction kept while the batch is
            # sealed and encoded kept the WAL from being checkpointed back to its start, and
            # with batches always being prepared it grew past 100 MiB in an import.
            # `write_unless_overtaken` checks the candidates again, in the write lock.
            session.commit()

    def record(self, command: RecordCase) -> CaseRecord:
        # A command of another batch is not in `_keys`: none of these is freed, so no other
        # object can have its id().
        keys = self._keys.get(id(command))
        return handlers.record_case(self.store, command, self.deps, keys=keys)

    def prepared(self, keys: list[str] | None = None) -> PreparedBatch:
        """Rows and events to write (`keys`: the idempotency keys it takes, if any)."""
        return self.store.prepared(keys or [])


def reading_session(engine: Engine) -> Session:
    """A session to prepare a batch over (`CaseBatch(..., reading=True)`): what it loaded
    stays loaded once its transaction ends."""
    return Session(engine, autoflush=False, expire_on_commit=False)


def write_unless_overtaken(
    engine: Engine,
    batch: PreparedBatch,
    *,
    overtaken: Callable[[Session], bool] = lambda _: False,
) -> bool:
    """Write `batch` in one transaction; False, with nothing written, when its duplicate
    candidates changed since it was prepared or `overtaken` says another writer took
    something it holds."""
    with ensure_span("write case batch"), transaction(engine) as session:
        if not batch.unchanged(session) or overtaken(session):
            return False
        batch.write(session)
    return True
