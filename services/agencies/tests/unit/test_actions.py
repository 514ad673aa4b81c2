"""What an officer may do with a referral in the inbox."""

from __future__ import annotations

import pytest

from agencies.domain.actions import ForbiddenTransition, StaleVersion, decide
from contracts.agencies.v1 import ReferralAccepted, ReferralRejected
from contracts.vocabulary import ReferralState as S


def test_accepting_the_current_version_moves_to_accepted():
    decision = decide(ReferralAccepted, state=S.REQUESTED, version=1, expected_version=1)
    assert (decision.new_state, decision.new_version) == (S.ACCEPTED, 2)


def test_an_outdated_version_is_stale():
    with pytest.raises(StaleVersion, match="version 2, not 1"):
        decide(ReferralAccepted, state=S.RECEIVED, version=2, expected_version=1)


def test_a_cancelled_referral_cannot_be_rejected():
    with pytest.raises(ForbiddenTransition):
        decide(ReferralRejected, state=S.CANCELLED, version=3, expected_version=3)
