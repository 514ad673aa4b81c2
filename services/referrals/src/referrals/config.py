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
    agencies: tuple[str, ...] = Field(
        default=DEFAULT_AGENCIES, description="Agencies whose updates topics are consumed."
    )
    cases_api_url: str | None = Field(
        default=None,
        description="Base URL of the cases API for need-to-know referral details; when unset "
        "referrals carry case facts only.",
    )
    cases_api_token_file: Path | None = Field(
        default=None,
        description="File holding the service's bearer token (role referral_router); "
        "data_dir/keys/referrals-service.token when unset.",
    )
    details_keys_dir: Path | None = Field(
        default=None,
        description="Folder of the per-agency keyrings that seal referral details "
        "(referral-details-<agency>.keyring.json); data_dir/keys when unset.",
    )
    deadline_sweep_interval_s: float = Field(
        default=30.0, gt=0, description="How often the worker looks for missed deadlines."
    )

    def token_path(self) -> Path:
        return self.cases_api_token_file or self.data_dir / "keys" / "referrals-service.token"
