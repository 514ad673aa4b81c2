"""Exactly once per (event, recipient, channel), retries, failure, and channel independence,
against SQLite and PostgreSQL with real SMTP and HTTP servers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from chassis.consumer import Delivery, EventProcessor, Outcome
from chassis.db import create_db_engine, create_tables
from chassis.inbox import ProcessedEvent
from chassis.outbox import OutboxEvent
from contracts.cases.v1 import CaseDeadlineMissed
from contracts.envelope import KafkaRecord, decode, encode
from contracts.referrals.v1 import ReferralEscalated, ReferralStateChanged
from contracts.topics import CASES_EVENTS, REFERRALS_EVENTS
from contracts.vocabulary import ReferralState, RiskLevel
from notifications.adapters.channels import SmsGatewaySender, SmtpSender, WebhookSender
from notifications.adapters.directory_store import (
    default_rules_path,
    load_rules,
    seed_directory,
    to_row,
)
from notifications.adapters.tables import Notification, OfficerRow, utc_now
from notifications.bootstrap import TABLES, delivery_jobs
from notifications.config import NotificationsSettings
from notifications.delivery import DeliveryLoop, RetryPolicy
from notifications.domain.recipients import ChannelAddress, Directory, Officer
from notifications.handlers import NotifyContext, subscriptions
from tests.support.keys import throwaway_dead_letter_keys
from tests.support.system import eventually

CHILD_NAME = "Phạm Thị Bé Na"


@dataclass
class Harness:
    engine: Engine
    processor: EventProcessor
    loops: dict[str, DeliveryLoop]

    def deliver(self, channel: str) -> None:
        """One tick of a channel's loop, then wait for the sends it started."""
        loop = self.loops[channel]
        loop.run(utc_now())
        loop.wait_idle()

    def rows(self, channel: str | None = None) -> list[Notification]:
        with Session(self.engine) as session:
            query = select(Notification)
            if channel:
                query = query.where(Notification.channel == channel)
            return list(session.exec(query))

    def staged(self, event_type: str) -> list[dict]:
        with Session(self.engine) as session:
            rows = session.exec(select(OutboxEvent).where(OutboxEvent.event_type == event_type))
            return [json.loads(row.value) for row in rows]


def inspector(http_url: str) -> Officer:
    return Officer(
        id="police-inspector-hn-09",
        name="Nguyễn Thị Thanh Hương",
        agency="police",
        role="inspector",
        provinces=("01",),
        language="vi",
        channels=(
            ChannelAddress(kind="in_app"),
            ChannelAddress(kind="email", address="police-inspector-hn-09@example.vn"),
            ChannelAddress(kind="sms", address="+84912000111"),
            ChannelAddress(kind="webhook", address=f"{http_url}/hook", secret_ref="police"),
        ),
    )


@pytest.fixture
def harness(database_url: str, mail_sink, http_sink) -> Iterator[Harness]:
    engine = create_db_engine(database_url)
    create_tables(engine, [*TABLES, OutboxEvent, ProcessedEvent])
    seed_directory(engine, Directory(officers=(inspector(http_sink.url),)))
    context = NotifyContext(
        rules=load_rules(default_rules_path()), inbox_url="http://inbox.test/inbox", now=utc_now
    )
    processor = EventProcessor(
        service="notifications",
        consumer="notifications.referrals.events.v1",
        engine=engine,
        handlers=subscriptions(context)[REFERRALS_EVENTS],
        dead_letter_sealer=throwaway_dead_letter_keys().sealer,
    )
    senders = {
        "email": SmtpSender("127.0.0.1", mail_sink.port, "no-reply@example.vn", 10),
        "sms": SmsGatewaySender(f"{http_sink.url}/sms", SecretStr("t"), "LienNganh", 10),
        "webhook": WebhookSender({"police": SecretStr("s3cret")}, 10),
    }
    loops = {
        channel: DeliveryLoop(
            engine=engine,
            channel=channel,
            sender=sender,
            retry=RetryPolicy(max_attempts=3, base_s=0, max_s=0),
            source="/tests",
            concurrency=4,
            lease_s=60,
        )
        for channel, sender in senders.items()
    }
    yield Harness(engine, processor, loops)
    for loop in loops.values():
        loop.close()


