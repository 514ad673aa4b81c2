"""A fresh reporting store fed through the real consumer runner (inbox dedup included),
as the worker feeds it; used by the integration tests and the replay test."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import Engine

from chassis.consumer import Delivery, EventProcessor, Outcome
from chassis.runtime import open_service
from contracts.base import EventModel
from contracts.envelope import KafkaRecord, encode
from reporting.adapters.tables import REPORTING_TABLES
from reporting.bootstrap import SERVICE
from reporting.config import ReportingSettings
from reporting.handlers import subscriptions
from tests.support.keys import throwaway_dead_letter_keys


class Store:
    """The reporting store and one processor per subscribed topic, like the worker's."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.subscriptions = subscriptions()
        self.processors = {
            topic: EventProcessor(
                service=SERVICE,
                consumer=f"{SERVICE}.{topic}",
                engine=engine,
                handlers=handlers,
                dead_letter_sealer=throwaway_dead_letter_keys().sealer,
            )
            for topic, handlers in self.subscriptions.items()
        }
        self._offsets = itertools.count()

    def record(self, event: EventModel) -> KafkaRecord:
        topic = next(t for t, handlers in self.subscriptions.items() if type(event) in handlers)
        return encode(event, topic=topic, source="/tests")

    def feed(self, events: Iterable[EventModel | KafkaRecord]) -> list[Outcome]:
        outcomes = []
        for item in events:
            record = item if isinstance(item, KafkaRecord) else self.record(item)
            delivery = Delivery(record=record, partition=0, offset=next(self._offsets))
            outcomes.append(self.processors[record.topic].process(delivery).outcome)
        return outcomes


def open_store(database_url: str, data_dir: Path) -> Store:
    settings = ReportingSettings(database_url=database_url, data_dir=data_dir)
    return Store(open_service(settings, SERVICE, REPORTING_TABLES))
