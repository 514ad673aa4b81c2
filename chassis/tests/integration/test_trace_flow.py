"""One trace from an HTTP request to the events it causes downstream, correlation ids on every
audit record, and the copies of one event linked to the first.

Request (`traceparent` header) → outbox row (`ce_traceparent`) → Kafka headers → consumer
span → the next staged event: the same trace id all the way, on a real broker.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import APIRouter, FastAPI
from kafka import KafkaConsumer
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from chassis.api import create_service_app
from chassis.audit import record_audit, stage_audit
from chassis.auth import Principal
from chassis.consumer import Delivery, EventProcessor, Outcome
from chassis.db import create_db_engine, create_tables
from chassis.inbox import ProcessedEvent
from chassis.logs import configure_logging
from chassis.outbox import OutboxEvent, OutboxRelay
from chassis.publisher import KafkaPublisher
from chassis.unit_of_work import UnitOfWork, event_source, unit_of_work
from contracts.audit.v1 import AuditRecorded
from contracts.cases.v1 import CaseReceived
from contracts.envelope import KafkaRecord
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import AUDIT_EVENTS, CASES_EVENTS, REFERRALS_EVENTS, agency_referrals_topic
from contracts.vocabulary import AuditAction, AuditOutcome

from ..policies import OPEN, rules_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
OFFICER = Principal(
    subject="police-officer-01",
    agency="police",
    roles=frozenset({"officer"}),
    provinces=frozenset({"01"}),
)
CASE_ID = CaseReceived.example().case_id


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def engine(database_url: str) -> Engine:
    engine = create_db_engine(database_url)
    create_tables(engine, [OutboxEvent, ProcessedEvent])
    return engine


def audit(uow: UnitOfWork, detail: str) -> None:
    stage_audit(
        uow,
        OFFICER,
        service="agencies-police",
        action=AuditAction.READ,
        resource_type="case",
        resource_id=CASE_ID,
        detail=detail,
    )


def intake_app(engine: Engine) -> FastAPI:
    """A route that stages a case and its audit record (no correlation id passed: the unit of
    work finds the request's), and a refusal audited in a transaction of its own."""
    router = APIRouter()

    @router.post("/cases")
    def receive_case() -> dict[str, str]:
        with unit_of_work(engine, source=event_source("cases")) as uow:
            uow.publish(CaseReceived.example(), topic=CASES_EVENTS)
            audit(uow, "received")
        record_audit(
            engine,
            OFFICER,
            service="agencies-police",
            action=AuditAction.READ,
            resource_type="case",
            resource_id=CASE_ID,
            outcome=AuditOutcome.DENIED,
            detail="refused",
        )
        return {"status": "received"}

    return create_service_app(
        service="tests-tracing",
        title="trace test",
        routers=[router],
        access_rules=rules_for(
            {
                "POST /cases": {
                    **OPEN,
                    "auth": "none",
                    "allow": {},
                    "scope": None,
                    "action": "create",
                }
            }
        ),
    )


def rows(engine: Engine) -> list[OutboxEvent]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxEvent).order_by(col(OutboxEvent.id))))


def trace_of(record: KafkaRecord) -> str:
    traceparent = record.header("ce_traceparent")
    assert traceparent, record.headers
    return traceparent.split("-")[1]


