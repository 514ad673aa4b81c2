"""Request and response bodies of the cases API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from cases.domain import geography
from cases.domain.commands import ChildIdentity, RecordCase, Workplace
from cases.domain.intake import ConsentRecord
from chassis.api import IsoDate
from contracts.agencies.v1 import OLDEST_BIRTH_YEARS, ChildBirthDate, PersonName
from contracts.cases.v1 import CaseCircumstances
from contracts.vocabulary import (
    AgeBand,
    CaseStage,
    CaseType,
    Channel,
    ConsentBasis,
    RiskLevel,
    Sex,
    SupportNeed,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChildIn(_Strict):
    """The child, by the same rules as an agency's report (`ReportedChild`)."""

    full_name: PersonName = Field(description="Child's full name (at least one letter).")
    date_of_birth: ChildBirthDate | None = Field(
        default=None,
        description=f"Known or estimated; not in the future, at most {OLDEST_BIRTH_YEARS} "
        "years ago.",
    )
    sex: Sex = Field(description="female, male or unknown.")
    address: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=30)
    guardian_name: PersonName | None = Field(default=None, description="Guardian.")
    guardian_phone: str | None = Field(default=None, max_length=30)


class WorkplaceIn(_Strict):
    name: str | None = Field(default=None, max_length=200, description="Workplace name.")
    address: str | None = Field(default=None, max_length=500, description="Its address.")
    employer_name: str | None = Field(default=None, max_length=200, description="Employer.")
    industry: str | None = Field(default=None, max_length=100, description="Sector.")


class CircumstancesIn(_Strict):
    employer_identified: bool = False
    out_of_school: bool = False
    signs_of_forced_labour: bool = False


class ConsentIn(_Strict):
    child_consented: bool | None = Field(
        default=None, description="The child's own consent (needed from age 7)."
    )
    guardian_consented: bool = Field(default=False, description="The guardian's consent.")
    legal_override_reason: str | None = Field(
        default=None, max_length=500, description="Legal ground to act without consent."
    )


class CaseReportIn(_Strict):
    """A report of a detected or suspected case, from any intake channel."""

    channel: Channel
    case_type: CaseType
    risk_level: RiskLevel
    province_code: str = Field(pattern=r"^\d{2}$", description="2025 province code.")
    commune_code: str = Field(pattern=r"^\d{5}$", description="Commune (ward) code.")
    child: ChildIn
    circumstances: CircumstancesIn = Field(default_factory=CircumstancesIn)
    consent: ConsentIn = Field(default_factory=ConsentIn)
    workplace: WorkplaceIn | None = Field(default=None, description="Workplace, when known.")
    summary: str | None = Field(default=None, max_length=4000, description="What was seen.")

    @field_validator("province_code")
    @classmethod
    def _known_province(cls, value: str) -> str:
        if not geography.is_province(value):
            raise ValueError(f"unknown province code {value!r}")
        return value

    @field_validator("commune_code")
    @classmethod
    def _commune_in_province(cls, value: str, info: ValidationInfo) -> str:
        province = geography.province_of_commune(value)
        if province is None:
            raise ValueError(f"unknown commune code {value!r}")
        expected = info.data.get("province_code")
        if expected and province != expected:
            raise ValueError(f"commune {value!r} is not in province {expected!r}")
        return value

    def to_command(self, *, reported_by: str, received_at: datetime) -> RecordCase:
        return RecordCase(
            channel=self.channel,
            case_type=self.case_type,
            risk_level=self.risk_level,
            province_code=self.province_code,
            commune_code=self.commune_code,
            child=ChildIdentity(**self.child.model_dump()),
            workplace=Workplace(**self.workplace.model_dump()) if self.workplace else None,
            circumstances=CaseCircumstances(**self.circumstances.model_dump()),
            consent=ConsentRecord(**self.consent.model_dump()),
            summary=self.summary,
            reported_by=reported_by,
            received_at=received_at,
        )


class CaseAccepted(BaseModel):
    case_id: str
    status: str
    received_at: datetime


class ChildOut(BaseModel):
    full_name: str
    date_of_birth: date | None
    address: str | None = None
    phone: str | None = None
    guardian_name: str | None = None
    guardian_phone: str | None = None


class ClockOut(BaseModel):
    due_at: datetime | None = Field(description="None: the clock does not apply.")
    met_at: datetime | None
    missed_at: datetime | None


class CaseReferralOut(BaseModel):
    referral_id: str
    agency: str
    lead: bool
    state: str
    version: int


class CaseOut(BaseModel):
    id: str
    version: int
    case_type: CaseType
    channel: Channel
    risk_level: RiskLevel
    status: str
    province_code: str
    commune_code: str
    sex: Sex
    age_band: AgeBand
    consent_basis: ConsentBasis
    owner_agency: str
    received_at: datetime
    needs: list[SupportNeed] = Field(default_factory=list)
    plan_agencies: list[str] = Field(default_factory=list)
    review_date: date | None = None
    closure_reason: str | None = None
    merged_into: str | None = None
    clocks: dict[str, ClockOut] = Field(default_factory=dict)
    referrals: list[CaseReferralOut] = Field(
        default_factory=list, description="Every referral of the case and its state."
    )
    referral_status: str = Field(
        default="none", description="Combined: none, open, completed or ended_unresolved."
    )
    child: ChildOut | None = Field(
        default=None, description="Identity, shown only to the owning agency's case workers."
    )
    identity_erased_at: datetime | None = Field(
        default=None, description="When the child's identity was erased (crypto-shredded)."
    )


class CaseSummaryOut(BaseModel):
    """A row of the case list: no identity."""

    id: str
    case_type: CaseType
    channel: Channel
    risk_level: RiskLevel
    status: str
    province_code: str
    commune_code: str
    age_band: AgeBand
    received_at: datetime
    merged_into: str | None


class PlanIn(_Strict):
    agencies: list[str] = Field(min_length=1, description="Agencies the plan involves.")
    review_date: IsoDate = Field(description="When the plan is reviewed (in the future).")


class StageChangeIn(_Strict):
    to_stage: CaseStage = Field(description="The step to move to.")
    version: int = Field(ge=1, description="The case version you saw (stale → 409).")
    reason: str | None = Field(default=None, max_length=2000, description="Why; required to close.")
    needs: list[SupportNeed] = Field(default_factory=list, description="For needs_identified.")
    plan: PlanIn | None = Field(default=None, description="For plan_approved.")


class StageOut(BaseModel):
    case_id: str
    from_stage: CaseStage
    to_stage: CaseStage
    version: int


class HistoryOut(BaseModel):
    from_stage: str
    to_stage: str
    actor: str
    reason: str | None
    occurred_at: datetime


class ConsentOut(BaseModel):
    case_id: str
    consent_basis: ConsentBasis
    version: int


class ViewKeyIn(_Strict):
    referral_id: str = Field(
        min_length=1, max_length=36, description="The active referral the officer acts on."
    )


class ViewKeyOut(BaseModel):
    """The key that opens one agency's sealed view of one case (and nothing else)."""

    case_id: str
    referral_id: str
    agency: str
    key: str = Field(description="The view key, base64url; keep it in memory only.")
    fields: list[str] = Field(description="The fields the view holds (field policy).")


class DuplicateLinkOut(BaseModel):
    id: str
    case_id: str
    other_case_id: str
    province_code: str
    match: str
    status: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
