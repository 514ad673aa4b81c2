"""One agency deployment (police) on a real database, its API with real tokens, and its
worker's own handler map fed with the events the referrals service sends."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agencies.adapters.view_keys import ReleasedKey, ViewKeyRefused
from agencies.bootstrap import create_api
from agencies.config import AgencySettings
from agencies.handlers import subscriptions
from chassis.auth import LocalIssuer
from chassis.consumer import Delivery, EventProcessor
from chassis.identity_views import seal_view, view_key
from chassis.keypairs import load_or_create_keypair
from chassis.outbox import OutboxEvent
from chassis.sealing import DataKey
from contracts.base import EventModel
from contracts.envelope import encode
from contracts.referrals.v1 import ReferralRequested
from contracts.topics import AUDIT_EVENTS, agency_referrals_topic, agency_updates_topic
from tests.support.keys import throwaway_dead_letter_keys

SECRET = "a-bridge-secret-of-at-least-32-characters"


@dataclass
class CasesKeys:
    """Stands in for the cases API's view-key route: the real one is tested in the cases
    service and end to end; here each case gets a data key and its views are sealed under it."""

    keys: dict[str, DataKey] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)
    refusal: ViewKeyRefused | None = None

    def seal(self, case_id: str, agency: str, fields: dict[str, str]) -> dict[str, str]:
        key = self.keys.setdefault(case_id, DataKey.generate())
        return seal_view(
            view_key(key, case_id=case_id, agency=agency),
            case_id=case_id,
            agency=agency,
            fields=fields,
        )

    def release(self, token: str, *, case_id: str, referral_id: str) -> ReleasedKey:
        self.asked.append((case_id, referral_id))
        if self.refusal is not None:
            raise self.refusal
        key = view_key(self.keys[case_id], case_id=case_id, agency="police")
        return ReleasedKey(key, ())


@dataclass
class Agency:
    code: str
    engine: Engine
    api: TestClient
    issuer: LocalIssuer
    processor: EventProcessor
    cases: CasesKeys
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
    load_or_create_keypair(agency_settings.data_dir / "keys" / "cases-intake.private.json")
    app = create_api(agency_settings)
    cases = CasesKeys()
    app.state.service_context = replace(app.state.service_context, view_keys=cases)
    engine = app.state.engine
    handlers = subscriptions("police", bridged=False)[agency_referrals_topic("police")]
    processor = EventProcessor(
        service="agencies-police",
        consumer="police.inbox",
        engine=engine,
        handlers=handlers,
        dead_letter_sealer=throwaway_dead_letter_keys().sealer,
    )
    with TestClient(app) as client:
        yield Agency("police", engine, client, issuer, processor, cases)
