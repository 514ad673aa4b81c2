"""Coordinator routes: open referrals overdue first, a case's history, cancel, consent holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case as sql_case
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from chassis.audit import record_audit, stage_audit
from chassis.auth import Principal, require_roles
from chassis.logs import current_correlation_id
from chassis.unit_of_work import unit_of_work
from contracts.referrals.lifecycle import OPEN_STATES, can_transition
from contracts.vocabulary import AuditAction, ReferralState
from referrals.adapters.referral_store import Change, aware, move
from referrals.adapters.tables import ConsentHold, ReferralRecord, ReferralTransition
from referrals.domain.routing import RoutingPolicy

COORDINATION_ROLES = ("coordinator", "supervisor", "case_worker")
CANCELLING_ROLES = ("coordinator", "supervisor")


class ReferralOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    agency: str
    lead: bool
    state: ReferralState
    version: int
    case_type: str
    risk_level: str
    province_code: str
    owner_agency: str
    linked_referral_id: str | None
    accept_by: datetime
    due_at: datetime | None
    overdue: bool = False
    escalations_sent: int
    updated_at: datetime


class TransitionOut(BaseModel):
    referral_id: str
    agency: str
    version: int
    from_state: ReferralState | None
    to_state: ReferralState
    actor: str
    reason: str | None
    outcome: dict[str, Any] | None
    transferred_to: str | None
    linked_referral_id: str | None
    occurred_at: datetime


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The referral version the coordinator saw.")
    reason: str = Field(min_length=3, max_length=1000, description="Why the sender withdraws.")


class ConsentHoldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: str
    province_code: str
    case_type: str
    reason: str
    held_at: datetime
    released_at: datetime | None


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _policy(request: Request) -> RoutingPolicy:
    policy: RoutingPolicy = request.app.state.policy
    return policy


EngineDep = Annotated[Engine, Depends(_engine)]
PolicyDep = Annotated[RoutingPolicy, Depends(_policy)]
Coordinator = Annotated[Principal, Depends(require_roles(*COORDINATION_ROLES))]
Canceller = Annotated[Principal, Depends(require_roles(*CANCELLING_ROLES))]
router = APIRouter(tags=["referrals"])


@router.get("/referrals", response_model=list[ReferralOut])
def list_referrals(
    principal: Coordinator,
    engine: EngineDep,
    state: ReferralState | None = None,
    agency: str | None = Query(default=None, max_length=50),
    province_code: str | None = Query(default=None, pattern=r"^\d{2}$"),
    overdue: bool | None = None,
    open_only: bool = Query(default=True, description="Only referrals still open."),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> list[ReferralOut]:
    """Referrals the coordinator's provinces see, overdue ones first, then by deadline."""
    now = datetime.now(UTC)
    is_overdue = col(ReferralRecord.due_at).is_not(None) & (col(ReferralRecord.due_at) < now)
    query = select(ReferralRecord).order_by(
        sql_case((is_overdue, 0), else_=1), col(ReferralRecord.due_at), col(ReferralRecord.id)
    )
    if open_only:
        query = query.where(col(ReferralRecord.state).in_([s.value for s in OPEN_STATES]))
    if state:
        query = query.where(ReferralRecord.state == state.value)
    if agency:
        query = query.where(ReferralRecord.agency == agency)
    if province_code:
        query = query.where(ReferralRecord.province_code == province_code)
    if overdue is not None:
        query = query.where(is_overdue if overdue else ~is_overdue)
    if "*" not in principal.provinces:
        query = query.where(col(ReferralRecord.province_code).in_(principal.provinces))
    with Session(engine) as session:
        rows = list(session.exec(query.offset(offset).limit(limit)))
    _audit_read(engine, principal, "open-referrals", f"listed {len(rows)} referrals")
    return [_out(row, now) for row in rows]


@router.get("/cases/{case_id}/referrals", response_model=list[TransitionOut])
def case_history(case_id: str, principal: Coordinator, engine: EngineDep) -> list[TransitionOut]:
    """Every transition of every referral of the case: actor, time, reason, outcome."""
    with Session(engine) as session:
        referrals = {
            r.id: r
            for r in session.exec(select(ReferralRecord).where(ReferralRecord.case_id == case_id))
        }
        first = next(iter(referrals.values()), None)
        if first is None or not principal.serves_province(first.province_code):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "case not found")
        transitions = session.exec(
            select(ReferralTransition)
            .where(col(ReferralTransition.referral_id).in_(list(referrals)))
            .order_by(col(ReferralTransition.occurred_at), col(ReferralTransition.version))
        ).all()
        history = [
            TransitionOut(**row.model_dump(), agency=referrals[row.referral_id].agency)
            for row in transitions
        ]
    _audit_read(engine, principal, case_id, "referral history of the case")
    return history


@router.post("/referrals/{referral_id}/cancel", response_model=ReferralOut)
def cancel_referral(
    referral_id: str,
    body: Cancellation,
    principal: Canceller,
    engine: EngineDep,
    policy: PolicyDep,
) -> ReferralOut:
    """The sender withdraws a referral from any open state (409 on a stale version)."""
    with unit_of_work(engine, source="/referrals", correlation_id=current_correlation_id()) as uow:
        referral = uow.session.get(ReferralRecord, referral_id)
        if referral is None or not principal.serves_province(referral.province_code):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "referral not found")
        if principal.agency != referral.owner_agency:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "only the case owner's agency may cancel a referral"
            )
        if body.version != referral.version:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"stale version: referral is at version {referral.version}, not {body.version}",
            )
        if not can_transition(ReferralState(referral.state), ReferralState.CANCELLED):
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"a {referral.state} referral cannot be cancelled"
            )
        change = Change(actor=principal.subject, at=datetime.now(UTC), reason=body.reason)
        if not move(uow, referral, ReferralState.CANCELLED, change, policy=policy):
            raise HTTPException(status.HTTP_409_CONFLICT, "stale version: changed concurrently")
        stage_audit(
            uow,
            principal,
            service="referrals",
            action=AuditAction.UPDATE,
            resource_type="referral",
            resource_id=referral_id,
            detail="cancelled by the sender",
        )
        return _out(referral, datetime.now(UTC))


@router.get("/consent-holds", response_model=list[ConsentHoldOut])
def consent_holds(
    principal: Coordinator,
    engine: EngineDep,
    province_code: str | None = Query(default=None, pattern=r"^\d{2}$"),
    released: bool = False,
) -> list[ConsentHold]:
    """Cases whose referrals were refused for lack of consent or a legal override."""
    query = select(ConsentHold).order_by(col(ConsentHold.held_at))
    query = query.where(
        col(ConsentHold.released_at).is_not(None)
        if released
        else col(ConsentHold.released_at).is_(None)
    )
    if province_code:
        query = query.where(ConsentHold.province_code == province_code)
    if "*" not in principal.provinces:
        query = query.where(col(ConsentHold.province_code).in_(principal.provinces))
    with Session(engine) as session:
        return list(session.exec(query))


def _audit_read(engine: Engine, principal: Principal, resource_id: str, detail: str) -> None:
    record_audit(
        engine,
        principal,
        service="referrals",
        action=AuditAction.READ,
        resource_type="referral",
        resource_id=resource_id,
        detail=detail,
    )


def _out(referral: ReferralRecord, now: datetime) -> ReferralOut:
    out = ReferralOut.model_validate(referral)
    due = aware(referral.due_at) if referral.due_at else None
    return out.model_copy(update={"overdue": due is not None and due < now})
