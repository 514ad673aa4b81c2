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
