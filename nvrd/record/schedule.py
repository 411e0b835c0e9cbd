"""When a channel records, and why: schedules turned into instants and record flags.

Schedules are written in local wall-clock time (``system.timezone``) while everything the
recorder handles is UTC microseconds, so the wall clock is evaluated at each instant
rather than converted once: across a DST change the same "08:00" is a different UTC
instant, a local time in the spring-forward gap never happens (a period starting in it
starts when the clock jumps), and in the fall-back hour the clock reads some times twice
(a period then applies twice, and the jump back itself may change what is in force).

The recorder asks ``trigger_at`` what is in force now, arms one timer for
``next_change_us`` instead of polling, and combines the trigger with the channel's live
events through ``record_flags``.
"""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from nvrd.config.schedules import WEEKDAYS, Holiday, Period, RecordTrigger, Schedule
from nvrd.config.schema import CameraConfig, RecordingConfig
from nvrd.storage.model import RecordType

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)
_MAX_WAIT_US = 24 * 3600 * 1_000_000
"""``next_change_us`` never looks further: a 25-hour fall-back day is split by its
offset change anyway, and an early wake-up only costs the recorder a re-check."""


class EventKind(enum.StrEnum):
    """The live events a schedule period can wait for."""

    MOTION = "motion"
    ALARM = "alarm"
    INTELLIGENT = "intelligent"


_EVENT_FLAGS = {
    EventKind.MOTION: RecordType.MOTION,
    EventKind.ALARM: RecordType.ALARM,
    EventKind.INTELLIGENT: RecordType.INTELLIGENT,
}
_NOTHING = RecordType(0)


