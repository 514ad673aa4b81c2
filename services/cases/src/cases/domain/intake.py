"""Intake rules: what a report must say, and what follows from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from contracts.vocabulary import AgeBand, ConsentBasis

CHILD_CONSENT_AGE = 7  # the child's own consent is needed from age 7 (Law on Children)


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
