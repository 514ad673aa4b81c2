"""Legal clocks: hours, or working days that skip weekends and Vietnamese public holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import holidays

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


class WorkingCalendar:
    """Working days of Viet Nam's public administration: Monday to Friday, minus holidays.

    Holidays come from the `holidays` package (Tết, Hùng Kings, 30/4, 1/5, 2/9, …), so a
    new year's lunar dates need no code change.
    """

    def __init__(self, timezone: ZoneInfo = VIETNAM, country: str = "VN") -> None:
        self.timezone = timezone
        self.country = country
        # Every case received on a day has the same due day: count it once, not per case
        # (a bulk import asks thousands of times for the same few days).
        self._working_days_after = lru_cache(maxsize=1024)(self._count_working_days)

    @cached_property
    def _holidays(self) -> holidays.HolidayBase:
        # Imported on first use: it loads every country's rules (~17 MiB), which a process
        # that only builds the calendar, or uses the time zone, never needs.
        import holidays

        return holidays.country_holidays(self.country)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._holidays

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same local time of day, `days` working days after `start` (in UTC).

        Received on a Friday afternoon with a 5-day limit: due the next Friday afternoon,
        later still when a holiday falls in between.
        """
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        local = start.astimezone(self.timezone)
        due = datetime.combine(self._working_days_after(local.date(), days), local.timetz())
        return due.astimezone(UTC)

    def _count_working_days(self, day: date, days: int) -> date:
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day


def add_hours(start: datetime, hours: float) -> datetime:
    """Hour clocks run through nights, weekends and holidays (emergencies do not wait)."""
    return (start + timedelta(hours=hours)).astimezone(UTC)
