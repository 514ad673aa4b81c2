"""The consumer runner's core: decode → validate → deduplicate → handle → commit, or DLQ.

Transport-agnostic (the Faust agents in `chassis.worker` feed it), synchronous (it runs in a
worker thread, never inside the event loop), and total: every record ends as processed,
duplicate, ignored or dead-lettered. Poison records go to `<topic>.dlq` with the reason in
headers and the partition moves on; an unavailable database is retried until it is back,
because dead-lettering a healthy event for an outage would lose it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlmodel import Session

from chassis.db import transaction
from chassis.inbox import ProcessedEvent, claim_event
from chassis.logs import bind_event_context
from chassis.metrics import DEAD_LETTERS, EVENT_PROCESSING_SECONDS, EVENTS_CONSUMED
from chassis.unit_of_work import UnitOfWork
from contracts import deadletter
from contracts.base import EventModel
from contracts.envelope import Envelope, KafkaRecord, MalformedEvent, decode
from contracts.registry import EVENT_MODELS
from contracts.topics import dlq_topic

logger = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, Any], None]


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
        retry_interval_s: float = 0.5,
    ) -> None:
        self.service = service
        self.consumer = consumer
        self._engine = engine
        self._handlers = dict(handlers)
        self._retry_interval_s = retry_interval_s

    def process_all(self, deliveries: list[Delivery]) -> list[Result]:
        return [self.process(delivery) for delivery in deliveries]

    def process(self, delivery: Delivery) -> Result:
        record = delivery.record
        started = time.perf_counter()
        try:
            envelope = decode(record)
        except MalformedEvent as error:
            return self._dead_letter(delivery, "malformed", str(error), "unknown")
        model = EVENT_MODELS.get(envelope.type)
        if model is None:
            return self._dead_letter(
                delivery, "unknown_type", f"no contract for type {envelope.type!r}", "unknown"
            )
        handler = self._handlers.get(model)
        if handler is None:
            return self._count(record, envelope.type, Result(Outcome.IGNORED))
        try:
            event = model.model_validate(envelope.data)
        except ValidationError as error:
            return self._dead_letter(
                delivery, "contract_violation", _describe(error), envelope.type
            )
        with bind_event_context(envelope.id, envelope.correlation_id, envelope.type):
            try:
                result = self._apply_until_durable(envelope, event, handler)
            except RejectedEvent as error:
                return self._dead_letter(delivery, "rejected", str(error), envelope.type)
            except Exception as error:
                logger.exception("handler failed; dead-lettering the event")
                return self._dead_letter(
                    delivery, "handler_error", f"{type(error).__name__}: {error}", envelope.type
                )
        EVENT_PROCESSING_SECONDS.labels(self.service, record.topic).observe(
            time.perf_counter() - started
        )
        return self._count(record, envelope.type, result)

    def _apply_until_durable(
        self, envelope: Envelope, event: EventModel, handler: Handler
    ) -> Result:
        while True:
            try:
                return self._apply(envelope, event, handler)
            except (OperationalError, SAInterfaceError):
                logger.warning("database unavailable; retrying the event", exc_info=True)
                time.sleep(self._retry_interval_s)

    def _apply(self, envelope: Envelope, event: EventModel, handler: Handler) -> Result:
        try:
            with transaction(self._engine) as session:
                if not claim_event(session, consumer=self.consumer, event_id=envelope.id):
                    return Result(Outcome.DUPLICATE)
                handler(
                    UnitOfWork(
                        session=session,
                        source=f"/{self.service}",
                        correlation_id=envelope.correlation_id or envelope.id,
                        cause=envelope,
                    ),
                    event,
                )
        except IntegrityError:
            if self._already_processed(envelope.id):
                return Result(Outcome.DUPLICATE)
            raise
        return Result(Outcome.PROCESSED)

    def _already_processed(self, event_id: str) -> bool:
        with Session(self._engine) as session:
            return session.get(ProcessedEvent, (self.consumer, event_id)) is not None

    def _dead_letter(self, delivery: Delivery, reason: str, error: str, event_type: str) -> Result:
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
        ]
        dead = KafkaRecord(
            topic=dlq_topic(record.topic), key=record.key, value=record.value, headers=headers
        )
        return self._count(record, event_type, Result(Outcome.DEAD_LETTERED, dead))

    def _count(self, record: KafkaRecord, event_type: str, result: Result) -> Result:
        EVENTS_CONSUMED.labels(self.service, record.topic, event_type, result.outcome.value).inc()
        return result


def _describe(error: ValidationError) -> str:
    """`field.path: message` for every violation, so operators see what was wrong."""
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or '<root>'}: {issue['msg']}"
        for issue in error.errors()
    )
