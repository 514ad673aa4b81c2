"""Writes every referral change goes through: open, move with a version check, history.

Each change stages its events in the same transaction (outbox): `ReferralStateChanged` to
`referrals.events.v1` and to the agency's inbox topic, `ReferralRequested` for a new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from chassis.unit_of_work import UnitOfWork
from contracts.agencies.v1 import ReferralOutcome
from contracts.cases.v1 import CaseCircumstances
from contracts.referrals.field_policy import field_policy
from contracts.referrals.v1 import ReferralRequested, ReferralStateChanged
from contracts.topics import REFERRALS_EVENTS, agency_referrals_topic
from contracts.vocabulary import AgeBand, CaseType, ReferralState, RiskLevel
from referrals.adapters.tables import CaseIdentityViews, ReferralRecord, ReferralTransition
from referrals.domain.routing import CaseProfile, RoutingPolicy, deadline_for
from referrals.metrics import REFERRAL_TRANSITIONS


@dataclass(frozen=True)
class NewReferral:
    case_id: str
    agency: str
    lead: bool
    reason: str
    case_type: CaseType
    risk_level: RiskLevel
    province_code: str
    commune_code: str
    age_band: AgeBand
    circumstances: CaseCircumstances
    owner_agency: str
    linked_referral_id: str | None = None


@dataclass(frozen=True)
class Change:
    """One transition: who, why, and what came with it."""

    actor: str
    at: datetime
    reason: str | None = None
    outcome: ReferralOutcome | None = None
    transferred_to: str | None = None
    linked_referral_id: str | None = None


def aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; every stored one is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def keep_views(uow: UnitOfWork, case_id: str, views: Mapping[str, Mapping[str, str]]) -> None:
    """Keep the case's sealed views (unopened) for the referrals made from it."""
    if views and uow.session.get(CaseIdentityViews, case_id) is None:
        uow.session.add(
            CaseIdentityViews(case_id=case_id, views={a: dict(v) for a, v in views.items()})
        )


def drop_views(uow: UnitOfWork, case_id: str) -> None:
    row = uow.session.get(CaseIdentityViews, case_id)
    if row is not None:
        uow.session.delete(row)


def _view_for(uow: UnitOfWork, case_id: str, agency: str, case_type: CaseType) -> dict[str, str]:
    """The agency's sealed view, cut to the fields the policy gives it (by name: the values
    stay sealed, this service cannot open them)."""
    row = uow.session.get(CaseIdentityViews, case_id)
    view = row.views.get(agency, {}) if row else {}
    allowed = field_policy().allowed_fields(agency, case_type)
    return {field: token for field, token in view.items() if field in allowed}


def profile(referral: ReferralRecord) -> CaseProfile:
    return CaseProfile(
        CaseType(referral.case_type),
        RiskLevel(referral.risk_level),
        referral.province_code,
        CaseCircumstances(**referral.circumstances),
    )


def replacement_of(old: ReferralRecord, agency: str, reason: str) -> NewReferral:
    """A referral to `agency` taking over from `old` (transfer or re-route), linked to it."""
    case = profile(old)
    return NewReferral(
        case_id=old.case_id,
        agency=agency,
        lead=old.lead,
        reason=reason,
        case_type=case.case_type,
        risk_level=case.risk_level,
        province_code=old.province_code,
        commune_code=old.commune_code,
        age_band=AgeBand(old.age_band),
        circumstances=case.circumstances,
        owner_agency=old.owner_agency,
        linked_referral_id=old.id,
    )


