"""Aggregated figures; any signed-in user may read them (no identities here)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from chassis.auth import CurrentPrincipal
from reporting.queries import Summary, summary

router = APIRouter(tags=["reports"])


@router.get("/summary", response_model=Summary)
def get_summary(principal: CurrentPrincipal, request: Request) -> Summary:
    return summary(request.app.state.engine)
