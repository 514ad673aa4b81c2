"""Settings of the reporting service (env prefix REPORTING_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore")

    suppression_threshold: int = Field(
        default=5, ge=1, description="Counts from 1 to threshold-1 are hidden (1 = off)."
    )
    unsuppressed_roles: tuple[str, ...] = Field(
        default=("case_worker",), description="Roles that see exact small counts."
    )
    plan_working_days: int = Field(
        default=5, ge=1, description="Working days to approve a support plan (Decree 56)."
    )
