"""``GET /api/v1/events/live``: the live event stream the web page listens to.

Server-Sent Events rather than a WebSocket: the stream only goes one way (the page sends
its changes through the ordinary API, with its CSRF token), so SSE is enough and keeps
everything a WebSocket would need again: it is a plain HTTPS GET, so the session cookie
or a bearer token, the connection limits, the error middleware and the OpenAPI document
apply as to any route; the browser's ``EventSource`` reconnects by itself and sends
``Last-Event-ID``, which the feed's ring buffer answers (nvrd/events/live.py); and proxies
pass it without an upgrade.

What a client gets (``text/event-stream``)::

    retry: 5000                                 once: reconnect after 5 s

    id: 1718000000000123                        a message: its feed id,
    event: audit                                its topic,
    data: {"id":…,"topic":"audit","time_us":…,"data":{…}}

    : keep-alive                                every HEARTBEAT_S seconds

    id: …
    event: lagged                               messages were lost: refetch the state
    data: {…,"data":{"missed":12,"reason":"…"}}

    event: end                                  the last one: why the stream ends
    data: {…,"data":{"reason":"session_ended","message":"…"}}

Who sees what: any logged-in user; ``audit`` messages only with the ``log_view`` right.
Events: those of a camera channel only with ``playback`` on that channel; login events
(they name users and addresses) only with ``log_view``; the rest (alarm inputs, disks,
PoE, network) to everyone, as the front panel shows them.
``?topics=a,b`` asks for a subset. The principal is checked again at every heartbeat and
whenever a ``security`` audit record passes (a logout, a kick, an account or token
change), so the stream of a session that was ended stops at once, with ``end``; the
stream does not count as activity for the idle logout. When the server stops, every
stream ends with ``end`` (reason ``shutdown``) before the server waits for its handlers;
one whose client stopped reading is cut after ``SHUTDOWN_GRACE_S``.

Limits: at most ``LiveFeed.max_per_owner`` streams per user (429) and ``max_total`` in
all (503); each stream is an open connection, counted by the per-address connection
limit like any other (nvrd/web/limits.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from nvrd.events.live import (
    CONTROL_TOPICS,
    END,
    LAGGED,
    TOPICS,
    LiveMessage,
    Subscription,
    SubscriptionClosed,
    TooManySubscribers,
    wall_clock_us,
)
from nvrd.events.model import EventKind
from nvrd.web.api.auth import AUTHENTICATOR_KEY
from nvrd.web.api.errors import ApiError, Forbidden
from nvrd.web.api.registry import ApiRegistry, RequestContext, on_server_closing
from nvrd.web.auth.authenticator import AUDIT_TYPE as SECURITY_AUDIT_TYPE
from nvrd.web.auth.recheck import still_signed_in
from nvrd.web.routes.daemon import daemon_of

routes = ApiRegistry(tags=("events",))

LIVE_PATH = "/api/v1/events/live"
SSE_MEDIA_TYPE = "text/event-stream"
HEARTBEAT_S = 15.0
"""A comment line this often keeps proxies from closing an idle stream and finds a dead
client (the write fails); the principal is checked again at the same time."""
RETRY_MS = 5000
SHUTDOWN_GRACE_S = 1.0
"""At shutdown, how long a stream's last message may take before its connection is cut."""
AUDIT_RIGHT = "log_view"
EVENT_TOPICS = frozenset({"event", "linkage"})
"""Topics whose messages are about an event, filtered by the rights on it."""
LOGIN_KINDS = frozenset({EventKind.ILLEGAL_LOGIN.value, EventKind.ACCOUNT_LOCKED.value})
"""Events that name users and addresses: ``log_view`` only, like the audit log."""
EVENT_CHANNEL_RIGHT = "playback"
SESSION_ENDED = ("session_ended", "your session ended (logged out, ended by an "
                 "administrator, idle for too long, or your account changed); log in again")


class LiveQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topics: str | None = Field(
        None, max_length=200,
        description="Comma-separated topics to receive; default: every topic you may see. "
                    f"Topics: {', '.join(sorted(TOPICS))} (audit needs the log_view right).")

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [name.strip() for name in value.split(",")]
        unknown = [name for name in names if name not in TOPICS]
        if unknown:
            raise ValueError(f"unknown topic {', '.join(repr(n) for n in unknown)}; the "
                             f"topics are {', '.join(sorted(TOPICS))}")
        return ",".join(names)

    def chosen(self) -> frozenset[str] | None:
        return frozenset(self.topics.split(",")) if self.topics is not None else None


@routes.get(LIVE_PATH, query=LiveQuery, response=str, media_type=SSE_MEDIA_TYPE,
            streaming=True)