def _local(instant_us: int, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    # Integer arithmetic: a float timestamp would round microseconds far from 1970.
    return (_EPOCH + dt.timedelta(microseconds=instant_us)).astimezone(tz)


def _instant_us(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // _ONE_US


def _offset(instant_us: int, tz: zoneinfo.ZoneInfo) -> dt.timedelta | None:
    return _local(instant_us, tz).utcoffset()


def _day_periods(schedule: Schedule, holidays: Sequence[Holiday],
                 day: dt.date) -> tuple[Period, ...]:
    """A holiday replaces the weekday entirely, even with no periods: the installer said
    what that day records, and "nothing" is a valid answer."""
    if any(holiday.covers(day) for holiday in holidays):
        return schedule.days.periods("holiday")
    return schedule.days.periods(WEEKDAYS[day.weekday()])


def trigger_at(schedule: Schedule, holidays: Sequence[Holiday], tz: zoneinfo.ZoneInfo,
               instant_us: int) -> RecordTrigger | None:
    """The type of the period in force at ``instant_us`` (UTC), or None outside every
    period. Periods include their start minute and exclude their end minute."""
    local = _local(instant_us, tz)
    minute = local.hour * 60 + local.minute
    for period in _day_periods(schedule, holidays, local.date()):
        if period.start_minute <= minute < period.end_minute:
            return period.type
    return None


def _wall_instants(wall: dt.datetime, tz: zoneinfo.ZoneInfo) -> Iterator[int]:
    """Every instant at which the local clock reads ``wall``: none in a spring-forward
    gap (the offset change stands in for it), two in a fall-back hour."""
    for fold in (0, 1):
        instant = _instant_us(wall.replace(tzinfo=tz, fold=fold))
        if _local(instant, tz).replace(tzinfo=None) == wall:
            yield instant


def _boundaries(schedule: Schedule, holidays: Sequence[Holiday], tz: zoneinfo.ZoneInfo,
                today: dt.date) -> Iterator[tuple[int, bool]]:
    """Instants of today's period starts and ends and of its midnights, with whether each
    is a midnight. Today is enough: tonight's midnight ends the search, and when it does
    not exist (a spring-forward at midnight) the offset change comes first."""
    minutes = {0, 24 * 60}
    for period in _day_periods(schedule, holidays, today):
        minutes.update((period.start_minute, period.end_minute))
    midnight = dt.datetime.combine(today, dt.time())
    for minute in minutes:
        for instant in _wall_instants(midnight + dt.timedelta(minutes=minute), tz):
            yield instant, minute in (0, 24 * 60)


def _offset_change_us(tz: zoneinfo.ZoneInfo, after_us: int, until_us: int) -> int | None:
    """The first instant in (after_us, until_us] at which the UTC offset differs from
    the one at ``after_us``; zoneinfo has no public list of transitions, so bisect.
    Assumes at most one change in the span (true of every zone for a day)."""
    before = _offset(after_us, tz)
    if _offset(until_us, tz) == before:
        return None
    low, high = after_us, until_us
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(middle, tz) == before:
            low = middle
        else:
            high = middle
    return high


def next_change_us(schedule: Schedule, holidays: Sequence[Holiday], tz: zoneinfo.ZoneInfo,
                   instant_us: int) -> int:
    """The first instant after ``instant_us`` at which ``trigger_at`` changes, or a local
    midnight or UTC offset change comes, whichever is first (at most 24 h ahead).

    Midnights and offset changes are returned even when nothing changes there so the
    recorder's wait stays bounded and a holiday or DST day is looked at afresh; period
    boundaries where the same type continues (12:00 ending one general period and
    starting the next) are skipped.
    """
    limit = instant_us + _MAX_WAIT_US
    today = _local(instant_us, tz).date()
    candidates: dict[int, bool] = {}
    for instant, is_midnight in _boundaries(schedule, holidays, tz, today):
        if instant_us < instant < limit:
            candidates[instant] = candidates.get(instant, False) or is_midnight
    offset_change = _offset_change_us(tz, instant_us, limit)
    if offset_change is not None:
        candidates[offset_change] = True
    current = trigger_at(schedule, holidays, tz, instant_us)
    for instant in sorted(candidates):
        if candidates[instant] or trigger_at(schedule, holidays, tz, instant) != current:
            return instant
    return limit


def _event_flags(active: Collection[EventKind], kinds: Collection[EventKind]) -> RecordType:
    flags = _NOTHING
    for kind in kinds:
        if kind in active:
            flags |= _EVENT_FLAGS[kind]
    return flags


_ALL_EVENTS = tuple(EventKind)
_WATCHED: dict[RecordTrigger, tuple[EventKind, ...]] = {
    "general": _ALL_EVENTS,
    "motion": (EventKind.MOTION,),
    "alarm": (EventKind.ALARM,),
    "motion_and_alarm": (EventKind.MOTION, EventKind.ALARM),
    "motion_or_alarm": (EventKind.MOTION, EventKind.ALARM),
    "intelligent": (EventKind.INTELLIGENT,),
}
"""The events each trigger records on (general records anyway, and marks them all)."""


def record_flags(mode: str, trigger: RecordTrigger | None,
                 active: Collection[EventKind]) -> RecordType:
    """What the channel should record now, as segment flags; 0 means nothing.

    ``active`` holds the events going on now, post-record tail included (the caller owns
    that timing). Manual and general recording still mark events so that searches by
    event type find them. Motion-and-alarm is an AND gate, as on the vendor's boxes: one
    of the two alone records nothing.
    """
    if mode == "off":
        return _NOTHING
    if mode == "manual":
        return RecordType.MANUAL | RecordType.GENERAL | _event_flags(active, _ALL_EVENTS)
    if mode != "auto":
        raise ValueError(f"unknown recording mode {mode!r}; expected auto, manual or off")
    if trigger is None:
        return _NOTHING
    watched = _WATCHED[trigger]
    if trigger == "motion_and_alarm" and not all(kind in active for kind in watched):
        return _NOTHING
    flags = _event_flags(active, watched)
    if trigger == "general":
        flags |= RecordType.GENERAL
    return flags


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """A channel's recording settings resolved from the configuration, so the recorder
    needs neither the whole configuration nor the schedule lookup."""

    channel: int
    mode: str
    """"auto", "manual" or "off"; a disabled camera is "off"."""
    schedule: Schedule
    pre_record_us: int
    post_record_us: int


def channel_plan(camera: CameraConfig, recording: RecordingConfig) -> ChannelPlan:
    """The plan of ``camera``; raises ValueError if its schedule is not defined (a
    validated ``NvrConfig`` never has one that is not)."""
    schedule = recording.schedule(camera.schedule)
    if schedule is None:
        raise ValueError(f"camera {camera.channel} uses schedule {camera.schedule!r}, "
                         f"which is not defined; defined: {', '.join(recording.schedule_names)}")
    return ChannelPlan(
        channel=camera.channel,
        mode=camera.mode if camera.enabled else "off",
        schedule=schedule,
        pre_record_us=camera.pre_record_seconds * 1_000_000,
        post_record_us=camera.post_record_seconds * 1_000_000,
    )
