"""Read models of the reporting store: two-way count tables and the indicators."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from reporting.adapters.tables import CaseFact, DeliveryFact, EscalationFact, ReferralFact
from reporting.domain import indicators
from reporting.domain.periods import Period


class CaseDimension(StrEnum):
    PERIOD = "period"
    PROVINCE = "province"
    CASE_TYPE = "case_type"
    CHANNEL = "channel"
    SEX = "sex"
    AGE_BAND = "age_band"
    RISK = "risk"


class ReferralDimension(StrEnum):
    AGENCY = "agency"
    STATE = "state"
    PROVINCE = "province"
    CASE_TYPE = "case_type"


@dataclass(frozen=True)
class Filters:
    """What to count: local-date range (Viet Nam) and equality filters; `provinces` is the
    caller's scope (None = national)."""

    date_from: date | None = None
    date_to: date | None = None
    province: str | None = None
    case_type: str | None = None
    channel: str | None = None
    sex: str | None = None
    age_band: str | None = None
    risk: str | None = None
    agency: str | None = None
    provinces: frozenset[str] | None = None


@dataclass
class CountTable:
    """Counts of rows by columns (no totals; suppression adds them)."""

    row_dimension: str
    column_dimension: str
    row_labels: list[str]
    column_labels: list[str]
    cells: list[list[int]] = field(default_factory=list)


def _case_column(dimension: CaseDimension, period: Period) -> Any:
    if dimension is CaseDimension.PERIOD:
        return getattr(CaseFact, f"received_{period.value}")
    return {
        CaseDimension.PROVINCE: CaseFact.province_code,
        CaseDimension.CASE_TYPE: CaseFact.case_type,
        CaseDimension.CHANNEL: CaseFact.channel,
        CaseDimension.SEX: CaseFact.sex,
        CaseDimension.AGE_BAND: CaseFact.age_band,
        CaseDimension.RISK: CaseFact.risk_level,
    }[dimension]


def _case_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        col(CaseFact.merged_into).is_(None),  # a merged duplicate is not a second child
        col(CaseFact.received_at).is_not(None),
    ]
    equal = {
        CaseFact.province_code: filters.province,
        CaseFact.case_type: filters.case_type,
        CaseFact.channel: filters.channel,
        CaseFact.sex: filters.sex,
        CaseFact.age_band: filters.age_band,
        CaseFact.risk_level: filters.risk,
    }
    conditions += [col(column) == value for column, value in equal.items() if value is not None]
    if filters.date_from:
        conditions.append(col(CaseFact.received_day) >= filters.date_from.isoformat())
    if filters.date_to:
        conditions.append(col(CaseFact.received_day) <= filters.date_to.isoformat())
    if filters.provinces is not None:
        conditions.append(col(CaseFact.province_code).in_(sorted(filters.provinces)))
    return conditions


def case_table(
    engine: Engine,
    rows: CaseDimension,
    columns: CaseDimension,
    filters: Filters,
    period: Period = Period.MONTH,
) -> CountTable:
    row_col, column_col = _case_column(rows, period), _case_column(columns, period)
    query = (
        select(row_col, column_col, func.count())
        .where(*_case_conditions(filters))
        .group_by(row_col, column_col)
    )
    with Session(engine) as session:
        counted = session.exec(query).all()
    return _pivot(rows.value, columns.value, [(str(r), str(c), n) for r, c, n in counted])


def _referral_column(dimension: ReferralDimension) -> Any:
    return {
        ReferralDimension.AGENCY: ReferralFact.agency,
        ReferralDimension.STATE: ReferralFact.state,
        ReferralDimension.PROVINCE: ReferralFact.province_code,
        ReferralDimension.CASE_TYPE: ReferralFact.case_type,
    }[dimension]


def _referral_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    equal = {
        ReferralFact.province_code: filters.province,
        ReferralFact.case_type: filters.case_type,
        ReferralFact.agency: filters.agency,
        ReferralFact.risk_level: filters.risk,
    }
    conditions += [col(column) == value for column, value in equal.items() if value is not None]
    if filters.date_from:
        conditions.append(col(ReferralFact.requested_day) >= filters.date_from.isoformat())
    if filters.date_to:
        conditions.append(col(ReferralFact.requested_day) <= filters.date_to.isoformat())
    if filters.provinces is not None:
        conditions.append(col(ReferralFact.province_code).in_(sorted(filters.provinces)))
    return conditions


def referral_table(
    engine: Engine, rows: ReferralDimension, columns: ReferralDimension, filters: Filters
) -> CountTable:
    row_col, column_col = _referral_column(rows), _referral_column(columns)
    query = (
        select(row_col, column_col, func.count())
        .where(*_referral_conditions(filters))
        .group_by(row_col, column_col)
    )
    with Session(engine) as session:
        counted = session.exec(query).all()
    return _pivot(rows.value, columns.value, [(str(r), str(c), n) for r, c, n in counted])


