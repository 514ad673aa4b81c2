"""Every event type the system knows, and the topics it travels on."""

from __future__ import annotations

from contracts.agencies.v1 import ReferralAccepted, ReferralAcknowledged, ReferralRejected
from contracts.base import EventModel
from contracts.cases.v1 import CaseReceived
from contracts.notifications.v1 import NotificationDelivered
from contracts.referrals.v1 import ReferralRequested, ReferralStateChanged, ReferralUpdateRefused

EVENT_MODELS: dict[str, type[EventModel]] = {
    model.ce_type: model
    for model in (
        CaseReceived,
        ReferralRequested,
        ReferralStateChanged,
        ReferralUpdateRefused,
        ReferralAcknowledged,
        ReferralAccepted,
        ReferralRejected,
        NotificationDelivered,
    )
}

# Which event types may appear on which family of topics (agency topics by pattern).
TOPIC_EVENT_TYPES: dict[str, tuple[type[EventModel], ...]] = {
    "cases.events.v1": (CaseReceived,),
    "referrals.events.v1": (ReferralStateChanged, ReferralUpdateRefused),
    "notifications.events.v1": (NotificationDelivered,),
    "agency.{agency}.referrals.v1": (ReferralRequested, ReferralStateChanged),
    "agency.{agency}.updates.v1": (ReferralAcknowledged, ReferralAccepted, ReferralRejected),
}


class UnknownEventType(LookupError):
    """The CloudEvent `type` names no contract."""


def model_for(ce_type: str) -> type[EventModel]:
    try:
        return EVENT_MODELS[ce_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {ce_type!r}") from None
