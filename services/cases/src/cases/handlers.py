"""One function per command or event of the cases service."""

from __future__ import annotations

import uuid

from cases.adapters.tables import CaseRecord, CaseReferral
from cases.domain.commands import RecordCase
from cases.domain.intake import age_band, age_on, consent_basis
from chassis.crypto import FieldCipher
from chassis.unit_of_work import UnitOfWork
from contracts.cases.v1 import CaseReceived
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import CASES_EVENTS


def record_case(
    uow: UnitOfWork, command: RecordCase, *, cipher: FieldCipher, owner_agency: str
) -> CaseRecord:
    """Step 1 of the national process: the case is recorded and announced."""
    case_id = str(uuid.uuid4())
    child = command.child
    today = command.received_at.date()
    age = age_on(child.date_of_birth, today) if child.date_of_birth else None
    basis = consent_basis(command.consent, age)

    def seal(field: str, value: str | None) -> str | None:
        return cipher.encrypt(value, context=f"case:{case_id}:{field}") if value else None

    record = CaseRecord(
        id=case_id,
        case_type=command.case_type.value,
        channel=command.channel.value,
        risk_level=command.risk_level.value,
        status="received",
        province_code=command.province_code,
        commune_code=command.commune_code,
        sex=child.sex.value,
        age_band=age_band(child.date_of_birth, today).value,
        employer_identified=command.circumstances.employer_identified,
        out_of_school=command.circumstances.out_of_school,
        signs_of_forced_labour=command.circumstances.signs_of_forced_labour,
        consent_basis=basis.value,
        legal_override_reason=command.consent.legal_override_reason,
        owner_agency=owner_agency,
        reported_by=command.reported_by,
        received_at=command.received_at,
        child_name_enc=seal("child_name", child.full_name) or "",
        date_of_birth_enc=seal(
            "date_of_birth", child.date_of_birth.isoformat() if child.date_of_birth else None
        ),
        address_enc=seal("address", child.address),
        phone_enc=seal("phone", child.phone),
        guardian_name_enc=seal("guardian_name", child.guardian_name),
        summary_enc=seal("summary", command.summary),
    )
    uow.session.add(record)
    uow.publish(
        CaseReceived(
            case_id=case_id,
            case_type=command.case_type,
            channel=command.channel,
            risk_level=command.risk_level,
            province_code=command.province_code,
            commune_code=command.commune_code,
            sex=child.sex,
            age_band=age_band(child.date_of_birth, today),
            circumstances=command.circumstances,
            consent_basis=basis,
            owner_agency=owner_agency,
            reported_by=command.reported_by,
            received_at=command.received_at,
        ),
        topic=CASES_EVENTS,
    )
    return record


def follow_referral(uow: UnitOfWork, event: ReferralStateChanged) -> None:
    """Keep the combined status of the case's referrals (newest version wins)."""
    row = uow.session.get(CaseReferral, event.referral_id)
    if row is not None and row.version >= event.version:
        return
    row = row or CaseReferral(
        referral_id=event.referral_id,
        case_id=event.case_id,
        agency=event.agency,
        lead=event.lead,
        state=event.to_state.value,
        version=event.version,
    )
    row.state = event.to_state.value
    row.version = event.version
    uow.session.add(row)
