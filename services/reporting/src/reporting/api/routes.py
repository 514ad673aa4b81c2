"""Aggregated figures for any signed-in user, limited to the provinces the caller serves.

Small cells are suppressed for every role but `statistician` (`domain/disclosure.py`);
exports are audited.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from chassis.access import Granted
from chassis.audit import stage_audit
from chassis.auth import Principal
from chassis.unit_of_work import unit_of_work
from contracts.vocabulary import AgeBand, AuditAction, CaseType, Channel, RiskLevel
from contracts.vocabulary import Sex as SexCode
from reporting.config import ReportingSettings
from reporting.domain.disclosure import sees_exact_counts
from reporting.domain.indicators import PlanClock, Share
from reporting.domain.periods import Period
from reporting.publication import PublishedTable, publish, to_csv, to_xlsx
from reporting.queries import (
    CaseDimension,
    CountTable,
    Filters,
    ReferralDimension,
    case_table,
    deliveries_by_channel,
    indicator_figures,
    referral_table,
)

router = APIRouter(tags=["reports"])


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


def _invalid(name: str, message: str) -> RequestValidationError:
    """A 422 in the chassis' format, naming the query parameter."""
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": "value_error"}])


def _filters(
    grant: Granted,
    date_from: Annotated[date | None, Query(alias="from", description="First local day.")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="Last local day.")] = None,
    province: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    case_type: CaseType | None = None,
    channel: Channel | None = None,
    sex: SexCode | None = None,
    age_band: AgeBand | None = None,
    risk: RiskLevel | None = None,
    agency: Annotated[str | None, Query(max_length=40)] = None,
) -> Filters:
    if date_from and date_to and date_from > date_to:
        raise _invalid("from", "must not be after to")
    if province and not grant.serves(province):
        raise grant.refuse(status.HTTP_403_FORBIDDEN, f"province: {province} is not yours")
    return Filters(
        date_from=date_from,
        date_to=date_to,
        province=province,
        case_type=case_type.value if case_type else None,
        channel=channel.value if channel else None,
        sex=sex.value if sex else None,
        age_band=age_band.value if age_band else None,
        risk=risk.value if risk else None,
        agency=agency,
        provinces=grant.visible_provinces(),
    )


FiltersDep = Annotated[Filters, Depends(_filters)]


def _settings(request: Request) -> ReportingSettings:
    settings: ReportingSettings = request.app.state.settings
    return settings


def _suppressed(principal: Principal) -> bool:
    return not sees_exact_counts(principal.roles)


def _respond(
    request: Request,
    principal: Principal,
    table: CountTable,
    name: str,
    export: ExportFormat,
    filters: Filters,
) -> Any:
    settings = _settings(request)
    published = publish(
        table, threshold=settings.suppression_threshold, suppressed=_suppressed(principal)
    )
    if export is ExportFormat.JSON:
        return published
    _audit_export(request, principal, name, export, filters, exact=not published.suppressed)
    filename = f"{name}.{export.value}"
    if export is ExportFormat.CSV:
        content, media = to_csv(published), "text/csv; charset=utf-8"
    else:
        content = to_xlsx(published, title=name)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _audit_export(
    request: Request,
    principal: Principal,
    name: str,
    export: ExportFormat,
    filters: Filters,
    *,
    exact: bool,
) -> None:
    chosen = {k: str(v) for k, v in asdict(filters).items() if v is not None and k != "provinces"}
    disclosed = "exact" if exact else "suppressed"
    service: str = request.app.state.service
    with unit_of_work(
        request.app.state.engine,
        source=f"/{service}",
        correlation_id=request.headers.get("X-Correlation-ID"),
    ) as uow:
        stage_audit(
            uow,
            principal,
            service=service,
            action=AuditAction.EXPORT,
            resource_type="report",
            resource_id=name,
            detail=f"{export.value} {disclosed} {sorted(chosen.items())}"[:500],
        )


@router.get("/reports/cases", response_model=PublishedTable)
def cases_report(
    grant: Granted,
    request: Request,
    filters: FiltersDep,
    rows: CaseDimension = CaseDimension.PROVINCE,
    columns: CaseDimension = CaseDimension.CASE_TYPE,
    period: Period = Period.MONTH,
    format: ExportFormat = ExportFormat.JSON,
) -> Any:
    """Cases (merged duplicates counted once) by two dimensions, e.g. province by case type."""
    if rows == columns:
        raise _invalid("columns", "must differ from rows")
    table = case_table(request.app.state.engine, rows, columns, filters, period)
    return _respond(request, grant.officer, table, f"cases-{rows}-by-{columns}", format, filters)


@router.get("/reports/referrals", response_model=PublishedTable)
def referrals_report(
    grant: Granted,
    request: Request,
    filters: FiltersDep,
    rows: ReferralDimension = ReferralDimension.AGENCY,
    columns: ReferralDimension = ReferralDimension.STATE,
    format: ExportFormat = ExportFormat.JSON,
) -> Any:
    """Referrals by their current state, e.g. agency by state."""
    if rows == columns:
        raise _invalid("columns", "must differ from rows")
    table = referral_table(request.app.state.engine, rows, columns, filters)
    return _respond(
        request, grant.officer, table, f"referrals-{rows}-by-{columns}", format, filters
    )


