"""The web server: the versioned API and (later) the installer page, HTTPS by default."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from nvrd.config import NvrConfig
from nvrd.service import Health, Service
from nvrd.system.logs import ACCESS_LOGGER
from nvrd.system.status import DaemonStatus
from nvrd.web import health
from nvrd.web.tls import ensure_certificate, server_context

logger = logging.getLogger(__name__)

# Requests bigger than this are refused (413) before they are read; uploads that need
# more (firmware, config import) get their own streaming endpoints.
MAX_REQUEST_BYTES = 1 << 20
STATIC_DIR = Path(__file__).parent / "static"


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


class WebService(Service):
    name = "web"

    def __init__(self, host: str, port: int, https: bool, tls_dir: Path,
                 status: Callable[[], DaemonStatus]) -> None:
        super().__init__()
        self.host, self.port, self.https = host, port, https
        self._tls_dir = tls_dir
        self._status = status
        self._runner: web.AppRunner | None = None
        self.url: str | None = None

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        health.setup(app, self._status)
        app.router.add_get("/", _index)
        app.router.add_static("/static/", STATIC_DIR)
        return app

    async def start(self) -> None:
        ssl_context = server_context(*ensure_certificate(self._tls_dir)) if self.https else None
        runner = web.AppRunner(self.make_app(), access_log=logging.getLogger(ACCESS_LOGGER),
                               handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=ssl_context,
                           reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(exc.errno, f"cannot listen on {self.host}:{self.port}: "
                                     f"{exc.strerror}") from exc
        self._runner = runner
        scheme = "https" if self.https else "http"
        shown_host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        self.url = f"{scheme}://{shown_host}:{self.port}/"
        if not self.https:
            logger.warning("HTTPS is switched off in the configuration: passwords will cross "
                           "the network in clear text")
        logger.info("web server listening on %s:%d (%s)", self.host, self.port, scheme)

    async def apply_config(self, config: NvrConfig) -> None:
        """A new address or scheme takes effect at once: the server is restarted on it."""
        wanted = (config.web.host, config.web.port, config.web.https)
        if wanted == (self.host, self.port, self.https):
            return
        logger.info("web server moves to %s:%d (%s)", config.web.host, config.web.port,
                    "https" if config.web.https else "http")
        await self.stop()
        self.host, self.port, self.https = wanted
        await self.start()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def health(self) -> Health:
        if self._runner is None:
            return Health(False, "web server is not running")
        return Health(True)
