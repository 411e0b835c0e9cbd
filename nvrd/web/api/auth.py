"""The seam between the API framework and the accounts package.

The framework does not know users, passwords or sessions. It asks an
:class:`Authenticator`, set on the application under :data:`AUTHENTICATOR_KEY`, three
questions for every route (see :mod:`nvrd.web.api.registry` for the order):

1. ``await initialized()`` — has an admin password been set? Until then only routes
   marked ``allow_uninitialized`` answer; every other one is refused with 403
   ``uninitialized``.
2. ``await authenticate(request)`` — who is asking? ``None`` means nobody (401). The
   authenticator may also refuse with an :class:`~nvrd.web.api.errors.ApiError` of its own
   (a failed CSRF check, a locked-out source, an expired session) and that error is
   answered as it is. It is called only for routes that are not ``public``.
3. ``authorize(principal, right, channel)`` — may this principal use this system right
   (``channel`` is ``None``) or this per-channel right on ``channel``? A route that needs
   both asks twice. Rights are plain strings here; the accounts package's StrEnums
   compare equal to them.

The principal is opaque to the framework: whatever ``authenticate`` returned is handed to
``authorize`` and to the handler (``ctx.principal``).
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

SESSION_COOKIE = "nvrd_session"
"""The browser session's cookie (HttpOnly, Secure under HTTPS, SameSite=Strict)."""
CSRF_HEADER = "X-CSRF-Token"
"""The header a browser session must send with every state-changing request."""
BEARER_SCHEME = "Bearer"
"""``Authorization: Bearer <token>``: API tokens of integrations."""

Principal = object
"""Who is asking: opaque to the framework, defined by the accounts package."""


class Authenticator(Protocol):
    async def initialized(self) -> bool:
        """Whether the admin password has been set (first boot is over)."""
        ...

    async def authenticate(self, request: web.Request) -> Principal | None:
        """The principal behind the request's session cookie or bearer token, or None.

        May raise :class:`~nvrd.web.api.errors.ApiError` to refuse with its own reason.
        """
        ...

    def authorize(self, principal: Principal, right: str, channel: int | None) -> bool:
        """Whether ``principal`` holds ``right`` (on ``channel`` for a per-channel right)."""
        ...


class NoAccounts:
    """The authenticator of a recorder without an accounts service: never initialized,
    nobody logged in. Only ``allow_uninitialized`` routes answer: safe by default."""

    async def initialized(self) -> bool:
        return False

    async def authenticate(self, request: web.Request) -> Principal | None:
        return None

    def authorize(self, principal: Principal, right: str, channel: int | None) -> bool:
        return False


AUTHENTICATOR_KEY: web.AppKey[Authenticator] = web.AppKey("api_authenticator", Authenticator)
