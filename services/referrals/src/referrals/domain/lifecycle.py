"""Whether an agency's action may be applied to a referral as it stands."""

from __future__ import annotations

from contracts.referrals.lifecycle import can_transition
from contracts.vocabulary import ReferralState


def refusal_reason(
    *,
    current_state: ReferralState,
    current_version: int,
    target_state: ReferralState,
    expected_version: int,
) -> str | None:
    """None when the action applies; otherwise why it is refused (no accept/withdraw races)."""
    if expected_version != current_version:
        return (
            f"stale version: the action was based on version {expected_version}, "
            f"the referral is at version {current_version}"
        )
    if not can_transition(current_state, target_state):
        return f"a referral that is {current_state.value} cannot become {target_state.value}"
    return None
