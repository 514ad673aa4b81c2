"""Every event type the system knows, and the topics it travels on."""

from __future__ import annotations

from typing import Any

from contracts.agencies.v1 import (
    CaseReported,
    ReferralAccepted,
    ReferralAcknowledged,
    ReferralCompleted,
    ReferralFailed,
    ReferralHeld,
    ReferralRejected,
    ReferralResumed,
    ReferralStarted,
    ReferralTransferred,
)
from contracts.audit.v1 import AuditRecorded
from contracts.base import EventModel
from contracts.cases.v1 import (
    CaseConsentRecorded,
    CaseDeadlineMissed,
    CaseIdentityErased,
    CaseMerged,
    CaseReceived,
    CaseStageChanged,
)
from contracts.notifications.v1 import NotificationDelivered, NotificationFailed
from contracts.referrals.v1 import (
    ReferralEscalated,
    ReferralIdentityErased,
    ReferralRequested,
    ReferralStateChanged,
    ReferralUpdateRefused,
)

AGENCY_ACTIONS: tuple[type[EventModel], ...] = (
    ReferralAcknowledged,
    ReferralAccepted,
    ReferralRejected,
    ReferralStarted,
    ReferralHeld,
    ReferralResumed,
    ReferralCompleted,
    ReferralFailed,
    ReferralTransferred,
)

# Which event types may appear on which family of topics (agency topics by pattern).
TOPIC_EVENT_TYPES: dict[str, tuple[type[EventModel], ...]] = {
    "cases.events.v1": (
        CaseReceived,
        CaseStageChanged,
        CaseDeadlineMissed,
        CaseConsentRecorded,
        CaseMerged,
        CaseIdentityErased,
    ),
    "referrals.events.v1": (ReferralStateChanged, ReferralUpdateRefused, ReferralEscalated),
    "notifications.events.v1": (NotificationDelivered, NotificationFailed),
    "audit.events.v1": (AuditRecorded,),
    "agency.{agency}.referrals.v1": (
        ReferralRequested,
        ReferralStateChanged,
        ReferralIdentityErased,
    ),
    "agency.{agency}.updates.v1": (*AGENCY_ACTIONS, CaseReported),
}

EVENT_MODELS: dict[str, type[EventModel]] = {
    model.ce_type: model for models in TOPIC_EVENT_TYPES.values() for model in models
}


class UnknownEventType(LookupError):
    """The CloudEvent `type` names no contract."""


def model_for(ce_type: str) -> type[EventModel]:
    try:
        return EVENT_MODELS[ce_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {ce_type!r}") from None


def read_event(ce_type: str, data: Any) -> EventModel:
    """A received payload as its contract's model, read tolerantly (`EventModel.read`):
    fields this version does not know are ignored, everything it knows is validated.
    Raises `UnknownEventType`, or pydantic's `ValidationError` naming the offending fields."""
    return model_for(ce_type).read(data)


def event_types_on(topic: str) -> tuple[type[EventModel], ...]:
    """The event types that may travel on `topic` (agency topics matched by their pattern);
    nothing for a topic the registry does not know."""
    if topic in TOPIC_EVENT_TYPES:
        return TOPIC_EVENT_TYPES[topic]
    for pattern, models in TOPIC_EVENT_TYPES.items():
        prefix, _, suffix = pattern.partition("{agency}")
        if suffix and topic.startswith(prefix) and topic.endswith(suffix):
            agency = topic[len(prefix) : -len(suffix)]
            if agency and "." not in agency:
                return models
    return ()
