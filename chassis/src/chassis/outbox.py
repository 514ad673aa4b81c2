"""Transactional outbox: events are rows written with the state change, published later.

A service never publishes to Kafka inside a request. It stages the event in the same
transaction as its effect; the relay publishes committed rows in order and marks them.
Publishing is at-least-once (a crash between publish and mark re-sends), so every
consumer deduplicates by event id (see `chassis.inbox`).

Each row stores the record exactly as it will be sent, headers included: the `traceparent`
of the span that staged it (`ce_traceparent`, see `chassis.tracing`) and, when given, the
id of the event that caused it (`ce_causationid`).

Lanes. Each row is in a lane: `URGENT` (a child in immediate danger), `NORMAL`, or `BULK`
(an import). The relay sends the faster lanes first and the bulk lane only as fast as the
`BulkGate` allows (see `chassis.pacing`): a backlog waits here, in a table that can be read
in priority order, not in Kafka's first-in first-out topics. Events of one key (a case) stay
in order: before each batch, pending rows of a key move into the fastest lane any pending
row of that key is in (`_promote`), so a later urgent event never overtakes an earlier one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from binascii import a2b_base64, b2a_base64
from collections.abc import Callable
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from sqlalchemy import Index, bindparam, case, func, text, update
from sqlalchemy.engine import URL, Engine, Result
from sqlalchemy.orm import aliased
from sqlmodel import Field, Session, SQLModel, col, select

from chassis.bulk_insert import insert_many
from chassis.db import transaction
from chassis.file_watch import FileWatch
from chassis.metrics import (
    EVENTS_PRODUCED,
    OUTBOX_BACKLOG,
    OUTBOX_BULK_WAITING,
    OUTBOX_OLDEST_AGE,
)
from chassis.pg_listen import NotifyWatch, notify_outbox
from chassis.timestamps import UtcDateTime
from chassis.tracing import current_traceparent, ensure_span
from contracts.base import EventModel
from contracts.envelope import KafkaRecord, encode
from contracts.identifiers import new_id

if TYPE_CHECKING:  # an API writes outbox rows but never publishes: no Kafka client there
    from chassis.publisher import KafkaPublisher

logger = logging.getLogger(__name__)


class Lane(IntEnum):
    """Relay priority, fastest first (the relay orders by it).

    It travels with the events as the `ce_lane` header (none for normal), and what a
    consumer stages in answer takes the lane of the event it handles (`UnitOfWork`)."""

    URGENT = 0
    NORMAL = 1
    BULK = 2

    @property
    def header(self) -> str | None:
        return None if self is Lane.NORMAL else self.name.lower()

    @classmethod
    def of_header(cls, value: str | None) -> Lane:
        """Unknown values are normal: a newer producer's lane must not stop a consumer."""
        return {"urgent": cls.URGENT, "bulk": cls.BULK}.get(value or "", cls.NORMAL)


