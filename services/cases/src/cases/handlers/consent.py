"""Consent of the child (from age 7) and guardian, or a legal override: what lets a case be
referred."""

from __future__ import annotations

from datetime import datetime

from cases.adapters import identity
from cases.adapters.store import CaseStore
from cases.adapters.tables import (
    CaseRecord,
    ConsentChange,
)
from cases.domain.intake import (
    ConsentRecord,
    age_on,
    consent_basis,
)
from cases.handlers.deps import CaseDeps, case_facts
from contracts.cases.v1 import (
    CaseConsentRecorded,
)
from contracts.topics import CASES_EVENTS


def record_consent(
    store: CaseStore,
    record: CaseRecord,
    consent: ConsentRecord,
    *,
    deps: CaseDeps,
    actor: str,
    now: datetime,
) -> CaseConsentRecorded:
    """Consent of the child (from age 7) and guardian, or a legal override; an event."""
    try:
        opened = identity.open_under(deps.cipher, record, store.data_key(record.id))
        born = identity.date_of_birth(opened)
    except identity.IdentityErased:
        born = None  # erased: consent stands on the guardian and any override
    basis = consent_basis(consent, age_on(born, now.date()) if born else None)
    record.consent_basis = basis.value
    record.child_consented = consent.child_consented
    record.guardian_consented = consent.guardian_consented
    record.legal_override_reason = consent.legal_override_reason
    record.version += 1
    store.save(record)
    store.add_consent(consent_row(store, record, actor, now))
    event = CaseConsentRecorded(
        **case_facts(record),
        consent_basis=basis,
        child_consented=consent.child_consented,
        guardian_consented=consent.guardian_consented,
        legal_override_reason=consent.legal_override_reason,
        actor=actor,
        occurred_at=now,
    )
    store.publish(event, topic=CASES_EVENTS)
    return event


def consent_row(store: CaseStore, record: CaseRecord, actor: str, at: datetime) -> ConsentChange:
    return store.row(
        ConsentChange,
        case_id=record.id,
        consent_basis=record.consent_basis,
        child_consented=record.child_consented,
        guardian_consented=record.guardian_consented,
        legal_override_reason=record.legal_override_reason,
        actor=actor,
        occurred_at=at,
    )
