"""Inbox routes: list and read referrals, and act on them with the version seen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agencies import handlers
from agencies.adapters.tables import InboxReferral
from agencies.domain.actions import ForbiddenTransition, StaleVersion
from chassis.auth import CurrentPrincipal, Principal
from chassis.logs import current_correlation_id
from chassis.unit_of_work import unit_of_work
from contracts.agencies.v1 import (
    ReferralAccepted,
    ReferralAcknowledged,
    ReferralAction,
    ReferralRejected,
)
from contracts.vocabulary import ReferralState

ACTING_ROLES = ("inspector", "case_worker", "supervisor")
AWAITING_DECISION = (ReferralState.REQUESTED.value, ReferralState.RECEIVED.value)


@dataclass(frozen=True)
class AgencyContext:
    agency: str
    engine: Engine


def _context(request: Request) -> AgencyContext:
    context: AgencyContext = request.app.state.agency
    return context


def _own_agency(principal: CurrentPrincipal, request: Request) -> Principal:
    # Another agency's officer is refused here: each agency sees only its own referrals.
    if principal.agency != _context(request).agency:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this inbox belongs to another agency")
    return principal


Context = Annotated[AgencyContext, Depends(_context)]
Officer = Annotated[Principal, Depends(_own_agency)]
router = APIRouter(prefix="/referrals", tags=["inbox"])


class InboxReferralOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    lead: bool
    state: ReferralState
    version: int
    case_type: str
    risk_level: str
    province_code: str
    commune_code: str
    age_band: str
    reason: str
    details: dict[str, str]
    accept_by: datetime
    requested_at: datetime
    updated_at: datetime
    overdue: bool = False


class VersionedAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The referral version the officer saw.")


class Rejection(VersionedAction):
    reason: str = Field(min_length=3, max_length=1000, description="Why the agency declines.")


@router.get("", response_model=list[InboxReferralOut])
def list_inbox(
    officer: Officer,
    context: Context,
    state: ReferralState | None = None,
    province_code: str | None = Query(default=None, pattern=r"^\d{2}$"),
    overdue: bool | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[InboxReferralOut]:
    now = datetime.now(UTC)
    query = select(InboxReferral).order_by(col(InboxReferral.accept_by))
    if state:
        query = query.where(InboxReferral.state == state.value)
    if province_code:
        query = query.where(InboxReferral.province_code == province_code)
    if "*" not in officer.provinces:
        query = query.where(col(InboxReferral.province_code).in_(officer.provinces))
    if overdue is not None:
        condition = col(InboxReferral.state).in_(AWAITING_DECISION) & (
            col(InboxReferral.accept_by) < now
        )
        query = query.where(condition if overdue else ~condition)
    with Session(context.engine) as session:
        rows = list(session.exec(query.offset(offset).limit(limit)))
    return [_out(row, now) for row in rows]


@router.get("/{referral_id}", response_model=InboxReferralOut)
def read_referral(referral_id: str, officer: Officer, context: Context) -> InboxReferralOut:
    with Session(context.engine) as session:
        referral = session.get(InboxReferral, referral_id)
    if referral is None or not officer.serves_province(referral.province_code):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "referral not found")
    return _out(referral, datetime.now(UTC))


@router.post("/{referral_id}/acknowledge", response_model=InboxReferralOut)
def acknowledge(
    referral_id: str, body: VersionedAction, officer: Officer, context: Context
) -> InboxReferralOut:
    return _act(ReferralAcknowledged, referral_id, body, officer, context)


@router.post("/{referral_id}/accept", response_model=InboxReferralOut)
def accept(
    referral_id: str, body: VersionedAction, officer: Officer, context: Context
) -> InboxReferralOut:
    return _act(ReferralAccepted, referral_id, body, officer, context)


@router.post("/{referral_id}/reject", response_model=InboxReferralOut)
def reject(
    referral_id: str, body: Rejection, officer: Officer, context: Context
) -> InboxReferralOut:
    return _act(ReferralRejected, referral_id, body, officer, context, reason=body.reason)


def _act(
    action_type: type[ReferralAction],
    referral_id: str,
    body: VersionedAction,
    officer: Principal,
    context: AgencyContext,
    **extra: str,
) -> InboxReferralOut:
    if not officer.has_role(*ACTING_ROLES):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "acting on referrals needs an officer role")
    with unit_of_work(
        context.engine,
        source=f"/agencies/{context.agency}",
        correlation_id=current_correlation_id(),
    ) as uow:
        referral = uow.session.get(InboxReferral, referral_id)
        if referral is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "referral not found")
        action = action_type(
            referral_id=referral_id,
            case_id=referral.case_id,
            agency=context.agency,
            expected_version=body.version,
            actor=officer.subject,
            occurred_at=datetime.now(UTC),
            **extra,
        )
        try:
            updated = handlers.act_on_referral(
                uow, action, agency=context.agency, visible_provinces=officer.provinces
            )
        except handlers.ReferralNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "referral not found") from None
        except (StaleVersion, ForbiddenTransition) as conflict:
            raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from None
        return _out(updated, datetime.now(UTC))


def _out(referral: InboxReferral, now: datetime) -> InboxReferralOut:
    accept_by = (
        referral.accept_by if referral.accept_by.tzinfo else referral.accept_by.replace(tzinfo=UTC)
    )
    awaiting = referral.state in AWAITING_DECISION
    out = InboxReferralOut.model_validate(referral)
    return out.model_copy(update={"overdue": awaiting and accept_by < now})
