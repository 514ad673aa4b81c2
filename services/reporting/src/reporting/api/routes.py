"""Aggregated figures for any signed-in user, limited to the provinces the caller serves.

Small cells are suppressed for every role but `statistician` (`domain/disclosure.py`);
exports are audited.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from chassis.access import Grant, Granted
from chassis.api import IsoDateTime, invalid
from chassis.auth import Principal
from contracts.vocabulary import AuditAction
from reporting.api.deps import Context, FiltersDep, ReportingContext
from reporting.api.schemas import (
    EXPORT_RESPONSES,
    XLSX_MEDIA_TYPE,
    CaseCountOut,
    DeliveryCountOut,
    ExportFormat,
    FunnelOut,
    IndicatorsOut,
    ReferralCountOut,
    ShareOut,
    Summary,
)
from reporting.domain.disclosure import sees_exact_counts
from reporting.domain.indicators import Share
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


def _suppressed(principal: Principal) -> bool:
    return not sees_exact_counts(principal.roles)


def _respond(
    context: ReportingContext,
    grant: Grant,
    table: CountTable,
    name: str,
    export: ExportFormat,
    filters: Filters,
) -> Any:
    published = publish(
        table,
        threshold=context.settings.suppression_threshold,
        suppressed=_suppressed(grant.officer),
    )
    if export is ExportFormat.JSON:
        return published
    _audit_export(context, grant, name, export, filters, exact=not published.suppressed)
    filename = f"{name}.{export.value}"
    if export is ExportFormat.CSV:
        content, media = to_csv(published), "text/csv; charset=utf-8"
    else:
        content, media = to_xlsx(published, title=name), XLSX_MEDIA_TYPE
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _audit_export(
    context: ReportingContext,
    grant: Grant,
    name: str,
    export: ExportFormat,
    filters: Filters,
    *,
    exact: bool,
) -> None:
    chosen = {k: str(v) for k, v in asdict(filters).items() if v is not None and k != "provinces"}
    disclosed = "exact" if exact else "suppressed"
    detail = f"{export.value} {disclosed} {sorted(chosen.items())}"[:500]
    grant.audit_read(context.engine, name, detail=detail, action=AuditAction.EXPORT)


@router.get("/reports/cases", response_model=PublishedTable, responses=EXPORT_RESPONSES)
def cases_report(
    grant: Granted,
    context: Context,
    filters: FiltersDep,
    rows: CaseDimension = CaseDimension.PROVINCE,
    columns: CaseDimension = CaseDimension.CASE_TYPE,
    period: Period = Period.MONTH,
    format: ExportFormat = ExportFormat.JSON,
) -> Any:
    """Cases (merged duplicates counted once) by two dimensions, e.g. province by case type."""
    if rows == columns:
        raise invalid("columns", message="must differ from rows", where="query")
    table = case_table(context.engine, rows, columns, filters, period)
    return _respond(context, grant, table, f"cases-{rows}-by-{columns}", format, filters)


@router.get("/reports/referrals", response_model=PublishedTable, responses=EXPORT_RESPONSES)
def referrals_report(
    grant: Granted,
    context: Context,
    filters: FiltersDep,
    rows: ReferralDimension = ReferralDimension.AGENCY,
    columns: ReferralDimension = ReferralDimension.STATE,
    format: ExportFormat = ExportFormat.JSON,
) -> Any:
    """Referrals by their current state, e.g. agency by state."""
    if rows == columns:
        raise invalid("columns", message="must differ from rows", where="query")
    table = referral_table(context.engine, rows, columns, filters)
    return _respond(context, grant, table, f"referrals-{rows}-by-{columns}", format, filters)


# Clocks can be judged in the past or ahead of time (when every open clock will have run
# out); a year beyond these is a typing error, and at the edges of `datetime` it overflows.
AS_OF_RANGE = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _judged_at(as_of: datetime | None) -> datetime | None:
    if as_of is None:
        return None
    if as_of.tzinfo is None:
        raise invalid("as_of", message="needs a UTC offset", where="query")
    if not AS_OF_RANGE[0] <= as_of <= AS_OF_RANGE[1]:
        years = f"{AS_OF_RANGE[0].year} to {AS_OF_RANGE[1].year}"
        raise invalid("as_of", message=f"must be from {years}", where="query")
    return as_of


@router.get("/reports/indicators", response_model=IndicatorsOut)
def indicators_report(
    grant: Granted,
    context: Context,
    filters: FiltersDep,
    as_of: Annotated[
        IsoDateTime | None,
        Query(
            description="The instant clocks are judged at, with a UTC offset, from "
            f"{AS_OF_RANGE[0].year} to {AS_OF_RANGE[1].year} (default now)."
        ),
    ] = None,
) -> IndicatorsOut:
    """The national plan's indicators (definitions in docs/reporting.md)."""
    settings = context.settings
    now = _judged_at(as_of) or datetime.now(UTC)
    figures = indicator_figures(context.engine, filters, context.plan_clock, now)
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


def _nonzero(table: CountTable, published: PublishedTable) -> list[tuple[str, str, int | str]]:
    return [
        (row, column, published.cells[r][c])
        for r, row in enumerate(table.row_labels)
        for c, column in enumerate(table.column_labels)
        if table.cells[r][c]
    ]


@router.get("/summary", response_model=Summary)
def get_summary(grant: Granted, context: Context, filters: FiltersDep) -> Summary:
    """Cases by type by province, referrals by agency by state, deliveries by channel: the
    cells of the same suppressed tables as /reports, so the two cannot be played off."""
    settings = context.settings
    hide = _suppressed(grant.officer)
    threshold = settings.suppression_threshold
    engine = context.engine
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