def _pivot(rows: str, columns: str, counted: Sequence[tuple[str, str, int]]) -> CountTable:
    row_labels = sorted({r for r, _, _ in counted})
    column_labels = sorted({c for _, c, _ in counted})
    index = {(r, c): n for r, c, n in counted}
    cells = [[index.get((r, c), 0) for c in column_labels] for r in row_labels]
    return CountTable(rows, columns, row_labels, column_labels, cells)


@dataclass(frozen=True)
class IndicatorFigures:
    cases: int
    referrals: int
    hours_to_acceptance_p50: float | None
    hours_to_acceptance_p90: float | None
    accepted_within_deadline: indicators.Share
    plan_within_clock: indicators.Share
    supported_in_time: indicators.Share
    escalations: int
    hotline_funnel: indicators.Funnel
    deliveries: dict[str, dict[str, int]]


def indicator_figures(
    engine: Engine, filters: Filters, clock: indicators.PlanClock, now: datetime
) -> IndicatorFigures:
    with Session(engine) as session:
        cases = list(session.exec(select(CaseFact).where(*_case_conditions(filters))).all())
        case_ids = {c.case_id for c in cases}
        # A merged duplicate's referrals belong to the case it was merged into.
        merged = dict(
            session.exec(
                select(CaseFact.case_id, CaseFact.merged_into).where(
                    col(CaseFact.merged_into).is_not(None)
                )
            ).all()
        )
        referrals = list(
            session.exec(select(ReferralFact).where(*_referral_conditions(filters))).all()
        )
        escalations = session.exec(
            select(func.count())
            .select_from(EscalationFact)
            .join(ReferralFact, col(ReferralFact.referral_id) == col(EscalationFact.referral_id))
            .where(col(EscalationFact.reminder) == 0, *_referral_conditions(filters))
        ).one()
        deliveries = _deliveries(session, filters)
    by_case: dict[str, list[indicators.ReferralLike]] = defaultdict(list)
    for referral in referrals:
        by_case[_surviving(referral.case_id, merged)].append(referral)
    case_referrals = {cid: refs for cid, refs in by_case.items() if cid in case_ids}
    hours = indicators.hours_to_acceptance(referrals)
    return IndicatorFigures(
        cases=len(cases),
        referrals=len(referrals),
        hours_to_acceptance_p50=_round(indicators.percentile(hours, 0.5)),
        hours_to_acceptance_p90=_round(indicators.percentile(hours, 0.9)),
        accepted_within_deadline=indicators.accepted_within_deadline(referrals, now),
        plan_within_clock=indicators.plan_within_clock(cases, clock, now),
        supported_in_time=indicators.supported_in_time(cases, case_referrals, clock, now),
        escalations=int(escalations),
        hotline_funnel=indicators.hotline_funnel(cases, case_referrals),
        deliveries=deliveries,
    )


def _surviving(case_id: str, merged: dict[str, str | None]) -> str:
    seen = {case_id}
    while (target := merged.get(case_id)) is not None and target not in seen:
        seen.add(target)
        case_id = target
    return case_id


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def deliveries_by_channel(engine: Engine, filters: Filters) -> dict[str, dict[str, int]]:
    with Session(engine) as session:
        return _deliveries(session, filters)


def _deliveries(session: Session, filters: Filters) -> dict[str, dict[str, int]]:
    query = select(DeliveryFact.channel, DeliveryFact.outcome, func.count()).group_by(
        DeliveryFact.channel, DeliveryFact.outcome
    )
    if filters.province:
        query = query.where(col(DeliveryFact.province_code) == filters.province)
    if filters.provinces is not None:
        query = query.where(col(DeliveryFact.province_code).in_(sorted(filters.provinces)))
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for channel, outcome, count in session.exec(query).all():
        result[channel][outcome] = count
    return dict(result)


# --- Business gauges (bounded labels: agency, state, province, case type) -----------------


def referral_counts(engine: Engine) -> list[tuple[str, str, str, int]]:
    """Referrals by agency, current state and province: every state, one read."""
    with Session(engine) as session:
        rows = session.exec(
            select(
                ReferralFact.agency, ReferralFact.state, ReferralFact.province_code, func.count()
            ).group_by(ReferralFact.agency, ReferralFact.state, ReferralFact.province_code)
        ).all()
    return [(a, s, p, n) for a, s, p, n in rows]


def overdue_referrals(
    engine: Engine, open_states: Sequence[str], now: datetime
) -> list[tuple[str, str, int]]:
    with Session(engine) as session:
        rows = session.exec(
            select(ReferralFact.agency, ReferralFact.province_code, func.count())
            .where(
                col(ReferralFact.state).in_(list(open_states)),
                col(ReferralFact.deadline).is_not(None),
                col(ReferralFact.deadline) < now,
            )
            .group_by(ReferralFact.agency, ReferralFact.province_code)
        ).all()
    return [(a, p, n) for a, p, n in rows]


def escalation_counts(engine: Engine) -> list[tuple[str, str, int]]:
    with Session(engine) as session:
        rows = session.exec(
            select(EscalationFact.agency, EscalationFact.province_code, func.count())
            .where(col(EscalationFact.reminder) == 0)
            .group_by(EscalationFact.agency, EscalationFact.province_code)
        ).all()
    return [(a, p, n) for a, p, n in rows]
