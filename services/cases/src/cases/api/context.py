"""What every route needs: the service context, audited execution, field-named 422s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.engine import Engine

from cases.adapters import audit
from cases.domain.access import Access
from cases.handlers import CaseDeps, CaseNotFound
from chassis.auth import Principal
from chassis.logs import current_correlation_id
from chassis.unit_of_work import UnitOfWork, unit_of_work
from contracts.vocabulary import AuditAction

T = TypeVar("T")


@dataclass(frozen=True)
class CasesContext:
    engine: Engine
    deps: CaseDeps
    # How long a completed or failed referral keeps opening the identity (0: not at all).
    identity_grace: timedelta = timedelta(0)


def _context(request: Request) -> CasesContext:
    context: CasesContext = request.app.state.cases
    return context


Context = Annotated[CasesContext, Depends(_context)]


def invalid(*fields: str, message: str) -> RequestValidationError:
    """A 422 in the chassis format, naming each body field (dotted path)."""
    return RequestValidationError(
        [
            {"loc": ("body", *field.split(".")), "msg": message, "type": "value_error"}
            for field in fields
        ]
    )


def run_audited(
    context: CasesContext,
    principal: Principal,
    decision: Access,
    action: AuditAction,
    resource_type: str,
    act: Callable[[UnitOfWork], T],
    resource_id: str | Callable[[T], str],
    *,
    detail: str | None = None,
) -> T:
    """Run `act` in one transaction with its audit event, or audit the denial and refuse."""
    source = "/cases"
    if decision is not Access.ALLOWED:
        denied_id = resource_id if isinstance(resource_id, str) else "new"
        with unit_of_work(
            context.engine, source=source, correlation_id=current_correlation_id()
        ) as uow:
            audit.record_access(
                uow,
                principal,
                action,
                resource_type,
                denied_id,
                allowed=False,
                detail=decision.name.lower(),
            )
        raise _refusal(decision, action, resource_type)
    try:
        with unit_of_work(
            context.engine, source=source, correlation_id=current_correlation_id()
        ) as uow:
            result = act(uow)
            rid = resource_id if isinstance(resource_id, str) else resource_id(result)
            audit.record_access(uow, principal, action, resource_type, rid, detail=detail)
    except CaseNotFound:
        raise HTTPException(404, "case not found") from None
    return result


def _refusal(decision: Access, action: AuditAction, resource_type: str) -> HTTPException:
    if decision is Access.HIDDEN:
        return HTTPException(404, f"{resource_type.replace('_', ' ')} not found")
    if decision is Access.CLOSED:
        return HTTPException(403, "the referral has ended: the identity no longer opens for it")
    if decision is Access.ERASED:
        return HTTPException(410, "the child's identity was erased")
    return HTTPException(
        403, f"your agency or role may not {action.value} this {resource_type.replace('_', ' ')}"
    )
