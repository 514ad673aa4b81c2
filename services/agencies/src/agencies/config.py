"""Settings of one agency deployment. `AGENCY` picks which agency this process serves."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings
from contracts.agencies.registry import agency_registry


class AgencySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGENCY_", extra="ignore")

    agency: str = Field(
        validation_alias=AliasChoices("AGENCY", "AGENCY_CODE"),
        pattern=r"^[a-z][a-z0-9_]{1,40}$",
        description="Agency code from the registry, e.g. police, dolisa, education.",
    )
    cases_api_url: str | None = Field(
        default=None,
        description="Base URL of the cases API, which releases the key of a referral's sealed "
        "details to an officer acting on it; unset, details never open here.",
    )
    cases_intake_public_key_file: Path | None = Field(
        default=None,
        description="The cases service's intake public key set: case reports are sealed to it "
        "(data_dir/keys/cases-intake.public.json when unset).",
    )
    webhook_url: str | None = Field(
        default=None,
        description="HTTPS bridge: where new referrals and state changes are POSTed, signed, "
        "for an agency without a Kafka client. Off when unset.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="Shared HMAC-SHA256 secret of the bridge (both directions)."
    )
    webhook_tolerance_s: int = Field(
        default=300, ge=10, description="Signed timestamps older or newer than this are refused."
    )
    webhook_attempts: int = Field(default=6, ge=1, description="Tries per outbound delivery.")
    webhook_interval_s: float = Field(
        default=1.0, gt=0, description="How often the worker sends pending webhooks."
    )

    def intake_public_key_path(self) -> Path:
        return (
            self.cases_intake_public_key_file or self.data_dir / "keys" / "cases-intake.public.json"
        )

    @field_validator("agency")
    @classmethod
    def _registered(cls, agency: str) -> str:
        # More agencies by configuration only: the registry, not code, says who exists.
        if agency_registry().get(agency) is None:
            known = ", ".join(agency_registry().codes())
            raise ValueError(f"agency {agency!r} is not in the registry ({known})")
        return agency

    @field_validator("webhook_secret")
    @classmethod
    def _strong_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("the webhook secret must be at least 32 characters")
        return secret
