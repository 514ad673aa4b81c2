"""Synthetic events for reporting tests: the contracts' examples with the fields a test
cares about changed. Ids are UUIDs derived from short names, so tables read well."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from contracts.cases.v1 import CaseDeadlineMissed, CaseMerged, CaseReceived, CaseStageChanged
from contracts.notifications.v1 import NotificationDelivered, NotificationFailed
from contracts.referrals.v1 import ReferralEscalated, ReferralStateChanged
from contracts.vocabulary import CaseStage, ReferralState


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lienganh-test:{name}"))


def at(text: str) -> datetime:
    """`2026-11-02 08:15` read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def case(name: str, **changes: Any) -> CaseReceived:
    changes.setdefault("received_at", at("2026-11-02 08:15"))
    return CaseReceived.example().model_copy(update={"case_id": uid(name), **changes})


def stage(name: str, to: CaseStage, when: str, **changes: Any) -> CaseStageChanged:
    return CaseStageChanged.example().model_copy(
        update={"case_id": uid(name), "to_stage": to, "occurred_at": at(when), **changes}
    )


def missed(name: str, **changes: Any) -> CaseDeadlineMissed:
    return CaseDeadlineMissed.example().model_copy(update={"case_id": uid(name), **changes})


def merged(survivor: str, duplicate: str) -> CaseMerged:
    return CaseMerged.example().model_copy(
        update={"case_id": uid(survivor), "merged_case_id": uid(duplicate)}
    )


def referral(
    name: str,
    case_name: str,
    to: ReferralState,
    version: int,
    when: str,
    *,
    deadline: str | None = None,
    **changes: Any,
) -> ReferralStateChanged:
    return ReferralStateChanged.example().model_copy(
        update={
            "referral_id": uid(name),
            "case_id": uid(case_name),
            "from_state": None if version == 1 else ReferralState.REQUESTED,
            "to_state": to,
            "version": version,
            "occurred_at": at(when),
            "deadline": at(deadline) if deadline else None,
            **changes,
        }
    )


def escalated(name: str, case_name: str, reminder: int = 0, **changes: Any) -> ReferralEscalated:
    return ReferralEscalated.example().model_copy(
        update={
            "referral_id": uid(name),
            "case_id": uid(case_name),
            "reminder": reminder,
            **changes,
        }
    )


def delivered(name: str, channel: str = "in_app") -> NotificationDelivered:
    return NotificationDelivered.example().model_copy(
        update={"notification_id": uid(name), "channel": channel}
    )


def failed(name: str, channel: str = "sms") -> NotificationFailed:
    return NotificationFailed.example().model_copy(
        update={"notification_id": uid(name), "channel": channel}
    )
