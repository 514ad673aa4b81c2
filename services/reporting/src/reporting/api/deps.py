"""What every report route needs: the service context, and the filters every report takes
(limited to the caller's provinces by the access policy's scope)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, status
from sqlalchemy.engine import Engine

from chassis.access import Granted
from chassis.api import IsoDate, invalid
from chassis.service_context import context_of
from contracts.vocabulary import AgeBand, CaseType, Channel, RiskLevel
from contracts.vocabulary import Sex as SexCode
from reporting.config import ReportingSettings
from reporting.domain.indicators import PlanClock
from reporting.queries import Filters


@dataclass(frozen=True)
class ReportingContext:
    engine: Engine
    settings: ReportingSettings
    # One calendar per process: loading a year's holidays is the slow part of a report.
    plan_clock: PlanClock


Context = Annotated[ReportingContext, Depends(context_of(ReportingContext))]


def _filters(
    grant: Granted,
    date_from: Annotated[IsoDate | None, Query(alias="from", description="First local day")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to", description="Last local day")] = None,
    province: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    case_type: CaseType | None = None,
    channel: Channel | None = None,
    sex: SexCode | None = None,
    age_band: AgeBand | None = None,
    risk: RiskLevel | None = None,
    agency: Annotated[str | None, Query(max_length=40)] = None,
) -> Filters:
    if date_from and date_to and date_from > date_to:
        raise invalid("from", message="must not be after to", where="query")
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
