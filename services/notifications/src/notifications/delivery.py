"""The delivery loops: one per channel, sending pending rows outside the consuming transaction.

Each channel has its own loop and its own pool of sends, so a slow or failing channel (or
recipient) never holds up another. A row is claimed with a lease in the database before it is
sent, so several worker replicas never send it twice at once; a crashed sender's lease runs
out and another replica retries it. After a failure the next attempt time is stored
(exponential backoff with full jitter), so retries survive restarts. What a send's outcome
changes is `record_attempt`, on the store, so unit tests run it without a database.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col, select

from chassis.group_commit import GroupCommit
from chassis.lookups import preload
from chassis.unit_of_work import unit_of_work
from chassis.worker import ScheduledJob
from contracts.notifications.v1 import NotificationFailed
from contracts.topics import NOTIFICATIONS_EVENTS
from notifications.adapters.channels import DeliveryError, Outgoing, Sender
from notifications.adapters.store import NotificationStore, SqlStore
from notifications.adapters.tables import (
    DELIVERED,
    FAILED,
    PENDING,
    URGENT_PENDING,
    Notification,
    db_time,
    utc_now,
)
from notifications.handlers import delivered_event
from notifications.metrics import DELIVERIES, DELIVERY_SECONDS

Clock = Callable[[], datetime]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_s: float
    max_s: float

    def delay(self, attempts_made: int) -> timedelta:
        """Full jitter: uniform in [0, min(max, base·2^(n-1))] (AWS architecture blog)."""
        ceiling = min(self.max_s, self.base_s * 2 ** (attempts_made - 1))
        return timedelta(seconds=random.uniform(0, ceiling))


class DeliveryLoop:
    def __init__(
        self,
        *,
        engine: Engine,
        channel: str,
        sender: Sender,
        retry: RetryPolicy,
        source: str,
        concurrency: int,
        lease_s: float,
        send_timeout_s: float = 10.0,
        clock: Clock = utc_now,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.sender = sender
        self.retry = retry
        self.source = source
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_s)
        # Claimed a tick at a time, but more than the pool sends at once: a tick of
        # `concurrency` rows capped a channel at concurrency / interval (16 sends/s), so a
        # surge's e-mails queued for minutes. The surplus waits in the pool; as many as the
        # pool would send within half a lease if every send took its whole timeout.
        self.claim_limit = max(concurrency, int(concurrency * lease_s / (2 * send_timeout_s)))
        self.clock = clock
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix=f"deliver-{channel}")
        self._in_flight: set[Future[None]] = set()
        self._finished = 0
        self._outcomes = GroupCommit(self._record)  # sent, not yet recorded
        self._lock = threading.Lock()

    def job(self, interval_s: float, idle_interval_s: float | None = None) -> ScheduledJob:
        """Every `interval_s` while sending; every `idle_interval_s` (or when the agents
        commit new notifications) while there is nothing to send."""
        return ScheduledJob(
            name=f"deliver_{self.channel}",
            interval_s=interval_s,
            run=self.run,
            idle_interval_s=idle_interval_s,
            busy=self.busy,
        )

    def busy(self) -> bool:
        """Sends under way or outcomes not yet reported (a run that claimed as many rows as
        it had free sends has them under way: the next run looks for more)."""
        with self._lock:
            in_flight, finished = bool(self._in_flight), self._finished
        return in_flight or finished > 0 or self.unrecorded() > 0

    def unrecorded(self) -> int:
        """Outcomes of finished sends waiting for the commit under way to take them."""
        return self._outcomes.queued()

    def run(self, now: datetime) -> int:
        """Start sending what is due, without waiting for the sends; returns how many
        outcomes (with their events) were committed since the last run."""
        with self._lock:
            self._in_flight = {f for f in self._in_flight if not f.done()}
            free = self.claim_limit - len(self._in_flight)
            finished, self._finished = self._finished, 0
        leased_until = now + self.lease
        for outgoing in self._claim(now, free) if free > 0 else []:
            future = self._pool.submit(self._deliver, outgoing, leased_until)
            future.add_done_callback(_log_crash)
            with self._lock:
                self._in_flight.add(future)
        return finished

    def wait_idle(self, timeout_s: float = 60) -> None:
        """Tests and shutdown: wait for the sends under way to finish."""
        with self._lock:
            pending = set(self._in_flight)
        wait(pending, timeout=timeout_s)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _claim(self, now: datetime, limit: int) -> list[Outgoing]:
        """Leases up to `limit` due rows, an urgent case's first, in one write transaction a
        run (not one a row) and returns their messages; a row another replica leased first
        is not returned. In a surge an urgent case's e-mail would otherwise wait behind
        every e-mail queued before it: the outbox's urgent lane ends at this queue."""
        at = db_time(now)
        with unit_of_work(self.engine, source=self.source) as uow:
            connection = uow.session.connection()
            claimed = self._lease(connection, at, limit, urgent=True)
            if len(claimed) < limit:
                claimed += self._lease(connection, at, limit - len(claimed))
            return claimed

    def _lease(
        self, connection: Connection, at: datetime, limit: int, *, urgent: bool = False
    ) -> list[Outgoing]:
        """Leases up to `limit` due rows (only urgent cases' with `urgent`), oldest first."""
        free_lease = or_(
            col(Notification.lease_until).is_(None), col(Notification.lease_until) < at
        )
        due = (
            select(Notification.id)
            .where(Notification.channel == self.channel)
            .where(URGENT_PENDING if urgent else Notification.status == PENDING)
            .where(col(Notification.next_attempt_at) <= at)
            .where(free_lease)
        )
        leased = connection.execute(
            update(Notification)
            .where(
                col(Notification.id).in_(
                    due.order_by(col(Notification.next_attempt_at)).limit(limit).scalar_subquery()
                )
            )
            .where(free_lease)
            .where(col(Notification.status) == PENDING)
            .values(lease_until=at + self.lease)
            .returning(*_OUTGOING_COLUMNS)
        )
        return [Outgoing(**row._mapping) for row in leased]

    def _deliver(self, outgoing: Outgoing, leased_until: datetime) -> None:
        if self.clock() >= leased_until:
            # Waited in the pool past its lease: another replica may have claimed it since.
            # Not sent, nothing recorded; the row is claimed again once the lease is over.
            logger.warning(
                "delivery lease ran out before sending",
                extra={"channel": self.channel, "notification_id": outgoing.id},
            )
            return
        error: str | None = None
        try:
            self.sender.send(outgoing)
        except DeliveryError as failure:
            error = str(failure)[:500]
        except Exception as failure:  # a bug in a sender must not kill the loop
            error = f"unexpected {type(failure).__name__}"
        if error is not None:
            # The reason only: never the message, which names places and urgency.
            logger.warning(
                "delivery attempt failed",
                extra={"channel": self.channel, "notification_id": outgoing.id, "error": error},
            )
        self._outcomes.add(_Outcome(outgoing.id, error))

    def _record(self, outcomes: list[_Outcome]) -> None:
        """Outcomes that finished together, in one transaction."""
        now = self.clock()
        try:
            with unit_of_work(self.engine, source=self.source, batch_outbox=True) as uow:
                # The rows in one query, not one an outcome: a tick's sends finish together.
                preload(uow.session, ((Notification, o.notification_id) for o in outcomes))
                store = SqlStore(uow)
                for outcome in outcomes:
                    record_attempt(
                        store,
                        outcome.notification_id,
                        outcome.error,
                        channel=self.channel,
                        retry=self.retry,
                        now=now,
                    )
        except Exception:
            # E.g. the database went away: the leases run out and the rows are tried again.
            logger.exception(
                "delivery outcomes not recorded; will retry after the lease",
                extra={"channel": self.channel, "outcomes": len(outcomes)},
            )
            return
        with self._lock:
            self._finished += len(outcomes)


