"""Routes of the cases API: thin — validate, authorise, call the handler, map errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cases import handlers
from cases.adapters.tables import CaseRecord, CaseReferral
from cases.api.schemas import CaseAccepted, CaseOut, CaseReferralOut, CaseReportIn, ChildOut
from cases.domain.commands import ChildIdentity, RecordCase
from cases.domain.intake import ConsentRecord
from chassis.auth import CurrentPrincipal, Principal
from chassis.crypto import FieldCipher
from chassis.logs import current_correlation_id
from chassis.unit_of_work import unit_of_work
from contracts.cases.v1 import CaseCircumstances

INTAKE_ROLES = ("intake", "case_worker")


@dataclass(frozen=True)
class CasesContext:
    engine: Engine
    cipher: FieldCipher
    owner_agency: str


def _context(request: Request) -> CasesContext:
    context: CasesContext = request.app.state.cases
    return context


Context = Annotated[CasesContext, Depends(_context)]
router = APIRouter(prefix="/cases", tags=["cases"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseAccepted)
def report_case(body: CaseReportIn, principal: CurrentPrincipal, context: Context) -> CaseAccepted:
    if not principal.has_role(*INTAKE_ROLES):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "reporting a case needs an intake role")
    if not principal.serves_province(body.province_code):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "province_code is outside your provinces")
    with unit_of_work(
        context.engine, source="/cases", correlation_id=current_correlation_id()
    ) as uow:
        record = handlers.record_case(
            uow,
            _command(body, principal),
            cipher=context.cipher,
            owner_agency=context.owner_agency,
        )
    return CaseAccepted(case_id=record.id, status=record.status, received_at=record.received_at)


@router.get("/{case_id}", response_model=CaseOut)
def get_case(case_id: str, principal: CurrentPrincipal, context: Context) -> CaseOut:
    with Session(context.engine) as session:
        record = session.get(CaseRecord, case_id)
        referrals = session.exec(select(CaseReferral).where(CaseReferral.case_id == case_id)).all()
    # Another province's case is reported as missing: its existence is not disclosed.
    if record is None or not principal.serves_province(record.province_code):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "case not found")
    child = None
    if principal.agency == record.owner_agency and principal.has_role("case_worker"):
        child = _identity(record, context.cipher)
    out = CaseOut.model_validate(record, from_attributes=True)
    return out.model_copy(
        update={
            "child": child,
            "referrals": [
                CaseReferralOut.model_validate(r, from_attributes=True) for r in referrals
            ],
        }
    )


def _identity(record: CaseRecord, cipher: FieldCipher) -> ChildOut:
    def open_(field: str, token: str | None) -> str | None:
        return cipher.decrypt(token, context=f"case:{record.id}:{field}") if token else None

    dob = open_("date_of_birth", record.date_of_birth_enc)
    return ChildOut(
        full_name=open_("child_name", record.child_name_enc) or "",
        date_of_birth=date.fromisoformat(dob) if dob else None,
    )


def _command(body: CaseReportIn, principal: Principal) -> RecordCase:
    return RecordCase(
        channel=body.channel,
        case_type=body.case_type,
        risk_level=body.risk_level,
        province_code=body.province_code,
        commune_code=body.commune_code,
        child=ChildIdentity(**body.child.model_dump()),
        circumstances=CaseCircumstances(**body.circumstances.model_dump()),
        consent=ConsentRecord(**body.consent.model_dump()),
        summary=body.summary,
        reported_by=principal.subject,
        received_at=datetime.now(UTC),
    )
