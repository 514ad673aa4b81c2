"""The cases service's tables. Identity columns hold AES-GCM tokens, never plaintext."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class CaseRecord(SQLModel, table=True):
    __tablename__ = "cases"

    id: str = Field(primary_key=True, max_length=36)
    case_type: str = Field(index=True)
    channel: str
    risk_level: str
    status: str = Field(index=True)
    province_code: str = Field(index=True, max_length=2)
    commune_code: str = Field(max_length=5)
    sex: str
    age_band: str
    employer_identified: bool = False
    out_of_school: bool = False
    signs_of_forced_labour: bool = False
    consent_basis: str
    legal_override_reason: str | None = None
    owner_agency: str
    reported_by: str
    received_at: datetime
    # Encrypted identity (tokens carry their key id, so keys can rotate).
    child_name_enc: str
    date_of_birth_enc: str | None = None
    address_enc: str | None = None
    phone_enc: str | None = None
    guardian_name_enc: str | None = None
    summary_enc: str | None = None


class CaseReferral(SQLModel, table=True):
    """The case's view of each referral it fanned out to, fed by `referrals.events.v1`."""

    __tablename__ = "case_referrals"

    referral_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    agency: str
    lead: bool
    state: str
    version: int
