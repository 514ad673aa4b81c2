"""Commands the cases service accepts (imperative: what someone asks it to do)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from cases.domain.intake import ConsentRecord
from contracts.cases.v1 import CaseCircumstances
from contracts.vocabulary import CaseType, Channel, RiskLevel, Sex


@dataclass(frozen=True)
class ChildIdentity:
    """Identity of the child: encrypted at rest, never in events, logs or metrics."""

    full_name: str
    date_of_birth: date | None
    sex: Sex
    address: str | None = None
    phone: str | None = None
    guardian_name: str | None = None
    guardian_phone: str | None = None


@dataclass(frozen=True)
class Workplace:
    """Where the child works, when known; name, address and employer can identify."""

    name: str | None = None
    address: str | None = None
    employer_name: str | None = None
    industry: str | None = None


@dataclass(frozen=True)
class RecordCase:
    channel: Channel
    case_type: CaseType
    risk_level: RiskLevel
    province_code: str
    commune_code: str
    child: ChildIdentity
    circumstances: CaseCircumstances
    consent: ConsentRecord
    summary: str | None
    reported_by: str
    received_at: datetime
    workplace: Workplace | None = None
    case_id: str | None = None  # chosen by a reporting agency, so a resend is no new case

    def present_fields(self) -> set[str]:
        """Dotted paths of the optional fields that carry a value (for channel rules)."""
        values = {
            "summary": self.summary,
            "child.date_of_birth": self.child.date_of_birth,
            "child.address": self.child.address,
            "child.phone": self.child.phone,
            "workplace.name": self.workplace and self.workplace.name,
            "workplace.address": self.workplace and self.workplace.address,
            "workplace.employer_name": self.workplace and self.workplace.employer_name,
        }
        return {name for name, value in values.items() if value}
