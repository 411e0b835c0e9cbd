"""The real authenticator of the API framework (:class:`~nvrd.web.api.auth.Authenticator`)
and the login flows the account routes share.

Who is asking, in this order:

1. ``Authorization: Bearer <secret>``: an API token (:meth:`AccountStore.verify_token`).
   A refused token counts as a failure of the *source address* in the lockout tracker
   (there is no username), and a locked address is refused before the token is looked up.
   An accepted token is remembered for ``user_cache_seconds`` (keyed by the secret's
   SHA-256, as the store keeps it): an integration polling many times a second costs one
   store lookup per period, not one per request. Revoking a token or changing its user
   forgets it at once (:meth:`forget_user`); expiry is checked at every request.
2. The ``nvrd_session`` cookie: a session (:mod:`.sessions`). Every request re-reads the
   user (cached for ``user_cache_seconds``): a user deleted or disabled, whose password
   changed, or whose rights changed since the login loses the session at once. Unsafe
   methods then pass the CSRF checks (:mod:`.csrf`).

Logins (:meth:`login`) check the lockout *before* the password, so a locked account is no
password oracle; each failure and each lock is audited (type ``security``, result
``failed``) and handed to the ``on_illegal_login`` / ``on_locked`` hooks (plain callables:
the event engine subscribes later). A hook that raises is logged and ignored.

Every KDF run (login, password changes, first boot) goes through :meth:`run_kdf`: a thread
(never the loop), and at most ``kdf_concurrency`` at once, because each scrypt run takes
64 MiB and a burst of logins must not exhaust the box's memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from aiohttp import web

from nvrd.accounts.errors import AuthenticationFailed, FailureReason, UserNotFound
from nvrd.accounts.lockout import Locked, LockEvent, LockKind, LockoutTracker
from nvrd.accounts.model import AuthenticatedToken, User
from nvrd.accounts.rights import ChannelRight, SystemRight
from nvrd.accounts.store import AccountStore
from nvrd.web.api.auth import BEARER_SCHEME, SESSION_COOKIE
from nvrd.web.api.errors import ApiError, Unauthenticated
from nvrd.web.auth.csrf import needs_csrf_check, require_csrf
from nvrd.web.auth.principal import Principal, session_source
from nvrd.web.auth.sessions import NewSession, Session, SessionExpired, SessionStore

logger = logging.getLogger(__name__)

T = TypeVar("T")
AUDIT_TYPE = "security"
DEFAULT_USER_CACHE_SECONDS = 2.0
DEFAULT_KDF_CONCURRENCY = 2
MAX_SECRET_CHARS = 256
LOGIN_FAILED_MESSAGE = "wrong username or password, or the account may not log in now"
TOKEN_REFUSED_MESSAGE = ("the API token is unknown, revoked or expired, or its user may not "
                         "log in now")
ACCOUNT_CHANGED_MESSAGE = ("your session ended because your account changed (password or "
                           "rights), was disabled or was deleted; log in again")

IllegalLoginHook = Callable[[str, str, str], None]
"""(username as typed, source address, reason) for each refused login or token."""
LockedHook = Callable[[LockEvent], None]


class AuditSink(Protocol):
    """What the authenticator needs of :class:`nvrd.system.auditlog.AuditLog`."""

    def record(self, type: str, action: str, *, user: str = ..., source: str = ...,
               result: str = ..., details: str = ...) -> None: ...


class AccountsUnavailable(ApiError):
    def __init__(self) -> None:
        super().__init__(503, "accounts_unavailable",
                         "the account store is not open yet; try again in a moment",
                         headers={"Retry-After": "5"})


class LoginLocked(ApiError):
    """403 ``locked``: too many failures for this account or from this address."""

    def __init__(self, locked: Locked) -> None:
        seconds = max(1, math.ceil(locked.retry_after_seconds))
        super().__init__(403, "locked",
                         "too many failed logins for this account or from this address: "
                         f"try again in {_duration(seconds)}",
                         headers={"Retry-After": str(seconds)})
        self.retry_after_seconds = seconds


@dataclass(frozen=True, slots=True)
class Login:
    """A successful login: the user and its new session (secret for the cookie only)."""

    user: User
    session: NewSession


class AccountsAuthenticator:
    """Sessions, tokens and logins over an :class:`AccountStore`. See the module docstring.

    ``store`` may be attached later (:meth:`attach`, when the accounts service opens it);
    until then the box counts as uninitialized and account routes answer 503.
    """

    def __init__(self, *, lockout: LockoutTracker, sessions: SessionStore,
                 audit: AuditSink | None = None, store: AccountStore | None = None,
                 user_cache_seconds: float = DEFAULT_USER_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 kdf_concurrency: int = DEFAULT_KDF_CONCURRENCY) -> None:
        self.lockout = lockout
        self.sessions = sessions
        self.audit_log = audit
        self._store = store
        self._cache_seconds = user_cache_seconds
        self._clock = clock
        self._kdf_slots = asyncio.Semaphore(kdf_concurrency)
        self._initialized = False
        self._users: dict[str, tuple[float, User | None]] = {}
        self._tokens: dict[bytes, tuple[float, AuthenticatedToken]] = {}
        self.on_illegal_login: list[IllegalLoginHook] = []
        self.on_locked: list[LockedHook] = []

    # --- the store -----------------------------------------------------------------------

    @property
    def store(self) -> AccountStore:
        if self._store is None:
            raise AccountsUnavailable()
        return self._store

    def attach(self, store: AccountStore | None) -> None:
        """Use ``store`` from now on (None: the store was closed)."""
        self._store = store
        self._initialized = False
        self.forget_user()

    async def run_kdf(self, function: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run a store call that hashes a password: in a thread, a few at a time."""
        async with self._kdf_slots:
            return await asyncio.to_thread(function, *args, **kwargs)

    # --- the framework's protocol --------------------------------------------------------

    async def initialized(self) -> bool:
        if not self._initialized and self._store is not None:
            self._initialized = await asyncio.to_thread(self._store.initialized)
        return self._initialized

    def mark_initialized(self) -> None:
        self._initialized = True

    def forget_all(self) -> None:
        """The store was wiped: end every session, forget the cached users, the counted
        failures and locks, and whether the box was initialized (it is asked again)."""
        self._initialized = False
        self.forget_user()
        self.sessions.clear()
        self.lockout.unlock()

    async def authenticate(self, request: web.Request) -> Principal | None:
        ip = request.remote or "unknown"
        secret = bearer_secret(request)
        if secret is not None:
            return await self._authenticate_token(secret, ip)
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            session = self.sessions.lookup(cookie)
        except SessionExpired as exc:
            raise Unauthenticated(str(exc), code="session_expired") from None
        if session is None:
            return None
        user = await self._session_user(session)
        if needs_csrf_check(request):
            require_csrf(request, session.csrf_token)
        self.sessions.touch(session)
        return Principal.for_session(user.name, user.group, user.rights, ip, session.id)

    def authorize(self, principal: object, right: str, channel: int | None) -> bool:
        if not isinstance(principal, Principal):
            return False
        try:
            if channel is None:
                return principal.rights.allows(SystemRight(right))
            return principal.rights.allows_channel(channel, ChannelRight(right))
        except ValueError:  # a right this firmware does not know: nobody holds it
            return False

    # --- users, cached -------------------------------------------------------------------

    async def user(self, name: str) -> User | None:
        """The user ``name`` as stored at most ``user_cache_seconds`` ago (None: deleted)."""
        key = name.casefold()
        now = self._clock()
        cached = self._users.get(key)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        store = self.store
        try:
            user: User | None = await asyncio.to_thread(store.get_user, name)
        except UserNotFound:
            user = None
        if len(self._users) > 1024:
            self._users.clear()
        self._users[key] = (now, user)
        return user

    def forget_user(self, name: str | None = None) -> None:
        """Drop the cached copy of ``name`` (or every user) after a change, and every
        remembered token (a token revoked, or its user changed)."""
        self._tokens.clear()
        if name is None:
            self._users.clear()
        else:
            self._users.pop(name.casefold(), None)

    async def actor(self, principal: Principal) -> User:
        """The acting user for the store's ``actor=`` (401 if it no longer exists)."""
        user = await self.user(principal.name)
        if user is None or not user.enabled:
            raise Unauthenticated(ACCOUNT_CHANGED_MESSAGE, code="session_ended")
        return user

    async def _session_user(self, session: Session) -> User:
        user = await self.user(session.user)
        if (user is None or not user.enabled
                or user.password_changed_us != session.password_changed_us
                or user.rights != session.rights):
            self.sessions.drop(session.id)
            self.audit("session ended: the account changed", user=session.user,
                       source=session_source(session.ip))
            raise Unauthenticated(ACCOUNT_CHANGED_MESSAGE, code="session_ended")
        return user

    # --- bearer tokens -------------------------------------------------------------------

    async def _authenticate_token(self, secret: str, ip: str) -> Principal:
        locked = self.lockout.check(None, ip)
        if locked is not None:
            raise LoginLocked(locked)
        store = self.store
        try:
            if len(secret) > MAX_SECRET_CHARS:
                raise AuthenticationFailed("", FailureReason.UNKNOWN_TOKEN)
            found = await self._verify_token(store, secret)
        except AuthenticationFailed as exc:
            self._refused("API token refused", exc.username, ip, exc,
                          source=f"api-token {ip}", count_username=False)
            raise Unauthenticated(TOKEN_REFUSED_MESSAGE, code="token_refused") from None
        user = found.user
        return Principal.for_token(user.name, user.group, user.rights, ip, found.token.id,
                                   found.token.name)

    async def _verify_token(self, store: AccountStore, secret: str) -> AuthenticatedToken:
        key = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
        now = self._clock()
        cached = self._tokens.get(key)
        if (cached is not None and now - cached[0] < self._cache_seconds
                and not cached[1].token.expired(time.time_ns() // 1000)):
            return cached[1]
        found = await asyncio.to_thread(store.verify_token, secret)
        if len(self._tokens) > 1024:
            self._tokens.clear()
        self._tokens[key] = (now, found)
        return found

    # --- logging in and out --------------------------------------------------------------

    async def login(self, username: str, password: str, *, ip: str,
                    user_agent: str) -> Login:
        """Check the lockout, then the password; a new session. Raises :class:`LoginLocked`
        or 401 ``login_failed`` (one sentence whatever the reason)."""
        locked = self.lockout.check(username, ip)
        if locked is not None:
            raise LoginLocked(locked)
        try:
            user = await self.run_kdf(self.store.authenticate, username, password)
        except AuthenticationFailed as exc:
            self._refused("login failed", exc.username or username[:64], ip, exc,
                          source=session_source(ip), count_username=True)
            raise ApiError(401, "login_failed", LOGIN_FAILED_MESSAGE) from None
        self.lockout.success(user.name, ip)
        self.forget_user(user.name)
        new = self.open_session(user, ip=ip, user_agent=user_agent)
        self.audit("logged in", user=user.name, source=session_source(ip))
        return Login(user, new)

    def open_session(self, user: User, *, ip: str, user_agent: str) -> NewSession:
        return self.sessions.create(user.name, ip=ip, user_agent=user_agent,
                                    password_changed_us=user.password_changed_us,
                                    rights=user.rights)

    def check_guess_allowed(self, username: str, ip: str) -> None:
        """For other password checks (the old password of a change): refuse when locked."""
        locked = self.lockout.check(username, ip)
        if locked is not None:
            raise LoginLocked(locked)

    def count_failed_guess(self, action: str, username: str, ip: str, reason: str,
                           source: str) -> None:
        """A wrong password given outside the login (e.g. the old password of a change)."""
        self.audit(action, user=username, source=source, result="failed",
                   details=f"reason: {reason}")
        self._call_hooks(self.on_illegal_login, username, ip, reason)
        self._locks(self.lockout.failure(username, ip), source)

    def _refused(self, action: str, username: str, ip: str, exc: AuthenticationFailed, *,
                 source: str, count_username: bool) -> None:
        reason = exc.reason.value
        self.audit(action, user=username, source=source, result="failed",
                   details=f"reason: {reason}")
        self._call_hooks(self.on_illegal_login, username, ip, reason)
        if exc.counts_as_guess:
            self._locks(self.lockout.failure(username if count_username else None, ip),
                        source)

    def _locks(self, events: list[LockEvent], source: str) -> None:
        for event in events:
            what = "account" if event.kind is LockKind.ACCOUNT else "IP address"
            logger.warning("%s %s locked for %d s after %d failed logins", what, event.key,
                           event.lock_seconds, event.failures)
            self.audit(f"{what} locked", user=event.key if event.kind is LockKind.ACCOUNT
                       else "", source=source, result="failed",
                       details=(f"{event.failures} failed logins in a row; locked for "
                                f"{_duration(math.ceil(event.lock_seconds))}"
                                + (f"; address {event.key}" if event.kind is LockKind.IP
                                   else "")))
            self._call_hooks(self.on_locked, event)

    def audit(self, action: str, *, user: str = "", source: str = "", result: str = "ok",
              details: str = "") -> None:
        if self.audit_log is not None:
            self.audit_log.record(AUDIT_TYPE, action, user=user, source=source, result=result,
                                  details=details)

    @staticmethod
    def _call_hooks(hooks: list[Callable[..., None]], *args: object) -> None:
        for hook in list(hooks):
            try:
                hook(*args)
            except Exception:
                logger.exception("a login event hook failed")


def bearer_secret(request: web.Request) -> str | None:
    """The secret of ``Authorization: Bearer <secret>``, else None."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != BEARER_SCHEME.lower():
        return None
    return value.strip()


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} minutes"
