"""One function per command or event of the cases service.

Each takes a `UnitOfWork` (state and events commit together) and the service's `CaseDeps`.
Domain refusals are exceptions the API maps to 4xx and the consumer to the DLQ.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import or_
from sqlmodel import Session, select

from cases.adapters import identity
from cases.adapters.keyring import Cipher
from cases.adapters.tables import (
    CaseRecord,
    CaseReferral,
    CaseStageHistory,
    ConsentChange,
    DuplicateLink,
)
from cases.adapters.translators import record_case_from_report
from cases.domain import geography
from cases.domain.clocks import ClockPolicy, clocks_met_by, due_times
from cases.domain.commands import RecordCase
from cases.domain.duplicates import BlockingKeys, blocking_keys, match_kind
from cases.domain.intake import (
    AGENCY_CHANNELS,
    ConsentRecord,
    age_band,
    age_on,
    consent_basis,
    missing_for_channel,
)
from cases.domain.process import Plan, StageChange, StageRequest, change_stage
from chassis.calendar import WorkingCalendar
from chassis.consumer import RejectedEvent
from chassis.crypto import DecryptionError
from chassis.sealing import PrivateOpener, split_public_token
from chassis.unit_of_work import UnitOfWork
from contracts.agencies.v1 import CaseReported, ReportedIdentity
from contracts.cases.v1 import (
    CaseConsentRecorded,
    CaseFacts,
    CaseMerged,
    CaseReceived,
    CaseStageChanged,
)
from contracts.referrals.v1 import ReferralStateChanged
from contracts.topics import CASES_EVENTS
from contracts.vocabulary import (
    CaseClock,
    CaseStage,
    CaseType,
    ConsentBasis,
    RiskLevel,
    SupportNeed,
)


def _no_intake_key() -> PrivateOpener:
    raise RejectedEvent("sealed_identity: this cases service has no intake key configured")


@dataclass(frozen=True)
class CaseDeps:
    cipher: Cipher  # the service keyring: wraps each case's data key
    owner_agency: str
    dedup_secret: bytes
    clocks: ClockPolicy = field(default_factory=ClockPolicy)
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    # Opens agency case reports sealed to the intake public key (reloaded on rotation).
    intake_opener: Callable[[], PrivateOpener] = _no_intake_key


class CaseNotFound(Exception):
    pass


class StaleVersion(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the case is at version {current}; reload it and retry")
        self.current = current


class InvalidReport(Exception):
    """A report that breaks an intake rule; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class LinkClosed(Exception):
    pass


def record_case(
    uow: UnitOfWork, command: RecordCase, deps: CaseDeps, *, reported_under_key: str | None = None
) -> CaseRecord:
    """Step 1 of the national process: the case is recorded, linked and announced, its
    identity sealed under a data key of its own and each agency's view sealed with it."""
    if command.case_id and (known := uow.session.get(CaseRecord, command.case_id)):
        return known  # an agency resent its report: same case, no second one
    _check_report(command)
    child = command.child
    keys = blocking_keys(
        deps.dedup_secret, child.full_name, child.date_of_birth, command.commune_code
    )
    record = _case_row(command.case_id or str(uuid.uuid4()), command, deps, keys)
    record.reported_under_key = reported_under_key
    data_key = identity.new_data_key(uow.session, deps.cipher, record.id, command.received_at)
    plain = identity.plain_identity(child, command.workplace, command.summary)
    for column, token in identity.sealed_columns(data_key, record.id, plain).items():
        setattr(record, column, token)
    uow.session.add(record)
    uow.session.add(_consent_row(record, command.reported_by, command.received_at))
    if keys:
        _link_probable_duplicates(uow.session, record, keys)
    available = {**plain, "sex": child.sex.value, "industry": record.industry}
    views = identity.agency_views(data_key, record.id, command.case_type, available)
    uow.publish(_received(record, command, views), topic=CASES_EVENTS)
    return record


