"""The CloudEvents binary-mode envelope on Kafka, and what a contract violation looks like."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import ValidationError

from contracts.base import EventModel
from contracts.cases.v1 import CaseReceived
from contracts.envelope import KafkaRecord, MalformedEvent, decode, encode, schema_uri
from contracts.notifications.v1 import NotificationDelivered
from contracts.registry import EVENT_MODELS

CE_HEADERS = {
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_subject",
    "ce_time",
    "ce_specversion",
    "ce_dataschema",
}


def _record(**kwargs: Any) -> KafkaRecord:
    return encode(CaseReceived.example(), topic="cases.events.v1", source="/cases", **kwargs)


def test_encode_puts_attributes_in_ce_headers_and_the_payload_in_the_value() -> None:
    event = CaseReceived.example()
    record = _record(correlation_id="corr-1")
    names = [name for name, _ in record.headers]
    assert set(names) == CE_HEADERS | {"ce_correlationid", "content-type"}
    assert len(names) == len(set(names))
    assert record.header("content-type") == "application/json"
    assert record.header("ce_specversion") == "1.0"
    assert record.header("ce_type") == CaseReceived.ce_type
    assert record.header("ce_source") == "/cases"
    assert record.header("ce_subject") == event.case_id
    assert record.header("ce_dataschema") == schema_uri(CaseReceived.ce_type)
    assert record.header("ce_correlationid") == "corr-1"
    assert record.topic == "cases.events.v1"
    assert json.loads(record.value) == event.model_dump(mode="json")


def test_the_payload_is_compact_utf8_json_and_reads_back_equal() -> None:
    # Written by pydantic itself: no second pass through `json`, no \u escapes.
    event = CaseReceived.example_with(reported_by="tổng đài 111")
    record = encode(event, topic="cases.events.v1", source="/cases")
    assert "tổng đài 111".encode() in record.value
    assert b", " not in record.value and b'": ' not in record.value
    assert CaseReceived.read(decode(record).data) == event


def test_the_record_key_is_the_partition_key() -> None:
    assert _record().key == CaseReceived.example().case_id.encode()
    delivered = NotificationDelivered.example()
    record = encode(delivered, topic="notifications.events.v1", source="/notifications")
    assert record.key == delivered.recipient_id.encode()
    assert record.header("ce_subject") == delivered.recipient_id


def test_no_correlation_header_without_a_correlation_id() -> None:
    record = _record()
    assert record.header("ce_correlationid") is None
    assert decode(record).correlation_id is None


def test_the_lane_travels_as_ce_lane_and_normal_adds_no_header() -> None:
    urgent = _record(lane="urgent")
    assert urgent.header("ce_lane") == "urgent"
    assert decode(urgent).lane == "urgent"
    normal = _record()
    assert normal.header("ce_lane") is None
    assert decode(normal).lane is None


def test_each_event_gets_its_own_id() -> None:
    assert _record().header("ce_id") != _record().header("ce_id")


_EXAMPLES = [
    pytest.param(example, id=f"{model.__name__}-{name}")
    for model in EVENT_MODELS.values()
    for name, example in model.examples().items()
]
_ATTRIBUTE_SETS = {
    "no-extensions": {"time": datetime(2026, 12, 4, 2, 30, 5, 123456, tzinfo=UTC)},
    "every-extension": {
        "correlation_id": "corr-1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "causation_id": "01a2c3d4-0000-7000-8000-000000000001",
        "lane": "urgent",
        "time": datetime(2026, 12, 4, 2, 30, tzinfo=UTC),
    },
    "hanoi-time": {
        "time": datetime(2026, 12, 4, 9, 30, 1, 250, tzinfo=timezone(timedelta(hours=7)))
    },
    "utc-time": {"time": datetime(2026, 12, 4, 2, 30, tzinfo=UTC), "lane": "bulk"},
}


@pytest.mark.parametrize("attributes", _ATTRIBUTE_SETS.values(), ids=_ATTRIBUTE_SETS.keys())
@pytest.mark.parametrize("event", _EXAMPLES)
def test_encode_lays_out_the_record_byte_for_byte_as_the_cloudevents_binding_does(
    event: EventModel, attributes: dict[str, Any]
) -> None:
    # `encode` writes the headers itself (it is on every event's path); the library's
    # Kafka binding is the reference it must match, header for header, in order.
    record = encode(event, topic="any.topic", source="/cases", event_id="evt-1", **attributes)
    reference = ce_kafka.to_binary(
        CloudEvent(
            attributes=_library_attributes(event, attributes),
            data=event.model_dump_json().encode(),
        ),
        JSONFormat(),
        key_mapper=lambda _: None,
    )
    assert record.headers == list(reference.headers.items())
    assert record.value == reference.value
    assert record.key == event.partition_key().encode()


def _library_attributes(event: EventModel, attributes: dict[str, Any]) -> dict[str, Any]:
    names = {
        "correlation_id": "correlationid",
        "traceparent": "traceparent",
        "causation_id": "causationid",
        "lane": "lane",
    }
    built: dict[str, Any] = {
        "id": "evt-1",
        "source": "/cases",
        "type": event.ce_type,
        "subject": event.subject(),
        "time": attributes["time"],
        "datacontenttype": "application/json",
        "dataschema": schema_uri(event.ce_type),
    }
    for name, extension in names.items():
        if name in attributes:
            built[extension] = attributes[name]
    return built


def test_encode_refuses_a_zoneless_time_and_an_empty_source() -> None:
    with pytest.raises(ValueError, match="timezone aware"):
        _record(time=datetime(2026, 12, 4, 9, 30))
    with pytest.raises(ValueError, match="source"):
        encode(CaseReceived.example(), topic="cases.events.v1", source="")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"headers": [("content-type", b"application/json")]}, "ce_specversion"),
        ({"headers": []}, "ce_specversion"),
        ({"value": b"{not json"}, "not JSON"),
        ({"value": b"[1, 2, 3]"}, "not a JSON object"),
        ({"value": b'"just a string"'}, "not a JSON object"),
        ({"value": json.dumps('{"case_id": "x"}').encode()}, "not a JSON object"),
        ({"value": b""}, "not JSON"),
        ({"value": b"\xff\xfe{}"}, "not JSON"),
    ],
    ids=[
        "only-content-type",
        "no-headers",
        "not-json",
        "json-array",
        "json-string",
        "json-string-holding-an-object",
        "empty",
        "not-utf8",
    ],
)
def test_decode_refuses_what_is_not_a_binary_json_cloudevent(
    change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        decode(replace(_record(), **change))


@pytest.mark.parametrize("missing", ["ce_id", "ce_source", "ce_type"])
def test_decode_refuses_a_record_missing_a_required_attribute(missing: str) -> None:
    # Without the ce_id check the library would invent a new id on every redelivery.
    record = _record()
    headers = [(name, value) for name, value in record.headers if name != missing]
    with pytest.raises(MalformedEvent, match=missing.removeprefix("ce_")):
        decode(replace(record, headers=headers))


def test_decode_refuses_headers_that_are_not_utf8() -> None:
    record = _record()
    headers = [(n, b"\xff" if n == "ce_type" else v) for n, v in record.headers]
    with pytest.raises(MalformedEvent):
        decode(replace(record, headers=headers))


def _with_time(value: bytes) -> KafkaRecord:
    record = _record()
    headers = [(n, value if n == "ce_time" else v) for n, v in record.headers]
    return replace(record, headers=headers)


def test_decode_reads_the_time_as_sent_to_the_microsecond() -> None:
    sent = datetime(2026, 12, 4, 19, 26, 2, 777715, tzinfo=UTC)
    assert decode(encode(CaseReceived.example(), topic="t", source="/s", time=sent)).time == sent


@pytest.mark.parametrize(
    ("header", "read"),
    [
        (b"2026-12-04T19:26:02Z", datetime(2026, 12, 4, 19, 26, 2, tzinfo=UTC)),
        (b"2026-12-04T19:26:02z", datetime(2026, 12, 4, 19, 26, 2, tzinfo=UTC)),
        (b"2026-12-05T02:26:02.5+07:00", datetime(2026, 12, 4, 19, 26, 2, 500000, tzinfo=UTC)),
    ],
    ids=["Z", "lower-case-z", "offset"],
)
def test_decode_reads_any_rfc3339_time(header: bytes, read: datetime) -> None:
    assert decode(_with_time(header)).time == read


@pytest.mark.parametrize(
    "header", [b"yesterday", b"2026-12-04T19:26:02", b"\xff"], ids=["words", "no-zone", "binary"]
)
def test_decode_refuses_a_time_that_is_not_an_rfc3339_timestamp(header: bytes) -> None:
    with pytest.raises(MalformedEvent, match="time"):
        decode(_with_time(header))


def _violations(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        CaseReceived.model_validate(data)
    return [(tuple(issue["loc"]), issue["type"]) for issue in caught.value.errors()]


def _valid_data() -> dict[str, Any]:
    return decode(_record()).data


def test_a_missing_field_is_a_validation_error_naming_it() -> None:
    data = _valid_data()
    del data["risk_level"]
    assert _violations(data) == [(("risk_level",), "missing")]


def test_an_unknown_enum_value_is_a_validation_error_naming_the_field() -> None:
    assert _violations(_valid_data() | {"case_type": "kidnapping"}) == [(("case_type",), "enum")]


def test_an_unknown_field_is_refused() -> None:
    assert _violations(_valid_data() | {"child_name": "x"}) == [
        (("child_name",), "extra_forbidden")
    ]


def test_a_nested_violation_names_the_whole_path() -> None:
    data = _valid_data()
    data["circumstances"] = {"out_of_school": "perhaps"}
    assert _violations(data) == [(("circumstances", "out_of_school"), "bool_parsing")]


def test_a_pattern_violation_names_the_field() -> None:
    assert _violations(_valid_data() | {"province_code": "1"}) == [
        (("province_code",), "string_pattern_mismatch")
    ]
