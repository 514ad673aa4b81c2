"""Audit trail: every read and write of a case, allowed or denied, on `audit.events.v1`."""

from __future__ import annotations

from chassis.audit import stage_audit
from chassis.auth import Principal
from chassis.unit_of_work import UnitOfWork
from contracts.vocabulary import AuditAction, AuditOutcome

SERVICE = "cases"


def record_access(
    uow: UnitOfWork,
    principal: Principal,
    action: AuditAction,
    resource_type: str,
    resource_id: str,
    *,
    allowed: bool = True,
    detail: str | None = None,
) -> None:
    """Staged in the same transaction as the effect, so no write goes unaudited."""
    stage_audit(
        uow,
        principal,
        service=SERVICE,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=AuditOutcome.ALLOWED if allowed else AuditOutcome.DENIED,
        detail=detail,
    )
