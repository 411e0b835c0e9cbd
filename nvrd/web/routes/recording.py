"""Recording: schedules and holidays (right ``camera``: they are camera settings, as a
camera's ``mode``/``schedule``/pre- and post-record times, which are set through the
camera routes), what is recording now, and the timeline of a channel (channel right
``playback``).

Locking a range (``POST /api/v1/channels/{channel}/locks``) needs both the channel's
``playback`` right (it is about footage one may see) and the system ``storage`` right
(a locked recording is kept past retention and can fill the disks, which is the storage
administrator's call).

Times in the API are ISO 8601 with a zone (``2026-03-01T08:00:00Z``); a day of the
month calendar is in the recorder's time zone (``system.timezone``).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from nvrd.config import Holiday, Schedule
from nvrd.config.fields import Name32
from nvrd.config.schedules import ALWAYS_SCHEDULE_NAME
from nvrd.config.schema import MAX_CHANNELS
from nvrd.record.segmenter import SegmenterStatus
from nvrd.storage.model import RecordType
from nvrd.web.api.errors import ApiError, NotFound
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import audit, change_config, daemon, toml_value, unavailable

routes = ApiRegistry(tags=("recording",))

MAX_TIMELINE_DAYS = 31
"""A timeline query covers at most this long (a month view)."""
Stream = Literal["main", "sub"]
TypeName = Literal["general", "motion", "alarm", "intelligent", "manual"]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class SchedulesBody(BaseModel):
    """Every named schedule ("always" is built in and is not listed)."""

    model_config = ConfigDict(extra="forbid")

    schedules: list[Schedule]


class ScheduleName(BaseModel):
    name: Name32


class HolidaysBody(BaseModel):
    """The days on which schedules use their ``holiday`` periods."""

    model_config = ConfigDict(extra="forbid")

    holidays: list[Holiday]


class ChannelPath(BaseModel):
    channel: Annotated[int, Field(ge=1, le=MAX_CHANNELS)]


class ChannelRecordingOut(BaseModel):
    channel: int
    mode: str
    types: list[str]
    """What the channel records now (none: nothing)."""
    events: list[str]
    """Events keeping it recording (running, or in their post-record tail)."""
    streams: dict[str, SegmenterStatus]


class TimelineQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    stream: Stream = "main"
    types: list[TypeName] = []
    """Only spans recorded for one of these reasons; none given: all."""

    @model_validator(mode="after")
    def _a_forward_range(self) -> TimelineQuery:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > dt.timedelta(days=MAX_TIMELINE_DAYS):
            raise ValueError(f"a timeline covers at most {MAX_TIMELINE_DAYS} days")
        return self


class Span(BaseModel):
    start: dt.datetime
    end: dt.datetime
    types: list[str]


class Timeline(BaseModel):
    channel: int
    stream: str
    start: dt.datetime
    end: dt.datetime
    spans: list[Span]
    """What is recorded, oldest first; what lies between two spans is a gap."""


class DaysQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: Annotated[int, Field(ge=1970, le=9999)]
    month: Annotated[int, Field(ge=1, le=12)]
    stream: Stream = "main"


class DaysOut(BaseModel):
    channel: int
    year: int
    month: int
    timezone: str
    days: list[int]
    """Days of the month (in the recorder's time zone) with at least one recording."""


class LockBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    locked: bool = True
    """True: keep these recordings whatever retention says; false: release them."""
    stream: Stream | None = None
    """Only this stream; none given: both."""

    @model_validator(mode="after")
    def _a_forward_range(self) -> LockBody:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class LockOut(BaseModel):
    segments: int
    """How many recorded segments were locked (or unlocked)."""


# --- helpers ----------------------------------------------------------------------------

def to_us(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def from_us(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


def type_names(flags: int) -> list[str]:
    return [t.name.lower() for t in RecordType if t.name and flags & t]


def type_mask(names: list[TypeName]) -> int:
    if not names:
        return int(sum(RecordType))
    return int(sum(RecordType[name.upper()] for name in set(names)))


def _schedules_table(schedules: list[Schedule]) -> list[dict[str, Any]]:
    return [toml_value(s.model_dump()) for s in schedules]


# --- schedules and holidays -------------------------------------------------------------

@routes.get("/api/v1/recording/schedules", response=SchedulesBody, right="camera")
async def get_schedules(ctx: RequestContext) -> SchedulesBody:
    """The named weekly schedules cameras record by ("always" is built in)."""
    return SchedulesBody(schedules=list(daemon(ctx).config.recording.schedules))


@routes.put("/api/v1/recording/schedules", body=SchedulesBody, response=SchedulesBody,
            right="camera")
async def put_schedules(ctx: RequestContext[SchedulesBody]) -> SchedulesBody:
    """Replace every named schedule (422 if a camera uses one that would be gone)."""
    schedules = _schedules_table(ctx.body.schedules)

    def replace(table: dict[str, Any]) -> None:
        table.setdefault("recording", {})["schedules"] = schedules

    config = await change_config(ctx, replace, "recording schedules changed")
    return SchedulesBody(schedules=list(config.recording.schedules))


@routes.get("/api/v1/recording/schedules/{name}", path_model=ScheduleName,
            response=Schedule, right="camera")
async def get_schedule(ctx: RequestContext[None, None, ScheduleName]) -> Schedule:
    """One schedule by name ("always" included)."""
    schedule = daemon(ctx).config.recording.schedule(ctx.path.name)
    if schedule is None:
        raise NotFound(f"there is no schedule named {ctx.path.name!r}")
    return schedule


@routes.put("/api/v1/recording/schedules/{name}", path_model=ScheduleName, body=Schedule,
            response=Schedule, right="camera")
async def put_schedule(ctx: RequestContext[Schedule, None, ScheduleName]) -> Schedule:
    """Create or replace one schedule (its name in the body is the path's)."""
    name = ctx.path.name
    if ctx.body.name != name:
        raise ApiError(422, "validation_failed", f"body.name: must be the name in the path "
                       f"({name!r}) (got {ctx.body.name!r})")
    if name == ALWAYS_SCHEDULE_NAME:
        raise ApiError(422, "validation_failed",
                       f"{ALWAYS_SCHEDULE_NAME!r} is built in and cannot be redefined")
    entry = toml_value(ctx.body.model_dump())

    def put(table: dict[str, Any]) -> None:
        schedules = table.setdefault("recording", {}).setdefault("schedules", [])
        index = next((i for i, s in enumerate(schedules) if s.get("name") == name), None)
        if index is None:
            schedules.append(entry)
        else:
            schedules[index] = entry

    config = await change_config(ctx, put, f"recording schedule {name!r} changed")
    schedule = config.recording.schedule(name)
    assert schedule is not None
    return schedule


@routes.delete("/api/v1/recording/schedules/{name}", path_model=ScheduleName,
               right="camera")
async def delete_schedule(ctx: RequestContext[None, None, ScheduleName]) -> None:
    """Delete a schedule (422 while a camera uses it)."""
    name = ctx.path.name
    if name == ALWAYS_SCHEDULE_NAME or daemon(ctx).config.recording.schedule(name) is None:
        raise NotFound(f"there is no schedule named {name!r} that can be deleted")

    def delete(table: dict[str, Any]) -> None:
        recording = table.setdefault("recording", {})
        recording["schedules"] = [s for s in recording.get("schedules", [])
                                  if s.get("name") != name]

    await change_config(ctx, delete, f"recording schedule {name!r} deleted")


@routes.get("/api/v1/recording/holidays", response=HolidaysBody, right="camera")
async def get_holidays(ctx: RequestContext) -> HolidaysBody:
    """The holidays (schedules use their ``holiday`` periods on these days)."""
    return HolidaysBody(holidays=list(daemon(ctx).config.recording.holidays))


@routes.put("/api/v1/recording/holidays", body=HolidaysBody, response=HolidaysBody,
            right="camera")
async def put_holidays(ctx: RequestContext[HolidaysBody]) -> HolidaysBody:
    """Replace the holidays."""
    holidays = [toml_value(h.model_dump()) for h in ctx.body.holidays]

    def replace(table: dict[str, Any]) -> None:
        table.setdefault("recording", {})["holidays"] = holidays

    config = await change_config(ctx, replace, "recording holidays changed")
    return HolidaysBody(holidays=list(config.recording.holidays))


@routes.get("/api/v1/recording/status", response=list[ChannelRecordingOut], right="camera")
async def recording_status(ctx: RequestContext) -> list[ChannelRecordingOut]:
    """What each channel records now, why, and how its writers are doing."""
    recorder = daemon(ctx).recorder
    if recorder is None:
        raise unavailable("the recorder", code="service_unavailable")
    return [ChannelRecordingOut(channel=c.channel, mode=c.mode, types=type_names(c.types),
                                events=list(c.events), streams=dict(c.streams))
            for c in recorder.snapshot()]


# --- timeline ---------------------------------------------------------------------------

def _storage(ctx: RequestContext[Any, Any, Any]) -> Any:
    storage = daemon(ctx).storage
    if storage is None:
        raise unavailable("storage", code="service_unavailable")
    return storage


@routes.get("/api/v1/channels/{channel:\\d+}/timeline", path_model=ChannelPath,
            query=TimelineQuery, response=Timeline, channel_right=("playback", "channel"))
async def timeline(ctx: RequestContext[None, TimelineQuery, ChannelPath]) -> Timeline:
    """What is recorded on a channel between two instants (at most 31 days), merged
    across disks; gaps are what lies between spans."""
    query, channel = ctx.query, ctx.path.channel
    start_us, end_us = to_us(query.start), to_us(query.end)
    intervals = await _storage(ctx).intervals(channel, query.stream, start_us, end_us,
                                              type_mask(query.types))
    return Timeline(channel=channel, stream=query.stream, start=from_us(start_us),
                    end=from_us(end_us),
                    spans=[Span(start=from_us(i.start_us), end=from_us(i.end_us),
                                types=type_names(i.types)) for i in intervals])


@routes.get("/api/v1/channels/{channel:\\d+}/days", path_model=ChannelPath, query=DaysQuery,
            response=DaysOut, channel_right=("playback", "channel"))
async def recorded_days(ctx: RequestContext[None, DaysQuery, ChannelPath]) -> DaysOut:
    """The days of a month with recordings on a channel (the playback calendar)."""
    zone = daemon(ctx).config.system.timezone
    days = await _storage(ctx).days_with_recordings(
        ctx.path.channel, ctx.query.stream, ctx.query.year, ctx.query.month,
        zoneinfo.ZoneInfo(zone))
    return DaysOut(channel=ctx.path.channel, year=ctx.query.year, month=ctx.query.month,
                   timezone=zone, days=days)


@routes.post("/api/v1/channels/{channel:\\d+}/locks", path_model=ChannelPath, body=LockBody,
             response=LockOut, channel_right=("playback", "channel"), right="storage")
async def lock_range(ctx: RequestContext[LockBody, None, ChannelPath]) -> LockOut:
    """Lock (keep past retention and overwriting) or unlock a channel's recordings in a
    range.

    Needs the playback right on the channel and the storage right.
    """
    body, channel = ctx.body, ctx.path.channel
    count = await _storage(ctx).set_locked(channel, body.stream, to_us(body.start),
                                           to_us(body.end), body.locked)
    done = "locked" if body.locked else "unlocked"
    audit(ctx, "storage", f"channel {channel} recordings {done}",
          details=f"{body.start.isoformat()} to {body.end.isoformat()}, "
                  f"{body.stream or 'all streams'}: {count} segment(s)")
    return LockOut(segments=count)

