"""Browser sessions, in memory: a restart logs everyone out, which is safe and simple.

A session has two names. The *secret* (``secrets.token_urlsafe(32)``) is the cookie's
value and the only thing that proves the session; it is kept only as its SHA-256, so a
memory dump or a stray ``repr`` does not hand out live sessions. The *id* is public: the
online-users list shows it and an administrator kicks a session by it, without ever
seeing anything that could be replayed. Each session also has its own CSRF token.

What the session remembers of the user at login (``password_changed_us`` and the
rights) lets the authenticator notice that the account changed since, and end the
session (see :mod:`nvrd.web.auth.authenticator`).

Idle logout: a session not used for ``idle_minutes()`` minutes is gone (0 = never). The
minutes are read at every lookup from a callable, so a configuration reload applies to
sessions already open. Time is an injected monotonic clock (wall clock steps neither
shorten nor lengthen sessions); a wall clock in microseconds is kept for display only.

Bounded memory: at most ``max_sessions`` sessions, ``max_per_user`` per user; beyond
that the least recently used one is ended. Expired sessions are purged when a session is
created or listed, so no background task is needed.

Threads: loop-only (no locks).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nvrd.accounts.rights import Rights

DEFAULT_MAX_SESSIONS = 256
DEFAULT_MAX_PER_USER = 16
MAX_USER_AGENT = 200


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class SessionExpired(Exception):
    """The session existed but was idle for longer than the idle logout allows."""

    def __init__(self, user: str, idle_minutes: int) -> None:
        super().__init__(user, idle_minutes)
        self.user = user
        self.idle_minutes = idle_minutes

    def __str__(self) -> str:
        return (f"your session ended after {self.idle_minutes} minute(s) without activity; "
                "log in again")


@dataclass(slots=True)
class Session:
    """One open session (mutable, owned by :class:`SessionStore`; hand out :meth:`info`)."""

    id: str
    user: str
    ip: str
    user_agent: str
    csrf_token: str = field(repr=False)
    password_changed_us: int
    rights: Rights
    created_mono: float
    created_us: int
    last_seen_mono: float
    last_seen_us: int
    digest: bytes = field(repr=False)

    def info(self, now_mono: float) -> SessionInfo:
        return SessionInfo(self.id, self.user, self.ip, self.user_agent, self.created_us,
                           self.last_seen_us, max(0.0, now_mono - self.last_seen_mono))


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session as the online-users list shows it: nothing that could be replayed."""

    id: str
    user: str
    ip: str
    user_agent: str
    created_us: int
    last_seen_us: int
    idle_seconds: float


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just created; ``secret`` goes into the cookie and nowhere else."""

    session: Session
    secret: str = field(repr=False)


class SessionStore:
    """The open sessions. See the module docstring."""

    def __init__(self, idle_minutes: Callable[[], int], *,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], int] = wall_clock_us,
                 max_sessions: int = DEFAULT_MAX_SESSIONS,
                 max_per_user: int = DEFAULT_MAX_PER_USER) -> None:
        if max_sessions < 1 or max_per_user < 1:
            raise ValueError("max_sessions and max_per_user must be at least 1")
        self._idle_minutes = idle_minutes
        self._clock = clock
        self._wall_clock = wall_clock
        self.max_sessions = max_sessions
        self.max_per_user = max_per_user
        self._by_digest: dict[bytes, Session] = {}
        self._by_id: dict[str, Session] = {}

    @property
    def idle_minutes(self) -> int:
        return self._idle_minutes()

    def create(self, user: str, *, ip: str, user_agent: str, password_changed_us: int,
               rights: Rights) -> NewSession:
        """Open a session for ``user`` (who just proved its password)."""
        self.purge()
        now_mono, now_us = self._clock(), self._wall_clock()
        secret = secrets.token_urlsafe(32)
        session = Session(
            id=secrets.token_hex(8), user=user, ip=ip,
            user_agent=user_agent[:MAX_USER_AGENT], csrf_token=secrets.token_urlsafe(32),
            password_changed_us=password_changed_us, rights=rights,
            created_mono=now_mono, created_us=now_us, last_seen_mono=now_mono,
            last_seen_us=now_us, digest=_digest(secret))
        self._evict(self._of_user(user), self.max_per_user - 1)
        self._evict(list(self._by_id.values()), self.max_sessions - 1)
        self._by_digest[session.digest] = session
        self._by_id[session.id] = session
        return NewSession(session, secret)

    def lookup(self, secret: str) -> Session | None:
        """The session whose cookie is ``secret``, or None. Raises :class:`SessionExpired`
        (and ends the session) when it was idle too long. Does not mark it used."""
        session = self._by_digest.get(_digest(secret))
        if session is None:
            return None
        if self._expired(session, self._clock()):
            self.drop(session.id)
            raise SessionExpired(session.user, self.idle_minutes)
        return session

    def touch(self, session: Session) -> None:
        """The session was used now (resets its idle time)."""
        session.last_seen_mono = self._clock()
        session.last_seen_us = self._wall_clock()

    def get(self, session_id: str) -> Session | None:
        session = self._by_id.get(session_id)
        if session is not None and self._expired(session, self._clock()):
            self.drop(session.id)
            return None
        return session

    def drop(self, session_id: str) -> Session | None:
        """End a session; the session that was ended, or None if there was none."""
        session = self._by_id.pop(session_id, None)
        if session is not None:
            self._by_digest.pop(session.digest, None)
        return session

    def clear(self) -> int:
        """End every session (the accounts were wiped); how many."""
        count = len(self._by_id)
        self._by_id.clear()
        self._by_digest.clear()
        return count

    def drop_user(self, user: str, *, keep: str | None = None) -> list[Session]:
        """End every session of ``user`` (names ignore case), except the one ``keep``."""
        ended = [s for s in self._of_user(user) if s.id != keep]
        for session in ended:
            self.drop(session.id)
        return ended

    def rebind(self, session_id: str, *, password_changed_us: int, rights: Rights) -> None:
        """The user changed its own account through this session: keep the session."""
        session = self._by_id.get(session_id)
        if session is not None:
            session.password_changed_us = password_changed_us
            session.rights = rights

    def online(self) -> list[SessionInfo]:
        """Every open session, by user then creation time."""
        self.purge()
        now = self._clock()
        return [s.info(now) for s in sorted(self._by_id.values(),
                                            key=lambda s: (s.user.casefold(), s.created_mono))]

    def purge(self) -> int:
        """End every idle-expired session now; how many."""
        now = self._clock()
        expired = [s.id for s in self._by_id.values() if self._expired(s, now)]
        for session_id in expired:
            self.drop(session_id)
        return len(expired)

    def __len__(self) -> int:
        return len(self._by_id)

    def _expired(self, session: Session, now: float) -> bool:
        minutes = self._idle_minutes()
        return minutes > 0 and now - session.last_seen_mono >= minutes * 60

    def _of_user(self, user: str) -> list[Session]:
        folded = user.casefold()
        return [s for s in self._by_id.values() if s.user.casefold() == folded]

    def _evict(self, sessions: list[Session], keep_at_most: int) -> None:
        """End the least recently used of ``sessions`` until ``keep_at_most`` remain."""
        excess = len(sessions) - keep_at_most
        if excess > 0:
            for session in sorted(sessions, key=lambda s: s.last_seen_mono)[:excess]:
                self.drop(session.id)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
