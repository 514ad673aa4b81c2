"""Settings of the cases service (env prefix CASES_)."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cases.domain.clocks import ClockPolicy
from chassis.pacing import BulkPacing
from chassis.settings import ServiceSettings
from contracts.topics import DEFAULT_AGENCIES
from contracts.vocabulary import RiskLevel


class CasesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CASES_", extra="ignore")

    keyring_file: Path | None = Field(
        default=None, description="AES-GCM keyring for identity fields (data_dir/keys/…)."
    )
    intake_keys_file: Path | None = Field(
        default=None,
        description="X25519 private key set that opens agencies' sealed case reports "
        "(data_dir/keys/cases-intake.private.json; its public half is handed to agencies).",
    )
    identity_grace_after_close_hours: float = Field(
        default=0,
        ge=0,
        le=24 * 90,
        description="How long after a referral is completed or failed its agency's officers "
        "may still open the child's identity (0: it stops at closure). Rejected, cancelled "
        "and transferred-away referrals always stop at once.",
    )
    dedup_secret_file: Path | None = Field(
        default=None,
        description="HMAC secret for duplicate blocking keys (data_dir/keys/cases-dedup.key).",
    )
    owner_agency: str = Field(
        default="dolisa", description="Agency that owns case management (Decree 56/2017)."
    )
    emergency_hours: float = Field(
        default=12, gt=0, description="Emergency intervention clock for a child at serious risk."
    )
    plan_working_days: int = Field(default=5, ge=1, description="Plan approval clock.")
    serious_risk_levels: list[RiskLevel] = Field(
        default=[RiskLevel.URGENT],
        description="Risk levels that start the emergency clock (JSON list in the env).",
    )
    reporting_agencies: list[str] = Field(
        default=list(DEFAULT_AGENCIES),
        description="Agencies whose updates topic may carry case reports (JSON list).",
    )
    deadline_sweep_interval_s: float = Field(
        default=30, gt=0, description="How often the worker looks for missed clocks."
    )
    bulk_ahead_s: float = Field(
        default=BulkPacing.ahead_s,
        gt=0,
        description="Imported cases enter the pipeline only while the consumer groups on an "
        "urgent case's path have at most this many seconds of work left, at the rate they "
        "drain now (chassis.pacing).",
    )
    bulk_low_water: int = Field(
        default=BulkPacing.low_water,
        ge=0,
        description="Records left on the path that always count as little (an idle path "
        "drains nothing): imported cases enter below it whatever the drain rate.",
    )
    bulk_step: int = Field(
        default=BulkPacing.step,
        ge=1,
        description="Imported cases released into the pipeline per look at its backlog.",
    )

    def bulk_pacing(self) -> BulkPacing:
        return BulkPacing(
            ahead_s=self.bulk_ahead_s, low_water=self.bulk_low_water, step=self.bulk_step
        )

    def keyring_path(self) -> Path:
        return self.keyring_file or self.data_dir / "keys" / "cases-keyring.json"

    def intake_keys_path(self) -> Path:
        return self.intake_keys_file or self.data_dir / "keys" / "cases-intake.private.json"

    def clock_policy(self) -> ClockPolicy:
        return ClockPolicy(
            emergency_hours=self.emergency_hours,
            plan_working_days=self.plan_working_days,
            serious_risk_levels=frozenset(self.serious_risk_levels),
        )

    def dedup_secret(self) -> bytes:
        """The HMAC secret, created (0600) on the first local run."""
        path = self.dedup_secret_file or self.data_dir / "keys" / "cases-dedup.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Written whole then linked: API and worker start together, the first link wins
            # and neither ever reads a half-written secret.
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".cases-dedup.")
            try:
                with os.fdopen(fd, "w", encoding="ascii") as file:
                    file.write(secrets.token_hex(32))
                with contextlib.suppress(FileExistsError):
                    os.link(temp, path)
            finally:
                os.unlink(temp)
        return bytes.fromhex(path.read_text("ascii").strip())
