"""The web server: the versioned API and (later) the installer page, HTTPS by default.

What it assembles (each part in its own module): the API routes on the registry
(:mod:`nvrd.web.api`), the authentication seam (an ``Authenticator``; without one the box
counts as uninitialized and only health answers), errors as JSON and security headers
on every response (:mod:`nvrd.web.api.middleware`), limits (:mod:`nvrd.web.limits`), the
certificate and its hot reload (:mod:`nvrd.web.tls`) and the plain-HTTP redirect
(:mod:`nvrd.web.redirect`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from nvrd import __version__
from nvrd.config import NvrConfig
from nvrd.service import Health, Service
from nvrd.system.logs import ACCESS_LOGGER
from nvrd.system.status import DaemonStatus
from nvrd.web import health
from nvrd.web.api import ApiRegistry, Authenticator, setup_api
from nvrd.web.api.middleware import SecurityHeaders, error_middleware
from nvrd.web.assets import AssetTable
from nvrd.web.limits import (
    LIMITER_KEY,
    ConnectionLimiter,
    LimitedAppRunner,
    Limits,
    connection_limit_middleware,
)
from nvrd.web.redirect import RedirectServer
from nvrd.web.status_cache import CachedStatus
from nvrd.web.tls import CertificateInfo, ServerTls, import_certificate

logger = logging.getLogger(__name__)

# Requests bigger than this are refused (413) before they are read; uploads that need
# more (firmware, config import) get their own streaming endpoints.
DEFAULT_LIMITS = Limits()
MAX_REQUEST_BYTES = DEFAULT_LIMITS.max_body_bytes


class WebService(Service):
    name = "web"

    def __init__(self, host: str, port: int, https: bool, tls_dir: Path,
                 status: Callable[[], DaemonStatus], *, http_redirect_port: int = 0,
                 authenticator: Authenticator | None = None,
                 apis: Sequence[ApiRegistry] = (), limits: Limits = DEFAULT_LIMITS,
                 app_values: Mapping[web.AppKey[Any], Any] | None = None) -> None:
        """``app_values``: what the routes of ``apis`` find on ``request.app`` (the daemon
        they act on, under ``nvrd.web.routes.daemon.DAEMON_KEY``)."""
        super().__init__()
        self.host, self.port, self.https = host, port, https
        self.http_redirect_port = http_redirect_port
        self._tls_dir = tls_dir
        self._status = status
        self._authenticator = authenticator
        self._apis = tuple(apis)
        self._limits = limits
        self._app_values = dict(app_values or {})
        self._runner: web.AppRunner | None = None
        self._tls: ServerTls | None = None
        self._redirect: RedirectServer | None = None
        self.url: str | None = None

    def make_app(self) -> web.Application:
        limits = self._limits
        app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[
            error_middleware(limits.max_body_bytes), connection_limit_middleware])
        app[LIMITER_KEY] = ConnectionLimiter(limits.max_connections_per_ip,
                                             log_interval_s=limits.refusal_log_interval_s)
        app.on_response_prepare.append(SecurityHeaders(self.https))
        for key, value in self._app_values.items():
            app[key] = value
        health.setup(app, CachedStatus(self._status))
        registry = ApiRegistry()
        registry.include(health.routes)
        for api in self._apis:
            registry.include(api)
        setup_api(app, registry, authenticator=self._authenticator,
                  default_timeout_s=limits.handler_timeout_s,
                  max_body_bytes=limits.max_body_bytes, version=__version__)
        AssetTable.load().setup(app)
        return app

    async def start(self) -> None:
        tls = await asyncio.to_thread(ServerTls, self._tls_dir) if self.https else None
        runner = LimitedAppRunner(self.make_app(), self._limits,
                                  access_log=logging.getLogger(ACCESS_LOGGER),
                                  handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port,
                           ssl_context=tls.context if tls else None, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(exc.errno, f"cannot listen on {self.host}:{self.port}: "
                                     f"{exc.strerror}") from exc
        self._runner, self._tls = runner, tls
        scheme = "https" if self.https else "http"
        shown_host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        self.url = f"{scheme}://{shown_host}:{self.port}/"
        if not self.https:
            logger.warning("HTTPS is switched off in the configuration: passwords will cross "
                           "the network in clear text")
        logger.info("web server listening on %s:%d (%s)", self.host, self.port, scheme)
        if self.https and self.http_redirect_port:
            redirect = RedirectServer(self.host, self.http_redirect_port, self.port)
            if await redirect.start():
                self._redirect = redirect

    async def reload_certificate(self) -> CertificateInfo:
        """Serve the certificate now in the TLS directory to new connections."""
        if self._tls is None:
            raise RuntimeError("the web server is not serving HTTPS")
        return await asyncio.to_thread(self._tls.reload)

    async def install_certificate(self, cert_pem: bytes, key_pem: bytes) -> CertificateInfo:
        """Check and import a certificate and key (see ``tls.import_certificate``), then
        serve them without a restart. Raises ``CertificateError`` with nothing changed."""
        info = await asyncio.to_thread(import_certificate, self._tls_dir, cert_pem, key_pem)
        if self._tls is not None:
            await self.reload_certificate()
        return info

    async def apply_config(self, config: NvrConfig) -> None:
        """A new address, scheme or redirect port takes effect at once: the server is
        restarted on it."""
        web_config = config.web
        wanted = (web_config.host, web_config.port, web_config.https,
                  web_config.http_redirect_port)
        if wanted == (self.host, self.port, self.https, self.http_redirect_port):
            return
        logger.info("web server moves to %s:%d (%s)", web_config.host, web_config.port,
                    "https" if web_config.https else "http")
        await self.stop()
        self.host, self.port, self.https, self.http_redirect_port = wanted
        await self.start()

    async def stop(self) -> None:
        redirect, self._redirect = self._redirect, None
        if redirect is not None:
            await redirect.stop()
        runner, self._runner = self._runner, None
        self._tls = None
        if runner is not None:
            await runner.cleanup()

    def health(self) -> Health:
        if self._runner is None:
            return Health(False, "web server is not running")
        return Health(True)
