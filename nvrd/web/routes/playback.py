"""Playback and export: any recorded range of a channel as one MP4 file, made on the fly.

* ``GET /api/v1/channels/{channel}/recordings`` — the playback plan of a range: first and
  last frame, recorded pieces, gaps, the size of the file and its ``url``, whose ``end``
  is pinned to the last frame recorded now (so a browser fetching it by ranges at the
  live edge always sees the same file);
* ``GET /api/v1/channels/{channel}/recordings.mp4`` — the file itself, inline, with HTTP
  Range (a ``<video src>`` plays it and seeks by ranges); channel right ``playback``;
* ``GET /api/v1/channels/{channel}/export.mp4`` — the same file as a download (right
  ``export``), audited;
* ``GET /api/v1/export.zip?channel=1&channel=2...`` — several channels in one zip (right
  ``export`` on each), channels without footage named in ``missing.txt``.

How the file is made (``nvrd/playback/``, ``docs/design/playback.md``): a ``moov``
computed from the segment files' fragment headers, then their sample data, read straight
from the files; nothing is decoded, nothing is written to disk.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from nvrd.config.schema import MAX_CHANNELS
from nvrd.playback.http import BodyResponse, RangeNotSatisfiable, serve
from nvrd.playback.plan import NothingToPlay, Playback, make_playback
from nvrd.playback.zipstream import ZipEntry, ZipStream
from nvrd.storage.service import StorageService
from nvrd.web.api.auth import AUTHENTICATOR_KEY
from nvrd.web.api.errors import ApiError, Forbidden, NotFound
from nvrd.web.api.registry import ApiRegistry, RequestContext, on_server_closing
from nvrd.web.routes.common import audit, daemon, unavailable
from nvrd.web.routes.recording import ChannelPath, Stream, from_us, to_us, type_names

routes = ApiRegistry(tags=("playback",))

MAX_RANGE = dt.timedelta(hours=24)
"""The longest range one file covers (about 2 million frames at 25 fps)."""
MAX_ZIP_CHANNELS = 16
BUILD_TIMEOUT_S = 120.0
"""Building a 24 h file reads some 90 000 fragment headers per channel."""
MP4 = "video/mp4"
ZIP = "application/zip"
GapMode = Literal["keep", "skip"]


def _check_range(start: dt.datetime, end: dt.datetime) -> None:
    if end <= start:
        raise ValueError("end must be after start")
    if end - start > MAX_RANGE:
        raise ValueError("a recording range covers at most 24 hours; ask for it in "
                         "several pieces")


class RangeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    stream: Stream = "main"

    @model_validator(mode="after")
    def _a_forward_range(self) -> RangeQuery:
        _check_range(self.start, self.end)
        return self


class Mp4Query(RangeQuery):
    keyframes: bool = False
    """Only key frames, each shown until the next (scrubbing, fast forward); no audio."""
    gaps: GapMode = "keep"
    """keep: the file's time is wall time (a camera outage is a jump); skip: closed up."""


class ZipQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Annotated[list[Annotated[int, Field(ge=1, le=MAX_CHANNELS)]],
                       Field(min_length=1, max_length=MAX_ZIP_CHANNELS)]
    start: AwareDatetime
    end: AwareDatetime
    stream: Stream = "main"
    gaps: GapMode = "keep"

    @model_validator(mode="after")
    def _a_forward_range(self) -> ZipQuery:
        _check_range(self.start, self.end)
        return self


class PieceOut(BaseModel):
    start: dt.datetime
    end: dt.datetime
    types: list[str]


class GapOut(BaseModel):
    start: dt.datetime
    """Where footage stops (the end of the last frame before the gap)."""
    end: dt.datetime
    """Where footage resumes."""
    at_seconds: float
    """Where the gap falls in the file, in seconds from its first frame."""


class PartOut(BaseModel):
    """One file: a range whose format (codec parameters, resolution) does not change."""

    first_frame: dt.datetime
    """The key frame at or before the range start (decode time)."""
    last_frame: dt.datetime
    duration_seconds: float
    bytes: int
    url: str
    continues_at: dt.datetime | None
    """The range goes on in the next part from here (the camera's format changed)."""


class PlaybackPlan(BaseModel):
    channel: int
    stream: str
    start: dt.datetime
    end: dt.datetime
    first_frame: dt.datetime
    last_frame: dt.datetime
    pieces: list[PieceOut]
    """What is recorded in the range, oldest first."""
    gaps: list[GapOut]
    """Where footage is missing inside the file(s)."""
    bytes: int
    """Size of the first (usually the only) file."""
    duration_seconds: float
    url: str
    """The first file, its end pinned to the last frame recorded now."""
    parts: list[PartOut]


