"""Bodies and answers of the notifications API (the web inbox renders pages instead)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from notifications.domain.recipients import ChannelAddress, Language, Role


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    channel: str
    status: str
    case_id: str
    referral_id: str | None
    province_code: str
    source_event_type: str
    created_at: datetime
    read_at: datetime | None


class OfficerUpdate(BaseModel):
    """Everything but the id, which names the officer for good."""

    model_config = ConfigDict(extra="forbid")

    name: str
    agency: str
    role: Role
    provinces: tuple[str, ...]
    language: Language = "vi"
    channels: tuple[ChannelAddress, ...] = (ChannelAddress(kind="in_app"),)