def _case_row(
    case_id: str, command: RecordCase, deps: CaseDeps, keys: BlockingKeys | None
) -> CaseRecord:
    """The new case's row: facts in clear, clocks due, blocking keys (identity comes next)."""
    child, consent, circumstances = command.child, command.consent, command.circumstances
    today = command.received_at.date()
    basis = consent_basis(
        consent, age_on(child.date_of_birth, today) if child.date_of_birth else None
    )
    due = due_times(command.received_at, command.risk_level, deps.clocks, deps.calendar)
    return CaseRecord(
        id=case_id,
        case_type=command.case_type.value,
        channel=command.channel.value,
        risk_level=command.risk_level.value,
        status=CaseStage.RECEIVED.value,
        province_code=command.province_code,
        commune_code=command.commune_code,
        sex=child.sex.value,
        age_band=age_band(child.date_of_birth, today).value,
        employer_identified=circumstances.employer_identified,
        out_of_school=circumstances.out_of_school,
        signs_of_forced_labour=circumstances.signs_of_forced_labour,
        industry=command.workplace.industry if command.workplace else None,
        consent_basis=basis.value,
        child_consented=consent.child_consented,
        guardian_consented=consent.guardian_consented,
        legal_override_reason=consent.legal_override_reason,
        owner_agency=deps.owner_agency,
        reported_by=command.reported_by,
        received_at=command.received_at,
        emergency_due_at=due.emergency_due_at,
        plan_due_at=due.plan_due_at,
        dedup_key=keys.exact if keys else None,
        dedup_key_folded=keys.folded if keys else None,
        child_name_enc="",
    )


def _check_report(command: RecordCase) -> None:
    """The rules the API schema also checks, for reports that arrive as events."""
    if not geography.is_province(command.province_code):
        raise InvalidReport("province_code", f"unknown province code {command.province_code!r}")
    if geography.province_of_commune(command.commune_code) != command.province_code:
        raise InvalidReport(
            "commune_code",
            f"commune {command.commune_code!r} is not in province {command.province_code!r}",
        )
    for missing in missing_for_channel(command.channel, command.present_fields()):
        raise InvalidReport(missing, f"required for channel {command.channel.value}")


def _link_probable_duplicates(session: Session, record: CaseRecord, keys: BlockingKeys) -> None:
    candidates = session.exec(
        select(CaseRecord).where(
            or_(
                CaseRecord.dedup_key == keys.exact,  # type: ignore[arg-type]
                CaseRecord.dedup_key_folded == keys.folded,  # type: ignore[arg-type]
            ),
            CaseRecord.id != record.id,
            CaseRecord.merged_into == None,  # noqa: E711 - SQL IS NULL
        )
    ).all()
    for other in candidates:
        kind = match_kind(keys, other.dedup_key or "", other.dedup_key_folded or "")
        if kind is None:
            continue
        session.add(
            DuplicateLink(
                id=str(uuid.uuid4()),
                case_id=record.id,
                other_case_id=other.id,
                province_code=record.province_code,
                match=kind.value,
                created_at=record.received_at,
            )
        )


def _received(
    record: CaseRecord, command: RecordCase, views: dict[str, dict[str, str]]
) -> CaseReceived:
    return CaseReceived(
        case_id=record.id,
        case_type=command.case_type,
        channel=command.channel,
        risk_level=command.risk_level,
        province_code=command.province_code,
        commune_code=command.commune_code,
        sex=command.child.sex,
        age_band=age_band(command.child.date_of_birth, command.received_at.date()),
        circumstances=command.circumstances,
        consent_basis=ConsentBasis(record.consent_basis),
        owner_agency=record.owner_agency,
        reported_by=command.reported_by,
        received_at=command.received_at,
        identity_views=views,
    )


def record_reported_case(
    uow: UnitOfWork, event: CaseReported, *, topic_agency: str, deps: CaseDeps
) -> None:
    """An agency's own case report (its updates topic): an intake like any other."""
    if event.agency != topic_agency:
        raise RejectedEvent(f"agency {event.agency!r} reported on {topic_agency!r}'s topic")
    if event.channel not in AGENCY_CHANNELS.get(topic_agency, frozenset()):
        raise RejectedEvent(f"channel {event.channel.value!r} does not fit agency {topic_agency!r}")
    if uow.session.get(CaseRecord, event.case_id) is not None:
        return  # a resent report: nothing to open, the case exists
    reported = open_report(event, deps)
    key_id, _ = split_public_token(event.sealed_identity)
    try:
        record_case(uow, record_case_from_report(event, reported), deps, reported_under_key=key_id)
    except InvalidReport as error:
        raise RejectedEvent(str(error)) from error