async def live_events(ctx: RequestContext[None, LiveQuery]) -> web.StreamResponse:
    """The live event stream (Server-Sent Events): audit records, events (alarms, video
    loss, disks, logins ...), storage, drive bays, alarm inputs, PoE and a status
    summary, as they happen.

    Send ``Last-Event-ID`` (EventSource does when it reconnects) to get what you missed;
    a ``lagged`` message means some was lost: refetch the state. The stream ends with an
    ``end`` message when your session ends or the recorder stops. Audit messages and
    login events need the log_view right; a channel's events need playback on it.
    """
    visible = _visible_topics(ctx, ctx.query.chosen())
    subscription = _subscribe(ctx, visible)
    cut: list[asyncio.TimerHandle] = []

    def server_closing() -> None:
        subscription.close("shutdown", "the recorder is stopping")
        # A client that stopped reading holds this handler in a write: the last message
        # gets a moment, then the connection is cut (aiohttp would wait a minute).
        cut.append(asyncio.get_running_loop().call_later(SHUTDOWN_GRACE_S, _abort,
                                                          ctx.request))

    forget = on_server_closing(ctx.request, server_closing)
    try:
        response = web.StreamResponse(headers={
            "Content-Type": f"{SSE_MEDIA_TYPE}; charset=utf-8",
            "X-Accel-Buffering": "no"})  # a reverse proxy must not hold messages back
        await response.prepare(ctx.request)
        with contextlib.suppress(ConnectionError):
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            reason, message = await _pump(ctx, response, subscription, visible)
            await response.write(end_frame(reason, message))
        return response
    finally:
        forget()
        for handle in cut:
            handle.cancel()
        subscription.close()


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def _visible_topics(ctx: RequestContext[None, LiveQuery],
                    chosen: frozenset[str] | None) -> frozenset[str]:
    may_audit = ctx.app[AUTHENTICATOR_KEY].authorize(ctx.principal, AUDIT_RIGHT, None)
    if chosen is not None and "audit" in chosen and not may_audit:
        raise Forbidden(f"the audit topic needs the '{AUDIT_RIGHT}' right, which your "
                        "account does not have")
    if chosen is not None:
        return chosen
    return TOPICS if may_audit else TOPICS - {"audit"}


def _subscribe(ctx: RequestContext[None, LiveQuery], visible: frozenset[str]
               ) -> Subscription:
    feed = daemon_of(ctx.request).live
    try:
        # audit always: a security record is the cue to check the principal again
        return feed.subscribe(str(getattr(ctx.principal, "name", ctx.principal)),
                              topics=visible | {"audit"},
                              last_id=_last_event_id(ctx.request))
    except TooManySubscribers as exc:
        status = 429 if exc.scope == "owner" else 503
        raise ApiError(status, "too_many_streams", str(exc),
                       headers={"Retry-After": "10"}) from None


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID", "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "invalid_last_event_id",
                       f"Last-Event-ID must be the id of a message of this stream (a "
                       f"number), not {raw[:40]!r}") from None


async def _pump(ctx: RequestContext[None, LiveQuery], response: web.StreamResponse,
                subscription: Subscription, visible: frozenset[str]) -> tuple[str, str]:
    """Write the subscription's messages until it ends or the principal may no longer
    listen; why it ended (reason code, sentence)."""
    loop = asyncio.get_running_loop()
    next_beat = loop.time() + HEARTBEAT_S
    while True:
        if loop.time() >= next_beat:  # also right after a write that blocked for long
            if not await _may_listen(ctx):
                return SESSION_ENDED
            await response.write(b": keep-alive\n\n")
            next_beat = loop.time() + HEARTBEAT_S
        try:
            message = await subscription.next(timeout=max(0.0, next_beat - loop.time()))
        except SubscriptionClosed as closed:
            return closed.reason, closed.message
        if message is None:
            continue
        # a security record may end this session; a lag may have dropped one
        if (_is_security_record(message) or message.topic == LAGGED) \
                and not await _may_listen(ctx):
            return SESSION_ENDED
        if message.topic in EVENT_TOPICS and not _may_see_event(ctx, message):
            continue
        if message.topic in visible or message.topic in CONTROL_TOPICS:
            await response.write(sse_frame(message))


async def _may_listen(ctx: RequestContext[None, LiveQuery]) -> bool:
    return await still_signed_in(ctx.app[AUTHENTICATOR_KEY], ctx.request, ctx.principal)


def _may_see_event(ctx: RequestContext[None, LiveQuery], message: LiveMessage) -> bool:
    """An event, or a linkage incident (which carries the event that opened it)."""
    authenticator = ctx.app[AUTHENTICATOR_KEY]
    event = message.data.get("event", {}) if message.topic == "linkage" else message.data
    if not isinstance(event, dict):
        return True  # a disarm change: about the whole box
    if event.get("kind") in LOGIN_KINDS and not authenticator.authorize(
            ctx.principal, AUDIT_RIGHT, None):
        return False
    channel = event.get("channel")
    return channel is None or authenticator.authorize(ctx.principal, EVENT_CHANNEL_RIGHT,
                                                      channel)


def _is_security_record(message: LiveMessage) -> bool:
    data: Any = message.data
    return message.topic == "audit" and data.get("type") == SECURITY_AUDIT_TYPE


def sse_frame(message: LiveMessage) -> bytes:
    """One message as an event of the stream (its JSON never holds a raw line break)."""
    return (f"id: {message.id}\nevent: {message.topic}\n"
            f"data: {message.to_json()}\n\n").encode()


def end_frame(reason: str, text: str) -> bytes:
    """The last event: no id, so a reconnecting client resumes after the last message."""
    data = json.dumps({"id": None, "topic": END, "time_us": wall_clock_us(),
                       "data": {"reason": reason, "message": text}}, ensure_ascii=False)
    return f"event: {END}\ndata: {data}\n\n".encode()
