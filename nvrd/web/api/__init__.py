"""The versioned JSON API's framework: routes declared once (:mod:`.registry`), the
authentication seam (:mod:`.auth`), errors as JSON (:mod:`.errors`, :mod:`.middleware`)
and the OpenAPI document (:mod:`.openapi`).

:func:`setup_api` installs a registry's routes on an application, with the document at
``GET /api/v1/openapi.json``. The middlewares and the security headers are the web
server's (``nvrd.web.server``), so they cover static files as well.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from nvrd.web.api.auth import AUTHENTICATOR_KEY, Authenticator, NoAccounts
from nvrd.web.api.openapi import openapi_document
from nvrd.web.api.registry import (
    SERVER_CLOSING_KEY,
    ApiRegistry,
    RequestContext,
    Route,
    ServerClosing,
    make_handler,
)

__all__ = ["OPENAPI_PATH", "ApiRegistry", "Authenticator", "NoAccounts", "RequestContext",
           "Route", "setup_api"]

OPENAPI_PATH = "/api/v1/openapi.json"
_DOCUMENT_KEY: web.AppKey[bytes] = web.AppKey("openapi_document", bytes)

_openapi = ApiRegistry(tags=("api",))


@_openapi.get(OPENAPI_PATH, response=dict[str, Any])
async def get_openapi(ctx: RequestContext) -> web.Response:
    """This API's OpenAPI 3.1 document.

    Generated from the same declarations that validate requests and check access.
    """
    return web.Response(body=ctx.app[_DOCUMENT_KEY], content_type="application/json")


def setup_api(app: web.Application, registry: ApiRegistry, *,
              authenticator: Authenticator | None = None, default_timeout_s: float = 30.0,
              max_body_bytes: int = 1 << 20, title: str = "nvrd",
              version: str = "") -> ApiRegistry:
    """Install ``registry`` (plus the document's own route) on ``app``; returns all routes."""
    routes = ApiRegistry()
    routes.include(registry)
    routes.include(_openapi)
    app[AUTHENTICATOR_KEY] = authenticator if authenticator is not None else NoAccounts()
    closing = ServerClosing()  # ends streaming answers at shutdown (see the registry)
    app[SERVER_CLOSING_KEY] = closing
    app.on_shutdown.append(closing.close)
    for route in routes.routes:
        handler = make_handler(route, default_timeout_s, max_body_bytes)
        app.router.add_route(route.method, route.path, handler)
        if route.method == "GET" and not route.streaming:
            # HEAD answers as GET without the body (aiohttp leaves it out): monitoring
            # probes and download managers ask it. Not for streams: they never end.
            app.router.add_route("HEAD", route.path, handler)
    document = openapi_document(
        routes.routes, title=title, version=version,
        description="The recorder's JSON API. Every error is "
                    '{"error": {"code": ..., "message": ...}}.')
    app[_DOCUMENT_KEY] = json.dumps(document, ensure_ascii=False).encode()
    return routes
