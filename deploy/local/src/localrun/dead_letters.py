"""The operators' dead-letter tools behind `lienganh dlq`: list, show (redacted), replay.

Dead-letter values are sealed to the operators' public key (`chassis.dead_letters`); these
tools hold the private key. `show` opens a value only to print it with every identity field
and sealed token redacted; `replay` opens it to put the original record back on its topic
(original key and headers, so consumers deduplicate by event id) and records an
`AuditRecorded` per record on the audit topic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from chassis.dead_letters import value_context
from chassis.sealing import PrivateOpener, is_sealed
from contracts import deadletter
from contracts.audit.v1 import AuditRecorded
from contracts.envelope import KafkaRecord, encode
from contracts.referrals.field_policy import field_policy
from contracts.topics import AUDIT_EVENTS
from contracts.vocabulary import AuditAction, AuditOutcome

REDACTED = "«redacted»"
SEALED = "«sealed»"
# Keys whose values name or locate a person, whatever record they appear in.
_IDENTITY_KEYS = field_policy().identity_fields() | {
    "child",
    "full_name",
    "workplace",
    "workplace_name",
    "workplace_address",
    "employer_name",
    "summary",
    "name",
}


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def ref(self) -> str:
        """How an operator names it: `<dlq topic>:<partition>:<offset>`."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", errors="replace")
        return ""

    @property
    def reason(self) -> str:
        return self.header(deadletter.REASON)

    def summary(self) -> dict[str, str]:
        """What `list` shows: where it came from, why, when — never the content."""
        return {
            "reason": self.reason,
            "type": self.header("ce_type"),
            "event_id": self.header("ce_id"),
            "key": (self.key or b"").decode("utf-8", errors="replace"),
            "original_topic": self.header(deadletter.ORIGINAL_TOPIC),
            "consumer": self.header(deadletter.CONSUMER),
            "failed_at": self.header(deadletter.FAILED_AT),
            "error": self.header(deadletter.ERROR),
        }

    def original_place(self) -> tuple[str, int, int]:
        return (
            self.header(deadletter.ORIGINAL_TOPIC),
            int(self.header(deadletter.ORIGINAL_PARTITION) or -1),
            int(self.header(deadletter.ORIGINAL_OFFSET) or -1),
        )

    def original_value(self, opener: PrivateOpener) -> bytes:
        """The value as the producer sent it (raises `DecryptionError` if it cannot open)."""
        if self.header(deadletter.SEALED) != "pk1":
            return self.value  # written before dead letters were sealed
        return opener.open_bytes(
            self.value.decode("ascii"), context=value_context(*self.original_place())
        )

    def original_record(self, opener: PrivateOpener) -> KafkaRecord:
        headers = [(k, v) for k, v in self.headers if not k.startswith("dlq-")]
        topic, _, _ = self.original_place()
        return KafkaRecord(
            topic=topic, key=self.key, value=self.original_value(opener), headers=headers
        )


def read(
    bootstrap_servers: str, topics: Sequence[str], *, timeout_s: float = 10.0
) -> list[DeadLetter]:
    """Every record now on the dead-letter `topics`, oldest first (no consumer group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        letters: list[DeadLetter] = []
        deadline = datetime.now(UTC).timestamp() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if datetime.now(UTC).timestamp() > deadline:
                raise TimeoutError("the dead-letter topics could not be read to their end")
            for records in consumer.poll(timeout_ms=500).values():
                letters += [
                    DeadLetter(
                        r.topic, r.partition, r.offset, r.key, r.value or b"", tuple(r.headers)
                    )
                    for r in records
                ]
        return sorted(letters, key=lambda d: (d.topic, d.partition, d.offset))
    finally:
        consumer.close()


def redacted(value: bytes) -> str:
    """The record's JSON with identity fields and sealed tokens blanked; never the bytes."""
    try:
        document = json.loads(value)
    except ValueError:
        return f"«{len(value)} bytes, not JSON: not shown»"
    return json.dumps(_redact(document), ensure_ascii=False, indent=2)


def _redact(node: Any, key: str | None = None) -> Any:
    if key in _IDENTITY_KEYS and node not in (None, "", [], {}):
        return REDACTED
    if isinstance(node, dict):
        return {k: _redact(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_redact(item) for item in node]
    if isinstance(node, str) and is_sealed(node):
        return SEALED
    return node


def replay(
    bootstrap_servers: str,
    letters: Iterable[DeadLetter],
    opener: PrivateOpener,
    *,
    operator: str,
    agency: str = "operators",
) -> int:
    """Put each record back on its original topic, with an audit record; returns the count."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    count = 0
    try:
        for letter in letters:
            record = letter.original_record(opener)
            producer.send(record.topic, key=record.key, value=record.value, headers=record.headers)
            audit = _audit(letter, operator, agency)
            producer.send(audit.topic, key=audit.key, value=audit.value, headers=audit.headers)
            count += 1
        producer.flush()
    finally:
        producer.close()
    return count


def _audit(letter: DeadLetter, operator: str, agency: str) -> KafkaRecord:
    event = AuditRecorded(
        actor=operator,
        actor_agency=agency,
        action=AuditAction.REPLAY,
        resource_type="dead_letter",
        resource_id=letter.ref,
        outcome=AuditOutcome.ALLOWED,
        detail=f"replayed to {letter.original_place()[0]} ({letter.reason})",
        service="operators",
        occurred_at=datetime.now(UTC),
    )
    return encode(event, topic=AUDIT_EVENTS, source="/operators/dlq")
