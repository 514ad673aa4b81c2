"""How a process authenticates to Kafka: plaintext on a laptop, SCRAM over TLS in a cluster.

Every Kafka client of a process (the worker's consumer, the outbox/DLQ producer) takes its
options from here, so one set of settings (`<PREFIX>_KAFKA_SECURITY_PROTOCOL`, …) covers all.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context

from chassis.settings import ServiceSettings

SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None
    ssl_cafile: Path | None = None

    def __post_init__(self) -> None:
        if self.protocol in SASL_PROTOCOLS and not (self.username and self.password):
            raise ValueError(
                f"Kafka security protocol {self.protocol} needs a SASL username and password"
            )

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KafkaSecurity:
        password = settings.kafka_sasl_password
        return cls(
            protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            ssl_cafile=settings.kafka_ssl_cafile,
        )

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.protocol not in ("SSL", "SASL_SSL"):
            return None
        # The cluster CA (Strimzi's `<cluster>-cluster-ca-cert`), or the system's trust store.
        context: ssl.SSLContext = create_ssl_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None
        )
        return context

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol in SASL_PROTOCOLS:
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        context = self._ssl_context()
        if context is not None:
            options["ssl_context"] = context
        return options
