"""One agency deployment (police) on a real database, its API with real tokens, and its
worker's own handler map fed with the events the referrals service sends."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agencies.bootstrap import create_api, subscriptions
from agencies.config import AgencySettings
from chassis.auth import LocalIssuer
from chassis.consumer import Delivery, EventProcessor
from chassis.outbox import OutboxEvent
from contracts.base import EventModel
from contracts.envelope import encode
from contracts.referrals.v1 import ReferralRequested
from contracts.topics import AUDIT_EVENTS, agency_referrals_topic, agency_updates_topic

SECRET = "a-bridge-secret-of-at-least-32-characters"


@dataclass
class Agency:
    code: str
    engine: Engine
    api: TestClient
    issuer: LocalIssuer
    processor: EventProcessor
    offsets: list[int] = field(default_factory=lambda: [0])

    def deliver(self, *events: EventModel) -> None:
        topic = agency_referrals_topic(self.code)
        batch = []
        for event in events:
            self.offsets[0] += 1
            record = encode(event, topic=topic, source="/referrals")
            batch.append(Delivery(record=record, partition=0, offset=self.offsets[0]))
        self.processor.process_all(batch)

    def new_referral(self, **update: object) -> ReferralRequested:
        now = datetime.now(UTC)
        event = ReferralRequested.example().model_copy(
            update={
                "referral_id": str(uuid.uuid4()),
                "case_id": str(uuid.uuid4()),
                "agency": self.code,
                "requested_at": now,
                "accept_by": now + timedelta(hours=2),
                **update,
            }
        )
        self.deliver(event)
        return event

    def headers(self, role: str = "inspector", provinces: tuple[str, ...] = ("01",), **kw: str):
        agency = kw.get("agency", self.code)
        token = self.issuer.mint(f"{agency}-{role}-01", agency, [role], provinces)
        return {"Authorization": f"Bearer {token}"}

    def sent(self, event_type: str | None = None, topic: str | None = None) -> list[dict]:
        """Events in the outbox bound for the agency's updates topic (or `topic`)."""
        with Session(self.engine) as session:
            query = select(OutboxEvent).order_by(col(OutboxEvent.id))
            query = query.where(OutboxEvent.topic == (topic or agency_updates_topic(self.code)))
            if event_type:
                query = query.where(OutboxEvent.event_type == event_type)
            return [{"topic": row.topic, **json.loads(row.value)} for row in session.exec(query)]


def audited(agency: Agency) -> list[dict]:
    return agency.sent(topic=AUDIT_EVENTS)


@pytest.fixture
def agency_settings(tmp_path: Path, database_url: str) -> AgencySettings:
    return AgencySettings(
        agency="police", data_dir=tmp_path, database_url=database_url, webhook_secret=SECRET
    )


@pytest.fixture
def police(agency_settings: AgencySettings) -> Iterator[Agency]:
    issuer = LocalIssuer(agency_settings.data_dir / "keys")
    issuer.public_key_pem()
    app = create_api(agency_settings)
    engine = app.state.engine
    handlers = subscriptions("police", bridged=False)[agency_referrals_topic("police")]
    processor = EventProcessor(
        service="agencies-police", consumer="police.inbox", engine=engine, handlers=handlers
    )
    with TestClient(app) as client:
        yield Agency("police", engine, client, issuer, processor)
