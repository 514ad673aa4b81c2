"""Every Kafka topic of the system, declared once.

Topic creation (the `lienganh topics` command), the AsyncAPI document and the deployment
manifests all read this list; services take topic names from here, never from literals.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

DAY_MS = 24 * 60 * 60 * 1000

DEFAULT_AGENCIES: tuple[str, ...] = ("police", "dolisa", "education", "labour_inspection")
# Dead letters are kept long enough to fix and replay them, not forever (they may hold a
# record exactly as a misbehaving producer sent it, sealed): 14 days unless configured.
DEFAULT_DEAD_LETTER_RETENTION_MS = 14 * 24 * 60 * 60 * 1000

CASES_EVENTS = "cases.events.v1"
REFERRALS_EVENTS = "referrals.events.v1"
NOTIFICATIONS_EVENTS = "notifications.events.v1"
AUDIT_EVENTS = "audit.events.v1"


class CleanupPolicy(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"


class Compatibility(StrEnum):
    """How the schemas of a topic's events may change within one `vN` type (Confluent's
    modes; `contracts.compatibility` checks them and docs/contracts.md explains them).

    BACKWARD: a reader of the new schema reads data written with the old one.
    FORWARD: a reader of the old schema (ignoring unknown fields) reads new data.
    FULL: both. `_TRANSITIVE`: against every released snapshot, not only the last.
    NONE: not checked (dead-letter topics carry whatever was refused).
    """

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")


# Consumers upgrade one at a time while producers keep publishing, and every topic is
# replayed from the earliest offset: new readers must read all old data and old readers
# must read new data, against every release.
DEFAULT_COMPATIBILITY = Compatibility.FULL_TRANSITIVE


class TopicSpec(BaseModel):
    """A Kafka topic: how it is created and who may use it."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Topic name, e.g. cases.events.v1.")
    key: str = Field(description="What the record key holds, e.g. case_id.")
    partitions: int = Field(ge=1, description="Partition count; keyed records stay ordered.")
    retention_ms: int = Field(description="How long records are kept; -1 keeps them forever.")
    cleanup_policy: CleanupPolicy = Field(default=CleanupPolicy.DELETE)
    producer: str = Field(description="The service (or agency service) that writes the topic.")
    consumers: tuple[str, ...] = Field(description="The services that read the topic.")
    description: str = Field(description="What flows on the topic.")
    compatibility: Compatibility = Field(
        default=DEFAULT_COMPATIBILITY,
        description="How its events' schemas may change within one vN type.",
    )

    def configs(self) -> dict[str, str]:
        """Topic-level configs as Kafka expects them."""
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy.value,
        }


def agency_referrals_topic(agency: str) -> str:
    """The inbox topic of one agency: only that agency's service may read it."""
    return f"agency.{agency}.referrals.v1"


def agency_updates_topic(agency: str) -> str:
    """The outbox topic of one agency: its accept/reject/progress updates and new cases."""
    return f"agency.{agency}.updates.v1"


def dlq_topic(topic: str) -> str:
    """Where a consumer of `topic` parks what it cannot process."""
    return f"{topic}.dlq"


def domain_topics(
    agencies: tuple[str, ...] = DEFAULT_AGENCIES, partitions: int = 6
) -> list[TopicSpec]:
    """The topics that carry domain events (section 4 of the architecture)."""
    year = 365 * DAY_MS
    topics = [
        TopicSpec(
            name=CASES_EVENTS,
            key="case_id",
            partitions=partitions,
            retention_ms=-1,
            producer="cases",
            consumers=("referrals", "notifications", "reporting"),
            description="Case lifecycle events: received, assessed, plan approved, closed.",
        ),
        TopicSpec(
            name=REFERRALS_EVENTS,
            key="case_id",
            partitions=partitions,
            retention_ms=-1,
            producer="referrals",
            consumers=("notifications", "reporting", "cases"),
            description="Every referral state change, refused update and escalation.",
        ),
        TopicSpec(
            name=NOTIFICATIONS_EVENTS,
            key="recipient_id",
            partitions=partitions,
            retention_ms=year,
            producer="notifications",
            consumers=("reporting",),
            description="Delivery outcomes of notifications.",
        ),
        TopicSpec(
            name=AUDIT_EVENTS,
            key="actor",
            partitions=partitions,
            retention_ms=-1,
            producer="*",
            consumers=(),
            description="Append-only audit trail of reads and writes of cases and referrals.",
            # Read by no service, only by auditors' tools, which upgrade before any producer:
            # they must read the whole history; a new action (an enum value) is allowed.
            compatibility=Compatibility.BACKWARD_TRANSITIVE,
        ),
    ]
    for agency in agencies:
        topics.append(
            TopicSpec(
                name=agency_referrals_topic(agency),
                key="case_id",
                partitions=partitions,
                retention_ms=-1,
                producer="referrals",
                consumers=(f"agencies:{agency}",),
                description=f"Referrals addressed to {agency}, minimised to what it needs.",
            )
        )
        topics.append(
            TopicSpec(
                name=agency_updates_topic(agency),
                key="case_id",
                partitions=partitions,
                retention_ms=-1,
                producer=f"agencies:{agency}",
                consumers=("referrals", "cases"),
                description=f"Updates from {agency}: what it did with referrals addressed to it.",
            )
        )
    return topics


def declared_topics(
    agencies: tuple[str, ...] = DEFAULT_AGENCIES,
    partitions: int = 6,
    dead_letter_retention_ms: int = DEFAULT_DEAD_LETTER_RETENTION_MS,
) -> list[TopicSpec]:
    """Domain topics plus one dead-letter topic for every consumed topic."""
    if dead_letter_retention_ms <= 0:
        raise ValueError("dead letters need a bounded retention (milliseconds > 0)")
    topics = domain_topics(agencies, partitions)
    dead_letters = [
        TopicSpec(
            name=dlq_topic(topic.name),
            key=topic.key,
            partitions=1,
            retention_ms=dead_letter_retention_ms,
            producer="any consumer of " + topic.name,
            consumers=("operators",),
            description=f"Records of {topic.name} a consumer could not process, with the "
            "reason; values sealed to the operators' key, kept for a bounded time.",
            compatibility=Compatibility.NONE,
        )
        for topic in topics
        if topic.consumers
    ]
    return topics + dead_letters
