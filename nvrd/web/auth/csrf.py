"""Cross-site request forgery: what a browser session must prove on a state change.

A cookie is sent by the browser whatever page started the request, so for
cookie-authenticated unsafe methods (POST, PUT, PATCH, DELETE) two checks apply:

1. the ``X-CSRF-Token`` header equals the session's token (compared in constant time).
   Another site cannot read the token (it is in a JSON answer to a same-origin request,
   never in a cookie), so it cannot send it;
2. when the browser sends an ``Origin`` header, it names this server itself (scheme, host
   and port). ``Origin: null`` (sandboxed frames, some redirects) is refused.

``SameSite=Strict`` on the cookie is a third, browser-side layer. Bearer-token requests
are exempt: a browser never attaches an ``Authorization`` header on its own.

The login and first-boot endpoints have no session yet; they apply the ``Origin`` check
alone (:func:`require_same_origin`), so another site cannot log a browser in as someone
else (login CSRF).
"""

from __future__ import annotations

import hmac

from aiohttp import web
from yarl import URL

from nvrd.web.api.auth import CSRF_HEADER
from nvrd.web.api.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class CsrfRefused(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(403, "csrf", message)


def needs_csrf_check(request: web.Request) -> bool:
    return request.method.upper() not in SAFE_METHODS


def require_csrf(request: web.Request, session_token: str) -> None:
    """Both checks of the module docstring; :class:`CsrfRefused` when one fails."""
    require_same_origin(request)
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        raise CsrfRefused(f"this change needs the {CSRF_HEADER} header with the token that "
                          "logging in (or GET /api/v1/session) returned")
    if not hmac.compare_digest(sent.encode("utf-8", "surrogateescape"),
                               session_token.encode("ascii")):
        raise CsrfRefused(f"the {CSRF_HEADER} header does not match this session's token; "
                          "reload the page and try again")


def require_same_origin(request: web.Request) -> None:
    """Refuse a request whose ``Origin`` header names another site (absent is allowed)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    if not same_origin(origin, request.scheme, request.host):
        raise CsrfRefused("the request comes from a page of another site "
                          f"({origin[:100]!r}); changes are only accepted from this "
                          "recorder's own pages")


def same_origin(origin: str, scheme: str, host: str) -> bool:
    """Whether the ``Origin`` header value names ``scheme://host`` (Host header form,
    optional port); default ports are filled in on both sides."""
    own = _origin_tuple(f"{scheme}://{host}")
    return own is not None and _origin_tuple(origin.strip()) == own


def _origin_tuple(text: str) -> tuple[str, str, int] | None:
    try:
        url = URL(text)
    except (ValueError, TypeError):
        return None
    scheme = (url.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS or not url.host:
        return None
    if url.path not in ("", "/") or url.query_string or url.fragment or url.user:
        return None
    port = url.explicit_port or _DEFAULT_PORTS[scheme]
    return scheme, url.host.lower().rstrip("."), port
