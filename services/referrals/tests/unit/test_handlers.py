"""The referrals handlers and deadline sweep on the in-memory store: no database, no broker."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from chassis.consumer import RejectedEvent
from contracts.agencies.registry import agency_registry
from contracts.agencies.v1 import (
    ReferralAccepted,
    ReferralAction,
    ReferralCompleted,
    ReferralOutcome,
    ReferralTransferred,
)
from contracts.cases.v1 import (
    CaseConsentRecorded,
    CaseIdentityErased,
    CaseMerged,
    CaseReceived,
)
from contracts.referrals.v1 import (
    ReferralEscalated,
    ReferralIdentityErased,
    ReferralRequested,
    ReferralStateChanged,
    ReferralUpdateRefused,
)
from contracts.topics import REFERRALS_EVENTS, agency_referrals_topic
from contracts.vocabulary import ConsentBasis
from contracts.vocabulary import ReferralState as S
from referrals.adapters.memory_store import MemoryStore
from referrals.adapters.policy_file import default_policy_path, load_policy
from referrals.adapters.tables import ReferralRecord
from referrals.deadlines import DeadlineSweep
from referrals.domain.routing import RoutingPolicy
from referrals.handlers import (
    NO_CONSENT_REASON,
    apply_agency_action,
    erase_views,
    follow_merge,
    open_referrals,
    release_consent_hold,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
TOKEN, OTHER = "sv1." + "a" * 43, "sv1." + "b" * 43  # sealed tokens, as the cases service seals
CASE = CaseReceived.example().model_copy(
    update={"identity_views": {"police": {"child_name": TOKEN, "not_in_the_policy": OTHER}}}
)
UNSHAREABLE = CASE.model_copy(update={"consent_basis": ConsentBasis.NONE})
POLICY: RoutingPolicy = load_policy(default_policy_path(), agency_registry().codes())


def opened(case: CaseReceived = CASE, store: MemoryStore | None = None) -> MemoryStore:
    store = store or MemoryStore()
    open_referrals(store, case, policy=POLICY, now=lambda: NOW)
    return store


def referral_of(store: MemoryStore, agency: str) -> ReferralRecord:
    [referral] = [r for r in store.referrals.values() if r.agency == agency]
    return referral


def act(store: MemoryStore, action: ReferralAction, *, topic_agency: str = "police") -> None:
    apply_agency_action(
        store, action, topic_agency=topic_agency, policy=POLICY, registry=agency_registry()
    )


def accept(referral: ReferralRecord, version: int) -> ReferralAccepted:
    return ReferralAccepted.example().model_copy(
        update={"referral_id": referral.id, "agency": referral.agency, "expected_version": version}
    )


def transitions_counted(agency: str, state: S) -> float:
    labels = {"agency": agency, "to_state": state.value}
    return REGISTRY.get_sample_value("lienganh_referral_transitions_total", labels) or 0.0


def escalations_counted() -> float:
    labels = {"agency": "police", "province": "01"}
    return REGISTRY.get_sample_value("lienganh_referral_escalations_total", labels) or 0.0


def test_a_case_fans_out_to_its_lead_and_supporting_agencies():
    store = opened()
    assert {(r.agency, r.lead, r.state, r.version) for r in store.referrals.values()} == {
        ("police", True, S.REQUESTED.value, 1),
        ("dolisa", False, S.REQUESTED.value, 1),
    }
    requested = store.events(ReferralRequested)
    assert {(e.agency, e.version) for e in requested} == {("police", 1), ("dolisa", 1)}
    police = referral_of(store, "police")
    assert store.events(ReferralRequested, topic=agency_referrals_topic("police"))[
        0
    ].referral_id == (police.id)


def test_each_new_referral_gets_a_history_row_and_its_state_event_to_everyone():
    store = opened()
    police = referral_of(store, "police")
    row = store.transitions[(police.id, 1)]
    assert (row.from_state, row.to_state, row.actor) == (
        None,
        S.REQUESTED.value,
        "referrals-service",
    )
    assert len(store.events(ReferralStateChanged, topic=REFERRALS_EVENTS)) == 2
    # The inbox learns of it from its ReferralRequested alone: a copy of the creation's
    # state change was one more record a referral for the agency's worker, telling nothing.
    inbox = agency_referrals_topic("police")
    assert store.events(ReferralStateChanged, topic=inbox) == []
    [requested] = store.events(ReferralRequested, topic=inbox)
    assert (requested.referral_id, requested.version) == (police.id, 1)


def test_views_are_kept_and_each_agency_gets_only_the_fields_the_policy_allows_it():
    store = opened()
    assert store.identity_views[CASE.case_id] == CASE.identity_views
    details = {e.agency: e.details for e in store.events(ReferralRequested)}
    assert details == {"police": {"child_name": TOKEN}, "dolisa": {}}


def test_the_transition_metric_is_counted_only_when_the_work_commits():
    before = transitions_counted("police", S.REQUESTED)
    store = opened()
    assert transitions_counted("police", S.REQUESTED) == before
    store.commit()
    assert transitions_counted("police", S.REQUESTED) == before + 1
    store.commit()  # effects run once
    assert transitions_counted("police", S.REQUESTED) == before + 1


def test_a_case_without_consent_is_held_with_the_reason_and_nothing_is_sent():
    store = opened(UNSHAREABLE)
    opened(UNSHAREABLE, store)  # redelivered: still one hold
    hold = store.holds[CASE.case_id]
    assert (hold.reason, hold.held_at, hold.released_at) == (NO_CONSENT_REASON, NOW, None)
    assert "identity_views" not in hold.case_event
    assert (store.referrals, store.published) == ({}, [])
    assert CASE.case_id in store.identity_views  # kept for when consent comes


def test_recorded_consent_releases_the_hold_once():
    store = opened(UNSHAREABLE)
    consent = CaseConsentRecorded.example().model_copy(update={"case_id": CASE.case_id})
    release_consent_hold(store, consent, policy=POLICY, now=lambda: NOW + timedelta(hours=1))
    release_consent_hold(store, consent, policy=POLICY, now=lambda: NOW + timedelta(hours=2))
    assert store.holds[CASE.case_id].released_at == NOW + timedelta(hours=1)
    assert sorted(r.agency for r in store.referrals.values()) == ["dolisa", "police"]


def test_consent_recorded_as_none_keeps_the_hold():
    store = opened(UNSHAREABLE)
    none = CaseConsentRecorded.example().model_copy(
        update={"case_id": CASE.case_id, "consent_basis": ConsentBasis.NONE}
    )
    release_consent_hold(store, none, policy=POLICY, now=lambda: NOW)
    assert store.holds[CASE.case_id].released_at is None
    assert store.referrals == {}


def test_a_merge_moves_the_duplicates_referrals_and_hold_to_the_surviving_case():
    merged = CaseMerged.example()
    store = opened(CASE.model_copy(update={"case_id": merged.merged_case_id}))
    opened(UNSHAREABLE.model_copy(update={"case_id": merged.merged_case_id}), store)
    follow_merge(store, merged)
    assert {r.case_id for r in store.referrals.values()} == {merged.case_id}
    assert list(store.holds) == [merged.case_id]
    assert store.holds[merged.case_id].case_event["case_id"] == merged.case_id


@pytest.mark.parametrize("survivor_has_views", [False, True])
def test_a_merge_drops_the_duplicates_views_only_when_the_survivor_has_its_own(
    survivor_has_views: bool,
):
    merged = CaseMerged.example()
    store = opened(CASE.model_copy(update={"case_id": merged.merged_case_id}))
    if survivor_has_views:
        store.keep_views(merged.case_id, {"police": {"child_name": OTHER}})
    follow_merge(store, merged)
    assert (merged.merged_case_id in store.identity_views) is not survivor_has_views


def test_erasure_drops_the_views_and_tells_each_agency_holding_a_referral():
    store = opened()
    erased = CaseIdentityErased.example().model_copy(update={"case_id": CASE.case_id})
    erase_views(store, erased)
    assert store.identity_views == {}
    told = store.events(ReferralIdentityErased)
    assert {e.agency for e in told} == {"police", "dolisa"}
    for event in told:
        assert store.events(ReferralIdentityErased, topic=agency_referrals_topic(event.agency))


def test_an_action_on_the_current_version_moves_the_referral_with_history_and_events():
    store = opened()
    police = referral_of(store, "police")
    store.published.clear()
    act(store, accept(police, 1))
    assert (police.state, police.version) == (S.ACCEPTED.value, 2)
    row = store.transitions[(police.id, 2)]
    assert (row.from_state, row.to_state) == (S.REQUESTED.value, S.ACCEPTED.value)
    assert [topic for topic, _ in store.published] == [
        REFERRALS_EVENTS,
        agency_referrals_topic("police"),
    ]
    assert store.events(ReferralStateChanged)[0].version == 2


def test_a_stale_action_is_refused_and_changes_nothing():
    store = opened()
    police = referral_of(store, "police")
    store.published.clear()
    act(store, accept(police, 2))
    [refused] = store.events(ReferralUpdateRefused, topic=REFERRALS_EVENTS)
    assert refused.reason.startswith("stale version")
    assert (refused.expected_version, refused.current_version) == (2, 1)
    assert (police.state, police.version) == (S.REQUESTED.value, 1)
    assert (police.id, 2) not in store.transitions


def test_a_forbidden_action_is_refused():
    store = opened()
    police = referral_of(store, "police")
    completed = ReferralCompleted.example().model_copy(
        update={"referral_id": police.id, "expected_version": 1}
    )
    store.published.clear()
    act(store, completed)
    [refused] = store.events(ReferralUpdateRefused)
    assert "cannot become completed" in refused.reason


def test_an_agency_cannot_act_on_another_agencys_referral():
    store = opened()
    dolisa = referral_of(store, "dolisa")
    with pytest.raises(RejectedEvent):
        act(store, accept(dolisa, 1), topic_agency="police")
    claimed = accept(dolisa, 1).model_copy(update={"agency": "police"})
    with pytest.raises(RejectedEvent):  # nor claim to be an agency its topic is not
        act(store, claimed, topic_agency="dolisa")
    assert dolisa.version == 1


def test_outcome_fields_the_agency_does_not_report_are_rejected():
    store = opened()
    police = referral_of(store, "police")
    completed = ReferralCompleted.example().model_copy(
        update={"referral_id": police.id, "outcome": ReferralOutcome(enrolled=True)}
    )
    with pytest.raises(RejectedEvent, match="outcome fields"):
        act(store, completed)


def test_a_transfer_rejects_the_referral_and_opens_a_linked_one_at_the_named_agency():
    store = opened()
    police = referral_of(store, "police")
    transfer = ReferralTransferred.example().model_copy(update={"referral_id": police.id})
    act(store, transfer)
    replacement = referral_of(store, "labour_inspection")
    assert (police.state, police.linked_referral_id) == (S.REJECTED.value, replacement.id)
    assert (replacement.linked_referral_id, replacement.lead) == (police.id, True)
    assert replacement.reason.startswith("transferred by police")
    assert store.transitions[(replacement.id, 1)].actor == transfer.actor
    # The new agency's inbox is told which referral it takes over from in the request.
    [requested] = store.events(ReferralRequested, topic=agency_referrals_topic("labour_inspection"))
    assert (requested.referral_id, requested.linked_referral_id) == (replacement.id, police.id)


class RacingStore(MemoryStore):
    """Another writer's change on the same version lands just before this one."""

    def move_if_version(
        self, referral: ReferralRecord, expected_version: int, values: Mapping[str, Any]
    ) -> bool:
        stored = self.referrals[referral.id]
        stored.version += 1
        return super().move_if_version(referral, expected_version, values)