def open_report(event: CaseReported, deps: CaseDeps) -> ReportedIdentity:
    """The identity an agency sealed to the intake key; refused (DLQ) when it does not open.
    Error messages name the field, never a value."""
    try:
        plain = deps.intake_opener().open(
            event.sealed_identity, context=ReportedIdentity.context(event.case_id, event.agency)
        )
        return ReportedIdentity.model_validate_json(plain)
    except DecryptionError as error:
        raise RejectedEvent(f"sealed_identity: cannot be opened ({error})") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in issue['loc'])}: {issue['msg']}" for issue in error.errors()
        )
        raise RejectedEvent(f"sealed_identity: {problems}") from None


def load_case(session: Session, case_id: str) -> CaseRecord:
    """The case, locked for the rest of the transaction (PostgreSQL), so two writers that
    saw the same version cannot both pass the version check."""
    record = session.get(CaseRecord, case_id, with_for_update=True)
    if record is None:
        raise CaseNotFound(case_id)
    return record


def _checked_version(record: CaseRecord, expected: int | None) -> None:
    if expected is not None and expected != record.version:
        raise StaleVersion(record.version)


def move_stage(
    uow: UnitOfWork,
    record: CaseRecord,
    request: StageRequest,
    *,
    expected_version: int | None,
    actor: str,
    now: datetime,
) -> CaseStageChanged:
    """One step of the six-step process, stored in the history and announced."""
    _checked_version(record, expected_version)
    plan = None
    if record.plan_agencies and record.review_date:
        plan = Plan(tuple(record.plan_agencies.split(",")), record.review_date)
    change = change_stage(
        CaseStage(record.status), request, needs=_needs(record), plan=plan, today=now.date()
    )
    _apply(record, change, now)
    uow.session.add(record)
    uow.session.add(
        CaseStageHistory(
            case_id=record.id,
            from_stage=change.from_stage.value,
            to_stage=change.to_stage.value,
            actor=actor,
            reason=change.reason,
            occurred_at=now,
        )
    )
    event = _stage_changed(record, change, actor, now)
    uow.publish(event, topic=CASES_EVENTS)
    return event


def _apply(record: CaseRecord, change: StageChange, now: datetime) -> None:
    record.status = change.to_stage.value
    record.needs = ",".join(change.needs)
    record.plan_agencies = ",".join(change.plan.agencies) if change.plan else ""
    record.review_date = change.plan.review_date if change.plan else None
    if change.to_stage is CaseStage.CLOSED:
        record.closure_reason = change.reason
    for clock in clocks_met_by(change.to_stage):
        _meet(record, clock, now)
    record.version += 1


def _stage_changed(
    record: CaseRecord, change: StageChange, actor: str, now: datetime
) -> CaseStageChanged:
    return CaseStageChanged(
        **case_facts(record),
        from_stage=change.from_stage,
        to_stage=change.to_stage,
        actor=actor,
        reason=change.reason,
        needs=change.needs,
        plan_agencies=change.plan.agencies if change.plan else (),
        review_date=change.plan.review_date if change.plan else None,
        received_at=record.received_at,
        occurred_at=now,
    )


def _meet(record: CaseRecord, clock: CaseClock, now: datetime) -> None:
    if clock is CaseClock.EMERGENCY_INTERVENTION and record.emergency_met_at is None:
        record.emergency_met_at = now
    if clock is CaseClock.PLAN_APPROVAL and record.plan_met_at is None:
        record.plan_met_at = now


def _needs(record: CaseRecord) -> tuple[SupportNeed, ...]:
    return tuple(SupportNeed(code) for code in record.needs.split(",") if code)


def case_facts(record: CaseRecord) -> dict[str, object]:
    return CaseFacts(
        case_id=record.id,
        case_type=CaseType(record.case_type),
        risk_level=RiskLevel(record.risk_level),
        province_code=record.province_code,
        owner_agency=record.owner_agency,
    ).model_dump()


