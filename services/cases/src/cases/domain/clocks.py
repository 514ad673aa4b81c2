"""The legal clocks of a case (Decree 56/2017/NĐ-CP, art. 10-11). No I/O.

- Emergency intervention: a child at serious risk gets it within 12 hours of the information
  being received; hours run through nights, weekends and holidays. "Serious risk" means the
  risk levels in `ClockPolicy.serious_risk_levels` (default `urgent` only: immediate danger);
  a province that also counts `high` changes configuration, not code.
- Plan approval: the support plan is approved within 5 working days of intake (Vietnamese
  working days: Monday-Friday minus public holidays).

A clock is met when the case first reaches its step (`assessed` — the initial assessment
with its emergency intervention — or `plan_approved`), and is missed once, when its due
time passes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chassis.calendar import WorkingCalendar, add_hours
from contracts.vocabulary import CaseClock, CaseStage, RiskLevel

MILESTONES: dict[CaseClock, CaseStage] = {
    CaseClock.EMERGENCY_INTERVENTION: CaseStage.ASSESSED,
    CaseClock.PLAN_APPROVAL: CaseStage.PLAN_APPROVED,
}


@dataclass(frozen=True)
class ClockPolicy:
    emergency_hours: float = 12
    plan_working_days: int = 5
    serious_risk_levels: frozenset[RiskLevel] = frozenset({RiskLevel.URGENT})


@dataclass(frozen=True)
class DueTimes:
    emergency_due_at: datetime | None  # None: the child is not at serious risk
    plan_due_at: datetime


def due_times(
    received_at: datetime, risk_level: RiskLevel, policy: ClockPolicy, calendar: WorkingCalendar
) -> DueTimes:
    emergency = None
    if risk_level in policy.serious_risk_levels:
        emergency = add_hours(received_at, policy.emergency_hours)
    return DueTimes(
        emergency_due_at=emergency,
        plan_due_at=calendar.add_working_days(received_at, policy.plan_working_days),
    )


def clocks_met_by(stage: CaseStage) -> tuple[CaseClock, ...]:
    """The clocks that reaching `stage` stops."""
    return tuple(clock for clock, milestone in MILESTONES.items() if milestone is stage)


def is_missed(due_at: datetime | None, met_at: datetime | None, now: datetime) -> bool:
    """A running clock whose due time has passed (strictly: due at 20:00 is not missed at 20:00)."""
    return due_at is not None and met_at is None and now > due_at
