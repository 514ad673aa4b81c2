"""One function per event the notifications service handles.

Handlers only record: in-app notifications are delivered by being stored; every other
channel gets a `pending` row that a delivery loop sends outside this transaction. They work on
a `NotificationStore`: the worker's map below gives them `SqlStore` over each event's unit of
work, the unit tests an in-memory one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from chassis.subscriptions import Subscriptions, with_store
from contracts.cases.v1 import CaseDeadlineMissed
from contracts.identifiers import new_id
from contracts.notifications.v1 import NotificationDelivered
from contracts.referrals.v1 import ReferralEscalated, ReferralStateChanged
from contracts.topics import CASES_EVENTS, NOTIFICATIONS_EVENTS, REFERRALS_EVENTS
from notifications.adapters.store import NotificationStore, SqlStore
from notifications.adapters.tables import DELIVERED, PENDING, Notification, db_time
from notifications.domain.happenings import (
    Happening,
    from_deadline_missed,
    from_escalation,
    from_state_change,
)
from notifications.domain.rules import Rules, recipients_for
from notifications.messages import Message, render
from notifications.metrics import DELIVERIES, DELIVERY_SECONDS

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class NotifyContext:
    """What every handler needs besides the event: the rules, the inbox link, the clock."""

    rules: Rules
    inbox_url: str
    now: Clock


def on_referral_state_changed(
    store: NotificationStore, event: ReferralStateChanged, *, context: NotifyContext
) -> None:
    happening = from_state_change(event)
    if happening is not None:
        record_notifications(store, happening, context=context)


def on_referral_escalated(
    store: NotificationStore, event: ReferralEscalated, *, context: NotifyContext
) -> None:
    record_notifications(store, from_escalation(event), context=context)


def on_case_deadline_missed(
    store: NotificationStore, event: CaseDeadlineMissed, *, context: NotifyContext
) -> None:
    happening = from_deadline_missed(event)
    record_notifications(store, happening, context=context)


def record_notifications(
    store: NotificationStore, happening: Happening, *, context: NotifyContext
) -> None:
    """One row per (event, recipient, channel), in the recipient's language."""
    cause = store.cause()
    at = context.now()
    # A message depends on the happening, the channel and the language, not on the officer:
    # made once for each, however many officers of an agency are told.
    messages: dict[tuple[str, str], Message] = {}
    for officer in recipients_for(context.rules, store.officers(), happening):
        for channel in officer.channels:
            kind = (channel.kind, officer.language)
            message = messages.get(kind)
            if message is None:
                message = messages[kind] = render(
                    happening, channel.kind, officer.language, context.inbox_url
                )
            in_app = channel.kind == "in_app"
            notification = store.new_notification(
                id=new_id(),
                source_event_id=cause.event_id,
                source_event_type=cause.event_type,
                correlation_id=cause.correlation_id,
                recipient_id=officer.id,
                channel=channel.kind,
                address=channel.address,
                secret_ref=channel.secret_ref,
                language=officer.language,
                title=message.title,
                body=message.body,
                case_id=happening.case_id,
                referral_id=happening.referral_id,
                province_code=happening.province_code,
                risk_level=happening.risk_level,
                deadline=db_time(happening.deadline) if happening.deadline else None,
                # In-app notifications are delivered by being stored.
                status=DELIVERED if in_app else PENDING,
                attempts=1 if in_app else 0,
                delivered_at=db_time(at) if in_app else None,
                next_attempt_at=db_time(at),
                created_at=db_time(at),
            )
            if in_app:
                _delivered_in_app(store, notification, at)
            store.add_notification(notification)


def _delivered_in_app(store: NotificationStore, notification: Notification, at: datetime) -> None:
    store.publish(delivered_event(notification, at), topic=NOTIFICATIONS_EVENTS)
    store.after_commit(DELIVERIES.labels(channel="in_app", outcome="delivered").inc)
    store.after_commit(lambda: DELIVERY_SECONDS.labels(channel="in_app").observe(0))


def delivered_event(notification: Notification, at: datetime) -> NotificationDelivered:
    return NotificationDelivered(
        notification_id=notification.id,
        recipient_id=notification.recipient_id,
        channel=notification.channel,
        source_event_id=notification.source_event_id,
        source_event_type=notification.source_event_type,
        case_id=notification.case_id,
        province_code=notification.province_code,
        delivered_at=at,
    )


# Of the case events only missed deadlines are notified, found by a sweep every 30 s: a
# quarter second more to fill a batch is nothing to them. Referral events are the
# path to most notifications, and are never unhurried.
UNHURRIED = frozenset({CASES_EVENTS})


def subscriptions(context: NotifyContext) -> Subscriptions:
    """The worker's whole map from event to handler, each on `SqlStore` over the event's
    unit of work."""
    return {
        REFERRALS_EVENTS: {
            ReferralStateChanged: with_store(
                SqlStore, partial(on_referral_state_changed, context=context)
            ),
            ReferralEscalated: with_store(
                SqlStore, partial(on_referral_escalated, context=context)
            ),
        },
        CASES_EVENTS: {
            CaseDeadlineMissed: with_store(
                SqlStore, partial(on_case_deadline_missed, context=context)
            ),
        },
    }
