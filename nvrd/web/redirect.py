"""Plain HTTP only redirects: the optional listener (port 80 by default) that sends every
request to the HTTPS server, and answers nothing else.

A browser typing the recorder's address gets ``http://``; it must land on the HTTPS page
without ever sending a password in clear text. GET and HEAD get 301 (what every browser
follows); other methods get 308, which keeps method and body instead of turning a POST
into a GET (the data still crossed the network in clear once: the API never accepts it
there). The target keeps the path and query, and the host the client asked for (its
``Host`` header without the port) on the HTTPS port; a Host header that is not a plain
name or address is not echoed into ``Location`` but replaced by the address the request
arrived on.

The listener is a low-level aiohttp server with no routes at all, so there is nothing
else on it to attack. Binding a port below 1024 needs root (or CAP_NET_BIND_SERVICE):
when it fails the recorder logs it and runs without the redirect.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from aiohttp import web

logger = logging.getLogger(__name__)

_HOST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def https_location(host_header: str | None, fallback_host: str, https_port: int,
                   path_qs: str) -> str:
    """The HTTPS URL a plain-HTTP request is sent to."""
    host = _host_of(host_header) or _bracketed(fallback_host)
    port = "" if https_port == 443 else f":{https_port}"
    if not path_qs.startswith("/"):
        path_qs = "/" + path_qs
    return f"https://{host}{port}{path_qs}"


def _host_of(header: str | None) -> str | None:
    """The host of a Host header without its port, or None if it is not a plain host."""
    if not header:
        return None
    header = header.strip()
    if header.startswith("["):  # [v6]:port
        end = header.find("]")
        if end < 0:
            return None
        try:
            ipaddress.IPv6Address(header[1:end])
        except ValueError:
            return None
        rest = header[end + 1:]
        return header[:end + 1] if rest == "" or re.fullmatch(r":\d{1,5}", rest) else None
    name, _, port = header.partition(":")
    if port and not port.isdigit():
        return None
    return name if _HOST_NAME.match(name) else None


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address


class RedirectServer:
    """The plain-HTTP listener; :meth:`start` returns False when the port cannot be bound."""

    def __init__(self, host: str, port: int, https_port: int) -> None:
        self.host, self.port, self.https_port = host, port, https_port
        self._runner: web.ServerRunner | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def _redirect(self, request: web.BaseRequest) -> web.StreamResponse:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        local = str(sockname[0]) if sockname else "127.0.0.1"
        # the target as the client sent it (percent-escapes kept); yarl's form otherwise
        target = request.raw_path
        if not target.startswith("/") or target.startswith("//"):
            target = request.rel_url.raw_path_qs
        location = https_location(request.headers.get("Host"), local, self.https_port, target)
        status = 301 if request.method in _SAFE_METHODS else 308
        response = web.Response(status=status, headers={
            "Location": location, "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})
        response.force_close()
        return response

    async def start(self) -> bool:
        runner = web.ServerRunner(web.Server(self._redirect), access_log=None,
                                  keepalive_timeout=10, max_line_size=8190,
                                  max_field_size=8190)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            logger.warning("cannot listen on %s:%d for the HTTP → HTTPS redirect (%s); "
                           "plain HTTP is not answered", self.host, self.port,
                           exc.strerror or exc)
            return False
        self._runner = runner
        logger.info("plain HTTP on %s:%d redirects to HTTPS port %d", self.host, self.port,
                    self.https_port)
        return True

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
