"""Poison records go to the DLQ and the partition moves on; a redelivery has no second effect."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from kafka import KafkaProducer

from contracts.cases.v1 import CaseReceived
from contracts.envelope import encode
from contracts.topics import CASES_EVENTS, dlq_topic
from tests.e2e.test_walking_skeleton import read_topic
from tests.support.system import RunningSystem, eventually, metric_value

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


def valid_case_record(case_id: str, key: bytes, event_id: str | None = None):
    event = CaseReceived.example().model_copy(update={"case_id": case_id})
    record = encode(event, topic=CASES_EVENTS, source="/tests", event_id=event_id)
    return record.value, list(record.headers), key


def produce(bootstrap: str, records: list[tuple[bytes, list, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value, headers, key in records:
        producer.send(CASES_EVENTS, value=value, key=key, headers=headers)
    producer.flush()
    producer.close()


def police_referrals_of(system: RunningSystem, case_id: str) -> list[dict]:
    police = system.token("police-inspector-hn-01", "police", ["inspector"], ["01"])
    inbox = system.get("agency-police", "/referrals", police, limit=500).json()
    return [item for item in inbox if item["case_id"] == case_id]


def test_poison_records_are_dead_lettered_and_the_next_event_is_processed(system: RunningSystem):
    key = str(uuid.uuid4()).encode()  # one key: all three records share a partition
    _, headers, _ = valid_case_record("x", key)
    violating = CaseReceived.example().model_dump(mode="json") | {"case_type": "kidnapping"}
    good_case = str(uuid.uuid4())
    produce(
        system.bootstrap,
        [
            (b"{not json", headers, key),
            (json.dumps(violating).encode(), headers, key),
            valid_case_record(good_case, key),
        ],
    )
    assert len(eventually(lambda: _one(police_referrals_of(system, good_case)))) == 1

    def dead_letters() -> dict[str, dict[str, str]]:
        found = {}
        for record in read_topic(system.bootstrap, dlq_topic(CASES_EVENTS)):
            headers = {name: value.decode() for name, value in record.headers}
            if record.key == key and headers["dlq-consumer"] == "referrals.cases.events.v1":
                found[headers["dlq-reason"]] = headers
        assert set(found) == {"malformed", "contract_violation"}
        return found

    found = eventually(dead_letters)
    assert "case_type" in found["contract_violation"]["dlq-error"]
    assert found["malformed"]["dlq-original-topic"] == CASES_EVENTS
    worker_metrics = httpx.get(
        f"http://127.0.0.1:{system.ports.worker['referrals']}/metrics", timeout=10
    ).text
    assert metric_value(
        worker_metrics,
        "lienganh_dead_letters_total",
        service="referrals",
        topic=CASES_EVENTS,
        reason="malformed",
    )


def test_the_same_event_delivered_twice_has_one_effect(system: RunningSystem):
    case_id = str(uuid.uuid4())
    key = case_id.encode()
    event_id = str(uuid.uuid4())
    twice = valid_case_record(case_id, key, event_id=event_id)
    sentinel_case = str(uuid.uuid4())
    produce(system.bootstrap, [twice, twice, valid_case_record(sentinel_case, key)])
    # The sentinel follows both copies on the same partition: once it is in, both were seen.
    eventually(lambda: _one(police_referrals_of(system, sentinel_case)))
    assert len(police_referrals_of(system, case_id)) == 1


def _one(items: list[dict]) -> list[dict]:
    assert len(items) == 1, items
    return items
