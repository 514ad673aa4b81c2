"""The same scenarios on `MemoryStore` and on `SqlStore` over a real SQLite database, so the
fake the unit tests stand on cannot drift from the store the worker uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from chassis.db import create_db_engine, create_tables
from chassis.outbox import OutboxEvent
from chassis.unit_of_work import unit_of_work
from contracts.envelope import Envelope, decode, encode
from contracts.notifications.v1 import NotificationDelivered
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import NOTIFICATIONS_EVENTS, REFERRALS_EVENTS
from contracts.vocabulary import ReferralState
from notifications.adapters.directory_store import default_rules_path, load_rules, seed_directory
from notifications.adapters.memory_store import DuplicateNotification, MemoryStore
from notifications.adapters.store import Cause, NotificationStore, SqlStore
from notifications.adapters.tables import DELIVERED, PENDING, Notification
from notifications.bootstrap import TABLES
from notifications.domain.recipients import ChannelAddress, Directory, Officer
from notifications.handlers import NotifyContext, on_referral_state_changed

NOW = datetime(2026, 11, 2, 8, 16, tzinfo=UTC)
SMS = ChannelAddress(kind="sms", address="+84912000111")
OFFICERS = (
    Officer(
        id="police-inspector-hn",
        name="A",
        agency="police",
        role="inspector",
        provinces=("01",),
        channels=(ChannelAddress(kind="in_app"), SMS),
    ),
    Officer(
        id="dolisa-coordinator-hn", name="B", agency="dolisa", role="coordinator", provinces=("01",)
    ),
)
NEW_REFERRAL = ReferralStateChanged.example().model_copy(
    update={"from_state": None, "to_state": ReferralState.REQUESTED, "version": 1}
)
CAUSE = decode(
    encode(NEW_REFERRAL, topic=REFERRALS_EVENTS, source="/referrals", correlation_id="corr-1")
)
Published = tuple[str, str, str | None]  # topic, event type, correlation id


class Backend(Protocol):
    def work(self, cause: Envelope | None = None) -> AbstractContextManager[NotificationStore]:
        """One unit of work on the store, committed when the block ends without an error."""
        ...

    def published(self) -> list[Published]: ...

    def rows(self) -> list[Notification]:
        """The whole delivery log (read past the store: handlers never list it)."""
        ...


@dataclass
class Memory:
    store: MemoryStore = field(default_factory=lambda: MemoryStore(directory=list(OFFICERS)))

    @contextmanager
    def work(self, cause: Envelope | None = None) -> Iterator[NotificationStore]:
        if cause is not None:
            self.store.cause_of_work = Cause(cause.id, cause.type, cause.correlation_id)
            self.store.correlation_id = cause.correlation_id
        yield self.store
        self.store.commit()

    def published(self) -> list[Published]:
        return [
            (topic, event.ce_type, correlation)
            for (topic, event), correlation in zip(
                self.store.published, self.store.correlations, strict=True
            )
        ]

    def rows(self) -> list[Notification]:
        return list(self.store.delivery_log.values())


@dataclass
class Sql:
    path: Path

    def __post_init__(self) -> None:
        self.engine = create_db_engine(f"sqlite:///{self.path / 'store.db'}")
        create_tables(self.engine, [*TABLES, OutboxEvent])
        seed_directory(self.engine, Directory(officers=OFFICERS))

    @contextmanager
    def work(self, cause: Envelope | None = None) -> Iterator[NotificationStore]:
        correlation_id = cause.correlation_id if cause else None
        with unit_of_work(self.engine, source="/tests", correlation_id=correlation_id) as uow:
            uow.cause = cause
            yield SqlStore(uow)

    def published(self) -> list[Published]:
        with Session(self.engine) as session:
            rows = session.exec(select(OutboxEvent).order_by(col(OutboxEvent.id)))
            return [
                (row.topic, row.event_type, decode(row.to_record()).correlation_id) for row in rows
            ]

    def rows(self) -> list[Notification]:
        with Session(self.engine) as session:
            return list(session.exec(select(Notification)))


@pytest.fixture(params=["memory", "sql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Memory() if request.param == "memory" else Sql(tmp_path)


def notification(id: str = "n-1", recipient_id: str = "police-inspector-hn") -> Notification:
    return Notification(
        id=id,
        source_event_id="evt-1",
        source_event_type=NEW_REFERRAL.ce_type,
        recipient_id=recipient_id,
        channel="sms",
        address="+84912000111",
        title="t",
        body="b",
        case_id="case-1",
        province_code="01",
        status=PENDING,
        next_attempt_at=NOW,
        created_at=NOW,
    )


def test_the_directory_reads_back_every_officer_ordered_by_id(backend: Backend):
    with backend.work() as store:
        assert store.officers() == sorted(OFFICERS, key=lambda officer: officer.id)


def test_a_notification_reads_back_by_id_with_its_later_changes(backend: Backend):
    with backend.work() as store:
        store.add_notification(notification())
        assert store.notification("n-2") is None
    with backend.work() as store:
        row = store.notification("n-1")
        assert row is not None and row.status == PENDING
        row.status, row.attempts, row.delivered_at = DELIVERED, 1, NOW
    with backend.work() as store:
        row = store.notification("n-1")
        assert row is not None
        assert (row.status, row.attempts, row.delivered_at) == (DELIVERED, 1, NOW)


def test_a_second_row_for_one_event_recipient_and_channel_is_refused(backend: Backend):
    with backend.work() as store:
        store.add_notification(notification())
    with pytest.raises((IntegrityError, DuplicateNotification)), backend.work() as store:
        store.add_notification(notification(id="n-2"))
    with backend.work() as store:
        assert store.notification("n-1") is not None
        assert store.notification("n-2") is None


def test_events_carry_the_causes_correlation_until_another_is_carried(backend: Backend):
    event = NotificationDelivered.example()
    with backend.work(CAUSE) as store:
        assert store.cause() == Cause(CAUSE.id, NEW_REFERRAL.ce_type, "corr-1")
        store.publish(event, topic=NOTIFICATIONS_EVENTS)
        store.carry_correlation("corr-2")
        assert store.cause().correlation_id == "corr-2"
        store.publish(event, topic=NOTIFICATIONS_EVENTS)
    assert backend.published() == [
        (NOTIFICATIONS_EVENTS, event.ce_type, "corr-1"),
        (NOTIFICATIONS_EVENTS, event.ce_type, "corr-2"),
    ]


def test_effects_wait_for_the_commit(backend: Backend):
    ran: list[str] = []
    with backend.work() as store:
        store.after_commit(lambda: ran.append("counted"))
        assert ran == []
    assert ran == ["counted"]


def test_a_new_referral_is_recorded_alike(backend: Backend):
    context = NotifyContext(load_rules(default_rules_path()), "http://inbox.test", lambda: NOW)
    with backend.work(CAUSE) as store:
        on_referral_state_changed(store, NEW_REFERRAL, context=context)
    recorded = sorted(
        (row.recipient_id, row.channel, row.status, row.source_event_id, row.correlation_id)
        for row in backend.rows()
    )
    assert recorded == [
        ("police-inspector-hn", "in_app", DELIVERED, CAUSE.id, "corr-1"),
        ("police-inspector-hn", "sms", PENDING, CAUSE.id, "corr-1"),
    ]
    assert backend.published() == [(NOTIFICATIONS_EVENTS, NotificationDelivered.ce_type, "corr-1")]


def test_the_sql_store_reads_the_directory_once_per_unit_of_work(tmp_path: Path):
    """A batch's events share one transaction: the directory is read for the first only,
    and a change committed meanwhile is seen by the next unit of work."""
    sql = Sql(tmp_path)
    reads: list[str] = []

    def count_directory_reads(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM officers" in statement:
            reads.append(statement)

    event.listen(sql.engine, "before_cursor_execute", count_directory_reads)
    with sql.work() as store:
        first, second = store.officers(), store.officers()
    assert first == second and len(reads) == 1

    with sql.engine.begin() as connection:
        connection.execute(text("DELETE FROM officers WHERE id = 'dolisa-coordinator-hn'"))
    with sql.work() as store:
        assert [officer.id for officer in store.officers()] == ["police-inspector-hn"]
    assert len(reads) == 2


def test_a_batch_inserts_its_notifications_at_its_end_as_the_fake_keeps_them(tmp_path: Path):
    """The worker's rows are plain values (`SqlStore.new_notification`), inserted with the
    batch's others in one statement: every column as the in-memory store keeps it."""
    context = NotifyContext(load_rules(default_rules_path()), "http://inbox.test", lambda: NOW)
    second = NEW_REFERRAL.model_copy(update={"referral_id": "6f1d3e2f-9c8b-4d4e-8f3a-2b1c0d9e8f7a"})
    causes = [
        (CAUSE, NEW_REFERRAL),
        (decode(encode(second, topic=REFERRALS_EVENTS, source="/referrals")), second),
    ]
    sql = Sql(tmp_path)
    inserts: list[str] = []

    def seen(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().startswith("INSERT INTO notifications"):
            inserts.append(statement)

    event.listen(sql.engine, "before_cursor_execute", seen)
    with unit_of_work(sql.engine, source="/tests", batch_outbox=True) as uow:
        for cause, change in causes:
            uow.cause = cause
            on_referral_state_changed(SqlStore(uow), change, context=context)
        assert inserts == []
    assert len(inserts) == 1

    memory = Memory()
    for cause, change in causes:
        with memory.work(cause) as store:
            on_referral_state_changed(store, change, context=context)

    def columns(rows: list[Notification]) -> list[dict[str, object]]:
        kept = [row.model_dump(exclude={"id", "correlation_id"}) for row in rows]
        return sorted(kept, key=lambda row: (str(row["source_event_id"]), str(row["channel"])))

    assert len(sql.rows()) == 4
    assert columns(sql.rows()) == columns(memory.rows())
