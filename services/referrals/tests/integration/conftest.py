"""A real referrals database (SQLite and PostgreSQL) and the worker's own handler map."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from chassis.consumer import Delivery, EventProcessor, Result
from chassis.db import create_db_engine
from chassis.identity_views import open_view, seal_view, view_key
from chassis.inbox import ProcessedEvent
from chassis.migrations import upgrade
from chassis.outbox import OutboxEvent
from chassis.sealing import DataKey
from contracts.agencies.registry import agency_registry
from contracts.base import EventModel
from contracts.envelope import encode
from contracts.referrals.field_policy import field_policy
from referrals.bootstrap import TABLES, utc_now
from referrals.config import ReferralsSettings
from referrals.deadlines import DeadlineSweep
from referrals.domain.routing import RoutingPolicy
from referrals.handlers import subscriptions
from tests.support.keys import throwaway_dead_letter_keys

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
# Every field the cases service could hold; it minimises each agency's view, and this
# service cuts them again by name (it cannot open them).
ALL_DETAILS = {
    "child_name": "Lò Thị Mẩy",
    "date_of_birth": "2012-03-09",
    "address": "Bản Phiêng Luông, xã Mộc Châu",
    "phone": "0912000111",
    "guardian_name": "Lò Văn Tòng",
    "guardian_phone": "0912000222",
    "sex": "female",
    "workplace_name": "Xưởng chè Bích Thủy",
    "workplace_address": "Khu 3, xã Mộc Châu",
    "employer_name": "Đặng Văn Bích",
    "industry": "agriculture",
    "summary": "Làm việc 12 giờ mỗi ngày ở xưởng chè.",
}


CASE_KEYS: dict[str, DataKey] = {}


def oversharing_views(case_id: str) -> dict[str, dict[str, str]]:
    """Every field sealed for every agency, as a careless cases service might send them."""
    assert set(ALL_DETAILS) == set(field_policy().fields)
    key = CASE_KEYS.setdefault(case_id, DataKey.generate())
    return {
        agency: seal_view(
            view_key(key, case_id=case_id, agency=agency),
            case_id=case_id,
            agency=agency,
            fields=ALL_DETAILS,
        )
        for agency in agency_registry().codes()
    }


def opened(case_id: str, agency: str, details: dict[str, str]) -> dict[str, str]:
    """What the agency's API would show, with the view key the cases service releases."""
    key = view_key(CASE_KEYS[case_id], case_id=case_id, agency=agency)
    return open_view(key, case_id=case_id, agency=agency, tokens=details)


@dataclass
class Worker:
    """The referrals worker's handlers and deadline sweep on a real database."""

    engine: Engine
    policy: RoutingPolicy
    processors: dict[str, EventProcessor]
    sweep: DeadlineSweep
    offset: int = 0

    def deliver(self, topic: str, *events: EventModel) -> list[Result]:
        deliveries = []
        for event in events:
            self.offset += 1
            record = encode(event, topic=topic, source="/tests")
            deliveries.append(Delivery(record=record, partition=0, offset=self.offset))
        return self.processors[topic].process_all(deliveries)

    def staged(self, event_type: str | None = None, topic: str | None = None) -> list[dict]:
        """Events the worker put in its outbox (what the relay will publish), oldest first."""
        with Session(self.engine) as session:
            query = select(OutboxEvent).order_by(col(OutboxEvent.id))
            if event_type:
                query = query.where(OutboxEvent.event_type == event_type)
            if topic:
                query = query.where(OutboxEvent.topic == topic)
            rows = session.exec(query).all()
        return [{"topic": row.topic, **json.loads(row.value)} for row in rows]


def build_worker(engine: Engine, settings: ReferralsSettings) -> Worker:
    from referrals.bootstrap import load_routing_policy

    policy = load_routing_policy(settings)
    processors = {
        topic: EventProcessor(
            service="referrals",
            consumer=f"referrals.{topic}",
            engine=engine,
            handlers=handlers,
            dead_letter_sealer=throwaway_dead_letter_keys().sealer,
        )
        for topic, handlers in subscriptions(policy, settings.agencies, utc_now).items()
    }
    return Worker(engine, policy, processors, DeadlineSweep(engine, policy))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> ReferralsSettings:
    return ReferralsSettings(data_dir=tmp_path, database_url=database_url)


@pytest.fixture
def engine(settings: ReferralsSettings) -> Engine:
    engine = create_db_engine(settings.database_url_for("referrals"))
    # Migrated, not `create_all`: the API these tests start on the same store migrates it
    # too, and would take a store made by `create_all` for the baseline and upgrade it again.
    upgrade(engine, [*TABLES, OutboxEvent, ProcessedEvent])
    return engine


@pytest.fixture
def worker(engine: Engine, settings: ReferralsSettings) -> Worker:
    return build_worker(engine, settings)
