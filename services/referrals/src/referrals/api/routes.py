"""Coordinator routes: open referrals overdue first, a case's history, cancel, consent holds."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import case as sql_case
from sqlmodel import Session, col, select

from chassis.access import Granted
from chassis.api import Offset, error_responses
from chassis.logs import current_correlation_id
from chassis.unit_of_work import unit_of_work
from contracts.referrals.lifecycle import OPEN_STATES, can_transition
from contracts.vocabulary import ReferralState
from referrals.adapters.store import SqlStore
from referrals.adapters.tables import ConsentHold, ReferralRecord, ReferralTransition
from referrals.api.deps import Context
from referrals.api.schemas import Cancellation, ConsentHoldOut, ReferralOut, TransitionOut
from referrals.changes import Change, aware, move

router = APIRouter(tags=["referrals"])


@router.get("/referrals", response_model=list[ReferralOut])
def list_referrals(
    grant: Granted,
    context: Context,
    state: ReferralState | None = None,
    agency: str | None = Query(default=None, max_length=50),
    province_code: str | None = Query(default=None, pattern=r"^\d{2}$"),
    overdue: bool | None = None,
    open_only: bool = Query(default=True, description="Only referrals still open."),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: Offset = 0,
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
    provinces = grant.visible_provinces()
    if provinces is not None:
        query = query.where(col(ReferralRecord.province_code).in_(provinces))
    with Session(context.engine) as session:
        rows = list(session.exec(query.offset(offset).limit(limit)))
    grant.audit_read(context.engine, "*", detail=f"listed {len(rows)} referrals")
    return [_out(row, now) for row in rows]


@router.get("/cases/{case_id}/referrals", response_model=list[TransitionOut])
def case_history(case_id: str, grant: Granted, context: Context) -> list[TransitionOut]:
    """Every transition of every referral of the case: actor, time, reason, outcome."""
    with Session(context.engine) as session:
        referrals = {
            r.id: r
            for r in session.exec(select(ReferralRecord).where(ReferralRecord.case_id == case_id))
        }
        first = next(iter(referrals.values()), None)
        province = first.province_code if first else None
        grant.require_province(province, resource_id=case_id, what="case")
        transitions = session.exec(
            select(ReferralTransition)
            .where(col(ReferralTransition.referral_id).in_(list(referrals)))
            .order_by(col(ReferralTransition.occurred_at), col(ReferralTransition.version))
        ).all()
        history = [
            TransitionOut(**row.model_dump(), agency=referrals[row.referral_id].agency)
            for row in transitions
        ]
    grant.audit_read(context.engine, case_id, detail="referral history of the case")
    return history


@router.post(
    "/referrals/{referral_id}/cancel",
    response_model=ReferralOut,
    responses=error_responses(
        {409: "The version is stale, or the referral's state cannot be cancelled."}
    ),
)
def cancel_referral(
    referral_id: str,
    body: Cancellation,
    grant: Granted,
    context: Context,
) -> ReferralOut:
    """The sender withdraws a referral from any open state (409 on a stale version)."""
    principal, policy = grant.officer, context.policy
    with unit_of_work(
        context.engine, source="/referrals", correlation_id=current_correlation_id()
    ) as uow:
        referral = uow.session.get(ReferralRecord, referral_id)
        province = referral.province_code if referral else None
        grant.require_province(province, resource_id=referral_id, what="referral")
        assert referral is not None
        if principal.agency != referral.owner_agency:  # a case another agency owns
            message = "only the case owner's agency may cancel a referral"
            raise grant.refuse(status.HTTP_403_FORBIDDEN, message, resource_id=referral_id)
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
        if not move(SqlStore(uow), referral, ReferralState.CANCELLED, change, policy=policy):
            raise HTTPException(status.HTTP_409_CONFLICT, "stale version: changed concurrently")
        grant.audit(uow, referral_id, detail="cancelled by the sender")
        return _out(referral, datetime.now(UTC))


@router.get("/consent-holds", response_model=list[ConsentHoldOut])
def consent_holds(
    grant: Granted,
    context: Context,
    province_code: str | None = Query(default=None, pattern=r"^\d{2}$"),
    released: bool = False,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: Offset = 0,
) -> list[ConsentHold]:
    """Cases whose referrals were refused for lack of consent or a legal override, oldest
    first."""
    query = select(ConsentHold).order_by(col(ConsentHold.held_at), col(ConsentHold.case_id))
    query = query.where(
        col(ConsentHold.released_at).is_not(None)
        if released
        else col(ConsentHold.released_at).is_(None)
    )
    if province_code:
        query = query.where(ConsentHold.province_code == province_code)
    provinces = grant.visible_provinces()
    if provinces is not None:
        query = query.where(col(ConsentHold.province_code).in_(provinces))
    with Session(context.engine) as session:
        holds = list(session.exec(query.offset(offset).limit(limit)))
    grant.audit_read(context.engine, "*", detail=f"listed {len(holds)} consent holds")
    return holds


def _out(referral: ReferralRecord, now: datetime) -> ReferralOut:
    out = ReferralOut.model_validate(referral)
    due = aware(referral.due_at) if referral.due_at else None
    return out.model_copy(update={"overdue": due is not None and due < now})
