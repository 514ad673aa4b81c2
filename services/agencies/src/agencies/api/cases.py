"""`POST /cases`: an agency reports a case it detected (interface C).

The child's identity, workplace and summary are sealed here, to the cases service's intake
public key, before anything is stored: the outbox row, the topic and any dead-letter copy
hold them only sealed, and this service could not open them again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from agencies import handlers
from agencies.api.deps import Context
from chassis.access import Granted
from chassis.audit import stage_audit
from chassis.logs import current_correlation_id
from chassis.unit_of_work import unit_of_work
from contracts.agencies.v1 import (
    CaseReported,
    ReportedChild,
    ReportedIdentity,
    ReportedWorkplace,
)
from contracts.vocabulary import CaseType, Channel, RiskLevel

router = APIRouter(prefix="/cases", tags=["case reports"])


class CaseReport(BaseModel):
    """What an officer records about a case the agency detected."""

    model_config = ConfigDict(extra="forbid")

    case_id: uuid.UUID | None = Field(
        default=None, description="Choose it to make a resend safe; generated when omitted."
    )
    channel: Channel = Field(description="Intake channel, e.g. police or labour_inspection.")
    case_type: CaseType
    risk_level: RiskLevel
    province_code: str = Field(pattern=r"^\d{2}$")
    commune_code: str = Field(pattern=r"^\d{5}$")
    child: ReportedChild
    workplace: ReportedWorkplace | None = None
    employer_identified: bool = False
    out_of_school: bool = False
    signs_of_forced_labour: bool = False
    child_consented: bool | None = None
    guardian_consented: bool = False
    legal_override_reason: str | None = Field(default=None, max_length=500)
    summary: str | None = Field(default=None, max_length=4000)


class CaseReportAccepted(BaseModel):
    case_id: str
    status: str = "reported"


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=CaseReportAccepted)
def report_case(body: CaseReport, grant: Granted, context: Context) -> CaseReportAccepted:
    """Sent to the cases service on this agency's updates topic (through the outbox)."""
    grant.require_province(body.province_code, resource_id="new")
    officer = grant.officer
    case_id = str(body.case_id or uuid.uuid4())
    identity = ReportedIdentity(child=body.child, workplace=body.workplace, summary=body.summary)
    try:
        sealer = context.intake_sealer()
    except (FileNotFoundError, ValueError) as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"cannot seal the report: {error}"
        ) from None
    sealed = sealer.seal(
        identity.model_dump_json(), context=ReportedIdentity.context(case_id, context.agency)
    )
    report = CaseReported(
        **body.model_dump(exclude={"case_id", "child", "workplace", "summary"}),
        sealed_identity=sealed,
        case_id=case_id,
        agency=context.agency,
        reported_by=officer.subject,
        reported_at=datetime.now(UTC),
    )
    with unit_of_work(
        context.engine,
        source=f"/agencies/{context.agency}",
        correlation_id=current_correlation_id(),
    ) as uow:
        handlers.report_case(uow, report, agency=context.agency)
        stage_audit(
            uow,
            officer,
            service=f"agencies-{context.agency}",
            action=grant.rule.action,
            resource_type=grant.rule.resource,
            resource_id=case_id,
            detail="case reported by the agency",
        )
    return CaseReportAccepted(case_id=case_id)
