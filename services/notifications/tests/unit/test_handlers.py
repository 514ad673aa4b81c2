"""The handlers and a delivery's outcome on the in-memory store: who is told of which event,
on which channels and in which language, what is published, and that metrics count only
once the work has committed. No database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from contracts.cases.v1 import CaseDeadlineMissed
from contracts.notifications.v1 import NotificationDelivered, NotificationFailed
from contracts.referrals.v1 import ReferralEscalated, ReferralStateChanged
from contracts.topics import NOTIFICATIONS_EVENTS
from contracts.vocabulary import ReferralState
from notifications import handlers
from notifications.adapters.directory_store import default_rules_path, load_rules
from notifications.adapters.memory_store import DuplicateNotification, MemoryStore
from notifications.adapters.store import Cause
from notifications.adapters.tables import DELIVERED, FAILED, PENDING, Notification
from notifications.delivery import RetryPolicy, record_attempt
from notifications.domain.recipients import ChannelAddress, Officer
from notifications.handlers import (
    NotifyContext,
    on_case_deadline_missed,
    on_referral_escalated,
    on_referral_state_changed,
)
from notifications.messages import render

NOW = datetime(2026, 11, 2, 8, 16, tzinfo=UTC)
CONTEXT = NotifyContext(load_rules(default_rules_path()), "http://inbox.test/inbox", lambda: NOW)
CAUSE = Cause("evt-1", "vn.lienganh.referral.state_changed.v1", "corr-1")
IN_APP = ChannelAddress(kind="in_app")


def officer(id: str, agency: str, role: str, province: str = "01", **more: object) -> Officer:
    return Officer.model_validate(
        {"id": id, "name": "Synthetic Officer", "agency": agency, "role": role}
        | {"provinces": (province,), **more}
    )


DIRECTORY = [
    officer(
        "police-inspector-hn",
        "police",
        "inspector",
        channels=(IN_APP, ChannelAddress(kind="email", address="inspector@example.vn")),
    ),
    officer("police-inspector-hcm", "police", "inspector", "79"),
    officer("police-supervisor-hn", "police", "supervisor"),
    officer("dolisa-caseworker-hn", "dolisa", "case_worker", language="en"),
    officer("dolisa-coordinator-hn", "dolisa", "coordinator"),
    officer("dolisa-supervisor-hn", "dolisa", "supervisor"),
]


def store() -> MemoryStore:
    return MemoryStore(directory=list(DIRECTORY), cause_of_work=CAUSE)


def told(store: MemoryStore) -> list[tuple[str, str]]:
    return sorted((row.recipient_id, row.channel) for row in store.delivery_log.values())


def new_referral(**update: object) -> ReferralStateChanged:
    return ReferralStateChanged.example().model_copy(
        update={"from_state": None, "to_state": ReferralState.REQUESTED, "version": 1, **update}
    )


def deliveries(channel: str, outcome: str) -> float:
    labels = {"channel": channel, "outcome": outcome}
    return REGISTRY.get_sample_value("lienganh_notification_deliveries_total", labels) or 0.0


# --- who is told ----------------------------------------------------------------------------


def test_a_new_referral_tells_the_agencys_officers_of_the_province_on_each_channel():
    work = store()
    on_referral_state_changed(work, new_referral(), context=CONTEXT)
    assert told(work) == [("police-inspector-hn", "email"), ("police-inspector-hn", "in_app")]


def test_an_outcome_tells_the_case_owners_officers_in_their_language():
    work = store()
    on_referral_state_changed(work, ReferralStateChanged.example(), context=CONTEXT)
    assert told(work) == [("dolisa-caseworker-hn", "in_app"), ("dolisa-coordinator-hn", "in_app")]
    by_officer = {row.recipient_id: row for row in work.delivery_log.values()}
    assert by_officer["dolisa-caseworker-hn"].language == "en"
    assert by_officer["dolisa-coordinator-hn"].language == "vi"
    assert by_officer["dolisa-caseworker-hn"].title != by_officer["dolisa-coordinator-hn"].title


def test_each_message_is_made_once_for_a_channel_and_language_however_many_are_told(
    monkeypatch: pytest.MonkeyPatch,
):
    made: list[tuple[str, str]] = []

    def counted(happening, channel, language, inbox_url):  # type: ignore[no-untyped-def]
        made.append((channel, language))
        return render(happening, channel, language, inbox_url)

    monkeypatch.setattr(handlers, "render", counted)
    email = ChannelAddress(kind="email", address="inspector@example.vn")
    inspectors = [
        officer(f"police-inspector-hn-{n}", "police", "inspector", channels=(IN_APP, email))
        for n in range(3)
    ] + [officer("police-inspector-hn-en", "police", "inspector", language="en")]
    work = MemoryStore(directory=inspectors, cause_of_work=CAUSE)
    on_referral_state_changed(work, new_referral(), context=CONTEXT)
    assert len(work.delivery_log) == 7  # three officers on two channels, one on one
    assert sorted(made) == [("email", "vi"), ("in_app", "en"), ("in_app", "vi")]
    by_officer = {(row.recipient_id, row.channel): row for row in work.delivery_log.values()}
    english = by_officer[("police-inspector-hn-en", "in_app")]
    vietnamese = by_officer[("police-inspector-hn-0", "in_app")]
    assert english.title != vietnamese.title  # each officer still reads their own language
    assert vietnamese.title == by_officer[("police-inspector-hn-2", "in_app")].title


def test_a_move_between_open_states_tells_no_one():
    work = store()
    event = ReferralStateChanged.example().model_copy(
        update={"from_state": ReferralState.ACCEPTED, "to_state": ReferralState.IN_PROGRESS}
    )
    on_referral_state_changed(work, event, context=CONTEXT)
    assert work.delivery_log == {}
    assert work.published == [] and work.pending_effects == []


def test_a_referral_to_an_agency_with_no_officers_records_nothing():
    work = store()
    on_referral_state_changed(work, new_referral(agency="customs"), context=CONTEXT)
    assert work.delivery_log == {}
    assert work.published == []


def test_an_escalation_tells_the_agencys_supervisor_and_any_coordinator_of_the_province():
    work = store()
    on_referral_escalated(work, ReferralEscalated.example(), context=CONTEXT)
    assert told(work) == [("dolisa-coordinator-hn", "in_app"), ("police-supervisor-hn", "in_app")]


def test_a_missed_case_deadline_tells_the_owners_supervisor():
    work = store()
    on_case_deadline_missed(work, CaseDeadlineMissed.example(), context=CONTEXT)
    assert told(work) == [("dolisa-supervisor-hn", "in_app")]


# --- what is recorded and published ---------------------------------------------------------


def test_in_app_is_delivered_when_recorded_and_other_channels_wait_for_their_loop():
    work = store()
    on_referral_state_changed(work, new_referral(), context=CONTEXT)
    by_channel = {row.channel: row for row in work.delivery_log.values()}
    in_app, email = by_channel["in_app"], by_channel["email"]
    assert (in_app.status, in_app.attempts, in_app.delivered_at) == (DELIVERED, 1, NOW)
    assert (email.status, email.attempts, email.next_attempt_at) == (PENDING, 0, NOW)
    assert email.address == "inspector@example.vn"
    [delivered] = work.events(NotificationDelivered, topic=NOTIFICATIONS_EVENTS)
    assert (delivered.notification_id, delivered.channel) == (in_app.id, "in_app")


def test_each_row_names_the_event_that_caused_it_and_its_correlation():
    work = store()
    on_referral_state_changed(work, new_referral(), context=CONTEXT)
    for row in work.delivery_log.values():
        assert (row.source_event_id, row.source_event_type) == (CAUSE.event_id, CAUSE.event_type)
        assert row.correlation_id == "corr-1"
    assert work.correlations == ["corr-1"]


def test_the_same_event_recorded_twice_is_refused():
    work = store()
    on_referral_state_changed(work, new_referral(), context=CONTEXT)
    with pytest.raises(DuplicateNotification):
        on_referral_state_changed(work, new_referral(), context=CONTEXT)


def test_in_app_deliveries_are_counted_only_once_the_work_commits():
    before = deliveries("in_app", "delivered")
    work = store()
    on_referral_escalated(work, ReferralEscalated.example(), context=CONTEXT)
    assert deliveries("in_app", "delivered") == before
    work.commit()
    assert deliveries("in_app", "delivered") == before + 2
    work.commit()  # effects run once
    assert deliveries("in_app", "delivered") == before + 2


# --- a delivery's outcome -------------------------------------------------------------------

RETRY = RetryPolicy(max_attempts=3, base_s=60, max_s=60)


def pending_email(attempts: int = 0) -> MemoryStore:
    work = MemoryStore(correlation_id="delivery-loop")
    work.add_notification(
        Notification(
            id="0c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5",
            source_event_id="evt-1",
            source_event_type=CAUSE.event_type,
            correlation_id="corr-1",
            recipient_id="police-inspector-hn",
            channel="email",
            address="inspector@example.vn",
            title="t",
            body="b",
            case_id="1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
            province_code="01",
            status=PENDING,
            attempts=attempts,
            next_attempt_at=NOW,
            lease_until=NOW + timedelta(minutes=1),
            created_at=NOW - timedelta(seconds=5),
        )
    )
    return work


def attempt(work: MemoryStore, error: str | None) -> Notification:
    record_attempt(
        work, "0c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5", error, channel="email", retry=RETRY, now=NOW
    )
    row = work.notification("0c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5")
    assert row is not None
    return row


def test_a_sent_message_is_delivered_with_the_cases_correlation_and_counted_after_commit():
    before = deliveries("email", "delivered")
    work = pending_email()
    row = attempt(work, None)
    assert (row.status, row.attempts, row.delivered_at, row.lease_until) == (
        DELIVERED,
        1,
        NOW,
        None,
    )
    [delivered] = work.events(NotificationDelivered)
    assert delivered.notification_id == "0c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5"
    assert work.correlations == ["corr-1"]
    assert deliveries("email", "delivered") == before
    work.commit()
    assert deliveries("email", "delivered") == before + 1


def test_a_failed_send_is_retried_later_while_attempts_remain():
    before = deliveries("email", "retried")
    work = pending_email()
    row = attempt(work, "SMTP: refused")
    assert (row.status, row.attempts, row.last_error) == (PENDING, 1, "SMTP: refused")
    assert row.next_attempt_at is not None
    assert NOW <= row.next_attempt_at <= NOW + timedelta(seconds=60)
    assert work.published == []
    work.commit()
    assert deliveries("email", "retried") == before + 1


def test_the_last_failed_attempt_fails_the_row_and_says_so():
    before = deliveries("email", "failed")
    work = pending_email(attempts=2)
    row = attempt(work, "SMTP: refused")
    assert (row.status, row.attempts) == (FAILED, 3)
    [failed] = work.events(NotificationFailed, topic=NOTIFICATIONS_EVENTS)
    assert (failed.attempts, failed.error) == (3, "SMTP: refused")
    work.commit()
    assert deliveries("email", "failed") == before + 1


def test_an_outcome_for_a_row_no_longer_pending_changes_nothing():
    work = pending_email()
    attempt(work, None)
    work.commit()
    published = list(work.published)
    row = attempt(work, "late failure")
    assert (row.status, row.attempts, row.last_error) == (DELIVERED, 1, None)
    assert work.published == published and work.pending_effects == []
