"""Benchmark: CPU per event of the consumer path (decode, validate, inbox, handler, outbox,
commit), in-process, for three of the busiest hops, beside the broker's limits.

A worker's cost per case is mostly this path: the chassis `EventProcessor` applying a batch
with the service's real handlers over a fresh SQLite store, as the worker's consumer calls it,
without Kafka or other processes (so the figure is steady on a noisy machine, unlike the
whole-system burst of `pipeline.py`). The hops:
- referrals: `CaseReceived` → the case's referrals, their sealed views and events;
- notifications: the three `ReferralStateChanged` (requested) of a case → a notification per
  officer of each agency and channel (the local officers directory), e-mails queued;
- reporting: what a case causes on the topics it follows (the case, three referral state
  changes, three deliveries) → facts.

Run: `.venv/bin/python benchmarks/consumer_path.py [--cases 600 --batch 100]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import broker_beside_its_limits

from chassis.consumer import Delivery, EventProcessor, Handler, Outcome
from chassis.db import create_db_engine, create_tables
from chassis.inbox import ProcessedEvent
from chassis.outbox import OutboxEvent
from chassis.sealing import PublicSealer
from contracts.base import EventModel
from contracts.envelope import KafkaRecord, encode
from contracts.registry import model_for
from contracts.topics import CASES_EVENTS, NOTIFICATIONS_EVENTS, REFERRALS_EVENTS
from localrun.kafka import ensure_kafka_jars

EXAMPLES = Path(__file__).resolve().parent.parent / "contracts" / "examples"


def example(ce_type: str, **changes: object) -> EventModel:
    data = json.loads((EXAMPLES / f"{ce_type}.json").read_text())
    return model_for(ce_type).model_validate({**data, **changes})


def case_received(case_id: str) -> KafkaRecord:
    event = example("vn.lienganh.case.received.v1", case_id=case_id)
    return encode(event, topic=CASES_EVENTS, source="/cases", correlation_id=case_id)


def what_reporting_reads(case_id: str) -> list[KafkaRecord]:
    records = [case_received(case_id)]
    for _ in range(3):
        changed = example(
            "vn.lienganh.referral.state_changed.v1", case_id=case_id, referral_id=str(uuid.uuid4())
        )
        records.append(encode(changed, topic=REFERRALS_EVENTS, source="/referrals"))
        delivered = example(
            "vn.lienganh.notification.delivered.v1", notification_id=str(uuid.uuid4())
        )
        records.append(encode(delivered, topic=NOTIFICATIONS_EVENTS, source="/notifications"))
    return records


def referrals_requested(case_id: str) -> list[KafkaRecord]:
    """The referral events that tell each of the case's agencies' officers."""
    records = []
    for agency in ("police", "dolisa", "labour_inspection"):
        requested = example(
            "vn.lienganh.referral.state_changed.v1",
            case_id=case_id,
            referral_id=str(uuid.uuid4()),
            agency=agency,
            from_state=None,
            to_state="requested",
            version=1,
            actor="referrals",
            deadline="2026-11-03T08:40:00Z",
        )
        records.append(encode(requested, topic=REFERRALS_EVENTS, source="/referrals"))
    return records


def referrals_hop(data_dir: Path) -> tuple[Subscriptions, Engine]:
    os.environ["REFERRALS_DATA_DIR"] = str(data_dir)
    from referrals import handlers
    from referrals.bootstrap import TABLES, load_routing_policy, utc_now
    from referrals.config import ReferralsSettings

    settings = ReferralsSettings()
    policy = load_routing_policy(settings)
    every = handlers.subscriptions(policy, settings.agencies, utc_now)
    return {CASES_EVENTS: every[CASES_EVENTS]}, _store(data_dir, TABLES)


def reporting_hop(data_dir: Path) -> tuple[Subscriptions, Engine]:
    from reporting.adapters.tables import REPORTING_TABLES
    from reporting.handlers import subscriptions

    return subscriptions(), _store(data_dir, REPORTING_TABLES)


def notifications_hop(data_dir: Path) -> tuple[Subscriptions, Engine]:
    """With the local officers directory (`make run`'s), so each referral tells someone."""
    os.environ["NOTIFICATIONS_DATA_DIR"] = str(data_dir)
    os.environ["NOTIFICATIONS_LOG_LEVEL"] = "WARNING"  # as the other hops: no line per event
    from notifications import handlers
    from notifications.adapters.directory_store import default_rules_path, load_rules
    from notifications.adapters.tables import utc_now
    from notifications.bootstrap import open_notifications
    from notifications.config import NotificationsSettings

    settings = NotificationsSettings()
    rules = load_rules(default_rules_path())
    context = handlers.NotifyContext(rules=rules, inbox_url=settings.inbox_url, now=utc_now)
    every = handlers.subscriptions(context)
    return {REFERRALS_EVENTS: every[REFERRALS_EVENTS]}, open_notifications(settings)


def _store(data_dir: Path, tables: list) -> Engine:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(f"sqlite:///{data_dir / 'store.db'}")
    create_tables(engine, [*tables, OutboxEvent, ProcessedEvent])
    return engine


Subscriptions = Mapping[str, Mapping[type[EventModel], Handler]]
HOPS: dict[str, tuple[Callable[[Path], tuple[Subscriptions, Engine]], Callable]] = {
    "referrals": (referrals_hop, lambda case_id: [case_received(case_id)]),
    "notifications": (notifications_hop, referrals_requested),
    "reporting": (reporting_hop, what_reporting_reads),
}


def cpu_per_event(name: str, base: Path, cases: int, batch: int) -> tuple[int, float]:
    """(events applied, CPU seconds) for `cases` cases' events through the hop."""
    make_hop, records_of = HOPS[name]
    subscriptions, engine = make_hop(base / name)
    processors = {
        topic: EventProcessor(
            service=name,
            consumer=f"{name}.{topic}",
            engine=engine,
            handlers=handlers,
            dead_letter_sealer=_no_dead_letters,
        )
        for topic, handlers in subscriptions.items()
    }
    by_topic: dict[str, list[KafkaRecord]] = {topic: [] for topic in processors}
    for _ in range(cases):
        for record in records_of(str(uuid.uuid4())):
            by_topic[record.topic].append(record)
    started = time.process_time()
    for topic, records in by_topic.items():
        for first in range(0, len(records), batch):
            chunk = records[first : first + batch]
            deliveries = [Delivery(record, 0, first + i) for i, record in enumerate(chunk)]
            results = processors[topic].process_all(deliveries)
            if any(result.outcome is not Outcome.PROCESSED for result in results):
                raise SystemExit(f"{name}: an event was not processed: {results[:3]}")
    return sum(map(len, by_topic.values())), time.process_time() - started


def _no_dead_letters() -> PublicSealer:
    raise SystemExit("a benchmark event was dead-lettered")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=600)
    parser.add_argument("--batch", type=int, default=100, help="records a transaction")
    parser.add_argument("--limit-records", type=int, default=50_000)
    args = parser.parse_args(argv)
    ensure_kafka_jars()
    with tempfile.TemporaryDirectory(prefix="lienganh-consumer-") as tmp:
        base = Path(tmp)
        figures = {name: cpu_per_event(name, base, args.cases, args.batch) for name in HOPS}
        with broker_beside_its_limits(base, args.limit_records) as (_, limits):
            pass
    print(f"consumer path, in-process, SQLite, {args.cases} cases, {args.batch} records a batch")
    for name, (events, cpu) in figures.items():
        per_event_ms = 1000 * cpu / events
        print(
            f"  {name}: {events:,} events, {per_event_ms:.3f} ms CPU an event, "
            f"{1000 * cpu / args.cases:.2f} ms a case; one core would apply "
            f"{events / cpu:,.0f} events/s = {limits.ratios(events / cpu)}"
        )


if __name__ == "__main__":
    main()
