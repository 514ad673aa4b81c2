"""Audit trail: one `AuditRecorded` per read or write of a case or referral (ARCHITECTURE §7).

Staged in the outbox of the caller's transaction, so the audit record and the effect commit
together; a denied attempt is recorded in a transaction of its own. Every record carries a
correlation id (the request's or event's, else the trace's: see `chassis.unit_of_work`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from chassis.auth import Principal
from chassis.unit_of_work import UnitOfWork, event_source, unit_of_work
from contracts.audit.v1 import AuditRecorded
from contracts.topics import AUDIT_EVENTS
from contracts.vocabulary import AuditAction, AuditOutcome


def stage_audit(
    uow: UnitOfWork,
    principal: Principal,
    *,
    service: str,
    action: AuditAction,
    resource_type: str,
    resource_id: str,
    outcome: AuditOutcome = AuditOutcome.ALLOWED,
    detail: str | None = None,
) -> None:
    uow.publish(
        AuditRecorded(
            actor=principal.subject,
            actor_agency=principal.agency,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=outcome,
            detail=detail,
            service=service,
            occurred_at=datetime.now(UTC),
        ),
        topic=AUDIT_EVENTS,
    )


def record_audit(engine: Engine, principal: Principal, **fields: object) -> None:
    """The same, in its own transaction (reads, and attempts that were denied)."""
    with unit_of_work(engine, source=event_source(str(fields["service"]))) as uow:
        stage_audit(uow, principal, **fields)  # type: ignore[arg-type]
