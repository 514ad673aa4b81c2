"""Inbox routes: list and read referrals, and act on them with the version seen."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlmodel import Session, col, select

from agencies import handlers
from agencies.adapters.store import SqlStore
from agencies.adapters.tables import InboxReferral
from agencies.adapters.view_keys import ViewKeyRefused
from agencies.api.deps import AgencyContext, Context
from agencies.api.schemas import (
    Completion,
    DetailsStatus,
    InboxReferralOut,
    Rejection,
    Transfer,
    VersionedAction,
    WithReason,
)
from agencies.domain.actions import ForbiddenTransition, StaleVersion
from chassis.access import Grant, Granted
from chassis.api import Offset, error_responses, invalid
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
    ReferralRejected,
    ReferralResumed,
    ReferralStarted,
    ReferralTransferred,
)
from contracts.referrals.lifecycle import OPEN_STATES
from contracts.vocabulary import ReferralState

router = APIRouter(prefix="/referrals", tags=["inbox"])
logger = logging.getLogger(__name__)

# Referrals this agency gave up or never took: their details stop opening at once.
_ENDED = frozenset({ReferralState.REJECTED, ReferralState.CANCELLED})


# What `_act` answers beyond the access policy's refusals and the 422s.
_ACTION_ERRORS = error_responses(
    {409: "The version is stale (read the referral again), or its state forbids the action."}
)


@router.get("", response_model=list[InboxReferralOut])
def list_inbox(
    grant: Granted,
    context: Context,
    state: ReferralState | None = None,
    province_code: str | None = Query(default=None, pattern=r"^\d{2}$"),
    overdue: bool | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: Offset = 0,
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
    grant.audit_read(
        context.engine, "inbox", detail=f"listed {len(rows)} referrals, details sealed"
    )
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
    grant.audit_read(context.engine, referral_id, detail=detail)
    return out


@router.post(
    "/{referral_id}/acknowledge", response_model=InboxReferralOut, responses=_ACTION_ERRORS
)
def acknowledge(
    referral_id: str, body: VersionedAction, grant: Granted, context: Context
) -> InboxReferralOut:
    return _act(ReferralAcknowledged, referral_id, body, grant, context)


@router.post("/{referral_id}/accept", response_model=InboxReferralOut, responses=_ACTION_ERRORS)
def accept(
    referral_id: str, body: VersionedAction, grant: Granted, context: Context
) -> InboxReferralOut:
    return _act(ReferralAccepted, referral_id, body, grant, context)


@router.post("/{referral_id}/reject", response_model=InboxReferralOut, responses=_ACTION_ERRORS)
def reject(referral_id: str, body: Rejection, grant: Granted, context: Context) -> InboxReferralOut:
    return _act(ReferralRejected, referral_id, body, grant, context, reason=body.reason)


@router.post("/{referral_id}/start", response_model=InboxReferralOut, responses=_ACTION_ERRORS)
def start(
    referral_id: str, body: VersionedAction, grant: Granted, context: Context
) -> InboxReferralOut:
    return _act(ReferralStarted, referral_id, body, grant, context)


@router.post("/{referral_id}/hold", response_model=InboxReferralOut, responses=_ACTION_ERRORS)
def hold(referral_id: str, body: WithReason, grant: Granted, context: Context) -> InboxReferralOut:
    return _act(ReferralHeld, referral_id, body, grant, context, reason=body.reason)


@router.post("/{referral_id}/resume", response_model=InboxReferralOut, responses=_ACTION_ERRORS)
def resume(
    referral_id: str, body: VersionedAction, grant: Granted, context: Context
) -> InboxReferralOut:
    return _act(ReferralResumed, referral_id, body, grant, context)


@router.post("/{referral_id}/complete", response_model=InboxReferralOut, responses=_ACTION_ERRORS)
def complete(
    referral_id: str, body: Completion, grant: Granted, context: Context
) -> InboxReferralOut:
    problems = context.profile.outcome_problems(body.outcome)
    if problems:
        raise invalid(
            *(f"outcome.{name}" for name in problems),
            message=f"{context.agency} does not report this; it reports "
            f"{', '.join(context.profile.outcome_fields) or 'a note only'}",
            kind="outcome_field",
        )
    return _act(ReferralCompleted, referral_id, body, grant, context, outcome=body.outcome)


@router.post("/{referral_id}/fail", response_model=InboxReferralOut, responses=_ACTION_ERRORS)
def fail(referral_id: str, body: WithReason, grant: Granted, context: Context) -> InboxReferralOut:
    return _act(ReferralFailed, referral_id, body, grant, context, reason=body.reason)


@router.post("/{referral_id}/transfer", response_model=InboxReferralOut, responses=_ACTION_ERRORS)
def transfer(
    referral_id: str, body: Transfer, grant: Granted, context: Context
) -> InboxReferralOut:
    if agency_registry().get(body.to_agency) is None or body.to_agency == context.agency:
        others = (c for c in agency_registry().codes() if c != context.agency)
        raise invalid(
            "to_agency",
            message="must be another agency of the registry: " + ", ".join(others),
            kind="unknown_agency",
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
            updated = handlers.act_on_referral(SqlStore(uow), action, agency=context.agency)
        except handlers.ReferralNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "referral not found") from None
        except (StaleVersion, ForbiddenTransition) as conflict:
            raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from None
        grant.audit(uow, referral_id, detail=action.ce_type)
        return _out(updated, datetime.now(UTC))


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
