"""The reporting handlers' rules on the in-memory store: no database, no broker."""

from __future__ import annotations

import pytest

from contracts.vocabulary import CaseClock, CaseStage, ReferralState
from reporting import handlers
from reporting.adapters.memory_store import MemoryStore
from reporting.adapters.tables import CaseFact
from services.reporting.tests.events import (
    at,
    case,
    delivered,
    escalated,
    failed,
    merged,
    missed,
    referral,
    stage,
    uid,
)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def counted(store: MemoryStore) -> list[CaseFact]:
    """The cases a report counts: received, and not merged into another."""
    return [f for f in store.cases.values() if f.merged_into is None and f.received_at is not None]


def test_a_received_case_is_one_fact_with_its_disaggregation(store: MemoryStore):
    handlers.record_case(store, case("an", received_at=at("2026-11-30 18:00")))

    [fact] = store.cases.values()
    assert fact.case_id == uid("an")
    assert (fact.case_type, fact.province_code, fact.sex) == ("child_trafficking", "01", "female")
    assert fact.stage == CaseStage.RECEIVED.value
    # Buckets are Viet Nam's calendar (UTC+7): 18:00 UTC on 30 Nov is 1 Dec there.
    assert (fact.received_day, fact.received_month) == ("2026-12-01", "2026-12")
    assert (fact.received_quarter, fact.received_year) == ("2026-Q4", "2026")


def test_a_case_delivered_twice_is_counted_once(store: MemoryStore):
    handlers.record_case(store, case("an"))
    handlers.record_case(store, case("an"))
    handlers.record_case(store, case("binh"))

    assert sorted(f.case_id for f in counted(store)) == sorted([uid("an"), uid("binh")])


def test_every_handler_applied_twice_leaves_the_same_rows(store: MemoryStore):
    deliveries = [
        (handlers.record_case, case("an")),
        (handlers.record_stage, stage("an", CaseStage.PLAN_APPROVED, "2026-11-04 09:00")),
        (handlers.record_missed_deadline, missed("an")),
        (handlers.record_merge, merged("an", "binh")),
        (handlers.track_referral, referral("r", "an", ReferralState.REQUESTED, 1, "2026-11-02")),
        (handlers.record_escalation, escalated("r", "an")),
        (handlers.record_delivery, delivered("n")),
        (handlers.record_failure, failed("n")),
    ]
    for handle, event in deliveries:
        handle(store, event)
    once = [row.model_dump() for row in store.rows()]

    for handle, event in deliveries:
        handle(store, event)

    assert [row.model_dump() for row in store.rows()] == once
    assert len(once) == 6  # cases an and binh, a referral, an escalation, two deliveries


def test_a_stage_change_that_overtook_its_case_is_kept(store: MemoryStore):
    handlers.record_stage(store, stage("an", CaseStage.ASSESSED, "2026-11-03 09:00"))
    handlers.record_case(store, case("an"))

    assert store.cases[uid("an")].stage == CaseStage.ASSESSED.value


def test_the_first_plan_approval_is_kept_when_a_plan_is_approved_again(store: MemoryStore):
    handlers.record_case(store, case("an"))
    handlers.record_stage(store, stage("an", CaseStage.PLAN_APPROVED, "2026-11-20 09:00"))
    handlers.record_stage(store, stage("an", CaseStage.PLAN_APPROVED, "2026-11-04 09:00"))
    handlers.record_stage(store, stage("an", CaseStage.PLAN_APPROVED, "2026-11-25 09:00"))

    fact = store.cases[uid("an")]
    assert fact.plan_approved_at == at("2026-11-04 09:00")
    assert fact.stage == CaseStage.PLAN_APPROVED.value


def test_a_missed_deadline_marks_its_own_clock_only(store: MemoryStore):
    handlers.record_missed_deadline(store, missed("an", clock=CaseClock.EMERGENCY_INTERVENTION))
    handlers.record_missed_deadline(store, missed("binh", clock=CaseClock.PLAN_APPROVAL))

    an, binh = store.cases[uid("an")], store.cases[uid("binh")]
    assert (an.emergency_clock_missed, an.plan_clock_missed) == (True, False)
    assert (binh.emergency_clock_missed, binh.plan_clock_missed) == (False, True)


def test_a_merged_duplicate_is_counted_once(store: MemoryStore):
    handlers.record_case(store, case("an"))
    handlers.record_case(store, case("an-again"))
    handlers.record_merge(store, merged("an", "an-again"))

    assert [f.case_id for f in counted(store)] == [uid("an")]
    assert store.cases[uid("an-again")].merged_into == uid("an")


def test_a_merge_that_overtook_the_duplicate_still_holds(store: MemoryStore):
    handlers.record_case(store, case("an"))
    handlers.record_merge(store, merged("an", "an-again"))
    handlers.record_case(store, case("an-again"))  # from another partition, late

    assert [f.case_id for f in counted(store)] == [uid("an")]


