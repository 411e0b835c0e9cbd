"""``GET /api/v1/channels/{channel}/live?stream=sub|main``: live video over a WebSocket.

Fragmented MP4 for Media Source Extensions (``nvrd/playback/live.py`` makes it from the
packets the recorder receives; ``/static/js/live-player.js`` plays it). What the client
gets, in order::

    text    {"type": "init", "mime": "video/mp4; codecs=\\"avc1.64001f\\"",
             "codec": "avc1.64001f", "width": 1280, "height": 720,
             "channel": 1, "stream": "main"}
    binary  the init segment (ftyp + moov)
    binary  a fragment (moof + mdat): one video frame; the first one a key frame
    binary  ...
    text    {"type": "offline", "message": "..."}   the camera's stream is down; the socket
                                                    stays open and a new init follows
                                                    when it is back

A new init (a reconnect, a new codec or size) means: start the player over. A viewer
that cannot keep up skips to the next key frame (``nvrd/playback/live.py``). Nothing is
read from the client but the WebSocket's own control frames.

Closing (code, reason): 1001 when the recorder stops (try again later); 1008 when the
session ended or the user's rights changed (log in again); 4404 when the camera was
removed or disabled; 1011 on an internal error.

Access: the ``live`` right on the channel (403 otherwise, before the upgrade). A browser
sends the session cookie with a WebSocket whatever page opens it, and a WebSocket is not
bound by CORS, so the ``Origin`` must be this recorder (cross-site WebSocket hijacking,
403 otherwise); clients that send no Origin (scripts, bearer tokens) are not browsers.
The login is checked again every ``SESSION_CHECK_S`` (without counting as activity):
a logout, a kick or a change of the account ends the view. Limits: at most
``max_per_owner`` live views per user (429) and ``max_total`` in all (503). These
answers, like 404 (no such camera or stream) and 409 (camera disabled), come before the
upgrade; a browser's WebSocket cannot read them, so the player asks the same URL
without upgrading to learn why (426 when all is well).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from typing import Literal
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field

from nvrd.playback.live import (
    LiveFragment,
    LiveInit,
    LiveVideoError,
    LiveVideoService,
    Offline,
    Viewer,
    ViewerClosed,
)
from nvrd.web.api.auth import AUTHENTICATOR_KEY
from nvrd.web.api.errors import ApiError, Forbidden
from nvrd.web.api.registry import ApiRegistry, RequestContext, on_server_closing
from nvrd.web.auth.recheck import still_signed_in
from nvrd.web.routes.common import daemon, unavailable, user_of
from nvrd.web.routes.recording import ChannelPath

logger = logging.getLogger(__name__)

routes = ApiRegistry(tags=("live-video",))

LIVE_VIDEO_PATH = "/api/v1/channels/{channel:\\d+}/live"
SESSION_CHECK_S = 2.0
"""How often the login is checked again: a logout ends a live view within this."""
SHUTDOWN_GRACE_S = 1.0
"""How long the closing handshake may take before the connection is cut (a client that
stopped reading would hold it)."""
SEND_BUFFER_BYTES = 128 << 10
"""The socket's send buffer (Linux doubles it): the kernel must not hold seconds of video
for a slow viewer (on its own it grows to megabytes), or the viewer's queue never sees
it fall behind. 256 KiB is a quarter second of an 8 Mbit/s stream, and more than the
bandwidth-delay product of a LAN or of 20 Mbit/s at 100 ms."""
TRANSPORT_BUFFER_BYTES = 64 << 10
"""The transport's write buffer before it pushes back (asyncio's TLS transport would
hold more than half a megabyte)."""
WRITER_LIMIT_BYTES = 64 << 10
CLOSE_SHUTDOWN = 1001
CLOSE_POLICY = 1008
CLOSE_INTERNAL = 1011
CLOSE_CAMERA_GONE = 4404
_CLOSE_CODES = {"shutdown": CLOSE_SHUTDOWN, "session_ended": CLOSE_POLICY,
                "camera_gone": CLOSE_CAMERA_GONE}
SESSION_ENDED = ("session_ended", "your session ended (logged out, ended by an "
                 "administrator, idle for too long, or your account changed); log in again")


class LiveVideoQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stream: Literal["main", "sub"] = Field(
        "sub", description="The camera's stream to watch: sub (small, the default, for "
                           "grids) or main (full resolution).")


@routes.get(LIVE_VIDEO_PATH, path_model=ChannelPath, query=LiveVideoQuery, response=bytes,
            media_type="application/octet-stream", status=101,
            channel_right=("live", "channel"), streaming=True)
async def live_video(ctx: RequestContext[None, LiveVideoQuery, ChannelPath]
                     ) -> web.StreamResponse:
    """Live video of a channel (WebSocket, fragmented MP4 for Media Source Extensions).

    Open it as a WebSocket. Messages: a JSON ``init`` (the MIME type with its codec
    string, the size), the init segment (binary), then one binary fragment per video
    frame; ``{"type": "offline", "message": …}`` while the camera is down (a new init
    follows when it is back). The closing code says why it ended: 1001 the recorder
    stops, 1008 the session ended, 4404 the camera was removed. Asked without the
    WebSocket upgrade, answers why it could not be opened, or 426 if it could.
    """
    request = ctx.request
    _check_origin(request)
    service = _service(ctx)
    channel, stream, owner = ctx.path.channel, ctx.query.stream, user_of(ctx)
    ws = web.WebSocketResponse(compress=False, max_msg_size=4096, heartbeat=30.0,
                               writer_limit=WRITER_LIMIT_BYTES)
    try:
        service.check(channel, stream, owner)
        if not ws.can_prepare(request).ok:
            raise ApiError(426, "websocket_expected", "open this address as a WebSocket "
                           "(it is live video, not a page)", headers={"Upgrade": "websocket"})
        viewer = service.watch(channel, stream, owner)
    except LiveVideoError as exc:
        raise ApiError(exc.status, exc.code, exc.message,
                       headers={"Retry-After": "10"} if exc.status in (429, 503) else None
                       ) from None
    cut: list[asyncio.TimerHandle] = []

    def server_closing() -> None:
        viewer.close("shutdown", "the recorder is stopping")
        cut.append(asyncio.get_running_loop().call_later(SHUTDOWN_GRACE_S, _abort, request))

    forget = on_server_closing(request, server_closing)
    reader: asyncio.Task[None] | None = None
    try:
        await ws.prepare(request)
        _limit_buffers(request)
        reader = asyncio.get_running_loop().create_task(_read(ws, viewer),
                                                        name=f"live-video-read-ch{channel}")
        code, reason = await _pump(ctx, ws, viewer)
        if not ws.closed:
            try:
                async with asyncio.timeout(SHUTDOWN_GRACE_S):
                    await ws.close(code=code, message=reason.encode()[:123])
            except TimeoutError:
                _abort(request)
        return ws
    finally:
        forget()
        for handle in cut:
            handle.cancel()
        if reader is not None:
            reader.cancel()
        service.unwatch(viewer)


def _service(ctx: RequestContext[None, LiveVideoQuery, ChannelPath]) -> LiveVideoService:
    service = daemon(ctx).live_video
    if service is None:
        raise unavailable("live video", "the recorder runs without it", code="unavailable")
    return service


def _check_origin(request: web.Request) -> None:
    """403 unless the ``Origin`` (when sent) is this recorder's own address."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    parts = urlsplit(origin)
    host = request.host
    try:
        same = (parts.scheme == request.scheme
                and _host_port(parts.netloc, parts.scheme) == _host_port(host, request.scheme))
    except ValueError:  # a port that is not a number
        same = False
    if not same:
        logger.warning("live video refused to a page of %s (the recorder is %s://%s)",
                       origin[:100], request.scheme, host)
        raise Forbidden(f"live video is only served to this recorder's own pages, not to "
                        f"{origin[:100]}", code="foreign_origin")


