"""What every response of the web server goes through: errors as JSON, security headers.

:func:`error_middleware` makes the outermost middleware. It turns :class:`ApiError`, aiohttp's
own refusals (unknown route, wrong method, body too large) and any unexpected exception
into the JSON error shape of :mod:`nvrd.web.api.errors`. An unexpected exception is
logged with its traceback under a short incident id, and only that id reaches the client:
a traceback tells an attacker what runs inside the box.
"""

from __future__ import annotations

import logging
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from nvrd.web.api.errors import ApiError, error_response
from nvrd.web.api.registry import body_too_large

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
HSTS = "max-age=31536000"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# aiohttp's own refusals: the status keeps its meaning, the code is ours.
_HTTP_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def incident_id() -> str:
    return secrets.token_hex(6)


def error_middleware(max_body_bytes: int) -> Middleware:
    """The outermost middleware; ``max_body_bytes`` is quoted when a body is too large."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except web.HTTPException as exc:
            if exc.status < 400:  # redirects raised by handlers are answers, not errors
                raise
            if exc.status == 413:
                return body_too_large(max_body_bytes).response()
            return _http_error(request, exc)
        except Exception:
            incident = incident_id()
            logger.exception("incident %s: %s %s failed", incident, request.method,
                             request.path)
            return error_response(500, "internal_error",
                                  f"the recorder failed to answer this request (incident "
                                  f"{incident}; the log has the details)")

    return errors


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    status = exc.status
    headers: dict[str, str] = {}
    if status == 405:
        allowed = exc.headers.get("Allow", "")
        headers["Allow"] = allowed
        message = (f"{request.method} is not allowed on {request.path}; allowed: "
                   f"{allowed.replace(',', ', ') or 'none'}")
    elif status == 404:
        message = f"there is no {request.path} on this recorder"
    elif status == 403:
        message = "access to this path is refused"
    else:
        message = exc.reason[:1].lower() + exc.reason[1:] if exc.reason else "refused"
    return error_response(status, _HTTP_CODES.get(status, f"http_{status}"), message,
                          headers=headers)


class SecurityHeaders:
    """``on_response_prepare`` handler: the browser-side hardening headers on every
    response (pages, static files, API answers and errors alike)."""

    def __init__(self, https: bool) -> None:
        self._https = https

    async def __call__(self, request: web.Request, response: web.StreamResponse) -> None:
        for name, value in _STATIC_HEADERS.items():
            response.headers.setdefault(name, value)
        if self._https:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if request.path.startswith(API_PREFIX):
            # API answers are personal and current: never stored, unless the route itself
            # says otherwise (a picture of the past never changes: ``private, max-age``,
            # so only this browser keeps it, never a shared cache)
            response.headers.setdefault("Cache-Control", "no-store")
