"""The agency handlers on the in-memory store: no database, no broker, microseconds each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from agencies.adapters.memory_store import MemoryStore
from agencies.adapters.tables import InboxReferral
from agencies.domain.actions import ForbiddenTransition, StaleVersion
from agencies.handlers import (
    ReferralNotFound,
    act_on_referral,
    drop_identity,
    follow_state,
    receive_referral,
    report_case,
)
from chassis.consumer import RejectedEvent
from contracts.agencies.v1 import (
    CaseReported,
    ReferralAccepted,
    ReferralCompleted,
    ReferralOutcome,
    ReferralRejected,
)
from contracts.referrals.v1 import (
    ReferralIdentityErased,
    ReferralRequested,
    ReferralStateChanged,
)
from contracts.topics import agency_updates_topic
from contracts.vocabulary import ReferralState as S

AGENCY = "police"
REQUESTED = ReferralRequested.example().model_copy(
    update={"agency": AGENCY, "details": {"child_name": "sealed-token"}}
)


def received(store: MemoryStore | None = None, *, bridge: bool = False) -> MemoryStore:
    store = store or MemoryStore()
    receive_referral(store, REQUESTED, agency=AGENCY, bridge=bridge)
    return store


def changed(version: int, to_state: S = S.ACCEPTED, **update: object) -> ReferralStateChanged:
    return ReferralStateChanged.example().model_copy(
        update={"version": version, "to_state": to_state, "agency": AGENCY, **update}
    )


def accept(version: int) -> ReferralAccepted:
    return ReferralAccepted.example().model_copy(
        update={"agency": AGENCY, "expected_version": version}
    )


def stored(store: MemoryStore) -> InboxReferral:
    referral = store.referral(REQUESTED.referral_id)
    assert referral is not None
    return referral


def test_a_referral_for_another_agency_is_rejected():
    store = MemoryStore()
    with pytest.raises(RejectedEvent, match="arrived at police's inbox"):
        receive_referral(store, REQUESTED.model_copy(update={"agency": "dolisa"}), agency=AGENCY)
    assert store.referrals == {}


def test_a_new_referral_is_kept_requested_with_its_sealed_details():
    referral = stored(received())
    assert (referral.state, referral.version) == (S.REQUESTED.value, 1)
    assert referral.details == {"child_name": "sealed-token"}
    assert referral.due_at == REQUESTED.accept_by


def test_a_replacement_referral_knows_the_one_it_takes_over_from_and_why():
    """Its ReferralRequested is all the inbox hears of its creation (no state change)."""
    replacement = REQUESTED.model_copy(
        update={"reason": "transferred by dolisa: not ours", "linked_referral_id": "old-one"}
    )
    store = MemoryStore()
    receive_referral(store, replacement, agency=AGENCY)
    referral = stored(store)
    assert (referral.linked_referral_id, referral.last_reason) == (
        "old-one",
        "transferred by dolisa: not ours",
    )


def test_a_duplicate_referral_requested_is_ignored():
    store = received()
    receive_referral(store, REQUESTED.model_copy(update={"reason": "again"}), agency=AGENCY)
    assert stored(store).reason == REQUESTED.reason


@pytest.mark.parametrize("bridge", [False, True])
def test_the_bridge_stages_a_webhook_only_when_enabled(bridge: bool):
    store = received(bridge=bridge)
    follow_state(store, changed(2), agency=AGENCY, bridge=bridge)
    assert [type(e) for e in store.webhooks] == (
        [ReferralRequested, ReferralStateChanged] if bridge else []
    )


@pytest.mark.parametrize("version", [1, 2, 5])
def test_state_follows_from_the_same_or_a_newer_version(version: int):
    store = received()
    follow_state(store, changed(version, reason="checked"), agency=AGENCY)
    referral = stored(store)
    assert (referral.state, referral.version) == (S.ACCEPTED.value, version)
    assert referral.last_reason == "checked"


def test_an_older_state_is_ignored():
    store = received()
    follow_state(store, changed(3, S.IN_PROGRESS), agency=AGENCY)
    follow_state(store, changed(2, S.ACCEPTED), agency=AGENCY)
    assert (stored(store).state, stored(store).version) == (S.IN_PROGRESS.value, 3)


def test_a_state_for_another_agency_or_an_unknown_referral_is_ignored():
    store = received()
    follow_state(store, changed(2, agency="dolisa"), agency=AGENCY)
    follow_state(store, changed(2, referral_id="unknown"), agency=AGENCY)
    assert stored(store).state == S.REQUESTED.value
    assert list(store.referrals) == [REQUESTED.referral_id]


def test_a_state_keeps_the_linked_referral_and_records_the_outcome():
    store = received()
    follow_state(store, changed(2, linked_referral_id="replacement"), agency=AGENCY)
    outcome = ReferralOutcome(investigation_opened=True)
    follow_state(store, changed(3, S.COMPLETED, outcome=outcome), agency=AGENCY)
    referral = stored(store)
    assert referral.linked_referral_id == "replacement"
    assert referral.outcome == {"investigation_opened": True}


def test_identity_erasure_clears_the_sealed_details_once():
    store = received()
    erased = ReferralIdentityErased.example().model_copy(update={"agency": AGENCY})
    drop_identity(store, erased, agency=AGENCY)
    again = erased.model_copy(update={"erased_at": erased.erased_at + timedelta(days=1)})
    drop_identity(store, again, agency=AGENCY)
    referral = stored(store)
    assert referral.details == {}
    assert referral.identity_erased_at == erased.erased_at


def test_identity_erasure_for_another_agency_changes_nothing():
    store = received()
    erased = ReferralIdentityErased.example().model_copy(update={"agency": "dolisa"})
    drop_identity(store, erased, agency=AGENCY)
    assert stored(store).details == {"child_name": "sealed-token"}


def test_acting_on_the_current_version_moves_the_referral_and_sends_the_action():
    store = received()
    action = accept(1)
    referral = act_on_referral(store, action, agency=AGENCY)
    assert (referral.state, referral.version) == (S.ACCEPTED.value, 2)
    assert stored(store).updated_at == action.occurred_at
    assert store.published == [(agency_updates_topic(AGENCY), action)]


def test_a_completion_records_its_outcome():
    store = received()
    follow_state(store, changed(4, S.IN_PROGRESS), agency=AGENCY)
    completed = ReferralCompleted.example().model_copy(update={"agency": AGENCY})
    act_on_referral(store, completed, agency=AGENCY)
    assert stored(store).outcome == {"investigation_opened": True, "victims_rescued": 1}


def test_acting_on_a_stale_version_raises_and_sends_nothing():
    store = received()
    with pytest.raises(StaleVersion):
        act_on_referral(store, accept(2), agency=AGENCY)
    assert (stored(store).version, store.published) == (1, [])


def test_a_forbidden_action_raises_and_sends_nothing():
    store = received()
    follow_state(store, changed(2, S.CANCELLED), agency=AGENCY)
    rejected = ReferralRejected.example().model_copy(
        update={"agency": AGENCY, "expected_version": 2}
    )
    with pytest.raises(ForbiddenTransition):
        act_on_referral(store, rejected, agency=AGENCY)
    assert store.published == []


def test_acting_on_an_unknown_referral_is_not_found():
    with pytest.raises(ReferralNotFound):
        act_on_referral(MemoryStore(), accept(1), agency=AGENCY)


class RacingStore(MemoryStore):
    """Another officer's action on the same version lands just before this one."""

    def move_if_version(
        self, referral: InboxReferral, expected_version: int, values: Mapping[str, Any]
    ) -> bool:
        rival = {**values, "last_reason": "the other officer"}
        assert super().move_if_version(
            InboxReferral(**referral.model_dump()), expected_version, rival
        )
        return super().move_if_version(referral, expected_version, values)


def test_of_two_officers_acting_at_once_the_second_gets_a_stale_version():
    store = received(RacingStore())
    with pytest.raises(StaleVersion, match="changed while you were acting"):
        act_on_referral(store, accept(1), agency=AGENCY)
    assert stored(store).last_reason == "the other officer"
    assert store.published == []


def test_a_case_report_goes_to_the_agency_updates_topic():
    store = MemoryStore()
    report = CaseReported.example().model_copy(update={"agency": AGENCY})
    report_case(store, report, agency=AGENCY)
    assert store.events(CaseReported, topic=agency_updates_topic(AGENCY)) == [report]


def test_an_agency_cannot_report_a_case_as_another():
    store = MemoryStore()
    with pytest.raises(ValueError, match="cannot report a case as dolisa"):
        report_case(
            store, CaseReported.example().model_copy(update={"agency": "dolisa"}), agency=AGENCY
        )
    assert store.published == []