_PENDING = text("published_at IS NULL")


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        # Partial: they hold only unpublished rows, so they stay small however long the
        # outbox grows, and the relay reads its next batch in index order.
        Index(
            "ix_outbox_pending_lane", "lane", "id", sqlite_where=_PENDING, postgresql_where=_PENDING
        ),
        Index(
            "ix_outbox_pending_key", "key", "lane", sqlite_where=_PENDING, postgresql_where=_PENDING
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=64)
    event_type: str = Field(max_length=200)
    topic: str = Field(max_length=249)
    key: bytes | None = None
    value: bytes
    headers: str = Field(description="JSON list of [name, base64 value] pairs.")
    created_at: datetime = Field(sa_type=UtcDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    lane: int = Field(default=Lane.NORMAL, sa_column_kwargs={"server_default": "1"})

    def to_record(self) -> KafkaRecord:
        return _record(self.topic, self.key, self.value, self.headers)


def stage_event(
    session: Session,
    event: EventModel,
    *,
    topic: str,
    source: str,
    correlation_id: str | None,
    causation_id: str | None = None,
    lane: Lane = Lane.NORMAL,
    into: list[dict[str, Any]] | None = None,
) -> KafkaRecord:
    """Add the event to the outbox of the current transaction (it is sent after commit),
    with the current trace context (a span of its own if there is none).

    `into`: the row's values are appended there instead, for `insert_rows` to write a
    bulk writer's thousands of rows with one statement (no ORM object per event)."""
    with ensure_span(f"stage {event.ce_type}"):
        traceparent = current_traceparent()
    event_id = new_id()
    record = encode(
        event,
        topic=topic,
        source=source,
        correlation_id=correlation_id,
        event_id=event_id,
        traceparent=traceparent,
        causation_id=causation_id,
        lane=lane.header,
    )
    headers = [[name, b2a_base64(value, newline=False).decode()] for name, value in record.headers]
    row: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event.ce_type,
        "topic": topic,
        "key": record.key,
        "value": record.value,
        "headers": json.dumps(headers),
        "created_at": datetime.now(UTC),
        "lane": int(lane),
    }
    if into is None:
        session.add(OutboxEvent(**row))
        notify_outbox(session)
    else:
        into.append(row)
    return record


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write rows collected by `stage_event(into=...)`, in order (ids follow it), and
    forget them."""
    if rows:
        insert_many(session.connection(), OutboxEvent.__table__, rows)  # type: ignore[attr-defined]
        rows.clear()
        notify_outbox(session)


class BulkGate(Protocol):
    """How many bulk-lane rows the relay may send now (0: hold them back)."""

    async def allowance(self) -> int: ...


class Ungated:
    """Bulk rows go out behind the faster lanes, as fast as the relay can send them."""

    def __init__(self, batch_size: int = 500) -> None:
        self._batch_size = batch_size

    async def allowance(self) -> int:
        return self._batch_size


class CommitWatch(Protocol):
    """Wakes an idle relay when another connection commits (`FileWatch`, `NotifyWatch`)."""

    def attach(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None]) -> None: ...

    def arm(self) -> bool: ...

    def close(self) -> None: ...


# The fastest a relay looks again when woken by other connections' writes (under load, all
# the time). 50 ms, as often as it used to poll, was the longest step of an open-loop case
# at 50 cases/s (p50 46 ms in the cases relay); at 20 ms it is 26 ms, and a look that finds
# nothing costs a `PRAGMA data_version` or one count.
WATCH_SPACING_S = 0.02


class OutboxRelay:
    """Moves committed outbox rows to Kafka, fastest lane first and oldest first within a
    lane, and marks them published."""

    def __init__(
        self,
        engine: Engine,
        publisher: KafkaPublisher,
        *,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 0.1,
        max_backoff_s: float = 5.0,
        bulk_gate: BulkGate | None = None,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._service = service
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._max_backoff_s = max_backoff_s
        self._changes = DatabaseChanges.of(engine)
        self._gate = bulk_gate or Ungated(batch_size)
        self._bulk_waiting = True  # unknown at start: look
        self._statements = _RelayStatements(batch_size)

    async def run(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Relay until `stop` is set; a broker outage delays events, it never loses them.

        Rows committed by other processes (the API) wake it through a watch: on the
        database's WAL file (SQLite) or a LISTEN for their NOTIFY (PostgreSQL); they are found
        by polling where there is none. `wake` lets this process's own consumers cut the
        wait short.
        """
        wake = wake or asyncio.Event()
        changed = asyncio.Event()  # the watch: some connection wrote the database
        watch = self._changes.watch()
        if watch is not None:
            watch.attach(asyncio.get_running_loop(), changed.set)
        backoff = self._poll_interval_s
        try:
            while not stop.is_set():
                wake.clear()
                changed.clear()
                looked_at = time.monotonic()
                try:
                    published = await self.relay_once()
                    backoff = self._poll_interval_s
                except Exception:
                    logger.warning("outbox relay failed; retrying", exc_info=True)
                    backoff = min(backoff * 2, self._max_backoff_s)
                    published = 0
                    await _wait(stop, backoff)
                    continue
                if published == 0:
                    await _wait_any((stop, wake, changed), self._idle_wait_s(watch))
                    if changed.is_set() and not wake.is_set():
                        # Under load every commit of every connection writes the WAL: look
                        # no more often than the relay used to poll (this process's own
                        # commits, `wake`, are not held back).
                        spacing = looked_at + WATCH_SPACING_S - time.monotonic()
                        await _wait_any((stop, wake), max(0.0, spacing))
        finally:
            if watch is not None:
                watch.close()

    def _idle_wait_s(self, watch: CommitWatch | None) -> float:
        # Watched, any process's commit wakes the relay: wait for it, or the next recheck.
        # Held-back bulk rows are looked at every poll: the gate's allowance changes alone.
        if watch is not None and not self._bulk_waiting and watch.arm():
            return self._changes.recheck_s
        return self._poll_interval_s

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; return how many were published."""
        if not self._changes.maybe_changed() and not self._bulk_waiting:
            return 0
        allowance = await self._gate.allowance() if self._bulk_waiting else 0
        rows, self._bulk_waiting = await asyncio.to_thread(self._pending, allowance)
        if not rows:
            if not self._bulk_waiting:
                self._changes.drained()
            return 0
        await self._publisher.publish([row.to_record() for row in rows])
        await asyncio.to_thread(self._mark_published, [row.id for row in rows if row.id])
        for row in rows:
            EVENTS_PRODUCED.labels(self._service, row.topic, row.event_type).inc()
        return len(rows)

    def _pending(self, bulk_allowance: int) -> tuple[list[PendingRow], bool]:
        """The next batch (urgent, then normal, then at most `bulk_allowance` bulk rows) and
        whether bulk rows are left waiting."""
        rows, waiting, lanes = self._read(bulk_allowance)
        # A key can have rows in two lanes only if two lanes have pending rows, and only the
        # rows of a lane with a slower one pending can overtake: look at those alone (under
        # load: the few urgent rows, not the whole normal backlog).
        faster_than = max(lanes, default=Lane.URGENT)
        if faster_than > min(lanes, default=Lane.URGENT) and self._lanes_mixed(faster_than):
            self._promote()
            rows, waiting, _ = self._read(bulk_allowance)
        return rows, waiting

    def _read(self, bulk_allowance: int) -> tuple[list[PendingRow], bool, set[Lane]]:
        """The batch, whether bulk rows are left waiting, and the lanes with pending rows."""
        statements = self._statements
        with self._engine.connect() as connection:
            # Counted first: the gauges need it, and it tells which lanes are worth a query
            # (under load a relay looks at a few rows at a time, so each query counts).
            backlog, bulk, urgent = connection.execute(statements.counted).one()
            rows: list[PendingRow] = []
            if backlog > bulk:
                rows = _loaded(connection.execute(statements.prompt))
            room = max(0, min(bulk_allowance, self._batch_size - len(rows), bulk))
            if room:
                rows += _loaded(connection.execute(statements.bulk.limit(room)))
            waiting = bulk > room
            self._update_gauges(rows, backlog, bulk)
            counts = {Lane.URGENT: urgent, Lane.NORMAL: backlog - bulk - urgent, Lane.BULK: bulk}
            # With the batch's own lanes: a row committed between the count and the read.
            lanes = {lane for lane, count in counts.items() if count}
            return rows, waiting, lanes | {Lane(row.lane) for row in rows}

    def _lanes_mixed(self, faster_than: Lane) -> bool:
        """Whether some key has pending rows in two lanes (rare: a case escalated, or changed
        while its import was still waiting). Looked up from the rows of the lanes faster than
        `faster_than`, the slowest with pending rows."""
        fast, slow = aliased(OutboxEvent, name="fast"), aliased(OutboxEvent, name="slow")
        slower = (
            select(slow.id)
            .where(col(slow.published_at).is_(None), col(slow.key) == col(fast.key))
            .where(col(slow.lane) > col(fast.lane))
        )
        query = (
            select(fast.id)
            .where(col(fast.published_at).is_(None), col(fast.lane) < int(faster_than))
            .where(slower.exists())
            .limit(1)
        )
        with Session(self._engine) as session:
            return session.exec(query).first() is not None

    def _promote(self) -> None:
        """Move a key's pending rows into the fastest lane it has a pending row in."""
        pending = col(OutboxEvent.published_at).is_(None)
        with transaction(self._engine) as session:
            for fast in (Lane.URGENT, Lane.NORMAL):
                keys_in_lane = select(OutboxEvent.key).where(pending, col(OutboxEvent.lane) == fast)
                session.execute(
                    update(OutboxEvent)
                    .where(pending, col(OutboxEvent.lane) > fast)
                    .where(col(OutboxEvent.key).in_(keys_in_lane))
                    .values(lane=fast)
                )

    def _update_gauges(self, rows: list[PendingRow], backlog: int, bulk: int) -> None:
        """Backlog: every pending row; bulk waiting: the import rows held back; oldest age:
        of the urgent and normal rows only, since an import waits by design, not by fault."""
        OUTBOX_BACKLOG.labels(self._service).set(backlog)
        OUTBOX_BULK_WAITING.labels(self._service).set(bulk)
        prompt = [_aware(row.created_at) for row in rows if row.lane != Lane.BULK]
        age = (datetime.now(UTC) - min(prompt)).total_seconds() if prompt else 0.0
        OUTBOX_OLDEST_AGE.labels(self._service).set(max(0.0, age))

    def _mark_published(self, ids: list[int]) -> None:
        # Not `transaction()`: its process-wide lock would queue the relay behind the agents,
        # which take it again batch after batch; SQLite's own lock wait lets it in between.
        with self._engine.begin() as connection:  # no ORM: nothing here is an object
            connection.execute(
                self._statements.mark_published, {"ids": ids, "now": datetime.now(UTC)}
            )


