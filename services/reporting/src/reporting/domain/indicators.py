"""The national plan's indicators over case and referral facts (definitions in
docs/reporting.md). Pure functions: the caller selects the facts and says what "now" is."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from chassis.calendar import WorkingCalendar


class CaseLike(Protocol):
    case_id: str
    channel: str | None
    received_at: datetime | None
    plan_approved_at: datetime | None
    emergency_clock_missed: bool
    plan_clock_missed: bool


class ReferralLike(Protocol):
    case_id: str
    state: str
    requested_at: datetime | None
    accept_by: datetime | None
    accepted_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class Share:
    numerator: int
    denominator: int

    @property
    def percent(self) -> float | None:
        if self.denominator == 0:
            return None
        return round(100 * self.numerator / self.denominator, 1)


@dataclass(frozen=True)
class Funnel:
    reports: int
    referred: int
    completed: int


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (the value at rank ceil(q·n)): always an observed value."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def hours_to_acceptance(referrals: Iterable[ReferralLike]) -> list[float]:
    return [
        (r.accepted_at - r.requested_at).total_seconds() / 3600
        for r in referrals
        if r.accepted_at is not None and r.requested_at is not None
    ]


def accepted_within_deadline(referrals: Iterable[ReferralLike], now: datetime) -> Share:
    """Of referrals whose acceptance is decided — accepted, or past the accept deadline —
    how many were accepted by the deadline."""
    decided = in_time = 0
    for r in referrals:
        if r.accept_by is None:
            continue
        if r.accepted_at is not None:
            decided += 1
            in_time += r.accepted_at <= r.accept_by
        elif r.accept_by < now:
            decided += 1
    return Share(in_time, decided)


class PlanClock:
    """A support plan is due `working_days` working days after the case was received."""

    def __init__(self, calendar: WorkingCalendar, working_days: int) -> None:
        self.calendar = calendar
        self.working_days = working_days

    def due(self, received_at: datetime) -> datetime:
        return _due(self.calendar, received_at, self.working_days)

    def approved_in_time(self, case: CaseLike) -> bool:
        if case.received_at is None or case.plan_approved_at is None:
            return False
        return case.plan_approved_at <= self.due(case.received_at)

    def decided(self, case: CaseLike, now: datetime) -> bool:
        """Approved already, or the clock ran out: the case counts in the share."""
        if case.received_at is None:
            return False
        return case.plan_approved_at is not None or self.due(case.received_at) < now


@lru_cache(maxsize=65536)
def _due(calendar: WorkingCalendar, received_at: datetime, working_days: int) -> datetime:
    # Each case's clock is asked for several times per report, and reports repeat.
    return calendar.add_working_days(received_at, working_days)


def plan_within_clock(cases: Iterable[CaseLike], clock: PlanClock, now: datetime) -> Share:
    decided = [c for c in cases if clock.decided(c, now)]
    return Share(sum(clock.approved_in_time(c) for c in decided), len(decided))


def supported_in_time(
    cases: Iterable[CaseLike],
    referrals_by_case: dict[str, list[ReferralLike]],
    clock: PlanClock,
    now: datetime,
) -> Share:
    """A detected child is supported in time when (a) the support plan was approved within
    the plan clock, (b) no legal clock of the case was missed (emergency intervention
    included), and (c) at least one agency accepted a referral by its accept deadline."""
    decided = [c for c in cases if clock.decided(c, now)]
    supported = 0
    for case in decided:
        referrals = referrals_by_case.get(case.case_id, [])
        accepted_in_time = any(
            r.accepted_at is not None and r.accept_by is not None and r.accepted_at <= r.accept_by
            for r in referrals
        )
        clocks_met = not (case.emergency_clock_missed or case.plan_clock_missed)
        supported += clock.approved_in_time(case) and clocks_met and accepted_in_time
    return Share(supported, len(decided))


def hotline_funnel(
    cases: Iterable[CaseLike], referrals_by_case: dict[str, list[ReferralLike]]
) -> Funnel:
    """Hotline 111 reports → those with at least one referral → with one completed."""
    reports = [c for c in cases if c.channel == "hotline_111"]
    referred = [c for c in reports if referrals_by_case.get(c.case_id)]
    completed = [
        c for c in referred if any(r.state == "completed" for r in referrals_by_case[c.case_id])
    ]
    return Funnel(len(reports), len(referred), len(completed))
