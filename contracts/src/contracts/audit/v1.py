"""Audit events, version 1: who read or changed which case or referral. No identity."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Self

from pydantic import Field

from contracts.base import EventModel
from contracts.identifiers import AgencyCode
from contracts.vocabulary import AuditAction, AuditOutcome


class AuditRecorded(EventModel):
    """One read or write of a case or referral, allowed or denied."""

    ce_type: ClassVar[str] = "vn.lienganh.audit.recorded.v1"

    actor: str = Field(description="Subject of the caller; the partition key.")
    actor_agency: AgencyCode = Field(description="Agency of the caller.")
    action: AuditAction = Field(description="read, create, update or export.")
    resource_type: str = Field(description="case, referral, duplicate_link, report, …")
    resource_id: str = Field(description="Opaque id of the resource (never a name).")
    outcome: AuditOutcome = Field(description="Whether access was allowed.")
    detail: str | None = Field(default=None, description="What was done, without identity.")
    service: str = Field(description="The service that served the request.")
    occurred_at: datetime = Field(description="When it happened (UTC).")

    def partition_key(self) -> str:
        return self.actor

    @classmethod
    def example(cls) -> AuditRecorded:
        return cls(
            actor="dolisa-caseworker-hn-01",
            actor_agency="dolisa",
            action=AuditAction.READ,
            resource_type="case",
            resource_id="0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
            outcome=AuditOutcome.ALLOWED,
            detail="identity shown",
            service="cases",
            occurred_at=datetime.fromisoformat("2026-11-02T09:00:00+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "denied": cls.example_with(
                actor="education-officer-hcm-02",
                actor_agency="education",
                action=AuditAction.READ,
                resource_type="referral",
                resource_id="5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
                outcome=AuditOutcome.DENIED,
                detail="other province",
                service="agencies",
            )
        }
