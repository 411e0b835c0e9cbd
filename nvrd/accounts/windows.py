"""Optional login time windows per user (the manual's "Period", L11058–11089).

A user with windows may log in only inside one of their weekly periods, read in the box's
time zone (a zoneinfo name, passed in because the box's zone is a setting that can change).
A user without windows (``None`` in the store) may log in at any time.

Each :class:`LoginPeriod` has the weekdays it *starts* on, a start and an end in minutes of
the local day. ``end`` may be 1440 ("24:00"). When ``end <= start`` the period passes
midnight and ends on the next day: ``fri 22:00–06:00`` allows Saturday 03:00, and
``start == end`` is a full 24 hours from ``start``. Local times are wall-clock times, so a
period keeps its meaning across daylight-saving changes (a local time skipped by a spring
change simply never occurs).

JSON form (what the API accepts and the store keeps)::

    [{"days": ["mon", "tue"], "start": "08:00", "end": "18:00"}, ...]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Index = ``datetime.weekday()``."""
MINUTES_PER_DAY = 24 * 60
MAX_PERIODS = 32
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class WindowsFormatError(ValueError):
    """Login-window JSON that cannot be understood; the message names the bad part."""


@dataclass(frozen=True, slots=True)
class LoginPeriod:
    days: frozenset[int]
    """Weekdays the period starts on, 0 = Monday … 6 = Sunday."""
    start_minute: int
    """0–1439, local time."""
    end_minute: int
    """1–1440, local time; ``<= start_minute`` means it ends the next day."""

    def __post_init__(self) -> None:
        if not self.days or any(d not in range(7) for d in self.days):
            raise WindowsFormatError("a period needs at least one weekday, 0 = Monday … 6 = Sunday")
        if not 0 <= self.start_minute < MINUTES_PER_DAY:
            raise WindowsFormatError("a period must start between 00:00 and 23:59")
        if not 0 < self.end_minute <= MINUTES_PER_DAY:
            raise WindowsFormatError("a period must end between 00:01 and 24:00")

    def contains(self, weekday: int, minute: int) -> bool:
        """Whether local ``weekday``/``minute`` of the day falls inside the period."""
        if self.end_minute > self.start_minute:
            return weekday in self.days and self.start_minute <= minute < self.end_minute
        # Passes midnight: the evening part on a start day, the morning part the day after.
        if weekday in self.days and minute >= self.start_minute:
            return True
        return (weekday - 1) % 7 in self.days and minute < self.end_minute


@dataclass(frozen=True, slots=True)
class LoginWindows:
    """A user's weekly login periods; at least one."""

    periods: tuple[LoginPeriod, ...]

    def __post_init__(self) -> None:
        if not self.periods:
            raise WindowsFormatError(
                "login windows need at least one period; to allow any time, remove the windows")
        if len(self.periods) > MAX_PERIODS:
            raise WindowsFormatError(f"at most {MAX_PERIODS} login periods")

    def allows(self, now_utc: datetime, zone: str | ZoneInfo) -> bool:
        """Whether ``now_utc`` (timezone-aware) is inside a period, read in ``zone``."""
        if now_utc.tzinfo is None:
            raise ValueError("now_utc must be timezone-aware")
        tz = zone if isinstance(zone, ZoneInfo) else load_zone(zone)
        local = now_utc.astimezone(tz)
        minute = local.hour * 60 + local.minute
        return any(p.contains(local.weekday(), minute) for p in self.periods)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"days": [DAY_NAMES[d] for d in sorted(p.days)],
                 "start": _format(p.start_minute), "end": _format(p.end_minute)}
                for p in self.periods]

    @classmethod
    def from_json(cls, data: Any) -> LoginWindows:
        if not isinstance(data, Sequence) or isinstance(data, str):
            raise WindowsFormatError("login windows must be a list of periods")
        periods = []
        for index, item in enumerate(data):
            where = f"login period {index + 1}"
            if not isinstance(item, dict) or set(item) != {"days", "start", "end"}:
                raise WindowsFormatError(f"{where} must have exactly days, start and end")
            days = item["days"]
            if isinstance(days, str) or not isinstance(days, Sequence):
                raise WindowsFormatError(f"{where}: days must be a list such as [\"mon\"]")
            try:
                numbers = frozenset(DAY_NAMES.index(str(d).lower()) for d in days)
            except ValueError:
                raise WindowsFormatError(
                    f"{where}: days must be among {', '.join(DAY_NAMES)}") from None
            try:
                periods.append(LoginPeriod(numbers, _parse(item["start"]),
                                           _parse(item["end"])))
            except WindowsFormatError as exc:
                raise WindowsFormatError(f"{where}: {exc}") from None
        return cls(tuple(periods))


def load_zone(name: str) -> ZoneInfo:
    """The zone called ``name``; :class:`ValueError` naming it when it does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def utc_now() -> datetime:
    return datetime.now(UTC)


def _parse(text: Any) -> int:
    match = _TIME.match(text) if isinstance(text, str) else None
    if match is None:
        raise WindowsFormatError(f"{text!r} is not a time such as \"08:30\"")
    minute = int(match[1]) * 60 + int(match[2])
    if minute > MINUTES_PER_DAY:
        raise WindowsFormatError(f"{text!r} is after 24:00")
    return minute


def _format(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
