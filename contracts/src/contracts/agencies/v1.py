"""Agency updates, version 1: what an agency did with a referral addressed to it.

They are untrusted input for the referrals service: validated on receipt, applied only
when `expected_version` matches the referral's current version.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, ClassVar, Self

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from contracts.base import EventModel
from contracts.identifiers import AgencyCode, CommuneCode, ProvinceCode, Uuid
from contracts.sealed import PublicKeyToken
from contracts.vocabulary import CaseType, Channel, RiskLevel, Sex


class ReferralAction(EventModel):
    """Fields every agency action carries."""

    referral_id: Uuid = Field(description="Referral identifier (UUID).")
    case_id: Uuid = Field(description="The case; the partition key.")
    agency: AgencyCode = Field(description="Agency taking the action; must own the referral.")
    expected_version: int = Field(ge=1, description="Referral version the action is based on.")
    actor: str = Field(description="Subject of the officer who acted.")
    occurred_at: datetime = Field(description="When the officer acted (UTC).")

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {"labour_inspection": cls.example_with(**_OTHER_AGENCY)}


class ReferralAcknowledged(ReferralAction):
    """The agency received the referral and will decide on it."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.acknowledged.v1"

    @classmethod
    def example(cls) -> ReferralAcknowledged:
        return cls(**_EXAMPLE)


class ReferralAccepted(ReferralAction):
    """The agency accepted the referral and takes responsibility for its part."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.accepted.v1"

    @classmethod
    def example(cls) -> ReferralAccepted:
        return cls(**_EXAMPLE)


class ReferralRejected(ReferralAction):
    """The agency declined the referral; the sender is told why."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.rejected.v1"

    reason: str = Field(min_length=1, description="Why the agency declined.")

    @classmethod
    def example(cls) -> ReferralRejected:
        return cls(**_EXAMPLE, reason="Not in this agency's mandate")


class ReferralStarted(ReferralAction):
    """The agency started working on an accepted referral (in-progress)."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.started.v1"

    @classmethod
    def example(cls) -> ReferralStarted:
        return cls(**{**_EXAMPLE, "expected_version": 3})


class ReferralHeld(ReferralAction):
    """The agency paused its work (on-hold), saying why."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.held.v1"

    reason: str = Field(min_length=1, description="Why the work is paused.")

    @classmethod
    def example(cls) -> ReferralHeld:
        return cls(**{**_EXAMPLE, "expected_version": 4}, reason="Child moved to another commune")


class ReferralResumed(ReferralAction):
    """The agency resumed work on a held referral (back to in-progress)."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.resumed.v1"

    @classmethod
    def example(cls) -> ReferralResumed:
        return cls(**{**_EXAMPLE, "expected_version": 5})


class ReferralOutcome(EventModel):
    """What the agency achieved. Each agency fills its own fields; none names a person."""

    # police
    investigation_opened: bool | None = Field(default=None, description="Police.")
    victims_rescued: int | None = Field(default=None, ge=0, description="Police.")
    suspects_identified: int | None = Field(default=None, ge=0, description="Police.")
    # labour inspection
    inspection_done: bool | None = Field(default=None, description="Labour inspection.")
    violation_found: bool | None = Field(default=None, description="Labour inspection.")
    sanction: str | None = Field(default=None, description="Labour inspection: sanction imposed.")
    # education
    enrolled: bool | None = Field(default=None, description="Education: enrolled in school.")
    returned_to_school: bool | None = Field(default=None, description="Education.")
    school_name: str | None = Field(default=None, description="Education: the school.")
    # dolisa
    services_delivered: tuple[str, ...] = Field(
        default=(), description="DOLISA: support services delivered (SupportNeed codes)."
    )
    note: str | None = Field(default=None, description="Free text, without identity.")


class ReferralCompleted(ReferralAction):
    """The agency finished its part, with an outcome."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.completed.v1"

    outcome: ReferralOutcome = Field(description="What was achieved.")

    @classmethod
    def example(cls) -> ReferralCompleted:
        return cls(
            **{**_EXAMPLE, "expected_version": 4},
            outcome=ReferralOutcome(investigation_opened=True, victims_rescued=1),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "labour_inspection": cls.example_with(
                **_OTHER_AGENCY,
                outcome=ReferralOutcome(
                    inspection_done=True,
                    violation_found=True,
                    sanction="Administrative fine; workplace closed",
                    note="Employer fined under Decree 12/2022",
                ),
            ),
            "education": cls.example_with(
                agency="education",
                actor="education-officer-hn-01",
                outcome=ReferralOutcome(enrolled=True, returned_to_school=True),
            ),
            "dolisa": cls.example_with(
                agency="dolisa",
                actor="dolisa-caseworker-hn-01",
                outcome=ReferralOutcome(
                    services_delivered=("safe_accommodation", "psychological_support")
                ),
            ),
        }


