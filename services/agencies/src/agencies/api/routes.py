"""Inbox routes: list and read referrals, and act on them with the version seen."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from agencies import handlers
from agencies.adapters.tables import InboxReferral
from agencies.api.deps import ActingOfficer, AgencyContext, Context, Officer
from agencies.domain.actions import ForbiddenTransition, StaleVersion
from chassis.audit import record_audit, stage_audit
from chassis.auth import Principal
from chassis.crypto import DecryptionError
from chassis.logs import current_correlation_id
from chassis.sealed_details import open_details
from chassis.unit_of_work import unit_of_work
from contracts.agencies.registry import agency_registry
from contracts.agencies.v1 import (
    ReferralAccepted,
    ReferralAcknowledged,
    ReferralAction,
    ReferralCompleted,
    ReferralFailed,
    ReferralHeld,
    ReferralOutcome,
    ReferralRejected,
    ReferralResumed,
    ReferralStarted,
    ReferralTransferred,
)
from contracts.referrals.lifecycle import OPEN_STATES
from contracts.vocabulary import AuditAction, ReferralState

router = APIRouter(prefix="/referrals", tags=["inbox"])
logger = logging.getLogger(__name__)


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
    due_at: datetime | None
    linked_referral_id: str | None
    last_reason: str | None
    outcome: dict[str, Any] | None
    requested_at: datetime
    updated_at: datetime
    overdue: bool = False


class VersionedAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The referral version the officer saw.")


class Rejection(VersionedAction):
    reason: str = Field(min_length=3, max_length=1000, description="Why the agency declines.")


class WithReason(VersionedAction):
    reason: str = Field(min_length=3, max_length=1000, description="Why (no identity).")


class Completion(VersionedAction):
    outcome: ReferralOutcome = Field(description="This agency's outcome fields (registry).")


class Transfer(VersionedAction):
    to_agency: str = Field(min_length=2, max_length=41, description="Agency that should act.")
    reason: str = Field(min_length=3, max_length=1000, description="Why that agency.")


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
    """The agency's referrals in the officer's provinces, most urgent deadline first."""
    now = datetime.now(UTC)
    query = select(InboxReferral).order_by(
        col(InboxReferral.due_at).is_(None), col(InboxReferral.due_at), col(InboxReferral.id)
    )
    if state:
        query = query.where(InboxReferral.state == state.value)
    if province_code:
        query = query.where(InboxReferral.province_code == province_code)
    if "*" not in officer.provinces:
        query = query.where(col(InboxReferral.province_code).in_(officer.provinces))
    if overdue is not None:
        late = (
            col(InboxReferral.state).in_([s.value for s in OPEN_STATES])
            & col(InboxReferral.due_at).is_not(None)
            & (col(InboxReferral.due_at) < now)
        )
        query = query.where(late if overdue else ~late)
    with Session(context.engine) as session:
        rows = list(session.exec(query.offset(offset).limit(limit)))
    _audit_read(context, officer, "inbox", f"listed {len(rows)} referrals")
    return [_out(row, now, context) for row in rows]


@router.get("/{referral_id}", response_model=InboxReferralOut)
def read_referral(referral_id: str, officer: Officer, context: Context) -> InboxReferralOut:
    with Session(context.engine) as session:
        referral = session.get(InboxReferral, referral_id)
    if referral is None or not officer.serves_province(referral.province_code):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "referral not found")
    _audit_read(context, officer, referral_id, "referral shown with its details")
    return _out(referral, datetime.now(UTC), context)


@router.post("/{referral_id}/acknowledge", response_model=InboxReferralOut)
def acknowledge(
    referral_id: str, body: VersionedAction, officer: ActingOfficer, context: Context
) -> InboxReferralOut:
    return _act(ReferralAcknowledged, referral_id, body, officer, context)


@router.post("/{referral_id}/accept", response_model=InboxReferralOut)
def accept(
    referral_id: str, body: VersionedAction, officer: ActingOfficer, context: Context
) -> InboxReferralOut:
    return _act(ReferralAccepted, referral_id, body, officer, context)


@router.post("/{referral_id}/reject", response_model=InboxReferralOut)
def reject(
    referral_id: str, body: Rejection, officer: ActingOfficer, context: Context
) -> InboxReferralOut:
    return _act(ReferralRejected, referral_id, body, officer, context, reason=body.reason)


@router.post("/{referral_id}/start", response_model=InboxReferralOut)
def start(
    referral_id: str, body: VersionedAction, officer: ActingOfficer, context: Context
) -> InboxReferralOut:
    return _act(ReferralStarted, referral_id, body, officer, context)


@router.post("/{referral_id}/hold", response_model=InboxReferralOut)
def hold(
    referral_id: str, body: WithReason, officer: ActingOfficer, context: Context
) -> InboxReferralOut:
    return _act(ReferralHeld, referral_id, body, officer, context, reason=body.reason)


@router.post("/{referral_id}/resume", response_model=InboxReferralOut)
def resume(
    referral_id: str, body: VersionedAction, officer: ActingOfficer, context: Context
) -> InboxReferralOut:
    return _act(ReferralResumed, referral_id, body, officer, context)


@router.post("/{referral_id}/complete", response_model=InboxReferralOut)
def complete(
    referral_id: str, body: Completion, officer: ActingOfficer, context: Context
) -> InboxReferralOut:
    problems = context.profile.outcome_problems(body.outcome)
    if problems:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "outcome", name),
                    "msg": f"{context.agency} does not report {name}; it reports "
                    f"{', '.join(context.profile.outcome_fields) or 'a note only'}",
                    "type": "outcome_field",
                }
                for name in problems
            ]
        )
    return _act(ReferralCompleted, referral_id, body, officer, context, outcome=body.outcome)


@router.post("/{referral_id}/fail", response_model=InboxReferralOut)
def fail(
    referral_id: str, body: WithReason, officer: ActingOfficer, context: Context
) -> InboxReferralOut:
    return _act(ReferralFailed, referral_id, body, officer, context, reason=body.reason)


@router.post("/{referral_id}/transfer", response_model=InboxReferralOut)
def transfer(
    referral_id: str, body: Transfer, officer: ActingOfficer, context: Context
) -> InboxReferralOut:
    if agency_registry().get(body.to_agency) is None or body.to_agency == context.agency:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "to_agency"),
                    "msg": "must be another agency of the registry: "
                    + ", ".join(c for c in agency_registry().codes() if c != context.agency),
                    "type": "unknown_agency",
                }
            ]
        )
    return _act(
        ReferralTransferred,
        referral_id,
        body,
        officer,
        context,
        to_agency=body.to_agency,
        reason=body.reason,
    )


def _act(
    action_type: type[ReferralAction],
    referral_id: str,
    body: VersionedAction,
    officer: Principal,
    context: AgencyContext,
    **extra: Any,
) -> InboxReferralOut:
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
        stage_audit(
            uow,
            officer,
            service=f"agencies-{context.agency}",
            action=AuditAction.UPDATE,
            resource_type="referral",
            resource_id=referral_id,
            detail=action.ce_type,
        )
        return _out(updated, datetime.now(UTC), context)


def _audit_read(context: AgencyContext, officer: Principal, resource_id: str, detail: str) -> None:
    record_audit(
        context.engine,
        officer,
        service=f"agencies-{context.agency}",
        action=AuditAction.READ,
        resource_type="referral",
        resource_id=resource_id,
        detail=detail,
    )


def _opened(referral: InboxReferral, context: AgencyContext) -> dict[str, str]:
    """Details are stored sealed (encrypted at rest); officers of the agency read them here."""
    if not referral.details or context.details_cipher is None:
        return {}
    try:
        return open_details(
            context.details_cipher,
            case_id=referral.case_id,
            agency=context.agency,
            details=referral.details,
        )
    except DecryptionError:
        logger.warning("referral details cannot be opened with this agency's keyring")
        return dict.fromkeys(referral.details, "[không mở được / cannot be opened]")


def _out(referral: InboxReferral, now: datetime, context: AgencyContext) -> InboxReferralOut:
    due = referral.due_at
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    is_open = ReferralState(referral.state) in OPEN_STATES
    out = InboxReferralOut.model_validate(referral)
    overdue = is_open and due is not None and due < now
    return out.model_copy(update={"overdue": overdue, "details": _opened(referral, context)})
