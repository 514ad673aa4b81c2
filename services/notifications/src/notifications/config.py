"""Settings of the notifications service (env prefix NOTIFICATIONS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore")

    directory_file: Path | None = Field(
        default=None, description="Seed of the officers directory; the shipped seed when unset."
    )
    rules_file: Path | None = Field(
        default=None, description="Who hears of what; the shipped rules.v1.yaml when unset."
    )
    inbox_url: str = Field(
        default="http://127.0.0.1:8003/inbox",
        description="Public URL of the web inbox (its origin is trusted for form posts).",
    )
    inbox_session_max_s: int = Field(
        default=8 * 3600,
        gt=0,
        description="Longest a web inbox session lasts; never past its token's own expiry.",
    )
    agency_api_urls: dict[str, str] = Field(
        default_factory=dict,
        description='Agency API base URL by agency code (JSON: {"police": "http://…"}).',
    )
    # Delivery: attempts, backoff and concurrency are limits, not code.
    max_attempts: int = Field(default=5, ge=1, description="Attempts before a delivery fails.")
    retry_base_s: float = Field(default=5.0, ge=0, description="First retry delay (doubles).")
    retry_max_s: float = Field(default=600.0, ge=0, description="Longest retry delay.")
    # A tick claims up to 48 rows a channel (`DeliveryLoop.claim_limit`): 0.5 s capped a
    # channel at 96 sends a second, below the ~180 e-mails a second of a batch surge.
    delivery_interval_s: float = Field(
        default=0.25, gt=0, description="Delivery loop tick while sends are under way."
    )
    delivery_idle_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="Delivery loop tick while nothing is being sent: new notifications wake it "
        "at once, so only a retry that falls due waits up to this long.",
    )
    channel_concurrency: int = Field(default=8, ge=1, description="Sends at once per channel.")
    send_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one send.")
    lease_s: float = Field(
        default=120.0, gt=0, description="A claimed delivery is retried by others after this."
    )
    # E-mail over SMTP.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_from: str = "Lien Nganh <no-reply@lienganh.example.vn>"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: str | None = Field(
        default=None, description="CA bundle for STARTTLS; the system's when unset."
    )
    # SMS through a generic JSON HTTP gateway.
    sms_gateway_url: str | None = Field(default=None, description="POST endpoint of the gateway.")
    sms_gateway_token: SecretStr | None = Field(default=None, description="Bearer credential.")
    sms_sender: str = "LienNganh"
    # Webhooks: signing secrets by the name officers' channels refer to (secret_ref).
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts a directory admin may point an officer's webhook at (HTTPS only; "
        'JSON list, e.g. ["hooks.police.gov.vn"]). Empty: no webhook may be set by the API.',
    )