# --- helpers ------------------------------------------------------------------------------

def _storage(ctx: RequestContext[Any, Any, Any]) -> StorageService:
    storage = daemon(ctx).storage
    if storage is None:
        raise unavailable("storage", code="service_unavailable")
    return storage


async def _playbacks(ctx: RequestContext[Any, Any, Any], channel: int, stream: str,
                     start: dt.datetime, end: dt.datetime, *, keyframes: bool = False,
                     gaps: GapMode = "keep") -> list[Playback]:
    start_us, end_us = to_us(start), to_us(end)
    segments = await _storage(ctx).recorded_segments(channel, stream, start_us, end_us)
    try:
        return await make_playback(segments, start_us, end_us, keyframes=keyframes,
                                   gaps=gaps)
    except NothingToPlay:
        raise NotFound(f"nothing is recorded on channel {channel} ({stream} stream) between "
                       f"{_iso(start_us)} and {_iso(end_us)}") from None


def _iso(us: int) -> str:
    return from_us(us).isoformat().replace("+00:00", "Z")


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def file_name(channel: int, stream: str, start: dt.datetime, end: dt.datetime) -> str:
    """``ch01-main_20261122T101500Z_20261122T102500Z.mp4``: channel, stream, UTC range."""
    return f"ch{channel:02d}-{stream}_{_stamp(start)}_{_stamp(end)}.mp4"


def _mp4_url(channel: int, stream: str, start_us: int, end_us: int, keyframes: bool,
             gaps: GapMode) -> str:
    query: dict[str, str] = {"start": _iso(start_us), "end": _iso(end_us), "stream": stream}
    if keyframes:
        query["keyframes"] = "true"
    if gaps != "keep":
        query["gaps"] = gaps
    return f"/api/v1/channels/{channel}/recordings.mp4?{urlencode(query)}"


def _serve(ctx: RequestContext[Any, Any, Any], playback: Playback, disposition: str
           ) -> web.StreamResponse:
    request = ctx.request
    try:
        return serve(request, playback.file, content_type=MP4, disposition=disposition,
                     on_closing=lambda callback: on_server_closing(request, callback))
    except RangeNotSatisfiable as exc:
        raise ApiError(416, "range_not_satisfiable",
                       f"the range asked for lies outside the file: {exc}",
                       headers={"Content-Range": exc.content_range}) from None


# --- routes -------------------------------------------------------------------------------

@routes.get("/api/v1/channels/{channel:\\d+}/recordings", path_model=ChannelPath,
            query=Mp4Query, response=PlaybackPlan, channel_right=("playback", "channel"),
            timeout_s=BUILD_TIMEOUT_S)
