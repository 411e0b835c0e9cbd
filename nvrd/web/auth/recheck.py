"""Is a principal that was let in a while ago still allowed in? For long-lived answers
(the live event stream), which must end when their session is logged out, kicked or
expires, when their API token is revoked, or when their account changes.

Why not simply call ``authenticate(request)`` again: for a session it marks the session
used, so an open stream would keep a browser that nobody looks at logged in forever (the
idle logout must still apply), and for a revoked token it would count a failed login
against the client's address. These checks read the same state without side effects.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from nvrd.accounts.errors import AccountError
from nvrd.web.api.auth import Authenticator
from nvrd.web.api.errors import ApiError
from nvrd.web.auth.authenticator import AccountsAuthenticator
from nvrd.web.auth.principal import Principal
from nvrd.web.auth.sessions import wall_clock_us


async def still_signed_in(authenticator: Authenticator, request: web.Request,
                          principal: object) -> bool:
    """Whether ``principal`` (from ``authenticator``, for ``request``) may still act.

    With the accounts: its user still exists, is enabled, has the same rights (a stream
    filtered by rights must not outlive a change of them), and its session is still open
    with the same password (without marking it used), or its API token still exists and
    has not expired. With another authenticator: it asks ``authenticate`` again.
    """
    if isinstance(authenticator, AccountsAuthenticator) and isinstance(principal, Principal):
        try:
            return await _account_still_valid(authenticator, principal)
        except (ApiError, AccountError):  # store closed (stopping) or user gone meanwhile
            return False
    try:
        return await authenticator.authenticate(request) is not None
    except ApiError:
        return False


async def _account_still_valid(auth: AccountsAuthenticator, principal: Principal) -> bool:
    user = await auth.user(principal.name)
    if user is None or not user.enabled or user.rights != principal.rights:
        return False
    if principal.session_id is not None:
        session = auth.sessions.get(principal.session_id)  # None: ended, kicked or idle
        return (session is not None and session.password_changed_us == user.password_changed_us
                and session.rights == user.rights)
    if principal.token_id is not None:
        tokens = await asyncio.to_thread(auth.store.list_tokens, user.name)
        now_us = wall_clock_us()
        return any(token.id == principal.token_id and not token.expired(now_us)
                   for token in tokens)
    return False
