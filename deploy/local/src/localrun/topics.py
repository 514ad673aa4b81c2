"""Create the declared topics (idempotently) and keep their configs as declared, with
kafka-python's admin client."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from contracts.topics import TopicSpec

logger = logging.getLogger(__name__)


class TopicMismatch(RuntimeError):
    """An existing topic does not match its declaration (e.g. partition count)."""


def create_topics(bootstrap_servers: str, specs: Sequence[TopicSpec]) -> list[str]:
    """Create missing topics, verify existing ones; return the names created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="lienganh-topics")
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name=spec.name,
                            num_partitions=spec.partitions,
                            replication_factor=1,
                            topic_configs=spec.configs(),
                        )
                        for spec in missing
                    ]
                )
            except TopicAlreadyExistsError:
                logger.info("some topics were created concurrently")
        _verify_partitions(admin, specs)
        _align_configs(admin, [spec for spec in specs if spec not in missing])
        return [spec.name for spec in missing]
    finally:
        admin.close()


def _align_configs(admin: KafkaAdminClient, specs: Sequence[TopicSpec]) -> None:
    """Existing topics take the declared retention and cleanup policy (e.g. a new dead-letter
    retention), set key by key so nothing else of theirs is reset."""
    if specs:
        admin.alter_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=spec.configs())
                for spec in specs
            ],
            incremental=True,
        )


def _verify_partitions(
    admin: KafkaAdminClient, specs: Sequence[TopicSpec], timeout_s: float = 30.0
) -> None:
    """Every topic has its declared partitions (new ones may take a moment to show them)."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = {
            topic["name"]: len(topic["partitions"])
            for topic in admin.describe_topics([spec.name for spec in specs])
        }
        settling = [spec for spec in specs if not described.get(spec.name)]
        if settling and time.monotonic() < deadline:
            time.sleep(0.1)
            continue
        wrong = [
            f"{spec.name}: {described.get(spec.name)} partitions, declared {spec.partitions}"
            for spec in specs
            if described.get(spec.name) != spec.partitions
        ]
        if wrong:
            raise TopicMismatch("; ".join(wrong))
        return