def read_back(bootstrap: str, event_id: str) -> KafkaRecord:
    consumer = KafkaConsumer(
        CASES_EVENTS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    try:
        for message in consumer:
            headers = [(name, bytes(value)) for name, value in message.headers]
            if dict(headers).get("ce_id") == event_id.encode():
                return KafkaRecord(message.topic, message.key, message.value, headers)
    finally:
        consumer.close()
    raise AssertionError(f"{event_id} not found on {CASES_EVENTS}")


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = capsys.readouterr().err.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.mark.kafka
async def test_a_request_trace_follows_its_event_through_kafka_to_the_next_event(
    engine: Engine,
    kafka_broker: Any,
    dead_letter_keys: Any,
    capsys: pytest.CaptureFixture[str],
):
    configure_logging("tests-tracing")
    correlation = f"hotline-{uuid.uuid4().hex[:8]}"
    app = intake_app(engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.post(
            "/cases", headers={"traceparent": INCOMING, "X-Correlation-ID": correlation}
        )
    assert response.status_code == 200, response.text
    staged = [row.to_record() for row in rows(engine)]
    event_id = staged[0].header("ce_id") or ""
    assert [record.topic for record in staged] == [CASES_EVENTS, AUDIT_EVENTS, AUDIT_EVENTS]
    assert {trace_of(record) for record in staged} == {TRACE_ID}
    assert {record.header("ce_correlationid") for record in staged} == {correlation}
    assert {record.header("ce_source") for record in staged[1:]} == {"/cases", "/agencies/police"}
    request_logs = [line for line in log_lines(capsys) if line.get("event") == "http request"]
    assert request_logs and request_logs[-1]["trace_id"] == TRACE_ID

    publisher = KafkaPublisher(kafka_broker.bootstrap_servers, "trace-test")
    await publisher.start()
    try:
        assert await OutboxRelay(engine, publisher, service="tests").relay_once() == 3
    finally:
        await publisher.stop()
    consumed = read_back(kafka_broker.bootstrap_servers, event_id)
    assert trace_of(consumed) == TRACE_ID

    def acknowledge(uow: UnitOfWork, event: CaseReceived) -> None:
        audit(uow, "seen by the consumer")

    processor = EventProcessor(
        service="agencies-police",
        consumer="tests.tracing",
        engine=engine,
        handlers={CaseReceived: acknowledge},
        dead_letter_sealer=dead_letter_keys.sealer,
    )
    result = processor.process(Delivery(consumed, partition=0, offset=0))
    assert result.outcome is Outcome.PROCESSED
    following = rows(engine)[-1].to_record()
    assert following.header("ce_type") == AuditRecorded.ce_type
    assert trace_of(following) == TRACE_ID
    assert following.header("ce_causationid") == event_id
    assert following.header("ce_correlationid") == correlation
    assert following.header("ce_source") == "/agencies/police"
    applied = [
        line for line in log_lines(capsys) if line.get("event", "").startswith("event applied")
    ]
    assert applied and applied[-1]["trace_id"] == TRACE_ID and applied[-1]["span_id"]


def test_an_audit_record_made_outside_any_request_has_a_correlation_id(engine: Engine):
    """A CLI command or a job: no request, no event, still a correlation id (the trace's)."""
    record_audit(
        engine,
        OFFICER,
        service="cases",
        action=AuditAction.EXPORT,
        resource_type="case",
        resource_id=CASE_ID,
    )
    with unit_of_work(engine, source="/cases") as uow:
        audit(uow, "a command's own transaction")
    for record in (row.to_record() for row in rows(engine)):
        assert record.header("ce_correlationid"), record.headers
        assert record.header("ce_correlationid") == trace_of(record)


def test_the_copy_of_an_event_on_another_topic_names_the_first_as_its_cause(engine: Engine):
    changed = ReferralStateChanged.example()
    other = changed.model_copy(update={"version": changed.version + 1})
    with unit_of_work(engine, source="/referrals") as uow:
        uow.publish(changed, topic=REFERRALS_EVENTS)
        uow.publish(changed, topic=agency_referrals_topic("police"))
        uow.publish(other, topic=REFERRALS_EVENTS)
    original, copy, unrelated = (row.to_record() for row in rows(engine))
    assert copy.topic == agency_referrals_topic("police")
    assert original.header("ce_id") != copy.header("ce_id")  # each copy deduplicated apart
    assert original.header("ce_causationid") is None
    assert copy.header("ce_causationid") == original.header("ce_id")
    assert unrelated.header("ce_causationid") is None  # a different event, not a copy
    assert trace_of(original) == trace_of(copy)
