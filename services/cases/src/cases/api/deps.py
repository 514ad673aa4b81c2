"""What every cases route needs: the service context, and audited execution. Who may call
a route, and in which provinces, is the access policy's (`chassis.access`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException
from sqlalchemy.engine import Engine

from cases.handlers import CaseDeps, CaseNotFound
from chassis.access import Grant
from chassis.logs import current_correlation_id
from chassis.service_context import context_of
from chassis.unit_of_work import UnitOfWork, unit_of_work

T = TypeVar("T")


@dataclass(frozen=True)
class CasesContext:
    engine: Engine
    deps: CaseDeps
    # How long a completed or failed referral keeps opening the identity (0: not at all).
    identity_grace: timedelta = timedelta(0)


Context = Annotated[CasesContext, Depends(context_of(CasesContext))]


def run_audited(
    context: CasesContext,
    grant: Grant,
    act: Callable[[UnitOfWork], T],
    resource_id: str | Callable[[T], str],
    *,
    detail: str | None = None,
) -> T:
    """Run `act` in one transaction with its audit record; a case that vanished meanwhile
    is a 404."""
    try:
        with unit_of_work(
            context.engine, source="/cases", correlation_id=current_correlation_id()
        ) as uow:
            result = act(uow)
            grant.audit(
                uow,
                resource_id if isinstance(resource_id, str) else resource_id(result),
                detail=detail,
            )
    except CaseNotFound:
        raise HTTPException(404, "case not found") from None
    return result
