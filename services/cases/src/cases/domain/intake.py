"""Intake rules: what a report must say, and what follows from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from contracts.vocabulary import AgeBand, Channel, ConsentBasis

CHILD_CONSENT_AGE = 7  # the child's own consent is needed from age 7 (Law on Children)

# What each channel must tell us beyond the common fields (type, risk, commune, child's name
# and sex). Why: a hotline or police report is only actionable with what was seen; a school
# knows the pupil's date of birth; an inspection names the establishment it inspected; a commune
# collaborator knows where the child lives; NGO and media reports are second-hand, so they
# say what was seen. DOLISA's own staff and a child reporting itself are not held back.
CHANNEL_REQUIREMENTS: dict[Channel, tuple[str, ...]] = {
    Channel.HOTLINE_111: ("summary",),
    Channel.POLICE: ("summary",),
    Channel.SCHOOL: ("child.date_of_birth", "summary"),
    Channel.LABOUR_INSPECTION: ("workplace.name",),
    Channel.COMMUNE_COLLABORATOR: ("child.address",),
    Channel.DOLISA: (),
    Channel.NGO: ("summary",),
    Channel.MEDIA: ("summary",),
    Channel.SELF_REPORT: (),
}


# Which intake channels an agency may report through on its updates topic. An agency not
# listed reports nothing: its events are refused rather than trusted.
AGENCY_CHANNELS: dict[str, frozenset[Channel]] = {
    "police": frozenset({Channel.POLICE}),
    "dolisa": frozenset({Channel.DOLISA, Channel.COMMUNE_COLLABORATOR}),
    "education": frozenset({Channel.SCHOOL}),
    "labour_inspection": frozenset({Channel.LABOUR_INSPECTION}),
}


def missing_for_channel(channel: Channel, present: set[str]) -> list[str]:
    """The channel's required fields (dotted paths) that the report left empty."""
    return [field for field in CHANNEL_REQUIREMENTS[channel] if field not in present]


@dataclass(frozen=True)
class ConsentRecord:
    child_consented: bool | None
    guardian_consented: bool
    legal_override_reason: str | None


def age_on(date_of_birth: date, day: date) -> int:
    before_birthday = (day.month, day.day) < (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - int(before_birthday)


def age_band(date_of_birth: date | None, today: date) -> AgeBand:
    return AgeBand.of_age(age_on(date_of_birth, today) if date_of_birth else None)


def consent_basis(consent: ConsentRecord, age: int | None) -> ConsentBasis:
    """Consent of the guardian, plus the child's own from age 7; or a recorded override."""
    if consent.legal_override_reason:
        return ConsentBasis.LEGAL_OVERRIDE
    child_needed = age is None or age >= CHILD_CONSENT_AGE
    child_ok = bool(consent.child_consented) or not child_needed
    if consent.guardian_consented and child_ok:
        return ConsentBasis.CONSENT
    return ConsentBasis.NONE
