"""Contracts → domain: an agency's `CaseReported` event (its sealed identity opened) as an
intake command."""

from __future__ import annotations

from cases.domain.commands import ChildIdentity, RecordCase, Workplace
from cases.domain.intake import ConsentRecord
from contracts.agencies.v1 import CaseReported, ReportedIdentity
from contracts.cases.v1 import CaseCircumstances


def record_case_from_report(event: CaseReported, identity: ReportedIdentity) -> RecordCase:
    child = identity.child
    workplace = identity.workplace
    return RecordCase(
        case_id=event.case_id,
        channel=event.channel,
        case_type=event.case_type,
        risk_level=event.risk_level,
        province_code=event.province_code,
        commune_code=event.commune_code,
        child=ChildIdentity(
            full_name=child.full_name,
            date_of_birth=child.date_of_birth,
            sex=child.sex,
            address=child.address,
            phone=child.phone,
            guardian_name=child.guardian_name,
            guardian_phone=child.guardian_phone,
        ),
        workplace=Workplace(**workplace.model_dump()) if workplace else None,
        circumstances=CaseCircumstances(
            employer_identified=event.employer_identified,
            out_of_school=event.out_of_school,
            signs_of_forced_labour=event.signs_of_forced_labour,
        ),
        consent=ConsentRecord(
            child_consented=event.child_consented,
            guardian_consented=event.guardian_consented,
            legal_override_reason=event.legal_override_reason,
        ),
        summary=identity.summary,
        reported_by=event.reported_by,
        received_at=event.reported_at,
    )
