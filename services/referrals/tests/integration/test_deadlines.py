"""Missed deadlines: one escalation per breach, reminders, re-routing, and durability across
a worker restart — all with an explicit `now`, never a sleep."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from chassis.db import create_db_engine
from chassis.timestamps import aware
from contracts.agencies.v1 import ReferralAccepted, ReferralStarted
from contracts.cases.v1 import CaseReceived
from contracts.topics import CASES_EVENTS
from contracts.topics import agency_updates_topic as updates
from contracts.vocabulary import CaseType, RiskLevel
from referrals.adapters.tables import ReferralRecord
from referrals.bootstrap import create_sweep
from referrals.config import ReferralsSettings
from referrals.metrics import REFERRAL_ESCALATIONS

from .conftest import Worker, build_worker

ESCALATED = "vn.lienganh.referral.escalated.v1"
HOUR = timedelta(hours=1)


def open_case(worker: Worker, **update: object) -> dict[str, ReferralRecord]:
    case = CaseReceived.example().model_copy(update={"case_id": str(uuid.uuid4()), **update})
    worker.deliver(CASES_EVENTS, case)
    with Session(worker.engine) as session:
        rows = session.exec(select(ReferralRecord).where(ReferralRecord.case_id == case.case_id))
        return {row.agency: row for row in rows}


def due(referral: ReferralRecord) -> datetime:
    assert referral.due_at is not None
    return aware(referral.due_at)


def test_urgent_trafficking_escalates_once_after_two_hours_then_reminds(worker: Worker):
    police = open_case(worker)["police"]
    assert due(police) - aware(police.created_at) == 2 * HOUR
    assert worker.sweep.run(due(police) - timedelta(seconds=1)) == 0
    before = REFERRAL_ESCALATIONS.labels("police", "01")._value.get()

    assert worker.sweep.run(due(police) + timedelta(seconds=1)) == 2  # police and dolisa
    assert worker.sweep.run(due(police) + timedelta(minutes=5)) == 0  # once per breach
    escalations = [e for e in worker.staged(ESCALATED) if e["agency"] == "police"]
    assert [(e["reminder"], e["state"], e["rerouted_to"]) for e in escalations] == [
        (0, "requested", None)
    ]
    assert REFERRAL_ESCALATIONS.labels("police", "01")._value.get() == before + 1

    # Reminders every 4 hours (the policy's interval) while it stays overdue.
    assert worker.sweep.run(due(police) + 4 * HOUR) == 0
    assert worker.sweep.run(due(police) + 4 * HOUR + timedelta(seconds=2)) == 2
    assert worker.sweep.run(due(police) + 8 * HOUR + timedelta(seconds=3)) == 2
    reminders = [e["reminder"] for e in worker.staged(ESCALATED) if e["agency"] == "police"]
    assert reminders == [0, 1, 2]


def test_acting_in_time_moves_the_deadline_to_the_next_state(worker: Worker):
    police = open_case(worker)["police"]
    accepted = police.created_at + timedelta(minutes=30)
    worker.deliver(
        updates("police"),
        ReferralAccepted(
            referral_id=police.id,
            case_id=police.case_id,
            agency="police",
            expected_version=1,
            actor="police-inspector-hn-01",
            occurred_at=aware(accepted),
        ),
    )
    with Session(worker.engine) as session:
        now_accepted = session.get(ReferralRecord, police.id)
    assert now_accepted is not None
    # Urgent trafficking: work must start within 12 hours of acceptance.
    assert due(now_accepted) == aware(accepted) + 12 * HOUR
    assert worker.sweep.run(due(police) + timedelta(seconds=1)) == 1  # only dolisa is late


def test_an_overdue_escalation_starts_again_after_a_later_breach(worker: Worker):
    police = open_case(worker)["police"]
    worker.sweep.run(due(police) + timedelta(seconds=1))
    for version, kind in ((1, ReferralAccepted), (2, ReferralStarted)):
        worker.deliver(
            updates("police"),
            kind(
                referral_id=police.id,
                case_id=police.case_id,
                agency="police",
                expected_version=version,
                actor="police-inspector-hn-01",
                occurred_at=aware(police.created_at) + 3 * HOUR,
            ),
        )
    with Session(worker.engine) as session:
        started = session.get(ReferralRecord, police.id)
    assert started is not None and started.escalations_sent == 0
    worker.sweep.run(due(started) + timedelta(seconds=1))
    late = [e for e in worker.staged(ESCALATED) if e["agency"] == "police"]
    assert [(e["state"], e["reminder"]) for e in late] == [("requested", 0), ("in-progress", 0)]


def test_an_unanswered_education_referral_is_rerouted_to_dolisa(worker: Worker):
    education = open_case(worker, case_type=CaseType.AT_RISK, risk_level=RiskLevel.MEDIUM)[
        "education"
    ]
    first = due(education) + timedelta(seconds=1)
    for reminder in range(4):  # escalation, then reminders 1, 2, 3 → re-route at 3
        worker.sweep.run(first + reminder * 4 * HOUR + timedelta(seconds=reminder))
    events = [e for e in worker.staged(ESCALATED) if e["referral_id"] == education.id]
    assert [(e["reminder"], e["rerouted_to"]) for e in events] == [
        (0, None),
        (1, None),
        (2, None),
        (3, "dolisa"),
    ]
    with Session(worker.engine) as session:
        rows = session.exec(
            select(ReferralRecord).where(ReferralRecord.case_id == education.case_id)
        )
        by_id = {row.id: row for row in rows}
    old = by_id[education.id]
    assert old.state == "cancelled"
    replacement = by_id[old.linked_referral_id or ""]
    assert (replacement.agency, replacement.state) == ("dolisa", "requested")
    assert replacement.linked_referral_id == old.id
    # The cancelled referral is closed: no more reminders for it.
    worker.sweep.run(first + 40 * HOUR)
    assert len([e for e in worker.staged(ESCALATED) if e["referral_id"] == old.id]) == 4


def test_a_deadline_stored_before_a_restart_fires_after_it(
    worker: Worker, settings: ReferralsSettings
):
    police = open_case(worker)["police"]
    worker.engine.dispose()  # the worker process goes away; only the database remains

    engine = create_db_engine(settings.database_url_for("referrals"))
    restarted = create_sweep(settings, engine)
    assert restarted.run(due(police) + timedelta(seconds=1)) == 2
    again = build_worker(engine, settings)
    escalated = [e for e in again.staged(ESCALATED) if e["referral_id"] == police.id]
    assert [e["reminder"] for e in escalated] == [0]
    assert escalated[0]["deadline"].startswith(due(police).astimezone(UTC).isoformat()[:19])
