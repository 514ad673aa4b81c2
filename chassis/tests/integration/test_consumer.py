"""Inbox deduplication and dead-lettering, against SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import structlog
from prometheus_client import REGISTRY
from sqlalchemy import event as sql_event
from sqlmodel import Field, Session, SQLModel, select

from chassis.consumer import Delivery, EventProcessor, Outcome, RejectedEvent
from chassis.db import create_db_engine, create_tables
from chassis.inbox import ProcessedEvent
from chassis.logs import configure_logging
from chassis.outbox import OutboxEvent
from chassis.unit_of_work import UnitOfWork
from contracts.cases.v1 import CaseReceived
from contracts.envelope import KafkaRecord, encode
from contracts.topics import CASES_EVENTS


class SeenCase(SQLModel, table=True):
    __tablename__ = "test_seen_cases"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str


def remember(uow: UnitOfWork, event: CaseReceived) -> None:
    uow.session.add(SeenCase(case_id=event.case_id))
    if event.reported_by == "poison":
        raise RejectedEvent("reported_by may not be poison")


def processor_of(
    database_url: str, dead_letter_keys: Any, consumer: str, handler: Any
) -> EventProcessor:
    """A processor applying `handler` to `CaseReceived`, over a fresh store."""
    engine = create_db_engine(database_url)
    create_tables(engine, [SeenCase, ProcessedEvent, OutboxEvent])
    return EventProcessor(
        service="tests",
        consumer=consumer,
        engine=engine,
        handlers={CaseReceived: handler},
        dead_letter_sealer=dead_letter_keys.sealer,
    )


@pytest.fixture
def processor(database_url: str, dead_letter_keys: Any) -> EventProcessor:
    return processor_of(database_url, dead_letter_keys, "tests.cases", remember)


def delivery(record: KafkaRecord, offset: int = 0) -> Delivery:
    return Delivery(record=record, partition=0, offset=offset)


def case_ids(count: int) -> list[str]:
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(count)]


def received_records(ids: list[str]) -> list[KafkaRecord]:
    """A `CaseReceived` record for each case id."""
    cases = [CaseReceived.example().model_copy(update={"case_id": c}) for c in ids]
    return [encode(case, topic=CASES_EVENTS, source="/t") for case in cases]


def seen(processor: EventProcessor) -> list[str]:
    with Session(processor._engine) as session:
        return [row.case_id for row in session.exec(select(SeenCase))]


def test_the_same_event_twice_has_one_effect(processor: EventProcessor):
    record = encode(CaseReceived.example(), topic=CASES_EVENTS, source="/tests")
    assert processor.process(delivery(record)).outcome is Outcome.PROCESSED
    assert processor.process(delivery(record, 1)).outcome is Outcome.DUPLICATE
    assert seen(processor) == [CaseReceived.example().case_id]


def test_malformed_record_is_dead_lettered_with_the_reason(
    processor: EventProcessor, dead_letter_keys: Any
):
    good = encode(CaseReceived.example(), topic=CASES_EVENTS, source="/tests")
    bad = KafkaRecord(topic=CASES_EVENTS, key=b"k", value=b"{oops", headers=good.headers)
    result = processor.process(Delivery(bad, partition=3, offset=42))
    assert result.outcome is Outcome.DEAD_LETTERED
    assert result.dead_letter is not None
    assert result.dead_letter.topic == "cases.events.v1.dlq"
    assert result.dead_letter.header("dlq-reason") == "malformed"
    assert result.dead_letter.header("dlq-original-offset") == "42"
    assert result.dead_letter.key == b"k"
    # Sealed to the operators' key: whatever a producer sent stays unreadable in the DLQ.
    assert result.dead_letter.header("dlq-sealed") == "pk1"
    assert result.dead_letter.value.startswith(b"pk1.") and b"oops" not in result.dead_letter.value
    assert dead_letter_keys.open(result.dead_letter) == b"{oops"


def test_a_dead_letter_hides_identity_sent_in_clear_and_its_length(
    processor: EventProcessor, dead_letter_keys: Any
):
    good = encode(CaseReceived.example(), topic=CASES_EVENTS, source="/tests")
    sizes = set()
    # Both names carry letters outside base64's alphabet, so no sealed value can spell one
    # by chance (a plain two-letter "An" does, once in a few runs).
    for name in ("Ánh", "Nguyễn Thị Canary Hoa"):
        leaked = json.dumps({"child": {"full_name": name}}).encode()
        bad = KafkaRecord(CASES_EVENTS, good.key, leaked, good.headers)
        result = processor.process(delivery(bad))
        assert result.dead_letter is not None
        assert name.encode() not in result.dead_letter.value
        assert not any(name.encode() in value for _, value in result.dead_letter.headers)
        assert dead_letter_keys.open(result.dead_letter) == leaked
        sizes.add(len(result.dead_letter.value))
    assert len(sizes) == 1  # padded: the length does not tell the names apart


def test_contract_violation_names_the_field(processor: EventProcessor):
    good = encode(CaseReceived.example(), topic=CASES_EVENTS, source="/tests")
    data = json.loads(good.value) | {"risk_level": "apocalyptic"}
    bad = KafkaRecord(CASES_EVENTS, good.key, json.dumps(data).encode(), good.headers)
    result = processor.process(delivery(bad))
    assert result.outcome is Outcome.DEAD_LETTERED
    assert result.dead_letter is not None
    assert result.dead_letter.header("dlq-reason") == "contract_violation"
    assert "risk_level" in (result.dead_letter.header("dlq-error") or "")


def test_a_rejected_event_leaves_no_half_written_effect(processor: EventProcessor):
    event = CaseReceived.example().model_copy(update={"reported_by": "poison"})
    result = processor.process(delivery(encode(event, topic=CASES_EVENTS, source="/tests")))
    assert result.outcome is Outcome.DEAD_LETTERED
    assert seen(processor) == []
    retry = processor.process(
        delivery(encode(CaseReceived.example(), topic=CASES_EVENTS, source="/t"))
    )
    assert retry.outcome is Outcome.PROCESSED


def test_an_event_type_the_consumer_does_not_handle_is_ignored(processor: EventProcessor):
    from contracts.referrals.v1 import ReferralStateChanged

    record = encode(ReferralStateChanged.example(), topic="referrals.events.v1", source="/t")
    assert processor.process(delivery(record)).outcome is Outcome.IGNORED


def test_one_poison_event_in_a_batch_spoils_only_itself(processor: EventProcessor):
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(5)]
    cases = [CaseReceived.example().model_copy(update={"case_id": case_id}) for case_id in ids]
    cases[2] = cases[2].model_copy(update={"reported_by": "poison"})
    batch = [delivery(encode(c, topic=CASES_EVENTS, source="/t"), i) for i, c in enumerate(cases)]
    outcomes = [result.outcome for result in processor.process_all(batch)]
    assert outcomes == [Outcome.PROCESSED] * 2 + [Outcome.DEAD_LETTERED] + [Outcome.PROCESSED] * 2
    assert sorted(seen(processor)) == [ids[0], ids[1], ids[3], ids[4]]


def consumed(event_type: str, outcome: Outcome) -> float:
    """`lienganh_events_consumed_total` for the tests' consumer of the cases topic."""
    labels = {"service": "tests", "topic": CASES_EVENTS, "type": event_type}
    value = REGISTRY.get_sample_value(
        "lienganh_events_consumed_total", {**labels, "outcome": outcome.value}
    )
    return value or 0.0