def record_consent(
    uow: UnitOfWork,
    record: CaseRecord,
    consent: ConsentRecord,
    *,
    deps: CaseDeps,
    actor: str,
    now: datetime,
) -> CaseConsentRecorded:
    """Consent of the child (from age 7) and guardian, or a legal override; an event."""
    try:
        born = identity.date_of_birth(identity.open_all(uow.session, deps.cipher, record))
    except identity.IdentityErased:
        born = None  # erased: consent stands on the guardian and any override
    basis = consent_basis(consent, age_on(born, now.date()) if born else None)
    record.consent_basis = basis.value
    record.child_consented = consent.child_consented
    record.guardian_consented = consent.guardian_consented
    record.legal_override_reason = consent.legal_override_reason
    record.version += 1
    uow.session.add(record)
    uow.session.add(_consent_row(record, actor, now))
    event = CaseConsentRecorded(
        **case_facts(record),
        consent_basis=basis,
        child_consented=consent.child_consented,
        guardian_consented=consent.guardian_consented,
        legal_override_reason=consent.legal_override_reason,
        actor=actor,
        occurred_at=now,
    )
    uow.publish(event, topic=CASES_EVENTS)
    return event


def _consent_row(record: CaseRecord, actor: str, at: datetime) -> ConsentChange:
    return ConsentChange(
        case_id=record.id,
        consent_basis=record.consent_basis,
        child_consented=record.child_consented,
        guardian_consented=record.guardian_consented,
        legal_override_reason=record.legal_override_reason,
        actor=actor,
        occurred_at=at,
    )


def decide_duplicate(
    uow: UnitOfWork, link: DuplicateLink, *, confirm: bool, actor: str, now: datetime
) -> CaseMerged | None:
    """A coordinator's decision; a confirmed link merges the newer case into the older."""
    if link.status != "open":
        raise LinkClosed(f"the link was already {link.status}")
    link.status = "confirmed" if confirm else "rejected"
    link.decided_by, link.decided_at = actor, now
    uow.session.add(link)
    if not confirm:
        return None
    return _merge(uow, load_case(uow.session, link.other_case_id), link.case_id, actor, now)


def _merge(
    uow: UnitOfWork, kept: CaseRecord, merged_id: str, actor: str, now: datetime
) -> CaseMerged:
    """The newer report lives on in the older case: referrals and history move over."""
    merged = load_case(uow.session, merged_id)
    if kept.merged_into or merged.merged_into:
        raise LinkClosed("one of the two cases was already merged into another")
    for table in (CaseReferral, CaseStageHistory, ConsentChange):
        for row in uow.session.exec(select(table).where(table.case_id == merged.id)).all():
            row.case_id = kept.id
            uow.session.add(row)
    merged.merged_into = kept.id
    merged.status = CaseStage.CLOSED.value
    merged.closure_reason = f"merged into case {kept.id}"
    merged.version += 1
    kept.version += 1
    uow.session.add_all([merged, kept])
    event = CaseMerged(**case_facts(kept), merged_case_id=merged.id, actor=actor, occurred_at=now)
    uow.publish(event, topic=CASES_EVENTS)
    return event


def follow_referral(uow: UnitOfWork, event: ReferralStateChanged) -> None:
    """Keep the combined status of the case's referrals (newest version wins)."""
    row = uow.session.get(CaseReferral, event.referral_id)
    if row is not None and row.version >= event.version:
        return
    if row is None:
        case = uow.session.get(CaseRecord, event.case_id)
        # A referral of a merged case belongs to the case it was merged into.
        case_id = case.merged_into if case and case.merged_into else event.case_id
        row = CaseReferral(
            referral_id=event.referral_id,
            case_id=case_id,
            agency=event.agency,
            lead=event.lead,
            state=event.to_state.value,
            version=event.version,
        )
    if row.state != event.to_state.value:
        row.state_since = event.occurred_at
    row.state = event.to_state.value
    row.version = event.version
    row.state_since = row.state_since or event.occurred_at
    uow.session.add(row)