def test_referral_transitions_update_its_fact(store: MemoryStore):
    requested = referral(
        "r", "an", ReferralState.REQUESTED, 1, "2026-11-02 08:20", deadline="2026-11-02 10:20"
    )
    handlers.track_referral(store, requested)
    handlers.track_referral(
        store, referral("r", "an", ReferralState.ACCEPTED, 2, "2026-11-02 09:00")
    )
    handlers.track_referral(store, referral("r", "an", ReferralState.COMPLETED, 3, "2026-11-09"))

    [fact] = store.referrals.values()
    assert (fact.case_id, fact.state, fact.version) == (uid("an"), "completed", 3)
    assert fact.requested_at == at("2026-11-02 08:20")
    assert fact.requested_day == "2026-11-02"
    assert fact.accept_by == at("2026-11-02 10:20")
    assert fact.accepted_at == at("2026-11-02 09:00")
    assert fact.completed_at == at("2026-11-09 00:00")


def test_the_latest_referral_state_wins_whatever_the_order(store: MemoryStore):
    handlers.track_referral(
        store, referral("r", "an", ReferralState.ACCEPTED, 2, "2026-11-02 09:00")
    )
    handlers.track_referral(
        store, referral("r", "an", ReferralState.REQUESTED, 1, "2026-11-02 08:00")
    )

    fact = store.referrals[uid("r")]
    assert (fact.state, fact.version) == ("accepted", 2)
    assert fact.requested_at == at("2026-11-02 08:00")  # the late creation still dates it
    assert fact.accepted_at == at("2026-11-02 09:00")


def test_the_first_acceptance_dates_a_referral_accepted_again(store: MemoryStore):
    reaccepted = referral("r", "an", ReferralState.ACCEPTED, 4, "2026-11-05 12:00")
    handlers.track_referral(store, reaccepted)  # after an on-hold, and delivered first
    handlers.track_referral(
        store, referral("r", "an", ReferralState.ACCEPTED, 2, "2026-11-02 09:00")
    )

    assert store.referrals[uid("r")].accepted_at == at("2026-11-02 09:00")


def test_each_escalation_reminder_is_one_row(store: MemoryStore):
    handlers.record_escalation(store, escalated("r", "an", reminder=0))
    handlers.record_escalation(store, escalated("r", "an", reminder=1))
    handlers.record_escalation(store, escalated("r", "an", reminder=0))

    assert sorted(store.escalations) == [(uid("r"), 0), (uid("r"), 1)]


def test_a_failure_never_hides_a_delivery(store: MemoryStore):
    handlers.record_delivery(store, delivered("before", channel="sms"))
    handlers.record_failure(store, failed("before", channel="sms"))
    handlers.record_failure(store, failed("after", channel="sms"))
    handlers.record_delivery(store, delivered("after", channel="sms"))
    handlers.record_failure(store, failed("only", channel="sms"))

    outcomes = {key[0]: fact.outcome for key, fact in store.deliveries.items()}
    assert outcomes == {
        uid("before"): "delivered",
        uid("after"): "delivered",
        uid("only"): "failed",
    }


CANARY = "Nguyễn Thị Canary"
SEALED_CANARY = "sv1.CanaryNguyenThiCanaryCanaryNguyenThiCanaryCanary"


def test_identity_is_never_stored(store: MemoryStore):
    """Whatever an event carries besides the disaggregation (sealed views, people, free
    text), none of it reaches a fact."""
    views = {"police": {"child_name": SEALED_CANARY, "date_of_birth": SEALED_CANARY}}
    handlers.record_case(store, case("an", reported_by=CANARY, identity_views=views))
    handlers.record_stage(
        store, stage("an", CaseStage.ASSESSED, "2026-11-03", actor=CANARY, reason=CANARY)
    )
    handlers.record_merge(store, merged("an", "binh").model_copy(update={"actor": CANARY}))
    handlers.track_referral(
        store,
        referral("r", "an", ReferralState.REJECTED, 2, "2026-11-03", actor=CANARY, reason=CANARY),
    )
    handlers.record_delivery(store, delivered("n").model_copy(update={"recipient_id": CANARY}))
    handlers.record_failure(
        store, failed("m").model_copy(update={"recipient_id": CANARY, "error": CANARY})
    )

    assert len(store.rows()) == 5
    for row in store.rows():
        stored = " ".join(map(str, row.model_dump().values()))
        assert "Canary" not in stored, row


def test_projecting_publishes_nothing_and_leaves_no_effect(store: MemoryStore):
    handlers.record_case(store, case("an"))
    handlers.track_referral(store, referral("r", "an", ReferralState.REQUESTED, 1, "2026-11-02"))
    handlers.record_failure(store, failed("n"))

    assert store.published == []
    assert store.pending_effects == []


def test_the_fake_keeps_only_what_is_saved(store: MemoryStore):
    """It holds copies, so a handler that forgets to save fails its unit test here."""
    handlers.record_case(store, case("an"))
    fact = store.case_fact(uid("an"))
    assert fact is not None

    fact.stage = CaseStage.CLOSED.value

    assert store.cases[uid("an")].stage == CaseStage.RECEIVED.value