def test_a_batch_counts_each_event_under_its_type_and_outcome(processor: EventProcessor):
    from contracts.cases.v1 import CaseDeadlineMissed

    cases = [CaseReceived.example().model_copy(update={"case_id": c}) for c in case_ids(4)]
    cases[1] = cases[1].model_copy(update={"reported_by": "poison"})
    records = [encode(case, topic=CASES_EVENTS, source="/t") for case in cases]
    records.append(encode(CaseDeadlineMissed.example(), topic=CASES_EVENTS, source="/t"))
    records.append(records[0])  # again in the same batch: a duplicate
    records.append(replace(records[2], headers=[("ce_type", b"made.up.v1")]))
    kinds = [
        (CaseReceived.ce_type, Outcome.PROCESSED),
        (CaseReceived.ce_type, Outcome.DUPLICATE),
        (CaseReceived.ce_type, Outcome.DEAD_LETTERED),
        (CaseDeadlineMissed.ce_type, Outcome.IGNORED),
        ("unknown", Outcome.DEAD_LETTERED),
    ]
    before = {kind: consumed(*kind) for kind in kinds}
    processor.process_all([delivery(record, i) for i, record in enumerate(records)])
    after = {kind: consumed(*kind) - before[kind] for kind in kinds}
    assert after == dict(zip(kinds, [3, 1, 1, 1, 1], strict=True))


