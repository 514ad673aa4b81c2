"""The combined status of a case's referrals, as the case view shows it. No I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from contracts.referrals.lifecycle import OPEN_STATES
from contracts.vocabulary import ReferralState


def combined_status(states: Iterable[str]) -> str:
    """`none` without referrals; `open` while any agency still acts; else how they ended:
    `completed` when every one completed, `ended_unresolved` when some failed, were
    rejected or cancelled (the owner must re-plan)."""
    counts = Counter(ReferralState(state) for state in states)
    if not counts:
        return "none"
    if any(state in OPEN_STATES for state in counts):
        return "open"
    if set(counts) == {ReferralState.COMPLETED}:
        return "completed"
    return "ended_unresolved"