def new_referral_record(correlation_id: str = "corr-1") -> KafkaRecord:
    event = ReferralStateChanged.example().model_copy(
        update={"from_state": None, "to_state": ReferralState.REQUESTED, "version": 1}
    )
    return encode(event, topic=REFERRALS_EVENTS, source="/referrals", correlation_id=correlation_id)


def consume(harness: Harness, record: KafkaRecord, offset: int = 0) -> Outcome:
    return harness.processor.process(Delivery(record=record, partition=0, offset=offset)).outcome


def test_a_duplicate_event_delivers_once_per_recipient_and_channel(harness, mail_sink, http_sink):
    record = new_referral_record()
    assert consume(harness, record) is Outcome.PROCESSED
    assert consume(harness, record, offset=1) is Outcome.DUPLICATE
    for _ in range(2):  # a second tick finds nothing left to send
        for channel in ("email", "sms", "webhook"):
            harness.deliver(channel)
    assert sorted(row.channel for row in harness.rows()) == ["email", "in_app", "sms", "webhook"]
    assert {row.status for row in harness.rows()} == {"delivered"}
    assert len(mail_sink.messages) == 1
    assert [r.path for r in http_sink.requests] == ["/sms", "/hook"] or [
        r.path for r in http_sink.requests
    ] == ["/hook", "/sms"]
    delivered = harness.staged("vn.lienganh.notification.delivered.v1")
    assert sorted(event["channel"] for event in delivered) == ["email", "in_app", "sms", "webhook"]


def test_a_channel_failing_twice_then_succeeding_delivers_once(harness, http_sink):
    http_sink.behaviour.failures = 2
    consume(harness, new_referral_record())
    for _ in range(3):
        harness.deliver("sms")
    [sms] = harness.rows("sms")
    assert (sms.status, sms.attempts) == ("delivered", 3)
    assert [r.path for r in http_sink.requests] == ["/sms"]
    assert http_sink.behaviour.attempts == 3
    staged = [e for e in harness.staged("vn.lienganh.notification.delivered.v1")]
    assert [e["channel"] for e in staged if e["channel"] == "sms"] == ["sms"]


def test_a_channel_that_always_fails_is_failed_after_max_attempts_and_others_deliver(
    harness, mail_sink, http_sink
):
    mail_sink.behaviour.always_fail = True
    consume(harness, new_referral_record())
    for _ in range(5):  # more ticks than attempts: a failed row is never tried again
        harness.deliver("email")
    harness.deliver("sms")
    [email] = harness.rows("email")
    assert (email.status, email.attempts) == ("failed", 3)
    assert mail_sink.behaviour.attempts == 3
    [failed] = harness.staged("vn.lienganh.notification.failed.v1")
    assert (failed["channel"], failed["attempts"]) == ("email", 3)
    assert "SMTP" in failed["error"]
    assert {row.channel: row.status for row in harness.rows() if row.channel != "email"} == {
        "in_app": "delivered",
        "sms": "delivered",
        "webhook": "pending",  # its loop has not ticked: nothing waits on e-mail
    }


def test_a_slow_channel_delays_neither_in_app_nor_another_channel(harness, mail_sink, http_sink):
    mail_sink.behaviour.hold = True
    consume(harness, new_referral_record())
    [in_app] = harness.rows("in_app")
    assert in_app.status == "delivered"  # stored with the event, before any send

    harness.loops["email"].run(utc_now())  # starts the send and returns
    assert mail_sink.behaviour.held.wait(timeout=30), "the e-mail send never started"
    harness.deliver("sms")
    [sms] = harness.rows("sms")
    [email] = harness.rows("email")
    assert (sms.status, email.status) == ("delivered", "pending")

    mail_sink.behaviour.release.set()
    harness.loops["email"].wait_idle()
    [email] = harness.rows("email")
    assert email.status == "delivered"


