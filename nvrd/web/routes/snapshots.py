"""Snapshots: take a JPEG of a channel now, find stored ones by channel and time, fetch one.

Rights: taking one needs the channel's ``live`` right (it shows what the camera sees now,
as live view does). Finding and fetching need the channel's ``playback`` right (stored
pictures are that channel's history); a search without a channel returns only the
channels the asker may play back, and a search or fetch of a channel without it is a 403.

Paging: newest first; ``next_to_us`` is the ``to_us`` of the next (older) page. Times
are UTC microseconds, unique among snapshots (see nvrd/snapshots/store.py), so pages
neither overlap nor skip.

Errors of a snapshot: no camera on the channel 404; the camera disabled, offline, without
a key frame in time, or sending a picture that does not decode 409 (the request is right,
the camera's state is not: the message says what to check); not saved 507.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nvrd.config.schema import MAX_CHANNELS
from nvrd.snapshots import SnapshotError, SnapshotRecord, SnapshotService
from nvrd.web.api.auth import AUTHENTICATOR_KEY
from nvrd.web.api.errors import ApiError, Conflict, Forbidden, NotFound
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import Context, audit, daemon, unavailable

routes = ApiRegistry(tags=("snapshots",))

VIEW_RIGHT = "playback"
TAKE_RIGHT = "live"
MAX_PAGE = 1000
MAX_US = 2**62
JPEG = "image/jpeg"
TAKE_TIMEOUT_S = 45.0
"""Above the longest key-frame wait (``snapshots.timeout_seconds`` ≤ 30) plus a picture."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Channel = Annotated[int, Field(ge=1, le=MAX_CHANNELS)]


class SnapshotQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel | None = None
    """Default: every channel the caller may play back."""
    from_us: Annotated[int, Field(ge=0, le=MAX_US)] = 0
    """UTC microseconds, inclusive."""
    to_us: Annotated[int, Field(ge=0, le=MAX_US)] = MAX_US
    """UTC microseconds, exclusive."""
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 100

    @model_validator(mode="after")
    def _ordered(self) -> SnapshotQuery:
        if self.to_us < self.from_us:
            raise ValueError("to_us must not be before from_us")
        return self


class SnapshotPath(BaseModel):
    id: Annotated[int, Field(ge=1, le=MAX_US)]


class ChannelPath(BaseModel):
    channel: Channel


class SnapshotOut(BaseModel):
    id: int
    channel: int
    time: dt.datetime
    time_us: int
    """UTC microseconds: when the key frame arrived."""
    reason: str
    """event | manual"""
    event_id: int | None
    """The event (``GET /api/v1/events``) whose linkage took it."""
    size_bytes: int
    width: int
    height: int
    url: str
    """Where the JPEG is (``GET``)."""


class SnapshotPage(BaseModel):
    snapshots: list[SnapshotOut]
    next_to_us: int | None
    """Pass as ``to_us`` for the next (older) page; None: this was the last."""


def _service(ctx: Context) -> SnapshotService:
    service = daemon(ctx).snapshots
    if service is None:
        raise unavailable("the snapshot service", code="service_unavailable")
    return service


def _out(record: SnapshotRecord) -> SnapshotOut:
    return SnapshotOut(id=record.id, channel=record.channel,
                       time=_EPOCH + dt.timedelta(microseconds=record.time_us),
                       time_us=record.time_us, reason=record.reason, event_id=record.event_id,
                       size_bytes=record.size_bytes, width=record.width, height=record.height,
                       url=f"/api/v1/snapshots/{record.id}")


def _may_view(ctx: Context, channel: int) -> bool:
    return ctx.app[AUTHENTICATOR_KEY].authorize(ctx.principal, VIEW_RIGHT, channel)


def _refuse(channel: int) -> Forbidden:
    return Forbidden(f"this needs the '{VIEW_RIGHT}' right on channel {channel}, "
                     "which your account does not have")


def _store_unreadable(exc: Exception) -> ApiError:
    return unavailable("the snapshot index", str(exc), code="service_unavailable")


@routes.get("/api/v1/snapshots", query=SnapshotQuery, response=SnapshotPage)
async def find_snapshots(ctx: RequestContext[None, SnapshotQuery]) -> SnapshotPage:
    """Stored snapshots by channel and time, newest first, paged."""
    q = ctx.query
    service = _service(ctx)
    if q.channel is not None and not _may_view(ctx, q.channel):
        raise _refuse(q.channel)
    try:
        visible = None
        if q.channel is None:
            known = set(await asyncio.to_thread(service.channels))
            known |= {camera.channel for camera in daemon(ctx).config.cameras}
            visible = [c for c in sorted(known) if _may_view(ctx, c)]
        records = await asyncio.to_thread(service.find, q.channel, q.from_us, q.to_us,
                                          q.limit, channels=visible)
    except sqlite3.Error as exc:
        raise _store_unreadable(exc) from None
    return SnapshotPage(snapshots=[_out(r) for r in records],
                        next_to_us=records[-1].time_us if len(records) == q.limit else None)


@routes.get("/api/v1/snapshots/{id:\\d+}", path_model=SnapshotPath, response=bytes,
            media_type=JPEG)
async def get_snapshot(ctx: RequestContext[None, None, SnapshotPath]) -> web.Response:
    """A stored snapshot's JPEG (the channel's ``playback`` right)."""
    service = _service(ctx)
    try:
        found = await asyncio.to_thread(service.path_of, ctx.path.id)
    except sqlite3.Error as exc:
        raise _store_unreadable(exc) from None
    if found is None:
        raise NotFound(f"there is no snapshot {ctx.path.id} (deleted to make room, or never "
                       "taken)")
    record, path = found
    if not _may_view(ctx, record.channel):
        raise _refuse(record.channel)
    try:
        jpeg = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise NotFound(f"snapshot {record.id} was deleted to make room") from None
    stamp = (_EPOCH + dt.timedelta(microseconds=record.time_us)).strftime("%Y%m%dT%H%M%SZ")
    return web.Response(body=jpeg, headers={
        "Content-Type": JPEG,
        "Content-Disposition": f'inline; filename="ch{record.channel}-{stamp}.jpg"',
        # a snapshot never changes; it is private to those with the right
        "Cache-Control": "private, max-age=86400, immutable"})


@routes.post("/api/v1/channels/{channel:\\d+}/snapshot", path_model=ChannelPath,
             response=SnapshotOut, status=201, channel_right=(TAKE_RIGHT, "channel"),
             timeout_s=TAKE_TIMEOUT_S)
async def take_snapshot(ctx: RequestContext[None, None, ChannelPath]) -> SnapshotOut:
    """Take a snapshot of the channel now: the camera's next key frame, stored as a JPEG.

    Waits for that key frame (at most ``snapshots.timeout_seconds``)."""
    channel = ctx.path.channel
    try:
        record = await _service(ctx).take(channel, reason="manual")
    except SnapshotError as exc:
        audit(ctx, "camera", f"channel {channel} snapshot", result="failed",
              details=exc.problem)
        if exc.code == "no_camera":
            raise NotFound(str(exc)) from None
        if exc.code == "storage":
            raise ApiError(507, "snapshot_not_saved", str(exc)) from None
        if exc.code == "not_running":
            raise unavailable("the snapshot service", code="service_unavailable") from None
        raise Conflict(str(exc), code=f"camera_{exc.code}") from None
    audit(ctx, "camera", f"channel {channel} snapshot", details=f"snapshot {record.id}")
    return _out(record)
