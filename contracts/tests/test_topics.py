"""The declared topics: unique, dead-lettered, per agency, and consistent with the events."""

from __future__ import annotations

import re

import pytest

from contracts.generate import event_types_for, example_of
from contracts.registry import EVENT_MODELS, TOPIC_EVENT_TYPES
from contracts.topics import (
    AUDIT_EVENTS,
    CASES_EVENTS,
    DAY_MS,
    DEFAULT_AGENCIES,
    NOTIFICATIONS_EVENTS,
    CleanupPolicy,
    TopicSpec,
    agency_referrals_topic,
    agency_updates_topic,
    declared_topics,
    dlq_topic,
    domain_topics,
)

KAFKA_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def _by_name(topics: list[TopicSpec]) -> dict[str, TopicSpec]:
    return {topic.name: topic for topic in topics}


def test_names_are_unique_and_legal_kafka_names() -> None:
    names = [topic.name for topic in declared_topics()]
    assert len(names) == len(set(names))
    assert all(KAFKA_TOPIC_NAME.match(name) for name in names), names


def test_every_consumed_topic_has_a_dead_letter_topic() -> None:
    topics = _by_name(declared_topics())
    for topic in domain_topics():
        if topic.consumers:
            dead = topics[dlq_topic(topic.name)]
            assert dead.key == topic.key
            assert dead.consumers == ("operators",)
        else:
            assert dlq_topic(topic.name) not in topics
    assert not any(name.endswith(".dlq.dlq") for name in topics)


def test_a_topic_nobody_reads_has_no_dead_letter_topic() -> None:
    topics = _by_name(declared_topics())
    assert topics[AUDIT_EVENTS].consumers == ()
    assert dlq_topic(AUDIT_EVENTS) not in topics


@pytest.mark.parametrize("agency", DEFAULT_AGENCIES)
def test_every_default_agency_has_an_inbox_and_an_outbox(agency: str) -> None:
    topics = _by_name(declared_topics())
    inbox = topics[agency_referrals_topic(agency)]
    outbox = topics[agency_updates_topic(agency)]
    assert inbox.name == f"agency.{agency}.referrals.v1"
    assert inbox.consumers == (f"agencies:{agency}",)
    assert outbox.name == f"agency.{agency}.updates.v1"
    assert outbox.producer == f"agencies:{agency}"


def test_agencies_and_partitions_can_be_chosen() -> None:
    topics = _by_name(declared_topics(agencies=("ngo",), partitions=3))
    assert "agency.ngo.referrals.v1" in topics
    assert "agency.police.referrals.v1" not in topics
    assert topics[CASES_EVENTS].partitions == 3
    assert topics[dlq_topic(CASES_EVENTS)].partitions == 1


def test_configs_are_kafka_topic_configs() -> None:
    topics = _by_name(declared_topics())
    assert topics[CASES_EVENTS].configs() == {"retention.ms": "-1", "cleanup.policy": "delete"}
    assert topics[NOTIFICATIONS_EVENTS].configs() == {
        "retention.ms": str(365 * DAY_MS),
        "cleanup.policy": "delete",
    }
    compacted = topics[CASES_EVENTS].model_copy(update={"cleanup_policy": CleanupPolicy.COMPACT})
    assert compacted.configs()["cleanup.policy"] == "compact"


def test_every_topic_family_of_the_registry_names_declared_topics() -> None:
    names = [topic.name for topic in declared_topics()]
    for family, models in TOPIC_EVENT_TYPES.items():
        carried = [name for name in names if event_types_for(name) == models]
        assert carried, f"TOPIC_EVENT_TYPES[{family!r}] matches no declared topic"
    assert (
        event_types_for("agency.police.referrals.v1")
        == TOPIC_EVENT_TYPES[agency_referrals_topic("{agency}")]
    )
    assert event_types_for("agency.police.referrals.v1.dlq") == ()
    assert event_types_for("agency.a.b.referrals.v1") == ()


def test_every_event_type_travels_on_some_topic() -> None:
    carried = {model for topic in declared_topics() for model in event_types_for(topic.name)}
    assert carried == set(EVENT_MODELS.values())


def test_the_topic_key_is_the_partition_key_of_its_events() -> None:
    for topic in declared_topics():
        for model in event_types_for(topic.name):
            example = example_of(model)
            assert getattr(example, topic.key) == example.partition_key(), (topic.name, model)