def test_no_child_identity_in_any_message(harness, mail_sink, http_sink):
    consume(harness, new_referral_record())
    for channel in ("email", "sms", "webhook"):
        harness.deliver(channel)
    bodies = [m.as_string() for m in mail_sink.messages] + [
        r.body.decode() for r in http_sink.requests
    ]
    assert len(bodies) == 3
    for body in bodies:
        assert CHILD_NAME not in body
        assert "date_of_birth" not in body


def test_the_directory_is_read_from_the_database(harness):
    with Session(harness.engine) as session:
        assert [row.id for row in session.exec(select(OfficerRow))] == ["police-inspector-hn-09"]


def add_officer(harness: Harness, officer: Officer) -> None:
    with Session(harness.engine) as session:
        session.add(to_row(officer, utc_now()))
        session.commit()


def webhook_officer(officer_id: str, url: str) -> Officer:
    return Officer(
        id=officer_id,
        name="Châu Văn Lộc",
        agency="police",
        role="inspector",
        provinces=("01",),
        channels=(ChannelAddress(kind="webhook", address=url, secret_ref="police"),),
    )


def test_a_slow_recipient_does_not_delay_another_on_the_same_channel(harness, http_sink):
    add_officer(harness, webhook_officer("police-inspector-hn-10", f"{http_sink.url}/slow"))
    consume(harness, new_referral_record())
    harness.loops["webhook"].run(utc_now())  # both sends start; neither blocks the tick
    assert http_sink.slow.held.wait(timeout=30), "the slow webhook was never called"

    def fast_delivered() -> None:
        statuses = {row.recipient_id: row.status for row in harness.rows("webhook")}
        assert statuses == {
            "police-inspector-hn-09": "delivered",
            "police-inspector-hn-10": "pending",
        }

    eventually(fast_delivered, timeout_s=30)
    http_sink.slow.release.set()
    harness.loops["webhook"].wait_idle()
    assert {row.status for row in harness.rows("webhook")} == {"delivered"}


def email_officer(number: int) -> Officer:
    return Officer(
        id=f"police-inspector-hn-{number}",
        name="Châu Văn Lộc",
        agency="police",
        role="inspector",
        provinces=("01",),
        channels=(ChannelAddress(kind="email", address=f"inspector-{number}@example.vn"),),
    )


def test_one_tick_starts_more_sends_than_the_channel_sends_at_once(harness, mail_sink):
    """A tick used to claim one row a free send: a channel then sent at most `concurrency`
    rows a tick, 16 a second, however fast its server answered."""
    for number in range(20, 39):
        add_officer(harness, email_officer(number))
    consume(harness, new_referral_record())  # 20 e-mails: these and the fixture's inspector
    loop = harness.loops["email"]
    assert loop.claim_limit == 12  # 4 at once, a 60 s lease, 10 s timeouts: 12 in 30 s

    harness.deliver("email")
    assert len(mail_sink.messages) == 12
    harness.deliver("email")
    assert len(mail_sink.messages) == 20

    def all_delivered() -> None:
        assert {row.status for row in harness.rows("email")} == {"delivered"}

    eventually(all_delivered, timeout_s=30)


def test_an_urgent_cases_e_mails_are_claimed_before_those_queued_before_them(harness, mail_sink):
    """Claimed oldest first, a surge's e-mails kept an urgent case's waiting behind them."""
    for number in range(20, 39):
        add_officer(harness, email_officer(number))
    high = ReferralStateChanged.example().model_copy(
        update={
            "from_state": None,
            "to_state": ReferralState.REQUESTED,
            "version": 1,
            "risk_level": RiskLevel.HIGH,
            "referral_id": "7d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a",
            "case_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
        }
    )
    consume(harness, encode(high, topic=REFERRALS_EVENTS, source="/referrals"))
    consume(harness, new_referral_record(), offset=1)  # urgent, 20 e-mails queued after
    assert len(harness.rows("email")) == 40

    harness.deliver("email")  # a tick claims 12
    sent = [row for row in harness.rows("email") if row.status == "delivered"]
    assert len(sent) == 12 and {row.risk_level for row in sent} == {"urgent"}
    harness.deliver("email")  # the other 8 urgent ones, then the oldest high ones
    sent = [row for row in harness.rows("email") if row.status == "delivered"]
    assert [row.risk_level for row in sent].count("urgent") == 20 and len(sent) == 24