class ReferralFailed(ReferralAction):
    """The agency could not carry out its part."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.failed.v1"

    reason: str = Field(min_length=1, description="Why it failed.")

    @classmethod
    def example(cls) -> ReferralFailed:
        return cls(**{**_EXAMPLE, "expected_version": 4}, reason="Family left the province")


class ReferralTransferred(ReferralAction):
    """The agency declines and names the agency that should act instead: a rejection plus a
    new referral to `to_agency`, linked to this one."""

    ce_type: ClassVar[str] = "vn.lienganh.referral.transferred.v1"

    to_agency: AgencyCode = Field(min_length=1, description="Agency that should act instead.")
    reason: str = Field(min_length=1, description="Why the other agency should act.")

    @classmethod
    def example(cls) -> ReferralTransferred:
        return cls(**_EXAMPLE, to_agency="labour_inspection", reason="Workplace case, no crime")

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "labour_inspection": cls.example_with(
                **_OTHER_AGENCY, to_agency="police", reason="Signs of forced labour"
            )
        }


VIET_NAM_TIME = timezone(timedelta(hours=7))  # no daylight saving time in Viet Nam
# A report may concern someone who was a child when harmed and is an adult now; older than
# this, a date of birth is a typing error (1800-01-01), not a child's.
OLDEST_BIRTH_YEARS = 25
_DAY = r"^\d{4}-\d{2}-\d{2}$"


def _has_a_letter(value: str) -> str:
    if not any(character.isalpha() for character in value):
        raise ValueError("a name needs at least one letter")
    return value


def _written_as_a_day(value: object) -> object:
    # Pydantic would also read a number as Unix time: 0 would be 1970-01-01.
    if isinstance(value, date) or (isinstance(value, str) and re.match(_DAY, value)):
        return value
    raise ValueError("must be written YYYY-MM-DD")


def _plausible_birth_date(value: date) -> date:
    today = datetime.now(UTC).astimezone(VIET_NAM_TIME).date()
    if value > today:
        raise ValueError("date of birth is in the future")
    if value < _years_before(today, OLDEST_BIRTH_YEARS):
        raise ValueError(f"date of birth is more than {OLDEST_BIRTH_YEARS} years ago")
    return value


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_has_a_letter),
    # Declared for clients and test generators; the validator above gives the message.
    Field(json_schema_extra={"pattern": r"[^\W\d_]"}),
]
"""A person's name: surrounding spaces stripped, 1 to 200 characters, at least one letter."""

ChildBirthDate = Annotated[
    date, BeforeValidator(_written_as_a_day), AfterValidator(_plausible_birth_date)
]
"""A child's date of birth, known or estimated: not after today in Viet Nam, and not more
than `OLDEST_BIRTH_YEARS` years before it."""


class ReportedChild(EventModel):
    """Identity of a child an agency reports: only ever inside `ReportedIdentity`, sealed."""

    full_name: PersonName = Field(description="Child's full name (at least one letter).")
    date_of_birth: ChildBirthDate | None = Field(
        default=None,
        description=f"Known or estimated; not in the future, at most {OLDEST_BIRTH_YEARS} "
        "years ago.",
    )
    sex: Sex = Field(description="female, male or unknown.")
    address: str | None = Field(default=None, max_length=500, description="Home address.")
    phone: str | None = Field(default=None, max_length=30, description="Contact phone.")
    guardian_name: PersonName | None = Field(default=None, description="Guardian.")
    guardian_phone: str | None = Field(default=None, max_length=30, description="Guardian's phone.")


class ReportedWorkplace(EventModel):
    """A workplace or employer, when known."""

    name: str | None = Field(default=None, max_length=200, description="Workplace name.")
    address: str | None = Field(default=None, max_length=500, description="Its address.")
    employer_name: str | None = Field(default=None, max_length=200, description="Employer.")
    industry: str | None = Field(default=None, max_length=100, description="Sector.")


