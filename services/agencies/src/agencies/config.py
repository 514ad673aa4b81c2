"""Settings of one agency deployment. `AGENCY` picks which agency this process serves."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class AgencySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGENCY_", extra="ignore")

    agency: str = Field(
        validation_alias=AliasChoices("AGENCY", "AGENCY_CODE"),
        pattern=r"^[a-z][a-z0-9_]{1,40}$",
        description="Agency code from the registry, e.g. police, dolisa, education.",
    )
