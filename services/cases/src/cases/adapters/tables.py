"""The cases service's tables. Identity columns hold sealed tokens, never plaintext."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from chassis.timestamps import UtcDateTime

# Columns sealed under the case's own data key (`sv1.` tokens; cases stored before per-case
# keys hold keyring tokens until `rotate-keys` moves them). The AEAD context is
# "case:<id>:<field>", so a token copied to another row or column does not open.
SEALED_COLUMNS: dict[str, str] = {
    "child_name_enc": "child_name",
    "date_of_birth_enc": "date_of_birth",
    "address_enc": "address",
    "phone_enc": "phone",
    "guardian_name_enc": "guardian_name",
    "guardian_phone_enc": "guardian_phone",
    "workplace_name_enc": "workplace_name",
    "workplace_address_enc": "workplace_address",
    "employer_name_enc": "employer_name",
    "summary_enc": "summary",
}


class CaseRecord(SQLModel, table=True):
    __tablename__ = "cases"

    id: str = Field(primary_key=True, max_length=36)
    version: int = Field(default=1, description="Raised by every change; stale writes get 409.")
    case_type: str = Field(index=True)
    channel: str
    risk_level: str
    status: str = Field(index=True, description="Current step of the six-step process.")
    province_code: str = Field(index=True, max_length=2)
    commune_code: str = Field(max_length=5)
    sex: str
    age_band: str
    employer_identified: bool = False
    out_of_school: bool = False
    signs_of_forced_labour: bool = False
    industry: str | None = None  # a sector names no one
    consent_basis: str
    child_consented: bool | None = None
    guardian_consented: bool = False
    legal_override_reason: str | None = None
    owner_agency: str
    reported_by: str
    received_at: datetime = Field(sa_type=UtcDateTime)
    # Process state: needs and plan (comma-separated codes), closure.
    needs: str = ""
    plan_agencies: str = ""
    review_date: date | None = None
    closure_reason: str | None = None
    # Legal clocks: due times are durable, met/missed are set once (conditional updates).
    emergency_due_at: datetime | None = Field(default=None, index=True, sa_type=UtcDateTime)
    emergency_met_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    emergency_missed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    plan_due_at: datetime | None = Field(default=None, index=True, sa_type=UtcDateTime)
    plan_met_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    plan_missed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # Duplicates: keyed hashes (HMAC), never reversible; merged cases point at the kept one.
    # Candidates are looked up by the folded key alone: every exact match shares it. An
    # index on a keyed hash takes each new case on a page of its own, so a second one cost
    # an import a third more random page writes as the store grew.
    dedup_key: str | None = Field(default=None, max_length=64)
    dedup_key_folded: str | None = Field(default=None, index=True, max_length=64)
    merged_into: str | None = Field(default=None, max_length=36)
    # Set when an agency reported the case sealed to an intake key: that key id. Its copy on
    # the agency's topic is shredded when that intake key is retired.
    reported_under_key: str | None = Field(default=None, max_length=32)
    identity_erased_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # Sealed identity, all cleared on erasure.
    child_name_enc: str
    date_of_birth_enc: str | None = None
    address_enc: str | None = None
    phone_enc: str | None = None
    guardian_name_enc: str | None = None
    guardian_phone_enc: str | None = None
    workplace_name_enc: str | None = None
    workplace_address_enc: str | None = None
    employer_name_enc: str | None = None
    summary_enc: str | None = None


class CaseDataKey(SQLModel, table=True):
    """One case's data key, wrapped by the service keyring (envelope encryption).

    Rotation re-wraps these rows only. Erasure destroys the wrapped key: every copy sealed
    under it — this store, the topics, dead letters, agency inboxes — stops opening.
    """

    __tablename__ = "case_data_keys"

    case_id: str = Field(primary_key=True, max_length=36)
    wrapped_key: str | None = Field(default=None, description="Keyring token; None once erased.")
    created_at: datetime = Field(sa_type=UtcDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    erased_by: str | None = None


class CaseStageHistory(SQLModel, table=True):
    """Every step a case took: who, when, why."""

    __tablename__ = "case_stage_history"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=36)
    from_stage: str
    to_stage: str
    actor: str
    reason: str | None = None
    occurred_at: datetime = Field(sa_type=UtcDateTime)


class ConsentChange(SQLModel, table=True):
    """Every consent recorded for a case, including the one given at intake."""

    __tablename__ = "case_consent_history"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=36)
    consent_basis: str
    child_consented: bool | None
    guardian_consented: bool
    legal_override_reason: str | None = None
    actor: str
    occurred_at: datetime = Field(sa_type=UtcDateTime)


class CaseReferral(SQLModel, table=True):
    """The case's view of each referral it fanned out to, fed by `referrals.events.v1`."""

    __tablename__ = "case_referrals"

    referral_id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    agency: str
    lead: bool
    state: str
    version: int
    # When the current state began: identity stops opening a grace period after closure.
    state_since: datetime | None = Field(default=None, sa_type=UtcDateTime)


class DuplicateLink(SQLModel, table=True):
    """A probable duplicate for a coordinator: `case_id` (newer) may be `other_case_id`."""

    __tablename__ = "duplicate_links"
    __table_args__ = (UniqueConstraint("case_id", "other_case_id"),)

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(index=True, max_length=36)
    other_case_id: str = Field(index=True, max_length=36)
    province_code: str = Field(index=True, max_length=2)
    match: str
    status: str = Field(default="open", index=True)
    created_at: datetime = Field(sa_type=UtcDateTime)
    decided_by: str | None = None
    decided_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class ImportedRow(SQLModel, table=True):
    """Idempotency of bulk imports: one row key → the case it created."""

    __tablename__ = "imported_rows"

    row_key: str = Field(primary_key=True, max_length=64)
    case_id: str = Field(max_length=36)
    source: str
    imported_at: datetime = Field(sa_type=UtcDateTime)


class IntakeRequest(SQLModel, table=True):
    """A report (or batch) sent with an `Idempotency-Key`: its answer, replayed to a retry."""

    __tablename__ = "intake_requests"

    request_key: str = Field(primary_key=True, max_length=64)  # HMAC of caller and key
    fingerprint: str = Field(max_length=64)  # HMAC of the body: a reused key is refused
    answer: str  # the JSON answered: case ids, statuses and times, no identity
    received_at: datetime = Field(index=True, sa_type=UtcDateTime)
