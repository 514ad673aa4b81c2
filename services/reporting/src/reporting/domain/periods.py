"""Reporting periods in Viet Nam local time: a case received at 23:30 UTC on 31 December
belongs to the next year in Hà Nội, and that is the year the national plan counts it in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chassis.calendar import VIETNAM


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@dataclass(frozen=True)
class Buckets:
    day: str  # 2026-11-02
    month: str  # 2026-11
    quarter: str  # 2026-Q4
    year: str  # 2026

    def of(self, period: Period) -> str:
        return str(getattr(self, period.value))


def buckets(moment: datetime) -> Buckets:
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    local = moment.astimezone(VIETNAM)
    return Buckets(
        day=local.strftime("%Y-%m-%d"),
        month=local.strftime("%Y-%m"),
        quarter=f"{local.year}-Q{(local.month - 1) // 3 + 1}",
        year=str(local.year),
    )
