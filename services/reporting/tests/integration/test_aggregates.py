"""Aggregation per dimension from known synthetic events, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

from chassis.calendar import WorkingCalendar
from chassis.consumer import Outcome
from contracts.vocabulary import AgeBand, CaseClock, CaseStage, CaseType, Channel, RiskLevel, Sex
from contracts.vocabulary import ReferralState as S
from reporting.domain.indicators import PlanClock
from reporting.domain.periods import Period
from reporting.queries import (
    CaseDimension,
    Filters,
    ReferralDimension,
    case_table,
    indicator_figures,
    overdue_referrals,
    referral_counts,
    referral_table,
)
from services.reporting.tests.events import (
    at,
    case,
    delivered,
    escalated,
    failed,
    merged,
    missed,
    referral,
    stage,
    uid,
)
from services.reporting.tests.store import Store

NOW = datetime(2026, 12, 15, tzinfo=UTC)
CLOCK = PlanClock(WorkingCalendar(), 5)


def as_dict(store: Store, rows: CaseDimension, columns: CaseDimension, **kw) -> dict:  # type: ignore[no-untyped-def]
    table = case_table(store.engine, rows, columns, Filters(**kw.pop("filters", {})), **kw)
    return {
        (r, c): table.cells[i][j]
        for i, r in enumerate(table.row_labels)
        for j, c in enumerate(table.column_labels)
        if table.cells[i][j]
    }


MIX = [
    case(
        "a",
        province_code="01",
        case_type=CaseType.CHILD_LABOUR,
        channel=Channel.SCHOOL,
        sex=Sex.MALE,
        age_band=AgeBand.AGE_5_11,
        risk_level=RiskLevel.LOW,
    ),
    case(
        "b",
        province_code="01",
        case_type=CaseType.CHILD_LABOUR,
        channel=Channel.HOTLINE_111,
        sex=Sex.FEMALE,
        age_band=AgeBand.AGE_12_14,
        risk_level=RiskLevel.HIGH,
    ),
    case(
        "c",
        province_code="79",
        case_type=CaseType.CHILD_TRAFFICKING,
        sex=Sex.FEMALE,
        age_band=AgeBand.AGE_15_17,
        received_at=at("2026-12-31 17:30"),
    ),  # 2027 in Hà Nội
    case(
        "d",
        province_code="79",
        case_type=CaseType.AT_RISK,
        sex=Sex.UNKNOWN,
        age_band=AgeBand.UNKNOWN,
        risk_level=RiskLevel.MEDIUM,
        received_at=at("2026-10-05 03:00"),
    ),
]


def test_cases_by_each_dimension(store: Store):
    assert store.feed(MIX) == [Outcome.PROCESSED] * 4
    P, T = CaseDimension.PROVINCE, CaseDimension.CASE_TYPE
    assert as_dict(store, P, T) == {
        ("01", "child_labour"): 2,
        ("79", "child_trafficking"): 1,
        ("79", "at_risk"): 1,
    }
    assert as_dict(store, CaseDimension.CHANNEL, P) == {
        ("school", "01"): 1,
        ("hotline_111", "01"): 1,
        ("hotline_111", "79"): 2,
    }
    assert as_dict(store, CaseDimension.SEX, CaseDimension.AGE_BAND) == {
        ("male", "5-11"): 1,
        ("female", "12-14"): 1,
        ("female", "15-17"): 1,
        ("unknown", "unknown"): 1,
    }
    assert as_dict(store, CaseDimension.RISK, P) == {
        ("low", "01"): 1,
        ("high", "01"): 1,
        ("urgent", "79"): 1,
        ("medium", "79"): 1,
    }
    for period, labels in [
        (Period.DAY, {"2026-11-02", "2027-01-01", "2026-10-05"}),
        (Period.MONTH, {"2026-11", "2027-01", "2026-10"}),
        (Period.QUARTER, {"2026-Q4", "2027-Q1"}),
        (Period.YEAR, {"2026", "2027"}),
    ]:
        counted = as_dict(store, CaseDimension.PERIOD, P, period=period)
        assert {r for r, _ in counted} == labels
        assert sum(counted.values()) == 4
    assert as_dict(store, CaseDimension.PERIOD, P, period=Period.YEAR) == {
        ("2026", "01"): 2,
        ("2026", "79"): 1,
        ("2027", "79"): 1,
    }


def test_filters_narrow_the_count(store: Store):
    store.feed(MIX)
    P, T = CaseDimension.PROVINCE, CaseDimension.CASE_TYPE
    nov = {"date_from": date(2026, 11, 1), "date_to": date(2026, 11, 30)}
    assert as_dict(store, P, T, filters=nov) == {("01", "child_labour"): 2}
    assert as_dict(store, P, T, filters={"sex": "female", "provinces": frozenset({"79"})}) == {
        ("79", "child_trafficking"): 1
    }


def test_redelivery_and_merged_duplicates_are_not_counted_twice(store: Store):
    records = [store.record(e) for e in MIX]
    store.feed(records)
    assert store.feed(records[:2]) == [Outcome.DUPLICATE] * 2
    # The merge is on the survivor's partition and may overtake the duplicate's intake.
    store.feed([merged("a", "late-duplicate")])
    store.feed([case("late-duplicate", province_code="01", case_type=CaseType.CHILD_LABOUR)])
    store.feed([merged("a", "b")])
    assert as_dict(store, CaseDimension.PROVINCE, CaseDimension.CASE_TYPE) == {
        ("01", "child_labour"): 1,
        ("79", "child_trafficking"): 1,
        ("79", "at_risk"): 1,
    }


def test_referrals_by_agency_and_latest_state_whatever_the_order(store: Store):
    store.feed(
        [
            referral("p1", "a", S.ACCEPTED, 2, "2026-11-02 09:00", agency="police"),
            referral(
                "p1",
                "a",
                S.REQUESTED,
                1,
                "2026-11-02 08:16",
                agency="police",
                deadline="2026-11-02 10:16",
            ),
            referral("d1", "a", S.REQUESTED, 1, "2026-11-02 08:16", agency="dolisa"),
            referral(
                "d2",
                "b",
                S.REQUESTED,
                1,
                "2026-11-02 08:16",
                agency="dolisa",
                province_code="79",
                deadline="2026-11-03 08:16",
            ),
        ]
    )
    table = referral_table(
        store.engine, ReferralDimension.AGENCY, ReferralDimension.STATE, Filters()
    )
    assert (table.row_labels, table.column_labels, table.cells) == (
        ["dolisa", "police"],
        ["accepted", "requested"],
        [[0, 2], [1, 0]],
    )
    opened = sorted(referral_counts(store.engine))
    assert opened == [
        ("dolisa", "requested", "01", 1),
        ("dolisa", "requested", "79", 1),
        ("police", "accepted", "01", 1),
    ]
    # d2's acceptance deadline passed at NOW; d1 has none; p1's deadline is its old state's.
    assert overdue_referrals(store.engine, ["requested", "accepted"], NOW) == [("dolisa", "79", 1)]


def test_indicators_from_events(store: Store):
    hotline = {"channel": Channel.HOTLINE_111, "received_at": at("2026-11-20 02:00")}
    store.feed(
        [
            case("h1", **hotline),
            case("h2", **hotline),
            case("dup", **hotline),
            stage(
                "h1",
                CaseStage.PLAN_APPROVED,
                "2026-11-27 02:00",
                received_at=at("2026-11-20 02:00"),
            ),
            stage(
                "h2",
                CaseStage.PLAN_APPROVED,
                "2026-12-01 02:00",
                received_at=at("2026-11-20 02:00"),
            ),
            missed("h2", clock=CaseClock.PLAN_APPROVAL),
            merged("h1", "dup"),
            referral("r1", "h1", S.REQUESTED, 1, "2026-11-20 02:05", deadline="2026-11-20 04:05"),
            referral("r1", "h1", S.ACCEPTED, 2, "2026-11-20 03:05"),
            referral(
                "r2",
                "dup",
                S.REQUESTED,
                1,
                "2026-11-20 02:05",
                deadline="2026-11-20 04:05",
                agency="dolisa",
            ),
            referral("r2", "dup", S.COMPLETED, 5, "2026-11-25 02:05", agency="dolisa"),
            referral("r3", "h2", S.REQUESTED, 1, "2026-11-20 02:05", deadline="2026-11-20 04:05"),
            referral("r3", "h2", S.ACCEPTED, 2, "2026-11-20 05:05"),
            escalated("r3", "h2", reminder=0),
            escalated("r3", "h2", reminder=1),
            delivered("n1"),
            delivered("n1"),
            delivered("n2", "email"),
            failed("n3", "sms"),
        ]
    )
    figures = indicator_figures(store.engine, Filters(), CLOCK, NOW)
    assert figures.cases == 2
    assert figures.referrals == 3
    assert (figures.hours_to_acceptance_p50, figures.hours_to_acceptance_p90) == (1.0, 3.0)
    assert (
        figures.accepted_within_deadline.numerator,
        figures.accepted_within_deadline.denominator,
    ) == (1, 3)  # r2 never accepted
    assert (figures.plan_within_clock.numerator, figures.plan_within_clock.denominator) == (1, 2)
    assert (figures.supported_in_time.numerator, figures.supported_in_time.denominator) == (1, 2)
    assert figures.escalations == 1
    # dup's completed referral counts for h1, the case it was merged into.
    funnel = figures.hotline_funnel
    assert (funnel.reports, funnel.referred, funnel.completed) == (2, 2, 1)
    assert figures.deliveries == {
        "in_app": {"delivered": 1},
        "email": {"delivered": 1},
        "sms": {"failed": 1},
    }
    assert uid("h1") != uid("dup")
