"""The fault matrix of issue 16, one test per row not covered elsewhere (docs/operations.md):

(a) a consumer paused (SIGSTOP) past its session timeout, then resumed: its stale commit
    does not win — nothing lost or applied twice, committed offsets never move backwards;
(b) the database unavailable for a while (SQLite locked by another writer; PostgreSQL
    stopped): the consumer retries, skips nothing and dead-letters nothing;
(c) a failing, then slow SMTP server: deliveries back off and retry, every e-mail is sent
    once, intake is unaffected;
(d) a replay of every topic into a fresh reporting store gives the same facts.

Kill -9 of workers, APIs and the broker is `test_chaos_short.py`; worker takeover after a
kill is `chassis/tests/integration/test_worker_recovery.py`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from contracts.topics import dlq_topic
from localrun.ports import free_port
from localrun.status import consumer_status
from localrun.topics import TopicMismatch, create_topics
from tests.support.system import RunningSystem, eventually
from tests.support.worker_recovery import SampleWorker, recovery_topic, send_probes

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

PARTITIONS = {0, 1, 2, 3}


# --- a sample worker on the chassis, its probes and its offsets ----------------------------


def probe_counts(database_url: str) -> Counter[str]:
    """Case id → how many times the worker applied it (the table has no unique key: only
    the inbox stands between a redelivery and a second row)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT case_id FROM recovery_probes"))
            return Counter(case_id for (case_id,) in rows)
    except Exception:  # not created yet, or the database is the one that is down
        return Counter()
    finally:
        engine.dispose()


def applied_once(database_url: str, probes: dict[str, int]) -> None:
    counts = probe_counts(database_url)
    assert set(probes) <= set(counts), "some probes not applied yet"
    assert {case_id: counts[case_id] for case_id in probes} == dict.fromkeys(probes, 1)


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    return {
        row.partition: row.committed
        for row in consumer_status(bootstrap, [group])
        if row.topic == topic and row.committed is not None
    }


def lag(bootstrap: str, group: str, topic: str) -> int:
    return sum(row.lag for row in consumer_status(bootstrap, [group]) if row.topic == topic)


def dead_letters(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(partitions).values()) if partitions else 0
    finally:
        consumer.close()


@contextmanager
def offsets_watched(bootstrap: str, group: str, topic: str) -> Iterator[list[dict[int, int]]]:
    """Snapshots of the group's committed offsets, every 0.2 s, while the block runs."""
    seen: list[dict[int, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.2):
            try:
                seen.append(committed(bootstrap, group, topic))
            except Exception as error:  # the admin client may time out on a busy machine
                print(f"offsets not read: {error!r}")

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=30)


def never_backwards(snapshots: list[dict[int, int]]) -> None:
    highest: dict[int, int] = {}
    for snapshot in snapshots:
        for partition, offset in snapshot.items():
            assert offset >= highest.get(partition, 0), (partition, offset, highest)
            highest[partition] = offset


def sample_workers(
    broker: object, tmp_path: Path, database_url: str, names: tuple[str, ...]
) -> tuple[str, str, list[SampleWorker]]:
    bootstrap: str = broker.bootstrap_servers  # type: ignore[attr-defined]
    topic = f"tests.faults.{uuid.uuid4().hex[:8]}.v1"
    specs = [recovery_topic(topic, len(PARTITIONS)), recovery_topic(dlq_topic(topic), 1)]
    deadline = time.monotonic() + 300
    while True:  # a broker busy with other suites may show new partitions late
        try:
            create_topics(bootstrap, specs)
            break
        except TopicMismatch:
            if time.monotonic() > deadline:
                raise
    group = f"tests-faults-{uuid.uuid4().hex[:8]}"
    workers = [
        SampleWorker(name, bootstrap, topic, group, database_url, tmp_path / name, free_port())
        for name in names
    ]
    return topic, group, workers


# --- (a) paused past the session timeout ---------------------------------------------------


