"""The CloudEvents 1.0 envelope, binary mode on Kafka — one convention everywhere.

Attributes travel in `ce_*` headers, the JSON payload is the record value, and the record
key is the event's partition key. The `cloudevents` package may change between releases,
so every service goes through these two functions only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat

from contracts.base import EventModel
from contracts.identifiers import new_id

CORRELATION_ATTR = "correlationid"
# The CloudEvents distributed-tracing extension: W3C trace context, as `ce_traceparent`.
TRACEPARENT_ATTR = "traceparent"
# The id of the event that caused this one (the original of a copy, the event a consumer
# was handling), as `ce_causationid`.
CAUSATION_ATTR = "causationid"
# The outbox lane of the work that staged it, as `ce_lane`: "urgent" or "bulk" (absent:
# normal). A consumer stages what the event causes in the same lane, so an urgent case is
# first at every hop, not only at the first one.
LANE_ATTR = "lane"
JSON_CONTENT_TYPE = "application/json"
_JSON_CONTENT_TYPE = JSON_CONTENT_TYPE.encode()
_SPECVERSION = b"1.0"


class _RawDataFormat(JSONFormat):
    """JSON format whose data is left as the record's bytes, for `decode` to parse once."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:
        return body


_FORMAT = _RawDataFormat()


class MalformedEvent(ValueError):
    """The record is not a CloudEvent in binary JSON mode."""


@dataclass(frozen=True)
class KafkaRecord:
    """What is written to (or read from) Kafka for one event."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("utf-8", errors="replace")
        return None


@dataclass(frozen=True)
class Envelope:
    """A decoded CloudEvent: its attributes and its (not yet validated) JSON data."""

    id: str
    source: str
    type: str
    subject: str | None
    time: datetime | None
    correlation_id: str | None
    data: dict[str, Any]
    traceparent: str | None = None
    causation_id: str | None = None
    lane: str | None = None


def schema_uri(ce_type: str) -> str:
    return f"urn:lienganh:schema:{ce_type}"


def encode(
    event: EventModel,
    *,
    topic: str,
    source: str,
    correlation_id: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
    causation_id: str | None = None,
    lane: str | None = None,
) -> KafkaRecord:
    """Wrap an event payload in a CloudEvent and lay it out as a Kafka record.

    The headers are laid out here, as the `cloudevents` library's Kafka binding lays them
    out (`ce_` attributes, `content-type`, in the same order, byte for byte: the tests hold
    the two equal for every event's examples). Every service stages its events through this
    one function, and building the library's event object, validating attributes this code
    sets itself, then walking them again was two thirds of its cost. `decode`, which reads
    what others sent, goes through the library."""
    if not source:
        raise ValueError("a CloudEvent needs a source")
    sent_at = time or datetime.now(UTC)
    if sent_at.tzinfo is None:
        raise ValueError("a CloudEvent's time must be timezone aware")
    ce_type = event.ce_type
    headers = [
        ("ce_id", (event_id or new_id()).encode()),
        ("ce_source", source.encode()),
        ("ce_type", ce_type.encode()),
        ("ce_subject", event.subject().encode()),
        ("ce_time", _time_header(sent_at)),
        ("content-type", _JSON_CONTENT_TYPE),
        ("ce_dataschema", schema_uri(ce_type).encode()),
    ]
    for name, value in (
        (CORRELATION_ATTR, correlation_id),
        (TRACEPARENT_ATTR, traceparent),
        (CAUSATION_ATTR, causation_id),
        (LANE_ATTR, lane),
    ):
        if value:
            headers.append((f"ce_{name}", value.encode()))
    headers.append(("ce_specversion", _SPECVERSION))
    # The payload as pydantic writes it (compact UTF-8 JSON): a dict would be dumped to
    # plain values first, then by `json`, a fifth of the encoding.
    return KafkaRecord(
        topic=topic,
        key=event.partition_key().encode("utf-8"),
        value=event.model_dump_json().encode(),
        headers=headers,
    )


def _time_header(time: datetime) -> bytes:
    """RFC 3339, UTC written as `Z`, as the library's binding writes it."""
    text = time.isoformat()
    return (text[:-6] + "Z" if text.endswith("+00:00") else text).encode()


def decode(record: KafkaRecord) -> Envelope:
    """Read a Kafka record as a CloudEvent; raise MalformedEvent if it is not one."""
    headers = {name: value for name, value in record.headers}
    if "ce_specversion" not in headers:
        raise MalformedEvent("missing ce_specversion header: not a binary-mode CloudEvent")
    # The cloudevents library invents a fresh id when ce_id is absent, which would give a
    # redelivered record a new id each time and defeat deduplication.
    if not headers.get("ce_id"):
        raise MalformedEvent("missing ce_id header: a CloudEvent must have an id")
    # `time` is read here, by the standard library: the library reads it with dateutil's
    # general ISO 8601 parser, ~6 µs a record, a quarter of decoding one.
    sent_at = headers.pop("ce_time", None)
    try:
        message = ce_kafka.KafkaMessage(headers=headers, key=None, value=record.value)
        event = ce_kafka.from_binary(message, _FORMAT)
    except Exception as error:
        raise MalformedEvent(f"not a valid CloudEvent: {error}") from error
    time = _read_time(sent_at) if sent_at is not None else event.get_time()
    # Parse the value ourselves, once: the library would parse it too, and would hand back
    # as text what it could not parse, which a second parse might accept.
    try:
        data = json.loads(record.value)
    except ValueError as error:
        raise MalformedEvent(f"event data is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise MalformedEvent("event data is not a JSON object")
    correlation, traceparent, causation, lane = (
        event.get_extension(name)
        for name in (CORRELATION_ATTR, TRACEPARENT_ATTR, CAUSATION_ATTR, LANE_ATTR)
    )
    return Envelope(
        id=event.get_id(),
        source=event.get_source(),
        type=event.get_type(),
        subject=event.get_subject(),
        time=time,
        correlation_id=str(correlation) if correlation else None,
        data=data,
        traceparent=str(traceparent) if traceparent else None,
        causation_id=str(causation) if causation else None,
        lane=str(lane) if lane else None,
    )


def _read_time(header: bytes) -> datetime:
    """An RFC 3339 timestamp, timezone included, as the CloudEvents `time` attribute is."""
    try:
        text = header.decode("utf-8")
        # RFC 3339 allows a lower-case "z"; the standard library reads only "Z".
        time = datetime.fromisoformat(text[:-1] + "Z" if text.endswith("z") else text)
    except ValueError as error:  # UnicodeDecodeError is one too
        raise MalformedEvent(f"not a valid CloudEvent: time: {error}") from error
    if time.tzinfo is None:
        raise MalformedEvent("not a valid CloudEvent: time: must be timezone aware")
    return time
