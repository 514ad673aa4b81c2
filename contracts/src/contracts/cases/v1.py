"""Case events, version 1. They carry no identity in clear.

The one way identity leaves the cases service is `CaseReceived.identity_views`: each agency's
need-to-know view, sealed under a key derived from the case's own data key. Nobody on the way
can open it; an officer's agency gets the key for its view only while it holds an active
referral for the case (the cases service checks), and destroying the case's data key makes
every copy unreadable for good (`CaseIdentityErased`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Self

from pydantic import ConfigDict, Field, ValidationInfo, model_validator

from contracts.base import EventModel, producing
from contracts.identifiers import AgencyCode, CommuneCode, ProvinceCode, Uuid
from contracts.referrals.field_policy import field_policy
from contracts.sealed import DataKeyToken
from contracts.vocabulary import (
    AgeBand,
    CaseClock,
    CaseStage,
    CaseType,
    Channel,
    ConsentBasis,
    RiskLevel,
    Sex,
    SupportNeed,
)


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


def _views_policy(schema: dict[str, Any]) -> None:
    # JSON Schema says the field policy too, so a non-Python consumer can check the views.
    schema["allOf"] = field_policy().identity_views_rules()


def _view_names(schema: dict[str, Any]) -> None:
    # Pydantic writes a constrained key as `patternProperties`, which lets any other key
    # through; `propertyNames` refuses it. Each view names only fields the policy knows.
    [(pattern, view)] = schema.pop("patternProperties").items()
    schema["propertyNames"] = {"pattern": pattern}
    schema["additionalProperties"] = view | {"propertyNames": field_policy().field_names_schema()}


class CaseReceived(EventModel):
    """A case was received and recorded (step 1 of the national process)."""

    model_config = ConfigDict(json_schema_extra=_views_policy)

    ce_type: ClassVar[str] = "vn.lienganh.case.received.v1"

    case_id: Uuid = Field(description="Case identifier (UUID), the partition key.")
    case_type: CaseType = Field(description="What kind of harm is suspected.")
    channel: Channel = Field(description="How the information reached the system.")
    risk_level: RiskLevel = Field(description="Assessed urgency at intake.")
    province_code: ProvinceCode = Field(
        description="Province code of the 2025 two-level geography."
    )
    commune_code: CommuneCode = Field(description="Commune (ward) code.")
    sex: Sex = Field(description="Sex of the child, for disaggregated indicators.")
    age_band: AgeBand = Field(description="Age band of the child; never the date of birth.")
    circumstances: CaseCircumstances = Field(
        default_factory=CaseCircumstances, description="Facts that drive routing."
    )
    consent_basis: ConsentBasis = Field(
        description="Whether the case may be referred: consent, a legal override, or none."
    )
    owner_agency: AgencyCode = Field(description="Agency that owns the case (usually dolisa).")
    reported_by: str = Field(description="Subject of the officer who recorded the case.")
    received_at: datetime = Field(description="When the information was received (UTC).")
    identity_views: dict[AgencyCode, dict[str, DataKeyToken]] = Field(
        default_factory=dict,
        description="Agency code → field → sealed value: each agency's need-to-know view under "
        "the field policy, sealed under a key derived from this case's data key. Carried "
        "unopened to the agency's referral; opened only in that agency's API.",
        json_schema_extra=_view_names,
    )

    @model_validator(mode="after")
    def _only_fields_the_policy_gives(self, info: ValidationInfo) -> Self:
        # Producers are held to the policy; a reader keeps what it was sent (its copy of the
        # policy may be older) and does its own minimising.
        if not producing(info):
            return self
        policy = field_policy()
        for agency, view in self.identity_views.items():
            refused = policy.refused_fields(agency, self.case_type, view)
            if refused:
                raise ValueError(
                    f"identity_views[{agency!r}] carries fields the field policy does not "
                    f"give {agency} for {self.case_type.value}: {refused}"
                )
        return self

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
            identity_views={
                "police": {"child_name": _SEALED_EXAMPLE, "date_of_birth": _SEALED_EXAMPLE},
            },
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "workplace_case": cls.example_with(
                case_id="2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
                case_type=CaseType.HAZARDOUS_CHILD_LABOUR,
                channel=Channel.LABOUR_INSPECTION,
                risk_level=RiskLevel.HIGH,
                province_code="79",
                commune_code="26506",
                sex=Sex.MALE,
                age_band=AgeBand.AGE_15_17,
                circumstances=CaseCircumstances(employer_identified=True, out_of_school=True),
                reported_by="labour-inspector-hcm-01",
                identity_views={
                    "labour_inspection": {
                        "sex": _SEALED_EXAMPLE,
                        "workplace_name": _SEALED_EXAMPLE,
                        "employer_name": _SEALED_EXAMPLE,
                    },
                    "dolisa": {"sex": _SEALED_EXAMPLE, "child_name": _SEALED_EXAMPLE},
                    "education": {"sex": _SEALED_EXAMPLE, "child_name": _SEALED_EXAMPLE},
                },
            )
        }


# A synthetic sealed value (random bytes, opens under no key): examples show the shape only.
_SEALED_EXAMPLE = (
    "sv1.q1aYtKxP0c3m9Qw8nB2eR7fJ4hL6dZ5sU1vX0yA3gC8kM2pT9rW4oE7iN6bH5jF1uD0lS3aQ8zV2xY7cK4mP"
    "9tR6wO1eI5n"
)


_CASE_ID = "0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10"
_FACTS: dict[str, object] = {
    "case_id": _CASE_ID,
    "case_type": CaseType.CHILD_TRAFFICKING,
    "risk_level": RiskLevel.URGENT,
    "province_code": "01",
    "owner_agency": "dolisa",
}


class CaseFacts(EventModel):
    """What every later case event repeats so consumers need no lookup (no identity)."""

    case_id: Uuid = Field(description="Case identifier (UUID), the partition key.")
    case_type: CaseType = Field(description="Kind of case.")
    risk_level: RiskLevel = Field(description="Current urgency of the case.")
    province_code: ProvinceCode = Field(description="Province of the case.")
    owner_agency: AgencyCode = Field(description="Agency that owns the case.")


class CaseStageChanged(CaseFacts):
    """The case moved to another step of the six-step process (or was re-planned)."""

    ce_type: ClassVar[str] = "vn.lienganh.case.stage_changed.v1"

    from_stage: CaseStage = Field(description="Step the case was in.")
    to_stage: CaseStage = Field(description="Step the case is in now.")
    actor: str = Field(description="Subject of the officer who moved the case.")
    reason: str | None = Field(default=None, description="Why (required for closure).")
    needs: tuple[SupportNeed, ...] = Field(
        default=(), description="Support needs identified (needs_identified and later)."
    )
    plan_agencies: tuple[AgencyCode, ...] = Field(
        default=(), description="Agencies the approved plan involves."
    )
    review_date: date | None = Field(default=None, description="When the plan is reviewed.")
    received_at: datetime = Field(description="When the case was received (clocks start).")
    occurred_at: datetime = Field(description="When the step changed (UTC).")

    @classmethod
    def example(cls) -> CaseStageChanged:
        return cls(
            **_FACTS,
            from_stage=CaseStage.NEEDS_IDENTIFIED,
            to_stage=CaseStage.PLAN_APPROVED,
            actor="dolisa-caseworker-hn-01",
            needs=(SupportNeed.SAFE_ACCOMMODATION, SupportNeed.PSYCHOLOGICAL_SUPPORT),
            plan_agencies=("dolisa", "police"),
            review_date=date(2026, 12, 2),
            received_at=datetime.fromisoformat("2026-11-02T08:15:00+00:00"),
            occurred_at=datetime.fromisoformat("2026-11-04T09:00:00+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "closed": cls.example_with(
                from_stage=CaseStage.REVIEWED,
                to_stage=CaseStage.CLOSED,
                reason="Child back in school and living with family; no longer at risk",
                review_date=None,
                occurred_at=datetime.fromisoformat("2027-02-01T09:00:00+00:00"),
            )
        }


class CaseDeadlineMissed(CaseFacts):
    """A legal clock of the case ran out before its step was reached (emitted once)."""

    ce_type: ClassVar[str] = "vn.lienganh.case.deadline_missed.v1"

    clock: CaseClock = Field(description="Which clock ran out.")
    stage: CaseStage = Field(description="Step the case was still in.")
    due_at: datetime = Field(description="When the step was due (UTC).")
    detected_at: datetime = Field(description="When the miss was noticed (UTC).")

    @classmethod
    def example(cls) -> CaseDeadlineMissed:
        return cls(
            **_FACTS,
            clock=CaseClock.EMERGENCY_INTERVENTION,
            stage=CaseStage.RECEIVED,
            due_at=datetime.fromisoformat("2026-11-02T20:15:00+00:00"),
            detected_at=datetime.fromisoformat("2026-11-02T20:15:30+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "plan_approval": cls.example_with(
                clock=CaseClock.PLAN_APPROVAL,
                stage=CaseStage.NEEDS_IDENTIFIED,
                risk_level=RiskLevel.HIGH,
                due_at=datetime.fromisoformat("2026-11-09T10:00:00+00:00"),
                detected_at=datetime.fromisoformat("2026-11-09T10:00:20+00:00"),
            )
        }


class CaseConsentRecorded(CaseFacts):
    """Consent of the child and guardian, or a legal override, was recorded or changed."""

    ce_type: ClassVar[str] = "vn.lienganh.case.consent_recorded.v1"

    consent_basis: ConsentBasis = Field(description="The resulting ground for referrals.")
    child_consented: bool | None = Field(
        description="The child's consent; null when the child is under 7."
    )
    guardian_consented: bool = Field(description="The guardian's consent.")
    legal_override_reason: str | None = Field(
        default=None, description="Legal ground to act without consent, when used."
    )
    actor: str = Field(description="Who recorded it.")
    occurred_at: datetime = Field(description="When it was recorded (UTC).")

    @classmethod
    def example(cls) -> CaseConsentRecorded:
        return cls(
            **_FACTS,
            consent_basis=ConsentBasis.LEGAL_OVERRIDE,
            child_consented=False,
            guardian_consented=False,
            legal_override_reason="Criminal Procedure Code: police duty to protect a victim",
            actor="dolisa-caseworker-hn-01",
            occurred_at=datetime.fromisoformat("2026-11-02T08:20:00+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "consent": cls.example_with(
                consent_basis=ConsentBasis.CONSENT,
                child_consented=True,
                guardian_consented=True,
                legal_override_reason=None,
            ),
            "young_child": cls.example_with(
                consent_basis=ConsentBasis.CONSENT,
                child_consented=None,
                guardian_consented=True,
                legal_override_reason=None,
            ),
        }


class CaseMerged(CaseFacts):
    """A coordinator confirmed two reports are one child: `merged_case_id` lives on in
    `case_id`, which took over its referrals and history."""

    ce_type: ClassVar[str] = "vn.lienganh.case.merged.v1"

    merged_case_id: Uuid = Field(description="The duplicate case, now closed into case_id.")
    actor: str = Field(description="Coordinator who confirmed the merge.")
    occurred_at: datetime = Field(description="When the merge was confirmed (UTC).")

    @classmethod
    def example(cls) -> CaseMerged:
        return cls(
            **_FACTS,
            merged_case_id="7e6d5c4b-3a29-4817-b6a5-948372615041",
            actor="dolisa-coordinator-hn-01",
            occurred_at=datetime.fromisoformat("2026-11-03T10:00:00+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "other_province": cls.example_with(
                case_id="2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
                merged_case_id="6c5b4a39-2817-4f06-a5b4-c3d2e1f00918",
                case_type=CaseType.HAZARDOUS_CHILD_LABOUR,
                risk_level=RiskLevel.HIGH,
                province_code="79",
                actor="dolisa-coordinator-hcm-01",
            )
        }


class CaseIdentityErased(CaseFacts):
    """The child's identity was erased: the case's data key is destroyed, so no sealed copy
    of it (cases store, topics, dead letters, agency inboxes) opens any more. The case's
    facts and every count built from them stay."""

    ce_type: ClassVar[str] = "vn.lienganh.case.identity_erased.v1"

    actor: str = Field(description="Operator who carried out the erasure.")
    erased_at: datetime = Field(description="When the key was destroyed (UTC).")

    @classmethod
    def example(cls) -> CaseIdentityErased:
        return cls(
            **_FACTS,
            actor="dpo-operator-01",
            erased_at=datetime.fromisoformat("2026-11-20T09:00:00+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "closed_case": cls.example_with(
                case_id="2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
                case_type=CaseType.CHILD_LABOUR,
                risk_level=RiskLevel.LOW,
                province_code="79",
                actor="dpo-operator-02",
            )
        }