def test_of_two_writers_on_one_version_the_second_is_refused_as_changed_concurrently():
    store = opened(store=RacingStore())
    police = referral_of(store, "police")
    store.published.clear()
    act(store, accept(police, 1))
    [refused] = store.events(ReferralUpdateRefused)
    assert refused.reason == "stale version: changed concurrently"
    assert not store.events(ReferralStateChanged)


def test_the_sweep_escalates_each_overdue_referral_once_and_counts_it_on_commit():
    store = opened()
    police = referral_of(store, "police")
    act(store, accept(referral_of(store, "dolisa"), 1), topic_agency="dolisa")  # due in days
    assert police.due_at is not None
    sweep = DeadlineSweep(engine=None, policy=POLICY)  # type: ignore[arg-type]  # store only
    before = escalations_counted()
    assert sweep.sweep(store, police.due_at - timedelta(seconds=1)) == 0
    assert sweep.sweep(store, police.due_at) == 1
    assert sweep.sweep(store, police.due_at) == 0  # the next one is a reminder, hours later
    [escalated] = store.events(ReferralEscalated)
    assert (escalated.referral_id, escalated.reminder) == (police.id, 0)
    assert police.escalations_sent == 1
    assert escalations_counted() == before
    store.commit()
    assert escalations_counted() == before + 1
