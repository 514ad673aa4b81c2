"""Coordinator routes: open referrals, overdue first, and a case's referral history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from chassis.auth import Principal, require_roles
from contracts.vocabulary import ReferralState
from referrals.adapters.tables import ReferralRecord, ReferralTransition

COORDINATION_ROLES = ("coordinator", "supervisor", "case_worker")


class ReferralOut(BaseModel):
    id: str
    case_id: str
    agency: str
    lead: bool
    state: ReferralState
    version: int
    case_type: str
    risk_level: str
    province_code: str
    accept_by: datetime
    updated_at: datetime


class TransitionOut(BaseModel):
    referral_id: str
    version: int
    from_state: ReferralState | None
    to_state: ReferralState
    actor: str
    reason: str | None
    occurred_at: datetime


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(_engine)]
Coordinator = Annotated[Principal, Depends(require_roles(*COORDINATION_ROLES))]
router = APIRouter(tags=["referrals"])


@router.get("/referrals", response_model=list[ReferralOut])
def list_referrals(
    principal: Coordinator,
    engine: EngineDep,
    state: ReferralState | None = None,
    agency: str | None = Query(default=None, max_length=50),
    province_code: str | None = Query(default=None, pattern=r"^\d{2}$"),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> list[ReferralRecord]:
    query = select(ReferralRecord).order_by(col(ReferralRecord.accept_by))
    if state:
        query = query.where(ReferralRecord.state == state.value)
    if agency:
        query = query.where(ReferralRecord.agency == agency)
    if province_code:
        query = query.where(ReferralRecord.province_code == province_code)
    if "*" not in principal.provinces:
        query = query.where(col(ReferralRecord.province_code).in_(principal.provinces))
    with Session(engine) as session:
        return list(session.exec(query.offset(offset).limit(limit)))


@router.get("/cases/{case_id}/referrals", response_model=list[TransitionOut])
def case_history(
    case_id: str, principal: Coordinator, engine: EngineDep
) -> list[ReferralTransition]:
    with Session(engine) as session:
        referrals = list(
            session.exec(select(ReferralRecord).where(ReferralRecord.case_id == case_id))
        )
        if not referrals or not principal.serves_province(referrals[0].province_code):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "case not found")
        ids = [referral.id for referral in referrals]
        return list(
            session.exec(
                select(ReferralTransition)
                .where(col(ReferralTransition.referral_id).in_(ids))
                .order_by(col(ReferralTransition.occurred_at), col(ReferralTransition.version))
            )
        )
