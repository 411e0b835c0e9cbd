"""Marks on the timeline: named tags at instants, and the locked spans of a channel.

Tags (``nvrd/playback/tags.py``):

- ``POST /api/v1/channels/{channel}/tags`` adds one (the channel's ``playback`` right:
  one tags what one can watch); audited.
- ``GET /api/v1/tags`` searches by channel(s), time and text, newest first, paged by an
  opaque ``cursor``. Only channels the asker may play back: naming another is a 403;
  naming none searches all of the asker's. Each tag comes with ``play_from`` (``before``
  seconds ahead of it, 10 by default: what led up to the moment matters as much as the
  moment) and ``playback_url``, the recording from there to 5 minutes after the tag, and
  ``recorded``: whether the tagged moment (``play_from`` to a second after the tag)
  still has footage on the disks present now (tags outlive their footage; see the
  store's doc).
- ``GET/PATCH/DELETE /api/v1/tags/{id}``: reading needs the ``playback`` right on the
  tag's channel. Renaming, changing the note or deleting also needs to be the tag's
  creator or to hold the system ``storage`` right. Why ``storage``: it is already the
  right to decide what footage is kept for everyone (locks, retention); curating the
  shared marks on that footage is the same job, and no new right is needed. Why not any
  viewer: a tag is often someone's record of an incident, which another viewer must not
  silently rename or remove.

Locks: ``GET /api/v1/channels/{channel}/locks`` lists the locked spans (merged across
disks and, without ``stream``, across both streams) for the timeline (the ``playback``
right). Locking and unlocking is ``POST`` on the same path (``routes/recording.py``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import sqlite3
from typing import Annotated, Literal
from urllib.parse import urlencode

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from nvrd.config.fields import Name64
from nvrd.config.schema import MAX_CHANNELS
from nvrd.playback.tags import MAX_NOTE, Tag, TagCursor, TagLimitError, TagService
from nvrd.storage.catalog import Interval
from nvrd.storage.timeline import merge_intervals
from nvrd.web.api.auth import AUTHENTICATOR_KEY
from nvrd.web.api.errors import ApiError, Forbidden, NotFound
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import Context, audit, daemon, unavailable, user_of
from nvrd.web.routes.recording import ChannelPath, from_us, to_us

routes = ApiRegistry(tags=("tags",))

VIEW_RIGHT = "playback"
CURATE_RIGHT = "storage"
"""Changing or deleting someone else's tag (see the module doc)."""
PLAY_AFTER_US = 5 * 60 * 1_000_000
"""A tag's playback link runs this far past the tag."""
MOMENT_US = 1_000_000
"""``recorded`` asks for footage from ``play_from`` to this far past the tag (the
instant itself, give or take the break the timeline tolerates between segments)."""
MAX_BEFORE_S = 3600
MAX_PAGE = 1000
MAX_LOCK_DAYS = 366
"""A lock listing covers at most a year: locks are few, but the scan walks the range's
segments on the (channel, stream, start) index (about 100 ms for a year of one-minute
segments)."""
MAX_US = 2**62

_EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
"""Tags lie in the years recordings can have (a play window past 9999 is no date)."""

Channel = Annotated[int, Field(ge=1, le=MAX_CHANNELS)]
Note = Annotated[str, Field(max_length=MAX_NOTE)]


class TagBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime
    """The tagged instant (ISO 8601 with a zone)."""
    name: Name64
    note: Note | None = None

    @model_validator(mode="after")
    def _a_recordable_instant(self) -> TagBody:
        if not _EARLIEST <= self.at <= _LATEST:
            raise ValueError(f"at must lie between {_EARLIEST.year} and {_LATEST.year}")
        return self


class TagPatch(BaseModel):
    """What to change; a field left out stays. ``note: null`` removes the note."""

    model_config = ConfigDict(extra="forbid")

    name: Name64 | None = None
    note: Note | None = None


class TagPath(BaseModel):
    id: Annotated[int, Field(ge=1, le=MAX_US)]


class TagQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: list[Channel] = []
    """Repeat for several; none: every channel the caller may play back."""
    start: AwareDatetime | None = None
    """Inclusive; none: from the beginning."""
    end: AwareDatetime | None = None
    """Exclusive; none: to the end."""
    q: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """Only tags whose name or note holds this text (case-insensitive)."""
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 100
    before: Annotated[int, Field(ge=0, le=MAX_BEFORE_S)] = 10
    """Seconds of footage before each tag that its playback link starts with."""
    cursor: Annotated[str, Field(pattern=r"^\d{1,19}\.\d{1,19}$")] | None = None
    """The previous page's ``next_cursor``."""

    @model_validator(mode="after")
    def _ordered(self) -> TagQuery:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class TagOut(BaseModel):
    id: int
    channel: int
    at: dt.datetime
    name: str
    note: str | None
    created_by: str
    created: dt.datetime
    updated: dt.datetime | None
    url: str
    """This tag (``GET``, ``PATCH``, ``DELETE``)."""
    play_from: dt.datetime
    """``before`` seconds ahead of the tag."""
    playback_url: str
    """The channel's recording from ``play_from`` to 5 minutes after the tag."""
    recorded: bool | None
    """Footage of the tagged moment (from ``play_from`` to a second after the tag)
    exists on the disks present now; null when storage cannot be asked."""


class TagPage(BaseModel):
    tags: list[TagOut]
    next_cursor: str | None
    """Pass as ``cursor`` for the next (older) page; null: this was the last."""


class LocksQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime
    stream: Literal["main", "sub"] | None = None
    """Only this stream's locks; none: either stream's."""

    @model_validator(mode="after")
    def _a_forward_range(self) -> LocksQuery:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > dt.timedelta(days=MAX_LOCK_DAYS):
            raise ValueError(f"a lock listing covers at most {MAX_LOCK_DAYS} days")
        return self


class LockedSpan(BaseModel):
    start: dt.datetime
    end: dt.datetime


class LockedSpans(BaseModel):
    channel: int
    stream: str | None
    start: dt.datetime
    end: dt.datetime
    spans: list[LockedSpan]
    """Locked footage, oldest first: never deleted by retention or overwriting."""


# --- helpers ----------------------------------------------------------------------------

def _service(ctx: Context) -> TagService:
    service = daemon(ctx).tags
    if service is None:
        raise unavailable("tags", code="service_unavailable")
    return service


def _may(ctx: Context, right: str, channel: int | None) -> bool:
    return bool(ctx.app[AUTHENTICATOR_KEY].authorize(ctx.principal, right, channel))


def _refuse(channel: int) -> Forbidden:
    return Forbidden(f"this needs the '{VIEW_RIGHT}' right on channel {channel}, which "
                     "your account does not have")


def _unreadable(exc: sqlite3.Error) -> ApiError:
    return unavailable("tags", str(exc), code="service_unavailable")


def playback_url(channel: int, play_from_us: int, until_us: int) -> str:
    """The playback route's link for a channel's recording between two instants."""
    query = urlencode({"start": from_us(play_from_us).isoformat(),
                       "end": from_us(until_us).isoformat()})
    return f"/api/v1/channels/{channel}/recordings.mp4?{query}"


def has_footage(spans: list[Interval], start_us: int, end_us: int) -> bool:
    """Whether sorted, disjoint ``spans`` overlap ``[start_us, end_us)``."""
    index = bisect.bisect_right(spans, start_us, key=lambda span: span.end_us)
    return index < len(spans) and spans[index].start_us < end_us


def _window(tag: Tag, before_s: int) -> tuple[int, int]:
    """Where the tag's playback link starts and ends."""
    return tag.at_us - before_s * 1_000_000, tag.at_us + PLAY_AFTER_US


def _moment(tag: Tag, before_s: int) -> tuple[int, int]:
    """What ``recorded`` looks at: the lead-in and the tagged instant itself."""
    return tag.at_us - before_s * 1_000_000, tag.at_us + MOMENT_US


