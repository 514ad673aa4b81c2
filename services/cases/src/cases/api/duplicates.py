"""Probable duplicates for coordinators: list, confirm (merge) or reject."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import Session, col, select

from cases import handlers
from cases.adapters.store import SqlStore
from cases.adapters.tables import DuplicateLink
from cases.api.deps import Context, run_audited
from cases.api.schemas import DuplicateLinkOut
from chassis.access import Grant, Granted
from chassis.api import Offset, error_responses
from chassis.unit_of_work import UnitOfWork

router = APIRouter(prefix="/duplicates", tags=["duplicates"])
LinkStatus = Literal["open", "confirmed", "rejected"]


@router.get("", response_model=list[DuplicateLinkOut])
def list_links(
    grant: Granted,
    context: Context,
    status_: Annotated[LinkStatus, Query(alias="status")] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> list[DuplicateLinkOut]:
    """Links in the coordinator's provinces; they carry case ids, never names."""
    provinces = grant.visible_provinces()

    def act(uow: UnitOfWork) -> list[DuplicateLinkOut]:
        query = select(DuplicateLink).where(DuplicateLink.status == status_)
        if provinces is not None:
            query = query.where(col(DuplicateLink.province_code).in_(provinces))
        query = query.order_by(col(DuplicateLink.created_at), col(DuplicateLink.id))
        rows = uow.session.exec(query.offset(offset).limit(limit)).all()
        return [DuplicateLinkOut.model_validate(row, from_attributes=True) for row in rows]

    return run_audited(context, grant, act, "*")


_DECIDED = error_responses({409: "The link was already decided, or a case was merged."})


@router.post("/{link_id}/confirm", response_model=DuplicateLinkOut, responses=_DECIDED)
def confirm(link_id: str, grant: Granted, context: Context) -> DuplicateLinkOut:
    """The two reports are one child: the newer case is merged into the older one."""
    return _decide(link_id, grant, context, confirm=True)


@router.post("/{link_id}/reject", response_model=DuplicateLinkOut, responses=_DECIDED)
def reject(link_id: str, grant: Granted, context: Context) -> DuplicateLinkOut:
    return _decide(link_id, grant, context, confirm=False)


def _decide(link_id: str, grant: Grant, context: Context, *, confirm: bool) -> DuplicateLinkOut:
    with Session(context.engine) as session:
        link = session.get(DuplicateLink, link_id)
    province = link.province_code if link else None
    grant.require_province(province, resource_id=link_id, what="duplicate link")

    def act(uow: UnitOfWork) -> DuplicateLinkOut:
        current = uow.session.get(DuplicateLink, link_id, with_for_update=True)
        assert current is not None
        handlers.decide_duplicate(
            SqlStore(uow),
            current,
            confirm=confirm,
            actor=grant.officer.subject,
            now=datetime.now(UTC),
        )
        return DuplicateLinkOut.model_validate(current, from_attributes=True)

    detail = "merge confirmed" if confirm else "not the same child"
    try:
        return run_audited(context, grant, act, link_id, detail=detail)
    except handlers.LinkClosed as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
