"""Who may do what with a case (ARCHITECTURE.md §7). No I/O.

The owning agency's case workers and coordinators see the cases of their provinces; other
agencies see cases only through their referrals (403 here). Another province's case is
reported as missing (404), so its existence is not disclosed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from chassis.auth import Principal
from contracts.referrals.field_policy import field_policy
from contracts.referrals.lifecycle import OPEN_STATES
from contracts.vocabulary import ReferralState

INTAKE_ROLES = ("intake", "case_worker")
READ_ROLES = ("case_worker", "coordinator")
MANAGE_ROLES = ("case_worker", "coordinator")
IDENTITY_ROLES = ("case_worker",)
DUPLICATE_ROLES = ("coordinator",)
# Referrals that ended with the agency's work done may keep opening for a grace period;
# rejected, cancelled and transferred-away ones stop at once.
_DONE_STATES = frozenset({ReferralState.COMPLETED, ReferralState.FAILED})


class Access(Enum):
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"  # 403: your agency or role may not
    HIDDEN = "hidden"  # 404: not disclosed
    CLOSED = "closed"  # 403: the referral that gave access has ended
    ERASED = "erased"  # 410: the identity was erased


@dataclass(frozen=True)
class ReferralLink:
    """What the cases service knows of one referral of the case (from referrals.events.v1)."""

    agency: str
    state: ReferralState
    state_since: datetime | None


def case_access(
    principal: Principal, *, owner_agency: str, province_code: str | None, roles: tuple[str, ...]
) -> Access:
    """`province_code` None means there is no such case."""
    if principal.agency != owner_agency or not principal.has_role(*roles):
        return Access.FORBIDDEN
    if province_code is None or not principal.serves_province(province_code):
        return Access.HIDDEN
    return Access.ALLOWED


def list_access(
    principal: Principal, *, owner_agency: str, province_code: str | None, roles: tuple[str, ...]
) -> Access:
    """Lists show only the caller's provinces; asking for another one by name is refused."""
    if principal.agency != owner_agency or not principal.has_role(*roles):
        return Access.FORBIDDEN
    if province_code is not None and not principal.serves_province(province_code):
        return Access.FORBIDDEN
    return Access.ALLOWED


def intake_access(principal: Principal, province_code: str) -> Access:
    if not principal.has_role(*INTAKE_ROLES):
        return Access.FORBIDDEN
    if not principal.serves_province(province_code):
        return Access.FORBIDDEN  # the reporter names the province: say why it is refused
    return Access.ALLOWED


def sees_identity(principal: Principal, owner_agency: str) -> bool:
    return principal.agency == owner_agency and principal.has_role(*IDENTITY_ROLES)


def view_key_access(
    principal: Principal,
    *,
    referral: ReferralLink | None,
    case_province: str | None,
    now: datetime,
    grace: timedelta,
) -> Access:
    """Need to know, by relationship: an officer of the agency holding an active referral for
    the case, in the case's province, with a role that acts on referrals."""
    if referral is None or case_province is None or referral.agency != principal.agency:
        return Access.HIDDEN
    if not field_policy().opens_for(principal.roles):
        return Access.FORBIDDEN
    if not principal.serves_province(case_province):
        return Access.HIDDEN
    if referral.state in OPEN_STATES:
        return Access.ALLOWED
    since = referral.state_since
    if referral.state in _DONE_STATES and since is not None and now < since + grace:
        return Access.ALLOWED
    return Access.CLOSED