async def _footage(ctx: Context, tags: list[Tag], before_s: int
                   ) -> dict[int, list[Interval]] | None:
    """Per channel of ``tags``: its recorded spans (either stream) around them."""
    storage = daemon(ctx).storage
    if storage is None:
        return None
    found: dict[int, list[Interval]] = {}
    for channel in sorted({tag.channel for tag in tags}):
        windows = [_moment(tag, before_s) for tag in tags if tag.channel == channel]
        start_us, end_us = min(w[0] for w in windows), max(w[1] for w in windows)
        spans = [span for stream in ("main", "sub")
                 for span in await storage.intervals(channel, stream, start_us, end_us)]
        found[channel] = merge_intervals(spans, split_on_types=False)
    return found


def _out(tag: Tag, before_s: int, footage: dict[int, list[Interval]] | None) -> TagOut:
    play_from_us, until_us = _window(tag, before_s)
    recorded = (None if footage is None
                else has_footage(footage.get(tag.channel, []), *_moment(tag, before_s)))
    return TagOut(id=tag.id, channel=tag.channel, at=from_us(tag.at_us), name=tag.name,
                  note=tag.note, created_by=tag.created_by, created=from_us(tag.created_us),
                  updated=None if tag.updated_us is None else from_us(tag.updated_us),
                  url=f"/api/v1/tags/{tag.id}", play_from=from_us(play_from_us),
                  playback_url=playback_url(tag.channel, play_from_us, until_us),
                  recorded=recorded)


async def _one(ctx: Context, tags: TagService, tag_id: int) -> Tag:
    """The tag, if it exists and the caller may see its channel."""
    try:
        tag = await tags.run(tags.store.get, tag_id)
    except sqlite3.Error as exc:
        raise _unreadable(exc) from None
    if tag is None:
        raise NotFound(f"there is no tag {tag_id}")
    if not _may(ctx, VIEW_RIGHT, tag.channel):
        raise _refuse(tag.channel)
    return tag


def _check_curate(ctx: Context, tag: Tag) -> None:
    if tag.created_by != user_of(ctx) and not _may(ctx, CURATE_RIGHT, None):
        raise Forbidden(f"tag {tag.id} was made by {tag.created_by}: only they, or an "
                        f"account with the '{CURATE_RIGHT}' right, may change or delete it")


# --- tags -------------------------------------------------------------------------------

@routes.post("/api/v1/channels/{channel:\\d+}/tags", path_model=ChannelPath, body=TagBody,
             response=TagOut, status=201, channel_right=(VIEW_RIGHT, "channel"))
async def add_tag(ctx: RequestContext[TagBody, None, ChannelPath]) -> TagOut:
    """Tag an instant of a channel's recordings with a name (and a note)."""
    channel, body = ctx.path.channel, ctx.body
    tags = _service(ctx)
    try:
        tag = await tags.run(tags.store.add, channel, to_us(body.at), body.name, body.note,
                             user_of(ctx))
    except TagLimitError as exc:
        raise ApiError(507, "too_many_tags", str(exc)) from None
    except sqlite3.Error as exc:
        raise _unreadable(exc) from None
    audit(ctx, "playback", f"channel {channel} tag added",
          details=f"tag {tag.id} {tag.name!r} at {body.at.isoformat()}")
    return _out(tag, 10, await _footage(ctx, [tag], 10))


