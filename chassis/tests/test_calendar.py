from datetime import UTC, date, datetime

import pytest

from chassis.calendar import WorkingCalendar, add_hours

CALENDAR = WorkingCalendar()


def _vn(text: str) -> datetime:
    """A Viet Nam local time (UTC+7) given as 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text + "+07:00")


def test_weekends_are_not_working_days() -> None:
    assert CALENDAR.is_working_day(date(2026, 11, 20))  # Friday
    assert not CALENDAR.is_working_day(date(2026, 11, 21))  # Saturday
    assert not CALENDAR.is_working_day(date(2026, 11, 22))  # Sunday


def test_public_holidays_are_not_working_days() -> None:
    assert not CALENDAR.is_working_day(date(2026, 9, 2))  # National Day, a Wednesday
    assert not CALENDAR.is_working_day(date(2026, 4, 30))  # Reunification Day, a Thursday
    assert CALENDAR.holiday_name(date(2026, 9, 2))


def test_five_working_days_skip_the_weekend() -> None:
    due = CALENDAR.add_working_days(_vn("2026-10-16 15:00"), 5)  # Friday afternoon
    assert due == _vn("2026-10-23 15:00").astimezone(UTC)  # the next Friday


def test_five_working_days_skip_a_holiday_too() -> None:
    # Friday 28 August 2026; 31 August (a substituted day off), 1 and 2 September are off.
    due = CALENDAR.add_working_days(_vn("2026-08-28 09:00"), 5)
    assert due == _vn("2026-09-09 09:00").astimezone(UTC)


def test_vietnam_cultural_day_is_a_holiday_from_2026() -> None:
    # Monday 23 November 2026; Tuesday 24 November is Vietnam Cultural Day.
    due = CALENDAR.add_working_days(_vn("2026-11-23 09:00"), 5)
    assert due == _vn("2026-12-01 09:00").astimezone(UTC)


def test_intake_on_a_saturday_counts_from_monday() -> None:
    due = CALENDAR.add_working_days(_vn("2026-11-21 10:00"), 1)
    assert due == _vn("2026-11-23 10:00").astimezone(UTC)


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CALENDAR.add_working_days(datetime(2026, 11, 20, 9, 0), 5)


def test_hour_clocks_ignore_weekends() -> None:
    assert add_hours(_vn("2026-11-21 22:00"), 12) == _vn("2026-11-22 10:00").astimezone(UTC)


def test_a_day_is_counted_once_and_each_case_keeps_its_own_time_of_day(monkeypatch) -> None:
    calendar = WorkingCalendar()
    asked: list[date] = []
    is_working_day = calendar.is_working_day

    def counting(day: date) -> bool:
        asked.append(day)
        return is_working_day(day)

    monkeypatch.setattr(calendar, "is_working_day", counting)
    morning = calendar.add_working_days(_vn("2026-10-16 08:15"), 5)
    looked_up = len(asked)
    evening = calendar.add_working_days(_vn("2026-10-16 21:40"), 5)  # same local day

    assert looked_up > 0 and len(asked) == looked_up
    assert morning == _vn("2026-10-23 08:15").astimezone(UTC)
    assert evening == _vn("2026-10-23 21:40").astimezone(UTC)
