from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nvrd.accounts.windows import LoginPeriod, LoginWindows, WindowsFormatError, load_zone

WORKDAYS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}]


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_inside_and_outside_a_daytime_period() -> None:
    windows = LoginWindows.from_json(WORKDAYS)
    assert windows.allows(utc(2026, 3, 4, 8, 0), "UTC")  # Wednesday 08:00
    assert windows.allows(utc(2026, 3, 4, 17, 59), "UTC")
    assert not windows.allows(utc(2026, 3, 4, 18, 0), "UTC")  # end is exclusive
    assert not windows.allows(utc(2026, 3, 4, 7, 59), "UTC")
    assert not windows.allows(utc(2026, 3, 7, 12, 0), "UTC")  # Saturday


def test_period_is_read_in_the_box_time_zone() -> None:
    windows = LoginWindows.from_json(WORKDAYS)
    # 07:30 UTC on a Wednesday in March is 08:30 in Berlin (CET, +1).
    assert windows.allows(utc(2026, 3, 4, 7, 30), "Europe/Berlin")
    assert not windows.allows(utc(2026, 3, 4, 7, 30), "UTC")
    # 17:30 UTC in July is 19:30 in Berlin (CEST, +2): outside.
    assert not windows.allows(utc(2026, 7, 1, 17, 30), load_zone("Europe/Berlin"))


def test_period_passing_midnight_belongs_to_its_start_day() -> None:
    windows = LoginWindows.from_json([{"days": ["fri"], "start": "22:00", "end": "06:00"}])
    assert windows.allows(utc(2026, 3, 6, 23, 0), "UTC")  # Friday night
    assert windows.allows(utc(2026, 3, 7, 5, 59), "UTC")  # Saturday morning
    assert not windows.allows(utc(2026, 3, 7, 6, 0), "UTC")
    assert not windows.allows(utc(2026, 3, 6, 3, 0), "UTC")  # Friday morning: Thursday's part
    assert not windows.allows(utc(2026, 3, 7, 23, 0), "UTC")  # Saturday night


def test_whole_days_and_sunday_wraps_to_monday() -> None:
    whole = LoginWindows.from_json([{"days": ["sun"], "start": "00:00", "end": "24:00"}])
    assert whole.allows(utc(2026, 3, 8, 23, 59), "UTC")
    assert not whole.allows(utc(2026, 3, 9, 0, 0), "UTC")
    night = LoginWindows.from_json([{"days": ["sun"], "start": "20:00", "end": "02:00"}])
    assert night.allows(utc(2026, 3, 9, 1, 0), "UTC")  # Monday 01:00


def test_json_round_trip() -> None:
    data = [{"days": ["mon", "sun"], "start": "22:15", "end": "06:00"},
            {"days": ["sat"], "start": "00:00", "end": "24:00"}]
    assert LoginWindows.from_json(data).to_json() == data


@pytest.mark.parametrize(("data", "fragment"), [
    ([], "at least one period"),
    ("mon", "list of periods"),
    ([{"days": ["mon"], "start": "08:00"}], "exactly days, start and end"),
    ([{"days": ["monday"], "start": "08:00", "end": "09:00"}], "days must be among"),
    ([{"days": [], "start": "08:00", "end": "09:00"}], "at least one weekday"),
    ([{"days": ["mon"], "start": "8am", "end": "09:00"}], "is not a time"),
    ([{"days": ["mon"], "start": "24:00", "end": "09:00"}], "must start between"),
    ([{"days": ["mon"], "start": "08:00", "end": "24:30"}], "after 24:00"),
])
def test_bad_windows_are_refused_with_a_sentence(data: object, fragment: str) -> None:
    with pytest.raises(WindowsFormatError, match=fragment):
        LoginWindows.from_json(data)


def test_naive_time_and_unknown_zone_are_refused() -> None:
    windows = LoginWindows((LoginPeriod(frozenset({0}), 0, 60),))
    with pytest.raises(ValueError, match="timezone-aware"):
        windows.allows(datetime(2026, 3, 2, 0, 30), "UTC")
    with pytest.raises(ValueError, match="unknown time zone"):
        windows.allows(utc(2026, 3, 2, 0, 30), "Mars/Olympus")
