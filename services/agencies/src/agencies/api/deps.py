"""Dependencies of the agency API: this deployment's context and its own officers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.engine import Engine

from agencies.adapters.view_keys import CasesViewKeys
from chassis.audit import record_audit
from chassis.auth import CurrentPrincipal, Principal
from chassis.sealing import PublicSealer
from contracts.agencies.registry import Agency
from contracts.vocabulary import AuditAction, AuditOutcome

ACTING_ROLES = ("inspector", "case_worker", "supervisor")


def _no_intake_key() -> PublicSealer:
    raise FileNotFoundError("no intake public key of the cases service is configured")


@dataclass(frozen=True)
class AgencyContext:
    agency: str
    engine: Engine
    profile: Agency
    view_keys: CasesViewKeys | None = None  # unset: sealed details never open here
    intake_sealer: Callable[[], PublicSealer] = _no_intake_key  # seals case reports
    webhook_secret: bytes | None = None
    webhook_tolerance_s: int = 300


def _context(request: Request) -> AgencyContext:
    context: AgencyContext = request.app.state.agency
    return context


def _own_agency(principal: CurrentPrincipal, request: Request) -> Principal:
    # Another agency's officer is refused here: each agency sees only its own referrals.
    context = _context(request)
    if principal.agency != context.agency:
        record_audit(
            context.engine,
            principal,
            service=f"agencies-{context.agency}",
            action=AuditAction.READ if request.method == "GET" else AuditAction.UPDATE,
            resource_type="referral",
            resource_id=str(request.path_params.get("referral_id", "inbox")),
            outcome=AuditOutcome.DENIED,
            detail=f"{request.method} by another agency",
        )
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this inbox belongs to another agency")
    return principal


def _acting_officer(officer: Annotated[Principal, Depends(_own_agency)]) -> Principal:
    if not officer.has_role(*ACTING_ROLES):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "acting on referrals needs an officer role")
    return officer


Context = Annotated[AgencyContext, Depends(_context)]
Officer = Annotated[Principal, Depends(_own_agency)]
ActingOfficer = Annotated[Principal, Depends(_acting_officer)]
