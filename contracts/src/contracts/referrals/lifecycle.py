"""The closed-loop referral lifecycle, shared by the sender and the agencies.

FHIR Task status codes: requested → received → accepted | rejected → in-progress ⇄ on-hold
→ completed | failed, and cancelled (by the sender) from any open state. The agency checks
a transition before it acts; the referrals service applies it authoritatively.
"""

from __future__ import annotations

from contracts.agencies.v1 import (
    ReferralAccepted,
    ReferralAcknowledged,
    ReferralAction,
    ReferralCompleted,
    ReferralFailed,
    ReferralHeld,
    ReferralRejected,
    ReferralResumed,
    ReferralStarted,
    ReferralTransferred,
)
from contracts.vocabulary import ReferralState as S

ALLOWED_TRANSITIONS: dict[S, frozenset[S]] = {
    S.REQUESTED: frozenset({S.RECEIVED, S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.RECEIVED: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.ON_HOLD, S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.ON_HOLD: frozenset({S.IN_PROGRESS, S.CANCELLED}),
    S.REJECTED: frozenset(),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

OPEN_STATES: frozenset[S] = frozenset(state for state, nxt in ALLOWED_TRANSITIONS.items() if nxt)

ACTION_TARGETS: dict[type[ReferralAction], S] = {
    ReferralAcknowledged: S.RECEIVED,
    ReferralAccepted: S.ACCEPTED,
    ReferralRejected: S.REJECTED,
    ReferralStarted: S.IN_PROGRESS,
    ReferralHeld: S.ON_HOLD,
    ReferralResumed: S.IN_PROGRESS,
    ReferralCompleted: S.COMPLETED,
    ReferralFailed: S.FAILED,
    ReferralTransferred: S.REJECTED,  # plus a new referral to the named agency
}


def can_transition(current: S, target: S) -> bool:
    return target in ALLOWED_TRANSITIONS[current]
