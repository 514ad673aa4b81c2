"""Case events, version 1. They carry no identity: names stay in the cases service."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from contracts.base import EventModel
from contracts.vocabulary import AgeBand, CaseType, Channel, ConsentBasis, RiskLevel, Sex


class CaseCircumstances(EventModel):
    """Facts the routing policy needs, without saying who the child is."""

    employer_identified: bool = Field(
        default=False, description="A workplace or employer is known (drives labour inspection)."
    )
    out_of_school: bool = Field(
        default=False, description="The child is of school age and not attending school."
    )
    signs_of_forced_labour: bool = Field(
        default=False, description="Signs of trafficking or forced labour were observed."
    )


class CaseReceived(EventModel):
    """A case was received and recorded (step 1 of the national process)."""

    ce_type: ClassVar[str] = "vn.lienganh.case.received.v1"

    case_id: str = Field(description="Case identifier (UUID), the partition key.")
    case_type: CaseType = Field(description="What kind of harm is suspected.")
    channel: Channel = Field(description="How the information reached the system.")
    risk_level: RiskLevel = Field(description="Assessed urgency at intake.")
    province_code: str = Field(
        pattern=r"^\d{2}$", description="Province code of the 2025 two-level geography."
    )
    commune_code: str = Field(pattern=r"^\d{5}$", description="Commune (ward) code.")
    sex: Sex = Field(description="Sex of the child, for disaggregated indicators.")
    age_band: AgeBand = Field(description="Age band of the child; never the date of birth.")
    circumstances: CaseCircumstances = Field(
        default_factory=CaseCircumstances, description="Facts that drive routing."
    )
    consent_basis: ConsentBasis = Field(
        description="Whether the case may be referred: consent, a legal override, or none."
    )
    owner_agency: str = Field(description="Agency that owns the case (usually dolisa).")
    reported_by: str = Field(description="Subject of the officer who recorded the case.")
    received_at: datetime = Field(description="When the information was received (UTC).")

    @classmethod
    def example(cls) -> CaseReceived:
        return cls(
            case_id="0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
            case_type=CaseType.CHILD_TRAFFICKING,
            channel=Channel.HOTLINE_111,
            risk_level=RiskLevel.URGENT,
            province_code="01",
            commune_code="00070",
            sex=Sex.FEMALE,
            age_band=AgeBand.AGE_12_14,
            circumstances=CaseCircumstances(signs_of_forced_labour=True),
            consent_basis=ConsentBasis.CONSENT,
            owner_agency="dolisa",
            reported_by="hotline-operator-01",
            received_at=datetime.fromisoformat("2026-11-02T08:15:00+00:00"),
        )
