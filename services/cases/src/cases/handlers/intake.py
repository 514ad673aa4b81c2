"""Step 1 of the national process: a case is received and recorded — from the API, a bulk
import or an agency's sealed report — its identity sealed under its own data key."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cases.adapters import identity
from cases.adapters.store import CaseStore
from cases.adapters.tables import (
    CaseDataKey,
    CaseRecord,
    DuplicateLink,
)
from cases.adapters.translators import record_case_from_report
from cases.domain import geography
from cases.domain.clocks import due_times
from cases.domain.commands import RecordCase
from cases.domain.duplicates import BlockingKeys, blocking_keys, match_kind
from cases.domain.intake import (
    AGENCY_CHANNELS,
    age_band,
    age_on,
    consent_basis,
    missing_for_channel,
)
from cases.handlers.consent import consent_row
from cases.handlers.deps import CaseDeps, InvalidReport
from chassis.consumer import RejectedEvent
from chassis.crypto import DecryptionError
from chassis.sealing import split_public_token
from contracts.agencies.v1 import CaseReported, ReportedIdentity
from contracts.cases.v1 import (
    CaseReceived,
)
from contracts.identifiers import new_id
from contracts.topics import CASES_EVENTS
from contracts.vocabulary import (
    CaseStage,
    ConsentBasis,
)


def record_case(
    store: CaseStore,
    command: RecordCase,
    deps: CaseDeps,
    *,
    reported_under_key: str | None = None,
    keys: BlockingKeys | None = None,
) -> CaseRecord:
    """Step 1 of the national process: the case is recorded, linked and announced, its
    identity sealed under a data key of its own and each agency's view sealed with it.
    `keys`: the child's blocking keys, if the caller has worked them out already."""
    if command.case_id and (known := store.case(command.case_id)):
        return known  # an agency resent its report: same case, no second one
    _check_report(command)
    child = command.child
    keys = keys or blocking_keys(
        deps.dedup_secret, child.full_name, child.date_of_birth, command.commune_code
    )
    case_id = command.case_id or new_id()
    data_key, wrapped = identity.new_data_key(deps.cipher, case_id)
    store.save_data_key(
        store.row(CaseDataKey, case_id=case_id, wrapped_key=wrapped, created_at=command.received_at)
    )
    plain = identity.plain_identity(child, command.workplace, command.summary)
    record = store.row(
        CaseRecord,
        **_case_columns(case_id, command, deps, keys),
        **identity.sealed_columns(data_key, case_id, plain),
        reported_under_key=reported_under_key,
    )
    store.add_case(record)
    store.add_consent(consent_row(store, record, command.reported_by, command.received_at))
    if keys:
        _link_probable_duplicates(store, record, keys)
    available = {**plain, "sex": child.sex.value, "industry": record.industry}
    views = identity.agency_views(data_key, record.id, command.case_type, available)
    store.publish(_received(record, command, views), topic=CASES_EVENTS)
    return record


def _case_columns(
    case_id: str, command: RecordCase, deps: CaseDeps, keys: BlockingKeys | None
) -> dict[str, Any]:
    """The new case's columns but its sealed identity: facts in clear, clocks due,
    blocking keys."""
    child, consent, circumstances = command.child, command.consent, command.circumstances
    today = command.received_at.date()
    basis = consent_basis(
        consent, age_on(child.date_of_birth, today) if child.date_of_birth else None
    )
    due = due_times(command.received_at, command.risk_level, deps.clocks, deps.calendar)
    return dict(
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


def _link_probable_duplicates(store: CaseStore, record: CaseRecord, keys: BlockingKeys) -> None:
    for other in store.duplicate_candidates(keys, besides=record.id):
        kind = match_kind(keys, other.dedup_key or "", other.dedup_key_folded or "")
        if kind is None:
            continue
        store.add_duplicate_link(
            store.row(
                DuplicateLink,
                id=new_id(),
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
    store: CaseStore, event: CaseReported, *, topic_agency: str, deps: CaseDeps
) -> None:
    """An agency's own case report (its updates topic): an intake like any other."""
    if event.agency != topic_agency:
        raise RejectedEvent(f"agency {event.agency!r} reported on {topic_agency!r}'s topic")
    if event.channel not in AGENCY_CHANNELS.get(topic_agency, frozenset()):
        raise RejectedEvent(f"channel {event.channel.value!r} does not fit agency {topic_agency!r}")
    if store.case(event.case_id) is not None:
        return  # a resent report: nothing to open, the case exists
    reported = open_report(event, deps)
    key_id, _ = split_public_token(event.sealed_identity)
    try:
        command = record_case_from_report(event, reported)
        record_case(store, command, deps, reported_under_key=key_id)
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
