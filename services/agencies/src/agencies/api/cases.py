"""`POST /cases`: an agency reports a case it detected (interface C).

The child's identity, workplace and summary are sealed here, to the cases service's intake
public key, before anything is stored: the outbox row, the topic and any dead-letter copy
hold them only sealed, and this service could not open them again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status

from agencies import handlers
from agencies.api.deps import Context
from agencies.api.schemas import CaseReport, CaseReportAccepted
from chassis.access import Granted
from chassis.api import error_responses
from chassis.logs import current_correlation_id
from chassis.unit_of_work import unit_of_work
from contracts.agencies.v1 import (
    CaseReported,
    ReportedIdentity,
)
from contracts.identifiers import new_id

router = APIRouter(prefix="/cases", tags=["case reports"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CaseReportAccepted,
    responses=error_responses(
        {503: "The cases service's intake key is not configured: nothing can be sealed."}
    ),
)
def report_case(body: CaseReport, grant: Granted, context: Context) -> CaseReportAccepted:
    """Sent to the cases service on this agency's updates topic (through the outbox)."""
    grant.require_province(body.province_code, resource_id="new")
    officer = grant.officer
    case_id = str(body.case_id) if body.case_id else new_id()
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
        grant.audit(uow, case_id, detail="case reported by the agency")
    return CaseReportAccepted(case_id=case_id)
