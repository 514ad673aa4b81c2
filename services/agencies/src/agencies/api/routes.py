"""Inbox routes: list and read referrals, and act on them with the version seen."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from agencies import handlers
from agencies.adapters.tables import InboxReferral
from agencies.adapters.view_keys import ViewKeyRefused
from agencies.api.deps import AgencyContext, Context
from agencies.domain.actions import ForbiddenTransition, StaleVersion
from chassis.access import Grant, Granted
from chassis.audit import record_audit, stage_audit
from chassis.auth import BearerToken
from chassis.crypto import DecryptionError
from chassis.identity_views import open_view
from chassis.logs import current_correlation_id
from chassis.timestamps import aware
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
from contracts.vocabulary import ReferralState

router = APIRouter(prefix="/referrals", tags=["inbox"])
logger = logging.getLogger(__name__)

DetailsStatus = Literal["opened", "sealed", "withheld", "erased", "unavailable", "none"]
# Referrals this agency gave up or never took: their details stop opening at once.
_ENDED = frozenset({ReferralState.REJECTED, ReferralState.CANCELLED})


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
    details: dict[str, str] = Field(
        description="The child's details this agency may know, opened only when one referral "
        "is read by an officer acting on it (see details_status)."
    )
    details_status: DetailsStatus = Field(
        default="none",
        description="opened; sealed (read the one referral to open them); withheld (your role "
        "or the referral's state does not open them); erased; unavailable (try again); none.",
    )
    details_note: str | None = Field(default=None, description="Why, when not opened.")
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
    grant: Granted,
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
    provinces = grant.visible_provinces()
    if provinces is not None:
        query = query.where(col(InboxReferral.province_code).in_(provinces))
    if overdue is not None:
        late = (
            col(InboxReferral.state).in_([s.value for s in OPEN_STATES])
            & col(InboxReferral.due_at).is_not(None)
            & (col(InboxReferral.due_at) < now)
        )
        query = query.where(late if overdue else ~late)
    with Session(context.engine) as session:
        rows = list(session.exec(query.offset(offset).limit(limit)))
    _audit_read(context, grant, "inbox", f"listed {len(rows)} referrals, details sealed")
    return [_out(row, now) for row in rows]


@router.get("/{referral_id}", response_model=InboxReferralOut)
def read_referral(
    referral_id: str, grant: Granted, token: BearerToken, context: Context, response: Response
) -> InboxReferralOut:
    """One referral; its sealed details are opened for an officer who acts on referrals,
    while the referral is active, with the key the cases service releases for it."""
    with Session(context.engine) as session:
        referral = session.get(InboxReferral, referral_id)
    province = referral.province_code if referral else None
    grant.require_province(province, resource_id=referral_id, what="referral")
    assert referral is not None
    out = _out(referral, datetime.now(UTC))
    if out.details_status == "sealed":
        out = _opened(out, referral, grant, token, context)
    if out.details_status == "opened":
        response.headers["Cache-Control"] = "no-store"
        detail = f"referral shown with details: {', '.join(sorted(out.details))}"
    else:
        detail = f"referral shown, details {out.details_status}"
    _audit_read(context, grant, referral_id, detail)
    return out


@router.post("/{referral_id}/acknowledge", response_model=InboxReferralOut)
def acknowledge(
    referral_id: str, body: VersionedAction, grant: Granted, context: Context
) -> InboxReferralOut:
    return _act(ReferralAcknowledged, referral_id, body, grant, context)


@router.post("/{referral_id}/accept", response_model=InboxReferralOut)
def accept(
    referral_id: str, body: VersionedAction, grant: Granted, context: Context
) -> InboxReferralOut:
    return _act(ReferralAccepted, referral_id, body, grant, context)


@router.post("/{referral_id}/reject", response_model=InboxReferralOut)
def reject(referral_id: str, body: Rejection, grant: Granted, context: Context) -> InboxReferralOut:
    return _act(ReferralRejected, referral_id, body, grant, context, reason=body.reason)


@router.post("/{referral_id}/start", response_model=InboxReferralOut)
def start(
    referral_id: str, body: VersionedAction, grant: Granted, context: Context
) -> InboxReferralOut:
    return _act(ReferralStarted, referral_id, body, grant, context)


@router.post("/{referral_id}/hold", response_model=InboxReferralOut)
def hold(referral_id: str, body: WithReason, grant: Granted, context: Context) -> InboxReferralOut:
    return _act(ReferralHeld, referral_id, body, grant, context, reason=body.reason)


@router.post("/{referral_id}/resume", response_model=InboxReferralOut)
def resume(
    referral_id: str, body: VersionedAction, grant: Granted, context: Context
) -> InboxReferralOut:
    return _act(ReferralResumed, referral_id, body, grant, context)


@router.post("/{referral_id}/complete", response_model=InboxReferralOut)
def complete(
    referral_id: str, body: Completion, grant: Granted, context: Context
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
    return _act(ReferralCompleted, referral_id, body, grant, context, outcome=body.outcome)


@router.post("/{referral_id}/fail", response_model=InboxReferralOut)
def fail(referral_id: str, body: WithReason, grant: Granted, context: Context) -> InboxReferralOut:
    return _act(ReferralFailed, referral_id, body, grant, context, reason=body.reason)


@router.post("/{referral_id}/transfer", response_model=InboxReferralOut)
def transfer(
    referral_id: str, body: Transfer, grant: Granted, context: Context
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
        grant,
        context,
        to_agency=body.to_agency,
        reason=body.reason,
    )


def _act(
    action_type: type[ReferralAction],
    referral_id: str,
    body: VersionedAction,
    grant: Grant,
    context: AgencyContext,
    **extra: Any,
) -> InboxReferralOut:
    officer = grant.officer
    with unit_of_work(
        context.engine,
        source=f"/agencies/{context.agency}",
        correlation_id=current_correlation_id(),
    ) as uow:
        referral = uow.session.get(InboxReferral, referral_id)
        province = referral.province_code if referral else None
        grant.require_province(province, resource_id=referral_id, what="referral")
        assert referral is not None
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
            updated = handlers.act_on_referral(uow, action, agency=context.agency)
        except handlers.ReferralNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "referral not found") from None
        except (StaleVersion, ForbiddenTransition) as conflict:
            raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from None
        stage_audit(
            uow,
            officer,
            service=f"agencies-{context.agency}",
            action=grant.rule.action,
            resource_type=grant.rule.resource,
            resource_id=referral_id,
            detail=action.ce_type,
        )
        return _out(updated, datetime.now(UTC))


def _audit_read(context: AgencyContext, grant: Grant, resource_id: str, detail: str) -> None:
    record_audit(
        context.engine,
        grant.officer,
        service=f"agencies-{context.agency}",
        action=grant.rule.action,
        resource_type=grant.rule.resource,
        resource_id=resource_id,
        detail=detail,
    )


def _opened(
    out: InboxReferralOut,
    referral: InboxReferral,
    grant: Grant,
    token: str,
    context: AgencyContext,
) -> InboxReferralOut:
    """Open the sealed details for this officer, or say why not (never a plaintext guess)."""
    if not grant.shows_identity():
        return _withheld(out, "withheld", "your role does not open a child's details")
    if ReferralState(referral.state) in _ENDED:
        return _withheld(out, "withheld", "the referral has ended")
    if context.view_keys is None:
        return _withheld(out, "unavailable", "this inbox is not connected to the cases service")
    try:
        released = context.view_keys.release(
            token, case_id=referral.case_id, referral_id=referral.id
        )
        details = open_view(
            released.key, case_id=referral.case_id, agency=context.agency, tokens=referral.details
        )
    except ViewKeyRefused as refused:
        return _withheld(out, refused.status, refused.message)
    except DecryptionError:
        logger.warning("referral details do not open with the released key")
        return _withheld(out, "unavailable", "the details cannot be opened")
    return out.model_copy(update={"details": details, "details_status": "opened"})


def _withheld(out: InboxReferralOut, status: DetailsStatus, note: str) -> InboxReferralOut:
    return out.model_copy(update={"details": {}, "details_status": status, "details_note": note})


def _out(referral: InboxReferral, now: datetime) -> InboxReferralOut:
    """The referral with its details still sealed (they open only in `read_referral`)."""
    due = aware(referral.due_at)
    is_open = ReferralState(referral.state) in OPEN_STATES
    out = InboxReferralOut.model_validate(referral)
    overdue = is_open and due is not None and due < now
    status: DetailsStatus = "sealed" if referral.details else "none"
    if referral.identity_erased_at is not None:
        status = "erased"
    return out.model_copy(update={"overdue": overdue, "details": {}, "details_status": status})
