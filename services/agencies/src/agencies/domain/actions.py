"""Officer actions on a referral, checked before anything is recorded or sent."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.agencies.v1 import ReferralAction
from contracts.referrals.lifecycle import ACTION_TARGETS, can_transition
from contracts.vocabulary import ReferralState


class StaleVersion(Exception):
    """The officer acted on an outdated view of the referral."""


class ForbiddenTransition(Exception):
    """The referral's state does not allow the action."""


@dataclass(frozen=True)
class Decision:
    new_state: ReferralState
    new_version: int


def decide(
    action_type: type[ReferralAction],
    *,
    state: ReferralState,
    version: int,
    expected_version: int,
) -> Decision:
    if expected_version != version:
        raise StaleVersion(f"referral is at version {version}, not {expected_version}")
    target = ACTION_TARGETS[action_type]
    if not can_transition(state, target):
        raise ForbiddenTransition(f"a {state.value} referral cannot become {target.value}")
    return Decision(new_state=target, new_version=version + 1)
