"""One function per event the notifications service handles."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from chassis.unit_of_work import UnitOfWork
from contracts.notifications.v1 import NotificationDelivered
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import NOTIFICATIONS_EVENTS
from notifications.adapters.tables import Notification
from notifications.domain.messages import title
from notifications.domain.recipients import Directory, recipients_for

Clock = Callable[[], datetime]


def notify_referral_change(
    uow: UnitOfWork, event: ReferralStateChanged, *, directory: Directory, now: Clock
) -> None:
    """In-app notifications are delivered by being stored; other channels come later."""
    assert uow.cause is not None, "notifications are caused by an event"
    at = now()
    for recipient in recipients_for(directory, event):
        for channel in recipient.channels:
            notification = Notification(
                id=str(uuid.uuid4()),
                source_event_id=uow.cause.id,
                source_event_type=uow.cause.type,
                recipient_id=recipient.id,
                channel=channel,
                title=title(event, recipient.language),
                case_id=event.case_id,
                referral_id=event.referral_id,
                province_code=event.province_code,
                status="delivered",
                created_at=at,
                delivered_at=at,
            )
            uow.session.add(notification)
            uow.publish(
                NotificationDelivered(
                    notification_id=notification.id,
                    recipient_id=recipient.id,
                    channel=channel,
                    source_event_id=uow.cause.id,
                    source_event_type=uow.cause.type,
                    case_id=event.case_id,
                    province_code=event.province_code,
                    delivered_at=at,
                ),
                topic=NOTIFICATIONS_EVENTS,
            )
