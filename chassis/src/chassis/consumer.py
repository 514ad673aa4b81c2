"""The consumer runner's core: decode → check topic → validate → deduplicate → handle →
commit, or DLQ.

Transport-agnostic (the Faust agents in `chassis.worker` feed it), synchronous (it runs in a
worker thread, never inside the event loop), and total: every record ends as processed,
duplicate, ignored or dead-lettered. Poison records go to `<topic>.dlq` with the reason in
headers and the partition moves on, their value sealed to the operators' key (see
`chassis.dead_letters`); an unavailable database is retried until it is back, because
dead-lettering a healthy event for an outage would lose it.

Every record is checked before the consumer decides what to do with it: an event type not
declared for the (declared) topic it arrived on (`contracts.registry.event_types_on`) is
dead-lettered as `wrong_topic`, and every declared one is validated — an invalid event is
dead-lettered even by a consumer with no handler for its type, a valid one it has no
handler for is ignored (counted as `ignored`). Each event is handled inside a span that
continues the trace of the record (`ce_traceparent`), so what the handler stages carries the
same trace.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlmodel import Session

from chassis.db import transaction
from chassis.dead_letters import SEALED_MARK, seal_value
from chassis.inbox import ProcessedEvent, already_claimed, claim_event, claim_events
from chassis.logs import HeldLines, bind_event_context
from chassis.metrics import DEAD_LETTERS, EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from chassis.outbox import Lane, insert_rows
from chassis.rows import NewRow, insert_values
from chassis.sealing import PublicSealer
from chassis.tracing import configure_tracing, span
from chassis.unit_of_work import UnitOfWork, event_source, run_effects
from chassis.upsert import Upsert, upsert_values
from contracts import deadletter
from contracts.base import EventModel
from contracts.envelope import Envelope, KafkaRecord, MalformedEvent, decode
from contracts.registry import EVENT_MODELS, UnknownEventType, event_types_on, model_for
from contracts.topics import dlq_topic

logger = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, Any], None]
# Reads what a batch's events will look up, in one query a table (`chassis.lookups.preload`).
Preload = Callable[[Session, list[EventModel]], None]
Work = tuple[int, Envelope, EventModel, Handler]
_DatabaseDown = (OperationalError, SAInterfaceError)


class RejectedEvent(Exception):
    """A well-formed event the domain refuses (untrusted input); it goes to the DLQ."""


class Outcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class Delivery:
    """One record as read from a partition."""

    record: KafkaRecord
    partition: int
    offset: int


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    dead_letter: KafkaRecord | None = None


class EventProcessor:
    """Applies the events of one consumer (a service's subscription) exactly once."""

    def __init__(
        self,
        *,
        service: str,
        consumer: str,
        engine: Engine,
        handlers: Mapping[type[EventModel], Handler],
        dead_letter_sealer: Callable[[], PublicSealer],
        retry_interval_s: float = 0.5,
    ) -> None:
        self.service = service
        self.consumer = consumer
        self._engine = engine
        self._handlers = dict(handlers)
        self._dead_letter_sealer = dead_letter_sealer
        self._retry_interval_s = retry_interval_s
        configure_tracing(service)  # once per process; later calls keep the first setup

    def process_all(self, deliveries: list[Delivery]) -> list[Result]:
        """Apply a batch in one transaction, each event in its own savepoint.

        One commit per batch instead of per event; a poison event rolls back only its own
        savepoint. If the database is unavailable the whole batch is retried until it is back.
        """
        started = time.perf_counter()
        results: list[Result | None] = [None] * len(deliveries)
        work: list[Work] = []
        for index, delivery in enumerate(deliveries):
            parsed = self._parse(delivery)
            if isinstance(parsed, Result):
                results[index] = parsed
            else:
                work.append((index, *parsed))
        if work:
            for index, result in self._apply_until_durable(deliveries, work).items():
                results[index] = result
        if deliveries:
            EVENT_PROCESSING_SECONDS.labels(self.service, deliveries[0].record.topic).observe(
                (time.perf_counter() - started) / len(deliveries)
            )
        final = [result for result in results if result is not None]
        # Counted once a batch for each label set: a labelled child's lookup and lock cost
        # more than the addition.
        counts = Counter(
            (delivery.record.topic, _bounded(delivery.record.header("ce_type")), result.outcome)
            for delivery, result in zip(deliveries, final, strict=True)
        )
        for (topic, event_type, outcome), count in counts.items():
            EVENTS_CONSUMED.labels(self.service, topic, event_type, outcome.value).inc(count)
        return final

    def process(self, delivery: Delivery) -> Result:
        return self.process_all([delivery])[0]

    def _parse(self, delivery: Delivery) -> Result | tuple[Envelope, EventModel, Handler]:
        """Decode, check the topic and validate, whether or not the consumer handles the
        type; a Result when the record needs no transaction."""
        try:
            envelope = decode(delivery.record)
        except MalformedEvent as error:
            return self._dead_letter(delivery, "malformed", str(error))
        try:
            model = model_for(envelope.type)
        except UnknownEventType as error:
            return self._dead_letter(delivery, "unknown_type", str(error))
        topic = delivery.record.topic
        declared = event_types_on(topic)
        # A topic the registry does not know is a test's or a tool's own: not checked.
        if declared and model not in declared:
            return self._dead_letter(
                delivery, "wrong_topic", f"{envelope.type} is not declared for {topic}"
            )
        try:
            event = _read(model, envelope.data)
        except ValidationError as error:
            return self._dead_letter(delivery, "contract_violation", _describe(error))
        handler = self._handlers.get(model)
        if handler is None:
            logger.debug("no handler in %s for %s; ignored", self.consumer, envelope.type)
            return Result(Outcome.IGNORED)
        return envelope, event, handler

    def _apply_until_durable(
        self, deliveries: list[Delivery], work: list[Work]
    ) -> dict[int, Result]:
        while True:
            try:
                try:
                    return self._apply_together(work)
                except _DatabaseDown:
                    raise
                except Exception:
                    # Some event failed: redo the batch one savepoint per event to isolate it.
                    effects: list[Callable[[], None]] = []
                    with transaction(self._engine) as session:
                        results = {
                            index: self._apply_one(
                                session, deliveries[index], envelope, event, handler, effects
                            )
                            for index, envelope, event, handler in work
                        }
                    run_effects(effects)
                    return results
            except _DatabaseDown:
                logger.warning("database unavailable; retrying the batch", exc_info=True)
                time.sleep(self._retry_interval_s)

    def _apply_together(self, work: list[Work]) -> dict[int, Result]:
        """The fast path: the whole batch in one transaction, no savepoints. Its inbox and
        outbox rows, and the rows handlers `insert` or `upsert`, are kept as values and
        written at the end, one statement per table: an ORM object and a flush per row cost
        more than most handlers."""
        results: dict[int, Result] = {}
        effects: list[Callable[[], None]] = []
        claimed: list[dict[str, Any]] = []
        rows: list[NewRow] = []
        upserts: list[Upsert] = []
        outbox: list[dict[str, Any]] = []
        # One line an event, on structlog's own, cheaper path (chassis.logs), written once
        # the batch is committed: "applied" only once it is, in one write a batch.
        applied = HeldLines(__name__)
        applied_log = applied.logger()
        with transaction(self._engine) as session:
            done = already_claimed(
                session, self.consumer, [envelope.id for _, envelope, _, _ in work]
            )
            fresh = {item[1].id: item for item in work if item[1].id not in done}
            self._preload(session, list(fresh.values()))
            now = datetime.now(UTC)
            for index, envelope, event, handler in work:
                if envelope.id in done:
                    results[index] = Result(Outcome.DUPLICATE)
                    continue
                done.add(envelope.id)
                claimed.append(
                    {"consumer": self.consumer, "event_id": envelope.id, "processed_at": now}
                )
                with self._handling(envelope):
                    uow = self._unit_of_work(session, envelope, effects, batch_outbox=True)
                    handler(uow, event)
                    rows += uow.staged_rows()
                    upserts += uow.staged_upserts()
                    outbox += uow.staged_outbox()
                    # One line per event: the correlation id follows a case across services.
                    applied_log.info("event applied by %s", self.consumer)
                results[index] = Result(Outcome.PROCESSED)
            claim_events(session, claimed)
            insert_values(session, rows)
            upsert_values(session, upserts)
            insert_rows(session, outbox)
        applied.write()
        run_effects(effects)  # committed: count what happened, once
        return results

    @staticmethod
    def _preload(session: Session, work: list[Work]) -> None:
        """Each handler's `preload`, if it has one, once with all the events it will handle."""
        events: dict[Preload, list[EventModel]] = {}
        for _, _, event, handler in work:
            if (preload := getattr(handler, "preload", None)) is not None:
                events.setdefault(preload, []).append(event)
        for preload, handled in events.items():
            preload(session, handled)

    @contextmanager
    def _handling(self, envelope: Envelope) -> Iterator[None]:
        """The span (continuing the record's trace) and log context of handling one event."""
        with (
            span(
                f"process {envelope.type}",
                traceparent=envelope.traceparent,
                kind=SpanKind.CONSUMER,
                attributes={"messaging.consumer.group.name": self.consumer},
            ),
            bind_event_context(envelope.id, envelope.correlation_id, envelope.type),
        ):
            yield

    def _unit_of_work(
        self,
        session: Session,
        envelope: Envelope,
        effects: list[Callable[[], None]],
        *,
        batch_outbox: bool = False,
    ) -> UnitOfWork:
        return UnitOfWork(
            session=session,
            source=event_source(self.service),
            correlation_id=envelope.correlation_id or envelope.id,
            cause=envelope,
            effects=effects,
            lane=Lane.of_header(envelope.lane),
            batch_outbox=batch_outbox,
        )

    def _apply_one(
        self,
        session: Session,
        delivery: Delivery,
        envelope: Envelope,
        event: EventModel,
        handler: Handler,
        effects: list[Callable[[], None]],
    ) -> Result:
        with self._handling(envelope):
            savepoint = session.begin_nested()
            own: list[Callable[[], None]] = []  # kept only if its savepoint commits
            try:
                if not claim_event(session, consumer=self.consumer, event_id=envelope.id):
                    savepoint.rollback()
                    return Result(Outcome.DUPLICATE)
                handler(self._unit_of_work(session, envelope, own), event)
                session.flush()
                applied = HeldLines(__name__)  # written with the effects: once committed
                applied.logger().info("event applied by %s", self.consumer)
                own.append(applied.write)
                savepoint.commit()
                effects.extend(own)
                return Result(Outcome.PROCESSED)
            except _DatabaseDown:
                raise
            except IntegrityError as error:
                savepoint.rollback()
                if session.get(ProcessedEvent, (self.consumer, envelope.id)) is not None:
                    return Result(Outcome.DUPLICATE)  # a concurrent consumer claimed it first
                return self._dead_letter(delivery, "handler_error", f"IntegrityError: {error}")
            except RejectedEvent as error:
                savepoint.rollback()
                return self._dead_letter(delivery, "rejected", str(error))
            except Exception as error:
                savepoint.rollback()
                logger.exception("handler failed; dead-lettering the event")
                return self._dead_letter(
                    delivery, "handler_error", f"{type(error).__name__}: {error}"
                )

    def _dead_letter(self, delivery: Delivery, reason: str, error: str) -> Result:
        record = delivery.record
        logger.warning("dead-lettering record: %s: %s", reason, error[:200])
        DEAD_LETTERS.labels(self.service, record.topic, reason).inc()
        headers = [
            *record.headers,
            (deadletter.REASON, reason.encode()),
            (deadletter.ERROR, error[:2000].encode("utf-8", errors="replace")),
            (deadletter.CONSUMER, self.consumer.encode()),
            (deadletter.ORIGINAL_TOPIC, record.topic.encode()),
            (deadletter.ORIGINAL_PARTITION, str(delivery.partition).encode()),
            (deadletter.ORIGINAL_OFFSET, str(delivery.offset).encode()),
            (deadletter.FAILED_AT, datetime.now(UTC).isoformat().encode()),
            (deadletter.SEALED, SEALED_MARK.encode()),
        ]
        sealed = seal_value(
            self._dead_letter_sealer(),
            record.value,
            record.topic,
            delivery.partition,
            delivery.offset,
        )
        dead = KafkaRecord(
            topic=dlq_topic(record.topic), key=record.key, value=sealed, headers=headers
        )
        return Result(Outcome.DEAD_LETTERED, dead)


def _read(model: type[EventModel], data: dict[str, Any]) -> EventModel:
    """Parse a consumed event into its model: the one place a reader's parse is chosen. A
    reader tolerates the fields the compatibility policy lets producers add first."""
    return model.read(data)


def _bounded(event_type: str | None) -> str:
    """Metric label: a known contract type, or "unknown" (untrusted input must not add series)."""
    return event_type if event_type is not None and event_type in EVENT_MODELS else "unknown"


def _describe(error: ValidationError) -> str:
    """`field.path: message` for every violation, so operators see what was wrong."""
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or '<root>'}: {issue['msg']}"
        for issue in error.errors()
    )