def test_a_send_that_waited_past_its_lease_is_left_for_the_next_claim(harness, mail_sink):
    consume(harness, new_referral_record())
    loop = harness.loops["email"]
    claimed_at = utc_now()
    loop.clock = lambda: claimed_at + loop.lease  # it reaches the pool as the lease ends
    loop.run(claimed_at)
    loop.wait_idle()
    assert mail_sink.messages == []
    assert loop.unrecorded() == 0
    [row] = harness.rows("email")
    assert row.status == "pending" and row.attempts == 0 and row.lease_until is not None


def test_two_replicas_never_send_the_same_delivery(harness, http_sink):
    consume(harness, new_referral_record())
    other_replica = DeliveryLoop(
        engine=harness.engine,
        channel="sms",
        sender=SmsGatewaySender(f"{http_sink.url}/sms", None, "LienNganh", 10),
        retry=RetryPolicy(max_attempts=3, base_s=0, max_s=0),
        source="/tests",
        concurrency=4,
        lease_s=60,
    )
    try:
        now = utc_now()
        harness.loops["sms"].run(now)
        other_replica.run(now)  # the lease is taken: nothing left to claim
        harness.loops["sms"].wait_idle()
        other_replica.wait_idle()
    finally:
        other_replica.close()
    assert [r.path for r in http_sink.requests] == ["/sms"]


def test_retries_and_failures_are_counted_by_channel_and_outcome(harness, http_sink):
    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value(
            "lienganh_notification_deliveries_total", {"channel": "sms", "outcome": outcome}
        )
        return value or 0.0

    before = {outcome: count(outcome) for outcome in ("retried", "failed", "delivered")}
    http_sink.behaviour.always_fail = True
    consume(harness, new_referral_record())
    for _ in range(3):
        harness.deliver("sms")
    after = {outcome: count(outcome) for outcome in ("retried", "failed", "delivered")}
    assert {k: after[k] - before[k] for k in after} == {"retried": 2, "failed": 1, "delivered": 0}


def test_an_escalation_reaches_the_supervisor_and_a_missed_case_deadline_the_owner(harness):
    supervisor = Officer(
        id="police-supervisor-hn-07",
        name="Tạ Quang Vinh",
        agency="police",
        role="supervisor",
        provinces=("01",),
    )
    owner_supervisor = supervisor.model_copy(
        update={"id": "dolisa-supervisor-hn-07", "agency": "dolisa"}
    )
    add_officer(harness, supervisor)
    add_officer(harness, owner_supervisor)
    cases = EventProcessor(
        service="notifications",
        consumer="notifications.cases.events.v1",
        engine=harness.engine,
        handlers=subscriptions(
            NotifyContext(load_rules(default_rules_path()), "http://inbox.test/inbox", utc_now)
        )[CASES_EVENTS],
        dead_letter_sealer=throwaway_dead_letter_keys().sealer,
    )
    escalation = encode(ReferralEscalated.example(), topic=REFERRALS_EVENTS, source="/referrals")
    missed = encode(CaseDeadlineMissed.example(), topic=CASES_EVENTS, source="/cases")
    assert consume(harness, escalation) is Outcome.PROCESSED
    assert cases.process(Delivery(record=missed, partition=0, offset=0)).outcome is (
        Outcome.PROCESSED
    )
    told = {(row.recipient_id, row.source_event_type) for row in harness.rows("in_app")}
    assert told == {
        ("police-supervisor-hn-07", "vn.lienganh.referral.escalated.v1"),
        ("dolisa-supervisor-hn-07", "vn.lienganh.case.deadline_missed.v1"),
    }


