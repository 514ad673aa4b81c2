"""Settings of the referrals service (env prefix REFERRALS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings
from contracts.topics import DEFAULT_AGENCIES


class ReferralsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRALS_", extra="ignore")

    policy_file: Path | None = Field(
        default=None, description="Routing policy YAML; the shipped routing.v1.yaml when unset."
    )
    owner_agency: str = Field(
        default="dolisa",
        description="The agency that owns case management (the access policy's $owner).",
    )
    agencies: tuple[str, ...] = Field(
        default=DEFAULT_AGENCIES, description="Agencies whose updates topics are consumed."
    )
    deadline_sweep_interval_s: float = Field(
        default=30.0, gt=0, description="How often the worker looks for missed deadlines."
    )
