"""Notification delivery events, version 1, keyed by recipient."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Self

from pydantic import Field

from contracts.base import EventModel
from contracts.identifiers import ProvinceCode, Uuid


class NotificationOutcome(EventModel):
    """What every delivery outcome says: which message, to whom, on which channel, why."""

    notification_id: Uuid = Field(description="Notification identifier (UUID).")
    recipient_id: str = Field(description="Directory id of the officer; the partition key.")
    channel: str = Field(description="in_app, email, sms or webhook.")
    source_event_id: str = Field(description="CloudEvent id of the event that caused it.")
    source_event_type: str = Field(description="CloudEvent type of that event.")
    case_id: Uuid = Field(description="The case concerned (an opaque id, never a name).")
    province_code: ProvinceCode = Field(description="Province of the case.")

    def partition_key(self) -> str:
        return self.recipient_id


class NotificationDelivered(NotificationOutcome):
    """A message reached a recipient on one channel."""

    ce_type: ClassVar[str] = "vn.lienganh.notification.delivered.v1"

    delivered_at: datetime = Field(description="When it was delivered (UTC).")

    @classmethod
    def example(cls) -> NotificationDelivered:
        return cls(
            **_EXAMPLE,
            channel="in_app",
            source_event_type="vn.lienganh.referral.state_changed.v1",
            delivered_at=datetime.fromisoformat("2026-11-02T08:15:03+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "email": cls.example_with(
                notification_id="1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b",
                channel="email",
                source_event_type="vn.lienganh.referral.escalated.v1",
                delivered_at=datetime.fromisoformat("2026-11-02T10:15:09+00:00"),
            )
        }


class NotificationFailed(NotificationOutcome):
    """A message could not be delivered on one channel after every attempt."""

    ce_type: ClassVar[str] = "vn.lienganh.notification.failed.v1"

    attempts: int = Field(ge=1, description="How many times delivery was tried.")
    error: str = Field(description="The last error, without message content.")
    failed_at: datetime = Field(description="When delivery was given up (UTC).")

    @classmethod
    def example(cls) -> NotificationFailed:
        return cls(
            **_EXAMPLE,
            channel="sms",
            source_event_type="vn.lienganh.referral.requested.v1",
            attempts=5,
            error="HTTP 503 from the SMS gateway",
            failed_at=datetime.fromisoformat("2026-11-02T08:16:03+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "webhook": cls.example_with(
                notification_id="1e2d3c4b-5a69-4788-9a6b-5c4d3e2f1a0b",
                channel="webhook",
                attempts=8,
                error="HTTP 410 from the agency's webhook endpoint",
            )
        }


_EXAMPLE: dict[str, str] = {
    "notification_id": "9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a",
    "recipient_id": "police-inspector-hn-01",
    "source_event_id": "3c2b1a09-8f7e-4d6c-5b4a-392817161514",
    "case_id": "0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
    "province_code": "01",
}
