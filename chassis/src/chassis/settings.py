"""The settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsumerTimeouts(BaseSettings):
    """How fast a worker's consumer group notices a dead member and moves its partitions.

    Faust's defaults were 60 s, so a killed worker stalled its partitions for up to a minute
    and a restarted one waited as long to rejoin. Read from `LIENGANH_KAFKA_*` (the same for
    every service: each service has its own group) when a worker is built.
    """

    model_config = SettingsConfigDict(env_prefix="LIENGANH_KAFKA_", extra="ignore")

    session_timeout_s: float = Field(
        default=6.0,
        ge=1,
        description="A member silent this long is dead and its partitions move. 6 s is the "
        "broker's default group.min.session.timeout.ms; lower needs a broker change.",
    )
    heartbeat_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="Heartbeats run on the worker's event loop, beside the batches handled "
        "in threads; at most a third of the session timeout, so two lost heartbeats do not "
        "kill a healthy member.",
    )
    rebalance_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="How long the group waits for members to rejoin a rebalance. A worker "
        "finishes its batches in hand and commits on revoke: enough for one batch, short "
        "enough that a hung member is dropped instead of holding the whole group.",
    )
    max_poll_interval_s: float = Field(
        default=120.0,
        gt=0,
        description="A consumer that has not polled for this long leaves the group so its "
        "partitions move; above the slowest batch (a topic does not poll while its batch "
        "is handled).",
    )
    commit_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="How often a worker commits its handled offsets (none when nothing new "
        "was handled). The bulk lane's gate reads the urgent path's backlog and drain rate "
        "from them (chassis.pacing): more often lets more real queue stand before the same "
        "mark, and urgent cases wait longer (docs/operations.md, Lanes).",
    )
    poll_stall_s: float = Field(
        default=30.0,
        gt=0,
        description="/readyz answers 503 when the consumer has not polled for this long.",
    )
    group_instance_id: str | None = Field(
        default=None,
        description="Static membership (KIP-345): a stable, per-replica name (e.g. a "
        "StatefulSet pod name) lets a restarted worker take its partitions back without a "
        "rebalance. Two live replicas with one name fence each other: leave unset when the "
        "name is not unique.",
    )


class ServiceSettings(BaseSettings):
    """Read from the environment (`<PREFIX>_DATA_DIR`, …) when the composition root asks."""

    model_config = SettingsConfigDict(env_prefix="LIENGANH_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Folder for SQLite files and keys.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; a SQLite file under data_dir when unset."
    )
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="SASL_SSL with SCRAM in a cluster (ACLs per service)."
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512"
    )
    kafka_sasl_username: str | None = Field(default=None, description="This service's Kafka user.")
    kafka_sasl_password: SecretStr | None = Field(default=None)
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="PEM of the CA that signed the brokers' certificates."
    )
    jwt_public_key_file: Path | None = Field(
        default=None,
        description="PEM public key of the identity provider; data_dir/keys/jwt-public.pem "
        "(written by the local issuer) when unset.",
    )
    jwt_issuer: str = Field(default="lienganh-local")
    jwt_audience: str = Field(default="lienganh")
    log_level: str = Field(default="INFO")
    worker_web_host: str = Field(
        default="127.0.0.1",
        description="Address of the worker's ops endpoints; 0.0.0.0 in a container so probes "
        "and Prometheus reach them.",
    )
    worker_web_port: int = Field(
        default=6066, ge=1, le=65535, description="Port of the worker's ops endpoints."
    )
    dead_letter_public_key_file: Path | None = Field(
        default=None,
        description="The operators' dead-letter public key set: dead-letter values are sealed to "
        "it (data_dir/keys/dead-letters.public.json, made with its private half, when unset).",
    )
    outbox_poll_interval_s: float = Field(
        default=0.05, gt=0, description="How often the relay looks for rows other processes wrote."
    )
    consumer_batch_wait_s: float = Field(
        default=0.02,
        ge=0,
        le=5,
        description="How long a consumer waits for more events before it applies a batch that "
        "is not full: longer means fuller batches (less CPU an event), later effects.",
    )
    consumer_unhurried_batch_wait_s: float = Field(
        default=0.25,
        ge=0,
        le=5,
        description="The same for the topics a service consumes off the path to an officer's "
        "notification (`unhurried` in its composition root): fuller batches, nobody waiting.",
    )

    def database_url_for(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    def public_key_path(self) -> Path:
        return self.jwt_public_key_file or self.data_dir / "keys" / "jwt-public.pem"