@pytest.fixture
def logging_on() -> Iterator[None]:
    """The services' logging (process-wide), put back afterwards for the other tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("tests", "INFO")
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def applied_ids(stderr: str) -> list[str]:
    """The event ids of the "event applied" lines written."""
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line["event_id"] for line in lines if line["event"].startswith("event applied")]


def test_event_applied_lines_are_written_once_their_batch_has_committed(
    processor: EventProcessor, capsys: pytest.CaptureFixture[str], logging_on: None
):
    records = received_records(case_ids(3))
    at_commit: list[list[str]] = []

    def before_commit(_session: Session) -> None:
        at_commit.append(applied_ids(capsys.readouterr().err))

    sql_event.listen(Session, "before_commit", before_commit)
    try:
        processor.process_all([delivery(record, i) for i, record in enumerate(records)])
    finally:
        sql_event.remove(Session, "before_commit", before_commit)
    assert at_commit and not any(at_commit)  # none while the batch could still roll back
    assert applied_ids(capsys.readouterr().err) == [r.header("ce_id") for r in records]


def test_a_batch_redone_event_by_event_logs_only_the_events_it_applied(
    processor: EventProcessor, capsys: pytest.CaptureFixture[str], logging_on: None
):
    cases = [CaseReceived.example().model_copy(update={"case_id": c}) for c in case_ids(4)]
    cases[2] = cases[2].model_copy(update={"reported_by": "poison"})
    records = [encode(case, topic=CASES_EVENTS, source="/t") for case in cases]
    processor.process_all([delivery(record, i) for i, record in enumerate(records)])
    applied = [records[i].header("ce_id") for i in (0, 1, 3)]
    assert applied_ids(capsys.readouterr().err) == applied


def test_a_duplicate_within_one_batch_has_one_effect(processor: EventProcessor):
    record = encode(CaseReceived.example(), topic=CASES_EVENTS, source="/tests")
    outcomes = [r.outcome for r in processor.process_all([delivery(record), delivery(record, 1)])]
    assert outcomes == [Outcome.PROCESSED, Outcome.DUPLICATE]
    assert seen(processor) == [CaseReceived.example().case_id]


class Preloading:
    """A handler with a `preload`, as `chassis.subscriptions.StoreHandler` has."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.handled_after: list[int] = []

    def preload(self, session: Session, events: list[Any]) -> None:
        assert session.in_transaction()
        self.batches.append([event.case_id for event in events])

    def __call__(self, uow: UnitOfWork, event: CaseReceived) -> None:
        self.handled_after.append(len(self.batches))
        remember(uow, event)


def test_a_batch_is_preloaded_once_with_the_events_it_will_apply(
    database_url: str, dead_letter_keys: Any
):
    handler = Preloading()
    processor = processor_of(database_url, dead_letter_keys, "tests.preload", handler)
    ids = case_ids(3)
    records = received_records(ids)
    processor.process(delivery(records[0]))
    handler.batches.clear()
    handler.handled_after.clear()
    batch = [delivery(record, n) for n, record in enumerate([*records, records[1]])]
    outcomes = [result.outcome for result in processor.process_all(batch)]
    assert outcomes == [Outcome.DUPLICATE, Outcome.PROCESSED, Outcome.PROCESSED, Outcome.DUPLICATE]
    assert handler.batches == [ids[1:]]  # once, before the handlers, without duplicates
    assert handler.handled_after == [1, 1]


class NamedCase(SQLModel, table=True):
    """A row with a key of its own, inserted as plain values (`UnitOfWork.insert`)."""

    __tablename__ = "test_named_cases"

    case_id: str = Field(primary_key=True)
    reported_by: str


TAKEN = "00000000-0000-4000-8000-00000000cafe"


def insert_named(uow: UnitOfWork, event: CaseReceived) -> None:
    uow.insert(NamedCase.model_construct(case_id=event.case_id, reported_by=event.reported_by))


def test_rows_handlers_insert_go_in_at_the_end_of_the_batch_in_one_statement(
    database_url: str, dead_letter_keys: Any
):
    processor = processor_of(database_url, dead_letter_keys, "tests.inserting", insert_named)
    create_tables(processor._engine, [NamedCase])
    ids = case_ids(3)
    batch = [delivery(record, n) for n, record in enumerate(received_records(ids))]
    inserts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "INSERT INTO test_named_cases" in statement:
            inserts.append(statement)

    sql_event.listen(processor._engine, "before_cursor_execute", seen)
    outcomes = [result.outcome for result in processor.process_all(batch)]
    assert outcomes == [Outcome.PROCESSED] * 3
    assert len(inserts) == 1
    with Session(processor._engine) as session:
        assert sorted(row.case_id for row in session.exec(select(NamedCase))) == ids


def test_a_row_refused_by_its_key_spoils_only_its_own_event(
    database_url: str, dead_letter_keys: Any
):
    """The batch's rows go in at its end: one refused there (a key already stored) makes
    the batch run again event by event, and only that event is dead-lettered."""
    processor = processor_of(database_url, dead_letter_keys, "tests.refusing", insert_named)
    create_tables(processor._engine, [NamedCase])
    with Session(processor._engine) as session:
        session.add(NamedCase(case_id=TAKEN, reported_by="earlier"))
        session.commit()
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(3)]
    ids[1] = TAKEN
    cases = [CaseReceived.example().model_copy(update={"case_id": c}) for c in ids]
    batch = [delivery(encode(c, topic=CASES_EVENTS, source="/t"), n) for n, c in enumerate(cases)]
    outcomes = [result.outcome for result in processor.process_all(batch)]
    assert outcomes == [Outcome.PROCESSED, Outcome.DEAD_LETTERED, Outcome.PROCESSED]
    with Session(processor._engine) as session:
        stored = {row.case_id: row.reported_by for row in session.exec(select(NamedCase))}
    assert stored == {ids[0]: cases[0].reported_by, TAKEN: "earlier", ids[2]: cases[2].reported_by}


