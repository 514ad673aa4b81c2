"""Routes of the cases API: thin — validate, authorise, call the handler, map errors.

Every read and write of a case, allowed or denied, leaves an `AuditRecorded` event.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from sqlmodel import Session, col, select

from cases import handlers
from cases.adapters import identity
from cases.adapters.store import SqlStore
from cases.adapters.tables import CaseRecord, CaseReferral, CaseStageHistory
from cases.api.batch import accepted, record_reports
from cases.api.deps import Context, run_audited
from cases.api.idempotency import IdempotencyKey, answer_once, keyed_request
from cases.api.schemas import (
    CaseAccepted,
    CaseOut,
    CaseReferralOut,
    CaseReportIn,
    CaseSummaryOut,
    ChildOut,
    ClockOut,
    ConsentIn,
    ConsentOut,
    HistoryOut,
    StageChangeIn,
    StageOut,
    ViewKeyIn,
    ViewKeyOut,
)
from cases.domain import access
from cases.domain.access import Access, ReferralLink
from cases.domain.intake import ConsentRecord, missing_for_channel
from cases.domain.process import ForbiddenTransition, IncompleteStep, Plan, StageRequest
from cases.domain.referral_status import combined_status
from chassis.access import Grant, Granted
from chassis.api import Offset, error_responses, invalid
from chassis.identity_views import view_key
from chassis.timestamps import aware
from chassis.unit_of_work import UnitOfWork
from contracts.referrals.field_policy import field_policy
from contracts.vocabulary import (
    CaseStage,
    CaseType,
    Channel,
    ReferralState,
    RiskLevel,
)

router = APIRouter(prefix="/cases", tags=["cases"])
Province = Annotated[str | None, Query(pattern=r"^\d{2}$")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseAccepted)
def report_case(
    body: CaseReportIn,
    grant: Granted,
    context: Context,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CaseAccepted:
    grant.require_province(body.province_code, resource_id="new")
    received_at = datetime.now(UTC)
    command = body.to_command(reported_by=grant.officer.subject, received_at=received_at)
    missing = missing_for_channel(body.channel, command.present_fields())
    if missing:
        raise invalid(*missing, message=f"required for channel {body.channel.value}")
    request = keyed_request(context, grant, idempotency_key, body)

    def create() -> CaseAccepted:
        return record_reports(context, grant, [command], request, _the_one_accepted)

    return answer_once(context.engine, request, response, CaseAccepted, create)


def _the_one_accepted(records: list[CaseRecord]) -> CaseAccepted:
    (record,) = records
    return accepted(record)


@router.get("", response_model=list[CaseSummaryOut])
def list_cases(
    grant: Granted,
    context: Context,
    province_code: Province = None,
    status_: Annotated[CaseStage | None, Query(alias="status")] = None,
    case_type: CaseType | None = None,
    risk_level: RiskLevel | None = None,
    channel: Channel | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> list[CaseSummaryOut]:
    """The owning agency's cases in the caller's provinces, newest first, without identity."""
    if province_code is not None and not grant.serves(province_code):
        raise grant.refuse(403, "province_code: outside the provinces you serve")
    provinces = grant.visible_provinces()

    def act(uow: UnitOfWork) -> list[CaseRecord]:
        query = select(CaseRecord).where(CaseRecord.owner_agency == context.deps.owner_agency)
        if provinces is not None:
            query = query.where(col(CaseRecord.province_code).in_(provinces))
        for column, value in (
            (CaseRecord.province_code, province_code),
            (CaseRecord.status, status_),
            (CaseRecord.case_type, case_type),
            (CaseRecord.risk_level, risk_level),
            (CaseRecord.channel, channel),
        ):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(col(CaseRecord.received_at).desc(), col(CaseRecord.id))
        return list(uow.session.exec(query.offset(offset).limit(limit)).all())

    rows = run_audited(context, grant, act, "*")
    return [CaseSummaryOut.model_validate(row, from_attributes=True) for row in rows]


@router.get("/{case_id}", response_model=CaseOut)
def get_case(case_id: str, grant: Granted, context: Context, response: Response) -> CaseOut:
    record = _case_in_scope(context, grant, case_id)
    shows_identity = grant.shows_identity()

    def act(uow: UnitOfWork) -> CaseOut:
        referrals = uow.session.exec(
            select(CaseReferral).where(CaseReferral.case_id == case_id)
        ).all()
        child = None
        if shows_identity and not record.identity_erased_at:
            child = _identity(identity.open_all(uow.session, context.deps.cipher, record))
        return _case_out(record, referrals, child)

    shown = identity.present_fields(record) if shows_identity else frozenset()
    detail = f"identity shown: {', '.join(sorted(shown))}" if shown else "no identity"
    if shown:
        response.headers["Cache-Control"] = "no-store"
    return run_audited(context, grant, act, case_id, detail=detail)


@router.post(
    "/{case_id}/stage",
    response_model=StageOut,
    responses=error_responses(
        {409: "The process forbids this step, or the version is stale (read the case again)."}
    ),
)
def change_stage(case_id: str, body: StageChangeIn, grant: Granted, context: Context) -> StageOut:
    """One step of the six-step process; 409 when the process or the version forbids it."""
    _case_in_scope(context, grant, case_id)
    request = StageRequest(
        to_stage=body.to_stage,
        reason=body.reason,
        needs=tuple(body.needs),
        plan=Plan(tuple(body.plan.agencies), body.plan.review_date) if body.plan else None,
    )

    def act(uow: UnitOfWork) -> StageOut:
        record = handlers.load_case(SqlStore(uow), case_id)
        event = handlers.move_stage(
            SqlStore(uow),
            record,
            request,
            expected_version=body.version,
            actor=grant.officer.subject,
            now=datetime.now(UTC),
        )
        return StageOut(
            case_id=case_id,
            from_stage=event.from_stage,
            to_stage=event.to_stage,
            version=record.version,
        )

    detail = f"stage → {body.to_stage.value}"
    try:
        return run_audited(context, grant, act, case_id, detail=detail)
    except ForbiddenTransition as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except handlers.StaleVersion as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except IncompleteStep as error:
        raise invalid(error.field, message=error.message) from None


@router.get("/{case_id}/history", response_model=list[HistoryOut])
def stage_history(case_id: str, grant: Granted, context: Context) -> list[HistoryOut]:
    _case_in_scope(context, grant, case_id)

    def act(uow: UnitOfWork) -> list[HistoryOut]:
        rows = uow.session.exec(
            select(CaseStageHistory)
            .where(CaseStageHistory.case_id == case_id)
            .order_by(col(CaseStageHistory.id))
        ).all()
        return [HistoryOut.model_validate(row, from_attributes=True) for row in rows]

    return run_audited(context, grant, act, case_id, detail="history")


@router.post("/{case_id}/consent", response_model=ConsentOut)
def record_consent(case_id: str, body: ConsentIn, grant: Granted, context: Context) -> ConsentOut:
    """Consent of the child (7+) and guardian, or a legal override with its reason."""
    _case_in_scope(context, grant, case_id)
    consent = ConsentRecord(**body.model_dump())

    def act(uow: UnitOfWork) -> ConsentOut:
        record = handlers.load_case(SqlStore(uow), case_id)
        event = handlers.record_consent(
            SqlStore(uow),
            record,
            consent,
            deps=context.deps,
            actor=grant.officer.subject,
            now=datetime.now(UTC),
        )
        return ConsentOut(
            case_id=case_id, consent_basis=event.consent_basis, version=record.version
        )

    return run_audited(context, grant, act, case_id, detail="consent")


@router.post(
    "/{case_id}/view-key",
    response_model=ViewKeyOut,
    responses=error_responses({410: "The child's identity was erased."}),
)
def release_view_key(
    case_id: str, body: ViewKeyIn, grant: Granted, context: Context, response: Response
) -> ViewKeyOut:
    """The key of one agency's sealed view of the case, for an officer who acts on an active
    referral of that agency (its API asks with the officer's token when the officer reads
    the referral). The views travel with the events; only this key is released, audited."""
    officer = grant.officer
    with Session(context.engine) as session:
        record = session.get(CaseRecord, case_id)
        link = session.get(CaseReferral, body.referral_id)
    if (
        link is not None
        and record is not None
        and link.case_id not in (record.id, record.merged_into)
    ):
        link = None  # a referral of another case
    decision = access.view_key_access(
        officer,
        referral=_link(link),
        case_province=record.province_code if record else None,
        now=datetime.now(UTC),
        grace=context.identity_grace,
    )
    if record is None or decision is not Access.ALLOWED:
        raise _refused(grant, decision, case_id)
    if record.identity_erased_at:
        raise grant.refuse(410, "the child's identity was erased", resource_id=case_id)
    agency = officer.agency
    allowed = field_policy().allowed_fields(agency, CaseType(record.case_type))
    fields = sorted(allowed & identity.present_fields(record))

    def act(uow: UnitOfWork) -> ViewKeyOut:
        data_key = identity.data_key(uow.session, context.deps.cipher, case_id)
        if data_key is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "this case has no sealed views")
        key = view_key(data_key, case_id=case_id, agency=agency)
        return ViewKeyOut(
            case_id=case_id,
            referral_id=body.referral_id,
            agency=agency,
            key=base64.urlsafe_b64encode(key.material).decode("ascii"),
            fields=fields,
        )

    response.headers["Cache-Control"] = "no-store"
    detail = f"view of {agency} for referral {body.referral_id}: {', '.join(fields)}"
    return run_audited(context, grant, act, case_id, detail=detail)


def _refused(grant: Grant, decision: Access, case_id: str) -> HTTPException:
    if decision is Access.CLOSED:
        message = "the referral has ended: the identity no longer opens for it"
        return grant.refuse(403, message, resource_id=case_id)
    return grant.refuse(404, "case identity not found", resource_id=case_id)


def _link(row: CaseReferral | None) -> ReferralLink | None:
    if row is None:
        return None
    return ReferralLink(row.agency, ReferralState(row.state), aware(row.state_since))


def _case_in_scope(context: Context, grant: Grant, case_id: str) -> CaseRecord:
    """The case, if the caller's provinces cover it (404 otherwise, audited)."""
    with Session(context.engine) as session:
        record = session.get(CaseRecord, case_id)
    grant.require_province(
        record.province_code if record else None, resource_id=case_id, what="case"
    )
    assert record is not None
    return record


def _case_out(
    record: CaseRecord, referrals: Sequence[CaseReferral], child: ChildOut | None
) -> CaseOut:
    clocks = {
        "emergency_intervention": ClockOut(
            due_at=record.emergency_due_at,
            met_at=record.emergency_met_at,
            missed_at=record.emergency_missed_at,
        ),
        "plan_approval": ClockOut(
            due_at=record.plan_due_at, met_at=record.plan_met_at, missed_at=record.plan_missed_at
        ),
    }
    return CaseOut.model_validate(
        {
            **record.model_dump(),
            "needs": [code for code in record.needs.split(",") if code],
            "plan_agencies": [code for code in record.plan_agencies.split(",") if code],
            "clocks": clocks,
            "child": child,
            "referrals": [
                CaseReferralOut.model_validate(r, from_attributes=True) for r in referrals
            ],
            "referral_status": combined_status(r.state for r in referrals),
        }
    )


def _identity(opened: Mapping[str, str | None]) -> ChildOut:
    return ChildOut(
        full_name=opened["child_name"] or "",
        date_of_birth=identity.date_of_birth(opened),
        address=opened["address"],
        phone=opened["phone"],
        guardian_name=opened["guardian_name"],
        guardian_phone=opened["guardian_phone"],
    )
