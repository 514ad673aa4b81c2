"""Who may do what with a case (ARCHITECTURE.md §7). No I/O.

The owning agency's case workers and coordinators see the cases of their provinces; other
agencies see cases only through their referrals (403 here). Another province's case is
reported as missing (404), so its existence is not disclosed.
"""

from __future__ import annotations

from enum import Enum

from chassis.auth import Principal

INTAKE_ROLES = ("intake", "case_worker")
READ_ROLES = ("case_worker", "coordinator")
MANAGE_ROLES = ("case_worker", "coordinator")
IDENTITY_ROLES = ("case_worker",)
DUPLICATE_ROLES = ("coordinator",)
REFERRAL_ROUTER_ROLES = ("referral_router",)


class Access(Enum):
    ALLOWED = 200
    FORBIDDEN = 403
    HIDDEN = 404


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
