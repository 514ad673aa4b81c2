"""Legal clocks with explicit times: 12 hours straight, 5 Vietnamese working days."""

from __future__ import annotations

from datetime import UTC, datetime

from cases.domain.clocks import ClockPolicy, clocks_met_by, due_times, is_missed
from chassis.calendar import VIETNAM, WorkingCalendar
from contracts.vocabulary import CaseClock, CaseStage, RiskLevel

CALENDAR = WorkingCalendar()
POLICY = ClockPolicy()


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=VIETNAM)  # type: ignore[misc]


def test_emergency_clock_runs_twelve_hours_through_the_night_and_weekend():
    saturday_night = local(2026, 11, 28, 22, 0)
    due = due_times(saturday_night, RiskLevel.URGENT, POLICY, CALENDAR).emergency_due_at
    assert due == local(2026, 11, 29, 10, 0).astimezone(UTC)


def test_only_serious_risk_starts_the_emergency_clock_and_that_is_configurable():
    received = local(2026, 11, 2, 9, 0)
    assert due_times(received, RiskLevel.HIGH, POLICY, CALENDAR).emergency_due_at is None
    wider = ClockPolicy(serious_risk_levels=frozenset({RiskLevel.URGENT, RiskLevel.HIGH}))
    assert due_times(received, RiskLevel.HIGH, wider, CALENDAR).emergency_due_at is not None
    shorter = ClockPolicy(emergency_hours=6)
    assert due_times(received, RiskLevel.URGENT, shorter, CALENDAR).emergency_due_at == local(
        2026, 11, 2, 15, 0
    ).astimezone(UTC)


def test_plan_clock_skips_the_weekend():
    friday = local(2026, 11, 6, 15, 30)  # Mon 9 … Fri 13 are the five working days
    due = due_times(friday, RiskLevel.LOW, POLICY, CALENDAR).plan_due_at
    assert due == local(2026, 11, 13, 15, 30).astimezone(UTC)


def test_plan_clock_skips_vietnam_cultural_day():
    monday = local(2026, 11, 23, 9, 0)  # Tue 24 Nov 2026 is a public holiday
    due = due_times(monday, RiskLevel.LOW, POLICY, CALENDAR).plan_due_at
    assert due == local(2026, 12, 1, 9, 0).astimezone(UTC)  # 25, 26, 27, 30 Nov, 1 Dec


def test_plan_clock_skips_tet():
    # Tết 2027 closes Thu 4 to Wed 10 Feb; the five working days are 11, 12, 15, 16, 17 Feb.
    before_tet = local(2027, 2, 3, 10, 0)
    due = due_times(before_tet, RiskLevel.LOW, POLICY, CALENDAR).plan_due_at
    assert due == local(2027, 2, 17, 10, 0).astimezone(UTC)


def test_a_clock_is_missed_only_after_its_due_time_and_only_while_unmet():
    due = local(2026, 11, 2, 20, 0).astimezone(UTC)
    assert not is_missed(due, None, due)
    assert is_missed(due, None, local(2026, 11, 2, 20, 1))
    assert not is_missed(due, local(2026, 11, 2, 19, 0), local(2026, 11, 3, 8, 0))
    assert not is_missed(None, None, local(2027, 1, 1))


def test_assessment_meets_the_emergency_clock_and_approval_the_plan_clock():
    assert clocks_met_by(CaseStage.ASSESSED) == (CaseClock.EMERGENCY_INTERVENTION,)
    assert clocks_met_by(CaseStage.PLAN_APPROVED) == (CaseClock.PLAN_APPROVAL,)
    assert clocks_met_by(CaseStage.REVIEWED) == ()
