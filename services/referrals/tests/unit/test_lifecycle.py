"""Every referral transition the lifecycle allows or refuses, and stale versions."""

from __future__ import annotations

import pytest

from contracts.referrals.lifecycle import ALLOWED_TRANSITIONS, OPEN_STATES, can_transition
from contracts.vocabulary import ReferralState as S
from referrals.domain.lifecycle import refusal_reason

ALLOWED = {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transition_table(current: S, target: S):
    expected = (current, target) in {
        (S.REQUESTED, S.RECEIVED),
        (S.REQUESTED, S.ACCEPTED),
        (S.REQUESTED, S.REJECTED),
        (S.RECEIVED, S.ACCEPTED),
        (S.RECEIVED, S.REJECTED),
        (S.ACCEPTED, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.ON_HOLD),
        (S.ON_HOLD, S.IN_PROGRESS),
        (S.IN_PROGRESS, S.COMPLETED),
        (S.IN_PROGRESS, S.FAILED),
    } | {(state, S.CANCELLED) for state in OPEN_STATES}
    assert can_transition(current, target) is expected
    assert ((current, target) in ALLOWED) is expected


def test_closed_states_are_final():
    assert OPEN_STATES.isdisjoint({S.REJECTED, S.COMPLETED, S.FAILED, S.CANCELLED})


def test_a_stale_version_is_refused():
    reason = refusal_reason(
        current_state=S.CANCELLED, current_version=2, target_state=S.ACCEPTED, expected_version=1
    )
    assert reason is not None and "stale version" in reason


def test_a_forbidden_transition_is_refused():
    reason = refusal_reason(
        current_state=S.COMPLETED, current_version=5, target_state=S.ACCEPTED, expected_version=5
    )
    assert reason == "a referral that is completed cannot become accepted"


def test_a_current_allowed_action_applies():
    assert (
        refusal_reason(
            current_state=S.REQUESTED,
            current_version=1,
            target_state=S.ACCEPTED,
            expected_version=1,
        )
        is None
    )
