"""A service authenticates to a SCRAM listener with its settings, as it does in a cluster;
a wrong password is refused by the broker, not silently downgraded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError
from kafka import KafkaConsumer

from chassis.kafka_security import KafkaSecurity
from chassis.publisher import KafkaPublisher
from chassis.settings import ServiceSettings
from contracts.envelope import KafkaRecord
from contracts.topics import CASES_EVENTS, domain_topics
from localrun.kafka import LocalBroker
from localrun.topics import create_topics

pytestmark = [pytest.mark.kafka]

PASSWORD = "synthetic-scram-password"


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    broker = LocalBroker(tmp_path_factory.mktemp("kafka-scram"), scram_users={"cases": PASSWORD})
    broker.start()
    try:
        create_topics(
            broker.bootstrap_servers, [t for t in domain_topics() if t.name == CASES_EVENTS]
        )
        yield broker
    finally:
        broker.stop()


def _security(password: str, tmp_path: Path) -> KafkaSecurity:
    settings = ServiceSettings(
        data_dir=tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="cases",
        kafka_sasl_password=password,  # type: ignore[arg-type]
    )
    return KafkaSecurity.from_settings(settings)


async def test_the_publisher_authenticates_with_scram(
    scram_broker: LocalBroker, tmp_path: Path
) -> None:
    options = _security(PASSWORD, tmp_path).aiokafka_options()
    publisher = KafkaPublisher(scram_broker.sasl_bootstrap_servers, "scram-test", options)
    await publisher.start()
    try:
        await publisher.publish(
            [KafkaRecord(topic=CASES_EVENTS, key=b"case-1", value=b"{}", headers=[])]
        )
    finally:
        await publisher.stop()
    consumer = KafkaConsumer(
        CASES_EVENTS,
        bootstrap_servers=scram_broker.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        assert [record.key for record in consumer] == [b"case-1"]
    finally:
        consumer.close()


async def test_a_wrong_password_is_refused(scram_broker: LocalBroker, tmp_path: Path) -> None:
    options = _security("not-the-password", tmp_path).aiokafka_options()
    publisher = KafkaPublisher(scram_broker.sasl_bootstrap_servers, "scram-test", options)
    with pytest.raises(KafkaError):
        await publisher.start()
    await publisher.stop()
