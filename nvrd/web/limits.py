"""How much one client may ask of the web server: body size, time, connections, headers.

A recorder serves a handful of people and integrations; whatever one client does (a
script opening sockets in a loop, a huge upload, a handler stuck on a dead camera) must
not take the web page away from the others, nor memory or time from recording.

Connections are counted per source IP at the transport: aiohttp has no hook for that, but
its ``Server`` is told of every connection (``connection_made``/``connection_lost``), and
:class:`LimitedAppRunner` wraps those two calls. A connection beyond the limit is not
closed at once (the client would see a reset, not a reason): its requests are answered
503 with ``Connection: close`` by :func:`connection_limit_middleware`, and one that sends
nothing is closed by aiohttp's keep-alive timeout, which runs from the connection's start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from nvrd.web.api.errors import error_response

logger = logging.getLogger(__name__)

MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = MiB
    """Bigger request bodies are refused (413); uploads get streaming endpoints."""
    handler_timeout_s: float = 30.0
    """Default time a handler may take (503 after it); a route may ask for more."""
    max_connections_per_ip: int = 32
    """Open connections from one address beyond this are answered 503."""
    max_line_bytes: int = 8190
    """Longest request line (method, path and query) accepted."""
    max_field_bytes: int = 8190
    """Longest header accepted."""
    max_headers: int = 64
    """Most header lines accepted in one request."""
    keepalive_timeout_s: float = 75.0
    """An idle connection, including one that never sends a request, is closed after this."""
    refusal_log_interval_s: float = 60.0
    """A refused address is logged at most once per this interval."""


def _peer_ip(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    return str(peer or "unknown")


class ConnectionLimiter:
    """Counts open connections per source address and names the ones beyond the limit.

    Loop-only (aiohttp calls it from the event loop). ``clock`` is injected so tests of
    the once-a-minute logging do not sleep.
    """

    def __init__(self, limit: int, *, log_interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._log_interval_s = log_interval_s
        self._clock = clock
        self._open: dict[str, int] = {}
        self._address_of: dict[object, str] = {}
        self._excess: set[object] = set()
        self._last_logged: dict[str, float] = {}

    def open_connections(self, ip: str) -> int:
        return self._open.get(ip, 0)

    def opened(self, connection: object, ip: str) -> None:
        count = self._open.get(ip, 0) + 1
        self._open[ip] = count
        self._address_of[connection] = ip
        if count > self.limit:
            self._excess.add(connection)

    def closed(self, connection: object) -> None:
        ip = self._address_of.pop(connection, None)
        self._excess.discard(connection)
        if ip is None:
            return
        count = self._open.get(ip, 0) - 1
        if count > 0:
            self._open[ip] = count
        else:
            self._open.pop(ip, None)

    def excess_address(self, connection: object) -> str | None:
        """The connection's address if it is beyond its address's limit, else None."""
        return self._address_of.get(connection) if connection in self._excess else None

    def should_log(self, ip: str) -> bool:
        """True at most once per interval per address (for the refusal's log line)."""
        now = self._clock()
        last = self._last_logged.get(ip)
        if last is not None and now - last < self._log_interval_s:
            return False
        for address, when in list(self._last_logged.items()):
            if now - when >= self._log_interval_s:
                del self._last_logged[address]
        self._last_logged[ip] = now
        return True

    def attach(self, server: web.Server) -> None:
        """Count the connections of ``server`` (see the module doc for why this wraps)."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            made(handler, transport)
            self.opened(handler, _peer_ip(transport))

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            lost(handler, exc)
            self.closed(handler)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]


LIMITER_KEY: web.AppKey[ConnectionLimiter] = web.AppKey("connection_limiter", ConnectionLimiter)


@web.middleware
async def connection_limit_middleware(request: web.Request,
                                      handler: Handler) -> web.StreamResponse:
    limiter = request.app.get(LIMITER_KEY)
    ip = limiter.excess_address(request.protocol) if limiter is not None else None
    if limiter is None or ip is None:
        return await handler(request)
    if limiter.should_log(ip):
        logger.warning("refusing requests from %s: more than %d connections open", ip,
                       limiter.limit)
    response = error_response(
        503, "too_many_connections",
        f"your address has more than {limiter.limit} connections open to the recorder; "
        "close some and try again", headers={"Retry-After": "10"})
    response.force_close()
    return response


class LimitedAppRunner(web.AppRunner):
    """An AppRunner whose server counts connections with the app's limiter."""

    def __init__(self, app: web.Application, limits: Limits, **kwargs: Any) -> None:
        super().__init__(app, max_line_size=limits.max_line_bytes,
                         max_field_size=limits.max_field_bytes,
                         max_headers=limits.max_headers,
                         keepalive_timeout=limits.keepalive_timeout_s, **kwargs)
        self._limiter = app.get(LIMITER_KEY)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        if self._limiter is not None:
            self._limiter.attach(server)
        return server
