"""A unit of work: one database transaction and the events it will publish."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from chassis.db import transaction
from chassis.logs import current_correlation_id
from chassis.outbox import Lane, insert_rows, stage_event
from chassis.rows import KeptRow, NewRow, insert_values, values_of
from chassis.tracing import current_ids, ensure_span
from chassis.upsert import Upsert, upsert_values
from contracts.base import EventModel
from contracts.envelope import Envelope


def event_source(service: str) -> str:
    """The CloudEvent `source` of a service's events, one scheme everywhere: `/<service>`,
    and a service run once per instance as a path (`agencies-police` → `/agencies/police`).
    A job of a service may add a segment (`/cases/deadlines`)."""
    area, _, instance = service.partition("-")
    return f"/{area}/{instance}" if instance else f"/{area}"


def correlation_or_new(correlation_id: str | None = None) -> str | None:
    """The correlation id to stamp on new events: the one given, else the current request's
    or event's, else the current trace id (a CLI command, a scheduled job)."""
    ids = current_ids()
    return correlation_id or current_correlation_id() or (ids[0] if ids else None)


@dataclass
class UnitOfWork:
    """What a handler gets: the session for its effect and `publish` for its events.

    Events published here are outbox rows in the same transaction, so state and events
    commit together or not at all. The correlation id of the cause is carried along, and
    each event names its cause (`ce_causationid`): the event being handled, or — for the
    same event published again to another topic — the first copy.

    `lane` is the outbox lane of what it publishes (`chassis.outbox.Lane`): a consumer's is
    the lane of the event it handles (`ce_lane`), so an urgent case is first at every hop.
    An event published as `urgent` takes the urgent lane, except from a bulk unit of work
    (an import): a list's urgent rows must not crowd out the live reports the lane is for.

    `batch_outbox`: outbox rows, and new rows given to `insert`, are kept as values and
    written together by `write_outbox` (which `unit_of_work` calls before it commits), or by
    the consumer at the end of its batch: for a writer of thousands of events a transaction,
    where an ORM object and flush per event cost more than the event.
    """

    session: Session
    source: str
    correlation_id: str | None = None
    cause: Envelope | None = None
    lane: Lane = Lane.NORMAL
    effects: list[Callable[[], None]] = field(default_factory=list)
    batch_outbox: bool = False
    # id(event) → (event, its first id): the event is kept so its id() is not reused.
    _staged: dict[int, tuple[EventModel, str]] = field(default_factory=dict, repr=False)
    _outbox_rows: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _new_rows: list[NewRow] = field(default_factory=list, repr=False)
    _upserts: list[Upsert] = field(default_factory=list, repr=False)

    def after_commit(self, effect: Callable[[], None]) -> None:
        """Run `effect` (a metric, say) only once the transaction has committed: work that is
        rolled back and redone — a failed batch applied again — counts once."""
        self.effects.append(effect)

    def publish(
        self,
        event: EventModel,
        *,
        topic: str,
        causation_id: str | None = None,
        urgent: bool = False,
    ) -> None:
        """Stage `event` for `topic` (`causation_id`: the event that caused it, if not the
        default above)."""
        first = self._staged.get(id(event))
        original = first[1] if first else None
        record = stage_event(
            self.session,
            event,
            topic=topic,
            source=self.source,
            correlation_id=correlation_or_new(self.correlation_id),
            causation_id=causation_id or original or (self.cause.id if self.cause else None),
            lane=Lane.URGENT if urgent and self.lane is Lane.NORMAL else self.lane,
            into=self._outbox_rows if self.batch_outbox else None,
        )
        if original is None:
            self._staged[id(event)] = (event, record.header("ce_id") or "")

    def insert(self, row: SQLModel) -> None:
        """Insert a new row made as plain values (`model_construct`, see `chassis.rows`):
        with `batch_outbox`, at the end with the others, one INSERT a table; else at once."""
        if self.batch_outbox:
            self._new_rows.append(values_of(row))
        else:
            insert_values(self.session, [values_of(row)])

    def upsert(self, row: SQLModel, *, overwrite: bool = True) -> None:
        """Insert `row` (an ORM row or a plain one, `chassis.rows`), or, if its primary key
        is taken, overwrite that row (else keep it; a `KeptRow` overwrites only the columns
        it changed): with `batch_outbox`, at the end with the batch's others, one statement
        a table; else at once. A later read in the same batch does not see it, so only for
        rows a batch writes and never reads (or holds itself, as reporting's facts)."""
        changed = row.changed() if isinstance(row, KeptRow) and overwrite else None
        upsert = (*values_of(row), overwrite if changed is None else changed)
        if self.batch_outbox:
            self._upserts.append(upsert)
        else:
            upsert_values(self.session, [upsert])

    def staged_upserts(self) -> list[Upsert]:
        """Take the upserts `batch_outbox` kept, to write with `upsert_values`."""
        upserts, self._upserts = self._upserts, []
        return upserts

    def staged_rows(self) -> list[NewRow]:
        """Take the new rows `batch_outbox` kept, to write with `chassis.rows.insert_values`."""
        rows, self._new_rows = self._new_rows, []
        return rows

    def write_outbox(self) -> None:
        """Write the rows and outbox rows `batch_outbox` kept (nothing otherwise: already
        written)."""
        insert_values(self.session, self.staged_rows())
        upsert_values(self.session, self.staged_upserts())
        insert_rows(self.session, self._outbox_rows)

    def staged_outbox(self) -> list[dict[str, Any]]:
        """Take the outbox rows `batch_outbox` kept, as values, to write elsewhere
        (`chassis.outbox.insert_rows`), in another transaction or process."""
        rows, self._outbox_rows = self._outbox_rows, []
        return rows


@contextmanager
def unit_of_work(
    engine: Engine,
    *,
    source: str,
    correlation_id: str | None = None,
    lane: Lane = Lane.NORMAL,
    batch_outbox: bool = False,
) -> Iterator[UnitOfWork]:
    """A transaction, inside the current trace (or a new one named after `source`)."""
    with ensure_span(f"unit of work {source}"), transaction(engine) as session:
        uow = UnitOfWork(
            session=session,
            source=source,
            correlation_id=correlation_or_new(correlation_id),
            lane=lane,
            batch_outbox=batch_outbox,
        )
        yield uow
        uow.write_outbox()
    run_effects(uow.effects)


def run_effects(effects: list[Callable[[], None]]) -> None:
    for effect in effects:
        effect()
