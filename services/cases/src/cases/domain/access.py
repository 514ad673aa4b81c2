"""Need to know by relationship: when an officer may have a case's identity opened. No I/O.

Which roles of which agencies may call each route is the access policy's
(`contracts/access/policy.v1.yaml`); what only the cases service can judge — whether the
officer's agency holds an active referral for this very case — is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from chassis.auth import Principal
from contracts.referrals.lifecycle import OPEN_STATES
from contracts.vocabulary import ReferralState

# Referrals that ended with the agency's work done may keep opening for a grace period;
# rejected, cancelled and transferred-away ones stop at once.
_DONE_STATES = frozenset({ReferralState.COMPLETED, ReferralState.FAILED})


class Access(Enum):
    ALLOWED = "allowed"
    HIDDEN = "hidden"  # 404: no such relationship, or not disclosed
    CLOSED = "closed"  # 403: the referral that gave access has ended


@dataclass(frozen=True)
class ReferralLink:
    """What the cases service knows of one referral of the case (from referrals.events.v1)."""

    agency: str
    state: ReferralState
    state_since: datetime | None


def view_key_access(
    principal: Principal,
    *,
    referral: ReferralLink | None,
    case_province: str | None,
    now: datetime,
    grace: timedelta,
) -> Access:
    """An officer of the agency holding an active referral for the case, in the case's
    province (the route's rule has already checked the role acts on referrals)."""
    if referral is None or case_province is None or referral.agency != principal.agency:
        return Access.HIDDEN
    if not principal.serves_province(case_province):
        return Access.HIDDEN
    if referral.state in OPEN_STATES:
        return Access.ALLOWED
    since = referral.state_since
    if referral.state in _DONE_STATES and since is not None and now < since + grace:
        return Access.ALLOWED
    return Access.CLOSED