def test_outcomes_that_finish_during_a_commit_are_recorded_together_each_with_its_correlation(
    harness, mail_sink
):
    loop = harness.loops["email"]
    for n in range(3):
        record = new_referral_record(correlation_id=f"corr-{n}")
        assert consume(harness, record, offset=n) is Outcome.PROCESSED
    commits: list[int] = []  # outcome transactions

    def hold_the_first_outcome_commit(session: Session) -> None:
        if not threading.current_thread().name.startswith("deliver-email"):
            return
        commits.append(1)
        if len(commits) == 1:  # the other two sends finish and queue meanwhile
            eventually(lambda: _assert_equal(loop.unrecorded(), 2), timeout_s=30)

    event.listen(Session, "before_commit", hold_the_first_outcome_commit)
    try:
        harness.deliver("email")
    finally:
        event.remove(Session, "before_commit", hold_the_first_outcome_commit)

    assert len(commits) == 2  # one outcome, then the two that finished during its commit
    assert len(mail_sink.messages) == 3
    emails = {row.id: row for row in harness.rows("email")}
    assert {row.status for row in emails.values()} == {"delivered"}
    with Session(harness.engine) as session:
        delivered = [
            (json.loads(row.value)["notification_id"], decode(row.to_record()).correlation_id)
            for row in session.exec(
                select(OutboxEvent).where(
                    OutboxEvent.event_type == "vn.lienganh.notification.delivered.v1"
                )
            )
        ]
    by_email = {nid: corr for nid, corr in delivered if nid in emails}
    assert by_email == {nid: row.correlation_id for nid, row in emails.items()}
    assert sorted(by_email.values()) == ["corr-0", "corr-1", "corr-2"]


def test_outcomes_recorded_together_read_their_rows_in_one_query(harness, mail_sink):
    """Each outcome looked its row up on its own: a query a send, in the one thread that
    records for the whole channel."""
    loop = harness.loops["email"]
    for n in range(4):
        assert consume(harness, new_referral_record(), offset=n) is Outcome.PROCESSED
    commits: list[int] = []
    reads: list[str] = []  # the recording threads' reads of notification rows

    def hold_the_first_outcome_commit(session: Session) -> None:
        if threading.current_thread().name.startswith("deliver-email"):
            commits.append(1)
            if len(commits) == 1:  # the other three sends finish and queue meanwhile
                eventually(lambda: _assert_equal(loop.unrecorded(), 3), timeout_s=30)

    def count_reads(_conn, _cursor, statement: str, *_args) -> None:
        recording = threading.current_thread().name.startswith("deliver-email")
        if (
            recording
            and statement.lstrip().startswith("SELECT")
            and "FROM notifications" in statement
        ):
            reads.append(statement)

    event.listen(Session, "before_commit", hold_the_first_outcome_commit)
    event.listen(harness.engine, "before_cursor_execute", count_reads)
    try:
        harness.deliver("email")
    finally:
        event.remove(Session, "before_commit", hold_the_first_outcome_commit)
        event.remove(harness.engine, "before_cursor_execute", count_reads)

    assert len(commits) == 2  # one outcome, then the three that finished during its commit
    assert len(reads) == 2, reads  # one query a commit, not one an outcome
    assert {row.status for row in harness.rows("email")} == {"delivered"}


def _assert_equal(actual: object, expected: object) -> None:
    assert actual == expected


def test_the_loop_ticks_at_the_busy_pace_only_while_it_has_sends_to_finish(harness, mail_sink):
    loop = harness.loops["email"]
    job = loop.job(0.5, idle_interval_s=5.0)
    loop.run(utc_now())
    assert not job.busy()  # nothing to send: idle, the agents' commits wake it
    assert consume(harness, new_referral_record()) is Outcome.PROCESSED
    loop.run(utc_now())
    assert job.busy()  # a send under way: the busy tick
    loop.wait_idle()
    assert job.busy()  # its outcome (and event) not reported yet
    assert loop.run(utc_now()) == 1
    assert not job.busy()


def test_the_worker_delivery_jobs_take_the_idle_interval_setting(tmp_path, database_url):
    settings = NotificationsSettings(
        data_dir=tmp_path, delivery_interval_s=0.4, delivery_idle_interval_s=7.0
    )
    jobs = delivery_jobs(settings, create_db_engine(database_url))
    assert {job.name for job in jobs} == {"deliver_email", "deliver_sms", "deliver_webhook"}
    assert {(job.interval_s, job.idle_interval_s) for job in jobs} == {(0.4, 7.0)}
