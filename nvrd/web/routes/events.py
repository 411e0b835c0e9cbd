"""The event log: search what happened (alarms, video loss, disk, network, security and
PoE faults), and the kinds there are. The live stream of the same events is
``GET /api/v1/events/live`` (topic ``event``, nvrd/web/routes/live.py).

Rights: searching needs ``log_view`` (the log names users and their addresses, like the
audit log). Events of a camera channel are shown only to users with the ``playback``
right on that channel (it is that channel's history: a user who may not play a channel
back must not learn when it saw motion or lost video); events without a channel (alarm
inputs, disks, network, security) are shown to every ``log_view`` holder. Asking for one
channel without that right is a 403. The list of kinds needs a login only.

Paging: newest first; each page gives ``next_before``, the ``before`` of the next page
(ids, not offsets, so events arriving meanwhile do not shift the pages). A start carries
``end_us`` once its stop is logged, a stop its start's ``start_id`` and ``start_us``.
Events reach the log in batches: one published under half a second ago may not be found
yet.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from nvrd.events.log import MAX_PAGE, EventFilter, EventLog, LoggedEvent
from nvrd.events.model import KINDS, EventKind
from nvrd.web.api.auth import AUTHENTICATOR_KEY
from nvrd.web.api.errors import Forbidden
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import Context, daemon, unavailable

routes = ApiRegistry(tags=("events",))

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CHANNEL_RIGHT = "playback"


class EventQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Annotated[str, Field(max_length=400)] | None = None
    """Comma-separated kinds (``GET /api/v1/events/kinds``); default every kind."""
    channel: Annotated[int, Field(ge=1, le=1024)] | None = None
    source: Annotated[str, Field(max_length=200)] | None = None
    """Exactly, e.g. ``alarm-in:3``, ``camera:5``, ``volume:v1``."""
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    """Exclusive."""
    before: Annotated[int, Field(ge=1, le=2**62)] | None = None
    """The ``next_before`` of the previous page."""
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 100

    @field_validator("kind")
    @classmethod
    def _known_kinds(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [name.strip() for name in value.split(",") if name.strip()]
        known = {kind.value for kind in EventKind}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"unknown event kind {', '.join(repr(n) for n in unknown)}; "
                             f"the kinds are {', '.join(sorted(known))}")
        return ",".join(names)


class EventOut(BaseModel):
    id: int
    kind: EventKind
    source: str
    channel: int | None
    phase: str
    """start | stop | pulse"""
    time: dt.datetime
    time_us: int
    """UTC microseconds: when it happened."""
    start_id: int | None
    """A stop: the id of its start."""
    start_us: int | None
    """A stop: when its start was (if still in the log)."""
    end_us: int | None
    """A start: when its stop came (None: still going)."""
    details: dict[str, Any]


class EventPage(BaseModel):
    events: list[EventOut]
    next_before: int | None
    """Pass as ``before`` for the next (older) page; None: this was the last."""


class KindOut(BaseModel):
    kind: EventKind
    label: str
    group: str
    """alarm | exception | camera | intelligent"""
    lasting: bool
    """True: start/stop pairs; False: single pulses."""
    per_channel: bool


def _us(moment: dt.datetime | None) -> int | None:
    return None if moment is None else (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _log(ctx: Context) -> EventLog:
    events = getattr(daemon(ctx), "events", None)
    if events is None or not events.log.path.exists():
        raise unavailable("the event log", code="service_unavailable")
    log: EventLog = events.log
    return log


def _out(row: LoggedEvent) -> EventOut:
    event = row.event
    return EventOut(id=event.id, kind=event.kind, source=event.source, channel=event.channel,
                    phase=event.phase.value,
                    time=_EPOCH + dt.timedelta(microseconds=event.time_us),
                    time_us=event.time_us, start_id=event.start_id, start_us=row.start_us,
                    end_us=row.end_us, details=dict(event.details))


async def _visible_channels(ctx: Context, log: EventLog, asked: int | None) -> list[int]:
    authenticator = ctx.app[AUTHENTICATOR_KEY]
    if asked is not None:
        if not authenticator.authorize(ctx.principal, CHANNEL_RIGHT, asked):
            raise Forbidden(f"this needs the '{CHANNEL_RIGHT}' right on channel {asked}, "
                            "which your account does not have")
        return [asked]
    logged = await asyncio.to_thread(log.channels)
    return [c for c in logged if authenticator.authorize(ctx.principal, CHANNEL_RIGHT, c)]


@routes.get("/api/v1/events", query=EventQuery, response=EventPage, right="log_view")
async def search_events(ctx: RequestContext[None, EventQuery]) -> EventPage:
    """Search the event log by kind, channel, source and time; newest first, paged."""
    q = ctx.query
    log = _log(ctx)
    try:
        visible = await _visible_channels(ctx, log, q.channel)
        where = EventFilter(kinds=q.kind.split(",") if q.kind else (),
                            channels=[q.channel] if q.channel is not None else (),
                            source=q.source, since_us=_us(q.since), until_us=_us(q.until),
                            before_id=q.before, visible_channels=visible)
        rows = await asyncio.to_thread(log.query, where, q.limit)
    except sqlite3.Error as exc:
        raise unavailable("the event log", str(exc), code="service_unavailable") from None
    return EventPage(events=[_out(row) for row in rows],
                     next_before=rows[-1].event.id if len(rows) == q.limit else None)


@routes.get("/api/v1/events/kinds", response=list[KindOut])
async def event_kinds(ctx: RequestContext) -> list[KindOut]:
    """Every kind of event the recorder reports, in the order a UI lists them."""
    return [KindOut(kind=k.kind, label=k.label, group=k.group, lasting=k.lasting,
                    per_channel=k.per_channel) for k in KINDS]
