"""Who is asking the web server, and may they: sessions, API tokens, CSRF, logins.

- :class:`Principal` (:mod:`.principal`): what route handlers see as ``ctx.principal``;
  audit with ``principal.name`` and ``principal.source``.
- :class:`AccountsAuthenticator` (:mod:`.authenticator`): the framework's authenticator
  over the account store, plus the login flows with lockout, audit and hooks.
- :class:`SessionStore` (:mod:`.sessions`): browser sessions in memory, idle logout.
- :mod:`.csrf`: the checks a cookie-authenticated change must pass.
- :class:`AccountsService` (:mod:`.service`): opens the store and builds the above.

The account endpoints themselves are in :mod:`nvrd.web.routes.accounts`.
"""

from nvrd.web.auth.authenticator import AccountsAuthenticator, AuditSink, LoginLocked
from nvrd.web.auth.principal import Principal
from nvrd.web.auth.service import AccountsService
from nvrd.web.auth.sessions import SessionInfo, SessionStore

__all__ = ["AccountsAuthenticator", "AccountsService", "AuditSink", "LoginLocked",
           "Principal", "SessionInfo", "SessionStore"]