class ShareOut(BaseModel):
    numerator: int | str
    denominator: int | str
    percent: float | None


class FunnelOut(BaseModel):
    reports: int | str
    referred: int | str
    completed: int | str


class IndicatorsOut(BaseModel):
    as_of: datetime
    cases: int | str
    referrals: int | str
    hours_to_acceptance_p50: float | None
    hours_to_acceptance_p90: float | None
    accepted_within_deadline: ShareOut
    plan_within_working_days: ShareOut
    supported_in_time: ShareOut
    escalations: int | str
    hotline_funnel: FunnelOut
    deliveries: dict[str, dict[str, int | str]]
    suppressed: bool


@router.get("/reports/indicators", response_model=IndicatorsOut)
def indicators_report(
    grant: Granted,
    request: Request,
    filters: FiltersDep,
    as_of: Annotated[datetime | None, Query(description="Clocks judged at (UTC); now.")] = None,
) -> IndicatorsOut:
    """The national plan's indicators (definitions in docs/reporting.md)."""
    settings = _settings(request)
    if as_of is not None and as_of.tzinfo is None:
        raise _invalid("as_of", "needs a UTC offset")
    now = as_of or datetime.now(UTC)
    clock: PlanClock = request.app.state.plan_clock
    figures = indicator_figures(request.app.state.engine, filters, clock, now)
    hide = _suppressed(grant.officer)
    threshold = settings.suppression_threshold

    def count(value: int) -> int | str:
        return f"<{threshold}" if hide and 0 < value < threshold else value

    def share(value: Share) -> ShareOut:
        # A percentage of a hidden denominator would reveal it.
        withheld = hide and 0 < value.denominator < threshold
        return ShareOut(
            numerator=count(value.numerator),
            denominator=count(value.denominator),
            percent=None if withheld else value.percent,
        )

    funnel = figures.hotline_funnel
    return IndicatorsOut(
        as_of=now,
        cases=count(figures.cases),
        referrals=count(figures.referrals),
        hours_to_acceptance_p50=figures.hours_to_acceptance_p50,
        hours_to_acceptance_p90=figures.hours_to_acceptance_p90,
        accepted_within_deadline=share(figures.accepted_within_deadline),
        plan_within_working_days=share(figures.plan_within_clock),
        supported_in_time=share(figures.supported_in_time),
        escalations=count(figures.escalations),
        hotline_funnel=FunnelOut(
            reports=count(funnel.reports),
            referred=count(funnel.referred),
            completed=count(funnel.completed),
        ),
        deliveries={
            channel: {outcome: count(n) for outcome, n in outcomes.items()}
            for channel, outcomes in figures.deliveries.items()
        },
        suppressed=hide,
    )


class CaseCountOut(BaseModel):
    case_type: str
    province_code: str
    count: int | str


class ReferralCountOut(BaseModel):
    agency: str
    state: str
    count: int | str


class DeliveryCountOut(BaseModel):
    channel: str
    count: int | str


class Summary(BaseModel):
    cases: list[CaseCountOut]
    referrals: list[ReferralCountOut]
    deliveries: list[DeliveryCountOut]


def _nonzero(table: CountTable, published: PublishedTable) -> list[tuple[str, str, int | str]]:
    return [
        (row, column, published.cells[r][c])
        for r, row in enumerate(table.row_labels)
        for c, column in enumerate(table.column_labels)
        if table.cells[r][c]
    ]


@router.get("/summary", response_model=Summary)
def get_summary(grant: Granted, request: Request, filters: FiltersDep) -> Summary:
    """Cases by type by province, referrals by agency by state, deliveries by channel: the
    cells of the same suppressed tables as /reports, so the two cannot be played off."""
    settings = _settings(request)
    hide = _suppressed(grant.officer)
    threshold = settings.suppression_threshold
    engine = request.app.state.engine
    cases = case_table(engine, CaseDimension.CASE_TYPE, CaseDimension.PROVINCE, filters)
    referrals = referral_table(engine, ReferralDimension.AGENCY, ReferralDimension.STATE, filters)
    delivered = {
        c: o.get("delivered", 0) for c, o in deliveries_by_channel(engine, filters).items()
    }
    channels = CountTable(
        "channel",
        "outcome",
        sorted(delivered),
        ["delivered"],
        [[delivered[c]] for c in sorted(delivered)],
    )
    return Summary(
        cases=[
            CaseCountOut(case_type=t, province_code=p, count=n)
            for t, p, n in _nonzero(cases, publish(cases, threshold=threshold, suppressed=hide))
        ],
        referrals=[
            ReferralCountOut(agency=a, state=s, count=n)
            for a, s, n in _nonzero(
                referrals, publish(referrals, threshold=threshold, suppressed=hide)
            )
        ],
        deliveries=[
            DeliveryCountOut(channel=c, count=n)
            for c, _, n in _nonzero(
                channels, publish(channels, threshold=threshold, suppressed=hide)
            )
        ],
    )
