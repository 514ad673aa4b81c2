"""Settings of the cases service (env prefix CASES_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class CasesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CASES_", extra="ignore")

    keyring_file: Path | None = Field(
        default=None, description="AES-GCM keyring for identity fields (data_dir/keys/…)."
    )
    owner_agency: str = Field(
        default="dolisa", description="Agency that owns case management (Decree 56/2017)."
    )

    def keyring_path(self) -> Path:
        return self.keyring_file or self.data_dir / "keys" / "cases-keyring.json"
