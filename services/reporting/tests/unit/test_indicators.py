"""The national plan's indicators over hand-made facts (definitions in docs/reporting.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from chassis.calendar import WorkingCalendar
from reporting.domain.indicators import (
    PlanClock,
    Share,
    accepted_within_deadline,
    hotline_funnel,
    hours_to_acceptance,
    percentile,
    plan_within_clock,
    supported_in_time,
)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@dataclass
class Case:
    case_id: str
    received_at: datetime | None = field(default_factory=lambda: utc(20, 2))  # Fri 09:00 local
    plan_approved_at: datetime | None = None
    channel: str | None = "hotline_111"
    emergency_clock_missed: bool = False
    plan_clock_missed: bool = False


@dataclass
class Referral:
    case_id: str
    state: str = "requested"
    requested_at: datetime | None = field(default_factory=lambda: utc(2, 8))
    accept_by: datetime | None = field(default_factory=lambda: utc(3, 8))
    accepted_at: datetime | None = None
    completed_at: datetime | None = None


CLOCK = PlanClock(WorkingCalendar(), working_days=5)
LATER = utc(30, 12)


def test_percentiles_are_observed_values_by_nearest_rank():
    hours = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert percentile(hours, 0.5) == 5.0
    assert percentile(hours, 0.9) == 9.0
    assert percentile([7.5], 0.9) == 7.5
    assert percentile([], 0.5) is None


def test_hours_to_acceptance_counts_only_accepted_referrals():
    referrals = [
        Referral("a", accepted_at=utc(2, 9, 30)),
        Referral("b", accepted_at=utc(3, 8)),
        Referral("c"),
    ]
    assert hours_to_acceptance(referrals) == [1.5, 24.0]


def test_accepted_within_deadline_counts_late_and_overdue_but_not_pending():
    referrals = [
        Referral("on-time", accepted_at=utc(2, 20)),
        Referral("late", accepted_at=utc(3, 9)),
        Referral("overdue"),  # accept_by passed at `now`, never accepted
        Referral("pending", accept_by=utc(30, 13)),  # still has time at `now`
    ]
    assert accepted_within_deadline(referrals, LATER) == Share(1, 3)
    assert Share(1, 3).percent == 33.3


def test_plan_clock_skips_the_weekend_and_the_24_november_holiday():
    # Received Friday 20 Nov 09:00 local: working days 23, 25, 26, 27, 30 (24 is a holiday),
    # so the plan is due Monday 30 Nov 09:00 local = 02:00 UTC.
    assert CLOCK.due(utc(20, 2)) == utc(30, 2)
    cases = [
        Case("thanks-to-the-holiday", plan_approved_at=utc(30, 1)),
        Case("late", plan_approved_at=utc(30, 3)),
        Case("never-approved"),
        Case("not-due-yet", received_at=utc(27, 2)),
    ]
    assert plan_within_clock(cases, CLOCK, LATER) == Share(1, 3)


def test_supported_in_time_needs_plan_clocks_and_an_accepted_referral():
    cases = [
        Case("supported", plan_approved_at=utc(25, 2)),
        Case("emergency-missed", plan_approved_at=utc(25, 2), emergency_clock_missed=True),
        Case("no-referral-accepted", plan_approved_at=utc(25, 2)),
        Case("plan-late", plan_approved_at=utc(30, 5)),
    ]
    accepted = {"accepted_at": utc(20, 3), "accept_by": utc(20, 5)}
    referrals = {
        "supported": [Referral("supported", **accepted), Referral("supported")],
        "emergency-missed": [Referral("emergency-missed", **accepted)],
        "no-referral-accepted": [Referral("no-referral-accepted", accepted_at=utc(21, 6))],
        "plan-late": [Referral("plan-late", **accepted)],
    }
    assert supported_in_time(cases, referrals, CLOCK, LATER) == Share(1, 4)  # type: ignore[arg-type]


def test_hotline_funnel_follows_reports_to_referrals_to_completion():
    cases = [Case("h1"), Case("h2"), Case("h3"), Case("school", channel="school")]
    referrals = {
        "h1": [Referral("h1", state="completed"), Referral("h1", state="in-progress")],
        "h2": [Referral("h2", state="accepted")],
        "school": [Referral("school", state="completed")],
    }
    funnel = hotline_funnel(cases, referrals)  # type: ignore[arg-type]
    assert (funnel.reports, funnel.referred, funnel.completed) == (3, 2, 1)
