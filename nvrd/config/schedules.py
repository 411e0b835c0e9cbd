"""Recording schedules and holidays, modelled on the vendor's weekly schedule page.

A schedule gives, for each weekday and for holidays, up to six periods of the day with
what triggers recording in them. Times are local wall-clock times ("HH:MM", the end may
be "24:00") in ``system.timezone``; the recorder turns them into instants. The built-in
schedule ``always`` records everything, all day, every day, and cannot be redefined.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from nvrd.config.errors import Violation, located_error, violations_error
from nvrd.config.fields import CLOCK_TIME_PATTERN, END_CLOCK_TIME_PATTERN, Name32, Section

ALWAYS_SCHEDULE_NAME = "always"
# The vendor's limit; also keeps a day readable on the schedule page.
MAX_PERIODS_PER_DAY = 6
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

RecordTrigger = Literal["general", "motion", "alarm", "motion_and_alarm", "motion_or_alarm",
                        "intelligent"]


def minutes_of_day(clock: str) -> int:
    """``"07:30"`` → 450; ``"24:00"`` → 1440."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class Period(Section):
    """A stretch of one day and what makes it record."""

    start: Annotated[str, StringConstraints(pattern=CLOCK_TIME_PATTERN)]
    """Local time "HH:MM" the period starts at (inclusive)."""
    end: Annotated[str, StringConstraints(pattern=END_CLOCK_TIME_PATTERN)]
    """Local time "HH:MM" the period ends at (exclusive); "24:00" is the end of the day."""
    type: RecordTrigger = "general"
    """general = record continuously; motion / alarm / their combinations = record on
    those events; intelligent = on video analytics events."""

    @model_validator(mode="after")
    def _starts_before_it_ends(self) -> Period:
        if self.start_minute >= self.end_minute:
            raise located_error(f"must be later than start {self.start!r}",
                                at=("end",), value=self.end)
        return self

    @property
    def start_minute(self) -> int:
        return minutes_of_day(self.start)

    @property
    def end_minute(self) -> int:
        return minutes_of_day(self.end)


def _no_overlap(periods: tuple[Period, ...]) -> tuple[Period, ...]:
    by_start = sorted(enumerate(periods), key=lambda item: item[1].start_minute)
    overlaps = [
        Violation((index,), f"overlaps the period {earlier.start}-{earlier.end}; periods of "
                  "a day must not overlap", f"{later.start}-{later.end}")
        for (_, earlier), (index, later) in itertools.pairwise(by_start)
        if later.start_minute < earlier.end_minute
    ]
    if overlaps:
        raise violations_error(overlaps)
    return periods


DayPeriods = Annotated[tuple[Period, ...], Field(max_length=MAX_PERIODS_PER_DAY),
                       AfterValidator(_no_overlap)]


class WeekSchedule(Section):
    """The periods of each day of the week, and of holidays (see ``recording.holidays``).
    A day without periods does not record."""

    monday: DayPeriods = ()
    tuesday: DayPeriods = ()
    wednesday: DayPeriods = ()
    thursday: DayPeriods = ()
    friday: DayPeriods = ()
    saturday: DayPeriods = ()
    sunday: DayPeriods = ()
    holiday: DayPeriods = ()

    def periods(self, day: str) -> tuple[Period, ...]:
        """The periods of ``day`` ("monday" ... "sunday", or "holiday")."""
        periods: tuple[Period, ...] = getattr(self, day)
        return periods


class Schedule(Section):
    """A named weekly schedule that cameras refer to by name."""

    name: Name32
    """What cameras use in their ``schedule`` setting ("always" is built in)."""
    days: WeekSchedule = Field(default_factory=WeekSchedule)


_WHOLE_DAY = (Period(start="00:00", end="24:00", type="general"),)
ALWAYS = Schedule(name=ALWAYS_SCHEDULE_NAME, days=WeekSchedule(
    **{day: _WHOLE_DAY for day in (*WEEKDAYS, "holiday")}))
"""The built-in schedule: record continuously, all day, every day."""


class Holiday(Section):
    """A day (``date``) or a range of days (``start`` to ``end``, both included) on which
    schedules use their ``holiday`` periods instead of the weekday's."""

    name: Name32
    date: dt.date | None = None
    """A single day, e.g. 2025-12-25 (TOML date, or the same as a string)."""
    start: dt.date | None = None
    """First day of a range (with ``end``)."""
    end: dt.date | None = None
    """Last day of a range, included."""

    @model_validator(mode="after")
    def _one_day_or_a_range(self) -> Holiday:
        if self.date is not None:
            if self.start is not None or self.end is not None:
                raise located_error("give either date, or start and end, not both",
                                    at=("date",), value=self.date)
        elif self.start is None or self.end is None:
            missing = "start" if self.start is None else "end"
            raise located_error("a holiday needs a date, or a start and an end",
                                at=(missing,))
        elif self.end < self.start:
            raise located_error(f"must not be before start {self.start.isoformat()}",
                                at=("end",), value=self.end)
        return self

    @property
    def first_day(self) -> dt.date:
        first = self.date or self.start
        assert first is not None, "checked by the validator"
        return first

    @property
    def last_day(self) -> dt.date:
        last = self.date or self.end
        assert last is not None, "checked by the validator"
        return last

    def covers(self, day: dt.date) -> bool:
        return self.first_day <= day <= self.last_day
