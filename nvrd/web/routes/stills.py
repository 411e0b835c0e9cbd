"""Pictures of a channel, now or at a past instant, and the timeline's thumbnails.

``GET /api/v1/channels/{channel}/picture`` answers a JPEG. Without ``at`` it is the
camera's next key frame (the channel's ``live`` right: it shows what the camera sees
now, as live view does; nothing is stored, unlike ``POST .../snapshot``); with ``at``
it is the recorded key frame at or before that instant (the ``playback`` right). One
route can declare one channel right, so the handler checks whichever applies, after
validating the query (a 403 then names the right the request needed).

``X-Nvrd-Picture-Time`` says which instant the picture shows (a key frame is up to a
GOP before ``at``; "now" is when the key frame arrived), ``X-Nvrd-Picture-Stream`` which
stream it came from. A past picture never changes, so the browser may keep it
(``Cache-Control: private``: it is for this user's eyes); a picture of now is not kept.

``GET /api/v1/channels/{channel}/thumbnails`` lists, for a range, up to ``count``
instants with footage, evenly spaced on the time axis, and the picture URL of each: the
browser fetches them lazily as they scroll into view. A slot of the range that holds no
footage gets no thumbnail (gaps are skipped); a slot only partly covered gets the first
recorded instant in it.

Errors: nothing recorded there 404 ``no_footage`` (with the distance to the nearest
footage); the camera missing 404, disabled, offline or without a key frame in time 409
(as the snapshot route); a recording that cannot be read or decoded 409
``picture_unavailable``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from urllib.parse import urlencode

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from nvrd.playback.stills import NoFootage, Still, StillError, StillService
from nvrd.snapshots import SnapshotError, SnapshotService
from nvrd.snapshots.service import LivePicture
from nvrd.storage.catalog import Interval
from nvrd.web.api.auth import AUTHENTICATOR_KEY
from nvrd.web.api.errors import ApiError, Conflict, Forbidden, NotFound
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import Context, daemon, unavailable
from nvrd.web.routes.recording import MAX_TIMELINE_DAYS, ChannelPath, from_us, to_us

routes = ApiRegistry(tags=("stills",))

JPEG = "image/jpeg"
MAX_THUMBNAILS = 200
MAX_WIDTH = 7680
PICTURE_TIMEOUT_S = 45.0
"""Above the longest key-frame wait (``snapshots.timeout_seconds`` ≤ 30) plus a picture."""
PAST_MAX_AGE_S = 3600
TIME_HEADER = "X-Nvrd-Picture-Time"
STREAM_HEADER = "X-Nvrd-Picture-Stream"

Stream = Literal["main", "sub"]
Width = Annotated[int, Field(ge=16, le=MAX_WIDTH)]


class PictureQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = None
    """A past instant (ISO 8601 with a zone); none: now."""
    width: Width | None = None
    """Scale down to this width (even), keeping the aspect; none: the stream's size. A
    picture is never scaled up."""
    stream: Stream | None = None
    """Now: default the sub stream when it is online, else the main one. Past: default
    main."""


class ThumbnailsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    count: Annotated[int, Field(ge=1, le=MAX_THUMBNAILS)] = 50
    width: Width = 160
    stream: Stream = "sub"

    @model_validator(mode="after")
    def _a_forward_range(self) -> ThumbnailsQuery:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > dt.timedelta(days=MAX_TIMELINE_DAYS):
            raise ValueError(f"thumbnails cover at most {MAX_TIMELINE_DAYS} days")
        return self


class Thumbnail(BaseModel):
    at: dt.datetime
    url: str
    """The picture route for this instant (``GET``, JPEG)."""


# --- helpers ----------------------------------------------------------------------------

def _stills(ctx: Context) -> StillService:
    service = daemon(ctx).stills
    if service is None:
        raise unavailable("recorded pictures", code="service_unavailable")
    return service


def _snapshots(ctx: Context) -> SnapshotService:
    service = daemon(ctx).snapshots
    if service is None:
        raise unavailable("the snapshot service", code="service_unavailable")
    return service


def _require(ctx: Context, right: str, channel: int) -> None:
    if not ctx.app[AUTHENTICATOR_KEY].authorize(ctx.principal, right, channel):
        raise Forbidden(f"this needs the '{right}' right on channel {channel}, which your "
                        "account does not have")


def picture_url(channel: int, at_us: int, width: int, stream: str) -> str:
    """The picture route for a recorded instant."""
    query = urlencode({"at": from_us(at_us).isoformat(), "width": width, "stream": stream})
    return f"/api/v1/channels/{channel}/picture?{query}"


def thumbnail_instants(spans: list[Interval], start_us: int, end_us: int, count: int
                       ) -> list[int]:
    """Up to ``count`` instants with footage, one per equal slot of ``[start_us,
    end_us)``: the slot's middle when recorded, else the first recorded instant of the
    slot; slots without footage are skipped. ``spans`` sorted and disjoint."""
    instants: list[int] = []
    step = (end_us - start_us) / count
    index = 0
    for slot in range(count):
        slot_start = start_us + round(slot * step)
        slot_end = start_us + round((slot + 1) * step)
        middle = (slot_start + slot_end) // 2
        while index < len(spans) and spans[index].end_us <= slot_start:
            index += 1
        for span in spans[index:]:
            if span.start_us >= slot_end:
                break
            covers_middle = span.start_us <= middle < span.end_us
            instants.append(middle if covers_middle else max(span.start_us, slot_start))
            break
    return instants


def _jpeg_response(jpeg: bytes, *, channel: int, time_us: int, stream: str,
                   cache: str) -> web.Response:
    stamp = from_us(time_us).strftime("%Y%m%dT%H%M%S.%fZ")
    return web.Response(body=jpeg, headers={
        "Content-Type": JPEG,
        "Content-Disposition": f'inline; filename="ch{channel}-{stream}-{stamp}.jpg"',
        TIME_HEADER: from_us(time_us).isoformat(),
        STREAM_HEADER: stream,
        "Cache-Control": cache})


async def _picture_now(ctx: Context, channel: int, query: PictureQuery) -> LivePicture:
    try:
        return await _snapshots(ctx).picture(channel, stream=query.stream,
                                             width=query.width)
    except SnapshotError as exc:
        if exc.code == "no_camera":
            raise NotFound(str(exc)) from None
        if exc.code in ("not_running", "storage"):
            raise unavailable("pictures of this channel", exc.problem,
                              code="service_unavailable") from None
        raise Conflict(str(exc), code=f"camera_{exc.code}") from None


async def _picture_at(ctx: Context, channel: int, query: PictureQuery,
                      at: dt.datetime) -> Still:
    try:
        return await _stills(ctx).at(channel, query.stream or "main", to_us(at),
                                     query.width)
    except NoFootage as exc:
        raise ApiError(404, "no_footage", str(exc)) from None
    except StillError as exc:
        raise Conflict(f"channel {channel}: no picture: {exc}",
                       code="picture_unavailable") from None


# --- routes -----------------------------------------------------------------------------

@routes.get("/api/v1/channels/{channel:\\d+}/picture", path_model=ChannelPath,
            query=PictureQuery, response=bytes, media_type=JPEG,
            timeout_s=PICTURE_TIMEOUT_S)
async def get_picture(ctx: RequestContext[None, PictureQuery, ChannelPath]) -> web.Response:
    """A JPEG of the channel now (the ``live`` right) or at a past instant (``at``: the
    ``playback`` right), optionally scaled down.

    Past: the recorded key frame at or before ``at``; 404 ``no_footage`` when nothing is
    recorded there. ``X-Nvrd-Picture-Time`` is the instant the picture shows."""
    channel, query = ctx.path.channel, ctx.query
    if query.at is None:
        _require(ctx, "live", channel)
        live = await _picture_now(ctx, channel, query)
        return _jpeg_response(live.picture.jpeg, channel=channel, time_us=live.time_us,
                              stream=live.stream, cache="no-store")
    _require(ctx, "playback", channel)
    still = await _picture_at(ctx, channel, query, query.at)
    return _jpeg_response(still.jpeg, channel=channel, time_us=still.time_us,
                          stream=query.stream or "main",
                          cache=f"private, max-age={PAST_MAX_AGE_S}")


@routes.get("/api/v1/channels/{channel:\\d+}/thumbnails", path_model=ChannelPath,
            query=ThumbnailsQuery, response=list[Thumbnail],
            channel_right=("playback", "channel"))
async def get_thumbnails(ctx: RequestContext[None, ThumbnailsQuery, ChannelPath]
                         ) -> list[Thumbnail]:
    """Instants with footage, evenly spaced over a range (at most 200), each with the URL
    of its picture: the timeline's thumbnails, fetched lazily by the browser. Gaps get
    none."""
    channel, query = ctx.path.channel, ctx.query
    storage = daemon(ctx).storage
    if storage is None:
        raise unavailable("storage", code="service_unavailable")
    start_us, end_us = to_us(query.start), to_us(query.end)
    spans = await storage.intervals(channel, query.stream, start_us, end_us)
    return [Thumbnail(at=from_us(at_us),
                      url=picture_url(channel, at_us, query.width, query.stream))
            for at_us in thumbnail_instants(spans, start_us, end_us, query.count)]