class ReportedIdentity(EventModel):
    """What `CaseReported.sealed_identity` holds once opened: who the child is, where they
    work, and the free-text summary (which may name people). Sealed by the reporting agency
    to the cases service's intake public key, so it is plaintext nowhere on the way."""

    child: ReportedChild = Field(description="Who the child is (sensitive).")
    workplace: ReportedWorkplace | None = Field(default=None, description="When known.")
    summary: str | None = Field(default=None, max_length=4000, description="What was seen.")

    @staticmethod
    def context(case_id: str, agency: str) -> str:
        """The HPKE `info` the seal is bound to: a report's identity opens for no other."""
        return f"case-report:{case_id}:{agency}"


class CaseReported(EventModel):
    """An agency detected a case and hands it to the cases service as an intake."""

    ce_type: ClassVar[str] = "vn.lienganh.agency.case_reported.v1"

    case_id: Uuid = Field(
        description="UUID the agency chose for the new case; the cases service keeps it, so a "
        "resent report creates no second case. The partition key."
    )
    agency: AgencyCode = Field(description="Reporting agency; must match the topic's agency.")
    channel: Channel = Field(description="Intake channel (e.g. police, labour_inspection).")
    case_type: CaseType = Field(description="What kind of harm is suspected.")
    risk_level: RiskLevel = Field(description="Urgency as the agency assessed it.")
    province_code: ProvinceCode = Field(description="2025 province code.")
    commune_code: CommuneCode = Field(description="Commune (ward) code.")
    sealed_identity: PublicKeyToken = Field(
        description="`ReportedIdentity` as JSON, sealed to the cases service's intake public "
        "key (HPKE), bound to `ReportedIdentity.context(case_id, agency)`."
    )
    employer_identified: bool = Field(default=False, description="A workplace is known.")
    out_of_school: bool = Field(default=False, description="School-age and not attending.")
    signs_of_forced_labour: bool = Field(default=False, description="Signs were observed.")
    child_consented: bool | None = Field(default=None, description="The child's consent.")
    guardian_consented: bool = Field(default=False, description="The guardian's consent.")
    legal_override_reason: str | None = Field(
        default=None, max_length=500, description="Legal ground to act without consent."
    )
    reported_by: str = Field(description="Subject of the officer who reported it.")
    reported_at: datetime = Field(description="When the agency detected it (UTC).")

    @classmethod
    def example(cls) -> CaseReported:
        return cls(
            case_id="2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
            agency="labour_inspection",
            channel=Channel.LABOUR_INSPECTION,
            case_type=CaseType.HAZARDOUS_CHILD_LABOUR,
            risk_level=RiskLevel.HIGH,
            province_code="79",
            commune_code="26506",
            sealed_identity=_SEALED_REPORT_EXAMPLE,
            employer_identified=True,
            guardian_consented=True,
            child_consented=True,
            reported_by="labour-inspector-hcm-01",
            reported_at=datetime.fromisoformat("2026-11-02T07:00:00+00:00"),
        )

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        return {
            "legal_override": cls.example_with(
                case_id="4b6d8f02-3c5e-4a7b-9d1f-2e3a4b5c6d7e",
                agency="police",
                channel=Channel.POLICE,
                case_type=CaseType.CHILD_TRAFFICKING,
                risk_level=RiskLevel.URGENT,
                province_code="01",
                commune_code="00070",
                employer_identified=False,
                out_of_school=True,
                signs_of_forced_labour=True,
                child_consented=None,
                guardian_consented=False,
                legal_override_reason="Criminal Procedure Code: police duty to protect a victim",
                reported_by="police-inspector-hn-01",
            )
        }


# Synthetic: random bytes in the token's shape, sealed to no real key.
_SEALED_REPORT_EXAMPLE = (
    "pk1.p1.mV3cQ8xL1nB6tR0yW5kE9aH2sD7fJ4gP0uZ3oI8eC1vN6bM5qT2wY9rA4lK7hG0jF3dS8xU1iO6pE5zR2"
    "nQ7cW4vB9mT0yL3aK8sH1gD6fJ5uP2oI7eX4"
)

_OTHER_AGENCY: dict[str, object] = {
    "referral_id": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "agency": "labour_inspection",
    "actor": "labour-inspector-hcm-02",
    "expected_version": 2,
}

_EXAMPLE: dict[str, object] = {
    "referral_id": "5f0c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
    "case_id": "0b9a7f5e-1a7c-4a53-9d61-5a3f3b2e8c10",
    "agency": "police",
    "expected_version": 1,
    "actor": "police-inspector-hn-01",
    "occurred_at": datetime.fromisoformat("2026-11-02T08:40:00+00:00"),
}