@routes.get("/api/v1/tags", query=TagQuery, response=TagPage)
async def find_tags(ctx: RequestContext[None, TagQuery]) -> TagPage:
    """Tags by channel, time and text, newest first, paged, each with the link that plays
    it from ``before`` seconds ahead.

    Only channels the caller may play back."""
    query = ctx.query
    for channel in query.channel:
        if not _may(ctx, VIEW_RIGHT, channel):
            raise _refuse(channel)
    channels = (set(query.channel) if query.channel else
                {c for c in range(1, MAX_CHANNELS + 1) if _may(ctx, VIEW_RIGHT, c)})
    cursor = None
    if query.cursor is not None:
        at_us, _, tag_id = query.cursor.partition(".")
        cursor = TagCursor(int(at_us), int(tag_id))
    tags = _service(ctx)
    find = functools.partial(
        tags.store.find, channels,
        to_us(query.start) if query.start is not None else -MAX_US,
        to_us(query.end) if query.end is not None else MAX_US,
        text=query.q, limit=query.limit, before=cursor)
    try:
        found = await tags.run(find)
    except sqlite3.Error as exc:
        raise _unreadable(exc) from None
    footage = await _footage(ctx, found, query.before)
    last = found[-1] if len(found) == query.limit else None
    return TagPage(tags=[_out(tag, query.before, footage) for tag in found],
                   next_cursor=None if last is None else f"{last.at_us}.{last.id}")


@routes.get("/api/v1/tags/{id:\\d+}", path_model=TagPath, response=TagOut)
async def get_tag(ctx: RequestContext[None, None, TagPath]) -> TagOut:
    """One tag (the ``playback`` right on its channel)."""
    tag = await _one(ctx, _service(ctx), ctx.path.id)
    return _out(tag, 10, await _footage(ctx, [tag], 10))


@routes.patch("/api/v1/tags/{id:\\d+}", path_model=TagPath, body=TagPatch, response=TagOut)
async def change_tag(ctx: RequestContext[TagPatch, None, TagPath]) -> TagOut:
    """Rename a tag or change its note (its creator, or the ``storage`` right)."""
    tags = _service(ctx)
    tag = await _one(ctx, tags, ctx.path.id)
    _check_curate(ctx, tag)
    body = ctx.body
    clear_note = "note" in body.model_fields_set and body.note is None
    try:
        changed = await tags.run(functools.partial(
            tags.store.update, tag.id, name=body.name, note=body.note, clear_note=clear_note))
    except sqlite3.Error as exc:
        raise _unreadable(exc) from None
    if changed is None:
        raise NotFound(f"there is no tag {tag.id} (deleted meanwhile)")
    audit(ctx, "playback", f"channel {tag.channel} tag changed",
          details=f"tag {tag.id} {tag.name!r} → {changed.name!r}"
                  + (", note changed" if "note" in body.model_fields_set else ""))
    return _out(changed, 10, await _footage(ctx, [changed], 10))


@routes.delete("/api/v1/tags/{id:\\d+}", path_model=TagPath)
async def delete_tag(ctx: RequestContext[None, None, TagPath]) -> None:
    """Delete a tag (its creator, or the ``storage`` right). The footage stays."""
    tags = _service(ctx)
    tag = await _one(ctx, tags, ctx.path.id)
    _check_curate(ctx, tag)
    try:
        await tags.run(tags.store.delete, tag.id)
    except sqlite3.Error as exc:
        raise _unreadable(exc) from None
    audit(ctx, "playback", f"channel {tag.channel} tag deleted",
          details=f"tag {tag.id} {tag.name!r} at {from_us(tag.at_us).isoformat()} "
                  f"(made by {tag.created_by})")


# --- locks ------------------------------------------------------------------------------

@routes.get("/api/v1/channels/{channel:\\d+}/locks", path_model=ChannelPath,
            query=LocksQuery, response=LockedSpans, channel_right=(VIEW_RIGHT, "channel"))
async def locked_spans(ctx: RequestContext[None, LocksQuery, ChannelPath]) -> LockedSpans:
    """The locked spans of a channel in a range (at most a year), merged across disks:
    footage that retention and overwriting never delete."""
    channel, query = ctx.path.channel, ctx.query
    storage = daemon(ctx).storage
    if storage is None:
        raise unavailable("storage", code="service_unavailable")
    start_us, end_us = to_us(query.start), to_us(query.end)
    spans = await storage.locked_intervals(channel, query.stream, start_us, end_us)
    return LockedSpans(channel=channel, stream=query.stream, start=query.start,
                       end=query.end,
                       spans=[LockedSpan(start=from_us(s.start_us), end=from_us(s.end_us))
                              for s in spans])
