"""The HTTPS bridge: signed webhooks out to a real local HTTP server, signed updates in."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import Session, select

from agencies.adapters.tables import WebhookDelivery
from agencies.adapters.webhooks import (
    WebhookSender,
)
from agencies.handlers import subscriptions
from chassis.consumer import Delivery, EventProcessor
from chassis.webhook_signature import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from contracts.agencies.v1 import ReferralAccepted
from contracts.envelope import encode
from contracts.referrals.v1 import ReferralRequested
from contracts.topics import agency_referrals_topic, agency_updates_topic
from tests.support.keys import throwaway_dead_letter_keys

from .conftest import SECRET, Agency


class AgencyReceiver(BaseHTTPRequestHandler):
    """The agency's own system: records what it receives, fails the first N calls."""

    received: list[tuple[dict[str, str], bytes]] = []
    failures_left = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if AgencyReceiver.failures_left:
            AgencyReceiver.failures_left -= 1
            self.send_response(503)
        else:
            AgencyReceiver.received.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    AgencyReceiver.received, AgencyReceiver.failures_left = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), AgencyReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/lienganh/webhook"
    finally:
        server.shutdown()
        server.server_close()


def bridged_processor(police: Agency) -> EventProcessor:
    handlers = subscriptions("police", bridged=True)[agency_referrals_topic("police")]
    return EventProcessor(
        service="agencies-police",
        consumer="police.bridge",
        engine=police.engine,
        handlers=handlers,
        dead_letter_sealer=throwaway_dead_letter_keys().sealer,
    )


def test_new_referrals_are_pushed_signed_and_retried(police: Agency, receiver: str):
    event = ReferralRequested.example().model_copy(
        update={"referral_id": str(uuid.uuid4()), "agency": "police"}
    )
    record = encode(event, topic=agency_referrals_topic("police"), source="/referrals")
    processor = bridged_processor(police)
    processor.process(Delivery(record=record, partition=0, offset=1))
    processor.process(Delivery(record=record, partition=0, offset=2))  # redelivered: no 2nd hook

    AgencyReceiver.failures_left = 2  # the agency's server is briefly down
    sender = WebhookSender(police.engine, receiver, SECRET.encode(), attempts=5, max_wait_s=0.01)
    sender.run(datetime.now(UTC))
    [(headers, body)] = AgencyReceiver.received
    timestamp = int(headers[TIMESTAMP_HEADER])
    assert headers[SIGNATURE_HEADER] == sign(SECRET.encode(), timestamp, body)
    assert headers[IDEMPOTENCY_HEADER] == record.header("ce_id")
    assert json.loads(body)["data"]["referral_id"] == event.referral_id
    with Session(police.engine) as session:
        [delivery] = session.exec(select(WebhookDelivery)).all()
    assert delivery.delivered_at is not None and delivery.attempts == 3
    sender.run(datetime.now(UTC))
    assert len(AgencyReceiver.received) == 1  # delivered once


def test_a_receiver_that_stays_down_keeps_the_webhook_for_later(police: Agency, receiver: str):
    event = ReferralRequested.example().model_copy(
        update={"referral_id": str(uuid.uuid4()), "agency": "police"}
    )
    record = encode(event, topic=agency_referrals_topic("police"), source="/referrals")
    bridged_processor(police).process(Delivery(record=record, partition=0, offset=1))
    AgencyReceiver.failures_left = 100
    sender = WebhookSender(police.engine, receiver, SECRET.encode(), attempts=2, max_wait_s=0.01)
    now = datetime.now(UTC)
    sender.run(now)
    with Session(police.engine) as session:
        [parked] = session.exec(select(WebhookDelivery)).all()
    assert parked.delivered_at is None and "503" in (parked.last_error or "")
    assert parked.next_attempt_at.replace(tzinfo=UTC) > now
    AgencyReceiver.failures_left = 0
    sender.run(now + timedelta(hours=2))
    assert len(AgencyReceiver.received) == 1


def signed(body: bytes, *, key: str | None = None, at: int | None = None, secret: str = SECRET):
    timestamp = at if at is not None else int(time.time())
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret.encode(), timestamp, body),
        IDEMPOTENCY_HEADER: key or str(uuid.uuid4()),
    }


def update_body(police: Agency, referral_id: str, case_id: str, agency: str = "police") -> bytes:
    accepted = ReferralAccepted(
        referral_id=referral_id,
        case_id=case_id,
        agency=agency,
        expected_version=1,
        actor="police-system-bridge",
        occurred_at=datetime.now(UTC),
    )
    return json.dumps({"type": accepted.ce_type, "data": accepted.model_dump(mode="json")}).encode()


def test_a_valid_signed_update_feeds_the_updates_topic(police: Agency):
    referral = police.new_referral()
    body = update_body(police, referral.referral_id, referral.case_id)
    answer = police.api.post("/bridge/updates", content=body, headers=signed(body))
    assert answer.status_code == 202, answer.text
    [sent] = police.sent("vn.lienganh.referral.accepted.v1")
    assert (sent["topic"], sent["referral_id"]) == (
        agency_updates_topic("police"),
        referral.referral_id,
    )
    detail = police.api.get(f"/referrals/{referral.referral_id}", headers=police.headers())
    assert detail.json()["state"] == "accepted"


def test_an_invalid_signature_is_refused(police: Agency):
    referral = police.new_referral()
    body = update_body(police, referral.referral_id, referral.case_id)
    forged = signed(body, secret="another-secret-that-is-also-long-enough!")
    assert police.api.post("/bridge/updates", content=body, headers=forged).status_code == 401
    tampered = signed(body)
    changed = body.replace(b'"expected_version": 1', b'"expected_version": 2')
    assert police.api.post("/bridge/updates", content=changed, headers=tampered).status_code == 401
    old = signed(body, at=int(time.time()) - 3600)
    answer = police.api.post("/bridge/updates", content=body, headers=old)
    assert answer.status_code == 401 and "window" in answer.json()["detail"]
    unsigned = police.api.post("/bridge/updates", content=body)
    assert unsigned.status_code == 401
    assert police.sent() == []


def test_a_replayed_update_is_refused(police: Agency):
    referral = police.new_referral()
    body = update_body(police, referral.referral_id, referral.case_id)
    headers = signed(body, key="police-bridge-0001")
    assert police.api.post("/bridge/updates", content=body, headers=headers).status_code == 202
    replay = police.api.post("/bridge/updates", content=body, headers=headers)
    assert replay.status_code == 409 and "replayed" in replay.json()["detail"]
    assert len(police.sent()) == 1


def test_a_bridge_update_for_another_agency_is_forbidden(police: Agency):
    referral = police.new_referral()
    body = update_body(police, referral.referral_id, referral.case_id, agency="dolisa")
    assert police.api.post("/bridge/updates", content=body, headers=signed(body)).status_code == 403
    assert police.sent() == []
