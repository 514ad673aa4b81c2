"""Referral events, version 1.

`ReferralRequested` goes to one agency's inbox topic; `ReferralStateChanged` and
`ReferralUpdateRefused` go to `referrals.events.v1` (and the state changes also to the
agency's topic, so its inbox follows the authoritative state).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import ConfigDict, Field, ValidationInfo, model_validator

from contracts.agencies.v1 import ReferralOutcome
from contracts.base import EventModel, producing
from contracts.identifiers import AgencyCode, CommuneCode, ProvinceCode, Uuid
from contracts.referrals.field_policy import field_policy
from contracts.sealed import DataKeyToken
from contracts.vocabulary import AgeBand, CaseType, ReferralState, RiskLevel


def _field_names(schema: dict[str, Any]) -> None:
    schema["propertyNames"] = field_policy().field_names_schema()


def _details_policy(schema: dict[str, Any]) -> None:
    # JSON Schema says the field policy too, so a non-Python consumer can check a referral.
    schema["allOf"] = field_policy().referral_details_rules()


class ReferralRequested(EventModel):
    """The case owner asks one agency to act on one case."""

    model_config = ConfigDict(json_schema_extra=_details_policy)

    ce_type: ClassVar[str] = "vn.lienganh.referral.requested.v1"

    referral_id: Uuid = Field(description="Referral identifier (UUID).")
    case_id: Uuid = Field(description="The case the referral is about; the partition key.")
    agency: AgencyCode = Field(description="Code of the agency asked to act.")
    lead: bool = Field(description="This agency leads the response to the case.")
    version: int = Field(ge=1, description="Referral version; actions must name it.")
    case_type: CaseType = Field(description="Kind of case.")
    risk_level: RiskLevel = Field(description="Urgency of the case.")
    province_code: ProvinceCode = Field(description="Province of the case.")
    commune_code: CommuneCode = Field(description="Commune of the case.")
    age_band: AgeBand = Field(description="Age band of the child.")
    reason: str = Field(description="The routing rule that sent the referral here.")
    details: dict[str, DataKeyToken] = Field(
        default_factory=dict,
        description="Case fields this agency may see under the field policy (need to know), "
        "as the cases service sealed them for this agency: the referrals service attaches "
        "them unopened; the agency's API opens them for an officer who acts on the referral. "
        "Only the fields the policy gives this agency for this case type.",
        json_schema_extra=_field_names,
    )
    accept_by: datetime = Field(description="Deadline for the agency to accept (UTC).")
    requested_at: datetime = Field(description="When the referral was made (UTC).")
    linked_referral_id: Uuid | None = Field(
        default=None,
        description="The referral this one replaces (transfer, re-route); none for a new case.",
    )

    @model_validator(mode="after")
    def _only_fields_the_policy_gives(self, info: ValidationInfo) -> Self:
        # Producers are held to the policy; a reader keeps what it was sent (its copy of the
        # policy may be older) and does its own minimising.
        if producing(info):
            refused = field_policy().refused_fields(self.agency, self.case_type, self.details)
            if refused:
                raise ValueError(
                    f"details carries fields the field policy does not give {self.agency} "
                    f"for {self.case_type.value}: {refused}"
                )
        return self

    @classmethod
    def example(cls) -> ReferralRequested:
        return cls(
            referral_id="5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
            case_id="0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
            agency="police",
            lead=True,
            version=1,
            case_type=CaseType.CHILD_TRAFFICKING,
            risk_level=RiskLevel.URGENT,
            province_code="01",
            commune_code="00070",
            age_band=AgeBand.AGE_12_14,
            reason="child_trafficking: police leads",
            accept_by=datetime.fromisoformat("2026-11-02T10:15:00+00:00"),
            requested_at=datetime.fromisoformat("2026-11-02T08:15:02+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "with_details": cls.example_with(
                details={"child_name": _SEALED_VIEW, "date_of_birth": _SEALED_VIEW}
            ),
            "labour_inspection": cls.example_with(
                referral_id="8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                case_id="2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
                agency="labour_inspection",
                case_type=CaseType.HAZARDOUS_CHILD_LABOUR,
                risk_level=RiskLevel.HIGH,
                province_code="79",
                commune_code="26506",
                age_band=AgeBand.AGE_15_17,
                reason="hazardous_child_labour: labour_inspection leads",
                details={"workplace_name": _SEALED_VIEW, "industry": _SEALED_VIEW},
                accept_by=datetime.fromisoformat("2026-11-03T07:00:00+00:00"),
                requested_at=datetime.fromisoformat("2026-11-02T07:00:05+00:00"),
            ),
            "replacing_a_transferred_referral": cls.example_with(
                referral_id="8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                agency="labour_inspection",
                lead=False,
                reason="transferred by police: Workplace case, no crime",
                linked_referral_id="5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
            ),
        }


# Synthetic: random characters in a sealed view's shape, opening under no key.
_SEALED_VIEW = (
    "sv1.Zr4mQ8tY2wN6pK0sV3xB7cH1jL5dF9gA4eU8iO2nR6yT0qW3mZ7kP1vS5bX9cJ2hG6fD0lE4aN8uI3oY7tR1sW5e"
)


class ReferralStateChanged(EventModel):
    """A referral moved from one FHIR Task status to another (or was created)."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.state_changed.v1"

    referral_id: Uuid = Field(description="Referral identifier (UUID).")
    case_id: Uuid = Field(description="The case; the partition key.")
    agency: AgencyCode = Field(description="Agency the referral is addressed to.")
    lead: bool = Field(description="Whether that agency leads the response.")
    case_type: CaseType = Field(description="Kind of case.")
    risk_level: RiskLevel = Field(description="Urgency of the case.")
    province_code: ProvinceCode = Field(description="Province of the case.")
    from_state: ReferralState | None = Field(
        description="Previous state; null when the referral was just created."
    )
    to_state: ReferralState = Field(description="New state.")
    version: int = Field(ge=1, description="Referral version after the change.")
    actor: str = Field(description="Who made the change (officer subject or service).")
    reason: str | None = Field(default=None, description="Why, when the change needs one.")
    deadline: datetime | None = Field(
        default=None, description="When the next step is due in the new state (UTC)."
    )
    owner_agency: AgencyCode = Field(
        default="dolisa", description="The case owner (the sender), told of every outcome."
    )
    outcome: ReferralOutcome | None = Field(
        default=None, description="What the agency achieved, on completion."
    )
    transferred_to: AgencyCode | None = Field(
        default=None, description="On a transfer: the agency named to act instead."
    )
    linked_referral_id: Uuid | None = Field(
        default=None,
        description="The referral this one replaces (transfer, re-route) or is replaced by.",
    )
    occurred_at: datetime = Field(description="When the change happened (UTC).")

    @classmethod
    def example(cls) -> ReferralStateChanged:
        return cls(
            referral_id="5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
            case_id="0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
            agency="police",
            lead=True,
            case_type=CaseType.CHILD_TRAFFICKING,
            risk_level=RiskLevel.URGENT,
            province_code="01",
            from_state=ReferralState.REQUESTED,
            to_state=ReferralState.ACCEPTED,
            version=2,
            actor="police-inspector-hn-01",
            occurred_at=datetime.fromisoformat("2026-11-02T08:40:00+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "created": cls.example_with(
                from_state=None,
                to_state=ReferralState.REQUESTED,
                version=1,
                actor="referrals",
                reason="child_trafficking: police leads",
                deadline=datetime.fromisoformat("2026-11-02T10:15:00+00:00"),
                occurred_at=datetime.fromisoformat("2026-11-02T08:15:02+00:00"),
            ),
            "completed": cls.example_with(
                from_state=ReferralState.IN_PROGRESS,
                to_state=ReferralState.COMPLETED,
                version=5,
                outcome=ReferralOutcome(investigation_opened=True, victims_rescued=1),
                occurred_at=datetime.fromisoformat("2026-11-20T08:00:00+00:00"),
            ),
            "transferred": cls.example_with(
                from_state=ReferralState.REQUESTED,
                to_state=ReferralState.REJECTED,
                reason="Workplace case, no crime",
                transferred_to="labour_inspection",
                linked_referral_id="8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            ),
        }


class ReferralUpdateRefused(EventModel):
    """An agency's update could not be applied (stale version or forbidden transition)."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.update_refused.v1"

    referral_id: Uuid = Field(description="Referral identifier (UUID).")
    case_id: Uuid = Field(description="The case; the partition key.")
    agency: AgencyCode = Field(description="Agency whose update was refused.")
    action: str = Field(description="The refused action's event type.")
    expected_version: int = Field(ge=1, description="Version the agency based its action on.")
    current_version: int = Field(ge=1, description="Version the referral actually has.")
    reason: str = Field(description="Why the update was refused.")
    occurred_at: datetime = Field(description="When it was refused (UTC).")

    @classmethod
    def example(cls) -> ReferralUpdateRefused:
        return cls(
            referral_id="5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
            case_id="0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
            agency="police",
            action="vn.lienganh.referral.accepted.v1",
            expected_version=1,
            current_version=2,
            reason="stale version: referral is at version 2",
            occurred_at=datetime.fromisoformat("2026-11-02T08:41:00+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "forbidden_transition": cls.example_with(
                action="vn.lienganh.referral.completed.v1",
                expected_version=2,
                current_version=2,
                reason="cannot go from accepted to completed",
            )
        }


class ReferralEscalated(EventModel):
    """A referral stayed in an open state past its deadline.

    `reminder` 0 is the escalation itself, emitted once per breach; reminders 1, 2, …
    repeat at the policy's interval while the referral stays overdue.
    """

    ce_type: ClassVar[str] = "vn.lienganh.referral.escalated.v1"

    referral_id: Uuid = Field(description="Referral identifier (UUID).")
    case_id: Uuid = Field(description="The case; the partition key.")
    agency: AgencyCode = Field(description="Agency that missed the deadline.")
    lead: bool = Field(description="Whether that agency leads the response.")
    case_type: CaseType = Field(description="Kind of case.")
    risk_level: RiskLevel = Field(description="Urgency of the case.")
    province_code: ProvinceCode = Field(description="Province of the case.")
    owner_agency: AgencyCode = Field(default="dolisa", description="The case owner (the sender).")
    state: ReferralState = Field(description="The open state the referral is stuck in.")
    deadline: datetime = Field(description="The deadline that passed (UTC).")
    reminder: int = Field(ge=0, description="0 for the escalation, then 1, 2, … reminders.")
    rerouted_to: AgencyCode | None = Field(
        default=None, description="Agency the policy re-routed the referral to, if any."
    )
    escalated_at: datetime = Field(description="When the breach was noticed (UTC).")

    @classmethod
    def example(cls) -> ReferralEscalated:
        return cls(
            referral_id="5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
            case_id="0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
            agency="police",
            lead=True,
            case_type=CaseType.CHILD_TRAFFICKING,
            risk_level=RiskLevel.URGENT,
            province_code="01",
            state=ReferralState.REQUESTED,
            deadline=datetime.fromisoformat("2026-11-02T10:15:02+00:00"),
            reminder=0,
            escalated_at=datetime.fromisoformat("2026-11-02T10:15:05+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "rerouted_reminder": cls.example_with(
                reminder=2,
                rerouted_to="dolisa",
                owner_agency="dolisa",
                escalated_at=datetime.fromisoformat("2026-11-02T12:15:05+00:00"),
            )
        }


class ReferralIdentityErased(EventModel):
    """The child's identity behind this referral was erased (its case key destroyed): the
    agency drops its sealed copy; nothing would open it any more anyway."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.identity_erased.v1"

    referral_id: Uuid = Field(description="Referral identifier (UUID).")
    case_id: Uuid = Field(description="The case; the partition key.")
    agency: AgencyCode = Field(description="Agency the referral is addressed to.")
    erased_at: datetime = Field(description="When the case key was destroyed (UTC).")

    @classmethod
    def example(cls) -> ReferralIdentityErased:
        return cls(
            referral_id="5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
            case_id="0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
            agency="police",
            erased_at=datetime.fromisoformat("2026-11-20T09:00:00+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "labour_inspection": cls.example_with(
                referral_id="8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", agency="labour_inspection"
            )
        }
