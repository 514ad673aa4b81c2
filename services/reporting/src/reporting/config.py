"""Settings of the reporting service (env prefix REPORTING_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore")

    suppression_threshold: int = Field(
        default=5,
        ge=1,
        description="Counts from 1 to threshold-1 are hidden from every role but statistician "
        "(domain/disclosure.py) and from the Prometheus gauges (1 = off).",
    )
    plan_working_days: int = Field(
        default=5, ge=1, description="Working days to approve a support plan (Decree 56)."
    )
