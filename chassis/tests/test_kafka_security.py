"""Kafka client security from settings: one source for the worker and the producer."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from chassis.db import create_db_engine
from chassis.kafka_security import KafkaSecurity
from chassis.runtime import worker_app
from chassis.settings import ServiceSettings


def test_plaintext_by_default_with_no_credentials(tmp_path: Path) -> None:
    security = KafkaSecurity.from_settings(ServiceSettings(data_dir=tmp_path))
    assert security.aiokafka_options() == {"security_protocol": "PLAINTEXT"}


def test_scram_over_tls_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIENGANH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LIENGANH_KAFKA_SASL_USERNAME", "referrals")
    monkeypatch.setenv("LIENGANH_KAFKA_SASL_PASSWORD", "synthetic-password")
    security = KafkaSecurity.from_settings(ServiceSettings(data_dir=tmp_path))
    options = security.aiokafka_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "referrals",
        "synthetic-password",
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert "synthetic-password" not in repr(ServiceSettings(data_dir=tmp_path))


def test_sasl_without_a_password_fails_at_start_not_at_first_publish() -> None:
    with pytest.raises(ValueError, match="SASL username and password"):
        KafkaSecurity(protocol="SASL_SSL", username="cases")


def test_the_worker_connects_with_the_same_credentials(tmp_path: Path) -> None:
    settings = ServiceSettings(
        data_dir=tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="reporting",
        kafka_sasl_password="synthetic-password",  # type: ignore[arg-type]
    )
    engine = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}")
    # A consumer the contracts give no topic: an empty handler map matches them.
    app = worker_app(
        settings, service="reporting", consumer="nobody", engine=engine, subscriptions={}
    )
    assert app.kafka_options == KafkaSecurity.from_settings(settings).aiokafka_options()
    assert app.kafka_options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert app.kafka_options["sasl_plain_username"] == "reporting"
