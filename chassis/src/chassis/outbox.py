"""Transactional outbox: events are rows written with the state change, published later.

A service never publishes to Kafka inside a request. It stages the event in the same
transaction as its effect; the relay publishes committed rows in order and marks them.
Publishing is at-least-once (a crash between publish and mark re-sends), so every
consumer deduplicates by event id (see `chassis.inbox`).

Each row stores the record exactly as it will be sent, headers included: the `traceparent`
of the span that staged it (`ce_traceparent`, see `chassis.tracing`) and, when given, the
id of the event that caused it (`ce_causationid`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
import time
from datetime import UTC, datetime

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from chassis.metrics import EVENTS_PRODUCED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from chassis.publisher import KafkaPublisher
from chassis.timestamps import UtcDateTime
from chassis.tracing import current_traceparent, ensure_span
from contracts.base import EventModel
from contracts.envelope import KafkaRecord, encode

logger = logging.getLogger(__name__)


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=64)
    event_type: str = Field(max_length=200)
    topic: str = Field(max_length=249)
    key: bytes | None = None
    value: bytes
    headers: str = Field(description="JSON list of [name, base64 value] pairs.")
    created_at: datetime = Field(sa_type=UtcDateTime)
    published_at: datetime | None = Field(default=None, index=True, sa_type=UtcDateTime)

    def to_record(self) -> KafkaRecord:
        headers = [(name, base64.b64decode(value)) for name, value in json.loads(self.headers)]
        return KafkaRecord(topic=self.topic, key=self.key, value=self.value, headers=headers)


def stage_event(
    session: Session,
    event: EventModel,
    *,
    topic: str,
    source: str,
    correlation_id: str | None,
    causation_id: str | None = None,
) -> KafkaRecord:
    """Add the event to the outbox of the current transaction (it is sent after commit),
    with the current trace context (a span of its own if there is none)."""
    with ensure_span(f"stage {event.ce_type}"):
        traceparent = current_traceparent()
    record = encode(
        event,
        topic=topic,
        source=source,
        correlation_id=correlation_id,
        traceparent=traceparent,
        causation_id=causation_id,
    )
    headers = [[name, base64.b64encode(value).decode()] for name, value in record.headers]
    session.add(
        OutboxEvent(
            event_id=record.header("ce_id") or "",
            event_type=event.ce_type,
            topic=topic,
            key=record.key,
            value=record.value,
            headers=json.dumps(headers),
            created_at=datetime.now(UTC),
        )
    )
    return record


class OutboxRelay:
    """Moves committed outbox rows to Kafka, oldest first, and marks them published."""

    def __init__(
        self,
        engine: Engine,
        publisher: KafkaPublisher,
        *,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 0.1,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._service = service
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._max_backoff_s = max_backoff_s
        self._changes = DatabaseChanges.of(engine)

    async def run(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Relay until `stop` is set; a broker outage delays events, it never loses them.

        Rows committed by other processes (the API) are found by polling; `wake` lets
        this process's own consumers cut the wait short.
        """
        wake = wake or asyncio.Event()
        backoff = self._poll_interval_s
        while not stop.is_set():
            wake.clear()
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
                await _wait_any((stop, wake), self._poll_interval_s)

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; return how many were published."""
        if not self._changes.maybe_changed():
            return 0
        rows = await asyncio.to_thread(self._pending)
        if not rows:
            self._changes.drained()
            return 0
        await self._publisher.publish([row.to_record() for row in rows])
        await asyncio.to_thread(self._mark_published, [row.id for row in rows if row.id])
        for row in rows:
            EVENTS_PRODUCED.labels(self._service, row.topic, row.event_type).inc()
        return len(rows)

    def _pending(self) -> list[OutboxEvent]:
        with Session(self._engine, expire_on_commit=False) as session:
            rows = list(
                session.exec(
                    select(OutboxEvent)
                    .where(col(OutboxEvent.published_at).is_(None))
                    .order_by(col(OutboxEvent.id))
                    .limit(self._batch_size)
                )
            )
            self._update_gauges(session, rows)
            return rows

    def _update_gauges(self, session: Session, rows: list[OutboxEvent]) -> None:
        if not rows:
            OUTBOX_BACKLOG.labels(self._service).set(0)
            OUTBOX_OLDEST_AGE.labels(self._service).set(0)
            return
        backlog = session.exec(
            select(func.count()).where(col(OutboxEvent.published_at).is_(None))
        ).one()
        OUTBOX_BACKLOG.labels(self._service).set(backlog)
        oldest = rows[0].created_at
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        OUTBOX_OLDEST_AGE.labels(self._service).set(
            max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        )

    def _mark_published(self, ids: list[int]) -> None:
        now = datetime.now(UTC)
        with Session(self._engine) as session, session.begin():
            session.execute(
                update(OutboxEvent).where(col(OutboxEvent.id).in_(ids)).values(published_at=now)
            )


class DatabaseChanges:
    """Whether anything committed to the database since the relay last found it drained.

    SQLite's `PRAGMA data_version` changes whenever another connection commits, and costs
    microseconds: an idle relay reads it instead of querying the outbox ten times a second
    (that query was ~40 % of an idle worker's CPU). Read before the query, so a commit that
    races it is seen next time. Other databases (and in-memory SQLite) always query; so does
    every relay at least once per `recheck_s`, whatever the pragma says.
    """

    def __init__(self, path: str | None, recheck_s: float = 5.0) -> None:
        self._connection = (
            sqlite3.connect(path, check_same_thread=False, timeout=30) if path else None
        )
        self._recheck_s = recheck_s
        self._seen: int | None = None
        self._drained_at = 0.0
        self._version_at_look: int | None = None

    @classmethod
    def of(cls, engine: Engine) -> DatabaseChanges:
        url = engine.url
        on_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        return cls(url.database if on_file and "mode=memory" not in str(url) else None)

    def maybe_changed(self) -> bool:
        """True unless the outbox was drained and nothing was committed since."""
        version = self._version()
        self._version_at_look = version
        if version is None or self._seen is None or version != self._seen:
            return True
        return time.monotonic() - self._drained_at > self._recheck_s

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