def test_a_consumer_paused_past_its_session_loses_nothing_and_applies_nothing_twice(
    kafka_broker: object, tmp_path: Path
):
    bootstrap: str = kafka_broker.bootstrap_servers  # type: ignore[attr-defined]
    url = f"sqlite:///{tmp_path / 'paused.db'}"
    topic, group, (first, second) = sample_workers(kafka_broker, tmp_path, url, ("first", "second"))
    first.start()
    second.start()
    try:

        def settled() -> set[int]:
            mine, theirs = first.partitions(), second.partitions()
            assert mine and theirs and mine | theirs == PARTITIONS
            return mine

        paused = eventually(settled, 300, 0.5)
        with offsets_watched(bootstrap, group, topic) as snapshots:
            warm = send_probes(bootstrap, topic, PARTITIONS)
            eventually(lambda: applied_once(url, warm), 300)
            # Applied, most likely not committed yet (Faust commits every few seconds): the
            # stale position the paused member still believes in.
            in_flight = send_probes(bootstrap, topic, paused)
            eventually(lambda: applied_once(url, in_flight), 300, 0.02)
            assert first.process is not None
            os.kill(first.process.pid, signal.SIGSTOP)
            try:
                # Past the 6 s session: the other member takes every partition over.
                eventually(lambda: _holds_all(second), 300, 0.5)
                meanwhile = send_probes(bootstrap, topic, PARTITIONS)
                eventually(lambda: applied_once(url, meanwhile), 300)
            finally:
                os.kill(first.process.pid, signal.SIGCONT)
            after = send_probes(bootstrap, topic, PARTITIONS)
            eventually(settled, 300, 0.5)  # the resumed member rejoined
            later = send_probes(bootstrap, topic, PARTITIONS)
            for probes in (warm, in_flight, meanwhile, after, later):
                eventually(lambda p=probes: applied_once(url, p), 300)
            eventually(lambda: _no_lag(bootstrap, group, topic), 300, 0.5)
        assert first.process.poll() is None, first.log_tail()
        assert sum(probe_counts(url).values()) == len(probe_counts(url))  # nothing twice
        never_backwards(snapshots)
        assert dead_letters(bootstrap, dlq_topic(topic)) == 0
    finally:
        first.stop()
        second.stop()


def _holds_all(worker: SampleWorker) -> None:
    assert worker.partitions() == PARTITIONS


def _no_lag(bootstrap: str, group: str, topic: str) -> None:
    assert lag(bootstrap, group, topic) == 0


# --- (b) the database unavailable -------------------------------------------------------


@contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another process's long write transaction: every writer gets `database is locked`."""
    with closing(sqlite3.connect(path, timeout=60, isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")


@contextmanager
def postgres_stopped(server: object) -> Iterator[None]:
    server.stop()  # type: ignore[attr-defined]
    try:
        yield
    finally:
        server.start()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_database_outage_pauses_the_consumer_and_skips_nothing(
    kafka_broker: object, tmp_path: Path, request: pytest.FixtureRequest, database: str
):
    bootstrap: str = kafka_broker.bootstrap_servers  # type: ignore[attr-defined]
    if database == "sqlite":
        path = tmp_path / "outage.db"
        url = f"sqlite:///{path}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    topic, group, (worker,) = sample_workers(kafka_broker, tmp_path, url, ("only",))
    worker.start()
    try:
        eventually(lambda: _holds_all(worker), 300, 0.5)
        before = send_probes(bootstrap, topic, PARTITIONS)
        eventually(lambda: applied_once(url, before), 300)
        outage = sqlite_locked(path) if database == "sqlite" else postgres_stopped(server)
        with offsets_watched(bootstrap, group, topic) as snapshots:
            with outage:
                during: dict[str, int] = {}
                # Events keep arriving throughout; SQLite writers wait 30 s (busy_timeout)
                # before they see the error, so its outage lasts longer than that.
                for _ in range(4 if database == "sqlite" else 3):
                    during |= send_probes(bootstrap, topic, PARTITIONS)
                    time.sleep(10 if database == "sqlite" else 4)
            for probes in (before, during):
                eventually(lambda p=probes: applied_once(url, p), 300)
            after = send_probes(bootstrap, topic, PARTITIONS)
            eventually(lambda: applied_once(url, after), 300)
            eventually(lambda: _no_lag(bootstrap, group, topic), 300, 0.5)
        never_backwards(snapshots)
        assert dead_letters(bootstrap, dlq_topic(topic)) == 0
        assert worker.process is not None and worker.process.poll() is None
        log = (tmp_path / "only" / "only.log").read_text(errors="replace")
        assert "database unavailable; retrying the batch" in log
    finally:
        worker.stop()


# --- (c) a failing, then slow SMTP server --------------------------------------------------


class FlakySmtp:
    """An SMTP server that refuses every message (451) while `failing`, then accepts them
    after `delay_s`; what it accepted, by notification id (the Message-ID's idstring)."""

    def __init__(self, delay_s: float) -> None:
        self.failing = True
        self.delay_s = delay_s
        self.refused = 0
        self.accepted: Counter[str] = Counter()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        from email import message_from_bytes, policy

        if self.failing:
            self.refused += 1
            return "451 4.3.0 Try again later"
        await asyncio.sleep(self.delay_s)
        content = envelope.original_content or b""  # type: ignore[attr-defined]
        mail = message_from_bytes(content, policy=policy.default)
        message_id = str(mail.get("Message-ID", "")).strip("<>").split("@")[0]
        self.accepted[message_id.rsplit(".", 1)[-1]] += 1
        return "250 OK"


def email_notifications(system: RunningSystem, case_ids: set[str]) -> list[tuple]:
    with closing(sqlite3.connect(system.data_dir / "notifications.db", timeout=30)) as db:
        rows = db.execute(
            "SELECT id, case_id, status, attempts FROM notifications WHERE channel = 'email'"
        ).fetchall()
    return [row for row in rows if row[1] in case_ids]


def test_a_failing_then_slow_smtp_server_delays_mail_and_sends_each_once(system: RunningSystem):
    from aiosmtpd.controller import Controller

    from tests.e2e.test_referrals_loop import labour_case, report

    smtp = FlakySmtp(delay_s=2.0)
    system.supervisor.stop(["mail-sink"])
    controller = Controller(smtp, hostname="127.0.0.1", port=system.ports.smtp)
    controller.start()
    try:
        cases = {report(system, labour_case()) for _ in range(3)}  # intake unaffected

        def retried() -> list[tuple]:
            rows = email_notifications(system, cases)
            assert rows and all(status == "pending" and n >= 2 for _, _, status, n in rows)
            return rows

        eventually(retried, 600, 1.0)  # refused twice each, backing off in between
        smtp.failing = False

        def delivered() -> list[tuple]:
            rows = email_notifications(system, cases)
            assert rows and all(status == "delivered" for _, _, status, _ in rows), rows
            return rows

        rows = eventually(delivered, 600, 1.0)
        assert smtp.refused >= 2 * len(rows)
        assert {row[0] for row in rows} <= set(smtp.accepted)
        assert all(smtp.accepted[row[0]] == 1 for row in rows), smtp.accepted
    finally:
        controller.stop()
        system.supervisor.start(["mail-sink"])
        system.supervisor.wait_ready(names=["mail-sink"])


# --- (d) a full replay into a fresh store -------------------------------------------------


def test_replaying_every_topic_into_a_fresh_reporting_store_gives_the_same_facts(
    system: RunningSystem, tmp_path: Path
):
    from chassis.consumer import Delivery, EventProcessor, Outcome
    from chassis.db import create_db_engine, create_tables
    from chassis.dead_letters import dead_letter_sealer
    from chassis.inbox import ProcessedEvent
    from chassis.outbox import OutboxEvent
    from contracts.envelope import KafkaRecord
    from reporting.adapters.tables import REPORTING_TABLES
    from reporting.handlers import subscriptions
    from tests.e2e.test_referrals_loop import labour_case, officer, report
    from tests.support.chaos import read_topic

    case_id = report(system, labour_case())
    police = eventually(lambda: _inbox(system, "police", case_id))
    accepted = system.post(
        "agency-police",
        f"/referrals/{police['id']}/acknowledge",
        officer(system, "police"),
        {"version": 1},
    )
    assert accepted.status_code == 200, accepted.text
    original = system.data_dir / "reporting.db"

    def settled() -> tuple[dict, dict[str, list]]:
        ends = _end_offsets(system.bootstrap, list(subscriptions()))
        rows = consumer_status(system.bootstrap, ["lienganh-reporting"])
        assert rows and all(row.lag == 0 for row in rows)
        tables = _tables(f"sqlite:///{original}")
        assert case_id in {row[0] for row in tables["case_facts"]}
        assert _end_offsets(system.bootstrap, list(subscriptions())) == ends
        return ends, tables

    _, before = eventually(settled, 300, 1.0)
    records = [
        (record.timestamp, topic, record)
        for topic in subscriptions()
        for record in read_topic(system.bootstrap, topic)
    ]
    records.sort(key=lambda item: (item[0], item[1], item[2].partition, item[2].offset))
    fresh = f"sqlite:///{tmp_path / 'replayed.db'}"
    engine = create_db_engine(fresh)
    create_tables(engine, [*REPORTING_TABLES, ProcessedEvent, OutboxEvent])
    sealer = dead_letter_sealer(system.data_dir, None)
    processors = {
        topic: EventProcessor(
            service="reporting",
            consumer=f"reporting.{topic}",
            engine=engine,
            handlers=handlers,
            dead_letter_sealer=sealer,
        )
        for topic, handlers in subscriptions().items()
    }
    outcomes: Counter[str] = Counter()
    replay_dead: set[tuple[str, int, int]] = set()
    for _, topic, record in records:
        kafka_record = KafkaRecord(
            topic=topic, key=record.key, value=record.value, headers=list(record.headers)
        )
        result = processors[topic].process(Delivery(kafka_record, record.partition, record.offset))
        outcomes[result.outcome.value] += 1
        if result.outcome is Outcome.DEAD_LETTERED:
            replay_dead.add((topic, record.partition, record.offset))
    engine.dispose()
    # Earlier tests plant poison records on these topics: the replay must dead-letter exactly
    # what the live reporting consumer did, no more.
    assert replay_dead == _dead_lettered_by_reporting(system.bootstrap), outcomes
    after = _tables(fresh)
    for table, rows in before.items():
        assert after[table] == rows, table


def _dead_lettered_by_reporting(bootstrap: str) -> set[tuple[str, int, int]]:
    """(topic, partition, offset) of every record the live reporting consumer dead-lettered."""
    from contracts import deadletter
    from contracts.topics import dlq_topic
    from reporting.handlers import subscriptions
    from tests.support.chaos import read_topic

    found = set()
    for topic in subscriptions():
        for record in read_topic(bootstrap, dlq_topic(topic)):
            headers = {name: value.decode(errors="replace") for name, value in record.headers}
            if headers.get(deadletter.CONSUMER) == f"reporting.{topic}":
                found.add(
                    (
                        headers[deadletter.ORIGINAL_TOPIC],
                        int(headers[deadletter.ORIGINAL_PARTITION]),
                        int(headers[deadletter.ORIGINAL_OFFSET]),
                    )
                )
    return found


def _inbox(system: RunningSystem, agency: str, case_id: str) -> dict:
    from tests.e2e.test_referrals_loop import inbox_item

    return inbox_item(system, agency, case_id)


def _end_offsets(bootstrap: str, topics: list[str]) -> dict:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        return consumer.end_offsets(partitions)
    finally:
        consumer.close()


def _tables(url: str) -> dict[str, list[tuple]]:
    """Every row of every reporting table, in a stable order."""
    from sqlalchemy import create_engine, select
    from sqlmodel import SQLModel

    from reporting.adapters.tables import REPORTING_TABLES

    names = [str(model.__tablename__) for model in REPORTING_TABLES]
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                name: sorted(
                    (
                        tuple(row)
                        for row in connection.execute(select(SQLModel.metadata.tables[name]))
                    ),
                    key=repr,
                )
                for name in names
            }
    finally:
        engine.dispose()
