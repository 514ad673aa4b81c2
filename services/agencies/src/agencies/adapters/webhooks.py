"""The HTTPS bridge for agencies without a Kafka client: signed webhooks both ways.

Signed as `chassis.webhook_signature` says. The receiver checks the signature, refuses
timestamps outside its window, and remembers idempotency keys, so a captured request cannot
be replayed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from agencies.adapters.tables import WebhookDelivery
from chassis.db import transaction
from chassis.unit_of_work import UnitOfWork
from chassis.webhook_signature import signed_headers
from contracts.base import EventModel
from contracts.identifiers import new_id

logger = logging.getLogger(__name__)

EVENT_TYPE_HEADER = "X-Lienganh-Event-Type"


def stage_webhook(uow: UnitOfWork, event: EventModel) -> None:
    """Queue the event for the agency's webhook, in the transaction of the inbox change."""
    # The consumed event's id: a redelivered event queues no second webhook.
    key = uow.cause.id if uow.cause else new_id()
    if uow.session.get(WebhookDelivery, key) is not None:
        return
    body = json.dumps(
        {"type": event.ce_type, "data": event.model_dump(mode="json")}, ensure_ascii=False
    ).encode()
    now = datetime.now(UTC)
    uow.session.add(
        WebhookDelivery(
            id=key, event_type=event.ce_type, body=body, next_attempt_at=now, created_at=now
        )
    )


class WebhookRejected(Exception):
    """The receiver answered 4xx: retrying the same request will not help."""


@dataclass
class WebhookSender:
    """Sends pending deliveries; each with tenacity retries, the failures kept for later."""

    engine: Engine
    url: str
    secret: bytes
    attempts: int = 6
    max_wait_s: float = 30.0
    batch_size: int = 50

    def run(self, now: datetime) -> int:
        """Send what is due; HTTP happens outside any transaction (no lock held while waiting)."""
        with Session(self.engine, expire_on_commit=False) as session:
            pending = session.exec(
                select(WebhookDelivery)
                .where(col(WebhookDelivery.delivered_at).is_(None))
                .where(col(WebhookDelivery.next_attempt_at) <= now)
                .order_by(col(WebhookDelivery.created_at))
                .limit(self.batch_size)
            ).all()
        for delivery in pending:
            self._deliver(delivery, now)
            with transaction(self.engine) as session:
                session.merge(delivery)
        return 0  # nothing goes to the Kafka outbox

    def _deliver(self, delivery: WebhookDelivery, now: datetime) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(httpx.HTTPError),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(multiplier=0.1, max=self.max_wait_s),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    delivery.attempts += 1
                    self._post(delivery)
            delivery.delivered_at = datetime.now(UTC)
            delivery.last_error = None
        except (httpx.HTTPError, WebhookRejected) as error:
            delivery.last_error = f"{type(error).__name__}: {error}"[:500]
            # Parked, tried again later with a longer pause; never dropped.
            delivery.next_attempt_at = now + timedelta(seconds=min(3600, 30 * delivery.attempts))
            logger.warning("webhook delivery failed; will retry", extra={"key": delivery.id})

    def _post(self, delivery: WebhookDelivery) -> None:
        response = httpx.post(
            self.url,
            content=delivery.body,
            headers={
                "Content-Type": "application/json",
                **signed_headers(
                    self.secret, delivery.body, idempotency_key=delivery.id, now=datetime.now(UTC)
                ),
                EVENT_TYPE_HEADER: delivery.event_type,
            },
            timeout=10,
        )
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise WebhookRejected(f"receiver answered {response.status_code}")
        response.raise_for_status()
