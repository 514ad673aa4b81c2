"""What every referral change is, over any `ReferralStore`: open, move with a version
check, history — used by the handlers, the deadline sweep and the cancel route.

Each change stages its events with it (the store's outbox): `ReferralStateChanged` to
`referrals.events.v1` and to the agency's inbox topic, `ReferralRequested` for a new one;
the transition metric is counted only once the change has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chassis.timestamps import aware
from contracts.agencies.v1 import ReferralOutcome
from contracts.cases.v1 import CaseCircumstances
from contracts.identifiers import new_id
from contracts.referrals.field_policy import field_policy
from contracts.referrals.v1 import ReferralRequested, ReferralStateChanged
from contracts.topics import REFERRALS_EVENTS, agency_referrals_topic
from contracts.vocabulary import AgeBand, CaseType, ReferralState, RiskLevel
from referrals.adapters.store import ReferralStore
from referrals.adapters.tables import ReferralRecord
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


def _view_for(
    store: ReferralStore, case_id: str, agency: str, case_type: CaseType
) -> dict[str, str]:
    """The agency's sealed view, cut to the fields the policy gives it (by name: the values
    stay sealed, this service cannot open them)."""
    views = store.views_of(case_id)
    view = views.get(agency, {}) if views else {}
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
    store: ReferralStore,
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
        id=referral_id or new_id(),
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
    store.add(referral)
    store.publish(
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
            details=_view_for(store, new.case_id, new.agency, new.case_type),
            accept_by=accept_by,
            requested_at=at,
            linked_referral_id=new.linked_referral_id,
        ),
        topic=agency_referrals_topic(new.agency),
    )
    change = Change(actor, at, new.reason, linked_referral_id=new.linked_referral_id)
    _record(store, referral, None, change)
    return referral


def move(
    store: ReferralStore,
    referral: ReferralRecord,
    target: ReferralState,
    change: Change,
    *,
    policy: RoutingPolicy,
) -> bool:
    """Apply a transition the caller checked, if the version is still the one it read.

    Of two concurrent writers on one version exactly one wins (the store's conditional
    write); False for the loser, and nothing recorded for it.
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
    if not store.move_if_version(referral, referral.version, values):
        return False
    _record(store, referral, previous, change)
    return True


def _record(
    store: ReferralStore, referral: ReferralRecord, previous: ReferralState | None, change: Change
) -> None:
    """History row plus the state event, to everyone and to the agency's inbox."""
    store.record_transition(
        store.new_transition(
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
    store.publish(changed, topic=REFERRALS_EVENTS)
    if previous is not None:
        # The inbox follows every move. Its creation is the `ReferralRequested` it was sent:
        # the same state and version, so a copy of the creation would be one more record a
        # referral for the agency's worker to read, and nothing new.
        store.publish(changed, topic=agency_referrals_topic(referral.agency))
    store.after_commit(REFERRAL_TRANSITIONS.labels(referral.agency, state.value).inc)
