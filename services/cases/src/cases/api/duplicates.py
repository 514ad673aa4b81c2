"""Probable duplicates for coordinators: list, confirm (merge) or reject."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import Session, col, select

from cases import handlers
from cases.adapters.tables import DuplicateLink
from cases.api.context import Context, run_audited
from cases.api.schemas import DuplicateLinkOut
from cases.domain import access
from cases.domain.access import Access
from chassis.auth import CurrentPrincipal, Principal
from chassis.unit_of_work import UnitOfWork
from contracts.vocabulary import AuditAction

router = APIRouter(prefix="/duplicates", tags=["duplicates"])
LinkStatus = Literal["open", "confirmed", "rejected"]


@router.get("", response_model=list[DuplicateLinkOut])
def list_links(
    principal: CurrentPrincipal,
    context: Context,
    status_: Annotated[LinkStatus, Query(alias="status")] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DuplicateLinkOut]:
    """Links in the coordinator's provinces; they carry case ids, never names."""
    decision = access.list_access(
        principal,
        owner_agency=context.deps.owner_agency,
        province_code=None,
        roles=access.DUPLICATE_ROLES,
    )

    def act(uow: UnitOfWork) -> list[DuplicateLinkOut]:
        query = select(DuplicateLink).where(DuplicateLink.status == status_)
        if "*" not in principal.provinces:
            query = query.where(col(DuplicateLink.province_code).in_(principal.provinces))
        query = query.order_by(col(DuplicateLink.created_at), col(DuplicateLink.id))
        rows = uow.session.exec(query.offset(offset).limit(limit)).all()
        return [DuplicateLinkOut.model_validate(row, from_attributes=True) for row in rows]

    return run_audited(context, principal, decision, AuditAction.READ, "duplicate_link", act, "*")


@router.post("/{link_id}/confirm", response_model=DuplicateLinkOut)
def confirm(link_id: str, principal: CurrentPrincipal, context: Context) -> DuplicateLinkOut:
    """The two reports are one child: the newer case is merged into the older one."""
    return _decide(link_id, principal, context, confirm=True)


@router.post("/{link_id}/reject", response_model=DuplicateLinkOut)
def reject(link_id: str, principal: CurrentPrincipal, context: Context) -> DuplicateLinkOut:
    return _decide(link_id, principal, context, confirm=False)


def _decide(
    link_id: str, principal: Principal, context: Context, *, confirm: bool
) -> DuplicateLinkOut:
    with Session(context.engine) as session:
        link = session.get(DuplicateLink, link_id)
    decision = _decision(principal, context, link.province_code if link else None)

    def act(uow: UnitOfWork) -> DuplicateLinkOut:
        current = uow.session.get(DuplicateLink, link_id, with_for_update=True)
        assert current is not None
        handlers.decide_duplicate(
            uow, current, confirm=confirm, actor=principal.subject, now=datetime.now(UTC)
        )
        return DuplicateLinkOut.model_validate(current, from_attributes=True)

    detail = "merge confirmed" if confirm else "not the same child"
    try:
        return run_audited(
            context,
            principal,
            decision,
            AuditAction.UPDATE,
            "duplicate_link",
            act,
            link_id,
            detail=detail,
        )
    except handlers.LinkClosed as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None


def _decision(principal: Principal, context: Context, province: str | None) -> Access:
    return access.case_access(
        principal,
        owner_agency=context.deps.owner_agency,
        province_code=province,
        roles=access.DUPLICATE_ROLES,
    )