def open_referral(
    uow: UnitOfWork,
    new: NewReferral,
    *,
    policy: RoutingPolicy,
    actor: str,
    at: datetime,
    referral_id: str | None = None,
) -> ReferralRecord:
    """A new referral in `requested`, its need-to-know details (sealed), and its events."""
    case = CaseProfile(new.case_type, new.risk_level, new.province_code, new.circumstances)
    accept_by = deadline_for(policy, case, ReferralState.REQUESTED, entered_at=at, requested_at=at)
    assert accept_by is not None, "the policy schema requires a requested deadline"
    referral = ReferralRecord(
        id=referral_id or str(uuid.uuid4()),
        case_id=new.case_id,
        agency=new.agency,
        lead=new.lead,
        state=ReferralState.REQUESTED.value,
        version=1,
        case_type=new.case_type.value,
        risk_level=new.risk_level.value,
        province_code=new.province_code,
        commune_code=new.commune_code,
        age_band=new.age_band.value,
        circumstances=new.circumstances.model_dump(),
        owner_agency=new.owner_agency,
        reason=new.reason,
        linked_referral_id=new.linked_referral_id,
        accept_by=accept_by,
        due_at=accept_by,
        next_escalation_at=accept_by,
        created_at=at,
        updated_at=at,
    )
    uow.session.add(referral)
    uow.publish(
        ReferralRequested(
            referral_id=referral.id,
            case_id=new.case_id,
            agency=new.agency,
            lead=new.lead,
            version=1,
            case_type=new.case_type,
            risk_level=new.risk_level,
            province_code=new.province_code,
            commune_code=new.commune_code,
            age_band=new.age_band,
            reason=new.reason,
            details=_view_for(uow, new.case_id, new.agency, new.case_type),
            accept_by=accept_by,
            requested_at=at,
        ),
        topic=agency_referrals_topic(new.agency),
    )
    change = Change(actor, at, new.reason, linked_referral_id=new.linked_referral_id)
    _record(uow, referral, None, change)
    return referral


def move(
    uow: UnitOfWork,
    referral: ReferralRecord,
    target: ReferralState,
    change: Change,
    *,
    policy: RoutingPolicy,
) -> bool:
    """Apply a transition the caller checked, if the version is still the one it read.

    The conditional UPDATE makes two concurrent writers on one version end with exactly
    one winner (also on PostgreSQL under read committed); False for the loser.
    """
    previous = ReferralState(referral.state)
    due = deadline_for(
        policy,
        profile(referral),
        target,
        entered_at=change.at,
        requested_at=aware(referral.created_at),
    )
    values: dict[str, Any] = {
        "state": target.value,
        "version": referral.version + 1,
        "updated_at": change.at,
        "due_at": due,
        "next_escalation_at": due,
        "escalations_sent": 0,
    }
    if change.linked_referral_id:
        values["linked_referral_id"] = change.linked_referral_id
    result = uow.session.execute(
        update(ReferralRecord)
        .where(col(ReferralRecord.id) == referral.id)
        .where(col(ReferralRecord.version) == referral.version)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    uow.session.refresh(referral)
    _record(uow, referral, previous, change)
    return True


def _record(
    uow: UnitOfWork, referral: ReferralRecord, previous: ReferralState | None, change: Change
) -> None:
    """History row plus the state event, to everyone and to the agency's inbox."""
    uow.session.add(
        ReferralTransition(
            referral_id=referral.id,
            version=referral.version,
            from_state=previous.value if previous else None,
            to_state=referral.state,
            actor=change.actor,
            reason=change.reason,
            outcome=change.outcome.model_dump(exclude_defaults=True) if change.outcome else None,
            transferred_to=change.transferred_to,
            linked_referral_id=change.linked_referral_id,
            occurred_at=change.at,
        )
    )
    state = ReferralState(referral.state)
    changed = ReferralStateChanged(
        referral_id=referral.id,
        case_id=referral.case_id,
        agency=referral.agency,
        lead=referral.lead,
        case_type=CaseType(referral.case_type),
        risk_level=RiskLevel(referral.risk_level),
        province_code=referral.province_code,
        from_state=previous,
        to_state=state,
        version=referral.version,
        actor=change.actor,
        reason=change.reason,
        deadline=aware(referral.due_at) if referral.due_at else None,
        owner_agency=referral.owner_agency,
        outcome=change.outcome,
        transferred_to=change.transferred_to,
        linked_referral_id=change.linked_referral_id,
        occurred_at=change.at,
    )
    uow.publish(changed, topic=REFERRALS_EVENTS)
    # The inbox follows too; the creation tells it which referral a new one replaces.
    uow.publish(changed, topic=agency_referrals_topic(referral.agency))
    REFERRAL_TRANSITIONS.labels(referral.agency, state.value).inc()