@dataclass(frozen=True)
class _Outcome:
    notification_id: str
    error: str | None  # None: delivered


def record_attempt(
    store: NotificationStore,
    notification_id: str,
    error: str | None,
    *,
    channel: str,
    retry: RetryPolicy,
    now: datetime,
) -> None:
    """One send's outcome: delivered, retried later, or failed after the last attempt."""
    notification = store.notification(notification_id)
    if notification is None or notification.status != PENDING:
        return
    store.carry_correlation(notification.correlation_id)
    notification.attempts += 1
    notification.lease_until = None
    if error is None:
        notification.status = DELIVERED
        notification.delivered_at = db_time(now)
        notification.last_error = None
        store.publish(delivered_event(notification, now), topic=NOTIFICATIONS_EVENTS)
        store.after_commit(DELIVERIES.labels(channel=channel, outcome="delivered").inc)
        waited = max((db_time(now) - db_time(notification.created_at)).total_seconds(), 0)
        latency = DELIVERY_SECONDS.labels(channel=channel)
        store.after_commit(lambda: latency.observe(waited))
    elif notification.attempts >= retry.max_attempts:
        notification.status = FAILED
        notification.last_error = error
        store.publish(_failed_event(notification, error, now), topic=NOTIFICATIONS_EVENTS)
        store.after_commit(DELIVERIES.labels(channel=channel, outcome="failed").inc)
    else:
        notification.last_error = error
        notification.next_attempt_at = db_time(now + retry.delay(notification.attempts))
        store.after_commit(DELIVERIES.labels(channel=channel, outcome="retried").inc)


def _log_crash(future: Future[None]) -> None:
    # A bug outside the send and the recording: the lease runs out and the row is tried
    # again, so say so rather than let the thread's error vanish.
    error = future.exception()
    if error is not None:
        logger.error("delivery crashed; will retry after the lease", exc_info=error)


# A message's fields are the delivery log's columns of the same names.
_OUTGOING_COLUMNS = [col(getattr(Notification, f.name)) for f in fields(Outgoing)]


def _failed_event(notification: Notification, error: str, now: datetime) -> NotificationFailed:
    return NotificationFailed(
        notification_id=notification.id,
        recipient_id=notification.recipient_id,
        channel=notification.channel,
        source_event_id=notification.source_event_id,
        source_event_type=notification.source_event_type,
        case_id=notification.case_id,
        province_code=notification.province_code,
        attempts=notification.attempts,
        error=error,
        failed_at=now,
    )