def test_outbox_gauges_show_backlog_and_age(database_url: str):
    from chassis.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
    from chassis.outbox import OutboxRelay
    from chassis.publisher import KafkaPublisher
    from chassis.unit_of_work import unit_of_work

    engine = create_db_engine(database_url)
    create_tables(engine, [OutboxEvent])
    for _ in range(3):
        with unit_of_work(engine, source="/tests") as uow:
            uow.publish(CaseReceived.example(), topic=CASES_EVENTS)
    relay = OutboxRelay(engine, KafkaPublisher("127.0.0.1:1", "unused"), service="gauge-test")
    rows, _ = relay._pending(bulk_allowance=0)
    assert len(rows) == 3
    assert OUTBOX_BACKLOG.labels("gauge-test")._value.get() == 3
    assert OUTBOX_OLDEST_AGE.labels("gauge-test")._value.get() > 0
    relay._mark_published([row.id for row in rows if row.id])
    assert relay._pending(bulk_allowance=0) == ([], False)
    assert OUTBOX_BACKLOG.labels("gauge-test")._value.get() == 0
    assert OUTBOX_OLDEST_AGE.labels("gauge-test")._value.get() == 0


def test_effects_count_once_per_committed_event_even_when_the_batch_is_redone(
    database_url: str, dead_letter_keys: Any
):
    """A poison event makes the batch run again event by event: what the good events
    counted in the failed attempt must not be counted twice, nor the poison's at all."""
    counted: list[str] = []

    def count(uow: UnitOfWork, event: CaseReceived) -> None:
        uow.after_commit(lambda: counted.append(event.case_id))
        remember(uow, event)

    processor = processor_of(database_url, dead_letter_keys, "tests.counting", count)
    good = CaseReceived.example()
    poison = good.model_copy(update={"case_id": "poison-case", "reported_by": "poison"})
    batch = [
        delivery(encode(event, topic=CASES_EVENTS, source="/tests"), offset)
        for offset, event in enumerate((good, poison))
    ]
    outcomes = [result.outcome for result in processor.process_all(batch)]
    assert outcomes == [Outcome.PROCESSED, Outcome.DEAD_LETTERED]
    assert counted == [good.case_id]


def test_a_batch_writes_each_events_outbox_rows_in_order_with_its_claim(
    database_url: str, dead_letter_keys: Any
):
    """The fast path keeps inbox and outbox rows as values and writes them at the end of
    the batch: none may be lost, and the outbox keeps the order they were staged in."""

    def relay(uow: UnitOfWork, event: CaseReceived) -> None:
        remember(uow, event)
        for suffix in ("a", "b"):
            copy = event.model_copy(update={"reported_by": f"{event.case_id}-{suffix}"})
            uow.publish(copy, topic=CASES_EVENTS)

    processor = processor_of(database_url, dead_letter_keys, "tests.relaying", relay)
    ids = case_ids(4)
    records = received_records(ids)
    outcomes = [
        r.outcome for r in processor.process_all([delivery(r, i) for i, r in enumerate(records)])
    ]
    assert outcomes == [Outcome.PROCESSED] * 4
    with Session(processor._engine) as session:
        staged = session.exec(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        claims = session.exec(select(ProcessedEvent.event_id)).all()
    assert [json.loads(row.value)["reported_by"] for row in staged] == [
        f"{c}-{suffix}" for c in ids for suffix in ("a", "b")
    ]
    causes = [
        base64.b64decode(dict(json.loads(row.headers))["ce_causationid"]).decode() for row in staged
    ]
    assert causes == [r.header("ce_id") for r in records for _ in range(2)]
    assert sorted(claims) == sorted(r.header("ce_id") for r in records)


def test_an_event_another_replica_claimed_meanwhile_is_a_duplicate(
    processor: EventProcessor, monkeypatch
):
    """Two replicas took the same event: the batch's claims fail on the inbox's key, and
    the batch is redone event by event, which finds the claim and skips the effect."""
    record = encode(CaseReceived.example(), topic=CASES_EVENTS, source="/tests")
    assert processor.process(delivery(record)).outcome is Outcome.PROCESSED
    monkeypatch.setattr("chassis.consumer.already_claimed", lambda *_: set())  # the race
    assert processor.process(delivery(record, 1)).outcome is Outcome.DUPLICATE
    assert seen(processor) == [CaseReceived.example().case_id]