def _host_port(netloc: str, scheme: str) -> tuple[str, int]:
    parsed = urlsplit(f"//{netloc}")
    port = parsed.port or (443 if scheme in ("https", "wss") else 80)
    return (parsed.hostname or "").lower(), port


def _limit_buffers(request: web.Request) -> None:
    """Keep what sits below the viewer's queue small: the socket's send buffer and the
    transport's (TLS included), so a viewer that stops reading shows in its queue."""
    transport = request.transport
    if transport is None:
        return
    with contextlib.suppress(NotImplementedError, ValueError):
        transport.set_write_buffer_limits(high=TRANSPORT_BUFFER_BYTES)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)


async def _read(ws: web.WebSocketResponse, viewer: Viewer) -> None:
    """Consume what the client sends (control frames: its close ends the view)."""
    try:
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
    finally:
        viewer.close("client_closed", "the viewer closed the live view")


async def _pump(ctx: RequestContext[None, LiveVideoQuery, ChannelPath],
                ws: web.WebSocketResponse, viewer: Viewer) -> tuple[int, str]:
    """Send the viewer's items until it is closed; the closing (code, reason)."""
    loop = asyncio.get_running_loop()
    next_check = loop.time() + SESSION_CHECK_S
    try:
        while True:
            if loop.time() >= next_check:
                if not await still_signed_in(ctx.app[AUTHENTICATOR_KEY], ctx.request,
                                             ctx.principal):
                    return CLOSE_POLICY, SESSION_ENDED[1]
                next_check = loop.time() + SESSION_CHECK_S
            item = await viewer.next(timeout=max(0.0, next_check - loop.time()))
            if item is None:
                continue
            if isinstance(item, LiveFragment):
                await ws.send_bytes(item.data)
            elif isinstance(item, LiveInit):
                await ws.send_str(json.dumps({
                    "type": "init", "mime": item.mime, "codec": item.codec,
                    "width": item.width, "height": item.height,
                    "channel": viewer.channel, "stream": viewer.stream}))
                await ws.send_bytes(item.data)
            elif isinstance(item, Offline):
                await ws.send_str(json.dumps({"type": "offline", "message": item.message}))
            viewer.sent(item)
    except ViewerClosed as closed:
        return _CLOSE_CODES.get(closed.reason, 1000), closed.message
    except (ConnectionError, RuntimeError) as exc:  # the client went away mid-write
        return CLOSE_INTERNAL, f"the connection failed: {exc}"


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
