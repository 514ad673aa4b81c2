"""Reporting periods follow the calendar of Viet Nam (UTC+7), not UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reporting.domain.periods import Period, buckets


def test_a_late_evening_utc_case_counts_in_the_next_local_day_quarter_and_year():
    new_year_in_hanoi = buckets(datetime(2026, 12, 31, 17, 30, tzinfo=UTC))  # 00:30 local
    assert new_year_in_hanoi.of(Period.DAY) == "2027-01-01"
    assert new_year_in_hanoi.of(Period.MONTH) == "2027-01"
    assert new_year_in_hanoi.of(Period.QUARTER) == "2027-Q1"
    assert new_year_in_hanoi.of(Period.YEAR) == "2027"


def test_one_hour_earlier_is_still_the_old_year():
    assert buckets(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)).quarter == "2026-Q4"


@pytest.mark.parametrize(("month", "quarter"), [(1, "Q1"), (3, "Q1"), (4, "Q2"), (9, "Q3")])
def test_quarters(month: int, quarter: str):
    assert buckets(datetime(2026, month, 15, 5, tzinfo=UTC)).quarter == f"2026-{quarter}"


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        buckets(datetime(2026, 11, 2, 8))
