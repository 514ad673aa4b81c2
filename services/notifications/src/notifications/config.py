"""Settings of the notifications service (env prefix NOTIFICATIONS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore")

    directory_file: Path | None = Field(
        default=None, description="Recipients YAML; the shipped seed file when unset."
    )