async def playback_plan(ctx: RequestContext[None, Mp4Query, ChannelPath]) -> PlaybackPlan:
    """What playing a range would show: first and last frame, recorded pieces, gaps, and
    the URL of the MP4 file (end pinned to what is recorded now)."""
    q, channel = ctx.query, ctx.path.channel
    files = await _playbacks(ctx, channel, q.stream, q.start, q.end, keyframes=q.keyframes,
                             gaps=q.gaps)
    intervals = await _storage(ctx).intervals(channel, q.stream, to_us(q.start), to_us(q.end))
    parts = []
    for playback in files:
        c = playback.composition
        # half a frame past the last one: clear of µs rounding either way
        pinned = min(playback.end_us,
                     max(c.last_frame_us + 1, (c.last_frame_us + c.end_us) // 2))
        parts.append(PartOut(
            first_frame=from_us(c.first_frame_us), last_frame=from_us(c.last_frame_us),
            duration_seconds=c.duration_us / 1e6, bytes=playback.file.size,
            url=_mp4_url(channel, q.stream, playback.start_us, pinned, q.keyframes, q.gaps),
            continues_at=(from_us(playback.continues_at_us)
                          if playback.continues_at_us is not None else None)))
    first = files[0].composition
    return PlaybackPlan(
        channel=channel, stream=q.stream, start=q.start, end=q.end,
        first_frame=from_us(first.first_frame_us),
        last_frame=from_us(files[-1].composition.last_frame_us),
        pieces=[PieceOut(start=from_us(i.start_us), end=from_us(i.end_us),
                         types=type_names(i.types)) for i in intervals],
        gaps=[GapOut(start=from_us(g.start_us), end=from_us(g.end_us),
                     at_seconds=g.at_us / 1e6)
              for p in files for g in p.composition.gaps],
        bytes=parts[0].bytes, duration_seconds=parts[0].duration_seconds, url=parts[0].url,
        parts=parts)


@routes.get("/api/v1/channels/{channel:\\d+}/recordings.mp4", path_model=ChannelPath,
            query=Mp4Query, response=bytes, media_type=MP4, other_statuses=(206,),
            channel_right=("playback", "channel"), timeout_s=BUILD_TIMEOUT_S)
async def recording_mp4(ctx: RequestContext[None, Mp4Query, ChannelPath]
                        ) -> web.StreamResponse:
    """A recorded range as one MP4 file (faststart, byte ranges), for ``<video src>``.

    Starts at the key frame at or before ``start``; holds the frames that start before
    ``end``. Where the camera's format changed in the range, the file stops there (the
    playback plan lists the next part)."""
    q, channel = ctx.query, ctx.path.channel
    files = await _playbacks(ctx, channel, q.stream, q.start, q.end, keyframes=q.keyframes,
                             gaps=q.gaps)
    name = file_name(channel, q.stream, q.start, q.end)
    return _serve(ctx, files[0], f'inline; filename="{name}"')


@routes.get("/api/v1/channels/{channel:\\d+}/export.mp4", path_model=ChannelPath,
            query=Mp4Query, response=bytes, media_type=MP4, other_statuses=(206,),
            channel_right=("export", "channel"), timeout_s=BUILD_TIMEOUT_S)
async def export_mp4(ctx: RequestContext[None, Mp4Query, ChannelPath]) -> web.StreamResponse:
    """A recorded range as an MP4 download (stream copy, faststart), named after channel,
    stream and range.

    Audited once per download (a request without a Range, or one from byte 0)."""
    q, channel = ctx.query, ctx.path.channel
    files = await _playbacks(ctx, channel, q.stream, q.start, q.end, keyframes=q.keyframes,
                             gaps=q.gaps)
    name = file_name(channel, q.stream, q.start, q.end)
    response = _serve(ctx, files[0], f'attachment; filename="{name}"')
    from_the_start = (response.status == 200
                      or response.headers.get("Content-Range", "").startswith("bytes 0-"))
    if ctx.request.method == "GET" and from_the_start:
        audit(ctx, "playback", f"channel {channel} exported",
              details=f"{q.stream} stream, {q.start.isoformat()} to {q.end.isoformat()}, "
                      f"{files[0].file.size} bytes")
    return response


@routes.get("/api/v1/export.zip", query=ZipQuery, response=bytes, media_type=ZIP,
            timeout_s=BUILD_TIMEOUT_S)
async def export_zip(ctx: RequestContext[None, ZipQuery, None]) -> web.StreamResponse:
    """Several channels' recordings of one range as MP4 files in one zip, streamed.

    Needs the ``export`` right on every channel asked; channels with nothing recorded are
    listed in ``missing.txt`` inside the zip."""
    q = ctx.query
    channels = list(dict.fromkeys(q.channel))
    authenticator = ctx.app[AUTHENTICATOR_KEY]
    for channel in channels:
        if ctx.principal is None or not authenticator.authorize(ctx.principal, "export",
                                                                channel):
            raise Forbidden(f"this needs the 'export' right on channel {channel}, which "
                            "your account does not have")
    entries: list[ZipEntry] = []
    missing: list[str] = []
    stamp = q.start.astimezone(dt.UTC)
    modified = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    for channel in channels:
        try:
            files = await _playbacks(ctx, channel, q.stream, q.start, q.end, gaps=q.gaps)
        except NotFound as exc:
            missing.append(f"channel {channel}: {exc.message}")
            continue
        entries.append(ZipEntry(file_name(channel, q.stream, q.start, q.end),
                                files[0].file, modified))
    if not entries:
        raise NotFound(f"nothing is recorded on channels {', '.join(map(str, channels))} "
                       f"({q.stream} stream) between {q.start.isoformat()} and "
                       f"{q.end.isoformat()}")
    if missing:
        entries.append(ZipEntry("missing.txt", ("\n".join(missing) + "\n").encode(),
                                modified))
    archive = ZipStream(entries)
    name = f"export-{q.stream}_{_stamp(q.start)}_{_stamp(q.end)}.zip"
    audit(ctx, "playback", f"channels {', '.join(map(str, channels))} exported",
          details=f"{q.stream} stream, {q.start.isoformat()} to {q.end.isoformat()}, "
                  f"{archive.size} bytes, zip" + (f", {len(missing)} without footage"
                                                  if missing else ""))
    request = ctx.request
    return BodyResponse(archive.read, archive.size, 200,
                        {"Content-Type": ZIP,
                         "Content-Disposition": f'attachment; filename="{name}"'},
                        lambda callback: on_server_closing(request, callback))