class PendingRow(NamedTuple):
    """An outbox row read to be sent, not changed: plain values. A model per row (even
    built without validation) was 7 % of a busy relay's process (py-spy, a batch burst)."""

    id: int
    event_id: str
    event_type: str
    topic: str
    key: bytes | None
    value: bytes
    headers: str
    created_at: datetime
    lane: int

    def to_record(self) -> KafkaRecord:
        return _record(self.topic, self.key, self.value, self.headers)


def _record(topic: str, key: bytes | None, value: bytes, headers: str) -> KafkaRecord:
    # binascii, not `base64`: its wrappers doubled the cost of a relay's read of a row.
    pairs = [(name, a2b_base64(encoded)) for name, encoded in json.loads(headers)]
    return KafkaRecord(topic=topic, key=key, value=value, headers=pairs)


def _loaded(result: Result[Any]) -> list[PendingRow]:
    return [PendingRow._make(row) for row in result]


class _RelayStatements:
    """The relay's statements, built once: it runs them several times a second under load,
    and building a statement costs more than SQLite takes to run it."""

    def __init__(self, batch_size: int) -> None:
        pending, lane = col(OutboxEvent.published_at).is_(None), col(OutboxEvent.lane)
        is_bulk = case((lane == Lane.BULK, 1), else_=0)
        is_urgent = case((lane == Lane.URGENT, 1), else_=0)
        self.counted = select(
            func.count(), func.coalesce(func.sum(is_bulk), 0), func.coalesce(func.sum(is_urgent), 0)
        ).where(pending)
        # In the order of `ix_outbox_pending_lane`: no sort of the pending rows.
        by_age = col(OutboxEvent.id)
        table = OutboxEvent.__table__  # type: ignore[attr-defined]
        sent = select(*(table.c[name] for name in PendingRow._fields))
        self.prompt = sent.where(pending, lane < Lane.BULK).order_by(lane, by_age).limit(batch_size)
        self.bulk = sent.where(pending, lane == Lane.BULK).order_by(by_age)
        self.mark_published = (
            update(OutboxEvent)
            .where(col(OutboxEvent.id).in_(bindparam("ids", expanding=True)))
            .values(published_at=bindparam("now", type_=UtcDateTime()))
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class DatabaseChanges:
    """Whether anything committed to the database since the relay last found it drained.

    SQLite's `PRAGMA data_version` changes whenever another connection commits, and costs
    microseconds: an idle relay reads it instead of querying the outbox ten times a second
    (that query was ~40 % of an idle worker's CPU). Read before the query, so a commit that
    races it is seen next time. Other databases (and in-memory SQLite) always query: on
    PostgreSQL whenever its `NotifyWatch` wakes the relay. Every relay queries at least once
    per `recheck_s`, whatever the pragma says.
    """

    def __init__(self, path: str | None, recheck_s: float = 5.0, url: URL | None = None) -> None:
        self._path = path
        self._url = url  # PostgreSQL's, to listen on
        self._connection = (
            sqlite3.connect(path, check_same_thread=False, timeout=30) if path else None
        )
        self.recheck_s = recheck_s
        self._seen: int | None = None
        self._drained_at = 0.0
        self._version_at_look: int | None = None

    @classmethod
    def of(cls, engine: Engine) -> DatabaseChanges:
        url = engine.url
        if url.get_backend_name() == "postgresql":
            return cls(None, url=url)
        on_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        return cls(url.database if on_file and "mode=memory" not in str(url) else None)

    def maybe_changed(self) -> bool:
        """True unless the outbox was drained and nothing was committed since."""
        version = self._version()
        self._version_at_look = version
        if version is None or self._seen is None or version != self._seen:
            return True
        return time.monotonic() - self._drained_at >= self.recheck_s

    def watch(self) -> CommitWatch | None:
        """A watch on the database's WAL file, which every commit writes, or on PostgreSQL
        a LISTEN for what writers of outbox rows NOTIFY (None: poll)."""
        if self._path:
            return FileWatch.open(Path(f"{self._path}-wal"))
        return NotifyWatch(self._url) if self._url is not None else None

    def drained(self) -> None:
        """The query this look allowed found nothing: wait for the next commit."""
        self._seen = self._version_at_look
        self._drained_at = time.monotonic()

    def _version(self) -> int | None:
        if self._connection is None:
            return None
        try:
            return int(self._connection.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return None  # locked or away: query as before, which reports the problem


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    await _wait_any((stop,), seconds)


async def _wait_any(events: tuple[asyncio.Event, ...], seconds: float) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
