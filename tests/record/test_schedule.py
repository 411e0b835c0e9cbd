"""Schedules as instants: which period is in force, when that next changes, and what a
channel records given its mode, the period's trigger and the live events."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from collections.abc import Sequence

import pytest

from nvrd.config.schedules import ALWAYS, Holiday, Period, Schedule, WeekSchedule
from nvrd.config.schema import CameraConfig, RecordingConfig
from nvrd.record.schedule import (
    ChannelPlan,
    EventKind,
    channel_plan,
    next_change_us,
    record_flags,
    trigger_at,
)
from nvrd.storage.model import RecordType

UTC = zoneinfo.ZoneInfo("UTC")
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
# Changes its clocks at midnight: midnight itself is skipped in September, and the last
# hour of a Saturday happens twice in April.
SANTIAGO = zoneinfo.ZoneInfo("America/Santiago")
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def at(wall: str, tz: zoneinfo.ZoneInfo = PARIS, fold: int = 0) -> int:
    """The instant the clock of ``tz`` reads ``wall`` ("2026-03-29 03:00")."""
    moment = dt.datetime.fromisoformat(wall).replace(tzinfo=tz, fold=fold)
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def local(instant_us: int, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return (EPOCH + dt.timedelta(microseconds=instant_us)).astimezone(tz)


def periods(*specs: str) -> tuple[Period, ...]:
    """``periods("08:00-12:00 motion", "13:00-24:00")``; the type defaults to general."""
    made = []
    for spec in specs:
        span, _, kind = spec.partition(" ")
        start, end = span.split("-")
        made.append(Period.model_validate({"start": start, "end": end,
                                           "type": kind or "general"}))
    return tuple(made)


def schedule(**days: tuple[Period, ...]) -> Schedule:
    return Schedule(name="test", days=WeekSchedule(**days))


def holiday(first: str, last: str | None = None) -> Holiday:
    if last is None:
        return Holiday(name="h", date=dt.date.fromisoformat(first))
    return Holiday(name="h", start=dt.date.fromisoformat(first),
                   end=dt.date.fromisoformat(last))


# ---------------------------------------------------------------------------- trigger_at

def test_a_period_includes_its_start_and_excludes_its_end() -> None:
    plan = schedule(monday=periods("08:00-12:00 motion", "12:00-13:00 alarm"))
    assert trigger_at(plan, (), UTC, at("2026-06-01 07:59:59.999999", UTC)) is None
    assert trigger_at(plan, (), UTC, at("2026-06-01 08:00", UTC)) == "motion"
    assert trigger_at(plan, (), UTC, at("2026-06-01 11:59:59.999999", UTC)) == "motion"
    assert trigger_at(plan, (), UTC, at("2026-06-01 12:00", UTC)) == "alarm"
    assert trigger_at(plan, (), UTC, at("2026-06-01 13:00", UTC)) is None
    # the same hours on Tuesday: Tuesday has no periods
    assert trigger_at(plan, (), UTC, at("2026-06-02 08:00", UTC)) is None


def test_24_00_ends_the_day_and_the_next_day_takes_over() -> None:
    plan = schedule(monday=periods("22:00-24:00 motion"), tuesday=periods("00:00-01:00 alarm"))
    assert trigger_at(plan, (), UTC, at("2026-06-01 23:59:59.999999", UTC)) == "motion"
    assert trigger_at(plan, (), UTC, at("2026-06-02 00:00", UTC)) == "alarm"
    assert next_change_us(plan, (), UTC, at("2026-06-01 22:30", UTC)) == \
        at("2026-06-02 00:00", UTC)
    # Sunday's 24:00 is Monday's midnight, one week on
    sunday = schedule(sunday=periods("23:00-24:00"))
    assert trigger_at(sunday, (), UTC, at("2026-06-07 23:59", UTC)) == "general"
    assert trigger_at(sunday, (), UTC, at("2026-06-08 00:00", UTC)) is None


def test_the_local_weekday_decides_not_the_utc_one() -> None:
    plan = schedule(monday=periods("01:00-02:00 motion"), sunday=periods("23:00-24:00 alarm"))
    sunday_evening_utc = at("2026-06-07 23:30", UTC)  # Monday 01:30 in Paris (UTC+2)
    assert trigger_at(plan, (), PARIS, sunday_evening_utc) == "motion"
    assert trigger_at(plan, (), UTC, sunday_evening_utc) == "alarm"
    assert trigger_at(plan, (), PARIS, at("2026-06-07 23:30")) == "alarm"


def test_a_holiday_replaces_the_weekday_rows() -> None:
    weekdays = {day: periods("08:00-18:00") for day in
                ("monday", "tuesday", "wednesday", "thursday", "friday")}
    plan = schedule(**weekdays, holiday=periods("10:00-11:00 alarm"))
    christmas = holiday("2026-12-25")  # a Friday
    works_week = holiday("2026-08-03", "2026-08-05")  # Monday to Wednesday
    holidays = (christmas, works_week)
    for day in ("2026-12-25", "2026-08-03", "2026-08-04", "2026-08-05"):
        assert trigger_at(plan, holidays, PARIS, at(f"{day} 09:00")) is None, day
        assert trigger_at(plan, holidays, PARIS, at(f"{day} 10:30")) == "alarm", day
    for day in ("2026-12-24", "2026-08-06", "2026-07-31"):
        assert trigger_at(plan, holidays, PARIS, at(f"{day} 09:00")) == "general", day
        assert trigger_at(plan, holidays, PARIS, at(f"{day} 10:30")) == "general", day
    # a holiday on a day without periods still gets the holiday's
    assert trigger_at(plan, (holiday("2026-08-08"),), PARIS, at("2026-08-08 10:30")) == "alarm"


def test_a_holiday_without_periods_does_not_record() -> None:
    plan = schedule(**{day: periods("00:00-24:00") for day in ("monday", "tuesday")})
    holidays = (holiday("2026-06-02"),)
    for minute in range(0, 24 * 60, 7):
        instant = at("2026-06-02 00:00") + minute * MINUTE
        assert trigger_at(plan, holidays, PARIS, instant) is None
    assert trigger_at(plan, holidays, PARIS, at("2026-06-01 23:59")) == "general"
    # the holiday's midnight is a change the recorder wakes up for
    assert next_change_us(plan, holidays, PARIS, at("2026-06-01 12:00")) == at("2026-06-02 00:00")
    assert next_change_us(plan, holidays, PARIS, at("2026-06-02 00:00")) == at("2026-06-03 00:00")


def test_always_records_general_at_every_instant() -> None:
    holidays = (holiday("2026-12-25"), holiday("2026-08-01", "2026-08-15"))
    start = at("2026-01-01 00:00", UTC)
    for tz in (UTC, PARIS, SANTIAGO):
        for step in range(0, 366 * DAY, 7919 * SECOND + 13):  # every ~2 h 12 min, drifting
            assert trigger_at(ALWAYS, holidays, tz, start + step) == "general"


# -------------------------------------------------------------------------- DST in Paris

def walk(plan: Schedule, tz: zoneinfo.ZoneInfo, start: int, end: int,
         holidays: Sequence[Holiday] = ()) -> list[int]:
    """The instants next_change_us steps through from ``start`` until ``end``."""
    instants = [start]
    while instants[-1] < end:
        following = next_change_us(plan, holidays, tz, instants[-1])
        assert instants[-1] < following <= instants[-1] + DAY + SECOND
        instants.append(following)
    return instants


def test_spring_forward_a_period_in_the_missing_hour_never_happens() -> None:
    # 2026-03-29: at 02:00 CET (01:00 UTC) Paris clocks jump to 03:00 CEST
    plan = schedule(sunday=periods("01:00-02:00 alarm", "02:00-03:00 motion",
                                   "03:30-04:00 general"))
    day = [trigger_at(plan, (), PARIS, at("2026-03-28 23:00", UTC) + m * MINUTE)
           for m in range(23 * 60)]
    assert "motion" not in day
    assert day.count("alarm") == 60 and day.count("general") == 30
    assert walk(plan, PARIS, at("2026-03-29 00:00"), at("2026-03-30 00:00")) == [
        at("2026-03-28 23:00", UTC),
        at("2026-03-29 00:00", UTC),  # 01:00 CET: alarm
        at("2026-03-29 01:00", UTC),  # the jump: 03:00 CEST, nothing
        at("2026-03-29 01:30", UTC),  # 03:30 CEST: general
        at("2026-03-29 02:00", UTC),  # 04:00 CEST
        at("2026-03-29 22:00", UTC),  # Monday, after a 23-hour day
    ]


def test_spring_forward_a_period_starting_in_the_missing_hour_starts_at_the_jump() -> None:
    plan = schedule(sunday=periods("02:30-05:00 motion"))
    jump = at("2026-03-29 01:00", UTC)
    assert trigger_at(plan, (), PARIS, jump - 1) is None
    assert trigger_at(plan, (), PARIS, jump) == "motion"
    assert next_change_us(plan, (), PARIS, at("2026-03-29 00:00")) == jump
    assert next_change_us(plan, (), PARIS, jump) == at("2026-03-29 03:00", UTC)  # 05:00 CEST


def test_fall_back_the_repeated_hour_applies_twice() -> None:
    # 2026-10-25: at 03:00 CEST (01:00 UTC) Paris clocks go back to 02:00 CET
    plan = schedule(sunday=periods("02:15-02:45 alarm", "04:00-24:00"))
    assert walk(plan, PARIS, at("2026-10-25 00:00"), at("2026-10-26 00:00")) == [
        at("2026-10-24 22:00", UTC),
        at("2026-10-25 00:15", UTC),  # 02:15 CEST: alarm
        at("2026-10-25 00:45", UTC),  # 02:45 CEST
        at("2026-10-25 01:00", UTC),  # back to 02:00 CET (nothing changes, still a wake-up)
        at("2026-10-25 01:15", UTC),  # 02:15 CET: alarm again
        at("2026-10-25 01:45", UTC),
        at("2026-10-25 03:00", UTC),  # 04:00 CET: general
        at("2026-10-25 23:00", UTC),  # Monday, after a 25-hour day
    ]
    assert trigger_at(plan, (), PARIS, at("2026-10-25 02:30", fold=0)) == "alarm"
    assert trigger_at(plan, (), PARIS, at("2026-10-25 02:30", fold=1)) == "alarm"
    assert trigger_at(plan, (), PARIS, at("2026-10-25 00:50", UTC)) is None


def test_fall_back_the_jump_back_itself_can_start_a_period() -> None:
    plan = schedule(sunday=periods("02:00-02:30 motion"))
    jump = at("2026-10-25 01:00", UTC)
    assert trigger_at(plan, (), PARIS, jump - 1) is None  # 02:59:59 CEST
    assert trigger_at(plan, (), PARIS, jump) == "motion"  # 02:00 CET
    assert next_change_us(plan, (), PARIS, at("2026-10-25 02:40")) == jump


def test_the_wait_never_exceeds_a_day_even_on_a_25_hour_day() -> None:
    steps = walk(ALWAYS, PARIS, at("2026-10-24 00:00"), at("2026-10-27 00:00"))
    assert steps == [at("2026-10-24 00:00"), at("2026-10-25 00:00"),
                     at("2026-10-25 01:00", UTC), at("2026-10-26 00:00"),
                     at("2026-10-27 00:00")]


# ----------------------------------------------------- next_change_us against brute force

BUSY = schedule(
    monday=periods("00:00-06:30", "06:30-08:00 motion", "12:00-13:00 alarm",
                   "13:00-13:30 alarm", "22:00-24:00 motion_or_alarm"),
    wednesday=periods("08:15-17:45 motion_and_alarm"),
    thursday=periods("00:00-24:00 intelligent"),
    friday=periods("09:00-10:00", "10:00-11:00 motion", "11:00-12:00"),
    saturday=periods("23:59-24:00 alarm"),
    sunday=periods("00:00-00:30 alarm", "01:30-02:30 alarm", "02:45-03:15 motion",
                   "20:00-24:00"),
    holiday=periods("10:00-11:00", "11:00-12:00"),
)
BUSY_HOLIDAYS = (holiday("2026-03-25"), holiday("2026-10-20", "2026-10-21"),
                 holiday("2026-09-02"))


@pytest.mark.parametrize(("plan", "tz", "first_day"), [
    (BUSY, PARIS, "2026-03-23"),     # spring forward on Sunday 29th
    (BUSY, PARIS, "2026-10-19"),     # fall back on Sunday 25th
    (BUSY, SANTIAGO, "2026-03-30"),  # Saturday 4 April's last hour twice
    (BUSY, SANTIAGO, "2026-08-31"),  # no midnight on Sunday 6 September
    (ALWAYS, PARIS, "2026-10-19"),
], ids=["paris-spring", "paris-fall", "santiago-april", "santiago-september", "always"])
def test_next_change_is_the_nearest_real_change_found_minute_by_minute(
        plan: Schedule, tz: zoneinfo.ZoneInfo, first_day: str) -> None:
    # Every boundary and offset change of these zones falls on a whole UTC minute, so a
    # per-minute scan sees each one; what is in force is constant within a minute.
    start = at(f"{first_day} 00:00", tz)
    minutes = [start + i * MINUTE for i in range(9 * 24 * 60)]
    states = [(trigger_at(plan, BUSY_HOLIDAYS, tz, t), wall.date(), wall.utcoffset())
              for t in minutes for wall in (local(t, tz),)]
    # a change of what is in force, a local midnight, or a change of UTC offset
    events = [t for t, before, now in zip(minutes[1:], states, states[1:], strict=False)
              if now != before]
    changes_within_a_day = sum(before[0] != now[0] and before[1] == now[1]
                               for before, now in itertools.pairwise(states))
    assert changes_within_a_day == 0 if plan is ALWAYS else changes_within_a_day >= 15

    def expected(instant: int) -> int:
        return next(t for t in events if t > instant)

    last = events[-2]
    queries = [t for t in range(start, last, 19 * MINUTE + 13 * SECOND + 17)]
    queries += [t + d for t in events[:-2] for d in (-1, 0, 1)]
    for instant in queries:
        assert next_change_us(plan, BUSY_HOLIDAYS, tz, instant) == expected(instant), \
            local(instant, tz).isoformat()
    # and stepping from change to change visits every one of them, in order
    assert walk(plan, tz, start, last, BUSY_HOLIDAYS)[1:] == events[:events.index(last) + 1]


def test_a_boundary_where_the_same_type_continues_is_not_a_change() -> None:
    holidays = (holiday("2026-06-03"),)
    assert next_change_us(BUSY, holidays, PARIS, at("2026-06-03 10:30")) == at("2026-06-03 12:00")
    assert next_change_us(BUSY, (), PARIS, at("2026-06-01 12:30")) == at("2026-06-01 13:30")


# ---------------------------------------------------------------------------- record_flags

LETTERS = {"G": RecordType.GENERAL, "M": RecordType.MOTION, "A": RecordType.ALARM,
           "I": RecordType.INTELLIGENT, "H": RecordType.MANUAL}  # H: manual, by hand
EVENTS = {"m": EventKind.MOTION, "a": EventKind.ALARM, "i": EventKind.INTELLIGENT}
SUBSETS = ("", "m", "a", "i", "ma", "mi", "ai", "mai")
# mode "auto": what each trigger records for each subset of active events ("-": nothing)
AUTO = {
    "general":          ("G", "GM", "GA", "GI", "GMA", "GMI", "GAI", "GMAI"),
    "motion":           ("-", "M", "-", "-", "M", "M", "-", "M"),
    "alarm":            ("-", "-", "A", "-", "A", "-", "A", "A"),
    "motion_and_alarm": ("-", "-", "-", "-", "MA", "-", "-", "MA"),
    "motion_or_alarm":  ("-", "M", "A", "-", "MA", "M", "A", "MA"),
    "intelligent":      ("-", "-", "-", "I", "-", "I", "I", "I"),
    None:               ("-", "-", "-", "-", "-", "-", "-", "-"),
}
MANUAL = ("HG", "HGM", "HGA", "HGI", "HGMA", "HGMI", "HGAI", "HGMAI")


def flags(letters: str) -> RecordType:
    result = RecordType(0)
    for letter in letters.strip("-"):
        result |= LETTERS[letter]
    return result


TRUTH_TABLE = [
    (mode, trigger, subset, expected)
    for trigger, row in AUTO.items()
    for index, subset in enumerate(SUBSETS)
    for mode, expected in (("auto", row[index]), ("manual", MANUAL[index]), ("off", "-"))
]


@pytest.mark.parametrize(("mode", "trigger", "subset", "expected"), TRUTH_TABLE)
def test_record_flags_truth_table(mode: str, trigger: str | None, subset: str,
                                  expected: str) -> None:
    active = frozenset(EVENTS[letter] for letter in subset)
    assert record_flags(mode, trigger, active) == flags(expected)  # type: ignore[arg-type]
    # any collection will do, in any order
    assert record_flags(mode, trigger,  # type: ignore[arg-type]
                        [EVENTS[c] for c in reversed(subset)]) == flags(expected)


def test_the_truth_table_covers_every_trigger_and_event() -> None:
    assert len(TRUTH_TABLE) == 7 * 8 * 3
    assert {frozenset(s) for s in SUBSETS} == {
        frozenset(c) for n in range(4) for c in itertools.combinations("mai", n)}
    assert set(EVENTS.values()) == set(EventKind)
    assert [kind.value for kind in EventKind] == ["motion", "alarm", "intelligent"]


def test_an_unknown_mode_is_an_error_not_silence() -> None:
    with pytest.raises(ValueError, match="unknown recording mode 'Auto'"):
        record_flags("Auto", "general", ())


# ---------------------------------------------------------------------------- channel_plan

def camera(**settings: object) -> CameraConfig:
    return CameraConfig.model_validate({"channel": 3, "main": {"url": "rtsp://10.0.0.3/main"},
                                        **settings})


def test_channel_plan_resolves_the_schedule_and_times() -> None:
    night = Schedule(name="night", days=WeekSchedule(monday=periods("20:00-24:00 motion")))
    recording = RecordingConfig(schedules=(night,))
    assert channel_plan(camera(), recording) == ChannelPlan(
        channel=3, mode="auto", schedule=ALWAYS, pre_record_us=5 * SECOND,
        post_record_us=30 * SECOND)
    plan = channel_plan(camera(schedule="night", mode="manual", pre_record_seconds=0,
                               post_record_seconds=120), recording)
    assert (plan.mode, plan.schedule, plan.pre_record_us, plan.post_record_us) == \
        ("manual", night, 0, 120 * SECOND)


def test_a_disabled_camera_plans_no_recording() -> None:
    plan = channel_plan(camera(enabled=False, mode="manual"), RecordingConfig())
    assert plan.mode == "off"
    assert record_flags(plan.mode, "general", set(EventKind)) == RecordType(0)


def test_channel_plan_refuses_an_undefined_schedule() -> None:
    with pytest.raises(ValueError, match="schedule 'night', which is not defined"):
        channel_plan(camera(schedule="night"), RecordingConfig())
